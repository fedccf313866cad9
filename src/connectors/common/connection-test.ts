import { errorInfo, OrgsyncError, type Lang } from '../../errors.js';
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

/** A failed check from an error: the platform's code first (`errcode 60020: …`), then the message and its hint, in `lang`. */
export function failedCheck(name: string, err: unknown, lang: Lang = 'en'): ConnectionCheck {
  const info = errorInfo(err);
  const code = err instanceof ConnectorError ? err.codeLabel() : undefined;
  const text = err instanceof OrgsyncError ? err.text(lang) : { message: info.message, hint: info.hint ?? '' };
  return { name, ok: false, message: `${code ? `${code}: ` : ''}${text.message}`, ...(text.hint ? { hint: text.hint } : {}) };
}

/** The English or the Chinese text. */
export const inLang = (lang: Lang, en: string, zh: string): string => (lang === 'zh-CN' ? zh : en);

export function result(checks: ConnectionCheck[]): ConnectionTestResult {
  return { ok: checks.every((c) => c.ok), checks };
}
