import { describe, expect, it } from 'vitest';
import {
  DINGTALK_ERRCODES,
  dingtalkRule,
  DingtalkError,
  type DingtalkErrorContext,
} from '../../src/connectors/dingtalk/errors.js';
import { errcodeRule, WECOM_ERRCODES, WecomError, type ErrcodeContext } from '../../src/connectors/wecom/errors.js';

/** Every refusal the connectors know reads in Chinese too (the console's 测试连接 and run errors show it). */

const CJK = /[\u4e00-\u9fff]/;

describe("Chinese texts of the platforms' errors", () => {
  it('WeCom: every row of the table, a missing parameter and an unknown errcode', () => {
    const errcodes = [...Object.keys(WECOM_ERRCODES).map(Number), 41001, 99999];
    for (const errcode of errcodes) {
      const rule = errcodeRule(errcode);
      const c: ErrcodeContext = {
        errcode,
        errmsg: 'some errmsg',
        path: 'user/get',
        corpId: 'wwcorp',
        ip: '203.0.113.7',
      };
      expect(rule.zh, `errcode ${errcode}`).toBeDefined();
      const message = rule.zh!.message(c);
      const hint = rule.zh!.hint(c);
      expect(message, `errcode ${errcode}`).toMatch(CJK);
      expect(hint, `errcode ${errcode}`).toMatch(CJK);
      expect(`${message} ${hint}`).not.toMatch(/undefined|\[object/);
      // The platform's own words stay in the message, as in English.
      expect(message).toContain(`errcode ${errcode}`);
    }
    // Through the typed error, after retries ran out; English stays the error's own message.
    const e = WecomError.fromErrcode(
      { errcode: 45009, errmsg: 'api freq out of limit', path: 'user/list', corpId: 'wwcorp' },
      [],
      4,
    );
    expect(e.text('zh-CN').message).toMatch(/^触发了企业微信的调用频率限制.*（重试 4 次后）$/);
    expect(e.text('en').message).toBe(e.message);
    expect(e.message).toMatch(/after 4 tries$/);
  });

  it('DingTalk: every row of the table, errcode 88 with an unknown sub_code, a server error and an unknown code', () => {
    const refusals = [
      ...Object.keys(DINGTALK_ERRCODES).map((k) => ({ errcode: Number(k), errmsg: 'x' })),
      { errcode: 88, errmsg: 'x', in88: true, subCode: '60011' },
      { errcode: 88, errmsg: 'x', in88: true, subCode: '12345' },
      { errcode: undefined, errmsg: 'x', apiCode: 'InternalError', status: 503 },
      { errcode: 77777, errmsg: 'x' },
    ];
    for (const r of refusals) {
      const rule = dingtalkRule(r);
      const c: DingtalkErrorContext = { ...r, path: 'topapi/v2/user/list', clientId: 'dingclient' };
      expect(rule.zh, JSON.stringify(r)).toBeDefined();
      expect(rule.zh!.message(c), JSON.stringify(r)).toMatch(CJK);
      expect(rule.zh!.hint(c), JSON.stringify(r)).toMatch(CJK);
      expect(`${rule.zh!.message(c)} ${rule.zh!.hint(c)}`).not.toMatch(/undefined|\[object/);
    }
    const e = DingtalkError.fromRefusal(
      { errcode: 40096, errmsg: 'invalid appkey' },
      { path: 'gettoken', clientId: 'dingclient' },
    );
    expect(e.text('zh-CN')).toStrictEqual({
      message:
        '钉钉拒绝了 Client ID 或 Client Secret（Client ID dingclient）：钉钉 gettoken 返回 errcode 40096（invalid appkey）',
      hint: expect.stringContaining('凭证与基础信息'),
    });
  });
});
