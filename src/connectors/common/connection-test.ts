import { errorInfo } from '../../errors.js';
import { ConnectorError } from './errors.js';

/** The result shape of every platform's connection test (`orgsync connection test --json`, the console's 测试连接). */

export interface ConnectionCheck {
  name: string;
  ok: boolean;
  message: string;
  hint?: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  checks: ConnectionCheck[];
}

/** A failed check from an error: the platform's code first (`errcode 60020: …`), then the message and its hint. */
export function failedCheck(name: string, err: unknown): ConnectionCheck {
  const info = errorInfo(err);
  const code = err instanceof ConnectorError ? err.codeLabel() : undefined;
  return { name, ok: false, message: `${code ? `${code}: ` : ''}${info.message}`, ...(info.hint ? { hint: info.hint } : {}) };
}

export function result(checks: ConnectionCheck[]): ConnectionTestResult {
  return { ok: checks.every((c) => c.ok), checks };
}
