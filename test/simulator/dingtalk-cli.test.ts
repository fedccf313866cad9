import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dingConfigSchema } from '../../src/simulator/dingtalk/config.js';

/** `orgsync simulate dingtalk`: the ready line, the flags, and their errors (the built CLI, as a user runs it). */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const run = promisify(execFile);

/** Starts `orgsync simulate dingtalk …` and resolves with its ready line and the process. */
async function simulate(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'simulate', 'dingtalk', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code} before it was ready`)));
  });
  return { child, ready: JSON.parse(line) as Record<string, any>, rest: () => out.slice(line.length + 1) };
}

async function fail(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    await run(process.execPath, [BIN, 'simulate', 'dingtalk', ...args], { cwd: ROOT });
  } catch (err) {
    return err as { code: number; stderr: string; stdout: string };
  }
  throw new Error('expected a failure');
}

describe('orgsync simulate dingtalk', () => {
  it('prints one ready line, serves DingTalk on that url, and stops cleanly', async () => {
    const { child, ready, rest } = await simulate([
      '--port',
      '0',
      '--seed',
      '3',
      '--departments',
      '12',
      '--users',
      '80',
    ]);
    try {
      expect(Object.keys(ready).sort()).toEqual([
        'agentId',
        'clientId',
        'clientSecret',
        'corpId',
        'departments',
        'seed',
        'url',
        'users',
      ]);
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ready).toMatchObject({ seed: 3, departments: 12, users: 80 });
      const token = (await (
        await fetch(`${ready.url}/gettoken?appkey=${ready.clientId}&appsecret=${ready.clientSecret}`)
      ).json()) as { errcode: number; access_token: string };
      expect(token.errcode).toBe(0);
      const sub = (await (
        await fetch(`${ready.url}/topapi/v2/department/listsub?access_token=${token.access_token}`, {
          method: 'POST',
          body: '{"dept_id":1}',
        })
      ).json()) as {
        errcode: number;
        result: unknown[];
      };
      expect(sub.errcode).toBe(0);
      expect(sub.result.length).toBeGreaterThan(0);
      const api = await fetch(`${ready.url}/v1.0/oauth2/accessToken`, {
        method: 'POST',
        body: JSON.stringify({ appKey: ready.clientId, appSecret: ready.clientSecret }),
      });
      expect(((await api.json()) as { accessToken: string }).accessToken).toBe(token.access_token);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(rest()).toBe('');
  });

  it('the same seed gives the same org and credentials; the default size has a department of over 1,000 members', async () => {
    const a = await simulate(['--seed', '11', '--users', '60']);
    const b = await simulate(['--seed', '11', '--users', '60']);
    const d = await simulate([]);
    try {
      const strip = ({ url: _u, ...r }: Record<string, unknown>) => r;
      expect(strip(a.ready)).toEqual(strip(b.ready));
      const dir = async (r: Record<string, unknown>) => (await fetch(`${r.url}/__sim/directory`)).text();
      expect(await dir(a.ready)).toBe(await dir(b.ready));
      expect(d.ready).toMatchObject({ departments: 200, users: 10_000 });
      const org = JSON.parse(await dir(d.ready)) as { users: Array<{ dept_id_list: number[] }> };
      const counts = new Map<number, number>();
      for (const u of org.users) for (const x of u.dept_id_list) counts.set(x, (counts.get(x) ?? 0) + 1);
      expect(Math.max(...counts.values())).toBeGreaterThan(1000);
    } finally {
      for (const s of [a, b, d]) s.child.kill('SIGTERM');
    }
  });

  it('switches given as flags show in /__sim/config', async () => {
    const { child, ready } = await simulate([
      '--users',
      '20',
      '--latency-ms',
      '5',
      '--visible-range',
      '2,3',
      '--no-token-reuse',
      '--qps-limit',
      '50',
      '--ip-limit-per-20s',
      '500',
      '--denied-apis',
      'topapi/v2/user/list,v1.0/contact/users/me',
      '--untrusted-ip',
    ]);
    try {
      const config = (await (await fetch(`${ready.url}/__sim/config`)).json()) as Record<string, unknown>;
      expect(config).toMatchObject({
        latencyMs: 5,
        visibleRange: [2, 3],
        tokenReuse: false,
        qpsLimit: 50,
        ipLimitPer20s: 500,
        deniedApis: ['topapi/v2/user/list', 'v1.0/contact/users/me'],
        untrustedIp: true,
        faultRate: 0,
      });
      const res = (await (
        await fetch(`${ready.url}/gettoken?appkey=${ready.clientId}&appsecret=${ready.clientSecret}`)
      ).json()) as { errcode: number };
      expect(res.errcode).toBe(60020);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('--help lists every switch', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'simulate', 'dingtalk', '--help'], { cwd: ROOT });
    const flag = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/([a-z])(\d)/g, '$1-$2');
    for (const key of Object.keys(dingConfigSchema.shape)) {
      expect(stdout).toContain(key === 'tokenReuse' ? '--no-token-reuse' : `--${flag(key)}`);
    }
    for (const f of ['--port', '--seed', '--departments', '--users']) expect(stdout).toContain(f);
  });

  it('bad flags are refused with the flag named, before anything listens', async () => {
    const zero = await fail(['--qps-limit', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--qps-limit/);
    expect(zero.stdout).toBe('');
    expect((await fail(['--denied-apis', 'topapi/v2/user/nothing'])).stderr).toMatch(/--denied-apis/);
    expect((await fail(['--fault-kinds', 'errcode,meteor'])).stderr).toMatch(/--fault-kinds/);
    expect((await fail(['--callback-aes-key', 'short'])).stderr).toMatch(/--callback-aes-key.*43 letters and digits/);
    const notNumber = await fail(['--ip-limit-per-20s', 'many']);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toMatch(/--ip-limit-per-20s/);
    expect((await fail(['--users', '-1'])).stderr).toMatch(/--departments\/--users/);
  });
});
