import type { Connection } from '../connections/connections.js';
import type { ConnectionTestOptions, ConnectionTestResult } from './common/connection-test.js';
import type { TokenCache } from './common/token-cache.js';
import { definitionOf } from './registry.js';

export type { ConnectionTestOptions, ConnectionTestResult } from './common/connection-test.js';

/** 测试连接 for any platform of the registry: per-check results with hints; changes nothing. */
export function testConnection(
  connection: Connection,
  options: ConnectionTestOptions & { tokens?: TokenCache; qpsLimit?: number } = {},
): Promise<ConnectionTestResult> {
  return definitionOf(connection).testConnection(connection, options);
}
