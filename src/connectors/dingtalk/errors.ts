import {
  ConnectorError,
  fixed,
  fromRule,
  redact,
  tokenRule,
  type ConnectorErrorInit,
  type ErrorRule,
  type RetryKind,
} from '../common/errors.js';

/**
 * DingTalk's errcodes mapped onto orgsync's errors: one table, one typed error. On the topapi paths DingTalk wraps
 * token and permission failures in errcode 88 and gives the real cause as `sub_code`; the api host answers HTTP
 * 4xx/5xx with a string `code`, mapped here onto the same table. Hints name the developer-console setting to
 * change (钉钉开发者后台, https://open-dev.dingtalk.com). API reference, DingTalk §9-§11.
 */

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

const saidZh = (c: DingtalkErrorContext): string => {
  const msg = c.errmsg ? `（${c.errmsg}）` : '';
  if (c.apiCode !== undefined) return `钉钉 ${c.path} 返回 HTTP ${c.status ?? '?'} ${c.apiCode}${msg}`;
  if (c.in88) return `钉钉 ${c.path} 返回 errcode 88，sub_code ${c.subCode ?? '(无)'}${msg}`;
  return `钉钉 ${c.path} 返回 errcode ${c.errcode ?? '?'}${msg}`;
};
const CONSOLE_ZH = '钉钉开发者后台（open-dev.dingtalk.com）→ 应用开发 → 企业内部应用 →（该应用）';
const CREDENTIALS_ZH = `${CONSOLE_ZH} → 凭证与基础信息`;
const PERMISSIONS_ZH = `${CONSOLE_ZH} → 权限管理`;
const CONTACT_SCOPE_ZH = `${CONSOLE_ZH} → 权限管理 → 通讯录权限范围`;
const scopeForZh = (path: string): string =>
  path.includes('department') || path.includes('user') ? scopeFor(path) : `${path} 的权限`;

const tokenRefused = (code: string, what: string, whatZh: string): DingtalkRule =>
  tokenRule(
    code,
    what,
    said,
    `If this persists, something else is resetting the Client Secret (${CREDENTIALS}) or the app was stopped.`,
    {
      what: whatZh,
      said: saidZh,
      hint: `若反复出现，说明有别的程序在重置 Client Secret（${CREDENTIALS_ZH}），或应用已被停用。`,
    },
  );

const rateLimit = (code: string, what: string, whatZh: string): DingtalkRule => ({
  code,
  kind: 'rate_limit',
  retry: 'backoff-long',
  message: (c) => `${what} was hit and stayed hit: ${said(c)}`,
  hint: fixed(
    "DingTalk counts calls per API per second (about 20 per app for an internal app, fewer for the free edition's " +
      "per-API limits), shared by every program using this app. Lower the connection's QPS limit or concurrency, or stop the other programs calling this API.",
  ),
  zh: {
    message: (c) => `触发了${whatZh}，重试后仍未解除：${saidZh(c)}`,
    hint: fixed(
      '钉钉按接口按秒计数（企业内部应用约每秒 20 次，免费版的单接口限额更低），使用该应用的所有程序共享这一额度。请调低连接的 QPS 或并发数，或停掉调用这个接口的其他程序。',
    ),
  },
});

const invalidRequest = (code: string): DingtalkRule => ({
  code,
  kind: 'invalid_request',
  message: (c) => `DingTalk refused the request: ${said(c)}`,
  hint: fixed(
    'The request itself is wrong (a missing or malformed parameter); this is a bug in the caller, not a setting.',
  ),
  zh: {
    message: (c) => `钉钉拒绝了这个请求：${saidZh(c)}`,
    hint: fixed('请求本身有误（参数缺失或格式不对）：这是调用方的缺陷，不是配置问题。'),
  },
});

const wrongCredentials: DingtalkRule = {
  code: 'DINGTALK_INVALID_CREDENTIALS',
  kind: 'auth',
  message: (c) =>
    `DingTalk rejected the Client ID or Client Secret${c.clientId ? ` (Client ID ${c.clientId})` : ''}: ${said(c)}`,
  hint: fixed(
    `Copy the Client ID (AppKey) and Client Secret (AppSecret) again from ${CREDENTIALS}; they belong to one app of this CorpId.`,
  ),
  zh: {
    message: (c) =>
      `钉钉拒绝了 Client ID 或 Client Secret${c.clientId ? `（Client ID ${c.clientId}）` : ''}：${saidZh(c)}`,
    hint: fixed(
      `从 ${CREDENTIALS_ZH} 重新复制 Client ID（AppKey）和 Client Secret（AppSecret）；两者须属于这个 CorpId 下的同一个应用。`,
    ),
  },
};

const apiPermission: DingtalkRule = {
  code: 'DINGTALK_API_PERMISSION_DENIED',
  kind: 'config',
  message: (c) => `the app has no permission to call ${c.path}: ${said(c)}`,
  hint: (c) =>
    `Grant the app the permission ${scopeFor(c.path)} at ${PERMISSIONS} (a sync needs ${DINGTALK_SCOPES.departments}, ${DINGTALK_SCOPES.members} ` +
    `and, for mobiles, ${DINGTALK_SCOPES.mobile}), then publish the new version if the console asks.`,
  zh: {
    message: (c) => `应用无权调用 ${c.path}：${saidZh(c)}`,
    hint: (c) =>
      `在 ${PERMISSIONS_ZH} 中给应用开通「${scopeForZh(c.path)}」（同步需要「${DINGTALK_SCOPES.departments}」「${DINGTALK_SCOPES.members}」，` +
      `同步手机号还需「${DINGTALK_SCOPES.mobile}」），后台提示时请发布新版本。`,
  },
};

const untrustedIp: DingtalkRule = {
  code: 'DINGTALK_UNTRUSTED_IP',
  kind: 'config',
  message: (c) => `DingTalk refuses calls from orgsync's outgoing IP: ${said(c)}`,
  hint: fixed(
    `Add orgsync's outgoing IP (the one in DingTalk's message) to ${CONSOLE} → 开发管理 → 服务器出口IP (the IP whitelist).`,
  ),
  zh: {
    message: (c) => `钉钉拒绝来自 orgsync 出口 IP 的调用：${saidZh(c)}`,
    hint: fixed(
      `把 orgsync 的出口 IP（钉钉返回信息里的那个）加入 ${CONSOLE_ZH} → 开发管理 → 服务器出口IP（IP 白名单）。`,
    ),
  },
};

const notFound = (code: string, what: string, whatZh: string): DingtalkRule => ({
  code,
  kind: 'not_found',
  message: (c) => `${what} does not exist: ${said(c)}`,
  hint: fixed(`Check the id. If it exists in DingTalk, widen the app's contact scope at ${CONTACT_SCOPE}.`),
  zh: {
    message: (c) => `${whatZh}不存在：${saidZh(c)}`,
    hint: fixed(`核对 ID。若它在钉钉中确实存在，请在 ${CONTACT_SCOPE_ZH} 中扩大应用的通讯录权限范围。`),
  },
});

/** The one table: errcode → typed error. Token failures and API permissions come as errcode 88 with the code in sub_code. */
export const DINGTALK_ERRCODES: Readonly<Record<number, DingtalkRule>> = {
  [-1]: {
    code: 'DINGTALK_BUSY',
    kind: 'transient',
    retry: 'backoff',
    message: (c) => `DingTalk was busy and stayed busy: ${said(c)}`,
    hint: fixed('DingTalk answered "系统繁忙" to every retry. Try again in a few minutes; nothing needs changing.'),
    zh: {
      message: (c) => `钉钉持续繁忙：${saidZh(c)}`,
      hint: fixed('每次重试钉钉都回答"系统繁忙"。几分钟后再试，无需修改任何设置。'),
    },
  },
  22: {
    code: 'DINGTALK_UNKNOWN_API',
    kind: 'config',
    message: (c) => `DingTalk does not know this API: ${said(c)}`,
    hint: fixed(
      'Check that apiBaseUrl points at DingTalk (https://oapi.dingtalk.com), or upgrade orgsync if DingTalk retired the API.',
    ),
    zh: {
      message: (c) => `钉钉不认识这个接口：${saidZh(c)}`,
      hint: fixed('检查 API 地址是否指向钉钉（https://oapi.dingtalk.com）；若钉钉已停用该接口，请升级 orgsync。'),
    },
  },
  40000: tokenRefused('DINGTALK_TOKEN_MISSING', 'missing', '缺失'),
  41001: tokenRefused('DINGTALK_TOKEN_MISSING', 'missing', '缺失'),
  40014: tokenRefused('DINGTALK_TOKEN_INVALID', 'invalid', '无效'),
  42001: tokenRefused('DINGTALK_TOKEN_EXPIRED', 'expired', '已过期'),
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
    zh: {
      message: (c) => `登录授权码不存在或已被使用：${saidZh(c)}`,
      hint: fixed('钉钉的登录授权码只能用一次，几分钟内有效：请重新登录。'),
    },
  },
  43007: {
    code: 'DINGTALK_APP_NOT_AUTHORIZED',
    kind: 'config',
    message: (c) => `the app is not authorized in this org (not published, or stopped): ${said(c)}`,
    hint: fixed(
      `Publish the app (${CONSOLE} → 版本管理与发布 → 发布) and make sure it is enabled for the org; then try again.`,
    ),
    zh: {
      message: (c) => `应用未在该组织授权（未发布或已停用）：${saidZh(c)}`,
      hint: fixed(`发布应用（${CONSOLE_ZH} → 版本管理与发布 → 发布），并确认它在该组织已启用，然后再试。`),
    },
  },
  60011: {
    code: 'DINGTALK_OUT_OF_SCOPE',
    kind: 'permission',
    message: (c) => `the department or member is outside the app's contact scope: ${said(c)}`,
    hint: fixed(
      `Widen the app's contact scope (通讯录权限范围) at ${CONTACT_SCOPE} to cover the departments to sync, e.g. 全部员工.`,
    ),
    zh: {
      message: (c) => `该部门或成员不在应用的通讯录权限范围内：${saidZh(c)}`,
      hint: fixed(`在 ${CONTACT_SCOPE_ZH} 中扩大应用的通讯录权限范围，覆盖要同步的部门，例如选「全部员工」。`),
    },
  },
  60020: untrustedIp,
  60003: notFound('DINGTALK_DEPARTMENT_NOT_FOUND', 'the department', '该部门'),
  60121: notFound('DINGTALK_USER_NOT_FOUND', 'the member', '该成员'),
  90002: rateLimit('DINGTALK_RATE_LIMITED', "DingTalk's limit on all calls of this API", '钉钉对该接口总调用量的限制'),
  90018: rateLimit(
    'DINGTALK_RATE_LIMITED',
    "DingTalk's per-app QPS limit of this API",
    '钉钉对该接口的单应用 QPS 限制',
  ),
  90019: rateLimit(
    'DINGTALK_RATE_LIMITED',
    "DingTalk's per-org QPS limit of this API",
    '钉钉对该接口的单企业 QPS 限制',
  ),
  90020: {
    code: 'DINGTALK_QUOTA_EXHAUSTED',
    kind: 'config',
    message: (c) => `the org used up its monthly API quota: ${said(c)}`,
    hint: fixed(
      "DingTalk's free edition allows about 10,000 metered calls a month. orgsync does not retry: wait for next month or upgrade the org's edition.",
    ),
    zh: {
      message: (c) => `该组织本月的接口调用额度已用完：${saidZh(c)}`,
      hint: fixed('钉钉免费版每月约有 10,000 次计量调用。orgsync 不会重试：请等到下个月，或升级组织的版本。'),
    },
  },
};

/** errcode 88 with a sub_code orgsync does not know: DingTalk also answers it briefly when calls come too fast. */
const unknown88: DingtalkRule = {
  code: 'DINGTALK_FORBIDDEN',
  kind: 'permission',
  retry: 'backoff',
  message: (c) => `DingTalk refused the call (鉴权异常): ${said(c)}`,
  hint: (c) =>
    `Check the app's permissions at ${PERMISSIONS} (${scopeFor(c.path)}) and its Client ID / Client Secret at ${CREDENTIALS}.`,
  zh: {
    message: (c) => `钉钉拒绝了调用（鉴权异常）：${saidZh(c)}`,
    hint: (c) =>
      `检查 ${PERMISSIONS_ZH} 中应用的权限（「${scopeForZh(c.path)}」），以及 ${CREDENTIALS_ZH} 中的 Client ID / Client Secret。`,
  },
};

const serverError: DingtalkRule = {
  code: 'DINGTALK_BUSY',
  kind: 'transient',
  retry: 'backoff',
  message: (c) => `DingTalk failed and kept failing: ${said(c)}`,
  hint: fixed('DingTalk answered a server error to every retry. Try again in a few minutes; nothing needs changing.'),
  zh: {
    message: (c) => `钉钉持续返回服务器错误：${saidZh(c)}`,
    hint: fixed('每次重试钉钉都返回服务器错误。几分钟后再试，无需修改任何设置。'),
  },
};

const unknownErrcode: DingtalkRule = {
  code: 'DINGTALK_ERROR',
  kind: 'unknown',
  message: (c) => `DingTalk refused the call: ${said(c)}`,
  hint: (c) =>
    `Look up ${c.apiCode ?? `errcode ${c.errcode ?? c.subCode ?? '?'}`} in DingTalk's error code list (open.dingtalk.com, 错误码).`,
  zh: {
    message: (c) => `钉钉拒绝了调用：${saidZh(c)}`,
    hint: (c) =>
      `在钉钉开放平台的错误码列表（open.dingtalk.com，错误码）中查找 ${c.apiCode ?? `errcode ${c.errcode ?? c.subCode ?? '?'}`}。`,
  },
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
  static fromRefusal(
    r: DingtalkRefusal,
    context: { path: string; clientId?: string },
    secrets: readonly string[] = [],
    attempts?: number,
  ): DingtalkError {
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
