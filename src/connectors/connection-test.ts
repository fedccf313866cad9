import type { Connection } from '../connections/connections.js';
import type { ConnectionTestOptions, ConnectionTestResult } from './common/connection-test.js';
import type { TokenCache } from './common/token-cache.js';
import { testDingtalkConnection } from './dingtalk/connection-test.js';
import { testWecomConnection } from './wecom/connection-test.js';

export type { ConnectionCheck, ConnectionTestOptions, ConnectionTestResult } from './common/connection-test.js';

/** 测试连接 for any platform: per-check results with hints; changes nothing. */
export function testConnection(connection: Connection, options: ConnectionTestOptions & { tokens?: TokenCache } = {}): Promise<ConnectionTestResult> {
  return connection.platform === 'wecom' ? testWecomConnection(connection, options) : testDingtalkConnection(connection, options);
}
