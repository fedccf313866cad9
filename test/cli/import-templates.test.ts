import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { fileOrg, jsonSnapshotFormat, type FileOrg } from '../helpers/import-files.js';
import { tempDir } from '../helpers/stores.js';

/**
 * `orgsync import FILE --template …` and `--enrich CONNECTION` as separate processes of the built bin (build first),
 * the connection against the WeCom simulator over HTTP.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function orgsync(dataDir: string, args: string[], stdin = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, '--data-dir', dataDir, ...args],
      { cwd: ROOT, env: { ...process.env, ORGSYNC_MASTER_KEY: '' }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

async function json(dataDir: string, args: string[]): Promise<{ code: number; body: any; stderr: string }> {
  const r = await orgsync(dataDir, [...args, '--json']);
  return { code: r.code, body: JSON.parse(r.stdout.trim()), stderr: r.stderr };
}

const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir('orgsync-import-');
  dirs.push(d);
  return d;
};
let sim: WecomSimulator;
let url: string;
beforeAll(async () => {
  sim = new WecomSimulator({ seed: 17, departments: 10, users: 80, config: { sensitiveFields: 'withheld' } });
  url = await sim.listen(0);
});
afterAll(async () => {
  await sim.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const noUsers = { create: 0, update: 0, disable: 0, enable: 0, delete: 0 };

describe('orgsync import --template', () => {
  it('takes what the template says of the file, and runs show tells the template', async () => {
    const d = dir();
    const org = fileOrg(100);
    const write = (o: FileOrg, name: string) => jsonSnapshotFormat.write(o, d, name);
    expect((await json(d, ['import', write(org, 'org'), '--source', 'hr'])).body.template).toBe('full');
    const next: FileOrg = { departments: org.departments, people: org.people.slice(0, 90).map((u) => ({ ...u })) };
    for (const u of next.people.slice(0, 5)) u.mobile = u.mobile?.replace('+86 138', '+86 139');
    for (let i = 0; i < 3; i++) next.people.push({ account: `new${i}`, name: `新人${i}`, departments: ['公司'] });
    const file = write(next, 'next');

    const cu = await json(d, ['import', file, '--source', 'hr', '--template', 'create-update']);
    expect(cu.code).toBe(0);
    expect(cu.body).toMatchObject({ status: 'succeeded', template: 'create-update', warnings: [] });
    expect(cu.body.changes.users).toEqual({ ...noUsers, create: 3, update: 5 });

    const del = await json(d, ['import', file, '--source', 'hr', '--template', 'delete-only']);
    expect(del.body).toMatchObject({ status: 'succeeded', template: 'delete-only' });
    expect(del.body.changes.users).toEqual({ ...noUsers, disable: 10 });

    const shown = await orgsync(d, ['runs', 'show', String(del.body.runId)]);
    expect(shown.stdout).toMatch(/^Run 3 \(import from "hr", template delete-only\): succeeded/);
    const again = await json(d, ['import', file, '--source', 'hr', '--template', 'delete-only']);
    expect(again.body.changes.users).toEqual(noUsers);

    const bad = await orgsync(d, ['import', file, '--template', 'update-only']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are create-update, delete-only, full/);
  });
});

describe('orgsync import --enrich', () => {
  async function connected(): Promise<string> {
    const d = dir();
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
      `${sim.identity.secret}\n`,
    );
    expect(add.code, add.stderr).toBe(0);
    return d;
  }

  it('fills every synced user’s mobile and email from the file, and the next sync keeps them', async () => {
    const d = await connected();
    const first = await json(d, ['sync', 'hq']);
    expect(first.body).toMatchObject({
      status: 'succeeded',
      read: { unseenFields: expect.arrayContaining(['mobile']) },
    });
    const users = (await json(d, ['directory', 'export'])).body.users as Array<{
      userid: string;
      mobile: string | null;
      email: string | null;
    }>;
    expect(users.length).toBeGreaterThan(50);
    expect(users.filter((u) => u.mobile !== null)).toEqual([]);
    const mobile = (i: number) => `+86 199${String(10_000_000 + i)}`;
    const email = (i: number) => `file${i}@file.example.com`;
    const rows = users.map((u, i) => ({
      externalId: u.userid,
      mobile: mobile(i),
      email: email(i),
    }));
    rows.push({ externalId: 'nobody-here', mobile: mobile(999), email: 'nobody@file.example.com' });
    const file = path.join(d, 'contacts.json');
    writeFileSync(file, JSON.stringify({ departments: [], users: rows }));

    const r = await json(d, ['import', file, '--enrich', 'hq']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.body).toMatchObject({
      kind: 'enrich',
      source: 'hq',
      status: 'succeeded',
      enrichment: { matched: users.length, enriched: users.length, unmatched: 1, unmatchedAccounts: ['nobody-here'] },
      changes: { users: { ...noUsers, update: users.length } },
    });
    expect(r.body.template).toBeUndefined();
    const human = await orgsync(d, ['runs', 'show', String(r.body.runId), '--changes', '1']);
    expect(human.stdout).toMatch(/^Run 2 \(enrich from "hq"\): succeeded/);
    expect(human.stdout).toMatch(/rows: {8}\d+ matched \(\d+ enriched\), 1 unmatched\n {2}unmatched: {3}nobody-here/);

    const expectFilled = async () => {
      const now = (await json(d, ['directory', 'export'])).body.users as typeof users;
      expect(now.map((u) => [u.userid, u.mobile, u.email])).toEqual(
        users.map((u, i) => [u.userid, mobile(i), email(i)]),
      );
    };
    await expectFilled();
    const second = await json(d, ['sync', 'hq']);
    expect(second.body).toMatchObject({ status: 'succeeded', changes: { users: noUsers } });
    await expectFilled();
    const list = await json(d, ['runs', 'list']);
    expect(list.body.runs.map((x: { kind: string }) => x.kind)).toEqual(['sync', 'enrich', 'sync']);
  });

  it('refuses --template, --source and policy flags beside it, and an unknown connection, with exit 2', async () => {
    const d = await connected();
    const file = jsonSnapshotFormat.write(fileOrg(3), d, 'three');
    const cases: Array<[string[], RegExp]> = [
      [['--template', 'create-update'], /--template cannot be combined with --enrich/],
      [['--source', 'hr'], /--source cannot be combined with --enrich/],
      [['--source', 'hr', '--on-user-gone', 'delete'], /--source and --on-user-gone cannot be combined with --enrich/],
      [['--policy', file], /--policy cannot be combined with --enrich/],
    ];
    for (const [flags, message] of cases) {
      const r = await orgsync(d, ['import', file, '--enrich', 'hq', ...flags]);
      expect({ flags, code: r.code }).toEqual({ flags, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    const missing = await orgsync(d, ['import', file, '--enrich', 'nope', '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout).error.message).toMatch(/there is no connection named "nope"/);
    expect((await json(d, ['runs', 'list'])).body.runs).toEqual([]);
  });
});
