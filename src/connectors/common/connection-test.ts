import { errorInfo, OrgsyncError, type Lang } from '../../errors.js';
import { ConnectorError } from './errors.js';

/** The result shape of every platform's connection test (`orgsync connection test --json`, the console's 测试连接). */

export interface ConnectionCheck {
  name: string;
  /** False: the check failed, and so does the test. */
  ok: boolean;
  /**
   * 'warning' on a check that found a limit on what is read while a sync still works (e.g. mobiles withheld): the
   * check and the test stay ok, and the hint says what to grant.
   */
  level?: 'warning';
  /** The error code of a failed check, when an error gave one (e.g. WECOM_UNREACHABLE). */
  code?: string;
  message: string;
  hint?: string;
}

export interface ConnectionTestResult {
  /** No check failed (warnings allowed). */
  ok: boolean;
  checks: ConnectionCheck[];
}

/** The failures that are no answer of the platform: the network, a timeout, an HTTP error, a body it would not send. */
const NO_ANSWER = [
  'UNREACHABLE',
  'TIMEOUT',
  'HTTP_ERROR',
  'NOT_JSON',
  'BAD_RESPONSE',
  'REDIRECT',
  'TOO_LARGE',
  'IP_BLOCKED',
];

/** Whether `err` says that nothing like the platform answered (rather than the platform refusing). */
export function isNoPlatformAnswer(err: unknown): err is ConnectorError {
  return (
    err instanceof ConnectorError && err.errcode === undefined && NO_ANSWER.some((c) => err.code.endsWith(`_${c}`))
  );
}

/**
 * Set on a test of a host that is not the platform's own, for a caller who should learn nothing about that host
 * beyond "the platform answered or not": every failure without a platform answer reads the same, so refused,
 * reset, silent and web-server ports cannot be told apart (the unsaved test endpoint is no port scanner).
 */
export interface NoAnswerText {
  /** "WeCom" / "DingTalk", "企业微信" / "钉钉", "WECOM" / "DINGTALK". */
  name: string;
  nameZh: string;
  codePrefix: string;
  /** The host tested: only whether it is the platform's own matters. */
  baseUrl: string;
}

/** A failed check from an error: the platform's code first (`errcode 60020: …`), then the message and its hint, in `lang`. */
export function failedCheck(name: string, err: unknown, lang: Lang = 'en', opaque?: NoAnswerText): ConnectionCheck {
  if (opaque && isNoPlatformAnswer(err)) {
    return {
      name,
      ok: false,
      code: `${opaque.codePrefix}_NO_ANSWER`,
      // Word for word the same for every such host and port: the caller typed the URL, the answer adds nothing to it.
      message: inLang(lang, `no ${opaque.name} API answered at apiBaseUrl`, `API 地址上没有${opaque.nameZh} API 应答`),
      hint: inLang(
        lang,
        `Check that apiBaseUrl is ${opaque.name}'s API (or a proxy or simulator of it) and that orgsync can reach it over the network.`,
        `请确认 API 地址指向${opaque.nameZh} API（或其代理、模拟器），且 orgsync 能通过网络访问它。`,
      ),
    };
  }
  const info = errorInfo(err);
  const code = err instanceof ConnectorError ? err.codeLabel() : undefined;
  const text = err instanceof OrgsyncError ? err.text(lang) : { message: info.message, hint: info.hint ?? '' };
  return {
    name,
    ok: false,
    ...(err instanceof OrgsyncError ? { code: err.code } : {}),
    message: `${code ? `${code}: ` : ''}${text.message}`,
    ...(text.hint ? { hint: text.hint } : {}),
  };
}

/** The English or the Chinese text. */
export const inLang = (lang: Lang, en: string, zh: string): string => (lang === 'zh-CN' ? zh : en);

export function result(checks: ConnectionCheck[]): ConnectionTestResult {
  return { ok: checks.every((c) => c.ok), checks };
}

/** What every platform's test takes. */
export interface ConnectionTestOptions {
  timeoutMs?: number;
  lang?: Lang;
  /** Make every failure without a platform answer read the same (see NoAnswerText). */
  hideNetworkDetail?: boolean;
}

/** A platform as its connection test names it. */
export interface TestedPlatform {
  /** "WeCom" / "DingTalk", "企业微信" / "钉钉", "WECOM" / "DINGTALK". */
  name: string;
  nameZh: string;
  codePrefix: string;
  /** The platform's own API address (a test of any other host hides network detail when asked). */
  defaultBaseUrl: string;
  /** The token call's path, named in the hint when nothing answered. */
  tokenPath: string;
}

/**
 * What each platform's test starts with: the texts in the caller's language, a failed check from an error, and the
 * token check's failure, whose hint points at apiBaseUrl when nothing like the platform answered.
 */
export function checkTexts(platform: TestedPlatform, baseUrl: string, options: ConnectionTestOptions) {
  const lang: Lang = options.lang ?? 'en';
  const say = (en: string, zh: string): string => inLang(lang, en, zh);
  const opaque: NoAnswerText | undefined =
    options.hideNetworkDetail && baseUrl.replace(/\/+$/, '') !== platform.defaultBaseUrl
      ? { name: platform.name, nameZh: platform.nameZh, codePrefix: platform.codePrefix, baseUrl }
      : undefined;
  const failed = (name: string, err: unknown): ConnectionCheck => failedCheck(name, err, lang, opaque);
  const tokenFailed = (err: unknown): ConnectionCheck => {
    const check = failed('token', err);
    if (opaque || !isNoPlatformAnswer(err)) return check;
    const d = platform.defaultBaseUrl;
    return {
      ...check,
      hint: say(
        `No ${platform.name} answer came from ${baseUrl}. Check apiBaseUrl (default ${d}; a proxy or the simulator must answer ${platform.tokenPath}) and that orgsync can reach it. ${check.hint ?? ''}`.trim(),
        `${baseUrl} 没有给出${platform.nameZh}的应答。请检查 API 地址（默认 ${d}；代理或模拟器须应答 ${platform.tokenPath}），以及 orgsync 能否访问它。${check.hint ?? ''}`,
      ),
    };
  };
  return { lang, say, failed, tokenFailed };
}
