import { createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MASTER_KEY_ENV,
  SecretBox,
  keyFingerprint,
  masterKeyPath,
  parseMasterKey,
} from '../../src/connections/secret-box.js';
import { OrgsyncError } from '../../src/errors.js';
import { tempDir } from '../helpers/stores.js';

const posixOnly = process.platform === 'win32' ? it.skip : it;

function caught(fn: () => unknown): OrgsyncError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OrgsyncError);
    return err as OrgsyncError;
  }
  throw new Error('expected an OrgsyncError, nothing was thrown');
}

let dirs: string[] = [];
function dataDir(): string {
  const d = tempDir('orgsync-keys-');
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

const SECRET = 'Zq8h2Lr0Vx_super-secret-app-secret-9K1a2b';

describe('SecretBox: sealing', () => {
  it('round-trips text, Chinese and emoji included, and every seal is different', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    for (const text of [
      SECRET,
      '',
      '企业微信 秘钥 🙂',
      JSON.stringify({ secret: SECRET, contactsSecret: 'x'.repeat(128) }),
    ]) {
      const sealed = box.seal(text, 'acme');
      expect(sealed).toMatch(/^v1:[A-Za-z0-9+/]+=*$/);
      expect(box.open(sealed, 'acme')).toBe(text);
    }
    const a = box.seal(SECRET, 'acme');
    const b = box.seal(SECRET, 'acme');
    expect(a).not.toBe(b);
    // A fresh 12-byte IV each time.
    const iv = (s: string) => Buffer.from(s.slice(3), 'base64').subarray(0, 12).toString('hex');
    expect(iv(a)).not.toBe(iv(b));
  });

  it('the sealed value does not contain the plaintext in any common encoding', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    const sealed = box.seal(SECRET, 'acme');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    expect(sealed).not.toContain(SECRET);
    expect(sealed).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 16));
    expect(raw.includes(Buffer.from(SECRET))).toBe(false);
    expect(raw.toString('latin1')).not.toContain(SECRET.slice(0, 8));
    // iv (12) + tag (16) + ciphertext as long as the plaintext.
    expect(raw.length).toBe(12 + 16 + Buffer.byteLength(SECRET));
  });

  it('a different key fails with SECRET_DECRYPT_FAILED and a hint about the master key', () => {
    const sealed = SecretBox.fromKey(randomBytes(32)).seal(SECRET, 'acme');
    const err = caught(() => SecretBox.fromKey(randomBytes(32)).open(sealed, 'acme'));
    expect(err.code).toBe('SECRET_DECRYPT_FAILED');
    expect(err.hint).toContain(MASTER_KEY_ENV);
    expect(err.hint).toContain('master.key');
    expect(err.message).not.toContain(SECRET);
  });

  it('a tampered value fails: any flipped byte of iv, tag or ciphertext, a cut, a wrong version', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    const sealed = box.seal(SECRET, 'acme');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    for (const at of [0, 11, 12, 27, 28, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      expect(caught(() => box.open(`v1:${bad.toString('base64')}`, 'acme')).code).toBe('SECRET_DECRYPT_FAILED');
    }
    expect(caught(() => box.open(`v1:${raw.subarray(0, raw.length - 1).toString('base64')}`, 'acme')).code).toBe(
      'SECRET_DECRYPT_FAILED',
    );
    expect(caught(() => box.open(`v1:${raw.subarray(0, 20).toString('base64')}`, 'acme')).code).toBe(
      'SECRET_DECRYPT_FAILED',
    );
    expect(caught(() => box.open(`v2:${raw.toString('base64')}`, 'acme')).code).toBe('SECRET_DECRYPT_FAILED');
    expect(caught(() => box.open(SECRET, 'acme')).code).toBe('SECRET_DECRYPT_FAILED');
  });

  it('the context is bound: a value sealed for one name does not open under another', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    const sealed = box.seal(SECRET, 'acme');
    expect(caught(() => box.open(sealed, 'acme2')).code).toBe('SECRET_DECRYPT_FAILED');
    expect(caught(() => box.open(sealed, 'Acme')).code).toBe('SECRET_DECRYPT_FAILED');
    expect(caught(() => box.open(sealed, '')).code).toBe('SECRET_DECRYPT_FAILED');
    expect(box.open(sealed, 'acme')).toBe(SECRET);
  });
});

describe('SecretBox: the master key', () => {
  it(`${MASTER_KEY_ENV} as base64 or as hex; the same key opens what the other form sealed`, () => {
    const key = randomBytes(32);
    const dir = dataDir();
    const b64 = SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: key.toString('base64') }, dataDir: dir });
    const hex = SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: key.toString('hex') }, dataDir: dir });
    const url = SecretBox.fromEnvironment({
      env: { [MASTER_KEY_ENV]: ` ${key.toString('base64url')}\n` },
      dataDir: dir,
    });
    const sealed = b64.seal(SECRET, 'acme');
    expect(hex.open(sealed, 'acme')).toBe(SECRET);
    expect(url.open(sealed, 'acme')).toBe(SECRET);
    expect(SecretBox.fromKey(key).open(sealed, 'acme')).toBe(SECRET);
    // The environment key wins: no key file is made.
    expect(existsSync(masterKeyPath(dir))).toBe(false);
  });

  it.each([
    ['too short base64', randomBytes(16).toString('base64'), 'decodes as base64 to 16 bytes'],
    ['too long base64', randomBytes(48).toString('base64'), 'decodes as base64 to 48 bytes'],
    ['short hex', randomBytes(16).toString('hex'), 'is 32 hex characters'],
    ['not base64 or hex', 'my secret passphrase!', 'neither base64 nor hex'],
  ])(`a bad ${MASTER_KEY_ENV} (%s) is refused with CONFIG_INVALID naming the variable`, (_label, value, problem) => {
    const err = caught(() => SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: value }, dataDir: dataDir() }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(MASTER_KEY_ENV);
    expect(err.message).toContain(problem);
    expect(err.message).toContain('32 bytes');
    expect(err.hint).toContain('openssl rand -base64 32');
    // The bad value itself is never echoed.
    expect(err.message).not.toContain(value);
    expect(err.hint).not.toContain(value);
  });

  it('an empty ORGSYNC_MASTER_KEY counts as unset', () => {
    const dir = dataDir();
    SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: '  ' }, dataDir: dir }).ensureKey();
    expect(existsSync(masterKeyPath(dir))).toBe(true);
  });

  it('sealing or opening never makes a key: with none anywhere both fail with MASTER_KEY_MISSING naming where it looked', () => {
    const dir = dataDir();
    const box = SecretBox.fromEnvironment({ env: {}, dataDir: dir });
    expect(box.fingerprint()).toBeUndefined();
    const sealed = SecretBox.fromKey(randomBytes(32)).seal(SECRET, 'acme');
    for (const err of [caught(() => box.seal(SECRET, 'acme')), caught(() => box.open(sealed, 'acme'))]) {
      expect(err.code).toBe('MASTER_KEY_MISSING');
      expect(err.message).toContain(MASTER_KEY_ENV);
      expect(err.message).toContain(masterKeyPath(dir));
    }
    expect(existsSync(masterKeyPath(dir))).toBe(false);
    expect(existsSync(dir)).toBe(true);
  });

  posixOnly('without the variable, ensureKey creates master.key with mode 0600, then later boxes reuse it', () => {
    const dir = path.join(dataDir(), 'nested', 'data');
    const box = SecretBox.fromEnvironment({ env: {}, dataDir: dir });
    // Nothing is made until a key is asked for.
    expect(existsSync(dir)).toBe(false);
    const fingerprint = box.ensureKey();
    const sealed = box.seal(SECRET, 'acme');
    const file = masterKeyPath(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(keyFingerprint(parseMasterKey(text, 'test'))).toBe(fingerprint);
    // No temporary files are left behind.
    expect(readdirSync(dir)).toEqual(['master.key']);

    const again = SecretBox.fromEnvironment({ env: {}, dataDir: dir });
    expect(again.fingerprint()).toBe(fingerprint);
    expect(again.ensureKey()).toBe(fingerprint);
    expect(again.open(sealed, 'acme')).toBe(SECRET);
    again.seal('more', 'other');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  posixOnly('a key file readable by group or others is refused with a chmod 600 hint', () => {
    const dir = dataDir();
    SecretBox.fromEnvironment({ env: {}, dataDir: dir }).ensureKey();
    const file = masterKeyPath(dir);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(file, mode);
      const err = caught(() => SecretBox.fromEnvironment({ env: {}, dataDir: dir }).seal('x', 'acme'));
      expect(err.code).toBe('MASTER_KEY_INSECURE');
      expect(err.message).toContain(file);
      expect(err.message).toContain(`0${mode.toString(8)}`);
      expect(err.hint).toContain(`chmod 600 ${file}`);
    }
    chmodSync(file, 0o600);
    expect(SecretBox.fromEnvironment({ env: {}, dataDir: dir }).seal('x', 'acme')).toMatch(/^v1:/);
  });

  posixOnly('a key file holding something other than a key is refused, naming the file', () => {
    const dir = dataDir();
    const file = masterKeyPath(dir);
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    const err = caught(() => SecretBox.fromEnvironment({ env: {}, dataDir: dir }).seal('x', 'acme'));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(file);
  });

  it('a replaced key file fails to open old values with SECRET_DECRYPT_FAILED naming the file', () => {
    const dir = dataDir();
    const box = SecretBox.fromEnvironment({ env: {}, dataDir: dir });
    box.ensureKey();
    const sealed = box.seal(SECRET, 'acme');
    writeFileSync(masterKeyPath(dir), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const err = caught(() => SecretBox.fromEnvironment({ env: {}, dataDir: dir }).open(sealed, 'acme'));
    expect(err.code).toBe('SECRET_DECRYPT_FAILED');
    expect(err.message).toContain(masterKeyPath(dir));
  });

  it('a data directory that cannot be made fails with MASTER_KEY_UNWRITABLE', () => {
    // A file where the directory should be: refused even for root.
    const blocker = path.join(dataDir(), 'blocker');
    writeFileSync(blocker, '');
    const err = caught(() => SecretBox.fromEnvironment({ env: {}, dataDir: path.join(blocker, 'data') }).ensureKey());
    expect(err.code).toBe('MASTER_KEY_UNWRITABLE');
    expect(err.message).toContain(path.join(blocker, 'data', 'master.key'));
    expect(err.hint).toContain(MASTER_KEY_ENV);
  });

  it('the fingerprint is one-way and tells keys apart: the same key in any spelling gives the same one', () => {
    const key = randomBytes(32);
    const fingerprint = keyFingerprint(key);
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(
      SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: key.toString('hex') }, dataDir: dataDir() }).fingerprint(),
    ).toBe(fingerprint);
    expect(SecretBox.fromKey(key).fingerprint()).toBe(fingerprint);
    expect(keyFingerprint(randomBytes(32))).not.toBe(fingerprint);
    // Nothing of the key itself shows in it.
    expect(key.toString('hex')).not.toContain(fingerprint);
  });
});

/**
 * Known answers, computed once outside orgsync (Python's `cryptography` AESGCM and `hmac`) and committed here: a change
 * to the seal format or the fingerprint fails these, instead of locking users out of the secrets they have stored.
 */
describe('SecretBox: known answers', () => {
  const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i)); // 00 01 … 1f
  const IV = Buffer.from(Array.from({ length: 12 }, (_, i) => 0xa0 + i)); // a0 a1 … ab
  const CONTEXT = 'acme';
  const PLAINTEXT = '{"secret":"known-answer-secret","callbackToken":"Tok3n"}';
  const SEALED =
    'v1:oKGio6SlpqeoqaqrsLGsN8nCyIVOMGALLT+aNZ06D0gmuWfLQF+luGkVt7BdzTdj5dIwQe9rRfQa31ct8BUmk8NAMl40yGujbBShw2VPKSNRvjgD';
  const FINGERPRINT = 'dbb1c7d8b8f983ba';

  /** The v1 layout read with nothing of orgsync: "v1:" + base64(iv 12 ‖ tag 16 ‖ ciphertext), AES-256-GCM, context as AAD. */
  function plainOpen(sealed: string, key: Buffer, context: string): string {
    expect(sealed.startsWith('v1:')).toBe(true);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12), { authTagLength: 16 });
    decipher.setAuthTag(raw.subarray(12, 28));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  it('the committed sealed string opens with plain createDecipheriv, and with our open()', () => {
    expect(Buffer.from(SEALED.slice(3), 'base64').subarray(0, 12)).toStrictEqual(IV);
    expect(plainOpen(SEALED, KEY, CONTEXT)).toBe(PLAINTEXT);
    expect(SecretBox.fromKey(KEY).open(SEALED, CONTEXT)).toBe(PLAINTEXT);
    expect(
      SecretBox.fromEnvironment({ env: { [MASTER_KEY_ENV]: KEY.toString('base64') }, dataDir: dataDir() }).open(
        SEALED,
        CONTEXT,
      ),
    ).toBe(PLAINTEXT);
  });

  it('what seal() writes today opens with plain createDecipheriv', () => {
    const sealed = SecretBox.fromKey(KEY).seal(PLAINTEXT, CONTEXT);
    expect(sealed).not.toBe(SEALED); // a fresh IV every time
    expect(plainOpen(sealed, KEY, CONTEXT)).toBe(PLAINTEXT);
  });

  it('the fingerprint of the fixed key is the committed one', () => {
    expect(keyFingerprint(KEY)).toBe(FINGERPRINT);
  });
});
