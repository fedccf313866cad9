import { afterEach, describe, expect, it } from 'vitest';
import { AccessService } from '../../src/server/auth/access.js';
import { loadServerConfig } from '../../src/server/config.js';
import { ENGINES } from '../helpers/stores.js';
import { Client, signedIn, startHarness, type Harness } from './harness.js';

/** Admin access over real HTTP: first admin, sessions, CSRF, API tokens, rate limits, and no anonymous access. */

let harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses) await h.close();
  harnesses = [];
});

async function harness(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
}

const NEW_CONNECTION = {
  platform: 'wecom',
  name: 'acme',
  settings: { corpId: 'ww1a2b3c4d', agentId: 1000002, apiBaseUrl: 'http://127.0.0.1:9' },
  secrets: { secret: 'app-secret-value-123' },
};

describe.each(ENGINES)('signing in and sessions (%s)', (engine) => {
  it('the first start creates "admin" with a random password, given to the caller and never logged; a restart creates none', async () => {
    const h = await harness(engine);
    const admin = h.server.admin;
    expect(admin?.username).toBe('admin');
    expect(admin?.password).toMatch(/^[A-Za-z0-9]{20}$/);
    const password = admin?.password as string;
    expect(h.logs.some((l) => l.includes('created the first admin'))).toBe(true);
    expect(h.logs.filter((l) => l.includes(password))).toEqual([]);

    const again = await h.restart();
    expect(again.admin).toBeUndefined();
    expect(h.logs.filter((l) => l.includes(password))).toEqual([]);
    expect((await new Client(again.url).login('admin', password)).status).toBe(200);
  });

  it('signs in, shows the session with its CSRF token, signs out; wrong and unknown credentials are 401', async () => {
    const h = await harness(engine);
    const password = h.server.admin?.password as string;
    const c = new Client(h.url);

    const wrong = await c.login('admin', `${password}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'INVALID_CREDENTIALS', hint: expect.any(String) });
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect((await c.login('nobody', password)).body.error.code).toBe('INVALID_CREDENTIALS');

    const ok = await c.login('admin', password);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      user: { username: 'admin' },
      csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      mustChangePassword: false,
    });
    const cookie = ok.headers.get('set-cookie') as string;
    expect(cookie).toMatch(/^orgsync_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Path=/');
    expect(cookie).toMatch(/Max-Age=\d+/);
    expect(cookie).not.toContain('Secure');

    const session = await c.get('/api/v1/session');
    expect(session.status).toBe(200);
    expect(session.body).toEqual(ok.body);

    // The session id is stored only as a hash.
    const sessionId = (c.cookie as string).split('=')[1] as string;
    expect(await h.t.store.access.getSession(sessionId, Date.now())).toBeUndefined();

    expect((await c.request('DELETE', '/api/v1/session', undefined, { csrf: null })).status).toBe(403);
    const out = await c.request('DELETE', '/api/v1/session');
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^orgsync_session=;/);
    const after = await c.get('/api/v1/session');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('SESSION_EXPIRED');
  });

  it('cookie-authenticated mutations need the x-csrf-token of their session; Bearer tokens do not, and can be revoked', async () => {
    const h = await harness(engine);
    const c = await signedIn(h);
    const missing = await c.request('POST', '/api/v1/connections', NEW_CONNECTION, { csrf: null });
    expect(missing.status).toBe(403);
    expect(missing.body.error).toMatchObject({
      code: 'CSRF_TOKEN_INVALID',
      hint: expect.stringContaining('x-csrf-token'),
    });
    const forged = await c.request('POST', '/api/v1/connections', NEW_CONNECTION, { csrf: 'A'.repeat(43) });
    expect(forged.status).toBe(403);
    // Another session's token is not this session's.
    const other = await signedIn(h);
    expect(
      (await c.request('POST', '/api/v1/connections', NEW_CONNECTION, { csrf: other.csrfToken as string })).status,
    ).toBe(403);
    expect(await h.t.store.connections.get('acme')).toBeUndefined();
    expect((await c.request('POST', '/api/v1/connections', NEW_CONNECTION)).status).toBe(201);

    const access = new AccessService(h.t.store);
    await expect(access.createToken('bad name')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(access.setPassword('bad name', 'long enough')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(access.setPassword('ops', 'short')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const { token } = await access.createToken('ci');
    expect(token).toMatch(/^osk_[A-Za-z0-9_-]{43}$/);
    const bot = new Client(h.url);
    bot.bearer = token;
    expect((await bot.get('/api/v1/session')).body).toEqual({
      user: { username: 'token:ci' },
      csrfToken: null,
      mustChangePassword: false,
    });
    const patched = await bot.request('PATCH', '/api/v1/connections/acme', { syncEnabled: true });
    expect(patched.status).toBe(200);
    expect(patched.body.syncEnabled).toBe(true);
    expect((await access.listTokens())[0]?.lastUsedAt).not.toBeNull();

    await access.revokeToken('ci');
    const revoked = await bot.get('/api/v1/connections');
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe('INVALID_TOKEN');
    const malformed = await new Client(h.url).request('GET', '/api/v1/connections', undefined, {
      headers: { authorization: 'Basic YWRtaW46eA==' },
    });
    expect(malformed.status).toBe(401);
  });

  it('a new password ends the sessions of that admin; an expired session is refused', async () => {
    // The server's clock is the test's: the session expires when the test moves it past the TTL, not by waiting.
    let clock = Date.now();
    const h = await harness(engine, { sessionTtlMs: 60_000, clock: () => clock });
    const c = await signedIn(h);
    expect((await c.get('/api/v1/connections')).status).toBe(200);
    await new AccessService(h.t.store).setPassword('admin', 'a new password');
    expect((await c.get('/api/v1/connections')).status).toBe(401);
    expect((await c.login('admin', 'a new password')).status).toBe(200);
    expect((await c.get('/api/v1/connections')).status).toBe(200);
    const signedInAt = clock;
    clock = signedInAt + 59_999;
    expect((await c.get('/api/v1/connections')).status).toBe(200);
    clock = signedInAt + 60_000;
    const expired = await c.get('/api/v1/connections');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('SESSION_EXPIRED');
  });
});

describe('access rules', () => {
  it('every /api route refuses an anonymous request, a bogus cookie and a bogus token (401); unknown paths are 404', async () => {
    const h = await harness('sqlite');
    const routes = h.server.routes.filter((r) => !r.public);
    expect(routes.length).toBeGreaterThanOrEqual(17);
    expect(h.server.routes.filter((r) => r.public).map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/v1/session',
    ]);
    const anonymous = new Client(h.url);
    const badCookie = new Client(h.url);
    badCookie.cookie = 'orgsync_session=forged';
    const badToken = new Client(h.url);
    badToken.bearer = 'osk_forged';
    for (const route of routes) {
      const url = route.url.replace(':name', 'acme').replace(':id', '1');
      for (const client of [anonymous, badCookie, badToken]) {
        const answer = await client.request(route.method, url, route.method === 'GET' ? undefined : {});
        expect(answer.status, `${route.method} ${route.url}`).toBe(401);
        expect(answer.body.error.code).toMatch(/^(UNAUTHENTICATED|SESSION_EXPIRED|INVALID_TOKEN)$/);
      }
    }
    expect((await anonymous.get('/api/v1/no-such-thing')).status).toBe(404);
    expect((await anonymous.get('/api')).status).toBe(404);
    const health = await anonymous.get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
  });

  it('sign-in is limited per (username, address) with growing waits, and per address over every name: 429 with Retry-After', async () => {
    const limits = {
      perUser: { freeFailures: 3 },
      perAddress: { freeFailures: 6 },
      baseDelayMs: 60_000,
      maxDelayMs: 600_000,
      forgetAfterMs: 24 * 3600_000,
    };
    const h = await harness('sqlite', { loginLimits: limits });
    const password = h.server.admin?.password as string;
    const c = new Client(h.url);
    for (let i = 0; i < 3; i++) expect((await c.login('admin', 'wrong password')).status).toBe(401);
    // The third failure started a 60 s wait: even the right password is not checked meanwhile.
    const limited = await c.login('admin', password);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/try again in \d+ s \(after \d\d:\d\d:\d\d UTC\)/),
      hint: expect.stringContaining('set-password'),
    });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(limited.body.error.message).toContain(`try again in ${limited.headers.get('retry-after')} s`);
    expect(limited.headers.get('set-cookie')).toBeNull();
    // Another username is not held back by admin's failures...
    expect((await c.login('ops', 'wrong password')).status).toBe(401);
    // ...but this address's failures over every name (3 + 1 + 2 = 6) start a wait for any name from it.
    for (let i = 0; i < 2; i++) expect((await c.login(`user${i}`, 'wrong password')).status).toBe(401);
    const blocked = await c.login('someone', 'wrong password');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // The counts are in the store, where every instance reads them.
    const rows = await h.t.store.access.getLoginAttempts([
      { username: 'admin', ip: '127.0.0.1' },
      { username: '', ip: '127.0.0.1' },
    ]);
    expect(rows.map((r) => [r.username, r.failures]).sort()).toEqual([
      ['', 6],
      ['admin', 3],
    ]);
  });

  it('takes the first password from ORGSYNC_ADMIN_PASSWORD without printing it; Secure cookies behind an https public URL', async () => {
    const password = 'from the environment 42';
    const h = await harness('sqlite', { adminPassword: password, publicUrl: 'https://orgsync.example.com' });
    expect(h.server.admin).toBeUndefined();
    expect(h.logs.some((l) => l.includes(password))).toBe(false);
    expect(h.logs.some((l) => l.includes('ORGSYNC_ADMIN_PASSWORD'))).toBe(true);
    const ok = await new Client(h.url).login('admin', password);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('set-cookie')).toContain('Secure');
  });

  it('configuration errors name the variable (and never repeat a password)', () => {
    const fails = (env: Record<string, string>) => {
      try {
        loadServerConfig({ ORGSYNC_DATA_DIR: '.bench-data/x', ...env });
      } catch (err) {
        return err as { code: string; message: string; hint: string };
      }
      throw new Error('expected a configuration error');
    };
    expect(fails({ ORGSYNC_PORT: 'eighty' })).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('ORGSYNC_PORT'),
    });
    expect(fails({ ORGSYNC_PORT: '70000' }).message).toContain('ORGSYNC_PORT');
    expect(fails({ ORGSYNC_PUBLIC_URL: 'ftp://example.com' }).message).toContain('ORGSYNC_PUBLIC_URL');
    expect(fails({ ORGSYNC_HOST: 'a b' }).message).toContain('ORGSYNC_HOST');
    expect(fails({ ORGSYNC_LOG_LEVEL: 'loud' }).message).toContain('ORGSYNC_LOG_LEVEL');
    expect(fails({ ORGSYNC_TRUST_PROXY: 'maybe' }).message).toContain('ORGSYNC_TRUST_PROXY');
    // Trusting every hop would let a client choose the address its sign-ins are counted under.
    expect(fails({ ORGSYNC_TRUST_PROXY: 'true' })).toMatchObject({
      message: expect.stringContaining('ORGSYNC_TRUST_PROXY'),
      hint: expect.stringContaining('number of proxies'),
    });
    expect(loadServerConfig({ ORGSYNC_DATA_DIR: '.bench-data/x', ORGSYNC_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(fails({ ORGSYNC_DATABASE_URL: 'mysql://x' }).message).toContain('ORGSYNC_DATABASE_URL');
    const short = fails({ ORGSYNC_ADMIN_PASSWORD: 'abc' });
    expect(short.message).toContain('ORGSYNC_ADMIN_PASSWORD');
    expect(short.message).not.toContain('abc');
    const ok = loadServerConfig({
      ORGSYNC_DATA_DIR: '.bench-data/x',
      ORGSYNC_PORT: '9000',
      ORGSYNC_PUBLIC_URL: 'https://orgsync.example.com/',
    });
    expect(ok).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      publicUrl: 'https://orgsync.example.com',
      trustProxy: false,
      logLevel: 'info',
    });
    expect(loadServerConfig({}).port).toBe(8080);
  });
});
