import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionCommand } from '../../src/cli/connection.js';
import { formatError, type Output } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config.js';
import { ConnectionService } from '../../src/connections/connections.js';
import { MASTER_KEY_ENV, SecretBox, masterKeyPath } from '../../src/connections/secret-box.js';
import { ValidationError, describeIssue, errorInfo } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/stores.js';
import { PLATFORMS } from '../../src/connectors/registry.js';

/**
 * Drives `orgsync connection …` in-process, inside a program built the way src/cli/main.ts builds its own (global
 * --data-dir, exitOverride, the same error reporting and exit codes), against a real SQLite data directory.
 */

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** Each io.out call: a --json command makes exactly one. */
  outs: string[];
}

const SECRET = 'Vb7Nq2Lx9Tz4Wk8Rm3Pc6Yd1Hf5Js0Ga';
const CONTACTS_SECRET = 'Ct5Xr8Mw2Qz7Lp4Nv9Bk3Fh6Dj1Sy0Ue';
const STDIN_SECRET = 'Si9Kd3Wq7Zx2Mv6Pl8Rt4Ny1Bc5Fh0Aj';
const STDIN_CONTACTS = 'Sc2Lm8Qw4Zr6Vt9Xk3Pd7Nb1Hy5Gf0Ej';
const CALLBACK_TOKEN = 'Tk7Mq3Zr9Lw2';
const CALLBACK_AES_KEY = 'Ak4Rz8Mq2Lw6Xv9Pt3Nc7Hd1Jf5Gb0Ys2Ue8Wi4Oq6E'; // 43 letters and digits
const ALL_SECRETS = [
  SECRET,
  CONTACTS_SECRET,
  STDIN_SECRET,
  STDIN_CONTACTS,
  'Nw4Qh9Ty7Xq2Lz8',
  CALLBACK_TOKEN,
  CALLBACK_AES_KEY,
];

const everything: string[] = [];

let dirs: string[] = [];
function dataDir(): string {
  const d = tempDir('orgsync-conn-cli-');
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  // Whatever any command printed, no secret (nor 5 characters in a row of one) ever appeared.
  const all = everything.join('\n');
  for (const s of ALL_SECRETS) for (let i = 0; i + 5 <= s.length; i++) expect(all).not.toContain(s.slice(i, i + 5));
});

function adopt(cmd: Command, parent: Command): void {
  cmd.copyInheritedSettings(parent);
  for (const sub of cmd.commands) adopt(sub, cmd);
}

async function orgsync(
  dir: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Result> {
  const outs: string[] = [];
  const errs: string[] = [];
  const io: Output = { out: (t) => void outs.push(t), err: (t) => void errs.push(t) };
  const env = { ...options.env };
  let exitCode = 0;
  let json = false;
  const withStore = async <T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>): Promise<T> => {
    const store = await openStore(loadConfig(env, { dataDir: opts.dataDir }).store);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  };
  const program = new Command()
    .name('orgsync')
    .option('--data-dir <dir>', 'data directory')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const connection = connectionCommand(io, {
    withStore,
    setExitCode: (c) => void (exitCode = c),
    setJson: (j) => void (json = j),
    env,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
  });
  adopt(connection, program);
  program.addCommand(connection);
  try {
    await program.parseAsync(['--data-dir', dir, 'connection', ...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      exitCode = err.exitCode === 0 ? 0 : 2;
    } else {
      const info = errorInfo(err);
      if (json) io.out(JSON.stringify({ error: info }));
      io.err(`orgsync: ${formatError(info)}`);
      if (err instanceof ValidationError)
        for (const issue of err.issues.slice(1)) io.err(`  - ${describeIssue(issue)}`);
      exitCode = err instanceof ValidationError ? 2 : 1;
    }
  }
  const r = { code: exitCode, stdout: outs.join('\n'), stderr: errs.join('\n'), outs };
  everything.push(r.stdout, r.stderr);
  return r;
}

function jsonOf(r: Result): any {
  expect(r.outs).toHaveLength(1);
  return JSON.parse(r.outs[0] as string);
}

const ADD = ['add', 'wecom', '--name', 'acme', '--corp-id', 'ww1a2b3c4d5e6f7a8b', '--agent-id', '1000002'];

/** The stored secrets, read back through the service with the data directory's key. */
async function storedSecrets(dir: string, name: string): Promise<unknown> {
  const store = await openStore({ dataDir: dir });
  try {
    return (await new ConnectionService(store, SecretBox.fromEnvironment({ env: {}, dataDir: dir })).get(name)).secrets;
  } finally {
    await store.close();
  }
}

describe('orgsync connection add <platform>: from the registry', () => {
  it('`add --help` lists every platform of the registry; each one takes a flag per setting and secret of its definition', async () => {
    const dir = dataDir();
    const help = await orgsync(dir, ['add', '--help']);
    expect(help.code).toBe(0);
    const listed = help.stdout.split('Platforms:')[1] ?? '';
    expect(
      listed
        .trim()
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[0]),
    ).toEqual(PLATFORMS.map((d) => d.id));
    for (const d of PLATFORMS) {
      expect(listed).toContain(`${d.names.en} (${d.names.zh})`);
      const own = await orgsync(dir, ['add', d.id, '--help']);
      const flags = [...own.stdout.matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]);
      const fieldFlags = [...Object.keys(d.settings.shape), ...Object.keys(d.secrets.shape)].map(
        (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      );
      expect(flags).toEqual([
        '--name',
        ...fieldFlags,
        '--policy',
        '--on-user-gone',
        '--mount',
        '--match',
        '--reconcile-cron',
        '--json',
      ]);
    }
  });
});

describe('orgsync connection add wecom', () => {
  it('adds a connection; prints it masked; --json is one document of the documented shape', async () => {
    const dir = dataDir();
    const text = await orgsync(dir, [...ADD, '--secret', SECRET]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain('Added connection "acme"');
    expect(text.stdout).toContain('ww1a2b3c4d5e6f7a8b');
    expect(text.stdout).toMatch(/secret:\s+••••••s0Ga\n/);
    expect(text.stdout).toMatch(/contactsSecret:\s+\(not set\)/);
    expect(text.stdout).toMatch(/onUserGone\s+disable/);

    const r = await orgsync(dir, [
      'add',
      'wecom',
      '--name',
      'beta',
      '--corp-id',
      'wwbeef',
      '--agent-id',
      '7',
      '--secret',
      SECRET,
      '--contacts-secret',
      CONTACTS_SECRET,
      '--api-base-url',
      'http://127.0.0.1:9/',
      '--on-user-gone',
      'ignore',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc).toStrictEqual({
      name: 'beta',
      platform: 'wecom',
      corpId: 'wwbeef',
      agentId: 7,
      apiBaseUrl: 'http://127.0.0.1:9',
      secret: '••••••s0Ga',
      contactsSecret: '••••••y0Ue',
      reconcileCron: '0 2 * * *',
      callbackUrl: 'http://127.0.0.1:8080/callbacks/beta',
      policy: expect.objectContaining({
        onUserGone: 'ignore',
        onDepartmentGone: 'delete',
        guard: { maxUsers: 50, maxRatio: 0.2 },
      }),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(await storedSecrets(dir, 'beta')).toStrictEqual({ secret: SECRET, contactsSecret: CONTACTS_SECRET });
  });

  it('creates master.key (0600) in the data directory on first use when ORGSYNC_MASTER_KEY is unset', async () => {
    const dir = dataDir();
    expect((await orgsync(dir, [...ADD, '--secret', SECRET])).code).toBe(0);
    expect(statSync(masterKeyPath(dir)).mode & 0o777).toBe(0o600);
  });

  it('with ORGSYNC_MASTER_KEY no key file is made, and the same key is needed to read the secrets back', async () => {
    const dir = dataDir();
    const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
    expect((await orgsync(dir, [...ADD, '--secret', SECRET], { env })).code).toBe(0);
    expect(existsSync(masterKeyPath(dir))).toBe(false);
    expect(jsonOf(await orgsync(dir, ['show', 'acme', '--json'], { env })).secret).toBe('••••••s0Ga');

    const other = await orgsync(dir, ['show', 'acme', '--json'], {
      env: { [MASTER_KEY_ENV]: randomBytes(32).toString('hex') },
    });
    expect(other.code).toBe(1);
    expect(jsonOf(other)).toMatchObject({
      name: 'acme',
      secret: '••••••',
      secretsError: { code: 'SECRET_DECRYPT_FAILED' },
    });
    expect(other.stderr).toContain('orgsync: SECRET_DECRYPT_FAILED connection "acme": cannot decrypt');
    expect(other.stderr).toContain(`hint: The master key (${MASTER_KEY_ENV}`);
  });

  it('"-" reads the secrets from stdin, one line each in flag order', async () => {
    const dir = dataDir();
    const r = await orgsync(dir, [...ADD, '--secret', '-', '--contacts-secret', '-', '--json'], {
      stdin: `${STDIN_SECRET}\r\n${STDIN_CONTACTS}\n`,
    });
    expect(r.code).toBe(0);
    expect(jsonOf(r)).toMatchObject({ secret: '••••••h0Aj', contactsSecret: '••••••f0Ej' });
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: STDIN_SECRET, contactsSecret: STDIN_CONTACTS });

    const one = await orgsync(
      dir,
      [...ADD.map((a) => (a === 'acme' ? 'solo' : a)), '--secret', SECRET, '--contacts-secret', '-'],
      { stdin: STDIN_CONTACTS },
    );
    expect(one.code).toBe(0);
    expect(await storedSecrets(dir, 'solo')).toStrictEqual({ secret: SECRET, contactsSecret: STDIN_CONTACTS });
  });

  it('stdin that ends too early is invalid input naming the flag', async () => {
    const dir = dataDir();
    const r = await orgsync(dir, [...ADD, '--secret', '-', '--contacts-secret', '-', '--json'], {
      stdin: `${STDIN_SECRET}\n`,
    });
    expect(r.code).toBe(2);
    expect(jsonOf(r).error).toMatchObject({ code: 'INVALID_INPUT' });
    expect(r.stderr).toContain('--contacts-secret');
    expect(r.stderr).toContain('hint: Pipe the values in');
    expect(jsonOf(await orgsync(dir, ['list', '--json'])).connections).toEqual([]);
  });

  it('invalid values: exit 2, every bad field named with a hint, nothing stored, no secret echoed', async () => {
    const dir = dataDir();
    const r = await orgsync(dir, [
      'add',
      'wecom',
      '--name',
      'bad name',
      '--corp-id',
      'corp1',
      '--agent-id',
      'abc',
      '--secret',
      'Nw4Qh9 Ty7Xq2Lz8',
      '--api-base-url',
      'ftp://x',
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(
      'orgsync: INVALID_INPUT: new connection: --name, field "name": must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit (and 4 more problems)',
    );
    expect(lines[1]).toMatch(/^ {2}hint: Use 1-64 letters/);
    for (const [flag, field] of [
      ['--corp-id', 'corpId'],
      ['--agent-id', 'agentId'],
      ['--secret', 'secret'],
      ['--api-base-url', 'apiBaseUrl'],
    ])
      expect(r.stderr).toContain(`${flag}, field "${field}"`);

    const missing = await orgsync(dir, ['add', 'wecom', '--name', 'acme', '--json']);
    expect(missing.code).toBe(2);
    expect(jsonOf(missing).error.message).toBe(
      'connection "acme": --corp-id, field "corpId": is required (and 2 more problems)',
    );
    expect(missing.stderr).toContain('field "agentId": is required');
    expect(missing.stderr).toContain('field "secret": is required');
    expect(jsonOf(await orgsync(dir, ['list', '--json'])).connections).toEqual([]);
  });

  it('a name taken already fails with CONNECTION_EXISTS (exit 1)', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const r = await orgsync(dir, [...ADD, '--secret', CONTACTS_SECRET, '--json']);
    expect(r.code).toBe(1);
    expect(jsonOf(r).error).toMatchObject({ code: 'CONNECTION_EXISTS' });
    expect(r.stderr).toContain('orgsync: CONNECTION_EXISTS: a connection named "acme" exists already');
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: SECRET });
  });

  it('a bad ORGSYNC_MASTER_KEY and a key file open to others are refused, naming what to fix', async () => {
    const dir = dataDir();
    const bad = await orgsync(dir, [...ADD, '--secret', SECRET], { env: { [MASTER_KEY_ENV]: 'too-short' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`orgsync: CONFIG_INVALID: ${MASTER_KEY_ENV} `);
    expect(bad.stderr).toContain('openssl rand -base64 32');
    expect(bad.stderr).not.toContain('too-short');

    await orgsync(dir, [...ADD, '--secret', SECRET]);
    chmodSync(masterKeyPath(dir), 0o644);
    const open = await orgsync(dir, ['show', 'acme']);
    expect(open.code).toBe(1);
    expect(open.stderr).toContain('MASTER_KEY_INSECURE');
    expect(open.stderr).toContain(`chmod 600 ${masterKeyPath(dir)}`);
  });

  it('--on-user-gone takes only its choices (a usage error, exit 2)', async () => {
    const r = await orgsync(dataDir(), [...ADD, '--secret', SECRET, '--on-user-gone', 'explode']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--on-user-gone');
  });
});

describe('orgsync connection list / show', () => {
  it('list: a friendly line when empty; a table and { connections } otherwise', async () => {
    const dir = dataDir();
    const empty = await orgsync(dir, ['list']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No connections yet');
    expect(jsonOf(await orgsync(dir, ['list', '--json']))).toStrictEqual({ connections: [] });

    await orgsync(dir, [...ADD.map((a) => (a === 'acme' ? 'zeta' : a)), '--secret', SECRET]);
    await orgsync(dir, [...ADD, '--secret', CONTACTS_SECRET]);
    const table = await orgsync(dir, ['list']);
    expect(table.code).toBe(0);
    const rows = table.stdout.split('\n');
    expect(rows[0]).toMatch(/^NAME\s+PLATFORM\s+CORP ID\s+AGENT ID\s+SECRET\s+FULL SYNC\s+UPDATED$/);
    expect(rows[1]).toMatch(/^acme\s+wecom\s+ww1a2b3c4d5e6f7a8b\s+1000002\s+••••••y0Ue\s+0 2 \* \* \*\s+\d{4}-/);
    expect(rows[2]).toMatch(/^zeta\s+wecom\s+.*••••••s0Ga/);
    const doc = jsonOf(await orgsync(dir, ['list', '--json']));
    expect(doc.connections.map((c: { name: string }) => c.name)).toEqual(['acme', 'zeta']);
  });

  it('show: the connection; an unknown name fails with CONNECTION_NOT_FOUND (exit 1), --json as an error document', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET, '--mount', '7']);
    const r = await orgsync(dir, ['show', 'acme']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Connection "acme" (wecom)');
    expect(r.stdout).toMatch(/secret:\s+••••••s0Ga/);
    expect(r.stdout).toMatch(/mount\s+department 7/);

    const missing = await orgsync(dir, ['show', 'nope', '--json']);
    expect(missing.code).toBe(1);
    expect(jsonOf(missing)).toStrictEqual({
      error: {
        code: 'CONNECTION_NOT_FOUND',
        message: 'there is no connection named "nope"',
        hint: expect.stringContaining('orgsync connection list'),
      },
    });
    expect(missing.stderr).toBe(
      `orgsync: CONNECTION_NOT_FOUND: there is no connection named "nope"\n  hint: ${jsonOf(missing).error.hint}`,
    );
  });

  it('after the key file changed, list still lists (exit 1, the reason on stderr)', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET]);
    writeFileSync(masterKeyPath(dir), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const r = await orgsync(dir, ['list', '--json']);
    expect(r.code).toBe(1);
    expect(jsonOf(r).connections[0]).toMatchObject({
      name: 'acme',
      secret: '••••••',
      secretsError: { code: 'SECRET_DECRYPT_FAILED' },
    });
    expect(r.stderr).toContain(`SECRET_DECRYPT_FAILED connection "acme"`);
    const text = await orgsync(dir, ['list']);
    expect(text.stdout).toContain('(SECRET_DECRYPT_FAILED)');
  });
});

describe('orgsync connection update', () => {
  it('changes secrets, settings and policy keys; the rest stays', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET, '--contacts-secret', CONTACTS_SECRET, '--match', 'email']);
    const policyFile = path.join(dir, 'policy.json');
    writeFileSync(policyFile, JSON.stringify({ guard: { maxUsers: 5 }, onDepartmentGone: 'ignore' }));

    const r = await orgsync(
      dir,
      [
        'update',
        'acme',
        '--secret',
        '-',
        '--agent-id',
        '9',
        '--policy',
        policyFile,
        '--on-user-gone',
        'delete',
        '--mount',
        '3',
        '--json',
      ],
      { stdin: `${STDIN_SECRET}\n` },
    );
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc).toMatchObject({
      agentId: 9,
      corpId: 'ww1a2b3c4d5e6f7a8b',
      secret: '••••••h0Aj',
      contactsSecret: '••••••y0Ue',
    });
    expect(doc.policy).toMatchObject({
      onUserGone: 'delete',
      onDepartmentGone: 'ignore',
      mountDepartmentId: 3,
      guard: { maxUsers: 5, maxRatio: 0.2 },
      matching: { users: ['email'] },
    });
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: STDIN_SECRET, contactsSecret: CONTACTS_SECRET });

    const text = await orgsync(dir, ['update', 'acme', '--no-contacts-secret', '--match', 'userid,mobile']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Updated connection "acme" (contactsSecret, policy).');
    expect(text.stdout).toMatch(/contactsSecret:\s+\(not set\)/);
    expect(text.stdout).toMatch(/matching\s+users by userid, mobile;/);
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: STDIN_SECRET });
  });

  it('nothing to change, a bad --mount, a bad policy file, an unknown name', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const none = await orgsync(dir, ['update', 'acme', '--json']);
    expect(none.code).toBe(2);
    expect(jsonOf(none).error.message).toContain('nothing to change');

    const mount = await orgsync(dir, ['update', 'acme', '--mount', 'abc']);
    expect(mount.code).toBe(2);
    expect(mount.stderr).toContain('policy.mountDepartmentId, field "mountDepartmentId"');
    expect(mount.stderr).toContain('docs/policy.md');

    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{ "guard": ');
    const syntax = await orgsync(dir, ['update', 'acme', '--policy', file]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(`policy file ${file}`);
    writeFileSync(file, JSON.stringify({ guard: { maxUsers: -1 }, bogus: true }));
    const keys = await orgsync(dir, ['update', 'acme', '--policy', file]);
    expect(keys.code).toBe(2);
    expect(keys.stderr).toContain('field "maxUsers"');
    expect(keys.stderr).toContain('field "bogus": is not a known key');
    const unreadable = await orgsync(dir, ['update', 'acme', '--policy', path.join(dir, 'absent.json')]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('FILE_UNREADABLE');

    const unknown = await orgsync(dir, ['update', 'nope', '--secret', SECRET]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('CONNECTION_NOT_FOUND');

    const bad = await orgsync(dir, ['update', 'acme', '--secret', 'Nw4Qh9 Ty7Xq2Lz8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('field "secret": must not contain spaces');
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: SECRET });
  });
});

describe('orgsync connection remove', () => {
  it('removes; --json says so; then the name is unknown', async () => {
    const dir = dataDir();
    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const r = await orgsync(dir, ['remove', 'acme', '--json']);
    expect(r.code).toBe(0);
    expect(jsonOf(r)).toStrictEqual({ name: 'acme', removed: true });
    const again = await orgsync(dir, ['remove', 'acme']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CONNECTION_NOT_FOUND');
    expect((await orgsync(dir, ['show', 'acme'])).code).toBe(1);

    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const text = await orgsync(dir, ['remove', 'acme']);
    expect(text.stdout).toContain('Removed connection "acme"');
  });
});

describe('orgsync connection: callback settings', () => {
  it('add takes --callback-token and --callback-aes-key (or "-" from stdin), stores them encrypted and shows them masked', async () => {
    const dir = dataDir();
    const r = await orgsync(dir, [
      ...ADD,
      '--secret',
      SECRET,
      '--callback-token',
      CALLBACK_TOKEN,
      '--callback-aes-key',
      CALLBACK_AES_KEY,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // A 12-character token shows none of its characters; the 43-character key its last 4.
    expect(jsonOf(r)).toMatchObject({
      name: 'acme',
      callbackToken: '••••••',
      callbackAesKey: '••••••Oq6E',
      callbackUrl: 'http://127.0.0.1:8080/callbacks/acme',
    });
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({
      secret: SECRET,
      callbackToken: CALLBACK_TOKEN,
      callbackAesKey: CALLBACK_AES_KEY,
    });

    const piped = await orgsync(
      dir,
      [
        'add',
        'dingtalk',
        '--name',
        'ding',
        '--corp-id',
        'dingabc123',
        '--agent-id',
        '5',
        '--client-id',
        'dingkey',
        '--client-secret',
        '-',
        '--callback-token',
        '-',
        '--callback-aes-key',
        '-',
      ],
      {
        stdin: `${SECRET}\n${CALLBACK_TOKEN}\n${CALLBACK_AES_KEY}\n`,
      },
    );
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toMatch(/callbackToken:\s+••••••\n/);
    expect(piped.stdout).toMatch(/callbackUrl:\s+http:\/\/127\.0\.0\.1:8080\/callbacks\/ding\n/);
    expect(await storedSecrets(dir, 'ding')).toStrictEqual({
      clientSecret: SECRET,
      callbackToken: CALLBACK_TOKEN,
      callbackAesKey: CALLBACK_AES_KEY,
    });
  });

  it('an EncodingAESKey that is not 43 letters and digits, or a bad token, is refused naming the flag; nothing is stored', async () => {
    const dir = dataDir();
    const short = await orgsync(dir, [
      ...ADD,
      '--secret',
      SECRET,
      '--callback-token',
      CALLBACK_TOKEN,
      '--callback-aes-key',
      CALLBACK_AES_KEY.slice(1),
      '--json',
    ]);
    expect(short.code).toBe(2);
    expect(jsonOf(short).error).toMatchObject({
      code: 'INVALID_INPUT',
      message: 'connection "acme": --callback-aes-key, field "callbackAesKey": must be exactly 43 letters and digits',
    });
    expect(short.stderr).toContain('hint: Copy the EncodingAESKey (43 letters and digits)');
    expect(jsonOf(await orgsync(dir, ['list', '--json'])).connections).toEqual([]);

    const token = await orgsync(dir, [...ADD, '--secret', SECRET, '--callback-token', 'has-dashes']);
    expect(token.code).toBe(2);
    expect(token.stderr).toContain('--callback-token, field "callbackToken": must be 1-32 letters and digits');

    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const update = await orgsync(dir, ['update', 'acme', '--callback-aes-key', `${CALLBACK_AES_KEY}x`]);
    expect(update.code).toBe(2);
    expect(update.stderr).toContain(
      '--callback-aes-key, field "callbackAesKey": must be exactly 43 letters and digits',
    );
    expect(await storedSecrets(dir, 'acme')).toStrictEqual({ secret: SECRET });
  });

  it('show --json gives the full callbackUrl under ORGSYNC_PUBLIC_URL (default http://127.0.0.1:8080); a bad URL names the variable', async () => {
    const dir = dataDir();
    await orgsync(dir, [
      ...ADD.map((a) => (a === 'acme' ? 'hq.main' : a)),
      '--secret',
      SECRET,
      '--callback-token',
      CALLBACK_TOKEN,
      '--callback-aes-key',
      CALLBACK_AES_KEY,
    ]);
    expect(jsonOf(await orgsync(dir, ['show', 'hq.main', '--json'])).callbackUrl).toBe(
      'http://127.0.0.1:8080/callbacks/hq.main',
    );
    const env = { ORGSYNC_PUBLIC_URL: 'https://orgsync.example.com/sync/' };
    expect(jsonOf(await orgsync(dir, ['show', 'hq.main', '--json'], { env })).callbackUrl).toBe(
      'https://orgsync.example.com/sync/callbacks/hq.main',
    );
    expect(jsonOf(await orgsync(dir, ['list', '--json'], { env })).connections[0].callbackUrl).toBe(
      'https://orgsync.example.com/sync/callbacks/hq.main',
    );
    const text = await orgsync(dir, ['show', 'hq.main'], { env });
    expect(text.stdout).toMatch(/callbackUrl:\s+https:\/\/orgsync\.example\.com\/sync\/callbacks\/hq\.main\n/);

    // Without both callback values the endpoint does not answer yet: the text says what is missing.
    expect((await orgsync(dir, ['update', 'hq.main', '--no-callback'])).stdout).toMatch(
      /callbackUrl:\s+\S+ \(answers once --callback-token and --callback-aes-key are set\)/,
    );

    const bad = await orgsync(dir, ['show', 'hq.main', '--json'], { env: { ORGSYNC_PUBLIC_URL: 'ftp://x' } });
    expect(bad.code).toBe(1);
    expect(jsonOf(bad).error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('ORGSYNC_PUBLIC_URL "ftp://x"'),
    });
  });
});

describe('orgsync connection: scheduled full sync (--reconcile-cron)', () => {
  it('defaults to daily at 02:00; add and update set it, "off" turns it off; show and list print it', async () => {
    const dir = dataDir();
    const added = await orgsync(dir, [...ADD, '--secret', SECRET]);
    expect(added.stdout).toMatch(/reconcileCron:\s+0 2 \* \* \* \(a full sync/);
    const often = await orgsync(dir, [
      ...ADD.map((a) => (a === 'acme' ? 'often' : a)),
      '--secret',
      SECRET,
      '--reconcile-cron',
      '*/15  * * * *',
      '--json',
    ]);
    expect(jsonOf(often).reconcileCron).toBe('*/15 * * * *');

    const off = await orgsync(dir, ['update', 'acme', '--reconcile-cron', 'off', '--json']);
    expect(off.code, off.stderr).toBe(0);
    expect(jsonOf(off).reconcileCron).toBeNull();
    expect((await orgsync(dir, ['show', 'acme'])).stdout).toMatch(/reconcileCron:\s+off\n/);
    const rows = (await orgsync(dir, ['list'])).stdout.split('\n');
    expect(rows[1]).toMatch(/^acme\s+.*\s+off\s+\d{4}-/);
    expect(rows[2]).toMatch(/^often\s+.*\s+\*\/15 \* \* \* \*\s+\d{4}-/);

    const text = await orgsync(dir, ['update', 'acme', '--reconcile-cron', '30 1 * * 1-5']);
    expect(text.stdout).toContain('Updated connection "acme" (reconcileCron).');
    expect(jsonOf(await orgsync(dir, ['show', 'acme', '--json'])).reconcileCron).toBe('30 1 * * 1-5');
  });

  it('a bad expression is refused naming --reconcile-cron, with an example; the stored one stays', async () => {
    const dir = dataDir();
    const add = await orgsync(dir, [...ADD, '--secret', SECRET, '--reconcile-cron', 'nightly']);
    expect(add.code).toBe(2);
    expect(add.stderr.split('\n')[0]).toBe(
      'orgsync: INVALID_INPUT: connection "acme": --reconcile-cron, field "reconcileCron": "nightly" has 1 field: it must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, e.g. "0 2 * * *" (daily at 02:00), or "off"',
    );
    expect(add.stderr).toContain('hint: Give e.g. "0 2 * * *" for daily at 02:00');
    expect(jsonOf(await orgsync(dir, ['list', '--json'])).connections).toEqual([]);

    await orgsync(dir, [...ADD, '--secret', SECRET]);
    const update = await orgsync(dir, ['update', 'acme', '--reconcile-cron', '0 25 * * *', '--json']);
    expect(update.code).toBe(2);
    expect(jsonOf(update).error.message).toMatch(
      /^connection "acme": --reconcile-cron, field "reconcileCron": "0 25 \* \* \*" is not valid \(.*hour.*\)/,
    );
    expect(jsonOf(await orgsync(dir, ['show', 'acme', '--json'])).reconcileCron).toBe('0 2 * * *');
  });
});
