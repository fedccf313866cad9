import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { CallbackCrypto, decodeEncodingAesKey } from '../../src/crypto/callback-crypto.js';
import { exportDirectory, type DirectoryExport } from '../../src/directory/export.js';
import { syncConnection } from '../../src/runs/sync.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import * as dingDirectory from '../helpers/dingtalk-directory.js';
import { settle, simDirectory, startEventsServer, type EventsServer } from '../helpers/events.js';
import * as wecomDirectory from '../helpers/wecom-directory.js';

/**
 * Issue 7's acceptance point on forged callbacks: 5,000 forged or malformed requests (2,500 per platform) against
 * the real server with a real simulated org behind each connection. Every request is built with our own signing
 * and is wrong in exactly one way, and otherwise carries a genuine contact event for an existing person, so any
 * request let through would be stored and show. All are refused with a 4xx, but for two kinds acknowledged by
 * design and asserted so: a replay of a stored message inside the time window (the platform-retry rule: answered,
 * not stored again) and an authentic message with no contact event in it (nothing to store). Nothing is stored,
 * the directory and its revision stay as they were, no run starts, the log names no secret, and the server still
 * answers /healthz and applies a real change the simulator calls back afterwards.
 */

type Platform = 'wecom' | 'dingtalk';

/** What one request must get back. */
interface Want {
  status: number;
  /** Plain text starting with "<code>: " (the callback endpoint's refusals). */
  code?: string;
  /** Plain text, exactly. */
  text?: string;
  /** JSON in the API's error shape with this code (routes the callback endpoint does not own). */
  apiCode?: string;
  /** The platform's acknowledgement: WeCom "success", DingTalk the encrypted, signed "success". */
  ack?: true;
}

interface Forged {
  kind: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | ReadableStream<Uint8Array>;
  want: Want;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

interface Setup {
  platform: Platform;
  /** The connection under attack. */
  name: string;
  /** Another connection of the same platform, with its own callback Token and EncodingAESKey. */
  other: string;
  /** A connection with no callback configured. */
  plain: string;
  token: string;
  aesKey: string;
  receiverId: string;
  /** Receiver ids a sender could encrypt for by mistake: none is this connection's. */
  wrongReceivers: string[];
  /** The connection's own crypto, and the other connection's (its token and key, same receiver). */
  crypto: CallbackCrypto;
  otherCrypto: CallbackCrypto;
  /** Every secret the server knows for these connections: none may reach the log. */
  secrets: string[];
  events: EventsServer;
  simUrl: string;
  callbackStats(): ReturnType<WecomSimulator['callbacks']['stats']>;
  closeSim(): Promise<void>;
  /** External ids of people in the synced org. */
  people: string[];
  corpId: string;
  logs: string[];
}

const MASTER_KEY = 'ab'.repeat(32);
/**
 * Every forged request here comes from 127.0.0.1, as the simulator's real callback after them does: the limits of
 * refused requests (test/security/callbacks.test.ts) would answer most of them 429 before reading them.
 */
const NO_LIMITS = { perIp: Number.POSITIVE_INFINITY, perConnection: Number.POSITIVE_INFINITY };
const PER_PLATFORM = 2500;
const IN_FLIGHT = 50;

const setups: Setup[] = [];
afterAll(async () => {
  for (const s of setups) {
    await s.closeSim();
    await s.events.close();
  }
});

// ------------------------------------------------------------------------------------------- set-up

async function startWecom(): Promise<Setup> {
  const sim = new WecomSimulator({ seed: 7101, departments: 12, users: 90 });
  const simUrl = await sim.listen(0);
  const id = sim.identity;
  const token = 'wxFloodTok9Q';
  const aesKey = 'Wq3ZrT8mK1pLx0vB7nC5dF2gH4jY6sA9eU1iO3kM7tR';
  const otherToken = 'wxOtherTok4Z';
  const otherKey = 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8Nn7Mm6L';
  const otherSecret = 'otherAppSecret0123456789abcdefghijklmnopqrs';
  const plainSecret = 'plainAppSecret0123456789abcdefghijklmnopqrs';
  const logs: string[] = [];
  const events = await startEventsServer({
    add: async (c) => {
      await c.add({
        platform: 'wecom',
        name: 'wx',
        settings: { corpId: id.corpId, agentId: id.agentId, apiBaseUrl: simUrl },
        secrets: { secret: id.secret, contactsSecret: id.contactsSecret, callbackToken: token, callbackAesKey: aesKey },
        schedule: { reconcileCron: null },
      });
      await c.add({
        platform: 'wecom',
        name: 'wx-other',
        settings: { corpId: 'ww00aa11bb22cc33dd', agentId: 1000005, apiBaseUrl: simUrl },
        secrets: { secret: otherSecret, callbackToken: otherToken, callbackAesKey: otherKey },
        schedule: { reconcileCron: null },
      });
      await c.add({
        platform: 'wecom',
        name: 'wx-plain',
        settings: { corpId: id.corpId, agentId: id.agentId, apiBaseUrl: simUrl },
        secrets: { secret: plainSecret },
        schedule: { reconcileCron: null },
      });
    },
    server: { logStream: { write: (line) => void logs.push(line) }, callbackLimits: NO_LIMITS },
  }).catch(async (err: unknown) => {
    await sim.close();
    throw err;
  });
  const setup: Setup = {
    platform: 'wecom',
    name: 'wx',
    other: 'wx-other',
    plain: 'wx-plain',
    token,
    aesKey,
    receiverId: id.corpId,
    // Another corp; a personal-entity app (''); the official sample's corp; near misses of our own CorpID.
    wrongReceivers: [
      'ww00aa11bb22cc33dd',
      '',
      'wx5823bf96d3bd56c7',
      id.corpId.toUpperCase(),
      id.corpId.slice(0, -1),
      `${id.corpId} `,
      `${id.corpId}\u0000`,
    ],
    crypto: new CallbackCrypto({ token, encodingAesKey: aesKey, receiverId: id.corpId }),
    otherCrypto: new CallbackCrypto({ token: otherToken, encodingAesKey: otherKey, receiverId: id.corpId }),
    secrets: [token, aesKey, otherToken, otherKey, id.secret, id.contactsSecret, otherSecret, plainSecret, MASTER_KEY],
    events,
    simUrl,
    callbackStats: () => sim.callbacks.stats(),
    closeSim: () => sim.close(),
    people: sim.corp
      .snapshot()
      .users.filter((u) => u.status !== 5)
      .map((u) => u.userid),
    corpId: id.corpId,
    logs,
  };
  setups.push(setup);
  const first = await syncConnection(events.store, await events.connections.get('wx'));
  expect(first.status, JSON.stringify(first.errors)).toBe('succeeded');
  return setup;
}

const DING_QPS = 400;

async function startDingtalk(): Promise<Setup> {
  const sim = new DingtalkSimulator({
    seed: 7201,
    departments: 12,
    users: 90,
    config: { sensitiveFields: 'returned', qpsLimit: DING_QPS },
  });
  const simUrl = await sim.listen(0);
  const id = sim.identity;
  const token = 'dtFloodTok3W';
  const aesKey = 'Dk4Lm5Nn6Op7Pq8Qr9Rs0St1Tu2Uv3Vw4Wx5Xy6Yz7A';
  const otherToken = 'dtOtherTok8K';
  const otherKey = 'Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3Nn4O';
  const otherSecret = 'otherClientSecret0123456789abcdefghijklmnopqrstuvwxyz0123';
  const plainSecret = 'plainClientSecret0123456789abcdefghijklmnopqrstuvwxyz0123';
  const logs: string[] = [];
  const events = await startEventsServer({
    add: async (c) => {
      await c.add({
        platform: 'dingtalk',
        name: 'dt',
        settings: { corpId: id.corpId, agentId: id.agentId, clientId: id.clientId, apiBaseUrl: simUrl },
        secrets: { clientSecret: id.clientSecret, callbackToken: token, callbackAesKey: aesKey },
        schedule: { reconcileCron: null },
      });
      await c.add({
        platform: 'dingtalk',
        name: 'dt-other',
        settings: {
          corpId: 'dingother0000000001',
          agentId: 3000005,
          clientId: 'dingotherappkey00001',
          apiBaseUrl: simUrl,
        },
        secrets: { clientSecret: otherSecret, callbackToken: otherToken, callbackAesKey: otherKey },
        schedule: { reconcileCron: null },
      });
      await c.add({
        platform: 'dingtalk',
        name: 'dt-plain',
        settings: { corpId: id.corpId, agentId: id.agentId, clientId: id.clientId, apiBaseUrl: simUrl },
        secrets: { clientSecret: plainSecret },
        schedule: { reconcileCron: null },
      });
    },
    server: {
      dingtalkQpsLimit: DING_QPS,
      logStream: { write: (line) => void logs.push(line) },
      callbackLimits: NO_LIMITS,
    },
  }).catch(async (err: unknown) => {
    await sim.close();
    throw err;
  });
  const setup: Setup = {
    platform: 'dingtalk',
    name: 'dt',
    other: 'dt-other',
    plain: 'dt-plain',
    token,
    aesKey,
    receiverId: id.clientId,
    // The CorpId (what the legacy 注册回调 encrypts for), another app's AppKey, the official sample's SuiteKey, '',
    // near misses of our own AppKey.
    wrongReceivers: [
      id.corpId,
      'dingotherappkey00001',
      'suite4xxxxxxxxxxxxxxx',
      '',
      id.clientId.toUpperCase(),
      id.clientId.slice(0, -1),
      `${id.clientId}x`,
    ],
    crypto: new CallbackCrypto({ token, encodingAesKey: aesKey, receiverId: id.clientId }),
    otherCrypto: new CallbackCrypto({ token: otherToken, encodingAesKey: otherKey, receiverId: id.clientId }),
    secrets: [token, aesKey, otherToken, otherKey, id.clientSecret, otherSecret, plainSecret, MASTER_KEY],
    events,
    simUrl,
    callbackStats: () => sim.callbacks.stats(),
    closeSim: () => sim.close(),
    people: (sim.directory() as dingDirectory.DingTruth).users.map((u) => u.userid),
    corpId: id.corpId,
    logs,
  };
  setups.push(setup);
  const first = await syncConnection(events.store, await events.connections.get('dt'), { qpsLimit: DING_QPS });
  expect(first.status, JSON.stringify(first.errors)).toBe('succeeded');
  return setup;
}

async function mutate(s: Setup, body: unknown): Promise<void> {
  const res = await fetch(`${s.simUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** The local directory and the simulator's, in the helpers' comparable shapes (DingTalk with profiles). */
async function mirror(s: Setup): Promise<{ local: unknown; truth: unknown }> {
  const doc = exportDirectory(await s.events.store.directory.load());
  if (s.platform === 'wecom') {
    const org = await simDirectory<SimOrg>(s.simUrl);
    return { local: wecomDirectory.local(doc, org, s.name), truth: wecomDirectory.expected(org) };
  }
  const truth = await simDirectory<dingDirectory.DingTruth>(s.simUrl);
  return {
    local: dingDirectory.local(doc, truth, { source: s.name, profile: true }),
    truth: dingDirectory.expected(truth, [1], { profile: true }),
  };
}

// ------------------------------------------------------------------------------------------- requests

const NONCE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const nonce = (): string =>
  Array.from({ length: randomInt(8, 17) }, () => NONCE_CHARS[randomInt(NONCE_CHARS.length)]).join('');
const pick = <T>(list: readonly T[]): T => list[randomInt(list.length)] as T;
const hex40 = (): string => randomBytes(20).toString('hex');
const cdata = (v: string): string => `<![CDATA[${v}]]>`;

/** The request timestamp the platform sends, `offsetMs` away from now: WeCom in seconds, DingTalk in ms. */
function stamp(s: Setup, offsetMs = 0): string {
  const ms = Date.now() + offsetMs;
  return s.platform === 'wecom' ? String(Math.floor(ms / 1000)) : String(ms);
}

let serial = 0;

/** A genuine contact event about an existing person, different every time (so each would be stored if let in). */
function eventMessage(s: Setup, userid = pick(s.people)): string {
  serial++;
  if (s.platform === 'wecom') {
    return (
      `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName>` +
      `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType>${cdata('event')}</MsgType>` +
      `<Event>${cdata('change_contact')}</Event><ChangeType>${cdata('update_user')}</ChangeType>` +
      `<UserID>${cdata(userid)}</UserID><Position>${cdata(`岗位 ${serial}`)}</Position></xml>`
    );
  }
  return JSON.stringify({
    EventType: 'user_modify_org',
    CorpId: s.corpId,
    UserId: [userid],
    OptStaffId: `manager${serial}`,
    TimeStamp: String(Date.now() + serial),
  });
}

/** The POST body around an encrypted value, as the platform sends it. */
function envelope(s: Setup, encrypted: string): string {
  return s.platform === 'wecom'
    ? `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><Encrypt>${cdata(encrypted)}</Encrypt></xml>`
    : JSON.stringify({ encrypt: encrypted });
}

const contentType = (s: Setup): string => (s.platform === 'wecom' ? 'text/xml' : 'application/json');

interface Signed {
  signature: string;
  timestamp: string;
  nonce: string;
  encrypted: string;
}

/** Signs `encrypted` as it is (whatever it is) with the connection's token. */
function sign(s: Setup, encrypted: string, timestamp = stamp(s), n = nonce(), crypto = s.crypto): Signed {
  return { signature: crypto.signature(timestamp, n, encrypted), timestamp, nonce: n, encrypted };
}

/** A correctly encrypted and signed message. */
const sealed = (s: Setup, message: string, timestamp?: string): Signed => sign(s, s.crypto.encrypt(message), timestamp);

/** The query string of a signed request; DingTalk's other spelling (signature, timeStamp) now and then. */
function query(s: Setup, p: Partial<Signed>, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  const alt = s.platform === 'dingtalk' && randomInt(3) === 0;
  if (p.signature !== undefined) q.set(alt ? 'signature' : 'msg_signature', p.signature);
  if (p.timestamp !== undefined) q.set(alt ? 'timeStamp' : 'timestamp', p.timestamp);
  if (p.nonce !== undefined) q.set('nonce', p.nonce);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

function url(s: Setup, q: string, connection = s.name): string {
  return `${s.events.callbackUrl(connection)}${q ? `?${q}` : ''}`;
}

/** A POST of `signed` in the platform's envelope, with the parts given in `change` replaced. */
function post(
  s: Setup,
  kind: string,
  signed: Signed,
  want: Want,
  change: { body?: string; query?: string; connection?: string; method?: string; contentType?: string } = {},
): Forged {
  return {
    kind,
    method: change.method ?? 'POST',
    url: url(s, change.query ?? query(s, signed), change.connection),
    headers: { 'content-type': change.contentType ?? contentType(s) },
    body: change.body ?? envelope(s, signed.encrypted),
    want,
  };
}

const refused = (code: string, status = 400): Want => ({ status, code });
const SIGNATURE = refused('CALLBACK_SIGNATURE_INVALID');
const ENCODING = refused('CALLBACK_ENCODING_INVALID');
const DECRYPT = refused('CALLBACK_DECRYPT_FAILED');
const RECEIVER = refused('CALLBACK_RECEIVER_MISMATCH');
const BODY = refused('CALLBACK_BODY_INVALID');
const MISSING = refused('CALLBACK_PARAMETER_MISSING');
const WINDOW = refused('CALLBACK_TIMESTAMP_OUT_OF_WINDOW');
const TOO_LARGE = refused('CALLBACK_TOO_LARGE', 413);
const NO_ENDPOINT: Want = { status: 404, text: 'no callback is configured for this connection' };

/** AES-256-CBC with the connection's key and IV, no padding added: the plaintext is taken as it is. */
function rawEncrypt(s: Setup, plaintext: Buffer): string {
  const key = decodeEncodingAesKey(s.aesKey);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]).toString('base64');
}

/** random16 ‖ uint32_be(length) ‖ message ‖ receiver, as the scheme lays it out; `length` may lie. */
function layout(s: Setup, message: Buffer, options: { length?: number; receiver?: string } = {}): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(options.length ?? message.length, 0);
  return Buffer.concat([randomBytes(16), len, message, Buffer.from(options.receiver ?? s.receiverId, 'utf8')]);
}

function padTo(data: Buffer, block: number, padByte?: number): Buffer {
  const pad = block - (data.length % block);
  return Buffer.concat([data, Buffer.alloc(pad, padByte ?? pad)]);
}

/** A valid base64 string with one character changed to another base64 character. */
function flipOne(b64: string): string {
  const body = b64.replace(/=+$/, '');
  const i = randomInt(Math.max(1, body.length - 2));
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let c = pick([...alphabet]);
  while (c === body[i]) c = pick([...alphabet]);
  return b64.slice(0, i) + c + b64.slice(i + 1);
}

// One generator per kind of forged request: each returns one request, wrong in exactly that way.

type Generator = (s: Setup) => Forged;

const kinds: Array<{ kind: string; count: number | ((s: Setup) => number); make: Generator }> = [
  {
    kind: 'bad signature: random',
    count: 0, // the rest up to PER_PLATFORM
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const variant = randomInt(4);
      if (variant === 0) return post(s, 'bad signature: random', { ...good, signature: hex40() }, SIGNATURE);
      if (variant === 1)
        return post(s, 'bad signature: random', { ...good, signature: hex40().slice(0, randomInt(1, 40)) }, SIGNATURE);
      if (variant === 2)
        return post(s, 'bad signature: random', { ...good, signature: `${good.signature}0` }, SIGNATURE);
      // Both names given: the one read first (msg_signature) is wrong, the other spelling right.
      return post(s, 'bad signature: random', good, SIGNATURE, {
        query: new URLSearchParams({
          msg_signature: hex40(),
          signature: good.signature,
          timestamp: good.timestamp,
          nonce: good.nonce,
        }).toString(),
      });
    },
  },
  {
    kind: 'bad signature: right one of another body',
    count: 120,
    make: (s) => {
      const a = sealed(s, eventMessage(s));
      const b = s.crypto.encrypt(eventMessage(s));
      return post(s, 'bad signature: right one of another body', a, SIGNATURE, { body: envelope(s, b) });
    },
  },
  {
    kind: "bad signature: another connection's token",
    count: 100,
    make: (s) => {
      // Signed and encrypted with the other connection's Token and key (for our receiver), sent to ours; or a
      // request right for ours sent to the other connection's endpoint.
      if (randomInt(2) === 0) {
        const encrypted = s.otherCrypto.encrypt(eventMessage(s));
        return post(
          s,
          "bad signature: another connection's token",
          sign(s, encrypted, stamp(s), nonce(), s.otherCrypto),
          SIGNATURE,
        );
      }
      return post(s, "bad signature: another connection's token", sealed(s, eventMessage(s)), SIGNATURE, {
        connection: s.other,
      });
    },
  },
  {
    kind: 'bad signature: altered after signing',
    count: 120,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const variant = randomInt(3);
      if (variant === 0)
        return post(s, 'bad signature: altered after signing', good, SIGNATURE, {
          body: envelope(s, flipOne(good.encrypted)),
        });
      if (variant === 1)
        return post(s, 'bad signature: altered after signing', good, SIGNATURE, {
          query: query(s, { ...good, nonce: `${good.nonce}x` }),
        });
      return post(s, 'bad signature: altered after signing', good, SIGNATURE, {
        query: query(s, { ...good, timestamp: String(Number(good.timestamp) - 1) }),
      });
    },
  },
  {
    kind: 'bad base64 in Encrypt/encrypt',
    count: 130,
    make: (s) => {
      const real = s.crypto.encrypt(eventMessage(s));
      const at = randomInt(1, real.length - 4);
      const bad = pick([
        `${real.slice(0, at)}!${real.slice(at + 1)}`,
        real.replace(/\+/g, '-').replace(/\//g, '_').replace(/^(.)/, '-'), // URL-safe alphabet
        `${real.slice(0, at)} ${real.slice(at + 1)}`, // a "+" URL-decoded to a space
        `${real.slice(0, at)}\n${real.slice(at)}`, // a line break
        real.replace(/=+$/, '').slice(0, -1), // padding dropped: length no multiple of 4
        `${real}=`,
        `${real.slice(0, at)}中${real.slice(at + 1)}`,
      ]);
      // In DingTalk's JSON a line break is written as an escape, which the envelope scan refuses before the signature.
      return post(
        s,
        'bad base64 in Encrypt/encrypt',
        sign(s, bad),
        s.platform === 'dingtalk' && bad.includes('\n') ? BODY : ENCODING,
      );
    },
  },
  {
    kind: 'ciphertext of wrong length',
    count: 100,
    make: (s) => {
      // Whole base64, signed, but not a positive multiple of 16 bytes (a cut ciphertext, or not a ciphertext).
      const real = Buffer.from(s.crypto.encrypt(eventMessage(s)), 'base64');
      let n = randomInt(1, real.length);
      if (n % 16 === 0) n--;
      const cut = randomInt(2) === 0 ? real.subarray(0, n) : randomBytes(n);
      return post(s, 'ciphertext of wrong length', sign(s, cut.toString('base64')), DECRYPT);
    },
  },
  {
    kind: 'ciphertext with bad padding or header',
    count: 130,
    make: (s) => {
      const message = Buffer.from(eventMessage(s), 'utf8');
      const variant = randomInt(6);
      let plain: Buffer;
      if (variant === 0)
        plain = padTo(layout(s, message), 32, 0); // pad byte 0
      else if (variant === 1)
        plain = padTo(layout(s, message), 32, randomInt(33, 256)); // pad byte above the block
      else if (variant === 2) {
        const padded = padTo(layout(s, message), 32);
        padded[padded.length - 2] = (padded[padded.length - 1] as number) ^ 0x55; // pad bytes not all equal
        plain =
          padded[padded.length - 1] === 1
            ? padTo(Buffer.concat([layout(s, message), Buffer.alloc(1, 7)]), 32, 0)
            : padded;
      } else if (variant === 3)
        plain = padTo(layout(s, message, { length: message.length + randomInt(1, 100_000) }), 32); // the length field lies
      else if (variant === 4)
        plain = padTo(layout(s, Buffer.from([0xc3, 0x28, 0xff, 0xfe, ...message])), 32); // not UTF-8
      else plain = padTo(randomBytes(randomInt(0, 20)), 32); // shorter than its 20-byte header
      return post(s, 'ciphertext with bad padding or header', sign(s, rawEncrypt(s, plain)), DECRYPT);
    },
  },
  {
    kind: 'wrong receiver (correctly signed)',
    count: 130,
    make: (s) => {
      const receiver = pick(s.wrongReceivers);
      const encrypted = new CallbackCrypto({ token: s.token, encodingAesKey: s.aesKey, receiverId: receiver }).encrypt(
        eventMessage(s),
      );
      return post(s, 'wrong receiver (correctly signed)', sign(s, encrypted), RECEIVER);
    },
  },
  {
    kind: 'truncated body',
    count: 180,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const body = envelope(s, good.encrypted);
      return post(s, 'truncated body', good, BODY, { body: body.slice(0, randomInt(1, body.length)) });
    },
  },
  {
    kind: 'oversized body (>64 KiB)',
    count: 6,
    make: (() => {
      let i = 0;
      return (s: Setup): Forged => {
        const variant = i++ % 6;
        const good = sealed(s, eventMessage(s));
        const padded = (bytes: number): string =>
          s.platform === 'wecom'
            ? `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><Encrypt>${cdata(good.encrypted)}</Encrypt><Pad>${'A'.repeat(bytes)}</Pad></xml>`
            : JSON.stringify({ encrypt: good.encrypted, pad: 'A'.repeat(bytes) });
        if (variant === 4) {
          // Correctly signed, but the encrypted message itself is over the bound.
          const event = eventMessage(s);
          const large =
            s.platform === 'wecom'
              ? event.replace('岗位', `岗位${'长'.repeat(30_000)}`)
              : JSON.stringify({ ...(JSON.parse(event) as object), OptStaffId: 'm'.repeat(70_000) });
          const big = sealed(s, large);
          return post(s, 'oversized body (>64 KiB)', big, TOO_LARGE);
        }
        if (variant === 5) {
          // Chunked: no Content-Length to refuse on, the bound is counted as it arrives.
          const chunk = new TextEncoder().encode(padded(4096));
          let sent = 0;
          const stream = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent >= 40) controller.close();
              else {
                sent++;
                controller.enqueue(chunk);
              }
            },
          });
          return { ...post(s, 'oversized body (>64 KiB)', good, TOO_LARGE), body: stream };
        }
        const sizes = [64 * 1024 + 1, 200 * 1024, 1024 * 1024 + 1, 4 * 1024 * 1024];
        return post(s, 'oversized body (>64 KiB)', good, TOO_LARGE, { body: padded(sizes[variant] as number) });
      };
    })(),
  },
  {
    // Node's HTTP parser refuses headers over 16 KiB before any route runs.
    kind: 'oversized query string (>16 KiB)',
    count: 3,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      return post(
        s,
        'oversized query string (>16 KiB)',
        good,
        { status: 431 },
        { query: query(s, { ...good, nonce: `${good.nonce}${'n'.repeat(randomInt(17_000, 40_000))}` }) },
      );
    },
  },
  {
    kind: 'XML entity tricks around the message',
    count: 120,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const inner = `<ToUserName>&x;</ToUserName><Encrypt>${cdata(good.encrypted)}</Encrypt>`;
      const laughs = [
        '<!ENTITY l0 "lol">',
        ...Array.from({ length: 9 }, (_, k) => `<!ENTITY l${k + 1} "${`&l${k};`.repeat(10)}">`),
      ].join('');
      const body = pick([
        `<?xml version="1.0"?><!DOCTYPE xml [${laughs}<!ENTITY x "&l9;">]><xml>${inner}</xml>`, // billion laughs
        `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>${inner}</xml>`, // external entity
        `<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><xml>${inner}</xml>`, // parameter entity
        `<!doctype xml [<!entity x SYSTEM "file:///etc/passwd">]><xml>${inner}</xml>`, // lower case
        `<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Encrypt>${cdata(good.encrypted)}</Encrypt></xml>`, // external DTD
        `<!ENTITY x "y"><xml>${inner}</xml>`, // an entity with no DOCTYPE
      ]);
      return post(s, 'XML entity tricks around the message', good, BODY, { body, contentType: 'text/xml' });
    },
  },
  {
    kind: 'XML entity tricks inside the decrypted message',
    count: 120,
    make: (s) => {
      // Encrypted for us and signed with our token: only the decrypted text is wrong.
      const event = eventMessage(s);
      const laughs = [
        '<!ENTITY l0 "lol">',
        ...Array.from({ length: 9 }, (_, k) => `<!ENTITY l${k + 1} "${`&l${k};`.repeat(10)}">`),
      ].join('');
      const xml =
        s.platform === 'wecom'
          ? event.replace(/<UserID>.*?<\/UserID>/, '<UserID>&x;</UserID>')
          : `<xml><UserID>&x;</UserID></xml>`;
      const message = pick([
        `<?xml version="1.0"?><!DOCTYPE xml [${laughs}<!ENTITY x "&l9;">]>${xml}`,
        `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>${xml}`,
        `<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>${xml}`,
        `<!DocType xml [<!ENTITY x "${pick(s.people)}">]>${xml}`,
        `<!ENTITY x "${pick(s.people)}">${xml}`,
      ]);
      return post(s, 'XML entity tricks inside the decrypted message', sealed(s, message), BODY);
    },
  },
  {
    kind: 'missing query parameter',
    count: 100,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const drop = pick(['signature', 'timestamp', 'nonce', 'all', 'empty'] as const);
      const parts: Partial<Signed> =
        drop === 'signature'
          ? { timestamp: good.timestamp, nonce: good.nonce }
          : drop === 'timestamp'
            ? { signature: good.signature, nonce: good.nonce }
            : drop === 'nonce'
              ? { signature: good.signature, timestamp: good.timestamp }
              : drop === 'all'
                ? {}
                : { signature: '', timestamp: good.timestamp, nonce: good.nonce };
      return post(s, 'missing query parameter', good, MISSING, { query: query(s, parts) });
    },
  },
  {
    kind: 'stale or future timestamp (correctly signed)',
    count: 130,
    make: (s) => {
      const minute = 60_000;
      const choice = randomInt(7);
      let timestamp: string;
      if (choice === 0) timestamp = stamp(s, -11 * minute);
      else if (choice === 1) timestamp = stamp(s, 11 * minute);
      else if (choice === 2) timestamp = stamp(s, -randomInt(1, 1000) * 24 * 60 * minute);
      else if (choice === 3) timestamp = stamp(s, 365 * 24 * 60 * minute);
      else if (choice === 4) timestamp = '0';
      // The other platform's unit: WeCom given milliseconds, DingTalk seconds.
      else if (choice === 5)
        timestamp = s.platform === 'wecom' ? String(Date.now()) : String(Math.floor(Date.now() / 1000));
      else timestamp = stamp(s, -(10 * minute + randomInt(2_000, 60_000)));
      return post(s, 'stale or future timestamp (correctly signed)', sealed(s, eventMessage(s), timestamp), WINDOW);
    },
  },
  {
    kind: 'non-numeric timestamp (correctly signed)',
    count: 120,
    make: (s) => {
      const now = stamp(s);
      const timestamp = pick([
        'abc',
        `${now}abc`,
        'NaN',
        'Infinity',
        '-Infinity',
        `0x${Number(now).toString(16)}`,
        `${now}e0`,
        `+${now}`,
        `${now}.5`,
        `${Number(now) / 10}e1`,
        ` ${now}`,
        `${now}\u00a0`,
        `\u0661\u0667${now.slice(2)}`,
        `${now.slice(0, 3)}_${now.slice(3)}`,
      ]);
      return post(s, 'non-numeric timestamp (correctly signed)', sealed(s, eventMessage(s), timestamp), WINDOW);
    },
  },
  {
    kind: 'wrong HTTP method',
    count: 100,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const method = pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', s.platform === 'dingtalk' ? 'GET' : 'PUT']);
      if (method === 'HEAD')
        return { ...post(s, 'wrong HTTP method', good, { status: 405 }, { method }), body: undefined };
      if (method === 'GET')
        return { ...post(s, 'wrong HTTP method', good, refused('CALLBACK_METHOD', 405), { method }), body: undefined };
      // No such route: the server's own 404, in the API's error shape.
      return post(s, 'wrong HTTP method', good, { status: 404, apiCode: 'NOT_FOUND' }, { method });
    },
  },
  {
    kind: 'wrong content (correctly signed)',
    count: 130,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const e = good.encrypted;
      const bodies =
        s.platform === 'wecom'
          ? [
              JSON.stringify({ tousername: s.corpId, encrypt: e, agentid: '' }), // the JSON envelope of other WeCom products
              e,
              `<xml><ToUserName>${cdata(s.corpId)}</ToUserName></xml>`,
              `<xml><Encrypt>${cdata(e)}</Encrypt><Encrypt>${cdata(e)}</Encrypt></xml>`,
              `<xml><Encrypt><Value>${cdata(e)}</Value></Encrypt></xml>`,
              `<root><Encrypt>${cdata(e)}</Encrypt></root>`,
              `Encrypt=${encodeURIComponent(e)}`,
              '',
              `--b\r\nContent-Disposition: form-data; name="Encrypt"\r\n\r\n${e}\r\n--b--\r\n`,
            ]
          : [
              `<xml><Encrypt>${cdata(e)}</Encrypt></xml>`,
              JSON.stringify({ Encrypt: e }),
              JSON.stringify({ encrypt: [e] }),
              JSON.stringify({ encrypt: { value: e } }),
              JSON.stringify({ encrypt: null }),
              JSON.stringify({ encrypt: 12345 }),
              JSON.stringify({ encrypt: '' }),
              JSON.stringify([e]),
              'null',
              JSON.stringify(e),
              `encrypt=${encodeURIComponent(e)}`,
              '',
            ];
      return post(s, 'wrong content (correctly signed)', good, BODY, {
        body: pick(bodies),
        contentType: pick([
          contentType(s),
          'application/x-www-form-urlencoded',
          'text/plain',
          'multipart/form-data; boundary=b',
        ]),
      });
    },
  },
  {
    kind: 'wrong content inside the decrypted message',
    count: 120,
    make: (s) => {
      const message =
        s.platform === 'wecom'
          ? pick([
              'hello',
              eventMessage(s)
                .replace(/^<xml>/, '<root>')
                .replace(/<\/xml>$/, '</root>'),
              '<xml>just text</xml>',
              '<xml>',
              JSON.stringify({ Event: 'change_contact', UserID: pick(s.people) }),
              '',
            ])
          : pick([
              'hello',
              '<xml><EventType>user_modify_org</EventType></xml>',
              'null',
              '[]',
              '"user_modify_org"',
              '42',
              'true',
              JSON.stringify([JSON.parse(eventMessage(s))]),
              '{"EventType":',
              '',
            ]);
      return post(s, 'wrong content inside the decrypted message', sealed(s, message), BODY);
    },
  },
  {
    kind: 'forged URL check (GET, WeCom)',
    // DingTalk has no URL check by GET: its GETs are in "wrong HTTP method".
    count: (s) => (s.platform === 'wecom' ? 100 : 0),
    make: (s) => {
      const kind = 'forged URL check (GET, WeCom)';
      const good = sealed(s, `${randomInt(1e9)}${serial++}`);
      const get = (parts: Partial<Signed>, echostr: string | undefined, want: Want): Forged => ({
        kind,
        method: 'GET',
        url: url(s, query(s, parts, echostr === undefined ? {} : { echostr })),
        want,
      });
      switch (randomInt(5)) {
        case 0:
          return get({ ...good, signature: hex40() }, good.encrypted, SIGNATURE);
        case 1: {
          const bad = sign(s, `-${good.encrypted.slice(1)}`); // URL-safe base64, signed as sent
          return get(bad, bad.encrypted, ENCODING);
        }
        case 2: {
          const stale = sealed(s, `${randomInt(1e9)}`, stamp(s, -3600_000));
          return get(stale, stale.encrypted, WINDOW);
        }
        case 3:
          return get(good, undefined, MISSING);
        default: {
          const encrypted = new CallbackCrypto({
            token: s.token,
            encodingAesKey: s.aesKey,
            receiverId: pick(s.wrongReceivers),
          }).encrypt(`${randomInt(1e9)}`);
          const other = sign(s, encrypted);
          return get(other, other.encrypted, RECEIVER);
        }
      }
    },
  },
  {
    // Authentic (our token, our key, our receiver, in the window) but with no contact event in it: a message of
    // another kind, a tag change, DingTalk's check_url or org_change. The platform is told it arrived (it would
    // retry otherwise) and nothing is stored: there is nothing to apply.
    kind: 'signed, with no contact event (acknowledged by design)',
    count: 60,
    make: (s) => {
      const n = serial++;
      const message =
        s.platform === 'wecom'
          ? pick([
              `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><FromUserName>${cdata('zhangsan')}</FromUserName><CreateTime>${n}</CreateTime><MsgType>${cdata('text')}</MsgType><Content>${cdata(`hello ${n}`)}</Content><MsgId>${n}</MsgId><AgentID>1</AgentID></xml>`,
              `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><MsgType>${cdata('event')}</MsgType><Event>${cdata('change_contact')}</Event><ChangeType>${cdata('update_tag')}</ChangeType><TagId>${n}</TagId></xml>`,
              `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><MsgType>${cdata('event')}</MsgType><Event>${cdata('batch_job_result')}</Event><BatchJob><JobId>${n}</JobId></BatchJob></xml>`,
              `<xml><ToUserName>${cdata(s.corpId)}</ToUserName><MsgType>${cdata('event')}</MsgType><Event>${cdata('change_contact')}</Event><ChangeType>${cdata('update_user')}</ChangeType><CreateTime>${n}</CreateTime></xml>`,
            ])
          : pick([
              JSON.stringify({ EventType: 'check_url', n }),
              JSON.stringify({ n }),
              JSON.stringify({ EventType: 'org_change', TimeStamp: String(Date.now() + n) }),
              JSON.stringify({ EventType: 'label_user_change', CorpId: s.corpId, n }),
              JSON.stringify({ EventType: 'org_dept_modify', CorpId: s.corpId, DeptId: [], n }),
            ]);
      return post(s, 'signed, with no contact event (acknowledged by design)', sealed(s, message), {
        status: 200,
        ack: true,
      });
    },
  },
  {
    kind: 'unknown connection',
    count: 100,
    make: (s) => {
      const good = sealed(s, eventMessage(s));
      const connection = pick([
        'nobody',
        s.name.toUpperCase(),
        `${s.name} `,
        `${s.name}\u0000`,
        s.plain,
        s.platform === 'wecom' ? 'dt' : 'wx',
        '企业微信',
        'x'.repeat(2000),
        '__proto__',
        "wx'; drop table connections; --",
      ]);
      // A name longer than the router takes (100 characters) is refused by the router itself, before any lookup.
      return post(
        s,
        'unknown connection',
        good,
        encodeURIComponent(connection).length > 100 ? { status: 414 } : NO_ENDPOINT,
        { connection },
      );
    },
  },
];

/** The one valid message, accepted and stored once before the flood, then replayed in it. */
interface Valid {
  message: string;
  request: Forged;
}

function replayKinds(valid: Valid): typeof kinds {
  return [
    {
      // The platform-retry rule: the very request again, inside the window, is acknowledged and not stored again.
      kind: 'replay of a stored message (acknowledged, not stored again)',
      count: 150,
      make: () => ({
        ...valid.request,
        kind: 'replay of a stored message (acknowledged, not stored again)',
        want: { status: 200, ack: true },
      }),
    },
    {
      // The same message as captured long ago: its (authentic) timestamp is out of the window.
      kind: 'replay of an old message (stale timestamp)',
      count: 100,
      make: (s) => {
        const old = stamp(s, -randomInt(11, 24 * 60) * 60_000);
        const message = randomInt(2) === 0 ? valid.message : eventMessage(s);
        return post(s, 'replay of an old message (stale timestamp)', sealed(s, message, old), WINDOW);
      },
    },
  ];
}

function forgeries(s: Setup, valid: Valid): Forged[] {
  const all = [...kinds, ...replayKinds(valid)];
  const fixed = all.reduce((n, k) => n + (typeof k.count === 'number' ? k.count : k.count(s)), 0);
  expect(fixed).toBeLessThan(PER_PLATFORM);
  const list: Forged[] = [];
  for (const k of all) {
    const count = k.count === 0 ? PER_PLATFORM - fixed : typeof k.count === 'number' ? k.count : k.count(s);
    for (let i = 0; i < count; i++) list.push(k.make(s));
  }
  // Shuffled, so every kind runs beside every other.
  for (let i = list.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [list[i], list[j]] = [list[j] as Forged, list[i] as Forged];
  }
  return list;
}

// ------------------------------------------------------------------------------------------- sending

async function send(f: Forged, signal: AbortSignal): Promise<Answer> {
  const init: RequestInit & { duplex?: 'half' } = { method: f.method, signal };
  if (f.headers) init.headers = f.headers;
  if (f.body !== undefined) {
    init.body = f.body;
    if (typeof f.body !== 'string') init.duplex = 'half';
  }
  const res = await fetch(f.url, init);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

/**
 * Sends every request, `inFlight` at a time; a request that gets no answer (an error, or still none when the
 * flood's deadline passes: a hang) is an answer of status 0.
 */
async function flood(list: Forged[], inFlight = IN_FLIGHT): Promise<Answer[]> {
  const answers: Answer[] = new Array(list.length);
  let next = 0;
  // One deadline for the whole flood (a timer per request costs more than the requests), one signal per lane (each
  // fetch leaves a listener on its signal).
  const deadline = new AbortController();
  setMaxListeners(inFlight + 1, deadline.signal);
  const timer = setTimeout(() => deadline.abort(new Error('no answer within 40 s')), 40_000);
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      const lane = new AbortController();
      setMaxListeners(list.length, lane.signal);
      deadline.signal.addEventListener('abort', () => lane.abort(deadline.signal.reason), { once: true });
      const signal = lane.signal;
      while (next < list.length) {
        const i = next++;
        try {
          answers[i] = await send(list[i] as Forged, signal);
        } catch (err) {
          answers[i] = {
            status: 0,
            contentType: '',
            text: `no answer: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`,
          };
        }
      }
    }),
  );
  clearTimeout(timer);
  return answers;
}

/** Why an answer is not what the request must get, or null. */
function mismatch(s: Setup, f: Forged, a: Answer): string | null {
  const { want } = f;
  if (a.status !== want.status) return `HTTP ${a.status} (wanted ${want.status}): ${a.text.slice(0, 200)}`;
  if (want.code !== undefined) {
    if (!a.contentType.startsWith('text/plain')) return `content-type ${a.contentType}, wanted text/plain`;
    if (!a.text.startsWith(`${want.code}: `))
      return `body ${JSON.stringify(a.text.slice(0, 200))}, wanted ${want.code}`;
  }
  if (want.text !== undefined && (a.text !== want.text || !a.contentType.startsWith('text/plain')))
    return `body ${JSON.stringify(a.text.slice(0, 200))} (${a.contentType})`;
  if (want.apiCode !== undefined) {
    let code: unknown;
    try {
      code = (JSON.parse(a.text) as { error?: { code?: unknown } }).error?.code;
    } catch {
      code = undefined;
    }
    if (code !== want.apiCode) return `body ${a.text.slice(0, 200)}, wanted the API error ${want.apiCode}`;
  }
  if (want.ack) {
    if (s.platform === 'wecom') return a.text === 'success' ? null : `body ${JSON.stringify(a.text)}, wanted "success"`;
    const reply = JSON.parse(a.text) as { msg_signature: string; timeStamp: string; nonce: string; encrypt: string };
    const plain = s.crypto.verifyAndDecrypt({
      signature: reply.msg_signature,
      timestamp: reply.timeStamp,
      nonce: reply.nonce,
      encrypted: reply.encrypt,
    });
    return plain === 'success' ? null : `reply decrypts to ${JSON.stringify(plain)}`;
  }
  return null;
}

/** Everything a forged request could change: the directory, its revision, the runs, every connection's inbox. */
async function state(s: Setup): Promise<{
  directory: DirectoryExport;
  revision: number;
  runs: number[];
  inbox: Record<string, { pending: number; done: number }>;
}> {
  const store = s.events.store;
  const inbox: Record<string, { pending: number; done: number }> = {};
  for (const name of [s.name, s.other, s.plain, 'nobody', s.name.toUpperCase()])
    inbox[name] = await store.inbox.counts(name);
  return {
    directory: exportDirectory(await store.directory.load()),
    revision: await store.directory.revision(),
    runs: (await store.runs.list({ limit: 10_000 })).map((r) => r.id),
    inbox,
  };
}

// ------------------------------------------------------------------------------------------- the test

const table: Array<{ platform: Platform; kind: string; count: number; answers: string }> = [];

async function floodPlatform(s: Setup): Promise<void> {
  const store = s.events.store;
  const person = pick(s.people);

  // A change the platform made while no callback was configured: the directory lags behind the simulator.
  const renamed = `改名 ${person}`;
  await mutate(s, { operations: [{ op: 'updateUser', user: { userid: person, name: renamed } }] });
  expect(s.callbackStats()).toMatchObject({ queued: 0, delivered: 0 });
  const lagging = await mirror(s);
  expect(lagging.local).not.toStrictEqual(lagging.truth);

  // The valid message about it: sent 20 times at once on its first arrival (a platform retry racing the original).
  const message = eventMessage(s, person);
  const signed = sealed(s, message);
  const request = post(s, 'valid', signed, { status: 200, ack: true });
  const first = await flood(
    Array.from({ length: 20 }, () => request),
    20,
  );
  expect(first.map((a) => mismatch(s, request, a))).toStrictEqual(Array(20).fill(null));
  await s.events.server.events.idle();
  expect(await store.inbox.counts(s.name)).toStrictEqual({ pending: 0, done: 1 });
  const eventRuns = await store.runs.list({ kind: 'event' });
  expect(eventRuns).toHaveLength(1);
  expect(eventRuns[0]).toMatchObject({ status: 'succeeded', counts: { users: { update: 1 } } });
  const applied = await mirror(s);
  expect(applied.local).toStrictEqual(applied.truth);

  // The flood.
  const before = await state(s);
  const list = forgeries(s, { message, request });
  expect(list.length).toBeGreaterThanOrEqual(PER_PLATFORM);
  const started = Date.now();
  const answers = await flood(list);
  const ms = Date.now() - started;

  const failures: string[] = [];
  const byKind = new Map<string, { count: number; answers: Map<string, number> }>();
  list.forEach((f, i) => {
    const a = answers[i] as Answer;
    const why = mismatch(s, f, a);
    if (why !== null && failures.length < 30) failures.push(`${f.kind}: ${f.method} ${f.url.slice(0, 160)} → ${why}`);
    const row = byKind.get(f.kind) ?? { count: 0, answers: new Map<string, number>() };
    row.count++;
    const label =
      a.status === 0
        ? 'no answer'
        : `${a.status}${/^(CALLBACK_[A-Z_]+):/.exec(a.text)?.[1] ? ` ${/^(CALLBACK_[A-Z_]+):/.exec(a.text)?.[1]}` : ''}`;
    row.answers.set(label, (row.answers.get(label) ?? 0) + 1);
    byKind.set(f.kind, row);
  });
  const order = [...kinds, ...replayKinds({ message, request })].map((k) => k.kind);
  for (const [kind, row] of [...byKind].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))) {
    table.push({
      platform: s.platform,
      kind,
      count: row.count,
      answers: [...row.answers].map(([k, n]) => `${k} ×${n}`).join(', '),
    });
  }
  console.log(`${s.platform}: ${list.length} forged requests, ${IN_FLIGHT} in flight, in ${ms} ms`);
  expect(failures).toStrictEqual([]);
  // Refused means a 4xx: every request but the two kinds acknowledged by design got one (checked above, per request).
  const acknowledged = new Set(list.filter((f) => f.want.ack).map((f) => f.kind));
  expect([...acknowledged].sort()).toStrictEqual([
    'replay of a stored message (acknowledged, not stored again)',
    'signed, with no contact event (acknowledged by design)',
  ]);
  expect(list.filter((f) => !f.want.ack && !(f.want.status >= 400 && f.want.status < 500))).toStrictEqual([]);

  // Nothing stored, nothing changed, no run: also once anything the pump might have been told of is done.
  await new Promise((r) => setTimeout(r, 300));
  await s.events.server.events.idle();
  expect(await state(s)).toStrictEqual(before);
  expect(await store.inbox.counts(s.name)).toStrictEqual({ pending: 0, done: 1 });
  expect(await store.runs.list({ kind: 'event' })).toHaveLength(1);

  // Healthy, and a real change called back by the simulator is applied.
  const health = await fetch(`${s.events.server.url}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toStrictEqual({ status: 'ok' });
  await configureCallbacks(s);
  const other = pick(s.people.filter((p) => p !== person));
  await mutate(s, { operations: [{ op: 'updateUser', user: { userid: other, name: `回调后 ${other}` } }] });
  await settle(() => s.callbackStats(), s.events.server);
  expect(s.callbackStats()).toMatchObject({ queued: 0, failed: 0, delivered: 1 });
  const after = await mirror(s);
  expect(after.local).toStrictEqual(after.truth);
  expect(await store.inbox.counts(s.name)).toStrictEqual({ pending: 0, done: 2 });
  const runs = await store.runs.list({ kind: 'event' });
  expect(runs).toHaveLength(2);
  expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
  expect(await store.directory.revision()).toBeGreaterThan(before.revision);

  // The log: one line per refusal of the callback endpoint (those answered with a CALLBACK_ code, and the HEADs it
  // answers 405 with no body), nothing failed, and no secret appears anywhere in it.
  const lines = s.logs.map((l) => JSON.parse(l) as { level: number; msg: string });
  const refusedByEndpoint = list.filter((f) => f.want.code !== undefined || f.method === 'HEAD').length;
  expect(refusedByEndpoint).toBeGreaterThan(PER_PLATFORM * 0.8);
  expect(lines.filter((l) => l.msg.startsWith('callback refused')).length).toBe(refusedByEndpoint);
  expect(lines.filter((l) => l.level >= 50)).toStrictEqual([]);
  const log = s.logs.join('');
  for (const secret of s.secrets)
    expect(log.includes(secret), `the log holds a secret of ${secret.length} characters`).toBe(false);
}

async function configureCallbacks(s: Setup): Promise<void> {
  const res = await fetch(`${s.simUrl}/__sim/config`, {
    method: 'POST',
    body: JSON.stringify({
      callbackUrl: s.events.callbackUrl(s.name),
      callbackToken: s.token,
      callbackAesKey: s.aesKey,
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe('forged and malformed callbacks', () => {
  afterAll(() => {
    if (table.length > 0) {
      const width = Math.max(...table.map((r) => r.kind.length));
      console.log(
        [
          `${'platform  kind'.padEnd(width + 10)}  count  answers`,
          ...table.map(
            (r) => `${r.platform.padEnd(8)}  ${r.kind.padEnd(width)}  ${String(r.count).padStart(5)}  ${r.answers}`,
          ),
        ].join('\n'),
      );
    }
  });

  it('WeCom: 2,500 forged requests are refused; nothing changes; a real callback still works', async () => {
    await floodPlatform(await startWecom());
  }, 60_000);

  it('DingTalk: 2,500 forged requests are refused; nothing changes; a real callback still works', async () => {
    await floodPlatform(await startDingtalk());
  }, 60_000);
});
