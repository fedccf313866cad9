import type { z } from 'zod';
import type { PlatformDefinition } from '../../connectors/contract.js';
import { PLATFORMS } from '../../connectors/registry.js';
import type { RouteTable } from '../route.js';
import { platformListSchema } from '../schemas.js';

type PlatformDescription = z.output<typeof platformListSchema>['items'][number];

/** A platform as a console builds its card from it: the definition's fields, without anything that runs. */
function describePlatform(d: PlatformDefinition): PlatformDescription {
  const fields = (['settings', 'secrets'] as const).flatMap((part) =>
    Object.entries(d[part].shape as Record<string, z.ZodType>).map(([key, schema]) => {
      const text = d.fields[key];
      const omitted = schema.safeParse(undefined);
      return {
        key,
        part,
        secret: part === 'secrets',
        required: !omitted.success,
        number: schema.safeParse(1).success,
        ...(omitted.success && typeof omitted.data === 'string' ? { default: omitted.data } : {}),
        label: text?.label ?? { zh: key, en: key },
        ...(text?.help ? { help: text.help } : {}),
        hint: text?.hint ?? '',
        ...(text?.placeholder !== undefined ? { placeholder: text.placeholder } : {}),
        place: text?.place ?? ('main' as const),
      };
    }),
  );
  return {
    id: d.id,
    names: d.names,
    mark: d.mark,
    departmentOrder: d.departmentOrder,
    defaultApiBaseUrl: d.defaultApiBaseUrl,
    fields,
  };
}

export function platformRoutes(table: RouteTable): void {
  table.add({
    method: 'GET',
    url: '/api/v1/platforms',
    tag: 'connections',
    summary: 'The platforms a connection can be for, with their settings and secrets fields',
    description:
      "From the platform registry: a console builds each platform's card (labels in Chinese and English, help, which fields are secret) from this.",
    responses: { 200: { description: 'In the order a console shows them', schema: platformListSchema } },
    handler: async () => ({ items: PLATFORMS.map(describePlatform) }),
  });
}
