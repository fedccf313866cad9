/** WeCom's errcodes as the simulator answers them (API reference, WeCom §1-§6). */
export const WECOM_ERRORS = {
  [-1]: 'system busy',
  40001: 'invalid credential, access_token is invalid or not latest',
  40003: 'invalid userid',
  40013: 'invalid corpid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40031: 'invalid userid list',
  40056: 'invalid agentid',
  40058: 'invalid parameter',
  40066: 'invalid department list',
  41001: 'access_token missing',
  41002: 'corpid missing',
  41004: 'corpsecret missing',
  41008: 'missing code',
  41009: 'missing userid',
  41011: 'missing agentid',
  41016: 'missing department id',
  42001: 'access_token expired',
  45009: 'api freq out of limit',
  45033: 'api concurrent out of limit',
  47001: 'data format error',
  48002: 'api forbidden',
  48009:
    'api forbidden for the contacts secret from a new ip: only user/list_id and department/simplelist may be called',
  50001: 'redirect_url not authorised',
  60001: 'department name length invalid',
  60003: 'department not found',
  60004: 'parent department not found',
  60005: 'department contains users',
  60006: 'department contains sub-departments',
  60007: 'not allow to delete root department',
  60008: 'department existed',
  60009: 'department name contains illegal characters',
  60010: 'department exists loop',
  60011: 'no privilege to access/modify contact/party/agent',
  60020: 'not allow to access from your ip',
  60102: 'userid existed',
  60103: 'mobile invalid',
  60104: 'mobile existed',
  60105: 'email invalid',
  60106: 'email existed',
  60110: 'user department size invalid',
  60111: 'userid not found',
  60112: 'user name invalid',
  60123: 'invalid party id',
  60124: 'invalid parent party id',
  60125: 'invalid party name',
  60127: 'department missing',
  60129: 'mobile and email can not both be empty',
  60132: 'is_leader_in_dept size not match department size',
  81002: 'department level exceeds limit (15)',
  84014: 'user_ticket expired',
  84015: 'user_ticket invalid',
} as const satisfies Record<number, string>;

export type WecomErrcode = keyof typeof WECOM_ERRORS;

export class WecomApiError extends Error {
  constructor(
    readonly errcode: WecomErrcode,
    detail?: string,
  ) {
    super(detail ? `${WECOM_ERRORS[errcode]}, ${detail}` : WECOM_ERRORS[errcode]);
    this.name = 'WecomApiError';
  }

  /** The response body, with a hint like WeCom's own. */
  body(): { errcode: number; errmsg: string } {
    return { errcode: this.errcode, errmsg: `${this.message}, hint: [orgsync simulator]` };
  }
}
