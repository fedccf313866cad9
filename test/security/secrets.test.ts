import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/connections/connections.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { startServer } from '../../src/server/start.js';
import { tempDir } from '../helpers/stores.js';
import { signedIn, startHarness, until, type Client, type Harness } from '../server/harness.js';

/**
 * A stored secret goes only to the host it was saved with, and 测试连接 tells the truth: against a real server
 * (startServer over HTTP), the built CLI, the real simulators, and listeners that record every TCP connection.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');

/** An HTTP server on its own port that records every TCP connection and request it gets. */
interface Listener {
  url: string;
  port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

async function listener(
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}'),
  host = '127.0.0.1',
): Promise<Listener> {
  const server: Server = createHttpServer();
  const out: Listener = {
    url: '',
    port: 0,
    connections: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => void out.connections++);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    out.requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  out.port = (server.address() as AddressInfo).port;
  out.url = `http://127.0.0.1:${out.port}`;
  return out;
}

/** A raw TCP server: accepts, then drops the connection without a byte (a port that is open but no HTTP server). */
async function dropper(): Promise<{ url: string; close(): Promise<void> }> {
  const server: TcpServer = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const outputs: string[] = [];

function orgsync(env: Record<string, string>, args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        outputs.push(stdout, stderr);
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}

/** A non-loopback IPv4 address of this machine, if it has one (to reach a listener over the network). */
function externalIpv4(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

let wecom: WecomSimulator;
let ding: DingtalkSimulator;
let wecomUrl: string;
let dingUrl: string;
/** Receives nothing, ever: every test below tries to send it a stored secret. */
let nothing: Listener;
let h: Harness;
let c: Client;
const cliDirs: string[] = [];

const wecomBody = (name: string, apiBaseUrl: string) => ({
  platform: 'wecom',
  name,
  settings: { corpId: wecom.identity.corpId, agentId: wecom.identity.agentId, apiBaseUrl },
  secrets: { secret: wecom.identity.secret, contactsSecret: wecom.identity.contactsSecret },
  syncEnabled: true,
});

beforeAll(async () => {
  wecom = new WecomSimulator({ seed: 71, departments: 6, users: 30 });
  wecomUrl = await wecom.listen(0);
  ding = new DingtalkSimulator({ seed: 72, departments: 6, users: 30 });
  dingUrl = await ding.listen(0);
  nothing = await listener();
  h = await startHarness('sqlite');
  c = await signedIn(h);
  expect((await c.request('POST', '/api/v1/connections', wecomBody('wc', wecomUrl))).status).toBe(201);
  const dt = await c.request('POST', '/api/v1/connections', {
    platform: 'dingtalk',
    name: 'dt',
    settings: {
      corpId: ding.identity.corpId,
      agentId: ding.identity.agentId,
      clientId: ding.identity.clientId,
      apiBaseUrl: dingUrl,
    },
    secrets: { clientSecret: ding.identity.clientSecret },
  });
  expect(dt.status).toBe(201);
});

afterAll(async () => {
  // Whatever ran, the listener never saw a connection, and no output carried a secret.
  expect(nothing.connections).toBe(0);
  expect(nothing.requests).toEqual([]);
  await h?.close();
  await nothing?.close();
  await wecom?.close();
  await ding?.close();
  for (const d of cliDirs) rmSync(d, { recursive: true, force: true });
  const all = [...outputs, ...(c?.received ?? []), ...(h?.logs ?? [])].join('\n');
  for (const secret of [wecom.identity.secret, wecom.identity.contactsSecret, ding.identity.clientSecret])
    expect(all).not.toContain(secret.slice(0, 10));
});

describe('a stored secret goes only to the host it was saved with (API)', () => {
  it('test with a new apiBaseUrl, corpId or clientId and no secrets: 400 naming the secret, and nothing is sent', async () => {
    for (const [name, body, field] of [
      ['wc', { settings: { apiBaseUrl: nothing.url } }, 'secrets.secret'],
      ['wc', { settings: { apiBaseUrl: `${nothing.url}/` }, secrets: { secret: '' } }, 'secrets.secret'],
      // The app secret typed again is not enough: the contacts secret is stored too and would go along.
      [
        'wc',
        { settings: { apiBaseUrl: nothing.url }, secrets: { secret: 'TypedAgain0123456789abcdef' } },
        'secrets.contactsSecret',
      ],
      ['wc', { settings: { corpId: 'wwothercorp123' } }, 'secrets.secret'],
      ['dt', { settings: { apiBaseUrl: nothing.url } }, 'secrets.clientSecret'],
      ['dt', { settings: { clientId: 'another-app-key' } }, 'secrets.clientSecret'],
    ] as const) {
      const answer = await c.request('POST', `/api/v1/connections/${name}/test`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error).toMatchObject({
        code: 'INVALID_INPUT',
        field,
        message: expect.stringContaining('must be given again'),
        hint: expect.stringContaining('Nothing was sent'),
      });
    }
    expect(nothing.connections).toBe(0);
  });

  it('the same host spelled another way is no change: the test runs with the saved secrets', async () => {
    const upper = `${wecomUrl.replace('http://', 'HTTP://')}/`;
    const answer = await c.request('POST', '/api/v1/connections/wc/test', { settings: { apiBaseUrl: upper } });
    expect(answer.status).toBe(200);
    expect(answer.body.ok).toBe(true);
  });

  it('PATCH of apiBaseUrl without the secrets: 400 and the stored row is unchanged; with them, the change works', async () => {
    const before = await h.t.store.connections.get('wc');
    for (const body of [
      { settings: { apiBaseUrl: nothing.url } },
      { settings: { apiBaseUrl: nothing.url }, secrets: { secret: 'TypedAgain0123456789abcdef' } },
      { settings: { apiBaseUrl: nothing.url, agentId: 7 }, syncEnabled: false, policy: { guard: { maxUsers: 1 } } },
      { settings: { corpId: 'wwothercorp123' } },
    ]) {
      const answer = await c.request('PATCH', '/api/v1/connections/wc', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.field).toMatch(/^secrets\.(secret|contactsSecret)$/);
      expect(await h.t.store.connections.get('wc')).toStrictEqual(before);
    }

    // With every secret carried again (or removed), the change is made: a second connection, moved and moved back.
    const moved = await listener((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errcode: 40001, errmsg: 'invalid credential' }));
    });
    try {
      expect((await c.request('POST', '/api/v1/connections', wecomBody('wc2', wecomUrl))).status).toBe(201);
      const typed = 'TypedForTheNewHost0123456789';
      const ok = await c.request('PATCH', '/api/v1/connections/wc2', {
        settings: { apiBaseUrl: moved.url },
        secrets: { secret: typed, contactsSecret: null },
      });
      expect(ok.status).toBe(200);
      expect(ok.body.settings.apiBaseUrl).toBe(moved.url);
      expect((await c.request('POST', '/api/v1/connections/wc2/test')).body.ok).toBe(false);
      // The new host got the secret typed for it, never the one saved for the simulator.
      expect(moved.requests.length).toBeGreaterThan(0);
      for (const r of moved.requests) {
        expect(r).not.toContain(wecom.identity.secret);
        expect(r).not.toContain(wecom.identity.contactsSecret);
      }
      expect(moved.requests.some((r) => r.includes(`corpsecret=${typed}`))).toBe(true);
      // A test with the secrets typed again reaches a new host with them, and only them.
      const before2 = moved.requests.length;
      const retyped = await c.request('POST', '/api/v1/connections/wc/test', {
        settings: { apiBaseUrl: moved.url },
        secrets: { secret: typed, contactsSecret: null },
      });
      expect(retyped.status).toBe(200);
      expect(moved.requests.slice(before2).every((r) => !r.includes(wecom.identity.secret))).toBe(true);
      expect(moved.requests.length).toBeGreaterThan(before2);
    } finally {
      await moved.close();
      await c.request('DELETE', '/api/v1/connections/wc2');
    }
  });

  it('a sync goes to the saved host only', async () => {
    const started = await c.request('POST', '/api/v1/connections/wc/sync', {});
    expect(started.status).toBe(202);
    const run = await until('the sync to end', async () => {
      const r = await c.get(`/api/v1/runs/${started.body.runId}`);
      return r.body.status !== 'running' ? r.body : undefined;
    });
    expect(run.status).toBe('succeeded');
    expect(nothing.connections).toBe(0);
  });

  it('every route of the route table, given the listener as apiBaseUrl in its body and query: the listener gets nothing', async () => {
    const body = {
      ...wecomBody('sweep', nothing.url),
      secrets: {},
      settings: {
        corpId: wecom.identity.corpId,
        agentId: wecom.identity.agentId,
        apiBaseUrl: nothing.url,
        clientId: ding.identity.clientId,
      },
    };
    const routes = h.server.routes.filter((r) => !r.url.startsWith('/api/v1/session'));
    // Deletions last, so every other route still finds the connections.
    routes.sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    const statuses: string[] = [];
    const runIds: number[] = [];
    for (const route of routes) {
      for (const name of ['wc', 'dt']) {
        const url = `${route.url.replace(':name', name).replace(':id', '1')}?apiBaseUrl=${encodeURIComponent(nothing.url)}`;
        const answer = await c.request(
          route.method,
          url,
          route.method === 'GET' || route.method === 'DELETE' ? undefined : body,
        );
        statuses.push(`${route.method} ${route.url} ${answer.status}`);
        if (typeof answer.body?.runId === 'number') runIds.push(answer.body.runId);
      }
    }
    expect(statuses.length).toBeGreaterThanOrEqual(20);
    for (const id of runIds)
      await until(`run ${id} to end`, async () =>
        (await c.get(`/api/v1/runs/${id}`)).body.status !== 'running' ? true : undefined,
      );
    expect(nothing.connections, statuses.join('\n')).toBe(0);
    // Put the two connections back for the tests after this one.
    if ((await c.get('/api/v1/connections/wc')).status === 404)
      expect((await c.request('POST', '/api/v1/connections', wecomBody('wc', wecomUrl))).status).toBe(201);
    if ((await c.get('/api/v1/connections/dt')).status === 404) {
      const dt = await c.request('POST', '/api/v1/connections', {
        platform: 'dingtalk',
        name: 'dt',
        settings: {
          corpId: ding.identity.corpId,
          agentId: ding.identity.agentId,
          clientId: ding.identity.clientId,
          apiBaseUrl: dingUrl,
        },
        secrets: { clientSecret: ding.identity.clientSecret },
      });
      expect(dt.status).toBe(201);
    }
  });
});

describe('apiBaseUrl: https, or http to this machine or a host the operator lists', () => {
  const unsaved = (apiBaseUrl: string, secret = 'SomeTypedSecret0123456789') => ({
    platform: 'wecom',
    settings: { corpId: wecom.identity.corpId, agentId: wecom.identity.agentId, apiBaseUrl },
    secrets: { secret },
  });

  it.each([
    [
      'http to a host on the network',
      'http://192.0.2.10:8080',
      /plain http:\/\/ to 192\.0\.2\.10:8080.*ORGSYNC_ALLOWED_API_HOSTS/,
    ],
    ['http to a named host', 'http://wecom-proxy.internal', /plain http:\/\/ to wecom-proxy\.internal:80/],
    ['ftp', 'ftp://192.0.2.10/', /uses ftp, not https/],
    ['a file URL', 'file:///etc/passwd', /uses file, not https/],
    ['credentials in the URL', 'https://user:pw@qyapi.weixin.qq.com', /user name or password/],
    ['a query', 'https://qyapi.weixin.qq.com/?x=1', /query/],
    ['a fragment', 'https://qyapi.weixin.qq.com/#x', /fragment/],
    ['not a URL', 'qyapi.weixin.qq.com', /not a URL/],
  ])('%s is refused with 400 naming settings.apiBaseUrl, on every path', async (_label, url, message) => {
    const answers = [
      await c.request('POST', '/api/v1/connection-tests', unsaved(url)),
      await c.request('POST', '/api/v1/connections', { ...wecomBody('bad-url', url) }),
      await c.request('PATCH', '/api/v1/connections/wc', {
        settings: { apiBaseUrl: url },
        secrets: { secret: wecom.identity.secret, contactsSecret: wecom.identity.contactsSecret },
      }),
      await c.request('POST', '/api/v1/connections/wc/test', {
        settings: { apiBaseUrl: url },
        secrets: { secret: 'SomeTypedSecret0123456789', contactsSecret: null },
      }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body.error.field).toBe('settings.apiBaseUrl');
      expect(answer.body.error.message).toMatch(message);
      expect(answer.body.error.hint).toBeTruthy();
    }
    expect((await c.get('/api/v1/connections/bad-url')).status).toBe(404);
    expect((await c.get('/api/v1/connections/wc')).body.settings.apiBaseUrl).toBe(wecomUrl);
  });

  it('https reaches any host; http reaches loopback (127.0.0.0/8, localhost)', async () => {
    // Nothing answers on these, but the request is let through to the test (200), not refused (400).
    for (const url of ['https://127.0.0.1:1', 'http://localhost:1', 'http://127.0.0.2:1']) {
      const answer = await c.request('POST', '/api/v1/connection-tests', unsaved(url));
      expect(answer.status, url).toBe(200);
      expect(answer.body.ok).toBe(false);
    }
  });

  const external = externalIpv4();
  it.skipIf(external === undefined)(
    'http to a network host works once ORGSYNC_ALLOWED_API_HOSTS lists it (host:port or host)',
    async () => {
      const remote = await listener((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ errcode: 40001, errmsg: 'invalid credential' }));
      }, '0.0.0.0');
      const url = `http://${external}:${remote.port}`;
      try {
        expect((await c.request('POST', '/api/v1/connection-tests', unsaved(url))).status).toBe(400);
        expect(remote.connections).toBe(0);
        for (const allowed of [`${external}:${remote.port}`, `other.example, ${external}`]) {
          const dataDir = tempDir('orgsync-allowed-');
          cliDirs.push(dataDir);
          const h2 = await startHarness('sqlite', {
            env: {
              ORGSYNC_DATA_DIR: dataDir,
              ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
              ORGSYNC_ALLOWED_API_HOSTS: allowed,
            },
          });
          try {
            const c2 = await signedIn(h2);
            const answer = await c2.request('POST', '/api/v1/connection-tests', unsaved(url));
            expect(answer.status).toBe(200);
            expect(answer.body.checks[0]).toMatchObject({
              name: 'token',
              ok: false,
              message: expect.stringContaining('40001'),
            });
            // Another port of the same host is not listed by host:port.
            const otherPort = await c2.request('POST', '/api/v1/connection-tests', unsaved(`http://${external}:1`));
            expect(otherPort.status).toBe(allowed.includes(':') ? 400 : 200);
          } finally {
            await h2.close();
          }
        }
        expect(remote.requests.some((r) => r.startsWith('GET /cgi-bin/gettoken'))).toBe(true);
      } finally {
        await remote.close();
      }
    },
  );

  it('a bad ORGSYNC_ALLOWED_API_HOSTS stops the server start with the entry named', async () => {
    const dataDir = tempDir('orgsync-allowed-bad-');
    cliDirs.push(dataDir);
    await expect(
      startServer({
        env: { ORGSYNC_DATA_DIR: dataDir, ORGSYNC_ALLOWED_API_HOSTS: 'ok.example,http://x.example/' },
        port: 0,
      }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('"http://x.example/"'),
    });
  });
});

describe('no port scanner: the unsaved test answers the same for every host where no platform answered', () => {
  it('refused, dropped, an HTML 404, a page that is not JSON: one code and one message', async () => {
    const dropped = await dropper();
    const html = await listener((_req, res) => {
      res.statusCode = 404;
      res.setHeader('content-type', 'text/html');
      res.end('<html><body>Not Found</body></html>');
    });
    const text = await listener((_req, res) => res.end('hello'));
    try {
      const results = [];
      for (const url of [await closedPort(), dropped.url, html.url, text.url]) {
        const answer = await c.request('POST', '/api/v1/connection-tests', {
          platform: 'wecom',
          settings: { corpId: wecom.identity.corpId, agentId: 1, apiBaseUrl: url },
          secrets: { secret: 'Scan0123456789' },
        });
        expect(answer.status).toBe(200);
        results.push(answer.body);
      }
      expect(results[0]).toEqual({
        ok: false,
        checks: [
          {
            name: 'token',
            ok: false,
            code: 'WECOM_NO_ANSWER',
            message: 'no WeCom API answered at apiBaseUrl',
            hint: expect.any(String),
          },
        ],
      });
      for (const r of results.slice(1)) expect(r).toStrictEqual(results[0]);

      // DingTalk too, and a saved connection tested on another host (secrets typed again) likewise.
      const dingResults = [];
      for (const url of [await closedPort(), dropped.url, html.url, text.url]) {
        const answer = await c.request('POST', '/api/v1/connections/dt/test', {
          settings: { apiBaseUrl: url },
          secrets: { clientSecret: 'Scan0123456789' },
        });
        expect(answer.status).toBe(200);
        dingResults.push(answer.body);
      }
      expect(dingResults[0]).toMatchObject({
        ok: false,
        checks: [{ name: 'token', ok: false, code: 'DINGTALK_NO_ANSWER' }],
      });
      for (const r of dingResults.slice(1)) expect(r).toStrictEqual(dingResults[0]);
    } finally {
      await dropped.close();
      await html.close();
      await text.close();
    }
  });
});

describe('the platform client: no redirect followed, answers read up to a limit (CLI and API)', () => {
  const key = randomBytes(32).toString('base64');
  let dir: string;
  const env = (): Record<string, string> => ({ ORGSYNC_DATA_DIR: dir, ORGSYNC_MASTER_KEY: key });
  const add = async (name: string, url: string, secret = wecom.identity.secret): Promise<void> => {
    const r = await orgsync(
      env(),
      [
        'connection',
        'add',
        'wecom',
        '--name',
        name,
        '--corp-id',
        wecom.identity.corpId,
        '--agent-id',
        String(wecom.identity.agentId),
        '--secret',
        '-',
        '--api-base-url',
        url,
      ],
      `${secret}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
  };
  beforeAll(() => {
    dir = tempDir('orgsync-secrets-cli-');
    cliDirs.push(dir);
  });

  it('a platform answering 302 to the listener: the test and the sync fail, the listener receives nothing', async () => {
    const redirecting = await listener((req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${nothing.url}${req.url ?? '/'}`);
      res.end();
    });
    try {
      await add('redir', redirecting.url);
      const r = await orgsync(env(), ['connection', 'test', 'redir', '--json']);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as {
        ok: boolean;
        checks: Array<{ name: string; code?: string; hint?: string }>;
      };
      expect(result.ok).toBe(false);
      expect(result.checks[0]).toMatchObject({
        name: 'token',
        code: 'WECOM_REDIRECT',
        hint: expect.stringContaining('never follows a redirect'),
      });
      // Not retried: one request, whose answer was the redirect.
      expect(redirecting.requests).toHaveLength(1);
      const sync = await orgsync(env(), ['sync', 'redir', '--json']);
      expect(sync.code).not.toBe(0);
      expect(`${sync.stdout}${sync.stderr}`).toContain('WECOM_REDIRECT');

      // The same through the API: a saved connection on the redirecting host.
      expect((await c.request('POST', '/api/v1/connections', wecomBody('redir', redirecting.url))).status).toBe(201);
      expect((await c.request('POST', '/api/v1/connections/redir/test')).body.ok).toBe(false);
      const started = await c.request('POST', '/api/v1/connections/redir/sync', {});
      await until('the sync to end', async () =>
        (await c.get(`/api/v1/runs/${started.body.runId}`)).body.status !== 'running' ? true : undefined,
      );
      expect((await c.get(`/api/v1/runs/${started.body.runId}`)).body.status).toBe('failed');
      expect(nothing.connections).toBe(0);
    } finally {
      await redirecting.close();
      await c.request('DELETE', '/api/v1/connections/redir');
    }
  });

  it('an endless answer is cut at the limit: a clear error, the connection dropped, the rest never read', async () => {
    const sent = { gettoken: 0, closed: 0 };
    const huge = await listener((req, res) => {
      res.setHeader('content-type', 'application/json');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const isToken = (req.url ?? '').startsWith('/cgi-bin/gettoken');
      res.write('{"errcode":0,"pad":"');
      const pump = (): void => {
        while (!res.destroyed) {
          const more = res.write(chunk);
          if (isToken) sent.gettoken += chunk.length;
          if (!more) return;
        }
      };
      res.on('drain', pump);
      res.on('close', () => void sent.closed++);
      pump();
    });
    try {
      await add('huge', huge.url);
      const r = await orgsync(env(), ['connection', 'test', 'huge', '--json']);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as {
        checks: Array<{ name: string; ok: boolean; code?: string; message: string }>;
      };
      expect(result.checks[0]).toMatchObject({
        name: 'token',
        ok: false,
        code: 'WECOM_TOO_LARGE',
        message: expect.stringContaining('larger than 65,536 bytes'),
      });
      await until('the answer to be dropped', async () => (sent.closed === huge.requests.length ? true : undefined));
      // An endless body was given up after the limit and what the socket buffers held, never read to an end.
      expect(sent.gettoken).toBeLessThan(16 * 1024 * 1024);
      expect(huge.requests).toHaveLength(1);
    } finally {
      await huge.close();
    }
  });
});

describe('the data-call limit', () => {
  it('a data answer over 16 MiB fails its check with TOO_LARGE, each read once, never retried', async () => {
    const dir = tempDir('orgsync-huge-data-');
    cliDirs.push(dir);
    const env = { ORGSYNC_DATA_DIR: dir, ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64') };
    const perRequest: number[] = [];
    const huge = await listener((req, res) => {
      res.setHeader('content-type', 'application/json');
      if ((req.url ?? '').startsWith('/cgi-bin/gettoken')) {
        res.end(JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'Tok0123456789abcdef', expires_in: 7200 }));
        return;
      }
      const i = perRequest.push(0) - 1;
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      res.write('{"errcode":0,"pad":"');
      const pump = (): void => {
        while (!res.destroyed) {
          const more = res.write(chunk);
          perRequest[i] = (perRequest[i] ?? 0) + chunk.length;
          if (!more) return;
        }
      };
      res.on('drain', pump);
      pump();
    });
    try {
      const added = await orgsync(
        env,
        [
          'connection',
          'add',
          'wecom',
          '--name',
          'big',
          '--corp-id',
          wecom.identity.corpId,
          '--agent-id',
          '1',
          '--secret',
          '-',
          '--api-base-url',
          huge.url,
        ],
        'Token0123456789\n',
      );
      expect(added.code, added.stderr).toBe(0);
      const r = await orgsync(env, ['connection', 'test', 'big', '--json']);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as {
        checks: Array<{ name: string; ok: boolean; code?: string; message: string }>;
      };
      // gettoken gave a real token, so the token check passes; the reads that follow are each cut at the limit.
      expect(result.checks.find((x) => x.name === 'token')).toMatchObject({ ok: true });
      for (const name of ['app', 'departments']) {
        expect(result.checks.find((x) => x.name === name)).toMatchObject({
          ok: false,
          code: 'WECOM_TOO_LARGE',
          message: expect.stringContaining('larger than 16,777,216 bytes'),
        });
      }
      expect(huge.requests.filter((x) => x.startsWith('GET /cgi-bin/agent/get'))).toHaveLength(1);
      for (const sent of perRequest) expect(sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await huge.close();
    }
  });
});

describe('the token check passes only on an answer the platform gave', () => {
  const key = randomBytes(32).toString('base64');
  let dir: string;
  beforeAll(() => {
    dir = tempDir('orgsync-token-cli-');
    cliDirs.push(dir);
  });

  it('nothing listening, a dropped connection, an HTML 404, a page that is not JSON: the token check fails, with a hint on apiBaseUrl', async () => {
    const dropped = await dropper();
    const html = await listener((_req, res) => {
      res.statusCode = 404;
      res.end('<html>404</html>');
    });
    const okPage = await listener((_req, res) => res.end('<html>welcome</html>'));
    try {
      for (const [i, url] of [await closedPort(), dropped.url, html.url, okPage.url].entries()) {
        const env = { ORGSYNC_DATA_DIR: dir, ORGSYNC_MASTER_KEY: key };
        const name = `t${i}`;
        const added = await orgsync(
          env,
          [
            'connection',
            'add',
            'wecom',
            '--name',
            name,
            '--corp-id',
            wecom.identity.corpId,
            '--agent-id',
            '1',
            '--secret',
            '-',
            '--api-base-url',
            url,
          ],
          'Token0123456789\n',
        );
        expect(added.code, added.stderr).toBe(0);
        const r = await orgsync(env, ['connection', 'test', name, '--json']);
        expect(r.code, url).toBe(1);
        const result = JSON.parse(r.stdout) as {
          ok: boolean;
          checks: Array<{ name: string; ok: boolean; message: string; hint?: string }>;
        };
        expect(result.ok).toBe(false);
        expect(result.checks).toHaveLength(1);
        expect(result.checks[0]).toMatchObject({
          name: 'token',
          ok: false,
          hint: expect.stringContaining(`No WeCom answer came from ${url}`),
        });
        expect(result.checks[0]?.message).not.toContain('gives an access_token');
      }
    } finally {
      await dropped.close();
      await html.close();
      await okPage.close();
    }
  });
});

describe('warnings are not failures', () => {
  it('DingTalk without 个人手机号信息: ok, exit 0, the mobile check a warning with its hint (CLI --json and human, API)', async () => {
    const env = {
      ORGSYNC_DATA_DIR: tempDir('orgsync-warn-cli-'),
      ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    cliDirs.push(env.ORGSYNC_DATA_DIR);
    ding.updateConfig({ sensitiveFields: 'withheld' });
    const added = await orgsync(
      env,
      [
        'connection',
        'add',
        'dingtalk',
        '--name',
        'dt',
        '--corp-id',
        ding.identity.corpId,
        '--agent-id',
        String(ding.identity.agentId),
        '--client-id',
        ding.identity.clientId,
        '--client-secret',
        '-',
        '--api-base-url',
        dingUrl,
      ],
      `${ding.identity.clientSecret}\n`,
    );
    expect(added.code, added.stderr).toBe(0);
    const json = await orgsync(env, ['connection', 'test', 'dt', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean; level?: string; hint?: string }>;
    };
    expect(result.ok).toBe(true);
    expect(result.checks.filter((x) => x.level === 'warning')).toEqual([
      expect.objectContaining({
        name: 'mobile',
        ok: true,
        level: 'warning',
        hint: expect.stringContaining('个人手机号信息'),
      }),
    ]);
    const human = await orgsync(env, ['connection', 'test', 'dt']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/: passed, with 1 warning\n/);
    expect(human.stdout).toMatch(/^ {2}warn mobile +/m);
    expect(human.stdout).not.toContain('FAIL');

    const api = await c.request('POST', '/api/v1/connections/dt/test');
    expect(api.body.ok).toBe(true);
    expect(api.body.checks.find((x: { name: string }) => x.name === 'mobile')).toMatchObject({
      ok: true,
      level: 'warning',
      hint: expect.any(String),
    });

    // With the permission granted the check is an ordinary pass.
    ding.updateConfig({ sensitiveFields: 'returned' });
    const granted = await c.request('POST', '/api/v1/connections/dt/test');
    expect(granted.body.checks.find((x: { name: string }) => x.name === 'mobile')).toStrictEqual({
      name: 'mobile',
      ok: true,
      message: expect.any(String),
    });
  });
});

describe('CLI update obeys the same binding', () => {
  it('connection update --api-base-url without the secret: refused naming --secret, nothing written; with it: changed', async () => {
    const env = {
      ORGSYNC_DATA_DIR: tempDir('orgsync-update-cli-'),
      ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    cliDirs.push(env.ORGSYNC_DATA_DIR);
    const added = await orgsync(
      env,
      [
        'connection',
        'add',
        'wecom',
        '--name',
        'hq',
        '--corp-id',
        wecom.identity.corpId,
        '--agent-id',
        String(wecom.identity.agentId),
        '--secret',
        '-',
        '--contacts-secret',
        '-',
        '--api-base-url',
        wecomUrl,
      ],
      `${wecom.identity.secret}\n${wecom.identity.contactsSecret}\n`,
    );
    expect(added.code, added.stderr).toBe(0);
    const before = JSON.parse((await orgsync(env, ['connection', 'show', 'hq', '--json'])).stdout) as Record<
      string,
      unknown
    >;

    const refused = await orgsync(env, ['connection', 'update', 'hq', '--api-base-url', nothing.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--secret');
    expect(refused.stderr).toContain('must be given again');
    const corp = await orgsync(
      env,
      ['connection', 'update', 'hq', '--corp-id', 'wwothercorp123', '--secret', '-'],
      'NewSecret0123456789abc\n',
    );
    expect(corp.code).toBe(2);
    expect(corp.stderr).toContain('--contacts-secret');
    expect(JSON.parse((await orgsync(env, ['connection', 'show', 'hq', '--json'])).stdout)).toStrictEqual(before);
    expect((await orgsync(env, ['connection', 'test', 'hq', '--json'])).code).toBe(0);

    const http = await orgsync(
      env,
      [
        'connection',
        'update',
        'hq',
        '--api-base-url',
        'http://192.0.2.10:8080',
        '--secret',
        '-',
        '--no-contacts-secret',
      ],
      'NewSecret0123456789abc\n',
    );
    expect(http.code).toBe(2);
    expect(http.stderr).toContain('ORGSYNC_ALLOWED_API_HOSTS');
    const listed = await orgsync(
      { ...env, ORGSYNC_ALLOWED_API_HOSTS: '192.0.2.10:8080' },
      [
        'connection',
        'update',
        'hq',
        '--api-base-url',
        'http://192.0.2.10:8080',
        '--secret',
        '-',
        '--no-contacts-secret',
      ],
      'NewSecret0123456789abc\n',
    );
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse((await orgsync(env, ['connection', 'show', 'hq', '--json'])).stdout)).toMatchObject({
      apiBaseUrl: 'http://192.0.2.10:8080',
      secret: '••••••9abc',
    });
    expect(nothing.connections).toBe(0);
  });
});

describe('masks', () => {
  it('a short secret shows none of its characters, a long one at most its last 4; the API shows only the mask', async () => {
    const env = {
      ORGSYNC_DATA_DIR: tempDir('orgsync-mask-cli-'),
      ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    cliDirs.push(env.ORGSYNC_DATA_DIR);
    for (const [name, secret, shown] of [
      ['six', 'Ab3De6', ''],
      ['fifteen', 'Ab3De6Gh9Jk2Mn5', ''],
      ['sixteen', 'Ab3De6Gh9Jk2Mn5P', 'Mn5P'],
      ['long', 'Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef', 'c0Ef'],
    ] as const) {
      const r = await orgsync(
        env,
        [
          'connection',
          'add',
          'wecom',
          '--name',
          name,
          '--corp-id',
          wecom.identity.corpId,
          '--agent-id',
          '1',
          '--secret',
          '-',
          '--api-base-url',
          wecomUrl,
          '--json',
        ],
        `${secret}\n`,
      );
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { secret: string }).secret).toBe(MASK + shown);
    }
    const list = await orgsync(env, ['connection', 'list']);
    expect(list.stdout).not.toMatch(/••••••[A-Za-z0-9]{1,3}\b/);
    const api = await c.get('/api/v1/connections/wc');
    expect(api.body.secrets.secret).toStrictEqual({ set: true, masked: MASK });
  });
});
