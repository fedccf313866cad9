import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** `orgsync` on a Node older than package.json's `engines` says which Node it needs instead of failing obscurely. */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const execFileAsync = promisify(execFile);

const engines = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } })
  .engines.node;
const minimum = /^>=(\d+)\.(\d+)$/.exec(engines);

function older(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor, needMinor] = [Number(minimum?.[1]), Number(minimum?.[2])];
  return major < needMajor || (major === needMajor && minor < needMinor);
}

/**
 * A node binary older than `engines`: ORGSYNC_OLD_NODE, else the machine's own (scripts/node-env.sh puts a newer one
 * first on PATH, so the older one is further down PATH or in /usr/bin).
 */
function findOlderNode(): { bin: string; version: string } | { looked: string[] } {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/local/bin'];
  const candidates = [
    process.env.ORGSYNC_OLD_NODE ?? '',
    ...dirs.filter((d) => d !== '').map((d) => path.join(d, 'node')),
  ];
  const looked: string[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (candidate === '' || !existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (seen.has(real)) continue;
    seen.add(real);
    looked.push(candidate);
    let version: string;
    try {
      version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    } catch {
      continue;
    }
    if (older(version)) return { bin: candidate, version };
  }
  return { looked };
}

describe('the Node version check in bin/orgsync.js', () => {
  it('engines names a minimum of the form >=MAJOR.MINOR, and the Node running the tests meets it', () => {
    expect(minimum, `package.json engines.node is "${engines}"`).not.toBeNull();
    expect(older(process.versions.node)).toBe(false);
  });

  it('on an older Node: names the Node it needs and how to get it, exits 1, loads nothing', async (ctx) => {
    const old = findOlderNode();
    if ('looked' in old) {
      ctx.skip(
        `no Node older than ${engines} on this machine (looked at: ${old.looked.join(', ') || 'nothing found'}; set ORGSYNC_OLD_NODE to one)`,
      );
      return;
    }
    const result = await execFileAsync(old.bin, [BIN, 'sync', 'anything', '--json'], {
      cwd: ROOT,
      env: { ...process.env },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        code: err.code,
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? '',
      }),
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`needs Node.js ${engines.slice(2)} or newer`);
    expect(result.stderr).toContain(`this is Node ${old.version}`);
    expect(result.stderr).toContain('. scripts/node-env.sh');
    expect(result.stderr).toContain('install Node 24 LTS');
    // Nothing of the program ran: no stack trace, no commander usage text.
    expect(result.stderr).not.toMatch(/\n\s+at |Error|Usage/);
  });

  it('on a Node that meets engines: goes on to the program', async () => {
    const { stdout } = await execFileAsync(process.execPath, [BIN, '--help'], { cwd: ROOT });
    expect(stdout).toContain('Usage: orgsync');
  });
});
