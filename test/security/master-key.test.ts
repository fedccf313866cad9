import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { FINGERPRINT_SETTING, checkMasterKey, rotateMasterKey } from '../../src/connections/master-key.js';
import { SecretBox, keyFingerprint, masterKeyPath, parseMasterKey } from '../../src/connections/secret-box.js';
import { OrgsyncError } from '../../src/errors.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { openStore } from '../../src/store/open.js';
import { BIN, ROOT, serveProcess } from '../helpers/processes.js';
import { ENGINES, openTestStore, tempDir } from '../helpers/stores.js';

/**
 * A moved, replaced or rotated master key, through the built `orgsync` (build first) against the WeCom simulator:
 * the store is never split between two keys, a refusal says which key is expected and where it looked, and
 * `orgsync admin rotate-master-key` re-seals everything or nothing.
 */

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const outputs: string[] = [];
const keysSeen: Buffer[] = [];

function orgsync(env: Record<string, string>, args: string[], stdin = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        outputs.push(stdout, stderr);
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}

/** `orgsync serve` run until it either exits (refused) or says it is serving (then it is stopped): which one, and its stderr. */
function serveOutcome(env: Record<string, string>): Promise<{ served: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let served = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    createInterface({ input: child.stdout }).on('line', (line) => {
      outputs.push(line);
      if (line.includes('"orgsync is serving"')) {
        served = true;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', (code) => {
      outputs.push(stderr);
      resolve({ served, code, stderr });
    });
  });
}

let sim: WecomSimulator;
let simUrl: string;
const dirs: string[] = [];

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 15, departments: 6, users: 30 });
  simUrl = await sim.listen(0);
});
afterAll(async () => {
  await sim.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  // No secret and no key ever reached an output.
  const all = outputs.join('\n');
  for (const secret of [sim.identity.secret, sim.identity.contactsSecret])
    expect(all).not.toContain(secret.slice(0, 12));
  for (const key of keysSeen) {
    expect(all).not.toContain(key.toString('base64').slice(0, 16));
    expect(all).not.toContain(key.toString('hex').slice(0, 16));
  }
});

function dataDir(): { dir: string; env: Record<string, string>; keyFile: string } {
  const dir = tempDir('orgsync-masterkey-');
  dirs.push(dir);
  return {
    dir,
    keyFile: masterKeyPath(dir),
    env: {
      ORGSYNC_DATA_DIR: dir,
      ORGSYNC_DATABASE_URL: '',
      ORGSYNC_MASTER_KEY: '',
      ORGSYNC_NEW_MASTER_KEY: '',
      ORGSYNC_PORT: '0',
    },
  };
}

async function add(env: Record<string, string>, name: string): Promise<Result> {
  const args = [
    'connection',
    'add',
    'wecom',
    '--name',
    name,
    '--corp-id',
    sim.identity.corpId,
    '--agent-id',
    String(sim.identity.agentId),
    '--api-base-url',
    simUrl,
  ];
  return orgsync(
    env,
    [...args, '--secret', '-', '--contacts-secret', '-'],
    `${sim.identity.secret}\n${sim.identity.contactsSecret}\n`,
  );
}

function keyIn(file: string): Buffer {
  const key = parseMasterKey(readFileSync(file, 'utf8'), file);
  keysSeen.push(key);
  return key;
}

function writeKey(file: string, key: Buffer): void {
  keysSeen.push(key);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
}

/** What the store holds of the secrets: each connection's sealed value, and the recorded fingerprint. */
async function stored(dir: string): Promise<{ secrets: Record<string, string>; fingerprint: string | undefined }> {
  const store = await openStore({ dataDir: dir });
  try {
    const rows = await store.connections.list();
    return {
      secrets: Object.fromEntries(rows.map((r) => [r.name, r.secrets])),
      fingerprint: await store.settings.get(FINGERPRINT_SETTING),
    };
  } finally {
    await store.close();
  }
}

// Many processes run one after another: the limit only ends a hang, it measures nothing.
const SLOW = { timeout: 300_000 };

describe('a moved or replaced master key', SLOW, () => {
  it('serve, connection add / update / test and sync refuse, naming the expected fingerprint and where they looked; no key file is made, nothing is written', async () => {
    const { dir, env, keyFile } = dataDir();
    expect((await add(env, 'hq')).code).toBe(0);
    expect((await add(env, 'beta')).code).toBe(0);
    const key = keyIn(keyFile);
    const expected = keyFingerprint(key);
    const before = await stored(dir);
    expect(before.fingerprint).toBe(expected);
    expect((await orgsync(env, ['connection', 'test', 'hq'])).code).toBe(0);

    // master.key moved away.
    const backup = path.join(dir, 'backup.key');
    renameSync(keyFile, backup);
    const served = await serveOutcome(env);
    expect(served.served).toBe(false);
    expect(served.code).not.toBe(0);
    expect(served.stderr).toContain('MASTER_KEY_MISSING');
    expect(served.stderr).toContain(
      `there is no master key, but the stored secrets of 2 connections need one: expected the key with fingerprint ${expected}, found none (looked in ORGSYNC_MASTER_KEY, which is not set, and ${keyFile}, which does not exist)`,
    );
    expect(served.stderr).toContain(`Restore ${keyFile} from a backup`);
    expect(served.stderr).toContain('orgsync admin rotate-master-key');
    expect(existsSync(keyFile)).toBe(false);

    const refusals: Array<[string, Promise<Result>]> = [
      ['connection add', add(env, 'gamma')],
      ['connection update', orgsync(env, ['connection', 'update', 'hq', '--secret', '-'], `${sim.identity.secret}\n`)],
      ['connection test', orgsync(env, ['connection', 'test', 'hq'])],
      ['sync', orgsync(env, ['sync', 'hq'])],
    ];
    for (const [what, pending] of refusals) {
      const r = await pending;
      expect(r.code, what).not.toBe(0);
      expect(r.stderr, what).toContain(
        `MASTER_KEY_MISSING master key: there is no master key, but the stored secrets of 2 connections need one: expected the key with fingerprint ${expected}, found none`,
      );
      expect(existsSync(keyFile), what).toBe(false);
    }
    expect(await stored(dir)).toStrictEqual(before);

    // Another key in its place: the same refusal, naming both keys.
    const other = randomBytes(32);
    writeKey(keyFile, other);
    const wrong = await serveOutcome(env);
    expect(wrong.served).toBe(false);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('MASTER_KEY_MISMATCH');
    expect(wrong.stderr).toContain(
      `the master key is not the one the stored secrets of 2 connections are sealed with: expected the key with fingerprint ${expected}, found the key with fingerprint ${keyFingerprint(other)} (looked in ${keyFile}; ORGSYNC_MASTER_KEY is not set)`,
    );
    const addWrong = await add(env, 'gamma');
    expect(addWrong.code).not.toBe(0);
    expect(addWrong.stderr).toContain(`MASTER_KEY_MISMATCH`);
    expect(keyIn(keyFile)).toStrictEqual(other);

    // The same through ORGSYNC_MASTER_KEY.
    const fromEnv = randomBytes(32);
    keysSeen.push(fromEnv);
    const envServed = await serveOutcome({ ...env, ORGSYNC_MASTER_KEY: fromEnv.toString('base64') });
    expect(envServed.served).toBe(false);
    expect(envServed.stderr).toContain(
      `expected the key with fingerprint ${expected}, found the key with fingerprint ${keyFingerprint(fromEnv)} (looked in ORGSYNC_MASTER_KEY)`,
    );
    expect(envServed.stderr).toContain('Set ORGSYNC_MASTER_KEY to the key with fingerprint');
    expect(await stored(dir)).toStrictEqual(before);

    // The right key back: everything works again.
    renameSync(backup, keyFile);
    const server = await serveProcess(env);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect((await orgsync(env, ['connection', 'test', 'beta'])).code).toBe(0);
    expect((await add(env, 'gamma')).code).toBe(0);
    expect((await stored(dir)).fingerprint).toBe(expected);
  });
});

describe('orgsync admin rotate-master-key', SLOW, () => {
  it('re-seals every secret under a new key: every connection still tests ok, the old key opens none of them', async () => {
    const { dir, env, keyFile } = dataDir();
    for (const name of ['hq', 'beta', 'gamma']) expect((await add(env, name)).code).toBe(0);
    const old = keyIn(keyFile);
    const before = await stored(dir);

    // A generated key, written over master.key after the commit.
    const r = await orgsync(env, ['admin', 'rotate-master-key', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      fingerprint: string;
      previousFingerprint: string;
      connections: string[];
      keyFile: string;
    };
    const next = keyIn(keyFile);
    expect(result).toStrictEqual({
      fingerprint: keyFingerprint(next),
      previousFingerprint: keyFingerprint(old),
      connections: ['beta', 'gamma', 'hq'],
      keyFile,
    });
    expect(keyFingerprint(next)).not.toBe(keyFingerprint(old));
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith('master.key'))).toStrictEqual(['master.key']);
    const after = await stored(dir);
    expect(after.fingerprint).toBe(keyFingerprint(next));
    for (const name of ['hq', 'beta', 'gamma']) expect(after.secrets[name]).not.toBe(before.secrets[name]);

    for (const name of ['hq', 'beta', 'gamma']) {
      const t = await orgsync(env, ['connection', 'test', name]);
      expect(t.code, `${name}: ${t.stderr}`).toBe(0);
    }
    expect((await orgsync(env, ['sync', 'hq'])).code).toBe(0);

    // The old key opens none of the re-sealed values, and is refused as the master key.
    for (const [name, sealed] of Object.entries(after.secrets)) {
      let err: unknown;
      try {
        SecretBox.fromKey(old).open(sealed, name);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OrgsyncError);
      expect((err as OrgsyncError).code).toBe('SECRET_DECRYPT_FAILED');
      expect(JSON.parse(SecretBox.fromKey(next).open(sealed, name))).toStrictEqual({
        secret: sim.identity.secret,
        contactsSecret: sim.identity.contactsSecret,
      });
    }
    const store = await openStore({ dataDir: dir });
    try {
      await expect(new ConnectionService(store, SecretBox.fromKey(old)).get('hq')).rejects.toMatchObject({
        code: 'MASTER_KEY_MISMATCH',
      });
    } finally {
      await store.close();
    }

    // A key of the operator's from a file.
    const chosen = randomBytes(32);
    const chosenFile = path.join(dir, 'chosen.key');
    writeKey(chosenFile, chosen);
    const byFile = await orgsync(env, ['admin', 'rotate-master-key', '--new-key-file', chosenFile]);
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(byFile.stdout).toContain(
      `Re-sealed the secrets of 3 connections under the new master key (fingerprint ${keyFingerprint(chosen)}; the old key, ${keyFingerprint(next)}, no longer opens them)`,
    );
    expect(byFile.stdout).toContain(`The new key is in ${keyFile}: back it up now.`);
    expect(keyIn(keyFile)).toStrictEqual(chosen);
    expect((await orgsync(env, ['connection', 'test', 'gamma'])).code).toBe(0);

    // The same key again is refused; nothing changes.
    const same = await orgsync(env, ['admin', 'rotate-master-key', '--new-key-file', chosenFile]);
    expect(same.code).not.toBe(0);
    expect(same.stderr).toContain('MASTER_KEY_UNCHANGED');

    // A rotation that committed but was stopped before it renamed the new key into place: the refusal says how to finish.
    renameSync(keyFile, `${keyFile}.new`);
    writeKey(keyFile, next);
    const unfinished = await serveOutcome(env);
    expect(unfinished.served).toBe(false);
    expect(unfinished.stderr).toContain(
      `A key rotation committed but did not finish: ${keyFile}.new holds the expected key. Finish it with \`mv ${keyFile}.new ${keyFile}\`.`,
    );
    renameSync(`${keyFile}.new`, keyFile);
    expect((await orgsync(env, ['connection', 'test', 'hq'])).code).toBe(0);
  });

  it('with the key in ORGSYNC_MASTER_KEY: the new key must be given, no file is written, and the new key opens everything', async () => {
    const { dir, env, keyFile } = dataDir();
    const first = randomBytes(32);
    keysSeen.push(first);
    const withKey = { ...env, ORGSYNC_MASTER_KEY: first.toString('hex') };
    expect((await add(withKey, 'hq')).code).toBe(0);
    expect(existsSync(keyFile)).toBe(false);

    const none = await orgsync(withKey, ['admin', 'rotate-master-key']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('the master key is in ORGSYNC_MASTER_KEY, so the new key must be given');

    const second = randomBytes(32);
    keysSeen.push(second);
    const r = await orgsync({ ...withKey, ORGSYNC_NEW_MASTER_KEY: second.toString('base64') }, [
      'admin',
      'rotate-master-key',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'Set ORGSYNC_MASTER_KEY to the new key (from ORGSYNC_NEW_MASTER_KEY) before the next start',
    );
    expect(existsSync(keyFile)).toBe(false);
    expect(
      (await orgsync({ ...env, ORGSYNC_MASTER_KEY: second.toString('base64') }, ['connection', 'test', 'hq'])).code,
    ).toBe(0);
    const stale = await orgsync(withKey, ['connection', 'test', 'hq']);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain(
      `expected the key with fingerprint ${keyFingerprint(second)}, found the key with fingerprint ${keyFingerprint(first)} (looked in ORGSYNC_MASTER_KEY)`,
    );
    expect((await stored(dir)).fingerprint).toBe(keyFingerprint(second));
  });

  it('a rotation that fails mid-way (a secret that does not open with the current key) changes nothing', async () => {
    const { dir, env, keyFile } = dataDir();
    for (const name of ['beta', 'hq']) expect((await add(env, name)).code).toBe(0);
    // hq gets beta's sealed value: sealed for another name, it does not open as hq's. beta comes first, so the
    // rotation has re-sealed it inside its transaction when it meets hq.
    const store = await openStore({ dataDir: dir });
    try {
      const beta = await store.connections.get('beta');
      await store.connections.update('hq', { secrets: beta?.secrets ?? '' });
    } finally {
      await store.close();
    }
    const before = await stored(dir);
    const keyText = readFileSync(keyFile, 'utf8');
    keyIn(keyFile);

    const r = await orgsync(env, ['admin', 'rotate-master-key']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'MASTER_KEY_ROTATION_FAILED connection "hq": the secrets of connection "hq" do not open with the current master key (SECRET_DECRYPT_FAILED); nothing was changed',
    );
    expect(await stored(dir)).toStrictEqual(before);
    expect(readFileSync(keyFile, 'utf8')).toBe(keyText);
    expect(readdirSync(dir).filter((f) => f.startsWith('master.key'))).toStrictEqual(['master.key']);
    expect((await orgsync(env, ['connection', 'test', 'beta'])).code).toBe(0);

    // A new key file that is open to others is refused before anything starts.
    const loose = path.join(dir, 'loose.key');
    writeFileSync(loose, `${randomBytes(32).toString('base64')}\n`, { mode: 0o644 });
    const refused = await orgsync(env, ['admin', 'rotate-master-key', '--new-key-file', loose]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('MASTER_KEY_INSECURE');
    expect(await stored(dir)).toStrictEqual(before);
  });
});

describe.each(ENGINES)('the fingerprint in the store (%s)', (engine) => {
  const wecom = (name: string) => ({
    platform: 'wecom' as const,
    name,
    settings: { corpId: 'ww1a2b3c4d5e6f7a8b', agentId: 1000002 },
    secrets: { secret: `secret-of-${name}` },
  });
  const row = (name: string, key: Buffer) => ({
    name,
    platform: 'wecom' as const,
    settings: { corpId: 'ww1a2b3c4d5e6f7a8b', agentId: 1000002, apiBaseUrl: 'http://127.0.0.1:9' },
    secrets: SecretBox.fromKey(key).seal(JSON.stringify({ secret: `secret-of-${name}` }), name),
    policy: {},
  });

  it('a database from before fingerprints adopts the key that opens its secrets, refuses one that opens none, and reports the rows a split store cannot open', async () => {
    const t = await openTestStore(engine);
    try {
      const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
      // Sealed by an older orgsync: no fingerprint; "old" under key a, "new" under key b (the split of issue 15).
      await t.store.connections.create(row('old', a));
      await t.store.connections.create(row('new', b));
      const none = checkMasterKey(t.store, SecretBox.fromKey(c));
      await expect(none).rejects.toMatchObject({ code: 'MASTER_KEY_MISMATCH' });
      await expect(none).rejects.toThrow(
        `expected the key that sealed them (its fingerprint is not recorded yet), found the key with fingerprint ${keyFingerprint(c)}`,
      );
      await expect(none).rejects.toThrow('it opens none of them');
      expect(await t.store.settings.get(FINGERPRINT_SETTING)).toBeUndefined();

      expect(await checkMasterKey(t.store, SecretBox.fromKey(b))).toStrictEqual({
        fingerprint: keyFingerprint(b),
        sealed: 2,
        adopted: true,
        unreadable: ['old'],
      });
      expect(await t.store.settings.get(FINGERPRINT_SETTING)).toBe(keyFingerprint(b));
      // From now on the recorded key is the one: a, which opens "old", is refused like any other.
      await expect(checkMasterKey(t.store, SecretBox.fromKey(a))).rejects.toMatchObject({
        code: 'MASTER_KEY_MISMATCH',
      });
      expect(await checkMasterKey(t.store, SecretBox.fromKey(b))).toMatchObject({ adopted: false, sealed: 2 });
    } finally {
      await t.cleanup();
    }
  });

  it('two first connections added at once under different keys: one wins, the other is refused, and every stored secret opens with the recorded key', async () => {
    const t = await openTestStore(engine);
    try {
      const keys = [randomBytes(32), randomBytes(32)];
      const services = [
        new ConnectionService(t.store, SecretBox.fromKey(keys[0]!)),
        new ConnectionService(await t.reopen(), SecretBox.fromKey(keys[1]!)),
      ];
      const results = await Promise.allSettled(services.map((service, i) => service.add(wecom(`first-${i}`))));
      expect(results.map((r) => r.status).sort()).toStrictEqual(['fulfilled', 'rejected']);
      const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused?.reason).toMatchObject({ code: 'MASTER_KEY_MISMATCH' });
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      const recorded = await t.store.settings.get(FINGERPRINT_SETTING);
      expect(recorded).toBe(keyFingerprint(keys[winner]!));
      const rows = await t.store.connections.list();
      expect(rows.map((r) => r.name)).toStrictEqual([`first-${winner}`]);
      for (const r of rows)
        expect(JSON.parse(SecretBox.fromKey(keys[winner]!).open(r.secrets, r.name))).toStrictEqual({
          secret: `secret-of-${r.name}`,
        });
    } finally {
      await t.cleanup();
    }
  });

  it('rotateMasterKey re-seals every row in one transaction; one row that does not open rolls back those already re-sealed', async () => {
    const t = await openTestStore(engine);
    try {
      const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
      const service = new ConnectionService(t.store, SecretBox.fromKey(a));
      for (const name of ['one', 'three', 'two']) await service.add(wecom(name));
      const result = await rotateMasterKey(t.store, SecretBox.fromKey(a), b);
      expect(result).toStrictEqual({
        previousFingerprint: keyFingerprint(a),
        fingerprint: keyFingerprint(b),
        connections: ['one', 'three', 'two'],
        keyFile: undefined,
      });
      expect(
        (await new ConnectionService(t.store, SecretBox.fromKey(b)).list()).map((x) => [x.name, x.secrets]),
      ).toStrictEqual([
        ['one', { secret: 'secret-of-one' }],
        ['three', { secret: 'secret-of-three' }],
        ['two', { secret: 'secret-of-two' }],
      ]);

      // "two" comes last and does not open: "one" and "three" were re-sealed in the transaction, and are not kept.
      const one = await t.store.connections.get('one');
      await t.store.connections.update('two', { secrets: one?.secrets ?? '' });
      const before = (await t.store.connections.list()).map((r) => [r.name, r.secrets]);
      await expect(rotateMasterKey(t.store, SecretBox.fromKey(b), c)).rejects.toMatchObject({
        code: 'MASTER_KEY_ROTATION_FAILED',
        object: 'connection "two"',
      });
      expect((await t.store.connections.list()).map((r) => [r.name, r.secrets])).toStrictEqual(before);
      expect(await t.store.settings.get(FINGERPRINT_SETTING)).toBe(keyFingerprint(b));
      // And the old key is refused by the rotation as by everything else.
      await expect(rotateMasterKey(t.store, SecretBox.fromKey(a), c)).rejects.toMatchObject({
        code: 'MASTER_KEY_MISMATCH',
      });
    } finally {
      await t.cleanup();
    }
  });

  it('with every connection removed, the next first secret may bring a new key, and records it', async () => {
    const t = await openTestStore(engine);
    try {
      const [a, b] = [randomBytes(32), randomBytes(32)];
      await new ConnectionService(t.store, SecretBox.fromKey(a)).add(wecom('acme'));
      await expect(new ConnectionService(t.store, SecretBox.fromKey(b)).add(wecom('beta'))).rejects.toMatchObject({
        code: 'MASTER_KEY_MISMATCH',
      });
      await new ConnectionService(t.store, SecretBox.fromKey(a)).remove('acme');
      await new ConnectionService(t.store, SecretBox.fromKey(b)).add(wecom('beta'));
      expect(await t.store.settings.get(FINGERPRINT_SETTING)).toBe(keyFingerprint(b));
    } finally {
      await t.cleanup();
    }
  });
});
