import { ConnectorError, fixed, fromRule, redact, tokenRule, type ConnectorErrorInit, type ErrorKind, type ErrorRule, type RetryKind } from '../common/errors.js';

export { redact };

/**
 * WeCom's errcodes mapped onto orgsync's errors: one table, one typed error. Hints name the admin-console setting
 * to change (企业微信管理后台, https://work.weixin.qq.com/wework_admin). API reference, WeCom §1 and §5.
 */

export type WecomErrorKind = ErrorKind;

/** What the client does about an errcode before giving up: back off and retry, or fetch a new token and retry (up to 3 times). */
export type WecomRetry = RetryKind;

export interface ErrcodeContext {
  errcode: number;
  errmsg: string;
  /** The API path, e.g. `user/get` or `gettoken`. */
  path: string;
  corpId?: string;
  /** orgsync's outgoing IP, when known (from WeCom's errmsg or filled in by the caller). */
  ip?: string;
}

export type ErrcodeRule = ErrorRule<ErrcodeContext>;

const CONSOLE = '企业微信管理后台';
const APP_SECRET = `${CONSOLE} → 应用管理 → 应用 → (the self-built app) → Secret`;
const CONTACTS_SECRET = `${CONSOLE} → 管理工具 → 通讯录同步 → Secret`;

const said = (c: ErrcodeContext): string => `WeCom ${c.path}: errcode ${c.errcode}${c.errmsg ? ` (${c.errmsg})` : ''}`;

const wrongSecret: ErrcodeRule = {
  code: 'WECOM_INVALID_SECRET',
  kind: 'auth',
  message: (c) => `WeCom rejected the secret${c.corpId ? ` for corp ${c.corpId}` : ''}: ${said(c)}`,
  hint: fixed(
    `Copy the secret again: the app's at ${APP_SECRET} (查看, or 重置 if it was reset), or the contacts-sync secret at ` +
      `${CONTACTS_SECRET}. It must belong to this 企业ID, and the app must not be disabled. orgsync does not retry: ` +
      'WeCom bans an IP for an hour after repeated wrong secrets.',
  ),
};

const tokenRefused = (code: string, what: string): ErrcodeRule =>
  tokenRule(code, what, said, `If this persists, something else is resetting the secret (${APP_SECRET} or ${CONTACTS_SECRET}) or the app was disabled.`);

const notFound = (code: string, what: string): ErrcodeRule => ({
  code,
  kind: 'not_found',
  message: (c) => `${what} does not exist or is outside what the secret can see: ${said(c)}`,
  hint: fixed(`Check the id. If it exists in WeCom, widen the app's 可见范围 (${CONSOLE} → 应用管理 → 应用 → 可见范围).`),
});

const invalidRequest = (code: string): ErrcodeRule => ({
  code,
  kind: 'invalid_request',
  message: (c) => `WeCom refused the request: ${said(c)}`,
  hint: fixed('The request itself is wrong (a missing or malformed parameter); this is a bug in the caller, not a setting.'),
});

/** The one table: errcode → typed error. 41xxx (a missing parameter) is matched by range in `errcodeRule`. */
export const WECOM_ERRCODES: Readonly<Record<number, ErrcodeRule>> = {
  [-1]: {
    code: 'WECOM_BUSY',
    kind: 'transient',
    retry: 'backoff',
    message: (c) => `WeCom was busy and stayed busy: ${said(c)}`,
    hint: fixed('WeCom answered "system busy" to every retry. Try again in a few minutes; nothing needs changing.'),
  },
  40001: wrongSecret,
  40091: wrongSecret,
  40013: {
    code: 'WECOM_INVALID_CORPID',
    kind: 'config',
    message: (c) => `WeCom does not know the corp id${c.corpId ? ` "${c.corpId}"` : ''}: ${said(c)}`,
    hint: fixed(`Set corpId to the 企业ID shown at ${CONSOLE} → 我的企业 → 企业信息 → 企业ID (it starts with "ww").`),
  },
  40014: tokenRefused('WECOM_TOKEN_INVALID', 'invalid'),
  42001: tokenRefused('WECOM_TOKEN_EXPIRED', 'expired'),
  40056: {
    code: 'WECOM_INVALID_AGENTID',
    kind: 'config',
    message: (c) => `WeCom does not know this agentid for the secret: ${said(c)}`,
    hint: fixed(`Set agentId to the AgentId of the app whose Secret orgsync uses: ${CONSOLE} → 应用管理 → 应用 → (the app) → AgentId.`),
  },
  60020: {
    code: 'WECOM_UNTRUSTED_IP',
    kind: 'config',
    message: (c) => `WeCom refuses calls from ${c.ip ? `our outgoing IP ${c.ip}` : "orgsync's outgoing IP"}: ${said(c)}`,
    hint: (c) =>
      `Add ${c.ip ? `our outgoing IP ${c.ip}` : "orgsync's outgoing IP (the one in WeCom's message)"} to ${CONSOLE} → 应用管理 → 应用 → ` +
      '(the app) → 企业可信IP (for the contacts-sync secret: 管理工具 → 通讯录同步 → 企业可信IP). It takes effect after about a minute.',
  },
  60011: {
    code: 'WECOM_NO_PRIVILEGE',
    kind: 'permission',
    message: (c) => `the secret may not read or change this department or member: ${said(c)}`,
    hint: fixed(
      `Widen the app's 可见范围 at ${CONSOLE} → 应用管理 → 应用 → (the app) → 可见范围 to cover the departments to sync, ` +
        `or use the contacts-sync secret (${CONTACTS_SECRET}), whose 通讯录权限 cover the whole directory.`,
    ),
  },
  60021: {
    code: 'WECOM_NO_PRIVILEGE',
    kind: 'permission',
    message: (c) => `the member is outside the app's visible range: ${said(c)}`,
    hint: fixed(`Widen the app's 可见范围 at ${CONSOLE} → 应用管理 → 应用 → (the app) → 可见范围.`),
  },
  48002: {
    code: 'WECOM_API_FORBIDDEN',
    kind: 'permission',
    message: (c) => `this secret may not call ${c.path}: ${said(c)}`,
    hint: fixed(
      `user/list_id and every contact write need the contacts-sync secret: use the Secret at ${CONTACTS_SECRET} ` +
        '(and for writes, set 权限 to "API编辑通讯录"); other APIs need the permission granted to the app at ' +
        `${CONSOLE} → 应用管理 → 应用 → (the app).`,
    ),
  },
  48009: {
    code: 'WECOM_CONTACTS_SECRET_NEW_IP',
    kind: 'permission',
    message: (c) => `the contacts-sync secret may not read details from a new IP (since 2022-08-15): ${said(c)}`,
    hint: fixed(
      `Read with the self-built app's secret instead (${APP_SECRET}, with 可见范围 covering the org), or import the ` +
        `admin console's offline export (${CONSOLE} → 通讯录 → 批量导入/导出 → 导出成员). Only user/list_id and ` +
        'department/simplelist still work with this secret from this IP.',
    ),
  },
  45009: {
    code: 'WECOM_RATE_LIMITED',
    kind: 'rate_limit',
    retry: 'backoff-long',
    message: (c) => `WeCom's call-frequency limit was hit and stayed hit: ${said(c)}`,
    hint: fixed(
      'WeCom allows 10,000 calls per API per minute per corp (less on older plans), shared by every program using ' +
        "the corp's secrets. Lower rateLimitPerMinute, or stop the other programs calling this API; a block lasts up to a minute (or an hour).",
    ),
  },
  45033: {
    code: 'WECOM_CONCURRENCY_LIMITED',
    kind: 'rate_limit',
    retry: 'backoff',
    message: (c) => `WeCom's concurrency limit was hit and stayed hit: ${said(c)}`,
    hint: fixed('Too many calls of one API at once across every program using this corp: lower concurrency.'),
  },
  45029: {
    code: 'WECOM_RESPONSE_TOO_LARGE',
    kind: 'invalid_request',
    message: (c) => `WeCom's response would be too large: ${said(c)}`,
    hint: fixed('Read department by department instead of with fetch_child=1.'),
  },
  48005: {
    code: 'WECOM_API_DEPRECATED',
    kind: 'config',
    message: (c) => `WeCom retired this API: ${said(c)}`,
    hint: fixed('Upgrade orgsync.'),
  },
  48006: {
    code: 'WECOM_API_PERMISSION_REVOKED',
    kind: 'permission',
    message: (c) => `WeCom revoked this app's API permission: ${said(c)}`,
    hint: fixed(`Apps unused for a long time lose API access: re-enable it at ${CONSOLE} → 应用管理 → 应用 → (the app).`),
  },
  50003: {
    code: 'WECOM_APP_DISABLED',
    kind: 'config',
    message: (c) => `the app is disabled: ${said(c)}`,
    hint: fixed(`Enable it at ${CONSOLE} → 应用管理 → 应用 → (the app) → 启用.`),
  },
  60111: notFound('WECOM_USER_NOT_FOUND', 'the member'),
  46004: notFound('WECOM_USER_NOT_FOUND', 'the member'),
  60003: notFound('WECOM_DEPARTMENT_NOT_FOUND', 'the department'),
  40003: invalidRequest('WECOM_INVALID_REQUEST'),
  40058: invalidRequest('WECOM_INVALID_REQUEST'),
  47001: invalidRequest('WECOM_INVALID_REQUEST'),
};

const missingParameter: ErrcodeRule = {
  code: 'WECOM_MISSING_PARAMETER',
  kind: 'invalid_request',
  message: (c) => `WeCom says a required parameter is missing: ${said(c)}`,
  hint: fixed('The request lacks a parameter WeCom requires (41xxx); this is a bug in the caller, not a setting.'),
};

const unknownErrcode: ErrcodeRule = {
  code: 'WECOM_ERROR',
  kind: 'unknown',
  message: (c) => `WeCom refused the call: ${said(c)}`,
  hint: (c) => `Look up errcode ${c.errcode} at https://developer.work.weixin.qq.com/document/path/90313 (全局错误码).`,
};

export function errcodeRule(errcode: number): ErrcodeRule {
  return WECOM_ERRCODES[errcode] ?? (errcode >= 41000 && errcode < 42000 ? missingParameter : unknownErrcode);
}

/** WeCom's errmsg names the caller's IP for 60020 ("… from ip: 1.2.3.4, more info at …"). */
export function ipFromErrmsg(errmsg: string): string | undefined {
  return /from ip:\s*([0-9a-fA-F.:]+[0-9a-fA-F])/.exec(errmsg)?.[1];
}

export interface WecomErrorInit extends ConnectorErrorInit {
  /** orgsync's outgoing IP, when known (60020). */
  ip?: string;
  corpId?: string;
}

export class WecomError extends ConnectorError {
  /** orgsync's outgoing IP, when known (60020). */
  readonly ip: string | undefined;
  readonly corpId: string | undefined;

  constructor(init: WecomErrorInit, options?: { cause?: unknown }) {
    super(init, options);
    this.name = 'WecomError';
    this.ip = init.ip;
    this.corpId = init.corpId;
  }

  /** The error for an errcode WeCom answered. `secrets` are removed from WeCom's errmsg, should it ever echo one. */
  static fromErrcode(c: ErrcodeContext, secrets: readonly string[] = [], attempts?: number): WecomError {
    const errmsg = redact(c.errmsg, secrets);
    const ctx: ErrcodeContext = { ...c, errmsg, ...(c.ip === undefined && ipFromErrmsg(errmsg) ? { ip: ipFromErrmsg(errmsg) as string } : {}) };
    return new WecomError({
      ...fromRule(errcodeRule(c.errcode), ctx, attempts),
      path: c.path,
      errcode: c.errcode,
      errmsg,
      ...(ctx.ip !== undefined ? { ip: ctx.ip } : {}),
      ...(c.corpId !== undefined ? { corpId: c.corpId } : {}),
    });
  }

  /** The same error naming orgsync's outgoing IP (which the client cannot know) in its message and hint. */
  withIp(ip: string): WecomError {
    if (this.errcode === undefined) return this;
    return WecomError.fromErrcode({
      errcode: this.errcode,
      errmsg: this.errmsg ?? '',
      path: this.path,
      ip,
      ...(this.corpId !== undefined ? { corpId: this.corpId } : {}),
    });
  }
}
