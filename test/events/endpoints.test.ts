import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackCrypto } from '../../src/crypto/callback-crypto.js';
import { registerCallbackRoutes } from '../../src/events/routes.js';
import { startEventsServer, type EventsServer } from '../helpers/events.js';

/**
 * The callback endpoints over HTTP with the official vectors' Token, EncodingAESKey and receiver (API reference §7,
 * §12). The vectors' own timestamps are years old and outside the accepted window, so each request here is signed
 * afresh with the same token and key, as the platform would sign it today.
 */

// Official vectors: WeCom's token / key / CorpID and DingTalk's token / aes_key / owner key.
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

let events: EventsServer;

beforeAll(async () => {
  events = await startEventsServer({
    async add(connections) {
      // Nothing is ever read from these: the API base URL points nowhere. Messages wait in the inbox.
      await connections.add({
        platform: 'wecom',
        name: 'wx',
        settings: { corpId: WECOM.receiverId, agentId: 1000002, apiBaseUrl: 'http://127.0.0.1:9' },
        secrets: { secret: 'not-used-secret-1', callbackToken: WECOM.token, callbackAesKey: WECOM.encodingAesKey },
      });
      await connections.add({
        platform: 'dingtalk',
        name: 'dt',
        settings: {
          corpId: 'dingcorp0123',
          agentId: 1000003,
          clientId: DING.receiverId,
          apiBaseUrl: 'http://127.0.0.1:9',
        },
        secrets: { clientSecret: 'not-used-secret-2', callbackToken: DING.token, callbackAesKey: DING.encodingAesKey },
      });
    },
  });
  // The pump would try to read the stored messages' objects from nowhere; this test is about the endpoint.
  await events.server.events.stop();
});

afterAll(async () => {
  await events.close();
});

describe('WeCom endpoint', () => {
  const crypto = new CallbackCrypto(WECOM);

  it('answers the URL verification with the bare decrypted echo', async () => {
    // The echo of the official vector (1616140317555161061), encrypted and signed now.
    const s = crypto.encryptAndSign('1616140317555161061');
    const res = await fetch(
      `${events.callbackUrl('wx')}?msg_signature=${s.signature}&timestamp=${s.timestamp}&nonce=${s.nonce}&echostr=${encodeURIComponent(s.encrypted)}`,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('1616140317555161061');
  });

  it('accepts a change_contact event signed that way, stores it once, and answers "success"', async () => {
    const xml =
      '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime>' +
      '<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[update_user]]></ChangeType>' +
      '<UserID><![CDATA[zhangsan]]></UserID><NewUserID><![CDATA[zhangsan2]]></NewUserID></xml>';
    const send = async () => {
      const s = crypto.encryptAndSign(xml);
      return fetch(
        `${events.callbackUrl('wx')}?msg_signature=${s.signature}&timestamp=${s.timestamp}&nonce=${s.nonce}`,
        {
          method: 'POST',
          headers: { 'content-type': 'text/xml' },
          body: `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[${s.encrypted}]]></Encrypt></xml>`,
        },
      );
    };
    const first = await send();
    expect(first.status).toBe(200);
    expect(await first.text()).toBe('success');
    // WeCom's retry of the same message: acknowledged, not stored again.
    const retry = await send();
    expect(retry.status).toBe(200);
    expect(await events.store.inbox.counts('wx')).toStrictEqual({ pending: 1, done: 0 });
    const [stored] = await events.store.inbox.pending('wx', 10);
    expect(stored).toMatchObject({
      type: 'change_contact/update_user',
      events: [{ object: 'user', externalId: 'zhangsan', newExternalId: 'zhangsan2' }],
    });
  });
});

describe('DingTalk endpoint', () => {
  const crypto = new CallbackCrypto(DING);

  it.each(['msg_signature & timestamp', 'signature & timeStamp'])(
    'answers check_url with the encrypted "success" (%s)',
    async (spelling) => {
      const s = crypto.encryptAndSign(JSON.stringify({ EventType: 'check_url' }), { timestamp: String(Date.now()) });
      const query = spelling.startsWith('msg_')
        ? `msg_signature=${s.signature}&timestamp=${s.timestamp}`
        : `signature=${s.signature}&timeStamp=${s.timestamp}`;
      const res = await fetch(`${events.callbackUrl('dt')}?${query}&nonce=${s.nonce}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ encrypt: s.encrypted }),
      });
      expect(res.status).toBe(200);
      const reply = (await res.json()) as Record<string, string>;
      expect(Object.keys(reply).sort()).toStrictEqual(['encrypt', 'msg_signature', 'nonce', 'timeStamp']);
      expect(
        crypto.verifyAndDecrypt({
          signature: reply.msg_signature!,
          timestamp: reply.timeStamp!,
          nonce: reply.nonce!,
          encrypted: reply.encrypt!,
        }),
      ).toBe('success');
      expect(Math.abs(Number(reply.timeStamp) - Date.now())).toBeLessThan(60_000);
    },
  );

  it('accepts a contact event signed that way and stores it', async () => {
    const s = crypto.encryptAndSign(
      JSON.stringify({
        EventType: 'user_leave_org',
        CorpId: 'dingcorp0123',
        UserId: ['lisi'],
        TimeStamp: String(Date.now()),
      }),
      {
        timestamp: String(Date.now()),
      },
    );
    const res = await fetch(
      `${events.callbackUrl('dt')}?msg_signature=${s.signature}&timestamp=${s.timestamp}&nonce=${s.nonce}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ encrypt: s.encrypted }),
      },
    );
    expect(res.status).toBe(200);
    const reply = (await res.json()) as Record<string, string>;
    expect(
      crypto.verifyAndDecrypt({
        signature: reply.msg_signature!,
        timestamp: reply.timeStamp!,
        nonce: reply.nonce!,
        encrypted: reply.encrypt!,
      }),
    ).toBe('success');
    const [stored] = await events.store.inbox.pending('dt', 10);
    expect(stored).toMatchObject({ type: 'user_leave_org', events: [{ object: 'user', externalId: 'lisi' }] });
  });
});

describe('the route table', () => {
  it('marks every callback route public: the auth hook decides from the matched route, and the platforms cannot sign in', async () => {
    const app = Fastify();
    const routes: Array<{ method: string; url: string; public: unknown }> = [];
    app.addHook(
      'onRoute',
      (r) =>
        void routes.push({
          method: String(r.method),
          url: r.url ?? '',
          public: (r.config as { public?: unknown } | undefined)?.public,
        }),
    );
    await registerCallbackRoutes(app, {
      inbox: events.store.inbox,
      endpoint: async () => ({ unavailable: 'unknown-connection' }),
      stored: () => {},
    });
    await app.ready();
    const callbacks = routes.filter((r) => r.url.startsWith('/callbacks/'));
    expect(callbacks.map((r) => r.method).sort()).toStrictEqual(['GET', 'HEAD', 'POST']);
    expect(callbacks.every((r) => r.public === true)).toBe(true);
    await app.close();
  });
});
