import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { clientKey, DEFAULT_LOGIN_LIMITS, loginDelayMs } from '../../src/server/auth/access.js';
import {
  FIRST_PASSWORD_FILE,
  startServer,
  type RunningServer,
  type StartServerOptions,
} from '../../src/server/start.js';
import { ENGINES, openTestStore, type Engine, type TestStore } from '../helpers/stores.js';
import { Client } from '../server/harness.js';

/**
 * Sign-in limits and the first admin password, against real servers over HTTP: an attacker at one address cannot
 * lock the admin out at another, every instance on one database sees the same counts, `admin set-password` clears
 * them, X-Forwarded-For is believed for exactly the hops configured, and no password reaches the log.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const FROZEN = Date.parse('2026-12-07T12:00:00Z');

interface Started {
  server: RunningServer;
  logs: string[];
  /** What the server wrote for a person to read (stderr of `orgsync serve`). */
  terminal: string[];
}

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function database(engine: Engine): Promise<TestStore> {
  const t = await openTestStore(engine);
  cleanups.push(() => t.cleanup());
  return t;
}

/** `orgsync serve` in this process: a store of its own on the database, the first password to the "terminal". */
async function serve(
  t: TestStore,
  env: Record<string, string> = {},
  options: Partial<StartServerOptions> & { tty?: boolean } = {},
): Promise<Started> {
  const logs: string[] = [];
  const terminal: string[] = [];
  const server = await startServer({
    // One master key per database, as every instance on it would have.
    env: {
      ORGSYNC_DATA_DIR: t.dataDir,
      ORGSYNC_MASTER_KEY: createHash('sha256').update(t.dataDir).digest('base64'),
      ...env,
    },
    store: await t.reopen(),
    dataDir: t.dataDir,
    port: 0,
    consoleDir: path.join(t.dataDir, 'no-console'),
    logStream: { write: (line) => void logs.push(line) },
    // A clock that stands still unless a test moves it: the waits are exact, whatever this machine's speed.
    clock: () => FROZEN,
    firstPassword: 'terminal',
    stderr: { write: (text: string) => terminal.push(text), isTTY: options.tty === true },
    ...options,
  });
  cleanups.push(() => server.close());
  return { server, logs, terminal };
}

/** The generated password from the 0600 file whose path the server printed. */
function passwordFile(started: Started): { file: string; password: string } {
  const file = /its password is in (\S+) \(/.exec(started.terminal.join(''))?.[1];
  if (!file) throw new Error(`no password file was printed: ${started.terminal.join('')}`);
  return { file, password: readFileSync(file, 'utf8').trim() };
}

function from(url: string, address: string): Client & { as: string } {
  const c = new Client(url) as Client & { as: string };
  c.as = address;
  const request = c.request.bind(c);
  c.request = (method, pathname, body, options = {}) =>
    request(method, pathname, body, {
      ...options,
      headers: { 'x-forwarded-for': address, ...(options.headers ?? {}) },
    });
  return c;
}

describe('the back-off', () => {
  it('is free up to 5 failures, then waits 1 s doubling per failure up to 15 minutes', () => {
    const waits = Array.from({ length: 18 }, (_, i) =>
      loginDelayMs(i + 1, DEFAULT_LOGIN_LIMITS.perUser.freeFailures, DEFAULT_LOGIN_LIMITS),
    );
    expect(waits).toEqual([
      0, 0, 0, 0, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 900_000, 900_000, 900_000,
      900_000,
    ]);
    expect(loginDelayMs(1_000_000, 5, DEFAULT_LOGIN_LIMITS)).toBe(900_000);
  });

  it('counts IPv4 as it is (also mapped into IPv6) and IPv6 by its /64 network', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2::5')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('2001:db8:1:3::5')).not.toBe(clientKey('2001:db8:1:2::5'));
  });
});

describe.each(ENGINES)('sign-in limits (%s)', (engine) => {
  it('1,000 wrong passwords for admin from one address, then the right one from another: signed in; the attacker waits', async () => {
    const t = await database(engine);
    let now = FROZEN;
    const started = await serve(t, { ORGSYNC_TRUST_PROXY: '1' }, { clock: () => now });
    const { password } = passwordFile(started);
    const attacker = from(started.server.url, '203.0.113.7');

    const statuses: number[] = [];
    for (let batch = 0; batch < 1000; batch += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => attacker.login('admin', `wrong password ${batch + i}`)),
      );
      statuses.push(...answers.map((a) => a.status));
    }
    // 5 checked (each costs a password hash), the other 995 refused before any hash: attempts sent at once included.
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(995);

    const admin = from(started.server.url, '198.51.100.9');
    const signedIn = await admin.login('admin', password);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.username).toBe('admin');

    const refused = await attacker.login('admin', password);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'too many failed sign-ins for this username from this address; try again in 1 s (after 12:00:01 UTC)',
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('set-cookie')).toBeNull();

    // Each further failure doubles the wait: 2 s, 4 s, ... up to 15 minutes.
    const waits: string[] = [];
    for (let i = 0; i < 12; i++) {
      now += Number((await attacker.login('admin', 'wrong')).headers.get('retry-after') ?? 0) * 1000;
      expect((await attacker.login('admin', 'wrong again')).status).toBe(401);
      waits.push((await attacker.login('admin', password)).headers.get('retry-after') as string);
    }
    expect(waits).toEqual(['2', '4', '8', '16', '32', '64', '128', '256', '512', '900', '900', '900']);
    // The wait over, the right password from the attacking address works too, and clears its count.
    now += 900_000;
    expect((await attacker.login('admin', password)).status).toBe(200);
    expect(await t.store.access.getLoginAttempts([{ username: 'admin', ip: '203.0.113.7' }])).toEqual([]);

    // Neither the right password nor any wrong one is in the log.
    const log = started.logs.join('\n');
    expect(log).not.toContain(password);
    expect(log).not.toContain('wrong password');
    expect(log).toContain('sign-in refused: too many failed attempts');
  }, 120_000);

  it('two servers on one database share the counts; admin set-password clears them', async () => {
    const t = await database(engine);
    const a = await serve(t, { ORGSYNC_TRUST_PROXY: '1' });
    const b = await serve(t, { ORGSYNC_TRUST_PROXY: '1' });
    expect(b.server.admin).toBeUndefined();
    const { password } = passwordFile(a);

    const onA = from(a.server.url, '203.0.113.7');
    const onB = from(b.server.url, '203.0.113.7');
    for (let i = 0; i < 3; i++) expect((await onA.login('admin', 'wrong password')).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await onB.login('admin', 'wrong password')).status).toBe(401);
    // The fifth failure, counted across both, started the wait on both.
    expect((await onA.login('admin', password)).status).toBe(429);
    expect((await onB.login('admin', password)).status).toBe(429);
    expect((await from(b.server.url, '198.51.100.9').login('admin', password)).status).toBe(200);

    // `orgsync admin set-password` (SQLite: the built CLI on the same data directory; PostgreSQL: the same code,
    // AccessService.setPassword, on a store of its own) clears every count of that username.
    if (engine === 'sqlite') {
      const child = promisify(execFile)(
        process.execPath,
        [BIN, '--data-dir', t.dataDir, 'admin', 'set-password', '--password-stdin'],
        {
          cwd: ROOT,
          env: { ...process.env, ORGSYNC_DATABASE_URL: '', ORGSYNC_MASTER_KEY: '' },
        },
      );
      child.child.stdin?.end('a new admin password\n');
      const { stdout } = await child;
      expect(stdout).toContain('cleared its sign-in limits');
    } else {
      const { AccessService } = await import('../../src/server/auth/access.js');
      expect(
        (await new AccessService(await t.reopen()).setPassword('admin', 'a new admin password')).limitsCleared,
      ).toBeGreaterThan(0);
    }
    const again = await onB.login('admin', 'a new admin password');
    expect(again.status).toBe(200);
    // A password set by the operator is not forced to change.
    expect(again.body.mustChangePassword).toBe(false);
    expect(await t.store.access.getLoginAttempts([{ username: 'admin', ip: '203.0.113.7' }])).toEqual([]);
  }, 60_000);
});

describe('client addresses', () => {
  it('X-Forwarded-For is ignored without ORGSYNC_TRUST_PROXY: every attempt counts under the connecting address', async () => {
    const t = await database('sqlite');
    const started = await serve(t, {});
    const { password } = passwordFile(started);
    for (let i = 0; i < 5; i++)
      expect((await from(started.server.url, `198.51.100.${i}`).login('admin', 'wrong password')).status).toBe(401);
    expect((await from(started.server.url, '198.51.100.200').login('admin', password)).status).toBe(429);
    const rows = await t.store.access.getLoginAttempts([{ username: 'admin', ip: '127.0.0.1' }]);
    expect(rows.map((r) => r.failures)).toEqual([5]);
  });

  it.each([
    ['1', '3.3.3.3'],
    ['2', '2.2.2.2'],
    ['3', '1.1.1.1'],
  ])(
    'with ORGSYNC_TRUST_PROXY=%s the client is the entry that many hops from the right (%s)',
    async (hops, expected) => {
      const t = await database('sqlite');
      const started = await serve(t, { ORGSYNC_TRUST_PROXY: hops });
      // What a client sent (1.1.1.1), then what two proxies appended.
      const c = from(started.server.url, '1.1.1.1, 2.2.2.2, 3.3.3.3');
      expect((await c.login('admin', 'wrong password')).status).toBe(401);
      const all = await t.store.access.getLoginAttempts(
        ['1.1.1.1', '2.2.2.2', '3.3.3.3', '127.0.0.1'].map((ip) => ({ username: 'admin', ip })),
      );
      expect(all.map((r) => r.ip)).toEqual([expected]);
    },
  );

  it('an IPv6 client is counted by its /64: a fresh address in the same network does not start over', async () => {
    const t = await database('sqlite');
    const started = await serve(t, { ORGSYNC_TRUST_PROXY: '1' });
    const { password } = passwordFile(started);
    for (let i = 1; i <= 5; i++)
      expect((await from(started.server.url, `2001:db8:1:2::${i}`).login('admin', 'wrong password')).status).toBe(401);
    expect((await from(started.server.url, '2001:db8:1:2:ffff::9').login('admin', password)).status).toBe(429);
    expect((await from(started.server.url, '2001:db8:1:3::1').login('admin', password)).status).toBe(200);
  });
});

describe('the first admin password', () => {
  it('without a terminal: written to a 0600 file in the data directory, only its path printed, never logged; removed once changed', async () => {
    const t = await database('sqlite');
    const started = await serve(t);
    const { file, password } = passwordFile(started);
    expect(path.dirname(file)).toBe(t.dataDir);
    expect(path.basename(file)).toBe(FIRST_PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(started.terminal.join('')).not.toContain(password);
    expect(started.logs.join('\n')).not.toContain(password);
    expect(started.logs.some((l) => l.includes(file))).toBe(true);

    const c = new Client(started.server.url);
    const other = new Client(started.server.url);
    expect((await c.login('admin', password)).body.mustChangePassword).toBe(true);
    await other.login('admin', password);
    expect((await c.get('/api/v1/session')).body).toMatchObject({
      user: { username: 'admin' },
      mustChangePassword: true,
    });

    // Every route but the session, signing out and the change refuses while the flag is set.
    const allowed = new Set([
      'GET /api/v1/session',
      'DELETE /api/v1/session',
      'POST /api/v1/session/password',
      'POST /api/v1/session',
    ]);
    const gated = started.server.routes.filter((r) => !allowed.has(`${r.method} ${r.url}`));
    expect(gated.length).toBeGreaterThan(10);
    for (const route of gated) {
      const answer = await c.request(
        route.method,
        route.url.replace(':name', 'acme').replace(':id', '1'),
        route.method === 'GET' ? undefined : {},
      );
      expect(answer.status, `${route.method} ${route.url}`).toBe(403);
      expect(answer.body.error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    }
    // An API token belongs to no admin: not held back.
    const { AccessService } = await import('../../src/server/auth/access.js');
    const bot = new Client(started.server.url);
    bot.bearer = (await new AccessService(t.store).createToken('ci')).token;
    expect((await bot.get('/api/v1/connections')).status).toBe(200);

    const change = (currentPassword: string, newPassword: string) =>
      c.request('POST', '/api/v1/session/password', { currentPassword, newPassword });
    expect(
      (
        await c.request(
          'POST',
          '/api/v1/session/password',
          { currentPassword: password, newPassword: 'another one 42' },
          { csrf: null },
        )
      ).status,
    ).toBe(403);
    const wrong = await change('not it', 'another one 42');
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: 'INVALID_INPUT', field: 'currentPassword' });
    const short = await change(password, 'short');
    expect(short.status).toBe(400);
    expect(short.body.error).toMatchObject({ field: 'newPassword', message: expect.stringContaining('at least 8') });
    expect((await change(password, password)).body.error).toMatchObject({
      field: 'newPassword',
      message: expect.stringContaining('current password'),
    });
    expect((await change(password, 'another one 42')).status).toBe(204);

    expect((await c.get('/api/v1/session')).body.mustChangePassword).toBe(false);
    expect((await c.get('/api/v1/connections')).status).toBe(200);
    const docs = (await c.get('/api/docs')).body.paths['/api/v1/session/password'].post;
    expect(Object.keys(docs.requestBody.content['application/json'].schema.properties)).toEqual([
      'currentPassword',
      'newPassword',
    ]);
    // The other session of that admin ended; the old password is gone.
    expect((await other.get('/api/v1/session')).status).toBe(401);
    expect((await new Client(started.server.url).login('admin', password)).status).toBe(401);
    expect(started.logs.join('\n')).not.toContain('another one 42');

    // The next start finds the generated password replaced and removes its file.
    const next = await serve(t);
    expect(next.server.admin).toBeUndefined();
    expect(existsSync(file)).toBe(false);
  });

  it('on a terminal: printed once there, no file, nothing in the log', async () => {
    const t = await database('sqlite');
    const started = await serve(t, {}, { tty: true });
    const password = started.server.admin?.password as string;
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(started.terminal.join('').split(password)).toHaveLength(2);
    expect(existsSync(path.join(t.dataDir, FIRST_PASSWORD_FILE))).toBe(false);
    expect(started.logs.join('\n')).not.toContain(password);
    expect((await new Client(started.server.url).login('admin', password)).body.mustChangePassword).toBe(true);
  });

  it('a password from ORGSYNC_ADMIN_PASSWORD is not forced to change and is printed nowhere', async () => {
    const t = await database('sqlite');
    const chosen = 'chosen by the operator';
    const started = await serve(t, { ORGSYNC_ADMIN_PASSWORD: chosen });
    expect(started.server.admin).toBeUndefined();
    expect(started.terminal).toEqual([]);
    expect(started.logs.join('\n')).not.toContain(chosen);
    const c = new Client(started.server.url);
    expect((await c.login('admin', chosen)).body.mustChangePassword).toBe(false);
    expect((await c.get('/api/v1/connections')).status).toBe(200);
  });

  it('a wrong current password counts like a failed sign-in: a stolen session cannot guess it', async () => {
    const t = await database('sqlite');
    const started = await serve(t, {});
    const { password } = passwordFile(started);
    const c = new Client(started.server.url);
    await c.login('admin', password);
    for (let i = 0; i < 5; i++)
      expect(
        (
          await c.request('POST', '/api/v1/session/password', {
            currentPassword: `guess ${i}`,
            newPassword: 'another one 42',
          })
        ).status,
      ).toBe(400);
    const limited = await c.request('POST', '/api/v1/session/password', {
      currentPassword: password,
      newPassword: 'another one 42',
    });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
