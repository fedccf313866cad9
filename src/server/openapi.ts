import { z } from 'zod';
import type { AnyRouteSpec } from './route.js';
import { errorBodySchema } from './schemas.js';

/** The OpenAPI 3.1 description of the API, built from the routes' own zod schemas. */

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** The members of an object schema (params and query are objects of named values). */
function members(
  schema: z.ZodType | undefined,
): Array<{ name: string; schema: JsonSchema; required: boolean; description?: string }> {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    schema: s,
    required: required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

export function openApiDocument(
  routes: readonly AnyRouteSpec[],
  info: { version: string; serverUrl?: string | undefined },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters = [
      ...members(route.params).map((p) => ({
        in: 'path',
        name: p.name,
        required: true,
        schema: p.schema,
        ...(p.description ? { description: p.description } : {}),
      })),
      ...members(route.query).map((p) => ({
        in: 'query',
        name: p.name,
        required: p.required,
        schema: p.schema,
        ...(p.description ? { description: p.description } : {}),
      })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const schema = spec.schema ?? (Number(status) >= 400 ? errorBodySchema : undefined);
      responses[status] = {
        description: spec.description,
        ...(schema ? { content: { 'application/json': { schema: jsonSchema(schema, 'output') } } } : {}),
      };
    }
    if (!route.public)
      responses['401'] ??= {
        description: 'No valid session or API token',
        content: { 'application/json': { schema: jsonSchema(errorBodySchema, 'output') } },
      };
    responses['400'] ??= {
      description: 'A parameter or the body is invalid; `error.field` names it',
      content: { 'application/json': { schema: jsonSchema(errorBodySchema, 'output') } },
    };
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      operationId: `${route.method.toLowerCase()}${path
        .replace(/^\/api\/v1/, '')
        .replace(/[{}]/g, '')
        .replace(/[/-]+(\w)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.public ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.rawBody
        ? {
            requestBody: {
              required: true,
              description: route.rawBody.description,
              content: { [route.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } },
            },
          }
        : {}),
      ...(route.body
        ? {
            requestBody: {
              required: !route.body.safeParse(undefined).success,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'orgsync API',
      version: info.version,
      description:
        'Connections to WeCom and DingTalk, sync runs, and the local directory. Sign in with POST /api/v1/session (cookie `orgsync_session`; ' +
        'mutations then carry `x-csrf-token`) or send an API token as `Authorization: Bearer osk_…` (`orgsync token create`). ' +
        'Errors are `{ "error": { "code", "message", "hint"?, "field"? } }`.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    components: {
      securitySchemes: {
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'orgsync_session',
          description: 'From POST /api/v1/session; mutations also need the x-csrf-token header.',
        },
        token: { type: 'http', scheme: 'bearer', description: 'An API token from `orgsync token create`.' },
      },
    },
    security: [{ session: [] }, { token: [] }],
    paths,
  };
}
