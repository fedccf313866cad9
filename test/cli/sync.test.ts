import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { tempDir } from '../helpers/stores.js';

/** `orgsync connection test`, `orgsync sync` and `orgsync demo`, as separate processes against the WeCom simulator. */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const outputs: string[] = [];

function orgsync(dataDir: string, args: string[], stdin?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, '--data-dir', dataDir, ...args],
      { cwd: ROOT, env: { ...process.env, ORGSYNC_MASTER_KEY: '' }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        outputs.push(stdout, stderr);
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

let sim: WecomSimulator;
let url: string;
const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir('orgsync-sync-');
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 31, departments: 40, users: 400 });
  url = await sim.listen(0);
});
afterAll(async () => {
  await sim.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  // No secret ever reached an output, whatever the test.
  for (const secret of [sim.identity.secret, sim.identity.contactsSecret]) {
    for (const out of outputs) expect(out.includes(secret.slice(0, 12))).toBe(false);
  }
});
beforeEach(() => {
  sim.updateConfig({ untrustedIp: false, visibleRange: [1], contactsSecretNewIp: false });
});

async function addConnection(
  d: string,
  options: { secret?: string; contactsSecret?: string | null; agentId?: number; corpId?: string } = {},
): Promise<void> {
  const args = [
    'connection',
    'add',
    'wecom',
    '--name',
    'hq',
    '--corp-id',
    options.corpId ?? sim.identity.corpId,
    '--agent-id',
    String(options.agentId ?? sim.identity.agentId),
    '--secret',
    '-',
    '--api-base-url',
    url,
  ];
  const lines = [options.secret ?? sim.identity.secret];
  if (options.contactsSecret !== null) {
    args.push('--contacts-secret', '-');
    lines.push(options.contactsSecret ?? sim.identity.contactsSecret);
  }
  const r = await orgsync(d, args, `${lines.join('\n')}\n`);
  expect(r.code, r.stderr).toBe(0);
}

async function checks(d: string): Promise<{
  code: number;
  ok: boolean;
  checks: Array<{ name: string; ok: boolean; level?: string; message: string; hint?: string }>;
}> {
  const r = await orgsync(d, ['connection', 'test', 'hq', '--json']);
  return {
    code: r.code,
    ...(JSON.parse(r.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean; level?: string; message: string; hint?: string }>;
    }),
  };
}

const failing = (c: Awaited<ReturnType<typeof checks>>) => c.checks.filter((x) => !x.ok);

describe('orgsync connection test', () => {
  it('passes every check on a well-configured connection, and says what the app sees', async () => {
    const d = dir();
    await addConnection(d);
    const c = await checks(d);
    expect(c.code).toBe(0);
    expect(c.ok).toBe(true);
    expect(c.checks.map((x) => x.name)).toEqual(['token', 'app', 'departments', 'members', 'contacts secret']);
    expect(c.checks.find((x) => x.name === 'members')?.message).toBe('app sees department 1, 400 members');
  });

  it('a wrong secret: errcode 40001 with where to find the right one', async () => {
    const d = dir();
    await addConnection(d, { secret: 'WrongSecret0123456789', contactsSecret: null });
    const c = await checks(d);
    expect(c.code).toBe(1);
    expect(failing(c)).toEqual([
      expect.objectContaining({
        name: 'token',
        message: expect.stringContaining('errcode 40001'),
        hint: expect.stringContaining('Secret'),
      }),
    ]);
  });

  it('an untrusted IP: errcode 60020, naming our outgoing IP and the trusted-IP setting', async () => {
    const d = dir();
    await addConnection(d, { contactsSecret: null });
    sim.updateConfig({ untrustedIp: true });
    const [token] = failing(await checks(d));
    expect(token).toMatchObject({ name: 'token', message: expect.stringContaining('errcode 60020') });
    expect(`${token?.message} ${token?.hint}`).toContain('127.0.0.1');
    expect(token?.hint).toContain('可信IP');
  });

  it('a wrong AgentId: errcode 40056 on the app check', async () => {
    const d = dir();
    await addConnection(d, { agentId: 1000099, contactsSecret: null });
    expect(failing(await checks(d))).toEqual([
      expect.objectContaining({
        name: 'app',
        message: expect.stringContaining('errcode 40056'),
        hint: expect.stringContaining('AgentId'),
      }),
    ]);
  });

  it('an app that sees nothing: errcode 60011 on the departments check', async () => {
    const d = dir();
    await addConnection(d, { contactsSecret: null });
    sim.updateConfig({ visibleRange: [] });
    expect(failing(await checks(d))).toEqual([
      expect.objectContaining({
        name: 'departments',
        message: expect.stringContaining('errcode 60011'),
        hint: expect.stringContaining('可见范围'),
      }),
    ]);
  });

  it('the app secret given as the contacts secret: errcode 48002, writes not allowed', async () => {
    const d = dir();
    await addConnection(d, { contactsSecret: sim.identity.secret });
    expect(failing(await checks(d))).toEqual([
      expect.objectContaining({ name: 'contacts secret', message: expect.stringContaining('errcode 48002') }),
    ]);
  });

  it('the contacts secret from a new IP: errcode 48009 as a warning (the sync still runs, ids only), with the way out; exit 0', async () => {
    const d = dir();
    await addConnection(d);
    sim.updateConfig({ contactsSecretNewIp: true });
    const c = await checks(d);
    expect(c.code).toBe(0);
    expect(c.ok).toBe(true);
    expect(failing(c)).toEqual([]);
    expect(c.checks.filter((x) => x.level === 'warning')).toEqual([
      expect.objectContaining({
        name: 'contacts secret reads',
        ok: true,
        level: 'warning',
        message: expect.stringContaining('errcode 48009'),
        hint: expect.any(String),
      }),
    ]);
  });

  it('prints a readable report without --json, and fails with exit code 1', async () => {
    const d = dir();
    await addConnection(d, { agentId: 1000099, contactsSecret: null });
    const r = await orgsync(d, ['connection', 'test', 'hq']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}FAIL app +errcode 40056/m);
    expect(r.stdout).toMatch(/^ {2}ok {3}token/m);
  });
});

describe('orgsync sync', () => {
  it('syncs a connection with departments + 2 API calls, and a second time changes nothing', async () => {
    const d = dir();
    await addConnection(d, { contactsSecret: null });
    const first = await orgsync(d, ['sync', 'hq', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as {
      status: string;
      kind: string;
      source: string;
      apiCalls: number;
      changes: { users: { create: number }; departments: { create: number } };
    };
    expect(report).toMatchObject({
      status: 'succeeded',
      kind: 'sync',
      source: 'hq',
      changes: { users: { create: 400 }, departments: { create: 40 } },
    });
    expect(report.apiCalls).toBe(40 + 2);
    const again = JSON.parse((await orgsync(d, ['sync', 'hq', '--json'])).stdout) as {
      changes: { users: Record<string, number> };
    };
    expect(Object.values(again.changes.users).every((n) => n === 0)).toBe(true);
    const human = await orgsync(d, ['sync', 'hq', '--dry-run']);
    expect(human.stdout).toMatch(/Run 3 \(sync from "hq", dry run\): planned/);
    expect(human.stdout).toMatch(/API calls: +42/);
  });

  it('an unknown connection is a clear error', async () => {
    const r = await orgsync(dir(), ['sync', 'nope']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nope/);
  });
});

describe('orgsync demo', () => {
  it('runs the whole tour in a fresh data directory', async () => {
    const d = dir();
    const r = await orgsync(d, ['demo', '--users', '300', '--departments', '30', '--no-serve']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('2. Tested it: all checks passed');
    expect(r.stdout).toMatch(/3\. First sync \(run 1\): succeeded, 30 departments and 300 people created/);
    expect(r.stdout).toMatch(/Run 2 \(sync from "demo-wecom"\): succeeded/);
    const runs = JSON.parse((await orgsync(d, ['runs', 'list', '--json'])).stdout) as {
      runs: Array<{ status: string }>;
    };
    expect(runs.runs.map((x) => x.status)).toEqual(['succeeded', 'succeeded']);
  });
});

describe('orgsync demo, serving', () => {
  it.each([
    ['wecom', (u: { status?: number; active?: boolean }) => u.status === 1],
    ['dingtalk', (u: { status?: number; active?: boolean }) => u.active === true],
  ] as const)(
    'serves the console with the printed admin password, and a change upstream arrives by callback (%s)',
    async (platform, active) => {
      const d = dir();
      const child = spawn(
        process.execPath,
        [BIN, '--data-dir', d, 'demo', '--platform', platform, '--users', '200', '--departments', '20', '--port', '0'],
        {
          cwd: ROOT,
          env: { ...process.env, ORGSYNC_MASTER_KEY: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      try {
        let out = '';
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('Ctrl-C stops the demo')) resolve();
          });
          child.on('exit', (code) => reject(new Error(`the demo exited (${code}) before serving:\n${out}`)));
        });
        const consoleUrl = /Console: (http:\/\/\S+?)\//.exec(out)?.[1] as string;
        const [, username, password] = /Sign in as (\S+) \/ (\S+)/.exec(out) ?? [];
        const simUrl = /curl -X POST (\S+)\/__sim\/mutate/.exec(out)?.[1] as string;
        expect([consoleUrl, username, password, simUrl].every(Boolean)).toBe(true);

        expect((await fetch(`${consoleUrl}/healthz`)).status).toBe(200);
        const signIn = await fetch(`${consoleUrl}/api/v1/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password }),
        });
        expect(signIn.status).toBe(200);
        const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
        const list = (await (await fetch(`${consoleUrl}/api/v1/connections`, { headers: { cookie } })).json()) as {
          items: Array<{ name: string; syncEnabled: boolean; callbackUrl?: string }>;
        };
        const name = `demo-${platform}`;
        expect(list.items.map((c) => [c.name, c.syncEnabled, c.callbackUrl])).toStrictEqual([
          [name, true, `${consoleUrl}/callbacks/${name}`],
        ]);

        const before = (await (await fetch(`${simUrl}/__sim/directory`)).json()) as {
          users: Array<{ userid: string; status?: number; active?: boolean }>;
        };
        const leaver = before.users.find(active)?.userid as string;
        const mutated = await fetch(`${simUrl}/__sim/mutate`, {
          method: 'POST',
          body: JSON.stringify({ operations: [{ op: 'deleteUser', userid: leaver }] }),
        });
        expect(mutated.status).toBe(200);
        // Poll until the event run has ended (a run is `running` for a few ms first; the test's timeout ends a wait
        // that never does).
        const eventRuns = async () =>
          (
            (await (await fetch(`${consoleUrl}/api/v1/runs?kind=event`, { headers: { cookie } })).json()) as {
              items: Array<{ runId: number; status: string }>;
            }
          ).items;
        let runs = await eventRuns();
        while (runs.length === 0 || runs.some((r) => r.status === 'running')) {
          await new Promise((r) => setTimeout(r, 20));
          runs = await eventRuns();
        }
        expect(runs.map((r) => r.status)).toStrictEqual(['succeeded']);
        // The event run disabled the leaver, and nobody else.
        const detail = (await (
          await fetch(`${consoleUrl}/api/v1/runs/${runs[0]!.runId}`, { headers: { cookie } })
        ).json()) as { changes: { users: Record<string, number> } };
        expect(detail.changes.users).toMatchObject({ create: 0, update: 0, disable: 1 });
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  );
});
