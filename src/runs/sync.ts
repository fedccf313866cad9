import type { Connection } from '../connections/connections.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import type { SourceConnector } from '../connectors/contract.js';
import { DingtalkClient } from '../connectors/dingtalk/client.js';
import { DingtalkSource } from '../connectors/dingtalk/source.js';
import { WecomClient } from '../connectors/wecom/client.js';
import { WecomSource } from '../connectors/wecom/source.js';
import type { ErrorInfo } from '../errors.js';
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

/** A connection's source: the platform's client and pull, and what the run report should add after the run. */
interface PlatformSource {
  connector: SourceConnector;
  apiCalls(): number;
  notes(): ErrorInfo[];
}

function sourceOf(connection: Connection, options: SyncOptions): PlatformSource {
  const tokens = options.tokens ?? new TokenCache();
  const concurrency = options.concurrency !== undefined ? { concurrency: options.concurrency } : {};
  if (connection.platform === 'dingtalk') {
    const client = new DingtalkClient({
      clientId: connection.settings.clientId,
      clientSecret: connection.secrets.clientSecret,
      baseUrl: connection.settings.apiBaseUrl,
      tokens,
      ...concurrency,
      ...(options.qpsLimit !== undefined ? { qpsLimit: options.qpsLimit } : {}),
    });
    const source = new DingtalkSource(client);
    return {
      connector: source,
      apiCalls: () => client.stats().calls,
      notes: () =>
        source.notes.unreadableTops.length > 0
          ? [
              {
                code: 'DINGTALK_TOPS_UNREADABLE',
                message: `department${source.notes.unreadableTops.length > 1 ? 's' : ''} ${source.notes.unreadableTops.join(', ')} of the contact scope could not be read: nobody was disabled or deleted`,
                hint: 'Check the contact scope (通讯录权限范围) in the DingTalk developer console, then sync again.',
                zh: {
                  message: `通讯录权限范围内的部门 ${source.notes.unreadableTops.join('、')} 读取失败：没有停用或删除任何人`,
                  hint: '在钉钉开发者后台检查通讯录权限范围，然后重新同步。',
                },
              },
            ]
          : [],
    };
  }
  // The contacts-sync secret reads when it is configured (it sees every department and field); otherwise the app
  // secret, within the app's visible range.
  const client = new WecomClient({
    corpId: connection.settings.corpId,
    secret: connection.secrets.contactsSecret ?? connection.secrets.secret,
    baseUrl: connection.settings.apiBaseUrl,
    tokens,
    ...concurrency,
  });
  const source = new WecomSource(client);
  return {
    connector: source,
    apiCalls: () => client.stats().calls,
    notes: () =>
      source.notes.idsOnly
        ? [
            {
              code: 'WECOM_IDS_ONLY',
              message: 'the contacts secret may read only ids from this IP (48009): memberships and leavers were synced, names and details were not',
              hint: 'Import the contacts export from the WeCom admin console for details, or sync with the app secret.',
              zh: {
                message: '从这个 IP，通讯录同步秘钥只能读取 ID（48009）：已同步部门归属和离职，姓名等详情未同步',
                hint: '导入企业微信管理后台导出的通讯录以获取详情，或改用应用秘钥同步。',
              },
            },
          ]
        : [],
  };
}

/**
 * One sync of a connection, WeCom or DingTalk: pull → plan → guard → apply, recorded as a run of kind "sync" whose
 * source is the connection's name.
 */
export async function syncConnection(store: Store, connection: Connection, options: SyncOptions = {}): Promise<SyncReport> {
  const source = sourceOf(connection, options);
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
