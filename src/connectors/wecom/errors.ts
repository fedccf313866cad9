import {
  ConnectorError,
  fixed,
  fromRule,
  redact,
  tokenRule,
  type ConnectorErrorInit,
  type ErrorRule,
} from '../common/errors.js';

export { redact };

/**
 * WeCom's errcodes mapped onto orgsync's errors: one table, one typed error. Hints name the admin-console setting
 * to change (企业微信管理后台, https://work.weixin.qq.com/wework_admin). API reference, WeCom §1 and §5.
 */

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
const saidZh = (c: ErrcodeContext): string =>
  `企业微信 ${c.path} 返回 errcode ${c.errcode}${c.errmsg ? `（${c.errmsg}）` : ''}`;
const APP_SECRET_ZH = `${CONSOLE} → 应用管理 → 应用 →（该自建应用）→ Secret`;
const APP_ZH = `${CONSOLE} → 应用管理 → 应用 →（该应用）`;

const wrongSecret: ErrcodeRule = {
  code: 'WECOM_INVALID_SECRET',
  kind: 'auth',
  message: (c) => `WeCom rejected the secret${c.corpId ? ` for corp ${c.corpId}` : ''}: ${said(c)}`,
  hint: fixed(
    `Copy the secret again: the app's at ${APP_SECRET} (查看, or 重置 if it was reset), or the contacts-sync secret at ` +
      `${CONTACTS_SECRET}. It must belong to this 企业ID, and the app must not be disabled. orgsync does not retry: ` +
      'WeCom bans an IP for an hour after repeated wrong secrets.',
  ),
  zh: {
    message: (c) => `企业微信拒绝了${c.corpId ? `企业 ${c.corpId} 的` : ''}秘钥：${saidZh(c)}`,
    hint: fixed(
      `重新复制秘钥：应用的秘钥在 ${APP_SECRET_ZH}（查看；若已重置则用新的），通讯录同步秘钥在 ${CONTACTS_SECRET}。` +
        '秘钥必须属于这个企业ID，应用也不能是停用状态。orgsync 不会重试：多次用错秘钥，企业微信会把该 IP 封禁一小时。',
    ),
  },
};

const tokenRefused = (code: string, what: string, whatZh: string): ErrcodeRule =>
  tokenRule(
    code,
    what,
    said,
    `If this persists, something else is resetting the secret (${APP_SECRET} or ${CONTACTS_SECRET}) or the app was disabled.`,
    {
      what: whatZh,
      said: saidZh,
      hint: `若反复出现，说明有别的程序在重置秘钥（${APP_SECRET_ZH} 或 ${CONTACTS_SECRET}），或应用已被停用。`,
    },
  );

const notFound = (code: string, what: string, whatZh: string): ErrcodeRule => ({
  code,
  kind: 'not_found',
  message: (c) => `${what} does not exist or is outside what the secret can see: ${said(c)}`,
  hint: fixed(
    `Check the id. If it exists in WeCom, widen the app's 可见范围 (${CONSOLE} → 应用管理 → 应用 → 可见范围).`,
  ),
  zh: {
    message: (c) => `${whatZh}不存在，或不在该秘钥可见的范围内：${saidZh(c)}`,
    hint: fixed(`核对 ID。若它在企业微信中确实存在，请扩大应用的可见范围（${CONSOLE} → 应用管理 → 应用 → 可见范围）。`),
  },
});

const invalidRequest = (code: string): ErrcodeRule => ({
  code,
  kind: 'invalid_request',
  message: (c) => `WeCom refused the request: ${said(c)}`,
  hint: fixed(
    'The request itself is wrong (a missing or malformed parameter); this is a bug in the caller, not a setting.',
  ),
  zh: {
    message: (c) => `企业微信拒绝了这个请求：${saidZh(c)}`,
    hint: fixed('请求本身有误（参数缺失或格式不对）：这是调用方的缺陷，不是配置问题。'),
  },
});

/** The one table: errcode → typed error. 41xxx (a missing parameter) is matched by range in `errcodeRule`. */
export const WECOM_ERRCODES: Readonly<Record<number, ErrcodeRule>> = {
  [-1]: {
    code: 'WECOM_BUSY',
    kind: 'transient',
    retry: 'backoff',
    message: (c) => `WeCom was busy and stayed busy: ${said(c)}`,
    hint: fixed('WeCom answered "system busy" to every retry. Try again in a few minutes; nothing needs changing.'),
    zh: {
      message: (c) => `企业微信持续繁忙：${saidZh(c)}`,
      hint: fixed('每次重试企业微信都回答"系统繁忙"。几分钟后再试，无需修改任何设置。'),
    },
  },
  40001: wrongSecret,
  40091: wrongSecret,
  40013: {
    code: 'WECOM_INVALID_CORPID',
    kind: 'config',
    message: (c) => `WeCom does not know the corp id${c.corpId ? ` "${c.corpId}"` : ''}: ${said(c)}`,
    hint: fixed(`Set corpId to the 企业ID shown at ${CONSOLE} → 我的企业 → 企业信息 → 企业ID (it starts with "ww").`),
    zh: {
      message: (c) => `企业微信不认识${c.corpId ? `企业ID "${c.corpId}"` : '这个企业ID'}：${saidZh(c)}`,
      hint: fixed(`企业ID 请填 ${CONSOLE} → 我的企业 → 企业信息 → 企业ID 中显示的值（以 "ww" 开头）。`),
    },
  },
  40014: tokenRefused('WECOM_TOKEN_INVALID', 'invalid', '无效'),
  42001: tokenRefused('WECOM_TOKEN_EXPIRED', 'expired', '已过期'),
  40056: {
    code: 'WECOM_INVALID_AGENTID',
    kind: 'config',
    message: (c) => `WeCom does not know this agentid for the secret: ${said(c)}`,
    hint: fixed(
      `Set agentId to the AgentId of the app whose Secret orgsync uses: ${CONSOLE} → 应用管理 → 应用 → (the app) → AgentId.`,
    ),
    zh: {
      message: (c) => `企业微信不认可该秘钥对应的应用ID（AgentId）：${saidZh(c)}`,
      hint: fixed(`应用ID 请填 orgsync 所用 Secret 所属应用的 AgentId：${APP_ZH} → AgentId。`),
    },
  },
  60020: {
    code: 'WECOM_UNTRUSTED_IP',
    kind: 'config',
    message: (c) =>
      `WeCom refuses calls from ${c.ip ? `our outgoing IP ${c.ip}` : "orgsync's outgoing IP"}: ${said(c)}`,
    hint: (c) =>
      `Add ${c.ip ? `our outgoing IP ${c.ip}` : "orgsync's outgoing IP (the one in WeCom's message)"} to ${CONSOLE} → 应用管理 → 应用 → ` +
      '(the app) → 企业可信IP (for the contacts-sync secret: 管理工具 → 通讯录同步 → 企业可信IP). It takes effect after about a minute.',
    zh: {
      message: (c) => `企业微信拒绝来自${c.ip ? ` orgsync 出口 IP ${c.ip} ` : ' orgsync 出口 IP '}的调用：${saidZh(c)}`,
      hint: (c) =>
        `把${c.ip ? ` ${c.ip} ` : ' orgsync 的出口 IP（企业微信返回信息里的那个）'}加入 ${APP_ZH} → 企业可信IP` +
        '（通讯录同步秘钥则在 管理工具 → 通讯录同步 → 企业可信IP）。约一分钟后生效。',
    },
  },
  60011: {
    code: 'WECOM_NO_PRIVILEGE',
    kind: 'permission',
    message: (c) => `the secret may not read or change this department or member: ${said(c)}`,
    hint: fixed(
      `Widen the app's 可见范围 at ${CONSOLE} → 应用管理 → 应用 → (the app) → 可见范围 to cover the departments to sync, ` +
        `or use the contacts-sync secret (${CONTACTS_SECRET}), whose 通讯录权限 cover the whole directory.`,
    ),
    zh: {
      message: (c) => `该秘钥无权读取或修改这个部门或成员：${saidZh(c)}`,
      hint: fixed(
        `在 ${APP_ZH} → 可见范围 中把要同步的部门加进应用的可见范围，或改用通讯录同步秘钥（${CONTACTS_SECRET}），它的通讯录权限覆盖整个通讯录。`,
      ),
    },
  },
  60021: {
    code: 'WECOM_NO_PRIVILEGE',
    kind: 'permission',
    message: (c) => `the member is outside the app's visible range: ${said(c)}`,
    hint: fixed(`Widen the app's 可见范围 at ${CONSOLE} → 应用管理 → 应用 → (the app) → 可见范围.`),
    zh: {
      message: (c) => `该成员不在应用的可见范围内：${saidZh(c)}`,
      hint: fixed(`在 ${APP_ZH} → 可见范围 中扩大应用的可见范围。`),
    },
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
    zh: {
      message: (c) => `该秘钥无权调用 ${c.path}：${saidZh(c)}`,
      hint: fixed(
        `user/list_id 和所有通讯录写操作都需要通讯录同步秘钥：请用 ${CONTACTS_SECRET} 中的 Secret（要写入还需把权限设为"API编辑通讯录"）；` +
          `其他接口需要在 ${APP_ZH} 中给应用授予相应权限。`,
      ),
    },
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
    zh: {
      message: (c) => `自 2022-08-15 起，通讯录同步秘钥不能从新 IP 读取成员详情：${saidZh(c)}`,
      hint: fixed(
        `改用自建应用的秘钥读取（${APP_SECRET_ZH}，可见范围需覆盖要同步的组织），或导入管理后台的离线导出文件` +
          `（${CONSOLE} → 通讯录 → 批量导入/导出 → 导出成员）。从这个 IP 用该秘钥只能调用 user/list_id 和 department/simplelist。`,
      ),
    },
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
    zh: {
      message: (c) => `触发了企业微信的调用频率限制，重试后仍未解除：${saidZh(c)}`,
      hint: fixed(
        '企业微信对每个企业每个接口每分钟允许约 10,000 次调用（旧套餐更少），使用该企业秘钥的所有程序共享这一额度。' +
          '请调低 rateLimitPerMinute，或停掉调用这个接口的其他程序；封禁最长持续一分钟（或一小时）。',
      ),
    },
  },
  45033: {
    code: 'WECOM_CONCURRENCY_LIMITED',
    kind: 'rate_limit',
    retry: 'backoff',
    message: (c) => `WeCom's concurrency limit was hit and stayed hit: ${said(c)}`,
    hint: fixed('Too many calls of one API at once across every program using this corp: lower concurrency.'),
    zh: {
      message: (c) => `触发了企业微信的并发限制，重试后仍未解除：${saidZh(c)}`,
      hint: fixed('使用该企业的所有程序同时调用同一接口的次数过多：请调低并发数（concurrency）。'),
    },
  },
  45029: {
    code: 'WECOM_RESPONSE_TOO_LARGE',
    kind: 'invalid_request',
    message: (c) => `WeCom's response would be too large: ${said(c)}`,
    hint: fixed('Read department by department instead of with fetch_child=1.'),
    zh: { message: (c) => `企业微信的应答会过大：${saidZh(c)}`, hint: fixed('请逐个部门读取，不要用 fetch_child=1。') },
  },
  48005: {
    code: 'WECOM_API_DEPRECATED',
    kind: 'config',
    message: (c) => `WeCom retired this API: ${said(c)}`,
    hint: fixed('Upgrade orgsync.'),
    zh: { message: (c) => `企业微信已停用这个接口：${saidZh(c)}`, hint: fixed('请升级 orgsync。') },
  },
  48006: {
    code: 'WECOM_API_PERMISSION_REVOKED',
    kind: 'permission',
    message: (c) => `WeCom revoked this app's API permission: ${said(c)}`,
    hint: fixed(
      `Apps unused for a long time lose API access: re-enable it at ${CONSOLE} → 应用管理 → 应用 → (the app).`,
    ),
    zh: {
      message: (c) => `企业微信收回了该应用的接口权限：${saidZh(c)}`,
      hint: fixed(`长期未使用的应用会失去接口权限：请在 ${APP_ZH} 中重新启用。`),
    },
  },
  50003: {
    code: 'WECOM_APP_DISABLED',
    kind: 'config',
    message: (c) => `the app is disabled: ${said(c)}`,
    hint: fixed(`Enable it at ${CONSOLE} → 应用管理 → 应用 → (the app) → 启用.`),
    zh: { message: (c) => `应用已停用：${saidZh(c)}`, hint: fixed(`请在 ${APP_ZH} → 启用。`) },
  },
  60111: notFound('WECOM_USER_NOT_FOUND', 'the member', '该成员'),
  46004: notFound('WECOM_USER_NOT_FOUND', 'the member', '该成员'),
  60003: notFound('WECOM_DEPARTMENT_NOT_FOUND', 'the department', '该部门'),
  40003: invalidRequest('WECOM_INVALID_REQUEST'),
  40058: invalidRequest('WECOM_INVALID_REQUEST'),
  47001: invalidRequest('WECOM_INVALID_REQUEST'),
};

const missingParameter: ErrcodeRule = {
  code: 'WECOM_MISSING_PARAMETER',
  kind: 'invalid_request',
  message: (c) => `WeCom says a required parameter is missing: ${said(c)}`,
  hint: fixed('The request lacks a parameter WeCom requires (41xxx); this is a bug in the caller, not a setting.'),
  zh: {
    message: (c) => `企业微信表示缺少必填参数：${saidZh(c)}`,
    hint: fixed('请求缺少企业微信要求的参数（41xxx）：这是调用方的缺陷，不是配置问题。'),
  },
};

const unknownErrcode: ErrcodeRule = {
  code: 'WECOM_ERROR',
  kind: 'unknown',
  message: (c) => `WeCom refused the call: ${said(c)}`,
  hint: (c) => `Look up errcode ${c.errcode} at https://developer.work.weixin.qq.com/document/path/90313 (全局错误码).`,
  zh: {
    message: (c) => `企业微信拒绝了调用：${saidZh(c)}`,
    hint: (c) =>
      `在 https://developer.work.weixin.qq.com/document/path/90313（全局错误码）中查找 errcode ${c.errcode}。`,
  },
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
    const ctx: ErrcodeContext = {
      ...c,
      errmsg,
      ...(c.ip === undefined && ipFromErrmsg(errmsg) ? { ip: ipFromErrmsg(errmsg) as string } : {}),
    };
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
