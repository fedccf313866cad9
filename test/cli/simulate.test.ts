import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');

/** Starts `orgsync simulate wecom …` and resolves with its ready line and the process. */
async function simulate(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'simulate', 'wecom', ...args], {
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
  return { child, ready: JSON.parse(line) as Record<string, unknown>, rest: () => out.slice(line.length + 1) };
}

describe('orgsync simulate wecom', () => {
  it('prints one ready line, serves WeCom on that url, and stops cleanly', async () => {
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
      expect(Object.keys(ready).sort()).toEqual(
        ['agentId', 'contactsSecret', 'corpId', 'departments', 'secret', 'seed', 'url', 'users'].sort(),
      );
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ready).toMatchObject({ seed: 3, departments: 12, users: 80, agentId: 1000002 });
      const token = (await (
        await fetch(`${ready.url}/cgi-bin/gettoken?corpid=${ready.corpId}&corpsecret=${ready.contactsSecret}`)
      ).json()) as {
        errcode: number;
        access_token: string;
      };
      expect(token.errcode).toBe(0);
      const list = (await (
        await fetch(`${ready.url}/cgi-bin/user/list_id?access_token=${token.access_token}`, {
          method: 'POST',
          body: '{}',
        })
      ).json()) as {
        dept_user: unknown[];
        next_cursor: string;
      };
      expect(list.dept_user.length).toBeGreaterThanOrEqual(80);
      expect(list.next_cursor).toBe('');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(rest()).toBe('');
  });

  it('the same seed gives the same corp and secrets', async () => {
    const a = await simulate(['--seed', '11', '--users', '30']);
    const b = await simulate(['--seed', '11', '--users', '30']);
    const c = await simulate(['--seed', '12', '--users', '30']);
    try {
      const strip = ({ url: _u, ...r }: Record<string, unknown>) => r;
      expect(strip(a.ready)).toEqual(strip(b.ready));
      expect(strip(c.ready)).not.toEqual(strip(a.ready));
      const dir = async (r: Record<string, unknown>) => (await fetch(`${r.url}/__sim/directory`)).text();
      expect(await dir(a.ready)).toBe(await dir(b.ready));
      expect(await dir(c.ready)).not.toBe(await dir(a.ready));
    } finally {
      for (const s of [a, b, c]) s.child.kill('SIGTERM');
    }
  });

  it('switches given as flags show in /__sim/config', async () => {
    const { child, ready } = await simulate([
      '--latency-ms',
      '5',
      '--visible-range',
      '2,3',
      '--untrusted-ip',
      '--sensitive-fields',
      'returned',
    ]);
    try {
      const config = (await (await fetch(`${ready.url}/__sim/config`)).json()) as Record<string, unknown>;
      expect(config).toMatchObject({
        latencyMs: 5,
        visibleRange: [2, 3],
        untrustedIp: true,
        sensitiveFields: 'returned',
        faultRate: 0,
      });
      const res = (await (
        await fetch(`${ready.url}/cgi-bin/gettoken?corpid=${ready.corpId}&corpsecret=${ready.secret}`)
      ).json()) as { errcode: number };
      expect(res.errcode).toBe(60020);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('bad flags are refused with the flag named, before anything listens', async () => {
    const run = promisify(execFile);
    const fail = async (args: string[]) => {
      try {
        await run(process.execPath, [BIN, 'simulate', 'wecom', ...args], { cwd: ROOT });
      } catch (err) {
        return err as { code: number; stderr: string; stdout: string };
      }
      throw new Error('expected a failure');
    };
    const negative = await fail(['--latency-ms', '-5']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/--latency-ms/);
    expect(negative.stdout).toBe('');
    const key = await fail(['--callback-aes-key', 'short']);
    expect(key.stderr).toMatch(/--callback-aes-key.*43 letters and digits/);
    const kinds = await fail(['--fault-kinds', 'errcode,meteor']);
    expect(kinds.stderr).toMatch(/--fault-kinds/);
    const notNumber = await fail(['--visible-range', '2,x']);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toMatch(/"x" is not a whole number/);
  });
});
