import type { Connection } from '../connections/connections.js';
import type { Lang } from '../connectors/common/errors.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { testConnection, type ConnectionTestResult } from '../connectors/connection-test.js';

/**
 * 测试连接 from the API, its messages and hints in `lang`. Each test takes its tokens afresh, so it proves the secret
 * as typed now rather than a token cached from an earlier answer.
 */
export function checkConnection(connection: Connection, lang: Lang): Promise<ConnectionTestResult> {
  return testConnection(connection, { tokens: new TokenCache(), lang });
}

/**
 * The language of a request's Accept-Language: Chinese when a `zh` tag is preferred to every `en` one (by q, then
 * by order), else English.
 */
export function langOf(acceptLanguage: string | undefined): Lang {
  let best: { lang: Lang; q: number } | undefined;
  for (const part of (acceptLanguage ?? '').split(',')) {
    const [tag = '', ...params] = part.trim().toLowerCase().split(';');
    const lang: Lang | undefined = tag === 'zh' || tag.startsWith('zh-') ? 'zh-CN' : tag === 'en' || tag.startsWith('en-') ? 'en' : undefined;
    if (!lang) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { lang, q };
  }
  return best?.lang ?? 'en';
}
