import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredRoute } from '../../src/server/app.js';
import { AccessService } from '../../src/server/auth/access.js';
import { registerAuth } from '../../src/server/auth/hook.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { tempDir } from '../helpers/stores.js';
import { type Client, signedIn, startHarness, until, type Harness } from '../server/harness.js';

/**
 * Access is decided by the route fastify matched, never by the URL text. Against the real server over real HTTP, every
 * route the app registered (the list comes from the app, so a route added later is walked too) is asked with every
 * method under many spellings of its path, sent byte for byte as written (node:http does not normalise paths):
 * anonymous callers get 401 or 404 and change nothing; a session cookie without the CSRF header is refused on every
 * state-changing route; the public routes are exactly the ones listed here; every answer carries the security headers.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FOREIGN_ORIGIN = 'https://attacker.example';
/** The console's built files in this test's console directory (names as Vite makes them). */
const CONSOLE_FILES = ['/index.html', '/assets/index-C0ns0le1.js', '/assets/index-St7le5x2.css'];

/**
 * The routes anyone may call. A route made public must be added here on purpose, or this test fails.
 */
const EXPECTED_PUBLIC = [
  'POST /api/v1/session',
  ...['/healthz', '/callbacks/:connection'].flatMap((p) => [`GET ${p}`, `HEAD ${p}`]),
  'POST /callbacks/:connection',
  ...['/', '/org', '/settings', '/runs', '/runs/:id(^\\d+$)', ...CONSOLE_FILES].flatMap((p) => [
    `GET ${p}`,
    `HEAD ${p}`,
  ]),
].sort();

/** Each directive the console needs and no more; a weaker policy fails here. */
const EXPECTED_CSP: Record<string, string> = {
  'default-src': "'self'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' data:",
  'connect-src': "'self'",
  'frame-ancestors': "'none'",
  'base-uri': "'none'",
  'form-action': "'self'",
  'object-src': "'none'",
};

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/** One request with the path exactly as given. */
function send(
  base: string,
  method: string,
  pathText: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Raw> {
  const url = new URL(base);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method,
        path: pathText,
        headers: {
          accept: 'application/json',
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs the jobs with a few in flight (the server sees concurrent requests, the machine is not flooded). */
async function pool<T>(jobs: (() => Promise<T>)[], width = 8): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

const pct = (c: string): string => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;

/** Ways to write the same path that a check on the URL text could misread (at least 8; here 20). */
function spellings(p: string): string[] {
  const segs = p.split('/').slice(1);
  const [first = '', ...rest] = segs;
  const tail = rest.join('/');
  const out = [
    p,
    // percent-encoded letters: the first of every segment, then the whole first segment (upper- and lower-case hex)
    `/${segs.map((s) => (/^[A-Za-z]/.test(s) ? pct(s[0] as string) + s.slice(1) : s)).join('/')}`,
    `/${[...first].map(pct).join('')}${tail ? `/${tail}` : ''}`,
    `/${[...first].map((c) => pct(c).toLowerCase()).join('')}${tail ? `/${tail}` : ''}`,
    // an encoded slash
    tail ? `/${first}%2F${tail}` : `/${first}%2F`,
    tail ? `/${first}%2f${tail}` : `%2F${first}`,
    // doubled slashes
    `/${p}`,
    tail ? `/${first}//${tail}` : `/${first}//`,
    // dot segments
    `/.${p}`,
    tail ? `/${first}/./${tail}` : `/${first}/.`,
    `/${first}/../${segs.join('/')}`,
    `/x/../${segs.join('/')}`,
    `/${first}/%2e%2e/${segs.join('/')}`,
    // trailing slash, case, parameters, a backslash, a NUL
    `${p}/`,
    p.toUpperCase(),
    `/${first.toUpperCase()}${tail ? `/${tail}` : ''}`,
    `${p};x=1`,
    `/${first};x=1${tail ? `/${tail}` : ''}`,
    tail ? `/${first}\\${tail}` : `\\${first}`,
    `${p}%00`,
  ];
  return [...new Set(out)];
}

function parseCsp(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values.join(' '));
  }
  return out;
}

/** What is wrong with an answer's headers ('' when nothing). */
function headerProblems(answer: Raw, https: boolean): string[] {
  const problems: string[] = [];
  const csp = answer.headers['content-security-policy'];
  if (typeof csp !== 'string') problems.push('no content-security-policy');
  else {
    const directives = parseCsp(csp);
    for (const [name, value] of Object.entries(EXPECTED_CSP))
      if (directives.get(name) !== value) problems.push(`csp ${name} is ${directives.get(name)}`);
    if (/unsafe-|\*/.test(csp)) problems.push(`csp allows too much: ${csp}`);
  }
  if (answer.headers['x-content-type-options'] !== 'nosniff') problems.push('no x-content-type-options: nosniff');
  if (
    !['no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin'].includes(
      String(answer.headers['referrer-policy']),
    )
  )
    problems.push(`referrer-policy ${answer.headers['referrer-policy']}`);
  if (answer.headers['x-frame-options'] !== 'DENY') problems.push('no x-frame-options: DENY');
  const hsts = answer.headers['strict-transport-security'];
  if (https) {
    const age = Number(/max-age=(\d+)/.exec(String(hsts))?.[1] ?? 0);
    if (age < 180 * 86400) problems.push(`strict-transport-security ${hsts}`);
  } else if (hsts !== undefined) problems.push(`strict-transport-security over http: ${hsts}`);
  return problems;
}

let sim: WecomSimulator;
let simUrl: string;
let consoleDir: string;
let h: Harness;
let admin: Client;
/** The values a route's :params are filled with: things that exist, so a request let through would act on them. */
let ids: { run: number; department: number; user: number };

/** A route's path with its :params filled in. */
function fill(url: string): string {
  return url
    .replace(/\(.*?\$\)/g, '')
    .replace(/\/runs\/:id/, `/runs/${ids.run}`)
    .replace(/\/departments\/:id/, `/departments/${ids.department}`)
    .replace(/\/users\/:id/, `/users/${ids.user}`)
    .replace(/:(name|connection)\b/g, 'acme')
    .replace(/:\w+/g, '1');
}

const intruder = () => ({
  platform: 'wecom',
  name: 'intruder',
  settings: { corpId: sim.identity.corpId, agentId: String(sim.identity.agentId), apiBaseUrl: simUrl },
  secrets: { secret: sim.identity.secret },
});

/** A body that the route would accept from a signed-in caller, so a refusal is what keeps it from acting. */
function bodyFor(method: string, url: string): unknown {
  if (!MUTATING.has(method)) return undefined;
  const known: Record<string, unknown> = {
    'POST /api/v1/connections': intruder(),
    'PATCH /api/v1/connections/:name': { syncEnabled: false },
    'POST /api/v1/connection-tests': { platform: 'wecom', settings: intruder().settings, secrets: intruder().secrets },
  };
  return known[`${method} ${url}`] ?? {};
}

/** Everything a request let through could have changed. */
async function state(): Promise<unknown> {
  const connections = await admin.get('/api/v1/connections');
  const runs = await admin.get('/api/v1/runs?limit=200');
  expect(connections.status).toBe(200);
  expect(runs.status).toBe(200);
  return {
    connections: connections.body,
    runs: runs.body.items.map((r: { id: number; status: string }) => `${r.id} ${r.status}`),
    revision: await h.t.store.directory.revision(),
    session: (await admin.get('/api/v1/session')).status,
    // An import file kept from a request that was refused would be a change too.
    uploads: existsSync(path.join(h.dataDir, 'uploads')) ? readdirSync(path.join(h.dataDir, 'uploads')) : [],
  };
}

const routeKey = (r: RegisteredRoute): string => `${r.method} ${r.url}`;

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 15, departments: 8, users: 30 });
  simUrl = await sim.listen(0);
  consoleDir = tempDir('orgsync-console-');
  mkdirSync(path.join(consoleDir, 'assets'), { recursive: true });
  for (const file of CONSOLE_FILES)
    writeFileSync(
      path.join(consoleDir, file),
      file.endsWith('.html') ? '<!doctype html><title>orgsync console</title>' : '/* console */',
    );
  h = await startHarness('sqlite', { consoleDir });
  admin = await signedIn(h);

  const created = await admin.request('POST', '/api/v1/connections', {
    platform: 'wecom',
    name: 'acme',
    settings: { corpId: sim.identity.corpId, agentId: String(sim.identity.agentId), apiBaseUrl: simUrl },
    secrets: { secret: sim.identity.secret },
    syncEnabled: true,
  });
  expect(created.status).toBe(201);
  const finished = async (runId: number): Promise<string> =>
    until(`run ${runId}`, async () => {
      const run = await admin.get(`/api/v1/runs/${runId}`);
      return run.body.status !== 'running' && run.body.progress === undefined ? (run.body.status as string) : undefined;
    });
  const synced = await admin.request('POST', '/api/v1/connections/acme/sync', {});
  expect(synced.status).toBe(202);
  expect(await finished(synced.body.runId)).toBe('succeeded');
  // A planned (dry-run) run with a change in it: approving it would apply the change.
  sim.corp.apply({
    op: 'createUser',
    user: { userid: 'newcomer', name: 'Newcomer', department: [1], email: 'newcomer@example.com' },
  });
  const planned = await admin.request('POST', '/api/v1/connections/acme/sync', { dryRun: true });
  expect(planned.status).toBe(202);
  expect(await finished(planned.body.runId)).toBe('planned');
  const departments = await admin.get('/api/v1/directory/departments');
  const department = departments.body.items.find((d: { memberCount: number }) => d.memberCount > 0);
  const members = await admin.get(`/api/v1/directory/departments/${department.id}/members`);
  ids = { run: planned.body.runId, department: department.id, user: members.body.items[0].id };
}, 60_000);

afterAll(async () => {
  await h?.close();
  await sim?.close();
  agent.destroy();
  rmSync(consoleDir, { recursive: true, force: true });
});

describe('access from the route table', () => {
  it('the public routes are exactly the expected ones; every other route requires admin', async () => {
    const registered = h.server.registered;
    const publicRoutes = registered
      .filter((r) => r.access.public)
      .map(routeKey)
      .sort();
    expect(publicRoutes).toEqual(EXPECTED_PUBLIC);
    // Every API route of the route table is among the registered ones, with the access it declares.
    for (const r of h.server.routes) {
      expect(registered.find((x) => x.method === r.method && x.url === r.url)?.access, `${r.method} ${r.url}`).toEqual(
        r.public ? { public: true } : { public: false, role: 'admin' },
      );
    }
    expect(registered.filter((r) => !r.access.public).length).toBeGreaterThan(
      h.server.routes.filter((r) => !r.public).length,
    );

    // Anyone reaches the public ones (a callback without a configured secret is 404, not 401).
    for (const r of registered.filter((x) => x.access.public && x.method !== 'POST')) {
      const answer = await send(h.url, r.method, fill(r.url));
      expect([200, 404], routeKey(r)).toContain(answer.status);
      if (r.url !== '/callbacks/:connection') expect(answer.status, routeKey(r)).toBe(200);
      expect(headerProblems(answer, false), routeKey(r)).toEqual([]);
    }
  });

  it('a route registered without a declaration requires admin (fail closed)', async () => {
    const app = Fastify();
    await app.register(fastifyCookie);
    registerAuth(app, new AccessService(h.t.store));
    app.get('/undeclared', async () => ({ reached: true }));
    app.post('/undeclared', async () => ({ reached: true }));
    app.get('/declared-public', { config: { public: true } }, async () => ({ reached: true }));
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      expect((await send(base, 'GET', '/undeclared')).status).toBe(401);
      expect((await send(base, 'GET', '/%75ndeclared')).status).toBe(401);
      expect((await send(base, 'GET', '/undeclared', { headers: { cookie: admin.cookie as string } })).status).toBe(
        200,
      );
      expect(
        (await send(base, 'POST', '/undeclared', { headers: { cookie: admin.cookie as string }, body: {} })).status,
      ).toBe(403);
      expect(
        (
          await send(base, 'POST', '/undeclared', {
            headers: { cookie: admin.cookie as string, 'x-csrf-token': admin.csrfToken as string },
            body: {},
          })
        ).status,
      ).toBe(200);
      expect((await send(base, 'GET', '/declared-public')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('anonymous: every non-public route × every method × 20 spellings of its path is 401 or 404, never 2xx, and nothing changes', async () => {
    const before = await state();
    const registered = h.server.registered;
    const isPublic = new Set(registered.filter((r) => r.access.public).map(routeKey));
    const urls = [...new Set(registered.filter((r) => !r.access.public).map((r) => r.url))];
    const jobs: (() => Promise<string | undefined>)[] = [];
    for (const url of urls) {
      const spelled = spellings(fill(url));
      expect(spelled.length).toBeGreaterThanOrEqual(8);
      for (const method of METHODS) {
        if (isPublic.has(`${method} ${url}`)) continue;
        const own = registered.some((r) => r.method === method && r.url === url);
        for (const [i, p] of spelled.entries()) {
          for (const headers of [
            {},
            { origin: FOREIGN_ORIGIN },
            { cookie: 'orgsync_session=forged' },
            { authorization: 'Bearer osk_forged' },
          ] as Record<string, string>[]) {
            jobs.push(async () => {
              const answer = await send(h.url, method, p, { headers, body: bodyFor(method, url) });
              const where = `${method} ${p} ${JSON.stringify(headers)}: ${answer.status}`;
              // The route's own spelling with its own method reaches it, and is refused for want of a sign-in.
              if (i === 0 && own && answer.status !== 401) return `${where}, expected 401`;
              if (answer.status !== 401 && answer.status !== 404) return `${where}, expected 401 or 404`;
              const problems = headerProblems(answer, false);
              return problems.length > 0 ? `${where}: ${problems.join(', ')}` : undefined;
            });
          }
        }
      }
    }
    expect(jobs.length).toBeGreaterThan(urls.length * METHODS.length * 8);
    const failures = (await pool(jobs)).filter((x) => x !== undefined);
    expect(failures).toEqual([]);
    expect(await state()).toEqual(before);
  }, 240_000);

  it('a session cookie without x-csrf-token gets 403 on every state-changing route (a foreign Origin too), and nothing changes', async () => {
    const before = await state();
    const mutating = h.server.registered.filter((r) => !r.access.public && MUTATING.has(r.method));
    expect(mutating.map(routeKey)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/connections',
        'PATCH /api/v1/connections/:name',
        'DELETE /api/v1/connections/:name',
        'POST /api/v1/connections/:name/sync',
        'POST /api/v1/runs/:id/approve',
        'DELETE /api/v1/session',
        'POST /api/v1/imports',
        'POST /api/v1/imports/:uploadId/preview',
        'POST /api/v1/imports/:uploadId/apply',
        'DELETE /api/v1/imports/:uploadId',
      ]),
    );
    const jobs: (() => Promise<string | undefined>)[] = [];
    for (const route of mutating) {
      for (const [i, p] of spellings(fill(route.url)).entries()) {
        for (const extra of [
          {},
          { origin: FOREIGN_ORIGIN },
          { origin: FOREIGN_ORIGIN, 'x-csrf-token': 'guessed' },
          { 'x-csrf-token': '' },
        ] as Record<string, string>[]) {
          jobs.push(async () => {
            const answer = await send(h.url, route.method, p, {
              headers: { cookie: admin.cookie as string, ...extra },
              body: bodyFor(route.method, route.url),
            });
            const where = `${route.method} ${p} ${JSON.stringify(extra)}: ${answer.status}`;
            if (i === 0 && (answer.status !== 403 || JSON.parse(answer.body).error.code !== 'CSRF_TOKEN_INVALID'))
              return `${where}, expected 403 CSRF_TOKEN_INVALID`;
            if (answer.status !== 403 && answer.status !== 404) return `${where}, expected 403 or 404`;
            const problems = headerProblems(answer, false);
            return problems.length > 0 ? `${where}: ${problems.join(', ')}` : undefined;
          });
        }
      }
    }
    const failures = (await pool(jobs)).filter((x) => x !== undefined);
    expect(failures).toEqual([]);
    expect(await state()).toEqual(before);

    // The same requests with the session's token do act: the refusals above were the CSRF check, not a bad body.
    const created = await admin.request('POST', '/api/v1/connections', bodyFor('POST', '/api/v1/connections'));
    expect(created.status).toBe(201);
    expect((await admin.request('DELETE', '/api/v1/connections/intruder')).status).toBe(204);
  }, 120_000);

  it('every answer carries the security headers; Strict-Transport-Security only behind https', async () => {
    const samples: [string, string][] = [
      ['GET', '/healthz'],
      ['GET', '/'],
      ['GET', '/assets/index-C0ns0le1.js'],
      ['GET', '/api/v1/connections'],
      ['POST', '/api/v1/session'],
      ['GET', '/no/such/page'],
      ['GET', '/%'],
      ['POST', '/callbacks/acme'],
    ];
    const check = async (base: string, https: boolean, headers: Record<string, string> = {}): Promise<string[]> => {
      const out: string[] = [];
      for (const [method, p] of samples) {
        const answer = await send(base, method, p, { headers, body: method === 'POST' ? {} : undefined });
        for (const problem of headerProblems(answer, https)) out.push(`${method} ${p} (${answer.status}): ${problem}`);
      }
      return out;
    };
    expect(await check(h.url, false)).toEqual([]);
    // X-Forwarded-Proto is not believed without ORGSYNC_TRUST_PROXY.
    expect(await check(h.url, false, { 'x-forwarded-proto': 'https' })).toEqual([]);

    const behindHttps = await h.restart({ publicUrl: 'https://orgsync.example.com' });
    expect(await check(behindHttps.url, true)).toEqual([]);

    const dataDir = tempDir('orgsync-proxied-');
    let proxied: RunningServer | undefined;
    try {
      proxied = await startServer({
        env: {
          ORGSYNC_DATA_DIR: dataDir,
          ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
          ORGSYNC_TRUST_PROXY: '1',
        },
        host: '127.0.0.1',
        port: 0,
        consoleDir,
        adminPassword: 'proxied-admin-password',
        logStream: { write: () => {} },
      });
      expect(await check(proxied.url, true, { 'x-forwarded-proto': 'https' })).toEqual([]);
      expect(await check(proxied.url, false, { 'x-forwarded-proto': 'http' })).toEqual([]);
    } finally {
      await proxied?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
