import type { Connection } from '../connections/connections.js';
import type { Lang } from '../errors.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { testConnection, type ConnectionTestResult } from '../connectors/connection-test.js';

/**
 * 测试连接 from the API, its messages and hints in `lang`. Each test takes its tokens afresh, so it proves the secret
 * as typed now rather than a token cached from an earlier answer. On a host that is not the platform's own, every
 * failure without a platform answer reads the same (refused, reset, silent, a web page), so a caller of the API
 * learns nothing about hosts and ports it could not reach itself.
 */
export function checkConnection(connection: Connection, lang: Lang): Promise<ConnectionTestResult> {
  return testConnection(connection, { tokens: new TokenCache(), lang, hideNetworkDetail: true });
}
