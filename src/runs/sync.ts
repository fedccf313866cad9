import type { Connection } from '../connections/connections.js';
import { OrgsyncError } from '../errors.js';
import { TokenCache, WecomClient } from '../connectors/wecom/client.js';
import { WecomSource } from '../connectors/wecom/source.js';
import type { Store } from '../store/store.js';
import { executeRun, type RunProgress, type RunReport } from './run-service.js';

export interface SyncReport extends RunReport {
  /** HTTP requests made to the platform, gettoken included. */
  apiCalls: number;
}

/**
 * One sync of a connection: pull → plan → guard → apply, recorded as a run of kind "sync" whose source is the
 * connection's name. The contacts-sync secret reads when it is configured (it sees every department and field);
 * otherwise the app secret, within the app's visible range.
 */
export async function syncConnection(
  store: Store,
  connection: Connection,
  options: { dryRun?: boolean; onProgress?: (p: RunProgress) => void; tokens?: TokenCache; concurrency?: number } = {},
): Promise<SyncReport> {
  if (connection.platform !== 'wecom') {
    throw new OrgsyncError({ code: 'NOT_SUPPORTED', message: `sync of ${connection.platform} connections is not available yet`, hint: 'Use a WeCom connection.' });
  }
  const client = new WecomClient({
    corpId: connection.settings.corpId,
    secret: connection.secrets.contactsSecret ?? connection.secrets.secret,
    baseUrl: connection.settings.apiBaseUrl,
    tokens: options.tokens ?? new TokenCache(),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
  });
  const source = new WecomSource(client);
  const report = await executeRun(store, {
    kind: 'sync',
    source: connection.name,
    connector: source,
    policy: connection.policy,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  if (source.notes.idsOnly) {
    report.notes.push({
      code: 'WECOM_IDS_ONLY',
      message: 'the contacts secret may read only ids from this IP (48009): memberships and leavers were synced, names and details were not',
      hint: 'Import the contacts export from the WeCom admin console for details, or sync with the app secret.',
    });
  }
  return { ...report, apiCalls: client.stats().calls };
}
