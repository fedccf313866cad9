import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { tempDir } from '../helpers/stores.js';

/**
 * `orgsync connection add dingtalk`, `connection test`, `sync` and `demo --platform dingtalk`, as separate processes
 * (the built bin/orgsync.js) against the DingTalk simulator at its default limits. No output ever holds the secret.
 */

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

let sim: DingtalkSimulator;
let url: string;
const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir('orgsync-ding-cli-');
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  sim = new DingtalkSimulator({ seed: 17, departments: 30, users: 300, config: { sensitiveFields: 'returned' } });
  url = await sim.listen(0);
});
afterAll(async () => {
  await sim.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const secret = sim.identity.clientSecret;
  for (const out of outputs) expect(out.includes(secret.slice(0, 12))).toBe(false);
});
beforeEach(() => {
  sim.updateConfig({ untrustedIp: false });
});

async function addConnection(d: string, clientSecret = sim.identity.clientSecret): Promise<Result> {
  const id = sim.identity;
  const args = [
    'connection',
    'add',
    'dingtalk',
    '--name',
    'ding',
    '--corp-id',
    id.corpId,
    '--agent-id',
    String(id.agentId),
    '--client-id',
    id.clientId,
    '--client-secret',
    '-',
    '--api-base-url',
    url,
  ];
  return orgsync(d, [...args, '--json'], `${clientSecret}\n`);
}

describe('orgsync connection add dingtalk', () => {
  it('stores the connection with the Client Secret masked, and shows it masked', async () => {
    const d = dir();
    const added = await addConnection(d);
    expect(added.code, added.stderr).toBe(0);
    const view = JSON.parse(added.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({
      name: 'ding',
      platform: 'dingtalk',
      corpId: sim.identity.corpId,
      agentId: sim.identity.agentId,
      clientId: sim.identity.clientId,
      apiBaseUrl: url,
    });
    expect(view.clientSecret).toMatch(/^••••••.{4}$/);
    const shown = await orgsync(d, ['connection', 'show', 'ding']);
    expect(shown.stdout).toContain('clientSecret:');
    expect(shown.stdout).toContain('••••••');
    const listed = await orgsync(d, ['connection', 'list']);
    expect(listed.stdout).toMatch(/ding\s+dingtalk/);
  });

  it('names the field and the fix when an option is missing or wrong', async () => {
    const r = await orgsync(dir(), [
      'connection',
      'add',
      'dingtalk',
      '--name',
      'ding',
      '--corp-id',
      'ww123',
      '--agent-id',
      '1',
      '--client-secret',
      'x'.repeat(20),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('corpId');
    expect(r.stderr).toContain('ding');
    expect(r.stderr).toContain('clientId');
  });
});

describe('orgsync connection test (DingTalk)', () => {
  it('passes every check, and fails with exit code 1 and the hint when the IP is not allowed', async () => {
    const d = dir();
    await addConnection(d);
    const ok = await orgsync(d, ['connection', 'test', 'ding', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const result = JSON.parse(ok.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual([
      'token',
      'ip whitelist',
      'app',
      'contact scope',
      'departments',
      'members',
      'mobile',
    ]);

    sim.updateConfig({ untrustedIp: true });
    const bad = await orgsync(d, ['connection', 'test', 'ding']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^ {2}FAIL ip whitelist +errcode 60020/m);
    expect(bad.stdout).toContain('服务器出口IP');
  });
});

describe('orgsync sync (DingTalk)', () => {
  it("syncs in the floor + 2 calls at DingTalk's default 20 QPS; a second sync changes nothing", async () => {
    const d = dir();
    await addConnection(d);
    const first = await orgsync(d, ['sync', 'ding', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as {
      status: string;
      source: string;
      apiCalls: number;
      changes: { users: { create: number }; departments: { create: number } };
    };
    expect(report).toMatchObject({
      status: 'succeeded',
      source: 'ding',
      changes: { users: { create: 300 }, departments: { create: 30 } },
    });
    const members = new Map<number, number>();
    for (const u of sim.corp.allUsers()) for (const id of u.dept_id_list) members.set(id, (members.get(id) ?? 0) + 1);
    const floor = sim.corp
      .allDepartments()
      .reduce((n, dept) => n + 1 + Math.max(1, Math.ceil((members.get(dept.dept_id) ?? 0) / 100)), 0);
    expect(report.apiCalls).toBe(floor + 2);
    const again = await orgsync(d, ['sync', 'ding']);
    expect(again.stdout).toMatch(/Run 2 \(sync from "ding"\): succeeded/);
    expect(again.stdout).toMatch(/users: +0 created, 0 updated/);
  });

  it('a wrong Client Secret fails the run with the hint, and prints no secret', async () => {
    const d = dir();
    await addConnection(d, 'Wrong-Client-Secret-0123456789');
    const r = await orgsync(d, ['sync', 'ding']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('凭证与基础信息');
    expect(`${r.stdout}${r.stderr}`).not.toContain('Wrong-Client-Secret-0123456789');
  });
});

describe('orgsync demo --platform dingtalk', () => {
  it('runs the whole tour on a simulated DingTalk org', async () => {
    const d = dir();
    const r = await orgsync(d, [
      'demo',
      '--platform',
      'dingtalk',
      '--users',
      '300',
      '--departments',
      '30',
      '--no-serve',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('a simulated DingTalk org');
    expect(r.stdout).toContain('2. Tested it: all checks passed');
    expect(r.stdout).toMatch(/3\. First sync \(run 1\): succeeded, 30 departments and 300 people created/);
    expect(r.stdout).toMatch(/Run 2 \(sync from "demo-dingtalk"\): succeeded/);
  });
});
