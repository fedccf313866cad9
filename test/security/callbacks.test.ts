import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { CallbackCrypto } from '../../src/crypto/callback-crypto.js';
import { DEFAULT_CALLBACK_LIMITS } from '../../src/events/callback-limits.js';
import { MAX_CALLBACK_BODY_BYTES } from '../../src/events/callbacks.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { openStore } from '../../src/store/open.js';
import type { DingTruth } from '../helpers/dingtalk-directory.js';
import { serveProcess, type ServeProcess } from '../helpers/processes.js';
import { tempDir } from '../helpers/stores.js';

/**
 * Issue 15, callbacks: the built `orgsync serve` in its own process, so its CPU can be read from /proc. The callback
 * body is scanned (not parsed) before its signature is checked, so a hostile 64 KiB body costs about what a valid
 * callback does and is answered 400; refused requests are limited per client address and per connection, and a
 * flood of them leaves the server answering; a connection with no usable endpoint answers like an unknown one.
 *
 * Requests are sent from chosen loopback addresses (all of 127.0.0.0/8 reaches the server): the platform's valid
 * callbacks and /healthz from 127.0.0.1, which never sends a refused request here, each attacker from others.
 * Needs the build (`npm run build`).
 */

type Platform = 'wecom' | 'dingtalk';

interface Target {
  platform: Platform;
  name: string;
  crypto: CallbackCrypto;
  receiverId: string;
  people: string[];
}

const WX = { token: 'secWxTok7Q', aesKey: 'Sx4ZrT8mK1pLx0vB7nC5dF2gH4jY6sA9eU1iO3kM7tQ' };
const DT = { token: 'secDtTok2W', aesKey: 'Dq4Lm5Nn6Op7Pq8Qr9Rs0St1Tu2Uv3Vw4Wx5Xy6Yz7B' };
const MASTER_KEY = randomBytes(32).toString('base64');

let dir: string;
let server: ServeProcess;
let wecomSim: WecomSimulator;
let dingSim: DingtalkSimulator;
const targets: Record<Platform, Target> = {} as Record<Platform, Target>;
/** Contact events sent validly (each a new message): the inbox must hold exactly these at the end. */
const storedExpected: Record<string, number> = { wx: 0, dt: 0 };

beforeAll(async () => {
  wecomSim = new WecomSimulator({ seed: 15_301, departments: 6, users: 40 });
  dingSim = new DingtalkSimulator({ seed: 15_302, departments: 6, users: 40, config: { sensitiveFields: 'returned' } });
  const wecomUrl = await wecomSim.listen(0);
  const dingUrl = await dingSim.listen(0);
  dir = tempDir('orgsync-sec-callbacks-');
  const env = {
    ORGSYNC_DATA_DIR: dir,
    ORGSYNC_DATABASE_URL: '',
    ORGSYNC_MASTER_KEY: MASTER_KEY,
    ORGSYNC_PORT: '0',
    ORGSYNC_HOST: '127.0.0.1',
    ORGSYNC_ADMIN_PASSWORD: 'correct horse battery',
    ORGSYNC_LOG_LEVEL: 'info',
  };
  const store = await openStore({ dataDir: dir });
  try {
    const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir: dir }));
    const w = wecomSim.identity;
    const d = dingSim.identity;
    await connections.add({
      platform: 'wecom',
      name: 'wx',
      settings: { corpId: w.corpId, agentId: w.agentId, apiBaseUrl: wecomUrl },
      secrets: {
        secret: w.secret,
        contactsSecret: w.contactsSecret,
        callbackToken: WX.token,
        callbackAesKey: WX.aesKey,
      },
      schedule: { reconcileCron: null },
    });
    await connections.add({
      platform: 'dingtalk',
      name: 'dt',
      settings: { corpId: d.corpId, agentId: d.agentId, clientId: d.clientId, apiBaseUrl: dingUrl },
      secrets: { clientSecret: d.clientSecret, callbackToken: DT.token, callbackAesKey: DT.aesKey },
      schedule: { reconcileCron: null },
    });
    // No callback configured.
    await connections.add({
      platform: 'wecom',
      name: 'wx-plain',
      settings: { corpId: w.corpId, agentId: w.agentId, apiBaseUrl: wecomUrl },
      secrets: { secret: w.secret },
      schedule: { reconcileCron: null },
    });
    // Secrets sealed under another master key than the server's: they cannot be opened.
    await connections.add({
      platform: 'wecom',
      name: 'wx-sealed',
      settings: { corpId: w.corpId, agentId: w.agentId, apiBaseUrl: wecomUrl },
      secrets: { secret: w.secret, callbackToken: WX.token, callbackAesKey: WX.aesKey },
      schedule: { reconcileCron: null },
    });
    const elsewhere = SecretBox.fromKey(randomBytes(32)).seal(
      JSON.stringify({ secret: w.secret, callbackToken: WX.token, callbackAesKey: WX.aesKey }),
      'wx-sealed',
    );
    expect(await store.connections.update('wx-sealed', { secrets: elsewhere })).toBeDefined();
  } finally {
    await store.close();
  }
  server = await serveProcess(env);
  targets.wecom = {
    platform: 'wecom',
    name: 'wx',
    crypto: new CallbackCrypto({ token: WX.token, encodingAesKey: WX.aesKey, receiverId: wecomSim.identity.corpId }),
    receiverId: wecomSim.identity.corpId,
    people: wecomSim.corp.snapshot().users.map((u) => u.userid),
  };
  targets.dingtalk = {
    platform: 'dingtalk',
    name: 'dt',
    crypto: new CallbackCrypto({ token: DT.token, encodingAesKey: DT.aesKey, receiverId: dingSim.identity.clientId }),
    receiverId: dingSim.identity.clientId,
    people: (dingSim.directory() as DingTruth).users.map((u) => u.userid),
  };
}, 60_000);

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await wecomSim?.close();
  await dingSim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------- sending

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Request {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  contentType?: string;
}

/**
 * One request on a connection of its own, from the loopback address `from`; with `agent`, on a kept-alive one (the
 * server then reads and drops a body it did not need, instead of closing with it unread).
 */
function send(request: Request, from: string, agent?: http.Agent): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const body = request.body ?? '';
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: request.path,
        method: request.method,
        localAddress: from,
        agent: agent ?? false,
        headers: {
          ...(request.method === 'POST'
            ? { 'content-type': request.contentType ?? 'text/xml', 'content-length': Buffer.byteLength(body) }
            : {}),
          ...(agent ? {} : { connection: 'close' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(request.method === 'POST' ? body : undefined);
  });
}

/** Sends every request, `inFlight` at a time, each from `from(i)`. */
async function sendAll(list: Request[], from: (i: number) => string, inFlight: number): Promise<Answer[]> {
  const answers: Answer[] = new Array(list.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < list.length) {
        const i = next++;
        answers[i] = await send(list[i] as Request, from(i));
      }
    }),
  );
  return answers;
}

/** Loopback addresses of one attacker range: 127.<range>.x.y, a new one for every n. */
const address = (range: number, n: number): string => `127.${range}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
const PLATFORM_ADDRESS = '127.0.0.1';

// ------------------------------------------------------------------------------------------- messages

const stamp = (p: Platform, offsetMs = 0): string =>
  p === 'wecom' ? String(Math.floor((Date.now() + offsetMs) / 1000)) : String(Date.now() + offsetMs);
const cdata = (v: string): string => `<![CDATA[${v}]]>`;
let serial = 0;

function query(signature: string, timestamp: string, nonce: string): string {
  return new URLSearchParams({ msg_signature: signature, timestamp, nonce }).toString();
}

/** A POST the platform would send: `message` encrypted and signed now. */
function signed(t: Target, message: string, timestamp = stamp(t.platform)): Request & { encrypted: string; q: string } {
  const s = t.crypto.encryptAndSign(message, { timestamp });
  const q = query(s.signature, s.timestamp, s.nonce);
  return {
    method: 'POST',
    path: `/callbacks/${t.name}?${q}`,
    body: envelope(t, s.encrypted),
    contentType: contentType(t),
    encrypted: s.encrypted,
    q,
  };
}

const envelope = (t: Target, encrypted: string): string =>
  t.platform === 'wecom'
    ? `<xml><ToUserName>${cdata(t.receiverId)}</ToUserName><AgentID>${cdata('1000002')}</AgentID><Encrypt>${cdata(encrypted)}</Encrypt></xml>`
    : JSON.stringify({ encrypt: encrypted });
const contentType = (t: Target): string => (t.platform === 'wecom' ? 'text/xml' : 'application/json');

/** A valid message with no contact event in it (answered, nothing stored): the cheapest callback to serve. */
function quietMessage(t: Target): string {
  const n = ++serial;
  return t.platform === 'wecom'
    ? `<xml><ToUserName>${cdata(t.receiverId)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName><CreateTime>${n}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata('change_contact')}</Event><ChangeType>${cdata('update_tag')}</ChangeType><TagId>${n}</TagId></xml>`
    : JSON.stringify({ EventType: 'check_url', n });
}

/** A valid contact event about a real person (stored, then applied). */
function contactMessage(t: Target): string {
  const n = ++serial;
  const person = t.people[n % t.people.length] as string;
  return t.platform === 'wecom'
    ? `<xml><ToUserName>${cdata(t.receiverId)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata('change_contact')}</Event><ChangeType>${cdata('update_user')}</ChangeType><UserID>${cdata(person)}</UserID><Position>${cdata(`p${n}`)}</Position></xml>`
    : JSON.stringify({
        EventType: 'user_modify_org',
        CorpId: 'c',
        UserId: [person],
        TimeStamp: String(Date.now() + n),
      });
}

/** Whether an answer is the platform's acknowledgement: WeCom "success", DingTalk the encrypted, signed "success". */
function acknowledged(t: Target, a: Answer): boolean {
  if (a.status !== 200) return false;
  if (t.platform === 'wecom') return a.text === 'success';
  const r = JSON.parse(a.text) as { msg_signature: string; timeStamp: string; nonce: string; encrypt: string };
  return (
    t.crypto.verifyAndDecrypt({
      signature: r.msg_signature,
      timestamp: r.timeStamp,
      nonce: r.nonce,
      encrypted: r.encrypt,
    }) === 'success'
  );
}

/** Just under the body bound, so fastify reads it whole and the endpoint has to refuse it. */
const BOMB_BYTES = MAX_CALLBACK_BODY_BYTES - 512;

/**
 * Hostile bodies of ~64 KiB around a genuinely signed Encrypt value (the signature covers only that value, so the
 * query string checks out): 16,000 empty tags, 9,000 nested ones; DingTalk's JSON with 6,000 repeated keys or
 * 10,000 nested objects.
 */
function bomb(t: Target, kind: 'tags' | 'nesting'): Request {
  const s = signed(t, quietMessage(t));
  let body: string;
  if (t.platform === 'wecom') {
    const head = `<xml><ToUserName>${cdata(t.receiverId)}</ToUserName><Encrypt>${cdata(s.encrypted)}</Encrypt>`;
    const room = BOMB_BYTES - head.length - 6;
    body =
      kind === 'tags'
        ? `${head}${'<a/>'.repeat(Math.floor(room / 4))}</xml>`
        : `${head}${'<a>'.repeat(Math.floor(room / 7))}${'</a>'.repeat(Math.floor(room / 7))}</xml>`;
  } else {
    const head = `{"encrypt":"${s.encrypted}"`;
    const room = BOMB_BYTES - head.length - 1;
    body =
      kind === 'tags'
        ? `${head}${',"a":0'.repeat(Math.floor(room / 6))}}`
        : `${head},"x":${'{"a":'.repeat(Math.floor(room / 6))}1${'}'.repeat(Math.floor(room / 6))}}`;
  }
  expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_CALLBACK_BODY_BYTES);
  expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_CALLBACK_BODY_BYTES - 1024);
  return { ...s, body };
}

/** A forged callback, wrong in one of the ways an outsider would try. */
function forged(t: Target, i: number): Request {
  switch (i % 6) {
    case 0: {
      const s = signed(t, contactMessage(t));
      return {
        ...s,
        path: `/callbacks/${t.name}?${query(randomBytes(20).toString('hex'), stamp(t.platform), 'n0nce')}`,
      };
    }
    case 1:
      return bomb(t, 'tags');
    case 2:
      return bomb(t, 'nesting');
    case 3:
      return signed(t, contactMessage(t), stamp(t.platform, -3600_000)); // stale, correctly signed
    case 4: {
      const s = signed(t, contactMessage(t));
      return { ...s, body: (s.body as string).slice(0, -3) }; // truncated
    }
    default: {
      const s = signed(t, contactMessage(t));
      return { ...s, body: (s.body as string).replace(s.encrypted, s.encrypted.slice(0, -8)) }; // altered value
    }
  }
}

// ------------------------------------------------------------------------------------------- server state

const TICK_MS = 1000 / 100; // USER_HZ; getconf CLK_TCK is 100 on Linux

/** The server process's CPU time so far (user + system), in ms. */
function cpuMs(): number {
  const stat = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

const logLines = (): Array<Record<string, unknown>> => server.lines;

// ------------------------------------------------------------------------------------------- the tests

describe('callbacks refuse cheaply, before any parsing (orgsync serve)', () => {
  const N = 300;
  const WARM = 60;

  it('a client over the limit of refused requests gets 429 before its body is read; the platform is still heard', async () => {
    const t = targets.dingtalk;
    const from = address(30, 0);
    const limit = DEFAULT_CALLBACK_LIMITS.perIp;
    const answers: Answer[] = [];
    for (let i = 0; i < limit + 5; i++) answers.push(await send(forged(t, 0), from));
    expect(answers.slice(0, limit).map((a) => a.status)).toStrictEqual(Array(limit).fill(400));
    for (const a of answers.slice(limit)) {
      expect(a.status).toBe(429);
      expect(a.text).toBe('CALLBACK_RATE_LIMITED: too many refused requests; try again later');
      expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
    }
    // The 429 comes before the body: a body over the bound, which fastify would refuse with 413 once read, gets it.
    const agent = new http.Agent({ keepAlive: true });
    try {
      const huge = await send(
        {
          method: 'POST',
          path: `/callbacks/dt?${query('0'.repeat(40), stamp('dingtalk'), 'n')}`,
          body: 'x'.repeat(MAX_CALLBACK_BODY_BYTES * 2),
          contentType: 'application/json',
        },
        from,
        agent,
      );
      expect(huge.status).toBe(429);
    } finally {
      agent.destroy();
    }
    // One line when the limit was reached, none per 429.
    expect(
      logLines().filter(
        (l) => l.ip === from && typeof l.msg === 'string' && (l.msg as string).includes('reached the limit'),
      ),
    ).toHaveLength(1);

    // The platform (another address, nothing refused) is heard at once, also for a contact event, stored.
    const valid = await send(signed(t, contactMessage(t)), PLATFORM_ADDRESS);
    expect(acknowledged(t, valid)).toBe(true);
    storedExpected.dt = (storedExpected.dt ?? 0) + 1;
  });

  it.each(['wecom', 'dingtalk'] as const)(
    '%s: a 64 KiB tag bomb and deep nesting answer 400 and cost less than 5× a valid callback',
    async (platform) => {
      const t = targets[platform];
      const range = platform === 'wecom' ? 10 : 11;
      let n = 0;
      const run = async (make: () => Request, count: number): Promise<{ perRequest: number; answers: Answer[] }> => {
        const list = Array.from({ length: count }, make);
        const offset = n;
        n += count;
        const before = cpuMs();
        const answers = await sendAll(list, (i) => address(range, offset + i), 8);
        return { perRequest: (cpuMs() - before) / count, answers };
      };
      // Warm up every path (the first requests of a kind pay for compiling it).
      await run(() => signed(t, quietMessage(t)), WARM);
      await run(() => bomb(t, 'tags'), WARM);
      await run(() => bomb(t, 'nesting'), WARM);

      // A valid callback with no contact event: the full check, decryption, parse and reply, nothing stored — the
      // cheapest valid request, so the bound below is the strictest one.
      const valid1 = await run(() => signed(t, quietMessage(t)), N);
      const tags = await run(() => bomb(t, 'tags'), N);
      const nesting = await run(() => bomb(t, 'nesting'), N);
      const valid2 = await run(() => signed(t, quietMessage(t)), N);

      for (const a of [...valid1.answers, ...valid2.answers]) expect(acknowledged(t, a)).toBe(true);
      for (const a of [...tags.answers, ...nesting.answers]) {
        expect(a.status).toBe(400);
        expect(a.text).toMatch(/^CALLBACK_BODY_INVALID: /);
      }
      const valid = (valid1.perRequest + valid2.perRequest) / 2;
      console.log(
        `${platform}: CPU per request — valid ${valid.toFixed(3)} ms, 64 KiB tag bomb ${tags.perRequest.toFixed(3)} ms, deep nesting ${nesting.perRequest.toFixed(3)} ms (${N} each)`,
      );
      expect(valid).toBeGreaterThan(0);
      expect(tags.perRequest).toBeLessThan(5 * valid);
      expect(nesting.perRequest).toBeLessThan(5 * valid);
    },
    120_000,
  );

  it('a connection over its limit: a client already refused is answered 429 at once, one never refused is still read', async () => {
    // The tag bombs above were 420 refusals per connection from as many addresses: well over the connection's limit.
    expect(420).toBeGreaterThan(DEFAULT_CALLBACK_LIMITS.perConnection);
    for (const t of [targets.wecom, targets.dingtalk]) {
      const from = address(t.platform === 'wecom' ? 31 : 32, 0);
      const first = await send(forged(t, 0), from);
      expect(first.status).toBe(400);
      expect(first.text).toMatch(/^CALLBACK_SIGNATURE_INVALID: /);
      const second = await send(forged(t, 0), from);
      expect(second.status).toBe(429);
      // The platform's address, never refused, is heard.
      const valid = await send(signed(t, contactMessage(t)), PLATFORM_ADDRESS);
      expect(acknowledged(t, valid)).toBe(true);
      storedExpected[t.name] = (storedExpected[t.name] ?? 0) + 1;
    }
  });

  it('unknown connection, no callback configured and unreadable secrets answer identically; the log names the cause', async () => {
    const t = targets.wecom;
    const from = address(40, 0);
    const answers: Record<string, Answer[]> = {};
    for (const name of ['nobody', 'wx-plain', 'wx-sealed']) {
      const s = signed(t, contactMessage(t));
      const post = await send({ ...s, path: `/callbacks/${name}?${s.q}` }, from);
      const get = await send(
        { method: 'GET', path: `/callbacks/${name}?${s.q}&echostr=${encodeURIComponent(s.encrypted)}` },
        from,
      );
      answers[name] = [post, get];
    }
    const shape = (a: Answer) => ({
      status: a.status,
      text: a.text,
      headers: Object.fromEntries(Object.entries(a.headers).filter(([k]) => k !== 'date')),
    });
    const nobody = (answers.nobody as Answer[]).map(shape);
    expect(nobody[0]).toMatchObject({ status: 404, text: 'no callback is configured for this connection' });
    expect(nobody[1]).toStrictEqual(nobody[0]);
    expect((answers['wx-plain'] as Answer[]).map(shape)).toStrictEqual(nobody);
    expect((answers['wx-sealed'] as Answer[]).map(shape)).toStrictEqual(nobody);

    // The operator's side: one line per request, naming the connection and the real cause, and never where the
    // master key was looked for nor any secret.
    // The server writes a line after it answers: wait for the sixth, then compare them all.
    const unavailable = () =>
      logLines().filter(
        (l) => typeof l.msg === 'string' && (l.msg as string).startsWith('callback endpoint unavailable'),
      );
    await expect.poll(() => unavailable().length, { timeout: 30_000 }).toBeGreaterThanOrEqual(6);
    const lines = unavailable();
    const causes = lines.map((l) => `${String(l.connection)} ${String(l.cause)}`);
    expect(causes).toStrictEqual([
      'nobody unknown-connection',
      'nobody unknown-connection',
      'wx-plain no-callback-configured',
      'wx-plain no-callback-configured',
      'wx-sealed secrets-unreadable',
      'wx-sealed secrets-unreadable',
    ]);
    expect(lines.filter((l) => l.cause === 'secrets-unreadable').every((l) => l.code === 'SECRET_DECRYPT_FAILED')).toBe(
      true,
    );
    const log = JSON.stringify(logLines());
    for (const leak of ['ORGSYNC_MASTER_KEY', MASTER_KEY, dir, WX.token, WX.aesKey, DT.token, DT.aesKey])
      expect(log.includes(leak), `the log holds ${leak.slice(0, 4)}…`).toBe(false);
  });

  it('10,000 forged callbacks at 50 in flight: /healthz answers under 100 ms p95, valid callbacks go through during and after', async () => {
    const TOTAL = 10_000;
    // Every request from an address of its own, to both connections, every kind of forgery, bombs included: no limit
    // applies to a first refusal, so each one is read, scanned and refused — the most a flood can make the server do.
    const list = Array.from({ length: TOTAL }, (_, i) =>
      forged(i % 2 === 0 ? targets.wecom : targets.dingtalk, Math.floor(i / 2)),
    );
    let done = false;
    const latencies: number[] = [];
    const health = (async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (!done) {
          const started = performance.now();
          const status = await new Promise<number>((resolve, reject) => {
            const req = http.get(`${server.url}/healthz`, { agent, localAddress: PLATFORM_ADDRESS }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
          });
          latencies.push(performance.now() - started);
          expect(status).toBe(200);
        }
      } finally {
        agent.destroy();
      }
    })();
    // The platform keeps calling back while the flood runs: each of its messages is acknowledged.
    const platform = (async () => {
      const answers: Array<{ t: Target; a: Answer }> = [];
      while (!done) {
        for (const t of [targets.wecom, targets.dingtalk]) {
          answers.push({ t, a: await send(signed(t, contactMessage(t)), PLATFORM_ADDRESS) });
          storedExpected[t.name] = (storedExpected[t.name] ?? 0) + 1;
        }
      }
      return answers;
    })();
    const started = performance.now();
    const answers = await sendAll(list, (i) => address(20, i), 50).finally(() => {
      done = true;
    });
    const ms = performance.now() - started;
    await health;
    const during = await platform;

    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    latencies.sort((a, b) => a - b);
    const p95 = latencies[Math.ceil(latencies.length * 0.95) - 1] as number;
    console.log(
      `flood: ${TOTAL} forged in ${Math.round(ms)} ms; answers ${JSON.stringify(Object.fromEntries(statuses))}; /healthz ${latencies.length} probes, p50 ${latencies[Math.floor(latencies.length / 2)]?.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms; ${during.length} valid callbacks during it`,
    );

    expect(Object.fromEntries(statuses)).toStrictEqual({ 400: TOTAL });
    expect(latencies.length).toBeGreaterThanOrEqual(20);
    expect(p95).toBeLessThan(100);
    expect(during.length).toBeGreaterThan(0);
    for (const { t, a } of during) expect(acknowledged(t, a)).toBe(true);

    // After the flood: a valid callback goes through at once, for each platform.
    for (const t of [targets.wecom, targets.dingtalk]) {
      expect(acknowledged(t, await send(signed(t, contactMessage(t)), PLATFORM_ADDRESS))).toBe(true);
      storedExpected[t.name] = (storedExpected[t.name] ?? 0) + 1;
    }
  }, 300_000);

  it('the log holds no stack trace, no error line and no body', async () => {
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(1000);
    expect(lines.filter((l) => typeof l.level === 'number' && l.level >= 50)).toStrictEqual([]);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toMatch(/"stack"|\\n\s+at |"err"/);
    expect(text).not.toMatch(/<a\/><a\/>|<a><a>|"a":0,"a":0|\{"a":\{"a":/);
    // Refusals are logged one line each (those not answered 429), with the reason's code.
    expect(
      lines.filter(
        (l) =>
          typeof l.msg === 'string' &&
          (l.msg as string).startsWith('callback refused: ') &&
          l.code === 'CALLBACK_BODY_INVALID',
      ).length,
    ).toBeGreaterThan(1000);
  });

  it('every valid contact event was stored once (checked on the data directory after the server stopped)', async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    const store = await openStore({ dataDir: dir });
    try {
      for (const name of ['wx', 'dt']) {
        const counts = await store.inbox.counts(name);
        expect(counts.pending + counts.done).toBe(storedExpected[name]);
      }
      expect(await store.inbox.counts('wx-sealed')).toStrictEqual({ pending: 0, done: 0 });
    } finally {
      await store.close();
    }
  });
});
