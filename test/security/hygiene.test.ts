import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import Fastify from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/connectors/common/token-cache.js';
import { DingtalkClient } from '../../src/connectors/dingtalk/client.js';
import { DingtalkSource } from '../../src/connectors/dingtalk/source.js';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { WecomClient } from '../../src/connectors/wecom/client.js';
import { WecomSource } from '../../src/connectors/wecom/source.js';
import { linkOf, type LocalUser } from '../../src/directory/model.js';
import type { Snapshot } from '../../src/directory/snapshot.js';
import { applyPlan } from '../../src/reconcile/apply.js';
import { plan } from '../../src/reconcile/plan.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { executeRun, type RunReport } from '../../src/runs/run-service.js';
import { oneLine, terminalText } from '../../src/cli/output.js';
import { loggerOptions } from '../../src/server/app.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { openStore, sqlitePath } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { BIN, ROOT } from '../helpers/processes.js';
import { tempDir } from '../helpers/stores.js';

/**
 * The smaller doors of issue 15: a private data directory, control characters that never reach a terminal raw and
 * are refused in names, and a platform record that fails validation skipped without stopping the corp's sync.
 * CLI cases spawn the built bin (`npm run build` first).
 */

const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir('orgsync-hygiene-');
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built CLI under `umask` (000: the loosest), so the modes checked are the ones orgsync sets itself. */
function orgsync(dataDir: string, args: string[], options: { umask?: string; stdin?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      '/bin/sh',
      ['-c', `umask ${options.umask ?? '022'}; exec "$@"`, 'sh', process.execPath, BIN, '--data-dir', dataDir, ...args],
      { cwd: ROOT, env: { ...process.env, ORGSYNC_MASTER_KEY: '', ORGSYNC_DATABASE_URL: '' }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.stdin ?? '');
  });
}

const mode = (p: string): number => statSync(p).mode & 0o777;

/** Any control character but the line break (which ends lines): none may reach stdout or stderr raw. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

function expectNoRawControls(...texts: string[]): void {
  for (const text of texts) {
    const m = RAW_CONTROL.exec(text);
    expect(
      m
        ? `U+${(m[0].codePointAt(0) ?? 0).toString(16).padStart(4, '0')} at ${m.index}: …${text.slice(Math.max(0, m.index - 40), m.index)}`
        : null,
    ).toBeNull();
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('the data directory is private to its owner', () => {
  it('a new data directory is made 0700 and its files 0600, even under umask 000', async () => {
    const d = path.join(dir(), 'nested', 'data');
    const r = await orgsync(d, ['runs', 'list'], { umask: '000' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(mode(d)).toBe(0o700);
    expect(mode(sqlitePath(d))).toBe(0o600);

    const add = await orgsync(
      d,
      [
        'connection',
        'add',
        'wecom',
        '--name',
        'hq',
        '--corp-id',
        'ww0123456789',
        '--agent-id',
        '1000002',
        '--secret',
        '-',
        '--api-base-url',
        'http://127.0.0.1:9',
      ],
      {
        umask: '000',
        stdin: 'an-app-secret-of-enough-length-000000000000\n',
      },
    );
    expect(add.code, add.stderr).toBe(0);
    expect(mode(path.join(d, 'master.key'))).toBe(0o600);
    expect(mode(sqlitePath(d))).toBe(0o600);
  });

  it('serve under umask 000: the database and its -wal and -shm files are 0600 while it runs', async () => {
    const d = path.join(dir(), 'data');
    const server = await serve(d, '000');
    try {
      expect(mode(d)).toBe(0o700);
      for (const f of ['orgsync.db', 'orgsync.db-wal', 'orgsync.db-shm']) {
        expect(existsSync(path.join(d, f)), f).toBe(true);
        expect(mode(path.join(d, f)), f).toBe(0o600);
      }
      expect(server.lines.filter((l) => String(l.msg).includes('permissions tightened'))).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('the CLI tightens a looser directory and database with one warning line each, then says nothing', async () => {
    const d = path.join(dir(), 'data');
    expect((await orgsync(d, ['runs', 'list'])).code).toBe(0);
    chmodSync(d, 0o755);
    chmodSync(sqlitePath(d), 0o644);
    writeFileSync(path.join(d, 'server.log'), '', { mode: 0o644 });
    chmodSync(path.join(d, 'server.log'), 0o664);

    const r = await orgsync(d, ['runs', 'list']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trimEnd().split('\n').sort()).toEqual(
      [
        `orgsync: warning: ${d} was open to group or others (mode 0755); changed it to 0700`,
        `orgsync: warning: ${sqlitePath(d)} was open to group or others (mode 0644); changed it to 0600`,
        `orgsync: warning: ${path.join(d, 'server.log')} was open to group or others (mode 0664); changed it to 0600`,
      ].sort(),
    );
    expect(mode(d)).toBe(0o700);
    expect(mode(sqlitePath(d))).toBe(0o600);
    expect(mode(path.join(d, 'server.log'))).toBe(0o600);

    const again = await orgsync(d, ['runs', 'list']);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');
  });

  it('serve tightens them too and logs one warning per path with the old and new modes', async () => {
    const d = path.join(dir(), 'data');
    expect((await orgsync(d, ['runs', 'list'])).code).toBe(0);
    chmodSync(d, 0o755);
    chmodSync(sqlitePath(d), 0o644);
    const server = await serve(d, '022');
    try {
      const warned = server.lines.filter((l) => String(l.msg).includes('permissions tightened'));
      expect(
        warned
          .map((l) => ({ level: l.level, path: l.path, from: l.from, to: l.to }))
          .sort((a, b) => String(a.path).localeCompare(String(b.path))),
      ).toEqual([
        { level: 40, path: d, from: '0755', to: '0700' },
        { level: 40, path: sqlitePath(d), from: '0644', to: '0600' },
      ]);
      expect(mode(d)).toBe(0o700);
      expect(mode(sqlitePath(d))).toBe(0o600);
    } finally {
      await server.stop();
    }
  });
});

interface Served {
  lines: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** `orgsync serve` from the built bin under `umask`, once it listens. */
async function serve(dataDir: string, umask: string): Promise<Served> {
  const child = spawn('/bin/sh', ['-c', `umask ${umask}; exec "$@"`, 'sh', process.execPath, BIN, 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ORGSYNC_DATA_DIR: dataDir,
      ORGSYNC_DATABASE_URL: '',
      ORGSYNC_MASTER_KEY: '',
      ORGSYNC_PORT: '0',
      ORGSYNC_ADMIN_PASSWORD: 'a-long-enough-password',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`orgsync serve exited (${code}) before it was ready: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (text) => {
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        lines.push({ text });
      }
      if (lines.at(-1)?.msg === 'orgsync is serving') resolve();
    });
  });
  return {
    lines,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** Names with what a terminal obeys: a colour (ESC [), a one-byte CSI, a bell, DEL, line breaks, a tab. */
const HOSTILE = {
  department: 'Sales\u001b[31m RED\u001b[0m',
  child: 'Ops\u009b2J\u0007',
  user: 'Mallory\u001b]0;owned\u0007\u007f',
  other: 'Line\nbreak\u2028and\ttab',
};

describe('control characters never reach the terminal raw', () => {
  const every = `${Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join('')}\u2028\u2029 é 张三 🚀`;

  it('the one escape: every C0, DEL, C1 and line separator escaped; JSON escaped so parses back to the same value', () => {
    expectNoRawControls(oneLine(every));
    expect(oneLine(every)).not.toContain('\n');
    expect(terminalText('a\nb\u001b[2Jc')).toBe('a\nb\\x1b[2Jc');
    expect(oneLine('a\nb\tc\u009b\u007f')).toBe('a\\x0ab\\x09c\\u009b\\u007f');
    expect(oneLine(every).endsWith(' é 张三 🚀')).toBe(true);
    const doc = JSON.stringify({ name: every, nested: [every] });
    const printed = terminalText(doc);
    expectNoRawControls(printed);
    expect(JSON.parse(printed)).toEqual({ name: every, nested: [every] });
  });

  it('directory export, runs list and runs show print stored hostile names escaped; --json parses back to them', async () => {
    const d = path.join(dir(), 'data');
    expect((await orgsync(d, ['runs', 'list'])).code).toBe(0);
    // A directory written before names were checked (an older orgsync): stored straight through plan and apply.
    const store = await openStore({ dataDir: d });
    try {
      const run = await store.runs.create({ kind: 'import', source: 'legacy', dryRun: false, status: 'running' });
      const snapshot: Snapshot = {
        complete: true,
        incompleteDepartments: [],
        unseenFields: [],
        departments: [
          { externalId: 'd1', parentExternalId: null, name: HOSTILE.department },
          { externalId: 'd2', parentExternalId: 'd1', name: HOSTILE.child },
        ],
        users: [
          { externalId: 'u1', name: HOSTILE.user, departments: [{ externalId: 'd1' }] },
          { externalId: 'u2', name: HOSTILE.other, departments: [{ externalId: 'd2' }] },
        ],
      };
      const p = plan('legacy', snapshot, await store.directory.load(), resolvePolicy({}));
      await applyPlan(p, store, { runId: run.id });
      await store.runs.update(run.id, { status: 'succeeded', finishedAt: new Date().toISOString() });
    } finally {
      await store.close();
    }

    const tree = await orgsync(d, ['directory', 'export']);
    expect(tree.code, tree.stderr).toBe(0);
    expectNoRawControls(tree.stdout, tree.stderr);
    expect(tree.stdout).toContain('Sales\\x1b[31m RED\\x1b[0m');
    expect(tree.stdout).toContain('Ops\\u009b2J\\x07');
    // One line per department: a name cannot break the tree.
    const lines = tree.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.includes('(#'))).toHaveLength(3);

    const json = await orgsync(d, ['directory', 'export', '--json']);
    expectNoRawControls(json.stdout, json.stderr);
    const doc = JSON.parse(json.stdout) as { departments: Array<{ name: string }>; users: Array<{ name: string }> };
    expect(doc.departments.map((x) => x.name)).toEqual(expect.arrayContaining([HOSTILE.department, HOSTILE.child]));
    expect(doc.users.map((u) => u.name).sort()).toEqual([HOSTILE.other, HOSTILE.user].sort());

    const list = await orgsync(d, ['runs', 'list']);
    expectNoRawControls(list.stdout, list.stderr);
    const show = await orgsync(d, ['runs', 'show', '1']);
    expect(show.code, show.stderr).toBe(0);
    expectNoRawControls(show.stdout, show.stderr);
    expect(show.stdout).toContain('"Mallory\\x1b]0;owned\\x07\\u007f"');
    expect(show.stdout).toContain('"Line\\x0abreak\\u2028and\\x09tab"');
    const showJson = await orgsync(d, ['runs', 'show', '1', '--json']);
    expectNoRawControls(showJson.stdout);
    const items = (JSON.parse(showJson.stdout) as { changedObjects: { items: Array<{ label: string }> } })
      .changedObjects.items;
    expect(items.map((i) => i.label)).toEqual(
      expect.arrayContaining([HOSTILE.user, HOSTILE.other, HOSTILE.department, HOSTILE.child]),
    );
  });

  it('a WeCom sync of hostile records: the run report, its errors and runs show are escaped', async () => {
    const sim = new WecomSimulator({ seed: 15, departments: 8, users: 60 });
    const url = await sim.listen(0);
    try {
      const d = path.join(dir(), 'data');
      const add = await orgsync(
        d,
        [
          'connection',
          'add',
          'wecom',
          '--name',
          'hq',
          '--corp-id',
          sim.identity.corpId,
          '--agent-id',
          String(sim.identity.agentId),
          '--secret',
          '-',
          '--api-base-url',
          url,
        ],
        {
          stdin: `${sim.identity.secret}\n`,
        },
      );
      expect(add.code, add.stderr).toBe(0);
      const first = await orgsync(d, ['sync', 'hq']);
      expect(first.code, first.stderr).toBe(0);

      const users = sim.corp.snapshot().users.filter((u) => u.status === 1);
      const [a, b] = users as [(typeof users)[number], (typeof users)[number]];
      await plant(url, a.userid, { name: HOSTILE.user });
      // The telephone check repeats the value in its message: the message carries the raw characters.
      await plant(url, b.userid, { telephone: 'x\u009b31m\u0007' });

      const sync = await orgsync(d, ['sync', 'hq']);
      expect(sync.code, sync.stderr).toBe(4); // partial
      expectNoRawControls(sync.stdout, sync.stderr);
      expect(sync.stdout).toContain(`RECORD_SKIPPED user "${a.userid}"`);
      expect(sync.stdout).toContain('"x\\u009b31m\\x07" is not a telephone number');

      const again = await orgsync(d, ['sync', 'hq', '--json']);
      expect(again.code).toBe(4);
      expectNoRawControls(again.stdout, again.stderr);
      const report = JSON.parse(again.stdout) as RunReport;
      expect(report.status).toBe('partial');
      expect(report.errors.find((e) => e.object === `user "${b.userid}"`)?.message).toContain(
        '"x\u009b31m\u0007" is not a telephone number',
      );

      const show = await orgsync(d, ['runs', 'show', String(report.runId)]);
      expectNoRawControls(show.stdout, show.stderr);
      const tree = await orgsync(d, ['directory', 'export']);
      expectNoRawControls(tree.stdout, tree.stderr);
    } finally {
      await sim.close();
    }
  });
});

async function plant(simUrl: string, userid: string, fields: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${simUrl}/__sim/plant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userid, fields }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

// ---------------------------------------------------------------------------------------------------------------

describe('control characters are refused in names', () => {
  it('an import naming a department or user with them fails naming the object and field, and writes nothing', async () => {
    const d = path.join(dir(), 'data');
    const file = path.join(dir(), 'snapshot.json');
    writeFileSync(
      file,
      JSON.stringify({
        departments: [{ externalId: 'd1', parentExternalId: null, name: HOSTILE.department }],
        users: [
          { externalId: 'u1', name: 'Plain', position: 'Boss\u009b', departments: [{ externalId: 'd1' }] },
          { externalId: 'u2', name: HOSTILE.other, departments: [{ externalId: 'd1' }] },
        ],
      }),
    );
    const r = await orgsync(d, ['import', file]);
    expect(r.code).toBe(2); // an import file refused for its content (docs/cli.md's exit codes)
    expectNoRawControls(r.stdout, r.stderr);
    expect(r.stdout).toContain('Nothing was written to the directory.');
    expect(r.stdout).toContain(
      'departments[0] (department "d1"), field "name": the name contains the control character U+001B at position 6',
    );
    expect(r.stdout).toContain(
      'users[0] (user "u1"), field "position": the position contains the control character U+009B at position 5',
    );
    expect(r.stdout).toContain(
      'users[1] (user "u2"), field "name": the name contains the control character U+000A at position 5',
    );
    expect(r.stderr).toContain('hint: Remove control characters (escape sequences, tabs, line breaks) from the name');
    const doc = JSON.parse((await orgsync(d, ['directory', 'export', '--json'])).stdout) as {
      departments: unknown[];
      users: unknown[];
    };
    expect(doc.users).toEqual([]);
    expect(doc.departments).toHaveLength(1); // the local root only
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** What each platform's test needs to know of its simulator. */
interface Platform {
  name: 'wecom' | 'dingtalk';
  start(): Promise<{ url: string; connector: () => SourceConnector; close(): Promise<void> }>;
  /** Departments (id, parent) and users (userid, departments, active) of the ground truth. */
  truth(url: string): Promise<{
    departments: Array<{ id: number; parent: number | null }>;
    users: Array<{ userid: string; departments: number[]; active: boolean; listed: boolean }>;
  }>;
  deleteUser(userid: string): unknown;
  /** The platform's name of the user's position field. */
  position: string;
  rename(userid: string, name: string): unknown;
}

const PLATFORMS: Platform[] = [
  {
    name: 'wecom',
    async start() {
      const sim = new WecomSimulator({ seed: 1515, departments: 12, users: 160 });
      const url = await sim.listen(0);
      const tokens = new TokenCache();
      return {
        url,
        connector: () =>
          new WecomSource(
            new WecomClient({
              corpId: sim.identity.corpId,
              secret: sim.identity.secret,
              baseUrl: url,
              tokens,
              concurrency: 8,
              timeoutMs: 5000,
              maxRetries: 6,
            }),
          ),
        close: () => sim.close(),
      };
    },
    async truth(url) {
      const org = (await (await fetch(`${url}/__sim/directory`)).json()) as {
        departments: Array<{ id: number; parentid: number }>;
        users: Array<{ userid: string; department: number[]; status: number }>;
      };
      return {
        departments: org.departments.map((x) => ({ id: x.id, parent: x.parentid === 0 ? null : x.parentid })),
        // Status 5: left the corp, still listed for a while; not in the directory.
        users: org.users.map((u) => ({
          userid: u.userid,
          departments: u.department,
          active: u.status === 1,
          listed: u.status !== 5,
        })),
      };
    },
    deleteUser: (userid) => ({ op: 'deleteUser', userid }),
    position: 'position',
    rename: (userid, name) => ({ op: 'updateUser', user: { userid, name } }),
  },
  {
    name: 'dingtalk',
    async start() {
      const sim = new DingtalkSimulator({ seed: 1515, departments: 12, users: 160, config: { qpsLimit: 400 } });
      const url = await sim.listen(0);
      const tokens = new TokenCache();
      return {
        url,
        connector: () =>
          new DingtalkSource(
            new DingtalkClient({
              clientId: sim.identity.clientId,
              clientSecret: sim.identity.clientSecret,
              baseUrl: url,
              tokens,
              concurrency: 8,
              qpsLimit: 400,
              timeoutMs: 5000,
              maxRetries: 6,
            }),
          ),
        close: () => sim.close(),
      };
    },
    async truth(url) {
      const org = (await (await fetch(`${url}/__sim/directory`)).json()) as {
        departments: Array<{ dept_id: number; parent_id?: number }>;
        users: Array<{ userid: string; dept_id_list: number[]; active: boolean }>;
      };
      return {
        departments: org.departments.map((x) => ({
          id: x.dept_id,
          parent: x.parent_id === undefined || x.parent_id === 0 ? null : x.parent_id,
        })),
        users: org.users.map((u) => ({
          userid: u.userid,
          departments: u.dept_id_list,
          active: u.active,
          listed: true,
        })),
      };
    },
    deleteUser: (userid) => ({ op: 'deleteUser', userid }),
    position: 'title',
    rename: (userid, name) => ({ op: 'updateUser', user: { userid, name } }),
  },
];

describe.each(PLATFORMS)('$name: a record that fails validation is skipped, the rest of the corp syncs', (platform) => {
  let closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing) await close();
    closing = [];
  });

  it('one record failing the answer schema and one failing the limits: both skipped with an error naming user and field; the run is partial; nobody in their departments is disabled', async () => {
    const sim = await platform.start();
    closing.push(() => sim.close());
    const d = dir();
    const store = await openStore({ dataDir: d });
    closing.push(() => store.close());
    const sync = (): Promise<RunReport> =>
      executeRun(store, { kind: 'sync', source: platform.name, connector: sim.connector(), policy: resolvePolicy({}) });
    const mutate = async (operations: unknown[]): Promise<void> => {
      const res = await fetch(`${sim.url}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ operations }) });
      expect(res.status, await res.clone().text()).toBe(200);
    };

    const first = await sync();
    expect(first.status, JSON.stringify(first.errors)).toBe('succeeded');

    const [x, y, z] = leafDepartments(await platform.truth(sim.url)) as [Leaf, Leaf, Leaf];
    const [a, leaverX] = x.members as [string, string];
    const [b, leaverY] = y.members as [string, string];
    const [leaverZ, renamed] = z.members as [string, string];

    const before = await users(store, platform.name);
    await plant(sim.url, a, { name: 42 }); // not text: the platform answer's schema refuses it
    await plant(sim.url, b, { name: 'Eve\u001b[2J' }); // text, but the directory's limits refuse it
    await mutate([
      platform.deleteUser(leaverX),
      platform.deleteUser(leaverY),
      platform.deleteUser(leaverZ),
      platform.rename(renamed, 'Renamed Person'),
    ]);

    const second = await sync();
    expect(second.status).toBe('partial');
    const skipped = second.errors.filter((e) => e.code === 'RECORD_SKIPPED');
    expect(skipped.map((e) => e.object).sort()).toEqual([`user "${a}"`, `user "${b}"`].sort());
    expect(skipped.find((e) => e.object === `user "${a}"`)?.message).toContain('field "name"');
    expect(skipped.find((e) => e.object === `user "${b}"`)?.message).toContain(
      'field "name": the name contains the control character U+001B',
    );
    for (const e of skipped) expect(e.hint).toContain('Fix the record on the platform');
    expect(second.read?.incompleteDepartments).toBeGreaterThanOrEqual(2);

    const after = await users(store, platform.name);
    // The skipped records stay as they were; nobody in their departments is disabled; the rest of the corp synced.
    for (const id of [a, b]) expect(pick(after, id)).toEqual(pick(before, id));
    expect(after.get(leaverX)?.status).toBe('active');
    expect(after.get(leaverY)?.status).toBe('active');
    expect(after.get(leaverZ)?.status).toBe('disabled');
    expect(after.get(renamed)?.name).toBe('Renamed Person');

    // Fixed upstream: the next sync takes them, and the leavers held back now leave.
    await plant(sim.url, a, { name: 'Alice Fixed' });
    await plant(sim.url, b, { name: 'Eve Fixed' });
    const third = await sync();
    expect(third.status, JSON.stringify(third.errors)).toBe('succeeded');
    const fixed = await users(store, platform.name);
    expect(fixed.get(a)?.name).toBe('Alice Fixed');
    expect(fixed.get(b)?.name).toBe('Eve Fixed');
    expect(fixed.get(leaverX)?.status).toBe('disabled');
    expect(fixed.get(leaverY)?.status).toBe('disabled');
  });

  it('a department whose name breaks the limits keeps its place and its local name; nobody in it is disabled', async () => {
    const sim = await platform.start();
    closing.push(() => sim.close());
    const store = await openStore({ dataDir: dir() });
    closing.push(() => store.close());
    const sync = (): Promise<RunReport> =>
      executeRun(store, { kind: 'sync', source: platform.name, connector: sim.connector(), policy: resolvePolicy({}) });
    expect((await sync()).status).toBe('succeeded');
    const [x, z] = leafDepartments(await platform.truth(sim.url)) as [Leaf, Leaf];
    const nameBefore = (await departments(store, platform.name)).get(String(x.id))?.name;
    await plantDepartment(sim.url, x.id, { name: 'Ops\u001b[2J' });
    const res = await fetch(`${sim.url}/__sim/mutate`, {
      method: 'POST',
      body: JSON.stringify({
        operations: [platform.deleteUser(x.members[0] as string), platform.deleteUser(z.members[0] as string)],
      }),
    });
    expect(res.status).toBe(200);

    const r = await sync();
    expect(r.status).toBe('partial');
    expect(r.errors.map((e) => [e.code, e.object])).toEqual([['RECORD_SKIPPED', `department "${x.id}"`]]);
    expect(r.errors[0]?.message).toContain(
      'field "name": the name contains the control character U+001B at position 4',
    );
    expect((await departments(store, platform.name)).get(String(x.id))?.name).toBe(nameBefore);
    const local = await users(store, platform.name);
    expect(local.get(x.members[0] as string)?.status).toBe('active');
    expect(local.get(z.members[0] as string)?.status).toBe('disabled');
  });

  it('a new hire whose record is invalid is not created; their department is incomplete', async () => {
    const sim = await platform.start();
    closing.push(() => sim.close());
    const store = await openStore({ dataDir: dir() });
    closing.push(() => store.close());
    const sync = (): Promise<RunReport> =>
      executeRun(store, { kind: 'sync', source: platform.name, connector: sim.connector(), policy: resolvePolicy({}) });
    const truth = await platform.truth(sim.url);
    const victim = truth.users.find((u) => u.active && u.departments.length === 1) as { userid: string };
    await plant(sim.url, victim.userid, { [platform.position]: 'x'.repeat(500) });
    const first = await sync();
    expect(first.status).toBe('partial');
    expect(first.errors.map((e) => e.object)).toEqual([`user "${victim.userid}"`]);
    expect(first.errors[0]?.message).toMatch(/field "position": the position is 500 characters long/);
    expect(first.read?.incompleteDepartments).toBe(1);
    const local = await users(store, platform.name);
    expect(local.has(victim.userid)).toBe(false);
    expect(local.size).toBe(truth.users.filter((u) => u.listed).length - 1);
  });
});

interface Leaf {
  id: number;
  members: string[];
}

/** Leaf departments with at least two active members in no other department. */
function leafDepartments(truth: Awaited<ReturnType<Platform['truth']>>): Leaf[] {
  const parents = new Set(truth.departments.map((x) => x.parent));
  const leaves = truth.departments
    .filter((x) => !parents.has(x.id) && x.parent !== null)
    .map((x) => ({
      id: x.id,
      members: truth.users
        .filter((u) => u.active && u.departments.length === 1 && u.departments[0] === x.id)
        .map((u) => u.userid),
    }))
    .filter((x) => x.members.length >= 2);
  expect(leaves.length).toBeGreaterThanOrEqual(3);
  return leaves;
}

async function plantDepartment(simUrl: string, departmentId: number, fields: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${simUrl}/__sim/plant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ departmentId, fields }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

async function departments(store: Store, source: string): Promise<Map<string, { name: string; id: number }>> {
  const state = await store.directory.load();
  return new Map(
    state.departments.flatMap((d) => {
      const link = linkOf(d.links, source);
      return link ? [[link.externalId, d] as const] : [];
    }),
  );
}

async function users(store: Store, source: string): Promise<Map<string, LocalUser>> {
  const state = await store.directory.load();
  return new Map(
    state.users.flatMap((u) => {
      const link = linkOf(u.links, source);
      return link ? [[link.externalId, u] as const] : [];
    }),
  );
}

function pick(users: Map<string, LocalUser>, id: string): unknown {
  const u = users.get(id);
  return u && { name: u.name, status: u.status, memberships: u.memberships, position: u.position };
}

describe.each(PLATFORMS)('$name: a department record the answer schema refuses', (platform) => {
  it('is kept in the tree by its id and parent, without its name: a run error, the department incomplete, the rest synced', async () => {
    const sim = await platform.start();
    const store = await openStore({ dataDir: dir() });
    try {
      const sync = (): Promise<RunReport> =>
        executeRun(store, {
          kind: 'sync',
          source: platform.name,
          connector: sim.connector(),
          policy: resolvePolicy({}),
        });
      expect((await sync()).status).toBe('succeeded');
      const [x, z] = leafDepartments(await platform.truth(sim.url)) as [Leaf, Leaf];
      const nameBefore = (await departments(store, platform.name)).get(String(x.id))?.name;
      await plantDepartment(sim.url, x.id, { name: 42 });
      const res = await fetch(`${sim.url}/__sim/mutate`, {
        method: 'POST',
        body: JSON.stringify({
          operations: [platform.deleteUser(x.members[0] as string), platform.deleteUser(z.members[0] as string)],
        }),
      });
      expect(res.status).toBe(200);

      const r = await sync();
      expect(r.status).toBe('partial');
      expect(r.errors.map((e) => [e.code, e.object])).toEqual([['RECORD_SKIPPED', `department "${x.id}"`]]);
      expect(r.errors[0]?.message).toContain(
        `field "name": ${platform.name === 'wecom' ? 'WeCom' : 'DingTalk'} sent a value orgsync does not understand`,
      );
      expect((await departments(store, platform.name)).get(String(x.id))?.name).toBe(nameBefore);
      const local = await users(store, platform.name);
      expect(local.get(x.members[0] as string)?.status).toBe('active');
      expect(local.get(z.members[0] as string)?.status).toBe('disabled');
    } finally {
      await store.close();
      await sim.close();
    }
  });
});

describe("the server's log", () => {
  it('carries DEL, C1 controls and line separators from outside as JSON escapes: the same value, nothing raw', async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: loggerOptions('info', { write: (line) => void lines.push(line) }) });
    const name = 'a\u001b[31m\u009b2J\u007f\u0085b\u2028c\u2029';
    app.log.info({ name }, `renamed to ${name}`);
    await app.close();
    const line = lines.find((l) => l.includes('renamed to'));
    expect(line).toBeDefined();
    expect(line).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
    const parsed = JSON.parse(line as string) as { name: string; msg: string };
    expect(parsed.name).toBe(name);
    expect(parsed.msg).toBe(`renamed to ${name}`);
  });
});
