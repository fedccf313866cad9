import type { Connection } from '../connections/connections.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { definitionOf } from '../connectors/registry.js';
import type { Store } from '../store/store.js';
import { executeRun, type RunProgress, type RunReport } from './run-service.js';

export interface SyncReport extends RunReport {
  /** HTTP requests made to the platform, token fetches included. */
  apiCalls: number;
}

export interface SyncOptions {
  dryRun?: boolean;
  onProgress?: (p: RunProgress) => void;
  tokens?: TokenCache;
  concurrency?: number;
  /** DingTalk: calls per API per second (default 20, DingTalk's limit for an internal app). */
  qpsLimit?: number;
}

/**
 * One sync of a connection of any platform of the registry: pull → plan → guard → apply, recorded as a run of kind "sync" whose
 * source is the connection's name.
 */
export async function syncConnection(
  store: Store,
  connection: Connection,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const platform = definitionOf(connection);
  const client = platform.client(connection, {
    tokens: options.tokens ?? new TokenCache(),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.qpsLimit !== undefined ? { qpsLimit: options.qpsLimit } : {}),
  });
  const source = platform.source(client);
  const report = await executeRun(store, {
    kind: 'sync',
    source: connection.name,
    connector: source.connector,
    policy: connection.policy,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  report.notes.push(...source.notes());
  return { ...report, apiCalls: source.apiCalls() };
}
