import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/start.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { tempDir } from '../helpers/stores.js';
import { Client, until } from '../server/harness.js';

/** `orgsync serve`, `admin set-password` and `token …` as separate processes on a real data directory. */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const execFileAsync = promisify(execFile);

const dirs: string[] = [];
let children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children = [];
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function dataDir(): { dir: string; env: Record<string, string> } {
  const dir = tempDir('orgsync-serve-');
  dirs.push(dir);
  return {
    dir,
    env: {
      ORGSYNC_DATA_DIR: dir,
      ORGSYNC_DATABASE_URL: '',
      ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
      ORGSYNC_PORT: '0',
    },
  };
}

async function orgsync(
  env: Record<string, string>,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = execFileAsync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  if (stdin !== undefined) {
    child.child.stdin?.end(stdin);
  } else {
    child.child.stdin?.end();
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Served {
  child: ChildProcess;
  url: string;
  lines: Array<Record<string, unknown>>;
  /** What it printed for a person (stderr). */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function serve(env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      buffer = buffer.slice(nl + 1);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await until(
    'the server to listen',
    async () => lines.find((l) => l.msg === 'orgsync is serving'),
    15_000,
  );
  return { child, url: ready.url as string, lines, stderr: () => stderr, exited };
}

describe('orgsync serve', () => {
  it('without a terminal, writes the first admin password to a 0600 file and prints its path (never the log), serves, and stops cleanly on SIGTERM; a bad setting names the variable', async () => {
    const { dir, env } = dataDir();
    const served = await serve(env);
    const file = /its password is in (\S+) \(/.exec(served.stderr())?.[1] as string;
    expect(file).toBe(path.join(dir, 'first-admin-password.txt'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(served.stderr()).not.toContain(password);
    expect(JSON.stringify(served.lines)).not.toContain(password);
    expect(
      served.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('created the first admin')),
    ).toHaveLength(1);
    const signIn = await new Client(served.url).login('admin', password);
    expect(signIn.status).toBe(200);
    expect(signIn.body.mustChangePassword).toBe(true);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
    served.child.kill('SIGTERM');
    expect(await served.exited).toEqual({ code: 0, signal: null });

    const bad = await orgsync({ ...env, ORGSYNC_PORT: 'http' }, ['serve']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('CONFIG_INVALID');
    expect(bad.stderr).toContain('ORGSYNC_PORT');
  });

  it('admin set-password reads the password from stdin; the server then prints none; the old sessions end', async () => {
    const { env } = dataDir();
    const set = await orgsync(env, ['admin', 'set-password', '--password-stdin', '--json'], 'correct horse battery\n');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ username: 'admin', created: true, sessionsEnded: 0 });
    expect(set.stdout + set.stderr).not.toContain('correct horse');

    const served = await serve(env);
    expect(served.lines.some((l) => typeof l.msg === 'string' && l.msg.includes('created the first admin'))).toBe(
      false,
    );
    const c = new Client(served.url);
    expect((await c.login('admin', 'correct horse battery')).status).toBe(200);

    const changed = await orgsync(env, ['admin', 'set-password'], 'another password\n');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('ended 1 session');
    expect((await c.get('/api/v1/session')).status).toBe(401);
    expect((await c.login('admin', 'another password')).status).toBe(200);

    expect((await orgsync(env, ['admin', 'set-password'], 'short\n')).code).toBe(2);
    expect((await orgsync(env, ['admin', 'set-password', '--password-stdin'], '')).code).toBe(2);
  });

  it('token create prints the token once; list never shows it; revoke turns it away', async () => {
    const { env } = dataDir();
    const created = await orgsync(env, ['token', 'create', '--name', 'ci', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { token, name, prefix } = JSON.parse(created.stdout) as { token: string; name: string; prefix: string };
    expect(name).toBe('ci');
    expect(token.startsWith(prefix)).toBe(true);
    const human = await orgsync(env, ['token', 'create', '--name', 'hr-portal']);
    expect(human.stdout).toMatch(/osk_[A-Za-z0-9_-]{43}/);
    expect((await orgsync(env, ['token', 'create', '--name', 'ci'])).stderr).toContain('TOKEN_EXISTS');

    const list = await orgsync(env, ['token', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { tokens: Array<{ name: string }> }).tokens.map((t) => t.name)).toEqual([
      'ci',
      'hr-portal',
    ]);
    expect(list.stdout).not.toContain(token);
    expect(list.stdout).toContain(`"prefix":"${prefix}"`);

    const served = await serve(env);
    const bot = new Client(served.url);
    bot.bearer = token;
    expect((await bot.get('/api/v1/connections')).status).toBe(200);
    expect((await orgsync(env, ['token', 'revoke', 'ci', '--json'])).stdout.trim()).toBe(
      '{"name":"ci","revoked":true}',
    );
    expect((await bot.get('/api/v1/connections')).status).toBe(401);
    expect((await orgsync(env, ['token', 'revoke', 'ci'])).code).toBe(1);
  });

  it('a run left running by a killed server is failed with a clear error when the server starts again', async () => {
    const { dir, env } = dataDir();
    const sim = new WecomSimulator({ seed: 7, departments: 10, users: 60, config: { latencyMs: 400 } });
    const simUrl = await sim.listen(0);
    try {
      await orgsync(env, ['admin', 'set-password', '--password-stdin'], 'correct horse battery\n');
      const served = await serve(env);
      const c = new Client(served.url);
      await c.login('admin', 'correct horse battery');
      const created = await c.request('POST', '/api/v1/connections', {
        platform: 'wecom',
        name: 'acme',
        settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: simUrl },
        secrets: { secret: sim.identity.secret },
        syncEnabled: true,
      });
      expect(created.status, created.text).toBe(201);
      const started = await c.request('POST', '/api/v1/connections/acme/sync', {});
      expect(started.status).toBe(202);
      await until(
        'the run to be under way',
        async () => (await c.get(`/api/v1/runs/${started.body.runId}`)).body.progress,
      );
      served.child.kill('SIGKILL');
      await served.exited;

      const again = await startServer({ env, dataDir: dir, port: 0, logStream: { write: () => {} } });
      try {
        const c2 = new Client(again.url);
        await c2.login('admin', 'correct horse battery');
        const run = (await c2.get(`/api/v1/runs/${started.body.runId}`)).body;
        expect(run.status).toBe('failed');
        expect(run.errors.at(-1)).toMatchObject({
          code: 'RUN_ABANDONED',
          message: expect.stringContaining('stopped before the run finished'),
          hint: expect.stringContaining('Start the run again'),
        });
        // And the connection can sync again.
        sim.updateConfig({ latencyMs: 0 });
        const next = await c2.request('POST', '/api/v1/connections/acme/sync', {});
        expect(next.status).toBe(202);
        const done = await until('the new run', async () => {
          const r = (await c2.get(`/api/v1/runs/${next.body.runId}`)).body;
          return r.status !== 'running' ? r : undefined;
        });
        expect(done.status).toBe('succeeded');
      } finally {
        await again.close();
      }
    } finally {
      await sim.close();
    }
  });

  it('a connection added by the CLI with callback settings and a schedule: show prints its callback URL; serve runs the schedule once sync is on, and stops cleanly', async () => {
    const { env } = dataDir();
    const sim = new WecomSimulator({ seed: 9, departments: 6, users: 20 });
    const simUrl = await sim.listen(0);
    try {
      const token = 'Cb5Tk9Qz2Lm7';
      const aesKey = 'Ek3Wq8Zr5Mt1Lp6Xv2Nb9Hc4Jd7Gf0Ys5Ua8Oi3Qe1R';
      expect(aesKey).toHaveLength(43);
      const add = [
        'connection',
        'add',
        'wecom',
        '--name',
        'hq',
        '--corp-id',
        sim.identity.corpId,
        '--agent-id',
        String(sim.identity.agentId),
        '--api-base-url',
        simUrl,
      ];
      const short = await orgsync(
        env,
        [...add, '--secret', '-', '--callback-token', token, '--callback-aes-key', aesKey.slice(0, 40)],
        `${sim.identity.secret}\n`,
      );
      expect(short.code).toBe(2);
      expect(short.stderr).toContain(
        '--callback-aes-key, field "callbackAesKey": must be exactly 43 letters and digits',
      );

      const added = await orgsync(
        env,
        [
          ...add,
          '--secret',
          '-',
          '--callback-token',
          '-',
          '--callback-aes-key',
          '-',
          '--reconcile-cron',
          '* * * * * *',
          '--json',
        ],
        `${sim.identity.secret}\n${token}\n${aesKey}\n`,
      );
      expect(added.code, added.stderr).toBe(0);
      expect(JSON.parse(added.stdout)).toMatchObject({
        name: 'hq',
        callbackToken: '••••••',
        reconcileCron: '* * * * * *',
        callbackUrl: 'http://127.0.0.1:8080/callbacks/hq',
      });
      expect(added.stdout).not.toContain(aesKey.slice(0, 8));
      const shown = await orgsync({ ...env, ORGSYNC_PUBLIC_URL: 'https://orgsync.example.com' }, [
        'connection',
        'show',
        'hq',
        '--json',
      ]);
      expect(JSON.parse(shown.stdout).callbackUrl).toBe('https://orgsync.example.com/callbacks/hq');
      const bad = await orgsync(env, ['connection', 'update', 'hq', '--reconcile-cron', '0 2 * *']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--reconcile-cron, field "reconcileCron": "0 2 * *" has 4 fields');

      const served = await serve({ ...env, ORGSYNC_ADMIN_PASSWORD: 'correct horse battery' });
      const c = new Client(served.url);
      await c.login('admin', 'correct horse battery');
      // The endpoint of the callback settings the CLI stored answers (WeCom's URL check without a signature is refused, not 404).
      expect((await fetch(`${served.url}/callbacks/hq`)).status).not.toBe(404);
      // Sync is off: the schedule waits.
      expect((await c.get('/api/v1/connections/hq')).body).toMatchObject({
        syncEnabled: false,
        reconcileCron: '* * * * * *',
        nextReconcileAt: null,
      });
      // A witness scheduled every second (sync on, nothing listening at its address: its runs fail and change nothing):
      // once it has fired twice, a whole second of firings has passed, and hq had none.
      const witness = {
        platform: 'wecom',
        name: 'witness',
        settings: { corpId: 'wwwitness', agentId: 1, apiBaseUrl: 'http://127.0.0.1:9' },
        secrets: { secret: 'witness-secret-1' },
        syncEnabled: true,
        reconcileCron: '* * * * * *',
      };
      expect((await c.request('POST', '/api/v1/connections', witness)).status).toBe(201);
      await until(
        'two firings of the witness',
        async () =>
          served.lines.filter((l) => l.msg === 'scheduled full sync started' && l.connection === 'witness').length >= 2,
        15_000,
      );
      expect((await c.get('/api/v1/runs?source=hq')).body.items).toEqual([]);
      expect((await c.request('PATCH', '/api/v1/connections/witness', { syncEnabled: false })).status).toBe(200);

      expect((await c.request('PATCH', '/api/v1/connections/hq', { syncEnabled: true })).status).toBe(200);
      const run = await until(
        'a scheduled run',
        async () =>
          (await c.get('/api/v1/runs?source=hq')).body.items.find((r: { status: string }) => r.status !== 'running'),
        15_000,
      );
      expect(run).toMatchObject({
        kind: 'sync',
        source: 'hq',
        status: 'succeeded',
        changes: { users: { create: 20 } },
      });
      expect(served.lines.some((l) => l.msg === 'scheduled full sync started' && l.connection === 'hq')).toBe(true);

      served.child.kill('SIGTERM');
      expect(await served.exited).toEqual({ code: 0, signal: null });
    } finally {
      await sim.close();
    }
  });
});
