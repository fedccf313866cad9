import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallbackCrypto } from '../../src/crypto/callback-crypto.js';
import type { SimOperation } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { sleep, startSimulator, type WecomClient } from './wecom-client.js';

/** change_contact callbacks: posted for control-API changes, signed and encrypted as WeCom does, retried on failure. */

const TOKEN = 'CallbackTok3n';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

interface Received {
  url: URL;
  method: string;
  contentType: string | undefined;
  body: string;
  /** Requests being answered when this one arrived (this one not counted). */
  alongside: number;
}

/** A callback endpoint on 127.0.0.1 that records every request and answers with `status(n)` for the n-th (0-based). */
class Receiver {
  readonly requests: Received[] = [];
  status: (n: number) => number = () => 200;
  /** Answers are held until this many requests have arrived (then all go, and later ones at once). */
  answerOnceReceived = 0;
  private readonly heldAnswers: Array<() => void> = [];
  inFlight = 0;
  maxInFlight = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const n = this.requests.length;
        this.requests.push({
          url: new URL(req.url ?? '/', 'http://receiver'),
          method: req.method ?? '',
          contentType: req.headers['content-type'],
          body: Buffer.concat(chunks).toString('utf8'),
          alongside: this.inFlight,
        });
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
        this.heldAnswers.push(() => {
          this.inFlight--;
          res.statusCode = this.status(n);
          res.end(res.statusCode === 200 ? 'success' : 'nope');
        });
        if (this.requests.length >= this.answerOnceReceived) for (const answer of this.heldAnswers.splice(0)) answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/wecom/callback`;
  }

  reset(): void {
    this.requests.length = 0;
    this.status = () => 200;
    this.answerOnceReceived = 0;
    this.maxInFlight = 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const parser = new XMLParser({ parseTagValue: false, trimValues: false });
type Event = Record<string, string>;

let sim: WecomSimulator;
let client: WecomClient;
let receiver: Receiver;
let crypto: CallbackCrypto;

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
  receiver = new Receiver();
  await receiver.start();
  crypto = new CallbackCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiverId: sim.identity.corpId });
  await client.configure({ callbackUrl: receiver.url, callbackToken: TOKEN, callbackAesKey: AES_KEY });
});

afterAll(async () => {
  await sim.close();
  await receiver.close();
});

beforeEach(async () => {
  // One delivery at a time, so the tests can read the events in the order of the changes.
  await client.configure({ callbackIdsOnly: false, callbackConcurrency: 1 });
  receiver.reset();
});

/** Checks the envelope and signature, decrypts, and parses the event. */
function decode(r: Received): Event {
  expect(r.method).toBe('POST');
  expect(r.url.pathname).toBe('/wecom/callback');
  const signature = r.url.searchParams.get('msg_signature');
  const timestamp = r.url.searchParams.get('timestamp');
  const nonce = r.url.searchParams.get('nonce');
  expect(signature).toMatch(/^[0-9a-f]{40}$/);
  expect(timestamp).toMatch(/^\d{10}$/);
  expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
  expect(nonce).toMatch(/^\S+$/);
  const envelope = parser.parse(r.body) as { xml: Record<string, string> };
  expect(Object.keys(envelope.xml).sort()).toEqual(['Encrypt', 'ToUserName']);
  expect(envelope.xml.ToUserName).toBe(sim.identity.corpId);
  const xml = crypto.verifyAndDecrypt({
    signature: signature!,
    timestamp: timestamp!,
    nonce: nonce!,
    encrypted: envelope.xml.Encrypt!,
  });
  const event = (parser.parse(xml) as { xml: Event }).xml;
  expect(event).toMatchObject({
    ToUserName: sim.identity.corpId,
    FromUserName: 'sys',
    MsgType: 'event',
    Event: 'change_contact',
  });
  expect(Math.abs(Number(event.CreateTime) - Date.now() / 1000)).toBeLessThan(60);
  return event;
}

/** The event fields after the common ones. */
function payload(e: Event): Event {
  const { ToUserName: _t, FromUserName: _f, CreateTime: _c, MsgType: _m, Event: _e, ...rest } = e;
  return rest;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function stats(): Promise<{
  queued: number;
  delivered: number;
  failed: number;
  attempts: number;
  lastError: string | null;
}> {
  return (await client.control('GET', 'callbacks')).body;
}

async function mutate(operations: SimOperation[]): Promise<void> {
  const res = await client.control('POST', 'mutate', { operations });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ applied: operations.length });
}

/** Waits until every queued event is delivered or given up. */
async function settled(): Promise<void> {
  await waitFor(async () => (await stats()).queued === 0, 'the callback queue to drain');
}

// ---------------------------------------------------------------------------------------------------------------

describe('full payloads', () => {
  it('each control-API change posts one signed, encrypted change_contact event, in order', async () => {
    const [d2, d3] = (await client.directory()).departments.filter((d) => d.id !== 1).map((d) => d.id);
    await mutate([
      {
        op: 'createUser',
        user: {
          userid: 'cb.new',
          name: '回调新人',
          department: [d2!, d3!],
          is_leader_in_dept: [1, 0],
          mobile: '+86 13912345678',
          email: 'cb.new@example.com',
          position: '调度员',
          gender: '1',
          status: 1,
          alias: 'Neo',
          extattr: { attrs: [{ type: 0, name: '工号', text: { value: 'CB001' } }] },
        },
      },
      { op: 'updateUser', user: { userid: 'cb.new', new_userid: 'cb.renamed', name: '改名了' } },
      { op: 'updateUser', user: { userid: 'cb.renamed', position: '主管' } },
      { op: 'deleteUser', userid: 'cb.renamed' },
      { op: 'createDepartment', department: { id: 9001, name: '回调部门', parentid: 1, order: 7 } },
      { op: 'updateDepartment', department: { id: 9001, parentid: d2! } },
      { op: 'updateDepartment', department: { id: 9001, name: '回调部门改' } },
      { op: 'deleteDepartment', id: 9001 },
    ]);
    await waitFor(() => receiver.requests.length >= 8, '8 callbacks');
    await settled();
    expect(receiver.requests.length).toBe(8);
    for (const r of receiver.requests) expect(r.contentType).toMatch(/xml/);
    const events = receiver.requests.map(decode).map(payload);

    expect(events[0]).toEqual({
      ChangeType: 'create_user',
      UserID: 'cb.new',
      Name: '回调新人',
      Department: `${d2},${d3}`,
      MainDepartment: String(d2),
      IsLeaderInDept: '1,0',
      DirectLeader: '',
      Position: '调度员',
      Mobile: '+86 13912345678',
      Gender: '1',
      Email: 'cb.new@example.com',
      BizMail: '',
      Status: '1',
      Avatar: '',
      Alias: 'Neo',
      Telephone: '',
      Address: '',
      ExtAttr: { Item: { Name: '工号', Type: '0', Text: { Value: 'CB001' } } },
    });
    expect(events[1]).toEqual({ ChangeType: 'update_user', UserID: 'cb.new', NewUserID: 'cb.renamed', Name: '改名了' });
    expect(events[2]).toEqual({ ChangeType: 'update_user', UserID: 'cb.renamed', Position: '主管' });
    expect(events[3]).toEqual({ ChangeType: 'delete_user', UserID: 'cb.renamed' });
    expect(events[4]).toEqual({ ChangeType: 'create_party', Id: '9001', Name: '回调部门', ParentId: '1', Order: '7' });
    expect(events[5]).toEqual({ ChangeType: 'update_party', Id: '9001', ParentId: String(d2) });
    expect(events[6]).toEqual({ ChangeType: 'update_party', Id: '9001', Name: '回调部门改' });
    expect(events[7]).toEqual({ ChangeType: 'delete_party', Id: '9001' });
  });

  it('a wrong token or key does not verify', async () => {
    await mutate([{ op: 'createDepartment', department: { name: '验签部门', parentid: 1 } }]);
    await waitFor(() => receiver.requests.length >= 1, 'a callback');
    const r = receiver.requests[0]!;
    const encrypted = (parser.parse(r.body) as { xml: { Encrypt: string } }).xml.Encrypt;
    const args = {
      signature: r.url.searchParams.get('msg_signature')!,
      timestamp: r.url.searchParams.get('timestamp')!,
      nonce: r.url.searchParams.get('nonce')!,
      encrypted,
    };
    expect(() =>
      new CallbackCrypto({
        token: 'OtherToken',
        encodingAesKey: AES_KEY,
        receiverId: sim.identity.corpId,
      }).verifyAndDecrypt(args),
    ).toThrow();
    expect(() =>
      new CallbackCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiverId: 'wwsomeoneelse' }).verifyAndDecrypt(args),
    ).toThrow();
    expect(crypto.verifyAndDecrypt(args)).toContain('create_party');
  });

  it('changes made through the write API with the contacts secret are not posted', async () => {
    const c = { as: 'contacts' } as const;
    const dept = await client.post('department/create', { name: 'API部门', parentid: 1 }, c);
    expect(dept.errcode).toBe(0);
    expect((await client.post('department/update', { id: dept.id, name: 'API部门改' }, c)).errcode).toBe(0);
    expect(
      (
        await client.post(
          'user/create',
          { userid: 'api.made', name: '接口', mobile: '13800009999', department: [dept.id] },
          c,
        )
      ).errcode,
    ).toBe(0);
    expect((await client.post('user/update', { userid: 'api.made', position: 'X' }, c)).errcode).toBe(0);
    expect((await client.get('user/delete', { userid: 'api.made' }, c)).errcode).toBe(0);
    expect((await client.get('department/delete', { id: dept.id }, c)).errcode).toBe(0);
    // A control-API change afterwards is delivered, and it is the only one: events go out in order.
    await mutate([{ op: 'createDepartment', department: { name: '标记部门', parentid: 1 } }]);
    await waitFor(() => receiver.requests.length >= 1, 'the marker callback');
    // Drained: every queued delivery has ended, and the receiver records a request before answering it.
    await settled();
    expect(receiver.requests.length).toBe(1);
    expect(payload(decode(receiver.requests[0]!))).toMatchObject({ ChangeType: 'create_party', Name: '标记部门' });
  });
});

describe('concurrent delivery (callbackConcurrency)', () => {
  it('keeps that many deliveries in flight, and delivers a rename alone', async () => {
    await client.configure({ callbackConcurrency: 4 });
    // The first four answers wait until all four have arrived: four are provably in flight at once.
    receiver.answerOnceReceived = 4;
    const departments = (n: number, from: number): SimOperation[] =>
      Array.from(
        { length: n },
        (_, i) =>
          ({
            op: 'createDepartment',
            department: { id: from + i, name: `并发部门${from + i}`, parentid: 1 },
          }) as SimOperation,
      );
    const [d2] = (await client.directory()).departments.filter((d) => d.id !== 1).map((d) => d.id);
    await mutate([
      ...departments(8, 9300),
      { op: 'createUser', user: { userid: 'cc.one', name: '并发', department: [d2!], mobile: '+86 13912340000' } },
      { op: 'updateUser', user: { userid: 'cc.one', new_userid: 'cc.two' } },
      ...departments(8, 9400),
    ]);
    await waitFor(() => receiver.requests.length >= 18, '18 callbacks');
    await settled();
    expect(receiver.requests.length).toBe(18);
    expect(receiver.maxInFlight).toBe(4);
    const events = receiver.requests.map((r) => payload(decode(r)));
    // Every change arrived once.
    expect(
      events
        .filter((e) => e.ChangeType === 'create_party')
        .map((e) => Number(e.Id))
        .sort(),
    ).toEqual(
      [...departments(8, 9300), ...departments(8, 9400)].map(
        (o) => (o as { department: { id: number } }).department.id,
      ),
    );
    // The rename came alone: after everything queued before it had been answered, and before anything after it.
    const at = events.findIndex((e) => e.NewUserID === 'cc.two');
    expect(receiver.requests[at]!.alongside).toBe(0);
    expect(
      events
        .slice(0, at)
        .map((e) => e.Id ?? e.UserID)
        .sort(),
    ).toEqual([...Array.from({ length: 8 }, (_, i) => String(9300 + i)), 'cc.one'].sort());
    expect(receiver.requests[at + 1]!.alongside).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('ID-only payloads (callbackIdsOnly)', () => {
  it('carry only ids, and skip the changes WeCom does not report', async () => {
    await client.configure({ callbackIdsOnly: true });
    const [d2, d3] = (await client.directory()).departments.filter((d) => d.id !== 1).map((d) => d.id);
    await mutate([
      {
        op: 'createUser',
        user: { userid: 'ids.only', name: '只有编号', department: [d2!], mobile: '+86 13700001111', position: 'A' },
      },
      { op: 'updateUser', user: { userid: 'ids.only', position: 'B' } }, // nothing
      { op: 'updateUser', user: { userid: 'ids.only', department: [d2!, d3!] } },
      { op: 'updateUser', user: { userid: 'ids.only', new_userid: 'ids.renamed' } },
      { op: 'createDepartment', department: { id: 9100, name: '编号部门', parentid: 1, order: 3 } },
      { op: 'updateDepartment', department: { id: 9100, name: '编号部门改' } }, // nothing
      { op: 'updateDepartment', department: { id: 9100, order: 99 } }, // nothing
      { op: 'updateDepartment', department: { id: 9100, parentid: d2! } },
      { op: 'deleteUser', userid: 'ids.renamed' },
      { op: 'deleteDepartment', id: 9100 },
    ]);
    await settled();
    const events = receiver.requests.map(decode).map(payload);
    expect(events).toEqual([
      { ChangeType: 'create_user', UserID: 'ids.only', Department: String(d2) },
      { ChangeType: 'update_user', UserID: 'ids.only', Department: `${d2},${d3}` },
      { ChangeType: 'update_user', UserID: 'ids.only', NewUserID: 'ids.renamed', Department: `${d2},${d3}` },
      { ChangeType: 'create_party', Id: '9100', ParentId: '1' },
      { ChangeType: 'update_party', Id: '9100', ParentId: String(d2) },
      { ChangeType: 'delete_user', UserID: 'ids.renamed' },
      { ChangeType: 'delete_party', Id: '9100' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('delivery retries', () => {
  it('a receiver that fails twice then answers 200 gets the event once delivered, after 3 attempts', async () => {
    const before = await stats();
    receiver.status = (n) => (n < 2 ? 500 : 200);
    await mutate([{ op: 'createDepartment', department: { name: '重试部门', parentid: 1 } }]);
    await waitFor(async () => (await stats()).delivered === before.delivered + 1, 'the delivery');
    const after = await stats();
    expect(after.attempts - before.attempts).toBe(3);
    expect(after.failed).toBe(before.failed);
    expect(after.queued).toBe(0);
    expect(receiver.requests.length).toBe(3);
    const events = receiver.requests.map(decode).map(payload);
    for (const e of events) expect(e).toMatchObject({ ChangeType: 'create_party', Name: '重试部门' });
  });

  it('a receiver that always fails: given up after 4 attempts', async () => {
    const before = await stats();
    receiver.status = () => 500;
    await mutate([{ op: 'createDepartment', department: { name: '失败部门', parentid: 1 } }]);
    await waitFor(async () => (await stats()).failed === before.failed + 1, 'the failure');
    const after = await stats();
    expect(after.attempts - before.attempts).toBe(4);
    expect(after.delivered).toBe(before.delivered);
    expect(after.queued).toBe(0);
    expect(after.lastError).toBe('HTTP 500');
    // Given up: its last attempt has ended, so all four reached the receiver.
    expect(receiver.requests.length).toBe(4);
  });

  it('without a callback URL nothing is queued', async () => {
    await client.configure({ callbackUrl: null });
    try {
      const before = await stats();
      // The mutate answers after its events were queued (or not): nothing to wait for.
      await mutate([{ op: 'createDepartment', department: { name: '无回调', parentid: 1 } }]);
      expect(await stats()).toEqual(before);
      expect(receiver.requests.length).toBe(0);
    } finally {
      await client.configure({ callbackUrl: receiver.url });
    }
  });
});
