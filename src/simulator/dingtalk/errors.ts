/**
 * DingTalk's errcodes as the simulator answers them (API reference, DingTalk §9-§12). Codes marked [?] there are
 * the old global error list's; the simulator uses them where the v2 docs name no code.
 */
export const DINGTALK_ERRORS = {
  [-1]: '系统繁忙',
  22: '不合法ApiName',
  88: '鉴权异常',
  40000: 'access_token is blank',
  40014: '不合法的access_token',
  40035: '缺少参数',
  40078: '不存在的临时授权码',
  40096: '不合法的appKey或appSecret',
  41001: '缺少access_token参数',
  42001: 'access_token超时',
  43001: '需要GET请求',
  43002: '需要POST请求',
  60001: '部门名称长度不符合要求',
  60003: '部门不存在',
  60004: '父部门不存在',
  60005: '不允许删除有成员的部门',
  60007: '不允许删除根部门',
  60008: '父部门下该部门名称已存在',
  60009: '部门名称含有非法字符',
  60010: '部门存在循环关系',
  60011: '没有调用该接口的权限',
  60020: '访问ip不在白名单之中',
  60102: 'UserID在公司中已存在',
  60103: '手机号码不合法',
  60104: '手机号码在公司中已存在',
  60105: '邮箱不合法',
  60106: '邮箱已存在',
  60112: '用户name不合法',
  60121: '找不到该用户',
  90002: '您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了，请求总次数超过了接口的全局限制',
  90018: '您的服务器调用钉钉开放平台当前接口的请求过于频繁，超过了每个应用每个接口的QPS限制',
  400002: '无效的参数',
} as const satisfies Record<number, string>;

export type DingtalkErrcode = keyof typeof DINGTALK_ERRORS;

/** Token failures, which DingTalk reports inside errcode 88 on the topapi paths. */
const TOKEN_FAILURES: ReadonlySet<number> = new Set([40000, 40014, 42001]);

export class DingtalkApiError extends Error {
  /** Reported inside errcode 88 on topapi paths: token failures, and a missing API permission (60011). */
  readonly in88: boolean;

  constructor(
    readonly errcode: DingtalkErrcode,
    detail?: string,
    options: { in88?: boolean } = {},
  ) {
    super(detail ? `${DINGTALK_ERRORS[errcode]}: ${detail}` : DINGTALK_ERRORS[errcode]);
    this.name = 'DingtalkApiError';
    this.in88 = options.in88 ?? TOKEN_FAILURES.has(errcode);
  }

  /**
   * The oapi body. On topapi paths token and permission failures come as errcode 88 with the cause as a string
   * sub_code (what a real topapi call answers); elsewhere, and for everything else, as their own errcode.
   */
  body(requestId: string, topapi: boolean): Record<string, unknown> {
    if (topapi && this.in88) {
      return {
        errcode: 88,
        errmsg: this.message,
        sub_code: String(this.errcode),
        sub_msg: this.message,
        request_id: requestId,
      };
    }
    return { errcode: this.errcode, errmsg: this.message, request_id: requestId };
  }

  /** The same failure as the api host (api.dingtalk.com) reports it: an HTTP status and a string code. */
  apiHost(requestId: string): { status: number; body: { code: string; message: string; requestid: string } } {
    const [status, code] = API_HOST_CODES[this.errcode] ?? [400, 'invalidParameter'];
    return { status, body: { code, message: this.message, requestid: requestId } };
  }
}

const API_HOST_CODES: Partial<Record<DingtalkErrcode, [number, string]>> = {
  [-1]: [500, 'unknownError'],
  40000: [400, 'AuthenticationFailed.MissingParameter'],
  41001: [400, 'AuthenticationFailed.MissingParameter'],
  40014: [400, 'InvalidAuthentication'],
  42001: [400, 'InvalidAuthentication'],
  40078: [400, 'invalidAuthCode'],
  40096: [400, 'invalidClientIdOrSecret'],
  60011: [403, 'Forbidden.AccessDenied.AccessTokenPermissionDenied'],
  60020: [403, 'Forbidden.AccessDenied.IpNotInWhiteList'],
  90002: [403, 'Forbidden.AccessDenied.QpsLimitForApi'],
  90018: [403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi'],
};
