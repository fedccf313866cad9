import type { PlatformConnection, PlatformDefinition } from './contract.js';
import { dingtalk } from './dingtalk/index.js';
import { wecom } from './wecom/index.js';

/** The one list of platforms: a new platform is its folder and one line here. */
const DEFINITIONS = [wecom, dingtalk] as const;

/** The definitions with their own types, for the types derived per platform (connections, inputs, views). */
export type RegisteredPlatform = (typeof DEFINITIONS)[number];
export type PlatformId = RegisteredPlatform['id'];

/** A platform's connection, its settings and secrets typed by its schemas. */
type ConnectionOf<D> =
  D extends PlatformDefinition<infer P, infer SS, infer KS, unknown>
    ? PlatformConnection<P, SS['_zod']['output'], KS['_zod']['output']>
    : never;
/** A connection of any platform, told apart by `platform`. */
export type AnyPlatformConnection = ConnectionOf<RegisteredPlatform>;

/** Every platform, in the order the CLI, the API and the console list them. */
export const PLATFORMS: readonly PlatformDefinition[] = DEFINITIONS;

export const PLATFORM_IDS = DEFINITIONS.map((d) => d.id) as [PlatformId, ...PlatformId[]];

/** The platform's definition; a name the registry does not list has none. */
export function platformOf(id: string): PlatformDefinition | undefined {
  return PLATFORMS.find((d) => d.id === id);
}

/** A decoded connection's platform: the connection service decodes only the platforms listed here. */
export function definitionOf(connection: { platform: string }): PlatformDefinition {
  const platform = platformOf(connection.platform);
  if (!platform) throw new Error(`"${connection.platform}" is not a platform of the registry (connectors/registry.ts)`);
  return platform;
}
