import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallbackCrypto } from '../../src/crypto/callback-crypto.js';
import { replyRefusal } from '../../src/simulator/dingtalk/callbacks.js';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { startDingtalk, type DingtalkClient, type Directory } from './dingtalk-client.js';

/**
 * DingTalk contact events (事件订阅, HTTP push): posted for every change, through the API or /__sim/mutate, ID-only,
 * signed and encrypted for the AppKey; the receiver must answer the encrypted "success", checked by the simulator.
 */

const TOKEN = 'DingCallbackTok3n';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

// The official DingTalk vector (API reference §12).
const VECTOR = {
  token: '123456',
  aesKey: '4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij',
  owner: 'suite4xxxxxxxxxxxxxxx',
  signature: '5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0',
  timestamp: '1445827045067',
  nonce: 'nEXhMP4r',
  encrypt:
    '1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==',
  plaintext: '{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}',
};

type Answer = 'success' | 'plain' | 'http500' | 'wrong-owner';

interface Received {
  query: URLSearchParams;
  contentType: string | undefined;
  body: string;
  /** The decrypted event, or why it could not be read. */
  event: Record<string, unknown> | { error: string };
}

/**
 * A DingTalk event receiver on 127.0.0.1, as an app would write it with our crypto: verifies and decrypts each
 * request, records it, and answers as `answer(n)` says for the n-th request (0-based).
 */
class Receiver {
  readonly requests: Received[] = [];
  answer: (n: number) => Answer = () => 'success';
  crypto!: CallbackCrypto;
  private server: Server | null = null;
  url = '';

  async start(owner: string, token = TOKEN, aesKey = AES_KEY): Promise<void> {
    this.use(owner, token, aesKey);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const n = this.requests.length;
        const url = new URL(req.url ?? '/', 'http://receiver');
        const body = Buffer.concat(chunks).toString('utf8');
        let event: Received['event'];
        try {
          const message = this.crypto.verifyAndDecrypt({
            signature: url.searchParams.get('msg_signature') ?? '',
            timestamp: url.searchParams.get('timestamp') ?? '',
            nonce: url.searchParams.get('nonce') ?? '',
            encrypted: (JSON.parse(body) as { encrypt: string }).encrypt,
          });
          event = JSON.parse(message) as Record<string, unknown>;
        } catch (err) {
          event = { error: (err as Error).message };
        }
        this.requests.push({ query: url.searchParams, contentType: req.headers['content-type'], body, event });
        const answer = this.answer(n);
        if (answer === 'http500') {
          res.statusCode = 500;
          res.end('nope');
          return;
        }
        if (answer === 'plain') {
          res.end('success');
          return;
        }
        const signer =
          answer === 'wrong-owner'
            ? new CallbackCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiverId: 'someone-else' })
            : this.crypto;
        const signed = signer.encryptAndSign('success', { timestamp: String(Date.now()) });
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            msg_signature: signed.signature,
            timeStamp: signed.timestamp,
            nonce: signed.nonce,
            encrypt: signed.encrypted,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/dingtalk/events`;
  }

  use(owner: string, token = TOKEN, aesKey = AES_KEY): void {
    this.crypto = new CallbackCrypto({ token, encodingAesKey: aesKey, receiverId: owner });
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = () => 'success';
  }

  events(): Array<Record<string, unknown>> {
    return this.requests.map((r) => r.event as Record<string, unknown>);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

let sim: DingtalkSimulator;
let client: DingtalkClient;
let receiver: Receiver;
let org: Directory;
let mobiles = 0;
const newMobile = (): string => `1980000${String(++mobiles).padStart(4, '0')}`;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
  org = await client.directory();
  receiver = new Receiver();
  await receiver.start(sim.identity.clientId);
  await client.configure({ callbackUrl: receiver.url, callbackToken: TOKEN, callbackAesKey: AES_KEY });
});

afterAll(async () => {
  await sim.close();
  await receiver.close();
});

beforeEach(async () => {
  await sim.callbacks.drain();
  receiver.reset();
  receiver.use(sim.identity.clientId);
  await client.configure({ callbackUrl: receiver.url, callbackToken: TOKEN, callbackAesKey: AES_KEY });
});

// ---------------------------------------------------------------------------------------------------------------

describe('what is posted', () => {
  it('a change through the API: POST url?msg_signature&timestamp(ms)&nonce with {"encrypt"}, for the AppKey', async () => {
    const before = Date.now();
    const created = await client.oapi('topapi/v2/department/create', { name: '回调部门', parent_id: 1 });
    expect(created.errcode).toBe(0);
    await sim.callbacks.drain();
    expect(receiver.requests).toHaveLength(1);
    const [r] = receiver.requests;
    expect(r!.contentType).toMatch(/application\/json/);
    expect(Object.keys(JSON.parse(r!.body))).toEqual(['encrypt']);
    expect(r!.query.get('timestamp')).toMatch(/^\d{13}$/);
    expect(Number(r!.query.get('timestamp'))).toBeGreaterThanOrEqual(before);
    expect(r!.query.get('nonce')).toMatch(/^[A-Za-z0-9]{16}$/);
    // Decrypted with our crypto, for the AppKey: ID-only, TimeStamp a string of milliseconds.
    expect(r!.event).toEqual({
      EventType: 'org_dept_create',
      CorpId: sim.identity.corpId,
      DeptId: [created.result.dept_id],
      TimeStamp: expect.stringMatching(/^\d{13}$/),
    });
    // Not for the CorpId: the owner key is the AppKey.
    const asCorp = new CallbackCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiverId: sim.identity.corpId });
    expect(() => asCorp.decrypt(JSON.parse(r!.body).encrypt)).toThrow(/receiver/);
  });

  it('user and department events through the API, in order, each ID-only', async () => {
    const dept = (await client.oapi('topapi/v2/department/create', { name: '事件部门', parent_id: 1 })).result
      .dept_id as number;
    const userid = (
      await client.oapi('topapi/v2/user/create', {
        userid: 'evt.user',
        name: '事件',
        mobile: newMobile(),
        dept_id_list: String(dept),
      })
    ).result.userid as string;
    await client.oapi('topapi/v2/user/update', { userid, title: '新职位' });
    await client.oapi('topapi/v2/department/update', {
      dept_id: dept,
      name: '事件部门二',
      dept_manager_userid_list: userid,
    });
    await client.oapi('topapi/v2/user/delete', { userid });
    const child = (await client.oapi('topapi/v2/department/create', { name: '子部门', parent_id: dept })).result
      .dept_id as number;
    await client.oapi('topapi/v2/department/delete', { dept_id: dept });
    await sim.callbacks.drain();
    const events = receiver.events().map(({ TimeStamp: _t, CorpId: _c, ...rest }) => rest);
    expect(events).toEqual([
      { EventType: 'org_dept_create', DeptId: [dept] },
      { EventType: 'user_add_org', UserId: [userid] },
      { EventType: 'user_modify_org', UserId: [userid] },
      { EventType: 'org_dept_modify', DeptId: [dept] },
      { EventType: 'user_modify_org', UserId: [userid] },
      { EventType: 'user_leave_org', UserId: [userid] },
      { EventType: 'org_dept_create', DeptId: [child] },
      { EventType: 'org_dept_remove', DeptId: [child, dept] },
    ]);
    for (const e of receiver.events())
      expect(Object.keys(e).sort()).toEqual(
        ['CorpId', 'EventType', 'TimeStamp', e.UserId ? 'UserId' : 'DeptId'].sort(),
      );
  });

  it('changes through /__sim/mutate too, activation as user_active_org; random changes post their events', async () => {
    const inactive = org.users.find((u) => !u.active)!;
    await client.mutate([{ op: 'updateUser', user: { userid: inactive.userid, active: true } }]);
    await sim.callbacks.drain();
    expect(receiver.events().map((e) => [e.EventType, e.UserId])).toEqual([['user_active_org', [inactive.userid]]]);

    receiver.reset();
    expect((await client.control('POST', 'mutate', { random: { count: 40, seed: 5 } })).body).toEqual({ applied: 40 });
    await sim.callbacks.drain();
    expect(receiver.requests.length).toBeGreaterThanOrEqual(40);
    const types = new Set(receiver.events().map((e) => e.EventType));
    for (const t of ['user_add_org', 'user_modify_org', 'user_leave_org', 'org_dept_create'])
      expect(types).toContain(t);
    expect(receiver.requests.every((r) => !('error' in r.event))).toBe(true);
  });

  it('nothing is posted while callbacks are not configured', async () => {
    await client.configure({ callbackUrl: null });
    const before = (await client.control('GET', 'callbacks')).body;
    await client.oapi('topapi/v2/department/create', { name: '无回调', parent_id: 1 });
    await sim.callbacks.drain();
    expect(receiver.requests).toHaveLength(0);
    expect((await client.control('GET', 'callbacks')).body).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the reply', () => {
  it('the encrypted "success" counts as delivered', async () => {
    const before = (await client.control('GET', 'callbacks')).body;
    await client.oapi('topapi/v2/department/create', { name: '已送达', parent_id: 1 });
    await sim.callbacks.drain();
    const after = (await client.control('GET', 'callbacks')).body;
    expect(after.delivered).toBe(before.delivered + 1);
    expect(after.attempts).toBe(before.attempts + 1);
  });

  it('a plain "success" or a reply for another owner key is retried, and delivered when right at the 3rd try', async () => {
    const answers: Answer[] = ['plain', 'wrong-owner', 'success'];
    receiver.answer = (n) => answers[n] ?? 'success';
    const before = (await client.control('GET', 'callbacks')).body;
    await client.oapi('topapi/v2/department/create', { name: '重试', parent_id: 1 });
    await sim.callbacks.drain();
    expect(receiver.requests).toHaveLength(3);
    // Each attempt is signed afresh.
    expect(new Set(receiver.requests.map((r) => r.query.get('nonce'))).size).toBe(3);
    const after = (await client.control('GET', 'callbacks')).body;
    expect(after).toMatchObject({
      delivered: before.delivered + 1,
      failed: before.failed,
      attempts: before.attempts + 3,
      queued: 0,
    });
  });

  it('a receiver that never answers right: given up after 4 attempts, counted as failed with the reason', async () => {
    receiver.answer = (n) => (n % 2 === 0 ? 'plain' : 'http500');
    const before = (await client.control('GET', 'callbacks')).body;
    await client.oapi('topapi/v2/department/create', { name: '失败', parent_id: 1 });
    await sim.callbacks.drain();
    expect(receiver.requests).toHaveLength(4);
    const after = (await client.control('GET', 'callbacks')).body;
    expect(after).toMatchObject({
      delivered: before.delivered,
      failed: before.failed + 1,
      attempts: before.attempts + 4,
      queued: 0,
      lastError: 'HTTP 500',
    });
  });

  it('replyRefusal names what is wrong with a reply', () => {
    const crypto = new CallbackCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiverId: 'dingapp' });
    const good = crypto.encryptAndSign('success', { timestamp: '1700000000000' });
    const reply = {
      msg_signature: good.signature,
      timeStamp: good.timestamp,
      nonce: good.nonce,
      encrypt: good.encrypted,
    };
    expect(replyRefusal(JSON.stringify(reply), crypto)).toBeNull();
    expect(replyRefusal('success', crypto)).toMatch(/not JSON/);
    const { timeStamp, ...rest } = reply;
    expect(replyRefusal(JSON.stringify({ ...rest, timestamp: timeStamp }), crypto)).toMatch(/timeStamp/);
    expect(replyRefusal(JSON.stringify({ ...reply, msg_signature: '0'.repeat(40) }), crypto)).toMatch(
      /does not verify/,
    );
    const other = crypto.encryptAndSign('fail', { timestamp: '1700000000000' });
    expect(
      replyRefusal(
        JSON.stringify({
          msg_signature: other.signature,
          timeStamp: other.timestamp,
          nonce: other.nonce,
          encrypt: other.encrypted,
        }),
        crypto,
      ),
    ).toMatch(/not "success"/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the official DingTalk vector', () => {
  it('our crypto verifies and decrypts it; the reply check reads it, and refuses it for not being "success"', () => {
    const crypto = new CallbackCrypto({ token: VECTOR.token, encodingAesKey: VECTOR.aesKey, receiverId: VECTOR.owner });
    expect(
      crypto.verifyAndDecrypt({
        signature: VECTOR.signature,
        timestamp: VECTOR.timestamp,
        nonce: VECTOR.nonce,
        encrypted: VECTOR.encrypt,
      }),
    ).toBe(VECTOR.plaintext);
    const refusal = replyRefusal(
      JSON.stringify({
        msg_signature: VECTOR.signature,
        timeStamp: VECTOR.timestamp,
        nonce: VECTOR.nonce,
        encrypt: VECTOR.encrypt,
      }),
      crypto,
    );
    expect(refusal).toMatch(/check_create_suite_url/);
  });

  it("with the vector's token and aes_key, the simulator's events decrypt with our crypto (its encrypt → our decrypt)", async () => {
    receiver.use(sim.identity.clientId, VECTOR.token, VECTOR.aesKey);
    await client.configure({ callbackToken: VECTOR.token, callbackAesKey: VECTOR.aesKey });
    const before = (await client.control('GET', 'callbacks')).body;
    const u = org.users[5]!;
    await client.oapi('topapi/v2/user/update', { userid: u.userid, remark: '向量' });
    await sim.callbacks.drain();
    expect(receiver.events()).toEqual([
      {
        EventType: 'user_modify_org',
        CorpId: sim.identity.corpId,
        UserId: [u.userid],
        TimeStamp: expect.stringMatching(/^\d{13}$/),
      },
    ]);
    // And the receiver's encrypted "success", made with the same key, satisfies the simulator.
    expect((await client.control('GET', 'callbacks')).body).toMatchObject({
      delivered: before.delivered + 1,
      attempts: before.attempts + 1,
    });
  });
});
