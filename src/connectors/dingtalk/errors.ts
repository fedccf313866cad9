import { ConnectorError, fixed, fromRule, redact, tokenRule, type ConnectorErrorInit, type ErrorKind, type ErrorRule, type RetryKind } from '../common/errors.js';

/**
 * DingTalk's errcodes mapped onto orgsync's errors: one table, one typed error. On the topapi paths DingTalk wraps
 * token and permission failures in errcode 88 and gives the real cause as `sub_code`; the api host answers HTTP
 * 4xx/5xx with a string `code`, mapped here onto the same table. Hints name the developer-console setting to
 * change (钉钉开发者后台, https://open-dev.dingtalk.com). API reference, DingTalk §9-§11.
 */

export type DingtalkErrorKind = ErrorKind;

/** What DingTalk answered when it refused a call. */
export interface DingtalkRefusal {
  /** The code that says why: `sub_code` for errcode 88 when it is a number, the api host's code mapped, or the errcode. */
  errcode: number | undefined;
  errmsg: string;
  /** The answer was errcode 88 ("鉴权异常"): the cause, if any, is in subCode. */
  in88?: boolean;
  /** errcode 88's sub_code. */
  subCode?: string;
  /** The api host's code, e.g. `Forbidden.AccessDenied.QpsLimitForApi`. */
  apiCode?: string;
  /** The HTTP status, for api-host answers. */
  status?: number;
}

export interface DingtalkErrorContext extends DingtalkRefusal {
  /** The API path, e.g. `topapi/v2/user/list` or `gettoken`. */
  path: string;
  /** The app's Client ID (AppKey). */
  clientId?: string;
}

export type DingtalkRule = ErrorRule<DingtalkErrorContext>;

const CONSOLE = '钉钉开发者后台 (open-dev.dingtalk.com) → 应用开发 → 企业内部应用 → (the app)';
const CREDENTIALS = `${CONSOLE} → 凭证与基础信息`;
const PERMISSIONS = `${CONSOLE} → 权限管理`;
const CONTACT_SCOPE = `${CONSOLE} → 权限管理 → 通讯录权限范围`;

/** The developer-console permissions a sync needs (权限管理), by the kind of API. */
export const DINGTALK_SCOPES = {
  departments: '通讯录部门信息读取',
  members: '成员信息读取',
  mobile: '个人手机号信息',
} as const;

function scopeFor(path: string): string {
  if (path.includes('department')) return DINGTALK_SCOPES.departments;
  if (path.includes('user')) return DINGTALK_SCOPES.members;
  return `the permission of ${path}`;
}

const said = (c: DingtalkErrorContext): string => {
  const msg = c.errmsg ? ` (${c.errmsg})` : '';
  if (c.apiCode !== undefined) return `DingTalk ${c.path}: HTTP ${c.status ?? '?'} ${c.apiCode}${msg}`;
  if (c.in88) return `DingTalk ${c.path}: errcode 88, sub_code ${c.subCode ?? '(none)'}${msg}`;
  return `DingTalk ${c.path}: errcode ${c.errcode ?? '?'}${msg}`;
};

const tokenRefused = (code: string, what: string): DingtalkRule =>
  tokenRule(code, what, said, `If this persists, something else is resetting the Client Secret (${CREDENTIALS}) or the app was stopped.`);

const rateLimit = (code: string, what: string): DingtalkRule => ({
  code,
  kind: 'rate_limit',
  retry: 'backoff-long',
  message: (c) => `${what} was hit and stayed hit: ${said(c)}`,
  hint: fixed(
    "DingTalk counts calls per API per second (about 20 per app for an internal app, fewer for the free edition's " +
      'per-API limits), shared by every program using this app. Lower the connection\'s QPS limit or concurrency, or stop the other programs calling this API.',
  ),
});

const invalidRequest = (code: string): DingtalkRule => ({
  code,
  kind: 'invalid_request',
  message: (c) => `DingTalk refused the request: ${said(c)}`,
  hint: fixed('The request itself is wrong (a missing or malformed parameter); this is a bug in the caller, not a setting.'),
});

const wrongCredentials: DingtalkRule = {
  code: 'DINGTALK_INVALID_CREDENTIALS',
  kind: 'auth',
  message: (c) => `DingTalk rejected the Client ID or Client Secret${c.clientId ? ` (Client ID ${c.clientId})` : ''}: ${said(c)}`,
  hint: fixed(`Copy the Client ID (AppKey) and Client Secret (AppSecret) again from ${CREDENTIALS}; they belong to one app of this CorpId.`),
};

const apiPermission: DingtalkRule = {
  code: 'DINGTALK_API_PERMISSION_DENIED',
  kind: 'config',
  message: (c) => `the app has no permission to call ${c.path}: ${said(c)}`,
  hint: (c) =>
    `Grant the app the permission ${scopeFor(c.path)} at ${PERMISSIONS} (a sync needs ${DINGTALK_SCOPES.departments}, ${DINGTALK_SCOPES.members} ` +
    `and, for mobiles, ${DINGTALK_SCOPES.mobile}), then publish the new version if the console asks.`,
};

const untrustedIp: DingtalkRule = {
  code: 'DINGTALK_UNTRUSTED_IP',
  kind: 'config',
  message: (c) => `DingTalk refuses calls from orgsync's outgoing IP: ${said(c)}`,
  hint: fixed(`Add orgsync's outgoing IP (the one in DingTalk's message) to ${CONSOLE} → 开发管理 → 服务器出口IP (the IP whitelist).`),
};

const notFound = (code: string, what: string): DingtalkRule => ({
  code,
  kind: 'not_found',
  message: (c) => `${what} does not exist: ${said(c)}`,
  hint: fixed(`Check the id. If it exists in DingTalk, widen the app's contact scope at ${CONTACT_SCOPE}.`),
});

/** The one table: errcode → typed error. Token failures and API permissions come as errcode 88 with the code in sub_code. */
export const DINGTALK_ERRCODES: Readonly<Record<number, DingtalkRule>> = {
  [-1]: {
    code: 'DINGTALK_BUSY',
    kind: 'transient',
    retry: 'backoff',
    message: (c) => `DingTalk was busy and stayed busy: ${said(c)}`,
    hint: fixed('DingTalk answered "系统繁忙" to every retry. Try again in a few minutes; nothing needs changing.'),
  },
  22: {
    code: 'DINGTALK_UNKNOWN_API',
    kind: 'config',
    message: (c) => `DingTalk does not know this API: ${said(c)}`,
    hint: fixed('Check that apiBaseUrl points at DingTalk (https://oapi.dingtalk.com), or upgrade orgsync if DingTalk retired the API.'),
  },
  40000: tokenRefused('DINGTALK_TOKEN_MISSING', 'missing'),
  41001: tokenRefused('DINGTALK_TOKEN_MISSING', 'missing'),
  40014: tokenRefused('DINGTALK_TOKEN_INVALID', 'invalid'),
  42001: tokenRefused('DINGTALK_TOKEN_EXPIRED', 'expired'),
  40089: wrongCredentials,
  40096: wrongCredentials,
  40035: invalidRequest('DINGTALK_MISSING_PARAMETER'),
  43001: invalidRequest('DINGTALK_INVALID_REQUEST'),
  43002: invalidRequest('DINGTALK_INVALID_REQUEST'),
  400002: invalidRequest('DINGTALK_INVALID_REQUEST'),
  40078: {
    code: 'DINGTALK_AUTH_CODE_INVALID',
    kind: 'invalid_request',
    message: (c) => `the sign-in code does not exist or was used already: ${said(c)}`,
    hint: fixed('A DingTalk sign-in code works once and for a few minutes: sign in again.'),
  },
  43007: {
    code: 'DINGTALK_APP_NOT_AUTHORIZED',
    kind: 'config',
    message: (c) => `the app is not authorized in this org (not published, or stopped): ${said(c)}`,
    hint: fixed(`Publish the app (${CONSOLE} → 版本管理与发布 → 发布) and make sure it is enabled for the org; then try again.`),
  },
  60011: {
    code: 'DINGTALK_OUT_OF_SCOPE',
    kind: 'permission',
    message: (c) => `the department or member is outside the app's contact scope: ${said(c)}`,
    hint: fixed(`Widen the app's contact scope (通讯录权限范围) at ${CONTACT_SCOPE} to cover the departments to sync, e.g. 全部员工.`),
  },
  60020: untrustedIp,
  60003: notFound('DINGTALK_DEPARTMENT_NOT_FOUND', 'the department'),
  60121: notFound('DINGTALK_USER_NOT_FOUND', 'the member'),
  90002: rateLimit('DINGTALK_RATE_LIMITED', "DingTalk's limit on all calls of this API"),
  90018: rateLimit('DINGTALK_RATE_LIMITED', "DingTalk's per-app QPS limit of this API"),
  90019: rateLimit('DINGTALK_RATE_LIMITED', "DingTalk's per-org QPS limit of this API"),
  90020: {
    code: 'DINGTALK_QUOTA_EXHAUSTED',
    kind: 'config',
    message: (c) => `the org used up its monthly API quota: ${said(c)}`,
    hint: fixed("DingTalk's free edition allows about 10,000 metered calls a month. orgsync does not retry: wait for next month or upgrade the org's edition."),
  },
};

/** errcode 88 with a sub_code orgsync does not know: DingTalk also answers it briefly when calls come too fast. */
const unknown88: DingtalkRule = {
  code: 'DINGTALK_FORBIDDEN',
  kind: 'permission',
  retry: 'backoff',
  message: (c) => `DingTalk refused the call (鉴权异常): ${said(c)}`,
  hint: (c) => `Check the app's permissions at ${PERMISSIONS} (${scopeFor(c.path)}) and its Client ID / Client Secret at ${CREDENTIALS}.`,
};

const serverError: DingtalkRule = {
  code: 'DINGTALK_BUSY',
  kind: 'transient',
  retry: 'backoff',
  message: (c) => `DingTalk failed and kept failing: ${said(c)}`,
  hint: fixed('DingTalk answered a server error to every retry. Try again in a few minutes; nothing needs changing.'),
};

const unknownErrcode: DingtalkRule = {
  code: 'DINGTALK_ERROR',
  kind: 'unknown',
  message: (c) => `DingTalk refused the call: ${said(c)}`,
  hint: (c) => `Look up ${c.apiCode ?? `errcode ${c.errcode ?? c.subCode ?? '?'}`} in DingTalk's error code list (open.dingtalk.com, 错误码).`,
};

/** The api host's codes, as the oapi errcode that means the same. */
export const API_HOST_CODES: Readonly<Record<string, number>> = {
  'Forbidden.AccessDenied.QpsLimitForApi': 90002,
  'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi': 90018,
  'Forbidden.AccessDenied.IpNotInWhiteList': 60020,
  'Forbidden.AccessDenied.ApiCountLimitForOrg': 90020,
  InvalidAuthentication: 40014,
  'AuthenticationFailed.MissingParameter': 40000,
  invalidClientIdOrSecret: 40096,
  invalidAuthCode: 40078,
  invalidParameter: 400002,
  unknownError: -1,
};

/** The api host's "no permission for this API": the same as errcode 88 with sub_code 60011. */
export const API_HOST_PERMISSION_DENIED = 'Forbidden.AccessDenied.AccessTokenPermissionDenied';

export function dingtalkRule(r: DingtalkRefusal): DingtalkRule {
  // 60011 inside 88 is a missing API permission; on its own it is an object outside the contact scope.
  if (r.in88 && r.subCode === '60011') return apiPermission;
  const rule = r.errcode === undefined ? undefined : DINGTALK_ERRCODES[r.errcode];
  if (rule) return rule;
  if (r.in88) return unknown88;
  if (r.apiCode?.startsWith('Forbidden.AccessDenied.QpsLimit')) return DINGTALK_ERRCODES[90018] as DingtalkRule;
  if (r.status !== undefined && r.status >= 500) return serverError;
  return unknownErrcode;
}

/** What the client does about a refusal before giving up. */
export function dingtalkRetry(r: DingtalkRefusal): RetryKind | undefined {
  return dingtalkRule(r).retry;
}

export interface DingtalkErrorInit extends ConnectorErrorInit {
  subCode?: string;
  apiCode?: string;
}

export class DingtalkError extends ConnectorError {
  /** errcode 88's sub_code. */
  readonly subCode: string | undefined;
  /** The api host's code. */
  readonly apiCode: string | undefined;

  constructor(init: DingtalkErrorInit, options?: { cause?: unknown }) {
    super(init, options);
    this.name = 'DingtalkError';
    this.subCode = init.subCode;
    this.apiCode = init.apiCode;
  }

  /** errcode 88 with its sub_code, the api host's HTTP code, or the errcode. */
  override codeLabel(): string | undefined {
    if (this.subCode !== undefined) return `errcode 88 (sub_code ${this.subCode})`;
    if (this.apiCode !== undefined) return this.apiCode;
    return super.codeLabel();
  }

  /** The error for a refusal. `secrets` are removed from DingTalk's messages, should they ever echo one. */
  static fromRefusal(r: DingtalkRefusal, context: { path: string; clientId?: string }, secrets: readonly string[] = [], attempts?: number): DingtalkError {
    const errmsg = redact(r.errmsg, secrets);
    const c: DingtalkErrorContext = { ...r, errmsg, ...context };
    return new DingtalkError({
      ...fromRule(dingtalkRule(r), c, attempts),
      path: context.path,
      errmsg,
      ...(r.errcode !== undefined ? { errcode: r.errcode } : {}),
      ...(r.subCode !== undefined ? { subCode: r.subCode } : {}),
      ...(r.apiCode !== undefined ? { apiCode: r.apiCode } : {}),
    });
  }
}
