import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TokenCache } from '../../src/connectors/common/token-cache.js';
import { DingtalkClient, type DingtalkClientOptions } from '../../src/connectors/dingtalk/client.js';
import { DingtalkError, dingtalkRule } from '../../src/connectors/dingtalk/errors.js';
import {
  accessTokenSchema,
  authScopesSchema,
  currentUserSchema,
  departmentGetSchema,
  listsubSchema,
  listsubidSchema,
  userGetSchema,
  userListIdSchema,
  userListSchema,
} from '../../src/connectors/dingtalk/schemas.js';
import type { DingConfigInput } from '../../src/simulator/dingtalk/config.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers: a real simulator over HTTP per test; fetch passes through to it, recording what was sent.
// ---------------------------------------------------------------------------------------------------------------

const running: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function startSim(
  config: DingConfigInput = {},
  size = { departments: 30, users: 250 },
  clock?: () => number,
): Promise<DingtalkSimulator> {
  const sim = new DingtalkSimulator({ seed: 9, ...size, config, ...(clock ? { clock } : {}) });
  await sim.listen(0);
  running.push(sim);
  return sim;
}

interface Sent {
  path: string;
  url: URL;
  body: string;
  headers: Record<string, string>;
}

function recordingFetch(log: Sent[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    log.push({
      path: url.pathname,
      url,
      body: typeof init?.body === 'string' ? init.body : '',
      headers: { ...(init?.headers as Record<string, string> | undefined) },
    });
    return fetch(input, init);
  };
}

function client(sim: DingtalkSimulator, overrides: Partial<DingtalkClientOptions> = {}, log?: Sent[]): DingtalkClient {
  return new DingtalkClient({
    clientId: sim.identity.clientId,
    clientSecret: sim.identity.clientSecret,
    baseUrl: sim.url,
    tokens: new TokenCache(),
    ...(log ? { fetch: recordingFetch(log) } : {}),
    ...overrides,
  });
}

const simCalls = (sim: DingtalkSimulator, path: string): number => sim.stats().calls[`/${path}`] ?? 0;

async function caught(promise: Promise<unknown>): Promise<DingtalkError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DingtalkError);
    return err as DingtalkError;
  }
  throw new Error('expected the call to fail');
}

function printed(err: DingtalkError): string {
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

/** Neither the Client Secret nor any token sent appears in `text`. */
function expectNothingSecret(text: string, sim: DingtalkSimulator, log: Sent[] = []): void {
  const tokens = log
    .flatMap((s) => [s.url.searchParams.get('access_token'), s.headers['x-acs-dingtalk-access-token']])
    .filter((t): t is string => !!t);
  for (const secret of [sim.identity.clientSecret, ...tokens]) expect(text).not.toContain(secret);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const root = (c: DingtalkClient) => c.post('topapi/v2/department/get', { dept_id: 1 }, departmentGetSchema);

/** A remote that answers every request with the given status and body: for answers the simulator never gives. */
async function fixedRemote(answer: {
  status: number;
  body: string;
  type?: string;
}): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    const gettoken = (req.url ?? '').startsWith('/gettoken');
    res.writeHead(gettoken ? 200 : answer.status, {
      'content-type': gettoken ? 'application/json' : (answer.type ?? 'application/json'),
    });
    res.end(
      gettoken
        ? JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'fixed-remote-token-0123456789', expires_in: 7200 })
        : answer.body,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

// ---------------------------------------------------------------------------------------------------------------

describe('responses', () => {
  it('parses every response orgsync reads: tree, members page by page, scope, user, ids', async () => {
    const sim = await startSim();
    const app = client(sim);
    expect((await root(app)).result).toMatchObject({ dept_id: 1, order: expect.any(Number) });
    const children = (await app.post('topapi/v2/department/listsub', { dept_id: 1 }, listsubSchema)).result;
    expect(children.length).toBeGreaterThan(0);
    expect(children.every((c) => c.parent_id === 1)).toBe(true);
    expect(
      (await app.post('topapi/v2/department/listsubid', { dept_id: 1 }, listsubidSchema)).result.dept_id_list.sort(),
    ).toEqual(children.map((c) => c.dept_id).sort());
    const scope = await app.get('auth/scopes', {}, authScopesSchema);
    expect(scope.auth_org_scopes.authed_dept).toEqual([1]);

    // Paging: a cursor that is a number, has_more until the last page.
    const widest = sim.corp
      .allDepartments()
      .map((d) => ({ id: d.dept_id, n: sim.corp.membersOf(d.dept_id).length }))
      .sort((a, b) => b.n - a.n)[0]!;
    expect(widest.n).toBeGreaterThan(10);
    const seen: string[] = [];
    let cursor = 0;
    let pages = 0;
    for (;;) {
      const page = (await app.post('topapi/v2/user/list', { dept_id: widest.id, cursor, size: 10 }, userListSchema))
        .result;
      pages++;
      seen.push(...page.list.map((u) => u.userid));
      if (!page.has_more) break;
      cursor = page.next_cursor as number;
    }
    expect(seen.length).toBe(widest.n);
    expect(pages).toBe(Math.ceil(widest.n / 10));
    const first = seen[0]!;
    expect((await app.post('topapi/v2/user/get', { userid: first }, userGetSchema)).result).toMatchObject({
      userid: first,
      unionid: expect.any(String),
    });
    expect(
      (await app.post('topapi/user/listid', { dept_id: widest.id }, userListIdSchema)).result.userid_list.length,
    ).toBe(widest.n);
    // The same app token works on the api host.
    expect(
      (
        await app.apiHost(
          'POST',
          'v1.0/oauth2/accessToken',
          { appKey: sim.identity.clientId, appSecret: sim.identity.clientSecret },
          accessTokenSchema,
        )
      ).accessToken,
    ).toMatch(/.{20,}/);
  });

  it('answers DINGTALK_BAD_RESPONSE naming the API and the field when a body does not match its schema', async () => {
    const sim = await startSim();
    const err = await caught(
      client(sim).post(
        'topapi/v2/department/listsub',
        { dept_id: 1 },
        z.object({ result: z.array(z.object({ name: z.number() })) }),
      ),
    );
    expect(err).toMatchObject({ code: 'DINGTALK_BAD_RESPONSE', path: 'topapi/v2/department/listsub' });
    expect(err.message).toContain('"result[0].name"');
    expect(
      (await caught(client(sim).post('topapi/v2/department/listsub', { dept_id: 1 }, userListSchema))).message,
    ).toContain('"result"');
  });

  it('signs a user in: login code → user token → users/me, whose unionId maps back to the userid', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    const user = [...sim.corp.allUsers()].find((u) => u.active) as { userid: string; unionid: string };
    const auth = new URL(`${sim.url}/oauth2/auth`);
    for (const [k, v] of Object.entries({
      redirect_uri: 'http://127.0.0.1/cb',
      response_type: 'code',
      client_id: sim.identity.clientId,
      scope: 'openid',
      state: 's1',
      prompt: 'consent',
      sim_user: user.userid,
    }))
      auth.searchParams.set(k, v);
    const redirect = await fetch(auth, { redirect: 'manual' });
    const code = new URL(redirect.headers.get('location') as string).searchParams.get('code') as string;
    const token = await app.userAccessToken(code);
    const me = await app.currentUser(token.accessToken, currentUserSchema);
    expect(me.unionId).toBe(user.unionid);
    // The code works once.
    const again = await caught(app.userAccessToken(code));
    expect(again).toMatchObject({ kind: 'invalid_request', apiCode: 'invalidAuthCode', errcode: 40078 });
    expectNothingSecret(printed(again), sim, log);
    expect(printed(again)).not.toContain(token.accessToken);
  });
});

describe('tokens', () => {
  it('sends the secret to gettoken only and the token as ?access_token=, and reuses the token across calls', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    for (let i = 0; i < 30; i++) await root(app);
    await app.get('auth/scopes', {}, authScopesSchema);
    expect(app.stats()).toEqual({
      calls: 32,
      byPath: { gettoken: 1, 'topapi/v2/department/get': 30, 'auth/scopes': 1 },
      retries: 0,
      tokenFetches: 1,
    });
    expect(simCalls(sim, 'gettoken')).toBe(1);
    const secret = sim.identity.clientSecret;
    for (const sent of log) {
      if (sent.path === '/gettoken') {
        expect(sent.url.searchParams.get('appsecret')).toBe(secret);
        expect(sent.url.searchParams.get('appkey')).toBe(sim.identity.clientId);
      } else {
        expect(sent.url.toString()).not.toContain(secret);
        expect(sent.body).not.toContain(secret);
        expect(sent.url.searchParams.get('access_token')).toMatch(/.{20,}/);
      }
    }
    expect(app.tokenKey).not.toContain(secret);
    expectNothingSecret(`${inspect(app, { depth: 10 })}${JSON.stringify(app)}${app.tokenKey}`, sim, log);
  });

  it('fetches one token for 20 concurrent first calls; a second cache gets the same token back (DingTalk reuses it)', async () => {
    const sim = await startSim({ latencyMs: 30 });
    const log: Sent[] = [];
    const a = client(sim, {}, log);
    await Promise.all(Array.from({ length: 20 }, () => root(a)));
    expect(a.stats().tokenFetches).toBe(1);
    const b = client(sim, {}, log);
    await root(b);
    expect(simCalls(sim, 'gettoken')).toBe(2);
    const tokens = new Set(
      log.filter((s) => s.path !== '/gettoken').map((s) => s.url.searchParams.get('access_token')),
    );
    expect(tokens.size).toBe(1);
  });

  it('refreshes the token when DingTalk says it is invalid (88 / sub_code 40014) or expired (42001)', async () => {
    // DingTalk's clock, moved by the test.
    let clock = Date.now();
    const sim = await startSim({}, undefined, () => clock);
    const app = client(sim);
    await root(app);
    sim.revokeTokens();
    await root(app);
    // gettoken, the call, the call again (88/40014), gettoken, the call once more.
    expect(app.stats()).toMatchObject({ tokenFetches: 2, retries: 1, calls: 5 });

    sim.updateConfig({ tokenTtlSeconds: 1, tokenReuse: false });
    const frozen = clock;
    const stale = client(sim, { tokens: new TokenCache({ now: () => frozen }) });
    await root(stale);
    clock += 1000;
    await root(stale);
    expect(stale.stats()).toMatchObject({ tokenFetches: 2, retries: 1, calls: 5 });
  });

  it('fetches a new token up to 3 times on repeated revocations, then stops with a typed auth error', async () => {
    const sim = await startSim({ faultKinds: ['revoke'], faultRate: 1 });
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    const err = await caught(root(app));
    expect(err).toMatchObject({
      code: 'DINGTALK_TOKEN_INVALID',
      kind: 'auth',
      errcode: 40014,
      subCode: '40014',
      path: 'topapi/v2/department/get',
    });
    expect(err.message).toContain('errcode 88, sub_code 40014');
    expect(app.stats()).toMatchObject({ tokenFetches: 4, calls: 8, retries: 3 });
    expectNothingSecret(printed(err), sim, log);
  });
});

describe('back-off', () => {
  it.each(['errcode', 'ratelimit', 'http502', 'reset', 'hang', 'block'] as const)(
    'retries through "%s" faults until they stop',
    async (kind) => {
      const sim = await startSim({ faultKinds: [kind], faultRate: 1 });
      const app = client(sim, { timeoutMs: 300 });
      const started = Date.now();
      const call = root(app);
      // The faults stop once two attempts have met them (so the client has retried at least once).
      while (sim.stats().total < 2) await sleep(5);
      sim.updateConfig({ faultRate: 0 });
      expect((await call).result.dept_id).toBe(1);
      const stats = app.stats();
      expect(stats.retries).toBeGreaterThanOrEqual(1);
      expect(stats.calls).toBe(stats.retries + 2);
      // The QPS errcode and the block page are waited out for at least a second.
      if (kind === 'ratelimit' || kind === 'block') expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    },
  );

  it('backs off on 90018 (per-app QPS) and 90002 (all apps) for at least a second, then succeeds', async () => {
    for (const config of [{ qpsLimit: 3 }, { globalQpsLimit: 3 }]) {
      // DingTalk's second lasts until the test moves its clock, however slow the machine.
      let clock = Date.now();
      const sim = await startSim(config, undefined, () => clock);
      const app = client(sim, { qpsLimit: 100 });
      await root(app);
      const started = Date.now();
      const calls = Promise.all(Array.from({ length: 4 }, () => root(app)));
      // Two of the four over the limit of that second, refused; then the next second.
      while (simCalls(sim, 'topapi/v2/department/get') < 5) await sleep(5);
      clock += 1000;
      await calls;
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(app.stats().retries).toBeGreaterThanOrEqual(1);
    }
  });

  it("backs off on the api host's HTTP 403 Forbidden.AccessDenied.QpsLimitFor… and succeeds", async () => {
    let clock = Date.now();
    const sim = await startSim({ qpsLimit: 2 }, undefined, () => clock);
    const app = client(sim, { qpsLimit: 100 });
    const body = { appKey: sim.identity.clientId, appSecret: sim.identity.clientSecret };
    const started = Date.now();
    const pending = Promise.all(
      Array.from({ length: 4 }, () => app.apiHost('POST', 'v1.0/oauth2/accessToken', body, accessTokenSchema)),
    );
    while (simCalls(sim, 'v1.0/oauth2/accessToken') < 4) await sleep(5);
    clock += 1000;
    const replies = await pending;
    expect(replies.every((r) => r.accessToken.length > 0)).toBe(true);
    expect(app.stats().retries).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('waits out the per-IP block page (no errcode) and never takes it for a success', async () => {
    let clock = Date.now();
    const sim = await startSim({ ipLimitPer20s: 5, ipBlockSeconds: 1 }, undefined, () => clock);
    const app = client(sim);
    for (let i = 0; i < 4; i++) await root(app);
    // The 6th call of the 20 s window is blocked; the block ends when the test moves the clock by its second, and the
    // client's back-off then gets through.
    const call = root(app);
    while (sim.stats().total < 6) await sleep(5);
    clock += 1000;
    const reply = await call;
    expect(reply.result.dept_id).toBe(1);
    expect(app.stats().retries).toBeGreaterThanOrEqual(1);

    // A block that does not end: a typed error naming the block, never a success.
    sim.updateConfig({ faultKinds: ['block'], faultRate: 1, ipLimitPer20s: 10_000 });
    const err = await caught(client(sim, { maxRetries: 1 }).post('topapi/v2/department/listsub', {}, listsubSchema));
    expect(err).toMatchObject({ code: 'DINGTALK_IP_BLOCKED', kind: 'rate_limit', attempts: 2 });
    expect(err.hint).toContain('10,000 calls in 20 seconds');
    // The same for a page in HTML.
    const html = await fixedRemote({ status: 200, type: 'text/html', body: '<html><body>访问被拒绝</body></html>' });
    const viaHtml = await caught(
      new DingtalkClient({
        clientId: 'k',
        clientSecret: 'secret-value-xyz',
        baseUrl: html.url,
        tokens: new TokenCache(),
        maxRetries: 1,
      }).post('topapi/v2/department/listsub', {}, listsubSchema),
    );
    expect(viaHtml.code).toBe('DINGTALK_IP_BLOCKED');
  });

  it("does not retry 90020 (monthly quota); retries 88 without a sub_code and the api host's QpsLimitForApi", async () => {
    const quota = await fixedRemote({
      status: 200,
      body: JSON.stringify({ errcode: 90020, errmsg: '调用量超过限制' }),
    });
    const q = new DingtalkClient({
      clientId: 'k',
      clientSecret: 'secret-value-xyz',
      baseUrl: quota.url,
      tokens: new TokenCache(),
    });
    expect(await caught(q.post('topapi/v2/department/listsub', {}, listsubSchema))).toMatchObject({
      code: 'DINGTALK_QUOTA_EXHAUSTED',
      kind: 'config',
      errcode: 90020,
    });
    expect(quota.hits()).toBe(2); // gettoken and the one call
    expect(q.stats().retries).toBe(0);

    const forbidden = await fixedRemote({ status: 200, body: JSON.stringify({ errcode: 88, errmsg: '鉴权异常' }) });
    const f = new DingtalkClient({
      clientId: 'k',
      clientSecret: 'secret-value-xyz',
      baseUrl: forbidden.url,
      tokens: new TokenCache(),
      maxRetries: 2,
    });
    const err88 = await caught(f.post('topapi/v2/department/listsub', {}, listsubSchema));
    expect(err88).toMatchObject({ code: 'DINGTALK_FORBIDDEN', kind: 'permission', attempts: 3 });
    expect(err88.message).toContain('errcode 88, sub_code (none)');

    const apiQps = await fixedRemote({
      status: 403,
      body: JSON.stringify({ code: 'Forbidden.AccessDenied.QpsLimitForApi', message: '...', requestid: 'r' }),
    });
    const a = new DingtalkClient({
      clientId: 'k',
      clientSecret: 'secret-value-xyz',
      baseUrl: apiQps.url,
      tokens: new TokenCache(),
      maxRetries: 1,
    });
    expect(await caught(a.apiHost('GET', 'v1.0/contact/users/x', undefined, accessTokenSchema))).toMatchObject({
      code: 'DINGTALK_RATE_LIMITED',
      apiCode: 'Forbidden.AccessDenied.QpsLimitForApi',
      errcode: 90002,
      attempts: 2,
    });
  });
});

describe('limits of our own', () => {
  it("keeps under DingTalk's 20 calls per API per second by default: the simulator never answers 90018", async () => {
    const sim = await startSim();
    const app = client(sim);
    await root(app);
    // No retries below: the simulator never answered 90018, which a 21st call within a second would have met.
    await Promise.all(Array.from({ length: 30 }, () => root(app)));
    // Another API is not held back by the first one's limit.
    await app.post('topapi/v2/department/listsub', {}, listsubSchema);
    expect(app.stats()).toMatchObject({ retries: 0, calls: 33 });
  });
});

describe('limits of our own: every API together', () => {
  it('keeps under its calls per 20 s over all APIs, so DingTalk never blocks the IP', async () => {
    const sim = await startSim({ ipLimitPer20s: 3 });
    const app = client(sim, { callsPer20s: 3 });
    await root(app); // gettoken and one call
    await app.post('topapi/v2/department/listsub', {}, listsubSchema);
    const abort = new AbortController();
    const waiting = app.post('topapi/v2/department/listsub', {}, listsubSchema, { signal: abort.signal }).then(
      () => 'ok',
      (err: unknown) => (err as Error).name,
    );
    await sleep(300);
    abort.abort();
    expect(await waiting).toBe('AbortError');
    expect(sim.stats().total).toBe(3);
    expect(app.stats()).toMatchObject({ calls: 3, retries: 0 });
  });
});

describe('errors', () => {
  it('maps a wrong Client Secret (40096) to an auth error naming 凭证与基础信息, and does not retry it', async () => {
    const sim = await startSim();
    const log: Sent[] = [];
    const wrong = 'Wrong-Client-Secret-0123456789-abcdefghij';
    const err = await caught(
      client(sim, { clientSecret: wrong }, log).post('topapi/v2/department/listsub', {}, listsubSchema),
    );
    expect(err).toMatchObject({ code: 'DINGTALK_INVALID_CREDENTIALS', kind: 'auth', errcode: 40096, path: 'gettoken' });
    expect(err.hint).toContain('凭证与基础信息');
    expect(simCalls(sim, 'gettoken')).toBe(1);
    expectNothingSecret(printed(err), sim, log);
    expect(printed(err)).not.toContain(wrong);
  });

  it('maps an IP not in the whitelist (60020) to a config error naming 服务器出口IP, on both hosts', async () => {
    const sim = await startSim({ untrustedIp: true });
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    const err = await caught(root(app));
    expect(err).toMatchObject({ code: 'DINGTALK_UNTRUSTED_IP', kind: 'config', errcode: 60020 });
    expect(err.hint).toContain('服务器出口IP');
    // The api host says it as HTTP 403 with a code (the user-token exchange needs no app token to get there).
    const viaApiHost = await caught(app.userAccessToken('some-login-code'));
    expect(viaApiHost).toMatchObject({
      code: 'DINGTALK_UNTRUSTED_IP',
      apiCode: 'Forbidden.AccessDenied.IpNotInWhiteList',
    });
    expectNothingSecret(printed(err) + printed(viaApiHost), sim, log);
  });

  it('tells a missing API permission (88 / 60011) from a department outside the contact scope (60011)', async () => {
    const sim = await startSim({ deniedApis: ['topapi/v2/user/list', 'topapi/v2/department/listsub'] });
    const log: Sent[] = [];
    const app = client(sim, {}, log);
    const members = await caught(app.post('topapi/v2/user/list', { dept_id: 1, cursor: 0, size: 100 }, userListSchema));
    expect(members).toMatchObject({
      code: 'DINGTALK_API_PERMISSION_DENIED',
      kind: 'config',
      errcode: 60011,
      subCode: '60011',
    });
    expect(members.hint).toContain('成员信息读取');
    expect(members.hint).toContain('个人手机号信息');
    const tree = await caught(app.post('topapi/v2/department/listsub', {}, listsubSchema));
    expect(tree.hint).toContain('通讯录部门信息读取');
    expect(app.stats().retries).toBe(0);

    const child = sim.corp.childrenOf(1)[0]!;
    sim.updateConfig({ deniedApis: [], visibleRange: [child.dept_id] });
    const scoped = await caught(root(app));
    expect(scoped).toMatchObject({
      code: 'DINGTALK_OUT_OF_SCOPE',
      kind: 'permission',
      errcode: 60011,
      subCode: undefined,
    });
    expect(scoped.hint).toContain('通讯录权限范围');
    expect((await app.get('auth/scopes', {}, authScopesSchema)).auth_org_scopes.authed_dept).toEqual([child.dept_id]);
    expectNothingSecret(printed(members) + printed(scoped), sim, log);
  });

  it('maps not-found, bad parameters and busy to their kinds; the table covers the rest', async () => {
    const sim = await startSim();
    const app = client(sim);
    expect(await caught(app.post('topapi/v2/department/get', { dept_id: 999_999 }, departmentGetSchema))).toMatchObject(
      { code: 'DINGTALK_DEPARTMENT_NOT_FOUND', kind: 'not_found', errcode: 60003 },
    );
    expect(await caught(app.post('topapi/v2/user/get', { userid: 'nobody-here' }, userGetSchema))).toMatchObject({
      code: 'DINGTALK_USER_NOT_FOUND',
      kind: 'not_found',
      errcode: 60121,
    });
    expect(
      await caught(app.post('topapi/v2/user/list', { dept_id: 1, cursor: 0, size: 101 }, userListSchema)),
    ).toMatchObject({ code: 'DINGTALK_INVALID_REQUEST', kind: 'invalid_request', errcode: 400002 });
    expect(app.stats().retries).toBe(0);
    sim.updateConfig({ faultKinds: ['errcode'], faultRate: 1 });
    const busy = await caught(client(sim, { maxRetries: 2 }).post('topapi/v2/department/listsub', {}, listsubSchema));
    expect(busy).toMatchObject({ code: 'DINGTALK_BUSY', kind: 'transient', errcode: -1, attempts: 3 });

    expect(dingtalkRule({ errcode: 90018, errmsg: '' })).toMatchObject({ kind: 'rate_limit', retry: 'backoff-long' });
    expect(dingtalkRule({ errcode: 90019, errmsg: '' })).toMatchObject({ kind: 'rate_limit', retry: 'backoff-long' });
    expect(dingtalkRule({ errcode: 90020, errmsg: '' }).retry).toBeUndefined();
    expect(dingtalkRule({ errcode: 42001, errmsg: '', in88: true, subCode: '42001' })).toMatchObject({
      kind: 'auth',
      retry: 'token',
    });
    expect(dingtalkRule({ errcode: 40000, errmsg: '', in88: true, subCode: '40000' })).toMatchObject({
      kind: 'auth',
      retry: 'token',
    });
    expect(dingtalkRule({ errcode: 43007, errmsg: '' })).toMatchObject({
      code: 'DINGTALK_APP_NOT_AUTHORIZED',
      kind: 'config',
    });
    expect(dingtalkRule({ errcode: 43007, errmsg: '' }).hint({ errcode: 43007, errmsg: '', path: 'x' })).toContain(
      '发布',
    );
    expect(
      dingtalkRule({
        errcode: undefined,
        errmsg: '',
        apiCode: 'Forbidden.AccessDenied.QpsLimitForSomethingNew',
        status: 403,
      }).retry,
    ).toBe('backoff-long');
    const other = DingtalkError.fromRefusal({ errcode: 12345, errmsg: 'something new' }, { path: 'topapi/x' });
    expect(other).toMatchObject({ code: 'DINGTALK_ERROR', kind: 'unknown', errcode: 12345 });
    expect(other.hint).toContain('12345');
  });
});
