import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TokenCache, WecomClient, type WecomClientOptions } from '../../src/connectors/wecom/client.js';
import { WecomError, errcodeRule } from '../../src/connectors/wecom/errors.js';
import {
  agentGetSchema,
  callbackIpSchema,
  departmentGetSchema,
  departmentListSchema,
  departmentSimpleListSchema,
  userGetSchema,
  userListIdSchema,
  userListSchema,
  userSimpleListSchema,
} from '../../src/connectors/wecom/schemas.js';
import type { FaultKind, SimConfigInput } from '../../src/simulator/wecom/config.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers: a real simulator over HTTP per test; fetch passes through to the real one, recording what was sent.
// ---------------------------------------------------------------------------------------------------------------

const running: WecomSimulator[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function startSim(config: SimConfigInput = {}, clock?: () => number): Promise<WecomSimulator> {
  const sim = new WecomSimulator({ seed: 7, departments: 30, users: 120, config, ...(clock ? { clock } : {}) });
  await sim.listen(0);
  running.push(sim);
  return sim;
}

interface Sent {
  path: string;
  url: URL;
  body: string;
}

/** Global fetch, unchanged, with a log of every request (to check where secrets and tokens went). */
function recordingFetch(log: Sent[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    log.push({ path: url.pathname, url, body: typeof init?.body === 'string' ? init.body : '' });
    return fetch(input, init);
  };
}

function client(sim: WecomSimulator, overrides: Partial<WecomClientOptions> = {}, log?: Sent[]): WecomClient {
  return new WecomClient({
    corpId: sim.identity.corpId,
    secret: sim.identity.secret,
    baseUrl: sim.url,
    tokens: new TokenCache(),
    ...(log ? { fetch: recordingFetch(log) } : {}),
    ...overrides,
  });
}

const contactsClient = (sim: WecomSimulator, overrides: Partial<WecomClientOptions> = {}, log?: Sent[]): WecomClient =>
  client(sim, { secret: sim.identity.contactsSecret, ...overrides }, log);

const simCalls = (sim: WecomSimulator, path: string): number => sim.stats().calls[`/cgi-bin/${path}`] ?? 0;

async function caught(promise: Promise<unknown>): Promise<WecomError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WecomError);
    return err as WecomError;
  }
  throw new Error('expected the call to fail');
}

/** Every printable form of the error, its cause included. */
function printed(err: WecomError): string {
  return [
    err.message,
    err.hint ?? '',
    JSON.stringify(err),
    JSON.stringify(err.toInfo()),
    inspect(err, { depth: 10 }),
    String(err.cause ?? ''),
    err.stack ?? '',
  ].join('\n');
}

function expectNothingSecret(text: string, sim: WecomSimulator, log: Sent[] = []): void {
  const tokens = log.map((s) => s.url.searchParams.get('access_token')).filter((t): t is string => !!t);
  for (const secret of [sim.identity.secret, sim.identity.contactsSecret, ...tokens])
    expect(text).not.toContain(secret);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------

describe('responses', () => {
  it('parses every response orgsync reads, with the app secret and with the contacts secret', async () => {
    const sim = await startSim({ visibleRange: [1] });
    const app = client(sim);
    const departments = (await app.get('department/list', {}, departmentListSchema)).department;
    expect(departments.length).toBe(30);
    expect(departments.find((d) => d.id === 1)?.parentid).toBe(0);
    const ids = (await app.get('department/simplelist', {}, departmentSimpleListSchema)).department_id;
    expect(ids.map((d) => d.id).sort()).toEqual(departments.map((d) => d.id).sort());
    expect((await app.get('department/get', { id: 1 }, departmentGetSchema)).department.id).toBe(1);
    const members = (await app.get('user/list', { department_id: 1, fetch_child: 1 }, userListSchema)).userlist;
    expect(members.length).toBe(120);
    expect(members.every((u) => u.mobile === undefined && u.gender === '0')).toBe(true);
    const simple = (await app.get('user/simplelist', { department_id: 1, fetch_child: 1 }, userSimpleListSchema))
      .userlist;
    expect(simple.length).toBe(120);
    const first = members[0]!;
    expect((await app.get('user/get', { userid: first.userid }, userGetSchema)).userid).toBe(first.userid);
    const agent = await app.get('agent/get', { agentid: sim.identity.agentId }, agentGetSchema);
    expect(agent.allow_partys?.partyid).toEqual([1]);
    expect((await app.get('getcallbackip', {}, callbackIpSchema)).ip_list).toEqual(['127.0.0.1']);

    // The contacts secret: sensitive fields, and user/list_id page by page through POST.
    sim.updateConfig({ sensitiveFields: 'returned' });
    const contacts = contactsClient(sim);
    const full = (await contacts.get('user/list', { department_id: 1, fetch_child: 1 }, userListSchema)).userlist;
    expect(full.some((u) => u.mobile !== undefined || u.email !== undefined)).toBe(true);
    let cursor = '';
    let rows = 0;
    let pages = 0;
    do {
      const page = await contacts.post(
        'user/list_id',
        cursor ? { cursor, limit: 50 } : { limit: 50 },
        userListIdSchema,
      );
      rows += page.dept_user.length;
      cursor = page.next_cursor ?? '';
      pages++;
    } while (cursor !== '' && pages < 100);
    expect(rows).toBe(full.reduce((n, u) => n + u.department.length, 0));
    expect(pages).toBeGreaterThan(1);
  });

  it('answers WECOM_BAD_RESPONSE naming the path and the field when a body does not match its schema', async () => {
    const sim = await startSim();
    const app = client(sim);
    const missing = await caught(app.get('department/list', {}, userListSchema));
    expect(missing.code).toBe('WECOM_BAD_RESPONSE');
    expect(missing.path).toBe('department/list');
    expect(missing.message).toContain('department/list');
    expect(missing.message).toContain('"userlist"');
    const nested = await caught(
      app.get('department/list', {}, z.object({ department: z.array(z.object({ name: z.number() })) })),
    );
    expect(nested.message).toContain('"department[0].name"');
    expect(app.stats().retries).toBe(0);
  });
});

describe('tokens', () => {
  it('sends the secret to gettoken only and the token in the query string, and caches the token across calls', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    for (let i = 0; i < 50; i++) await app.get('department/get', { id: 1 }, departmentGetSchema);
    await app.post('user/list_id', {}, userListIdSchema).catch(() => undefined); // 48002 with the app secret; still a call
    const stats = app.stats();
    expect(stats.tokenFetches).toBe(1);
    expect(stats.calls).toBe(52);
    expect(stats.byPath).toEqual({ gettoken: 1, 'department/get': 50, 'user/list_id': 1 });
    expect(simCalls(sim, 'gettoken')).toBe(1);

    const secret = sim.identity.secret;
    for (const sent of log) {
      if (sent.path === '/cgi-bin/gettoken') {
        expect(sent.url.searchParams.get('corpsecret')).toBe(secret);
      } else {
        expect(sent.url.toString()).not.toContain(secret);
        expect(sent.body).not.toContain(secret);
        expect(sent.url.searchParams.get('access_token')).toMatch(/.{20,}/);
      }
    }
    // Neither the client nor the cache prints the secret or the token.
    expect(app.tokenKey).not.toContain(secret);
    expectNothingSecret(`${inspect(app, { depth: 10 })}${JSON.stringify(app)}${app.tokenKey}`, sim, log);
    app.resetStats();
    expect(app.stats()).toEqual({ calls: 0, byPath: {}, retries: 0, tokenFetches: 0 });
  });

  it('fetches one token for 20 concurrent first calls', async () => {
    const sim = await startSim({ latencyMs: 30 });
    const app = client(sim);
    await Promise.all(Array.from({ length: 20 }, () => app.get('department/get', { id: 1 }, departmentGetSchema)));
    expect(app.stats().tokenFetches).toBe(1);
    expect(simCalls(sim, 'gettoken')).toBe(1);
  });

  it('shares a token between clients of the same cache and credentials, not across secrets', async () => {
    const sim = await startSim({ latencyMs: 20 });
    const tokens = new TokenCache();
    const a = client(sim, { tokens });
    const b = client(sim, { tokens });
    const c = contactsClient(sim, { tokens });
    expect(a.tokenKey).toBe(b.tokenKey);
    expect(a.tokenKey).not.toBe(c.tokenKey);
    await Promise.all([
      a.get('department/get', { id: 1 }, departmentGetSchema),
      b.get('department/get', { id: 1 }, departmentGetSchema),
    ]);
    await b.get('department/get', { id: 1 }, departmentGetSchema);
    await c.get('department/get', { id: 1 }, departmentGetSchema);
    expect(a.stats().tokenFetches + b.stats().tokenFetches).toBe(1);
    expect(c.stats().tokenFetches).toBe(1);
    expect(simCalls(sim, 'gettoken')).toBe(2);
    expect(tokens.size).toBe(2);
  });

  it('fetches a new token once when WeCom revoked it early (40014)', async () => {
    const sim = await startSim();
    const app = client(sim);
    await app.get('department/get', { id: 1 }, departmentGetSchema);
    sim.revokeTokens();
    await app.get('department/get', { id: 1 }, departmentGetSchema);
    // gettoken, the call, the call again (40014), gettoken, the call once more.
    expect(app.stats()).toMatchObject({ tokenFetches: 2, retries: 1, calls: 5 });
  });

  it('fetches a new token once when WeCom says it expired (42001), and before expiry when it knows', async () => {
    // WeCom's clock, moved by the test.
    let clock = Date.now();
    const sim = await startSim({ tokenTtlSeconds: 1 }, () => clock);
    // A cache whose clock stands still: it believes the token fresh, WeCom answers 42001.
    const frozen = clock;
    const stale = client(sim, { tokens: new TokenCache({ now: () => frozen }) });
    // A cache on WeCom's clock: it sees the token run out and fetches a new one before calling.
    const fresh = client(sim, { tokens: new TokenCache({ now: () => clock }) });
    await stale.get('department/get', { id: 1 }, departmentGetSchema);
    await fresh.get('department/get', { id: 1 }, departmentGetSchema);
    clock += 1000;
    await stale.get('department/get', { id: 1 }, departmentGetSchema);
    await fresh.get('department/get', { id: 1 }, departmentGetSchema);
    expect(stale.stats()).toMatchObject({ tokenFetches: 2, retries: 1, calls: 5 });
    expect(fresh.stats()).toMatchObject({ tokenFetches: 2, retries: 0, calls: 4 });
  });

  it('refreshes ahead of expiry: when less than 5 minutes or 10% of the lifetime remains', async () => {
    const sim = await startSim();
    let skew = 0;
    const tokens = new TokenCache({ now: () => Date.now() + skew });
    const app = client(sim, { tokens });
    const call = (): Promise<unknown> => app.get('department/get', { id: 1 }, departmentGetSchema);
    await call();
    skew = (7200 - 301) * 1000; // 301 s left: no refresh yet
    await call();
    expect(app.stats().tokenFetches).toBe(1);
    skew = (7200 - 299) * 1000; // 299 s left: refreshed before the call, the old token never failed
    await call();
    await call();
    expect(app.stats()).toMatchObject({ tokenFetches: 2, retries: 0, calls: 6 });

    // A short lifetime: 10% of it (10 s of 100 s) is the margin.
    sim.updateConfig({ tokenTtlSeconds: 100 });
    let skew2 = 0;
    const short = client(sim, { tokens: new TokenCache({ now: () => Date.now() + skew2 }) });
    await short.get('department/get', { id: 1 }, departmentGetSchema);
    skew2 = 89_000;
    await short.get('department/get', { id: 1 }, departmentGetSchema);
    expect(short.stats().tokenFetches).toBe(1);
    skew2 = 91_000;
    await short.get('department/get', { id: 1 }, departmentGetSchema);
    expect(short.stats()).toMatchObject({ tokenFetches: 2, retries: 0 });
  });

  it('invalidate drops only that token; a failed early refresh keeps the old token and waits before trying again', async () => {
    let now = 0;
    const cache = new TokenCache({ now: () => now });
    const key = TokenCache.key('http://x', 'ww1', 'secret-value-1');
    expect(key).not.toContain('secret-value-1');
    let n = 0;
    let fail = false;
    const fetcher = async (): Promise<{ accessToken: string; expiresIn: number }> => {
      n++;
      if (fail) throw new Error('gettoken failed');
      return { accessToken: `t${n}`, expiresIn: 7200 };
    };
    expect(await cache.get(key, fetcher)).toBe('t1');
    expect(cache.invalidate(key, 't0')).toBe(false); // a stale 40014 from an older token
    expect(await cache.get(key, fetcher)).toBe('t1');
    expect(cache.invalidate(key, 't1')).toBe(true);
    expect(await cache.get(key, fetcher)).toBe('t2');
    now = 7000_000; // inside the refresh margin
    fail = true;
    expect(await cache.get(key, fetcher)).toBe('t2');
    expect(await cache.get(key, fetcher)).toBe('t2');
    expect(n).toBe(3); // one failed refresh, then a pause
    now += 31_000;
    fail = false;
    expect(await cache.get(key, fetcher)).toBe('t4');
    now += 7200_000; // expired and failing: the error surfaces
    fail = true;
    await expect(cache.get(key, fetcher)).rejects.toThrow('gettoken failed');
  });
});

describe('transient failures', () => {
  const kinds: FaultKind[] = ['errcode', 'ratelimit', 'http502', 'reset', 'hang'];

  it.each(kinds)('retries through "%s" faults until they stop', async (kind) => {
    const sim = await startSim({ faultKinds: [kind], faultRate: 1 });
    const app = client(sim, { timeoutMs: 300 });
    const started = Date.now();
    const call = app.get('department/get', { id: 1 }, departmentGetSchema);
    // Two attempts have met the fault (so the client has retried at least once); then the faults stop.
    while (sim.stats().total < 2) await sleep(5);
    sim.updateConfig({ faultRate: 0 });
    expect((await call).department.id).toBe(1);
    const stats = app.stats();
    expect(stats.retries).toBeGreaterThanOrEqual(1);
    expect(stats.calls).toBe(stats.retries + 2); // gettoken and the call, each until it worked
    if (kind === 'ratelimit') expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('fetches a new token up to 3 times on repeated "revoke" faults, then stops with a typed auth error', async () => {
    const sim = await startSim({ faultKinds: ['revoke'], faultRate: 1 });
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    const err = await caught(app.get('department/get', { id: 1 }, departmentGetSchema));
    expect(err).toMatchObject({ code: 'WECOM_TOKEN_INVALID', kind: 'auth', errcode: 40014, path: 'department/get' });
    expect(app.stats()).toMatchObject({ tokenFetches: 4, calls: 8, retries: 3 });
    expectNothingSecret(printed(err), sim, log);
    sim.updateConfig({ faultRate: 0 });
    await app.get('department/get', { id: 1 }, departmentGetSchema);
  });

  it('gives up after maxRetries with a typed transient error', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    await app.get('department/get', { id: 1 }, departmentGetSchema);
    sim.updateConfig({ faultKinds: ['errcode'], faultRate: 1 });
    app.resetStats();
    const busy = await caught(app.get('department/get', { id: 1 }, departmentGetSchema));
    expect(busy).toMatchObject({
      code: 'WECOM_BUSY',
      kind: 'transient',
      errcode: -1,
      path: 'department/get',
      attempts: 6,
    });
    expect(app.stats()).toMatchObject({ calls: 6, retries: 5 });
    expectNothingSecret(printed(busy), sim, log);

    sim.updateConfig({ faultKinds: ['http502'] });
    const bad = await caught(client(sim, { maxRetries: 2 }).get('department/get', { id: 1 }, departmentGetSchema));
    expect(bad).toMatchObject({ code: 'WECOM_HTTP_ERROR', kind: 'transient', path: 'gettoken', attempts: 3 });
    expect(bad.errcode).toBeUndefined();

    sim.updateConfig({ faultKinds: ['reset'] });
    const reset = await caught(
      client(sim, { maxRetries: 1 }, log).get('department/get', { id: 1 }, departmentGetSchema),
    );
    expect(reset).toMatchObject({ code: 'WECOM_UNREACHABLE', kind: 'transient' });
    expectNothingSecret(printed(reset), sim, log);

    sim.updateConfig({ faultKinds: ['hang'] });
    const hang = await caught(
      client(sim, { maxRetries: 1, timeoutMs: 200 }).get('department/get', { id: 1 }, departmentGetSchema),
    );
    expect(hang).toMatchObject({ code: 'WECOM_TIMEOUT', kind: 'transient' });
  });

  it("backs off on WeCom's 45009 (at least a second) and then succeeds", async () => {
    const sim = await startSim({ rateLimitPerMinute: 3 });
    const app = client(sim);
    for (let i = 0; i < 3; i++) await app.get('department/get', { id: 1 }, departmentGetSchema);
    const started = Date.now();
    const fourth = app.get('department/get', { id: 1 }, departmentGetSchema);
    // The fourth call has been answered 45009 before the limit is lifted.
    while (simCalls(sim, 'department/get') < 4) await sleep(5);
    sim.updateConfig({ rateLimitPerMinute: 10_000 });
    await fourth;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(app.stats().retries).toBeGreaterThanOrEqual(1);
  });
});

describe('limits of our own', () => {
  it('keeps under its rateLimitPerMinute per API: WeCom never answers 45009', async () => {
    const sim = await startSim({ rateLimitPerMinute: 10 });
    const app = client(sim, { rateLimitPerMinute: 10 });
    const abort = new AbortController();
    const results = Array.from({ length: 15 }, () =>
      app.get('department/get', { id: 1 }, departmentGetSchema, { signal: abort.signal }).then(
        () => 'ok',
        (err: unknown) => (err instanceof WecomError ? `wecom ${err.errcode}` : (err as Error).name),
      ),
    );
    // A second other API is not held back by the first one's limit.
    await app.get('department/simplelist', {}, departmentSimpleListSchema);
    // Ten answered; the other five wait for the minute (which this test never reaches) to pass.
    let answered = 0;
    for (const r of results) void r.then((o) => (answered += o === 'ok' ? 1 : 0));
    while (answered < 10) await sleep(5);
    expect(simCalls(sim, 'department/get')).toBe(10);
    expect(app.stats().byPath['department/get']).toBe(10);
    expect(app.stats().retries).toBe(0);
    // The other five wait for the minute to pass; stop them.
    abort.abort();
    const outcomes = await Promise.all(results);
    expect(outcomes.filter((o) => o === 'ok').length).toBe(10);
    expect(outcomes.filter((o) => o === 'AbortError').length).toBe(5);
    expect(simCalls(sim, 'department/get')).toBe(10);
  });

  it('keeps at most `concurrency` calls in flight: WeCom never answers 45033', async () => {
    const sim = await startSim({ latencyMs: 100, concurrencyLimit: 4 });
    const app = client(sim, { concurrency: 4 });
    const replies = await Promise.all(
      Array.from({ length: 16 }, () => app.get('department/get', { id: 1 }, departmentGetSchema)),
    );
    expect(replies.length).toBe(16);
    // No retries: WeCom never answered 45033, which a fifth call in flight would have met.
    expect(app.stats()).toMatchObject({ retries: 0, calls: 17 });
  });
});

describe('errors', () => {
  it('maps a wrong secret (40001) at gettoken to an auth error and does not retry it', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const wrong = 'Wrong-Secret-0123456789-abcdefghijklmnopqrst';
    const app = client(sim, { secret: wrong }, log);
    const err = await caught(app.get('department/list', {}, departmentListSchema));
    expect(err).toMatchObject({ code: 'WECOM_INVALID_SECRET', kind: 'auth', errcode: 40001, path: 'gettoken' });
    expect(err.hint).toContain('应用管理 → 应用');
    expect(err.hint).toContain('Secret');
    expect(err.hint).toContain('通讯录同步');
    expect(app.stats()).toMatchObject({ calls: 1, retries: 0, tokenFetches: 1 });
    expect(simCalls(sim, 'gettoken')).toBe(1);
    expectNothingSecret(printed(err), sim, log);
    expect(printed(err)).not.toContain(wrong);
  });

  it('maps a wrong corp id (40013) to a config error naming 企业ID', async () => {
    const sim = await startSim();
    const err = await caught(
      client(sim, { corpId: 'ww0000000000000000' }).get('department/list', {}, departmentListSchema),
    );
    expect(err).toMatchObject({ code: 'WECOM_INVALID_CORPID', kind: 'config', errcode: 40013 });
    expect(err.hint).toContain('我的企业 → 企业信息 → 企业ID');
    expectNothingSecret(printed(err), sim);
  });

  it('maps an untrusted IP (60020) to a config error naming 企业可信IP and our outgoing IP', async () => {
    const sim = await startSim({ untrustedIp: true });
    const log: Sent[] = [];
    const err = await caught(client(sim, {}, log).get('department/list', {}, departmentListSchema));
    expect(err).toMatchObject({ code: 'WECOM_UNTRUSTED_IP', kind: 'config', errcode: 60020, ip: '127.0.0.1' });
    expect(err.hint).toContain('企业可信IP');
    expect(err.hint).toContain('our outgoing IP 127.0.0.1');
    const named = err.withIp('203.0.113.7');
    expect(named.ip).toBe('203.0.113.7');
    expect(named.hint).toContain('our outgoing IP 203.0.113.7');
    expect(named.kind).toBe('config');
    expectNothingSecret(printed(err) + printed(named), sim, log);
  });

  it('maps a department outside the visible range (60011) to a permission error naming 可见范围', async () => {
    const sim = await startSim();
    const child = sim.corp.subtree(1).find((d) => d.parentid === 1)!;
    sim.updateConfig({ visibleRange: [child.id] });
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    expect((await app.get('user/list', { department_id: child.id }, userListSchema)).userlist).toBeDefined();
    const err = await caught(app.get('user/list', { department_id: 1 }, userListSchema));
    expect(err).toMatchObject({ code: 'WECOM_NO_PRIVILEGE', kind: 'permission', errcode: 60011, path: 'user/list' });
    expect(err.hint).toContain('可见范围');
    expect(err.hint).toContain('通讯录');
    expectNothingSecret(printed(err), sim, log);
  });

  it('maps user/list_id with the app secret (48002) to a permission error naming the contacts secret', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const err = await caught(client(sim, {}, log).post('user/list_id', { limit: 10 }, userListIdSchema));
    expect(err).toMatchObject({
      code: 'WECOM_API_FORBIDDEN',
      kind: 'permission',
      errcode: 48002,
      path: 'user/list_id',
    });
    expect(err.hint).toContain('通讯录同步 → Secret');
    expectNothingSecret(printed(err), sim, log);
  });

  it('maps the contacts secret from a new IP (48009) to a permission error naming the app secret and the export', async () => {
    const sim = await startSim({ contactsSecretNewIp: true });
    const log: Sent[] = [];
    const contacts = contactsClient(sim, {}, log);
    const err = await caught(contacts.get('department/list', {}, departmentListSchema));
    expect(err).toMatchObject({ code: 'WECOM_CONTACTS_SECRET_NEW_IP', kind: 'permission', errcode: 48009 });
    expect(err.hint).toContain('应用管理 → 应用');
    expect(err.hint).toContain('导出');
    // The ids still come.
    expect((await contacts.post('user/list_id', { limit: 10 }, userListIdSchema)).dept_user.length).toBe(10);
    expectNothingSecret(printed(err), sim, log);
  });

  it('maps a wrong agentid (40056) to a config error naming AgentId', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const err = await caught(client(sim, {}, log).get('agent/get', { agentid: 1000099 }, agentGetSchema));
    expect(err).toMatchObject({ code: 'WECOM_INVALID_AGENTID', kind: 'config', errcode: 40056, path: 'agent/get' });
    expect(err.hint).toContain('应用管理 → 应用 → (the app) → AgentId');
    expectNothingSecret(printed(err), sim, log);
  });

  it('maps not-found and missing-parameter errcodes, and anything else generically', async () => {
    const sim = await startSim();
    const app = client(sim);
    expect(await caught(app.get('user/get', { userid: 'nobody-here' }, userGetSchema))).toMatchObject({
      code: 'WECOM_USER_NOT_FOUND',
      kind: 'not_found',
      errcode: 60111,
    });
    expect(await caught(app.get('department/get', { id: 999_999 }, departmentGetSchema))).toMatchObject({
      code: 'WECOM_DEPARTMENT_NOT_FOUND',
      kind: 'not_found',
      errcode: 60003,
    });
    expect(await caught(app.get('user/get', {}, userGetSchema))).toMatchObject({
      code: 'WECOM_MISSING_PARAMETER',
      kind: 'invalid_request',
      errcode: 41009,
    });
    expect(app.stats().retries).toBe(0);
    expect(errcodeRule(45033)).toMatchObject({ kind: 'rate_limit', retry: 'backoff' });
    expect(errcodeRule(45009)).toMatchObject({ kind: 'rate_limit', retry: 'backoff-long' });
    expect(errcodeRule(-1)).toMatchObject({ kind: 'transient', retry: 'backoff' });
    expect(errcodeRule(42001)).toMatchObject({ kind: 'auth', retry: 'token' });
    const other = WecomError.fromErrcode({ errcode: 12345, errmsg: 'something new', path: 'user/get' });
    expect(other).toMatchObject({ code: 'WECOM_ERROR', kind: 'unknown', errcode: 12345 });
    expect(other.message).toContain('12345');
    expect(other.hint).toContain('12345');
  });
});
