import { describe, expect, it } from 'vitest';
import { CallbackCrypto } from '../../src/crypto/callback-crypto.js';
import { CallbackLimiter, clientKey, DEFAULT_CALLBACK_LIMITS } from '../../src/events/callback-limits.js';
import {
  CallbackReceiver,
  MAX_CALLBACK_BODY_BYTES,
  scanDingtalkEnvelope,
  scanWecomEnvelope,
} from '../../src/events/callbacks.js';
import { OrgsyncError } from '../../src/errors.js';
import { changeContactXml } from '../../src/simulator/wecom/callbacks.js';

// Official vectors (API reference §7 and §12).
const WECOM = {
  token: 'QDG6eK',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  receiverId: 'wx5823bf96d3bd56c7',
};
const DING = {
  token: '123456',
  encodingAesKey: '4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij',
  receiverId: 'suite4xxxxxxxxxxxxxxx',
};

function rejected(fn: () => unknown): { code: string; status?: number } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OrgsyncError);
    return { code: (err as OrgsyncError).code, status: (err as { status?: number }).status };
  }
  throw new Error('expected a rejection');
}

describe('WeCom callbacks', () => {
  it('answers the official URL-verification vector with the bare plaintext', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...WECOM, now: () => 1409659589_000 });
    const out = r.receive({
      method: 'GET',
      query: {
        msg_signature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
        timestamp: '1409659589',
        nonce: '263014780',
        echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
      },
      body: '',
    });
    expect(out).toMatchObject({ status: 200, body: '1616140317555161061' });
    expect(out.message).toBeUndefined();
  });

  it('decrypts the official POST vector (a text message: acknowledged, no contact event)', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...WECOM, now: () => 1409659813_000 });
    const encrypted =
      'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==';
    const out = r.receive({
      method: 'POST',
      query: {
        msg_signature: '477715d11cdb4164915debcba66cb864d751f3e6',
        timestamp: '1409659813',
        nonce: '1372623149',
      },
      body: `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`,
    });
    expect(out.status).toBe(200);
    expect(out.message).toMatchObject({ type: 'text', events: [] });
  });

  const corp = 'ww0123456789abcdef';
  const keys = { token: 'tok3n', encodingAesKey: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ', receiverId: corp };
  const sender = new CallbackCrypto(keys);
  const post = (plain: string, options: { timestamp?: string } = {}) => {
    const s = sender.encryptAndSign(plain, options);
    return {
      method: 'POST',
      query: { msg_signature: s.signature, timestamp: s.timestamp, nonce: s.nonce },
      body: `<xml><ToUserName>${corp}</ToUserName><Encrypt><![CDATA[${s.encrypted}]]></Encrypt></xml>`,
    };
  };

  it('turns change_contact events (full and ID-only, renames, parties) into contact events', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...keys });
    const user = { userid: 'zhangsan', name: '张三', department: [2], is_leader_in_dept: [0], main_department: 2 };
    const cases: Array<[string | null, unknown]> = [
      [
        changeContactXml({ type: 'create_user', user } as never, corp, false, 1),
        [{ object: 'user', externalId: 'zhangsan' }],
      ],
      [
        changeContactXml({ type: 'create_user', user } as never, corp, true, 1),
        [{ object: 'user', externalId: 'zhangsan' }],
      ],
      [
        changeContactXml(
          {
            type: 'update_user',
            userid: 'zhangsan',
            newUserid: 'zhangsan2',
            user: { ...user, userid: 'zhangsan2' },
            changed: {},
          } as never,
          corp,
          true,
          1,
        ),
        [{ object: 'user', externalId: 'zhangsan', newExternalId: 'zhangsan2' }],
      ],
      [
        changeContactXml({ type: 'delete_user', userid: 'zhangsan' } as never, corp, false, 1),
        [{ object: 'user', externalId: 'zhangsan' }],
      ],
      [
        changeContactXml(
          { type: 'create_party', department: { id: 7, name: '新部门', parentid: 1, order: 1 } } as never,
          corp,
          false,
          1,
        ),
        [{ object: 'department', externalId: '7' }],
      ],
      [
        changeContactXml({ type: 'delete_party', id: 7 } as never, corp, false, 1),
        [{ object: 'department', externalId: '7' }],
      ],
    ];
    for (const [xml, events] of cases) {
      expect(xml).not.toBeNull();
      const out = r.receive(post(xml as string));
      expect(out).toMatchObject({ status: 200, body: 'success' });
      expect(out.message?.events).toStrictEqual(events);
    }
  });

  it('gives a retried message (encrypted again) the same dedupe key, and another message another', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...keys });
    const xml = changeContactXml({ type: 'delete_user', userid: 'a' } as never, corp, false, 5) as string;
    const other = changeContactXml({ type: 'delete_user', userid: 'b' } as never, corp, false, 5) as string;
    const k1 = r.receive(post(xml)).message?.dedupeKey;
    expect(r.receive(post(xml)).message?.dedupeKey).toBe(k1);
    expect(r.receive(post(other)).message?.dedupeKey).not.toBe(k1);
  });

  it('refuses a bad signature, a stale timestamp, a missing parameter, entity declarations and an oversized body', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...keys });
    const good = post(changeContactXml({ type: 'delete_user', userid: 'a' } as never, corp, false, 5) as string);
    expect(rejected(() => r.receive({ ...good, query: { ...good.query, msg_signature: '0'.repeat(40) } })).code).toBe(
      'CALLBACK_SIGNATURE_INVALID',
    );
    const stale = post('<xml><Event>change_contact</Event></xml>', {
      timestamp: String(Math.floor(Date.now() / 1000) - 3600),
    });
    expect(rejected(() => r.receive(stale))).toStrictEqual({ code: 'CALLBACK_TIMESTAMP_OUT_OF_WINDOW', status: 400 });
    expect(rejected(() => r.receive({ ...good, query: { timestamp: '1', nonce: '2' } })).code).toBe(
      'CALLBACK_PARAMETER_MISSING',
    );
    const bomb = post('<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><UserID>&b;</UserID></xml>');
    expect(rejected(() => r.receive(bomb)).code).toBe('CALLBACK_BODY_INVALID');
    expect(rejected(() => r.receive({ ...good, body: 'x'.repeat(MAX_CALLBACK_BODY_BYTES + 1) }))).toStrictEqual({
      code: 'CALLBACK_TOO_LARGE',
      status: 413,
    });
    // A message encrypted for another corp is refused after decryption.
    const otherCorp = new CallbackCrypto({ ...keys, receiverId: 'wwsomeoneelse' }).encryptAndSign('<xml/>');
    const misaddressed = {
      method: 'POST',
      query: { msg_signature: otherCorp.signature, timestamp: otherCorp.timestamp, nonce: otherCorp.nonce },
      body: `<xml><Encrypt>${otherCorp.encrypted}</Encrypt></xml>`,
    };
    expect(rejected(() => r.receive(misaddressed)).code).toBe('CALLBACK_RECEIVER_MISMATCH');
  });
});

describe('DingTalk event subscription', () => {
  it('decrypts the official vector and replies with an encrypted "success" (timeStamp spelled as DingTalk wants)', () => {
    const r = new CallbackReceiver({ platform: 'dingtalk', ...DING, now: () => 1445827045067 });
    const out = r.receive({
      method: 'POST',
      query: { signature: '5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0', timeStamp: '1445827045067', nonce: 'nEXhMP4r' },
      body: JSON.stringify({
        encrypt:
          '1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==',
      }),
    });
    expect(out.status).toBe(200);
    const reply = JSON.parse(out.body) as Record<string, string>;
    expect(Object.keys(reply).sort()).toStrictEqual(['encrypt', 'msg_signature', 'nonce', 'timeStamp']);
    const check = new CallbackCrypto(DING);
    expect(
      check.verifyAndDecrypt({
        signature: reply.msg_signature as string,
        timestamp: reply.timeStamp as string,
        nonce: reply.nonce as string,
        encrypted: reply.encrypt as string,
      }),
    ).toBe('success');
    expect(out.message?.type).toBe('check_create_suite_url');
    expect(out.message?.events).toStrictEqual([]);
  });

  it('turns ID-only contact events into contact events; check_url is only answered', () => {
    const keys = {
      token: 'tok',
      encodingAesKey: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
      receiverId: 'dingappkey123',
    };
    const sender = new CallbackCrypto(keys);
    const r = new CallbackReceiver({ platform: 'dingtalk', ...keys });
    const send = (event: unknown, spelling: 'new' | 'old') => {
      const s = sender.encryptAndSign(JSON.stringify(event), { timestamp: String(Date.now()) });
      const query =
        spelling === 'new'
          ? { msg_signature: s.signature, timestamp: s.timestamp, nonce: s.nonce }
          : { signature: s.signature, timeStamp: s.timestamp, nonce: s.nonce };
      return r.receive({ method: 'POST', query, body: JSON.stringify({ encrypt: s.encrypted }) });
    };
    expect(
      send({ EventType: 'user_add_org', CorpId: 'ding1', UserId: ['u1', 'u2'], TimeStamp: '1' }, 'new').message?.events,
    ).toStrictEqual([
      { object: 'user', externalId: 'u1' },
      { object: 'user', externalId: 'u2' },
    ]);
    expect(
      send({ EventType: 'org_dept_remove', DeptId: [581208264], TimeStamp: '1' }, 'old').message?.events,
    ).toStrictEqual([{ object: 'department', externalId: '581208264' }]);
    const check = send({ EventType: 'check_url' }, 'old');
    expect(check.status).toBe(200);
    expect(check.message).toBeUndefined();
  });
});

describe('the envelope scans (before any signature is checked)', () => {
  const e = 'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc==';

  it('takes Encrypt out of the envelopes WeCom sends, and nothing else', () => {
    const accepted = [
      `<xml><ToUserName><![CDATA[ww1]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[${e}]]></Encrypt></xml>`,
      // The documentation's layout: one element a line, indented.
      `<xml> \n   <ToUserName><![CDATA[toUser]]></ToUserName>\n   <AgentID><![CDATA[toAgentID]]></AgentID>\n   <Encrypt><![CDATA[${e}]]></Encrypt>\n</xml>\n`,
      `<?xml version="1.0" encoding="UTF-8"?>\n<xml><Encrypt>${e}</Encrypt><ToUserName>ww1</ToUserName><AgentID>218</AgentID></xml>`,
      `<xml><Encrypt>${e}</Encrypt></xml>`,
    ];
    for (const body of accepted) expect(scanWecomEnvelope(body), body).toBe(e);

    const refused = [
      '',
      e,
      `<xml><Encrypt></Encrypt></xml>`,
      `<xml><ToUserName>ww1</ToUserName></xml>`,
      `<xml><Encrypt>${e}</Encrypt><Encrypt>${e}</Encrypt></xml>`,
      `<xml><Encrypt><Value>${e}</Value></Encrypt></xml>`,
      `<root><Encrypt>${e}</Encrypt></root>`,
      `<xml><Encrypt a="1">${e}</Encrypt></xml>`,
      `<xml ><Encrypt>${e}</Encrypt></xml>`,
      `<XML><Encrypt>${e}</Encrypt></XML>`,
      `<xml><Encrypt>${e}</encrypt></xml>`,
      `<xml><Encrypt>${e}</Encrypt></xml><xml/>`,
      `<xml><Encrypt>${e}</Encrypt></xml>trailing`,
      `<xml><Encrypt>${e}</Encrypt>`,
      `<xml><Encrypt><![CDATA[${e}</Encrypt></xml>`,
      `<xml><!-- c --><Encrypt>${e}</Encrypt></xml>`,
      `<!DOCTYPE xml [<!ENTITY x "y">]><xml><Encrypt>${e}</Encrypt></xml>`,
      `<xml><ToUserName>&x;</ToUserName><Encrypt>${e}</Encrypt></xml>`,
      `<xml><Encrypt>${e}&#61;</Encrypt></xml>`,
      `<?xml version="1.0"?><?pi x?><xml><Encrypt>${e}</Encrypt></xml>`,
      `<?xml${' '.repeat(200)}?><xml><Encrypt>${e}</Encrypt></xml>`,
      `\uFEFF<xml><Encrypt>${e}</Encrypt></xml>`,
      `<xml>${Array.from({ length: 8 }, (_, i) => `<A${i}>x</A${i}>`).join('')}<Encrypt>${e}</Encrypt></xml>`,
      `<xml><${'N'.repeat(40)}>x</${'N'.repeat(40)}><Encrypt>${e}</Encrypt></xml>`,
      `<xml><Encrypt>${e}</Encrypt>${'<a/>'.repeat(16_000)}</xml>`,
      `<xml>${'<a>'.repeat(9_000)}${'</a>'.repeat(9_000)}</xml>`,
    ];
    for (const body of refused) expect(scanWecomEnvelope(body), body.slice(0, 120)).toBeUndefined();
  });

  it('takes encrypt out of the JSON DingTalk sends, and nothing else', () => {
    expect(scanDingtalkEnvelope(JSON.stringify({ encrypt: e }))).toBe(e);
    expect(scanDingtalkEnvelope(` {\n  "encrypt" : "${e}"\n}\n`)).toBe(e);
    // Some JSON writers escape every slash.
    expect(scanDingtalkEnvelope(`{"encrypt":"${e.replace(/\//g, '\\/')}"}`)).toBe(e);

    const refused = [
      '',
      'null',
      JSON.stringify(e),
      JSON.stringify([e]),
      JSON.stringify({ encrypt: '' }),
      JSON.stringify({ encrypt: null }),
      JSON.stringify({ encrypt: 12345 }),
      JSON.stringify({ encrypt: [e] }),
      JSON.stringify({ encrypt: { value: e } }),
      JSON.stringify({ Encrypt: e }),
      JSON.stringify({ encrypt: e, other: 1 }),
      JSON.stringify({ other: 1, encrypt: e }),
      `{"encrypt":"${e}","encrypt":"${e}"}`,
      JSON.stringify({ encrypt: `${e}\n` }),
      `{"encrypt":"\\u0041${e}"}`,
      `{"encrypt":"${e}`,
      `{"encrypt":"${e}"`,
      `{"encrypt":"${e}"}x`,
      `{"encrypt":"${e}"}{}`,
      `{'encrypt':'${e}'}`,
      `<xml><Encrypt>${e}</Encrypt></xml>`,
      `encrypt=${encodeURIComponent(e)}`,
      `{"encrypt":"${e}"${',"a":0'.repeat(10_000)}}`,
      `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
    ];
    for (const body of refused) expect(scanDingtalkEnvelope(body), body.slice(0, 120)).toBeUndefined();
  });

  it('refuses a body that is not the envelope before looking at the signature', () => {
    const r = new CallbackReceiver({ platform: 'wecom', ...WECOM });
    // Not signed at all: the body is refused first, as the cheapest check.
    expect(
      rejected(() =>
        r.receive({
          method: 'POST',
          query: { msg_signature: '0'.repeat(40), timestamp: '1', nonce: '2' },
          body: `<xml>${'<a>'.repeat(9_000)}</xml>`,
        }),
      ),
    ).toStrictEqual({
      code: 'CALLBACK_BODY_INVALID',
      status: 400,
    });
    const d = new CallbackReceiver({ platform: 'dingtalk', ...DING });
    expect(
      rejected(() =>
        d.receive({
          method: 'POST',
          query: { msg_signature: '0'.repeat(40), timestamp: '1', nonce: '2' },
          body: '['.repeat(60_000),
        }),
      ),
    ).toStrictEqual({
      code: 'CALLBACK_BODY_INVALID',
      status: 400,
    });
  });

  it('makes a decrypted message the parser cannot take a 400, whatever the parser throws', () => {
    const keys = {
      token: 'tok3n',
      encodingAesKey: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
      receiverId: 'ww0123456789abcdef',
    };
    const sender = new CallbackCrypto(keys);
    const r = new CallbackReceiver({ platform: 'wecom', ...keys });
    // fast-xml-parser throws a plain Error past its nesting limit: it was a 500 and a stack in the log.
    for (const plain of [`<xml>${'<a>'.repeat(6_000)}${'</a>'.repeat(6_000)}</xml>`, '<xml><a></b></xml>', '<xml>']) {
      const s = sender.encryptAndSign(plain);
      const request = {
        method: 'POST',
        query: { msg_signature: s.signature, timestamp: s.timestamp, nonce: s.nonce },
        body: `<xml><Encrypt>${s.encrypted}</Encrypt></xml>`,
      };
      expect(rejected(() => r.receive(request))).toStrictEqual({ code: 'CALLBACK_BODY_INVALID', status: 400 });
    }
  });
});

describe('the limits of refused callback requests', () => {
  const clock = (start = 1_000_000) => {
    let now = start;
    return { now: () => now, advance: (ms: number) => void (now += ms) };
  };

  it('answers a client 429 once it reached its limit in the sliding window, and hears it again as the window slides', () => {
    const c = clock(0);
    const limiter = new CallbackLimiter({ perIp: 3, perConnection: 1000, windowMs: 1000 }, c.now);
    expect(limiter.refused('10.0.0.1', 'wx')).toBeNull();
    expect(limiter.refused('10.0.0.1', 'wx')).toBeNull();
    expect(limiter.limited('10.0.0.1', 'wx')).toBeNull();
    // The third refusal reaches the limit: reported once, for one log line.
    expect(limiter.refused('10.0.0.1', 'wx')).toBe('ip');
    expect(limiter.refused('10.0.0.1', 'wx')).toBeNull();
    expect(limiter.limited('10.0.0.1', 'wx')).toBe('ip');
    expect(limiter.limited('10.0.0.1', 'dt')).toBe('ip');
    expect(limiter.limited('10.0.0.2', 'wx')).toBeNull();
    // Half a window later, the 4 refusals of the previous window count half: 2, under 3.
    c.advance(1500);
    expect(limiter.limited('10.0.0.1', 'wx')).toBeNull();
    c.advance(1000);
    expect(limiter.limited('10.0.0.1', 'wx')).toBeNull();
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 one', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'));
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    const limiter = new CallbackLimiter({ perIp: 2 }, clock().now);
    limiter.refused('2001:db8:1:2::1');
    limiter.refused('2001:db8:1:2::2');
    expect(limiter.limited('2001:db8:1:2::99', 'wx')).toBe('ip');
    expect(limiter.limited('2001:db8:1:3::1', 'wx')).toBeNull();
  });

  it("past a connection's limit, answers 429 to the clients already refused in the window, not to the others", () => {
    const limiter = new CallbackLimiter({ perIp: 100, perConnection: 5, windowMs: 60_000 }, clock().now);
    for (let i = 0; i < 5; i++) limiter.refused(`10.1.0.${i}`, 'wx');
    expect(limiter.limited('10.1.0.0', 'wx')).toBe('connection');
    expect(limiter.limited('10.1.0.0', 'dt')).toBeNull();
    expect(limiter.limited('10.9.9.9', 'wx')).toBeNull();
    // A refusal for an unknown name counts for the client only.
    limiter.refused('10.2.0.1');
    expect(limiter.limited('10.2.0.1', 'nobody')).toBeNull();
  });

  it('takes other limits, Infinity for none, and refuses nonsense', () => {
    const limiter = new CallbackLimiter({ perIp: 1 }, clock().now);
    limiter.refused('10.0.0.1', 'wx');
    expect(limiter.limited('10.0.0.1', 'wx')).toBe('ip');
    limiter.configure({ perIp: Number.POSITIVE_INFINITY, perConnection: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 1000; i++) limiter.refused('10.0.0.1', 'wx');
    expect(limiter.limited('10.0.0.1', 'wx')).toBeNull();
    expect(() => limiter.configure({ perIp: 0 })).toThrow(RangeError);
    expect(() => limiter.configure({ windowMs: 0.5 })).toThrow(RangeError);
    expect(DEFAULT_CALLBACK_LIMITS).toStrictEqual({ perIp: 20, perConnection: 100, windowMs: 60_000 });
  });
});
