import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OrgsyncError } from '../errors.js';

/**
 * Secrets at rest: AES-256-GCM under one master key, taken from ORGSYNC_MASTER_KEY or else from `<dataDir>/master.key`
 * (mode 0600). A sealed value is `v1:` + base64(iv ‖ tag ‖ ciphertext); the context (a connection's name) is
 * authenticated as associated data, so a value copied to another connection does not open. The format is pinned by a
 * known-answer test (test/connections/secret-box.test.ts): changing it would lock users out of their secrets.
 *
 * A box never makes a key by itself: `ensureKey` does, and only the connection service calls it, when the store holds
 * no sealed secret (a new key beside existing secrets would split the store into two halves, one unreadable).
 */

export const MASTER_KEY_ENV = 'ORGSYNC_MASTER_KEY';
export const MASTER_KEY_FILE = 'master.key';
/** A rotation writes the new key here before it commits, then renames it over master.key. */
export const PENDING_KEY_SUFFIX = '.new';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1:';
const MAKE_ONE = 'Make one with `openssl rand -base64 32`.';

export function masterKeyPath(dataDir: string): string {
  return path.join(dataDir, MASTER_KEY_FILE);
}

const FINGERPRINT_LABEL = 'orgsync master key fingerprint v1';

/**
 * Names a key without revealing it: the first 16 hex characters of HMAC-SHA256(key, a fixed label). One-way, so the
 * stored fingerprint gives nothing that helps find the key; 64 bits tell keys apart.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update(FINGERPRINT_LABEL).digest('hex').slice(0, 16);
}

/** A new random master key. */
export function newMasterKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** 32 bytes as base64 (standard or URL-safe) or as 64 hex characters. `where` names the source in the error; the value is never shown. */
export function parseMasterKey(text: string, where: string, hint = MAKE_ONE): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  let problem: string;
  // 43 characters of hex digits can still be unpadded base64 of 32 bytes.
  if (/^[0-9a-fA-F]+$/.test(value) && value.length !== 43) {
    problem = `is ${value.length} hex characters`;
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+={0,2}$/.test(value)) {
    const bytes = Buffer.from(value, /[-_]/.test(value) ? 'base64url' : 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
    problem = `decodes as base64 to ${bytes.length} bytes`;
  } else {
    problem = value === '' ? 'is empty' : `is neither base64 nor hex (${value.length} characters)`;
  }
  throw new OrgsyncError({
    code: 'CONFIG_INVALID',
    message: `${where} ${problem}; it must be 32 bytes, written as base64 (44 characters) or as 64 hex characters`,
    hint,
  });
}

interface KeySource {
  /** Where the key comes from, for messages. */
  describe(): string;
  /** The key file, when the key lives in one. */
  file?: string;
  /** The key, or undefined when there is none (no key file). */
  find(): Buffer | undefined;
  /** Makes the key file if there is none. */
  create(): Buffer;
}

/** The error for "no key here": what was looked for, and how to get the key back. */
export function missingKeyError(where: string): OrgsyncError {
  return new OrgsyncError({
    code: 'MASTER_KEY_MISSING',
    message: `there is no master key: ${MASTER_KEY_ENV} is not set and ${where} does not exist`,
    hint: `Restore ${where} from a backup (or set ${MASTER_KEY_ENV} to the key in use before). If the key is lost for good, remove the connections (\`orgsync connection remove NAME\`) and add them again.`,
  });
}

function envKeySource(value: string): KeySource {
  const key = parseMasterKey(
    value,
    MASTER_KEY_ENV,
    `Make one with \`openssl rand -base64 32\` and set ${MASTER_KEY_ENV} to it, or unset ${MASTER_KEY_ENV} to keep the key in master.key in the data directory.`,
  );
  return { describe: () => MASTER_KEY_ENV, find: () => key, create: () => key };
}

function fileKeySource(file: string): KeySource {
  return {
    describe: () => file,
    file,
    find: () => readKeyFile(file),
    create: () => readKeyFile(file) ?? createKeyFile(file),
  };
}

/** The key in `file`, or undefined when there is no such file; refused when others may read it or it holds no key. */
export function readKeyFile(file: string): Buffer | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw unreadable(file, err);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new OrgsyncError({
      code: 'MASTER_KEY_INSECURE',
      message: `the master key file ${file} is open to group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); refusing to use it`,
      hint: `Run \`chmod 600 ${file}\` so only its owner can read it.`,
    });
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(file, err);
  }
  return parseMasterKey(
    text,
    `the master key file ${file}`,
    `Restore the file from a backup. A new key (\`openssl rand -base64 32\`) opens none of the secrets stored so far: they would have to be entered again.`,
  );
}

/** Written to a private temporary file, then linked into place: never half-written, never overwriting a key another process made first. */
function createKeyFile(file: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process made the key first: use that one.
      const theirs = readKeyFile(file);
      if (theirs) return theirs;
      throw err;
    } finally {
      unlinkSync(temp);
    }
  } catch (err) {
    if (err instanceof OrgsyncError) throw err;
    throw new OrgsyncError(
      {
        code: 'MASTER_KEY_UNWRITABLE',
        message: `cannot create the master key file ${file}: ${(err as Error).message}`,
        hint: `Make the data directory writable, or set ${MASTER_KEY_ENV} to a key made with \`openssl rand -base64 32\`.`,
      },
      { cause: err },
    );
  }
  return key;
}

function unreadable(file: string, err: unknown): OrgsyncError {
  return new OrgsyncError(
    {
      code: 'CONFIG_INVALID',
      message: `cannot read the master key file ${file}: ${(err as Error).message}`,
      hint: `Check the file's owner and permissions (chmod 600), or set ${MASTER_KEY_ENV}.`,
    },
    { cause: err },
  );
}

export class SecretBox {
  private key: Buffer | undefined;

  private constructor(private readonly source: KeySource) {}

  /** The key file, when the key lives in one (and not in ORGSYNC_MASTER_KEY). */
  keyFile(): string | undefined {
    return this.source.file;
  }

  /** The fingerprint of the key, or undefined when there is none (no key file yet). Makes nothing. */
  fingerprint(): string | undefined {
    const key = this.findKey();
    return key ? keyFingerprint(key) : undefined;
  }

  /** Makes the key file if there is none; returns the key's fingerprint. Only for a store that holds no sealed secret. */
  ensureKey(): string {
    this.key ??= this.source.create();
    return keyFingerprint(this.key);
  }

  /**
   * ORGSYNC_MASTER_KEY if set (non-empty; checked here), else `<dataDir>/master.key`, which is not read until a key
   * is needed, and created only by `ensureKey`.
   */
  static fromEnvironment(options: { env: Readonly<Record<string, string | undefined>>; dataDir: string }): SecretBox {
    const value = options.env[MASTER_KEY_ENV];
    return new SecretBox(
      value !== undefined && value.trim() !== '' ? envKeySource(value) : fileKeySource(masterKeyPath(options.dataDir)),
    );
  }

  static fromKey(key: Buffer): SecretBox {
    if (key.length !== KEY_BYTES) throw new RangeError(`a master key is ${KEY_BYTES} bytes, not ${key.length}`);
    const copy = Buffer.from(key);
    return new SecretBox({ describe: () => 'the given key', find: () => copy, create: () => copy });
  }

  /** Encrypts `plaintext` bound to `context`: only open(…, the same context) gives it back. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  }

  open(sealed: string, context: string): string {
    const key = this.keyFor();
    const raw = sealed.startsWith(VERSION) ? Buffer.from(sealed.slice(VERSION.length), 'base64') : undefined;
    if (!raw || raw.length < IV_BYTES + TAG_BYTES) {
      throw new OrgsyncError({
        code: 'SECRET_DECRYPT_FAILED',
        message: 'the stored secrets are not a sealed v1 value',
        hint: 'The stored value was damaged or written by something other than orgsync: enter the secrets again.',
      });
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new OrgsyncError(
        {
          code: 'SECRET_DECRYPT_FAILED',
          message: `cannot decrypt the stored secrets with the master key from ${this.source.describe()}`,
          hint:
            `The master key (${MASTER_KEY_ENV}, or master.key in the data directory) is not the one these secrets were sealed with: ` +
            'it was changed or replaced since, or the stored value was altered. Restore the previous key, or enter the secrets again.',
        },
        { cause: err },
      );
    }
  }

  private findKey(): Buffer | undefined {
    this.key ??= this.source.find();
    return this.key;
  }

  private keyFor(): Buffer {
    const key = this.findKey();
    if (!key) throw missingKeyError(this.source.describe());
    return key;
  }
}
