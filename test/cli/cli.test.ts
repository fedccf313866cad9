import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, tempDir } from '../helpers/stores.js';

/** Drives the built `orgsync` command as a user would: separate processes, real files, real databases. */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const EXAMPLE = path.join(ROOT, 'examples/acme-org.json');
const execFileAsync = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function orgsync(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function jsonOf(r: Result): any {
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

let dirs: string[] = [];
function dataDir(): string {
  const d = tempDir('orgsync-cli-');
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function writeSnapshot(dir: string, name: string, doc: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

const example = (): any => JSON.parse(readFileSync(EXAMPLE, 'utf8'));

describe('orgsync import and directory export', () => {
  it('imports the example, reports in JSON with the contract fields, and exports the directory', async () => {
    const d = dataDir();
    const r = await orgsync(['--data-dir', d, 'import', EXAMPLE, '--source', 'hr', '--json']);
    expect(r.code).toBe(0);
    const report = jsonOf(r);
    expect(report).toMatchObject({
      runId: 1,
      status: 'succeeded',
      dryRun: false,
      changes: {
        departments: { create: 6, update: 0, move: 0, delete: 0 },
        users: { create: 10, update: 0, disable: 0, enable: 0, delete: 0 },
      },
      errors: [],
    });

    const exp = jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json']));
    expect(exp.departments).toHaveLength(7);
    expect(exp.departments[0]).toEqual({ id: 1, name: 'Organization', parentId: null, order: 0, links: [] });
    const liuyang = exp.users.find((u: any) => u.userid === 'liuyang');
    const byExt = new Map(exp.departments.map((x: any) => [x.links[0]?.externalId, x.id]));
    expect(liuyang).toMatchObject({
      name: '刘洋',
      status: 'active',
      position: '平台组组长',
      mobile: '+86 13800000002',
      email: 'liuyang@example.com',
      mainDepartment: byExt.get('3'),
      departments: [
        { id: byExt.get('3'), leader: true, order: 0 },
        { id: byExt.get('4'), leader: false, order: 5 },
      ],
      attributes: {},
      links: [{ source: 'hr', externalId: 'liuyang' }],
    });
    expect(exp.users.find((u: any) => u.userid === 'wubin').status).toBe('disabled');

    const again = jsonOf(await orgsync(['--data-dir', d, 'import', EXAMPLE, '--source', 'hr', '--json']));
    expect(again.changes.users).toEqual({ create: 0, update: 0, disable: 0, enable: 0, delete: 0 });
    expect(jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json']))).toEqual(exp);
  });

  it('prints a human report and a tree without --json', async () => {
    const d = dataDir();
    const r = await orgsync(['import', EXAMPLE], { ORGSYNC_DATA_DIR: d });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Run 1 \(import from "json"\): succeeded/);
    expect(r.stdout).toMatch(/users: +10 created/);
    const tree = await orgsync(['directory', 'export'], { ORGSYNC_DATA_DIR: d });
    expect(tree.stdout).toMatch(/^ {4}研发中心 \(#\d+, 2 members\) \[json:2\]$/m);
    expect(tree.stdout).toMatch(/7 departments, 10 users \(9 active, 1 disabled\)/);
  });
});

describe('malformed snapshots are rejected, naming the object and field, and write nothing', () => {
  const cases: Array<[string, (doc: any) => unknown, RegExp]> = [
    ['bad JSON', () => '{ "departments": [ }', /\(file\) at line 1, column 20, field "\(syntax\)": ValueExpected/],
    [
      'an unknown parent',
      (doc) => {
        doc.departments.push({ externalId: '9', parentExternalId: '77', name: 'X' });
      },
      /departments\[6\] \(department "9"\), field "parentExternalId": unknown parent "77"/,
    ],
    [
      'a department cycle',
      (doc) => {
        doc.departments[1].parentExternalId = '3';
      },
      /department "\d"\), field "parentExternalId": the parents form a cycle/,
    ],
    [
      'depth 16',
      (doc) => {
        for (let i = 0; i < 16; i++)
          doc.departments.push({ externalId: `d${i}`, parentExternalId: i === 0 ? null : `d${i - 1}`, name: `L${i}` });
      },
      /department "d15"\), field "parentExternalId": the department is at level 16; wecom allows at most 15 levels/,
    ],
    [
      'duplicate ids',
      (doc) => {
        doc.users.push({ ...doc.users[0] });
      },
      /users\[10\] \(user "ZhangWei"\), field "externalId": duplicate id/,
    ],
    [
      'an invalid userid',
      (doc) => {
        doc.users[2].externalId = 'wang fang';
      },
      /users\[2\] \(user "wang fang"\), field "externalId": "wang fang" is not a valid wecom userid/,
    ],
    [
      'a 65-character name',
      (doc) => {
        doc.users[3].name = '陈'.repeat(65);
      },
      /users\[3\] \(user "chenjing"\), field "name": the name is 65 characters long; the limit is 64/,
    ],
    [
      'an unknown key',
      (doc) => {
        doc.users[0].mobil = '1';
      },
      /users\[0\] \(user "ZhangWei"\), field "mobil": unknown key "mobil"/,
    ],
  ];

  let d: string;
  let before: string;
  beforeAll(async () => {
    d = dataDir();
    expect((await orgsync(['--data-dir', d, 'import', EXAMPLE])).code).toBe(0);
    before = (await orgsync(['--data-dir', d, 'directory', 'export', '--json'])).stdout;
  });

  for (const [what, mutate, expected] of cases) {
    it(what, async () => {
      const doc = example();
      const replaced = mutate(doc);
      const file = writeSnapshot(d, 'bad.json', typeof replaced === 'string' ? replaced : doc);
      const r = await orgsync(['--data-dir', d, 'import', file, '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(expected);
      const report = jsonOf(r);
      expect(report.status).toBe('failed');
      expect(report.errors[0].hint).toBeTruthy();
      expect((await orgsync(['--data-dir', d, 'directory', 'export', '--json'])).stdout).toBe(before);
    });
  }

  it('a file that does not exist', async () => {
    const r = await orgsync(['--data-dir', dataDir(), 'import', '/nonexistent/org.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/file not found: \/nonexistent\/org.json/);
  });

  it('bad flags get a usage error', async () => {
    const r = await orgsync(['--data-dir', dataDir(), 'import', EXAMPLE, '--on-user-gone', 'vanish']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--on-user-gone.*vanish.*disable, delete, ignore/s);
    const p = await orgsync(['--data-dir', dataDir(), 'import', EXAMPLE, '--match', 'userid,phone']);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/matching\.users\.1/);
  });
});

describe('runs: list, show, blocked and approved', () => {
  it('blocks a mass disable with exit code 3, shows it, and approve applies exactly that plan', async () => {
    const d = dataDir();
    const many = example();
    for (let i = 0; i < 90; i++)
      many.users.push({ externalId: `extra${i}`, name: `员工${i}`, departments: [{ externalId: '5' }] });
    expect((await orgsync(['--data-dir', d, 'import', writeSnapshot(d, 'many.json', many)])).code).toBe(0);

    const r = await orgsync(['--data-dir', d, 'import', EXAMPLE, '--json']);
    expect(r.code).toBe(3);
    const blocked = jsonOf(r);
    expect(blocked).toMatchObject({ status: 'blocked', changes: { users: { disable: 90 } }, blocked: { count: 90 } });
    expect(r.stderr).toMatch(/run 2 blocked: the plan disables or deletes 90 of 99 active users/);

    const list = jsonOf(await orgsync(['--data-dir', d, 'runs', 'list', '--json']));
    expect(list.runs.map((x: any) => [x.runId, x.status])).toEqual([
      [2, 'blocked'],
      [1, 'succeeded'],
    ]);
    const shown = jsonOf(await orgsync(['--data-dir', d, 'runs', 'show', '2', '--json', '--changes', '5']));
    expect(shown.changedObjects.total).toBe(90);
    expect(shown.changedObjects.items).toHaveLength(5);
    expect(shown.changedObjects.items[0]).toMatchObject({
      objectKind: 'user',
      action: 'disable',
      fields: { status: { before: 'active', after: 'disabled' } },
    });
    expect(shown.steps.map((s: any) => s.name)).toEqual(['read', 'plan', 'guard']);
    const human = await orgsync(['--data-dir', d, 'runs', 'show', '2']);
    expect(human.stdout).toMatch(/status: "active" → "disabled"/);

    const approved = await orgsync(['--data-dir', d, 'runs', 'approve', '2', '--json']);
    expect(approved.code).toBe(0);
    expect(jsonOf(approved)).toMatchObject({ runId: 2, status: 'succeeded', changes: { users: { disable: 90 } } });
    const exp = jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json']));
    expect(exp.users.filter((u: any) => u.status === 'disabled')).toHaveLength(91);

    const again = await orgsync(['--data-dir', d, 'runs', 'approve', '2', '--json']);
    expect(again.code).toBe(1);
    expect(jsonOf(again).error).toMatchObject({ code: 'RUN_NOT_APPROVABLE' });
    const missing = await orgsync(['--data-dir', d, 'runs', 'show', '99']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/RUN_NOT_FOUND: there is no run 99/);
  });

  it('a dry run exits 0, writes nothing, and is listed as planned', async () => {
    const d = dataDir();
    const r = jsonOf(await orgsync(['--data-dir', d, 'import', EXAMPLE, '--dry-run', '--json']));
    expect(r).toMatchObject({ status: 'planned', dryRun: true, changes: { users: { create: 10 } } });
    expect(jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json'])).users).toEqual([]);
  });
});

describe('sharing one data directory', () => {
  it('two imports started at the same moment both succeed, and nothing is duplicated', async () => {
    const d = dataDir();
    const [a, b] = await Promise.all([
      orgsync(['--data-dir', d, 'import', EXAMPLE, '--source', 'hr', '--json']),
      orgsync(['--data-dir', d, 'import', EXAMPLE, '--source', 'hr', '--json']),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const creates = [jsonOf(a), jsonOf(b)].map((r) => r.changes.users.create).sort();
    expect(creates).toEqual([0, 10]);
    const exp = jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json']));
    expect(exp.users).toHaveLength(10);
    expect(exp.departments).toHaveLength(7);
  });

  it('a long-lived process holding the database open does not stop a CLI import, and sees its result', async () => {
    const d = dataDir();
    // A separate process that keeps the store open and reads it every 20 ms, as a server would, and once more when told.
    const reader = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { openStore } = await import(${JSON.stringify(path.join(ROOT, 'dist/store/open.js'))});
         const store = await openStore({ dataDir: ${JSON.stringify(d)} });
         process.stdout.write('ready\\n');
         let max = 0;
         const t = setInterval(async () => { const s = await store.directory.load(); max = Math.max(max, s.users.length); }, 20);
         process.stdin.on('data', async () => { clearInterval(t); const s = await store.directory.load(); process.stdout.write(String(max) + ' ' + String(s.users.length) + '\\n'); await store.close(); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (out.includes('ready')) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    const r = await orgsync(['--data-dir', d, 'import', EXAMPLE, '--json']);
    expect(r.code).toBe(0);
    // Told after the import ended, the reader reads once more on the connection it kept open: it sees all 10 users,
    // and never more than 10 while reading every 20 ms during the import.
    reader.stdin.write('stop\n');
    await new Promise((res) => reader.on('exit', res));
    const [maxSeen, atStop] = (out.trim().split('\n').pop() ?? '').split(' ').map(Number);
    expect(atStop).toBe(10);
    expect(maxSeen).toBeLessThanOrEqual(10);
  });
});

describe('PostgreSQL through ORGSYNC_DATABASE_URL', () => {
  const schema = `cli_${process.pid}_${Date.now().toString(36)}`;
  const url = `${PG_URL}?options=-c%20search_path%3D${schema}`;
  beforeAll(async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`create schema ${schema}`);
    await c.end();
  });
  afterAll(async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  });

  it('imports and exports the same directory as on SQLite', async () => {
    const env = { ORGSYNC_DATABASE_URL: url };
    const r = await orgsync(['import', EXAMPLE, '--json'], env);
    expect(r.code).toBe(0);
    const onPg = jsonOf(await orgsync(['directory', 'export', '--json'], env));
    const d = dataDir();
    await orgsync(['--data-dir', d, 'import', EXAMPLE]);
    expect(onPg).toEqual(jsonOf(await orgsync(['--data-dir', d, 'directory', 'export', '--json'])));
  });

  it('an unreachable server is a clear error, with the password masked', async () => {
    const r = await orgsync(['directory', 'export'], {
      ORGSYNC_DATABASE_URL: 'postgres://orgsync:s3cret@127.0.0.1:1/none',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /STORE_UNAVAILABLE: cannot connect to PostgreSQL at postgres:\/\/orgsync:\*\*\*@127.0.0.1:1\/none/,
    );
    expect(r.stderr).not.toContain('s3cret');
    const bad = await orgsync(['directory', 'export'], { ORGSYNC_DATABASE_URL: 'mysql://x' });
    expect(bad.stderr).toMatch(/CONFIG_INVALID: ORGSYNC_DATABASE_URL "mysql:\/\/x" is not a postgres:\/\/ URL/);
  });
});
