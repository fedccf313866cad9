import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { OrgsyncError } from '../errors.js';
import type { ConnectionRow, Store, StoreRepos } from '../store/store.js';
import { MASTER_KEY_ENV, PENDING_KEY_SUFFIX, SecretBox, keyFingerprint, readKeyFile } from './secret-box.js';

/**
 * The master key is checked against the fingerprint stored beside the sealed secrets: a start with another key (or
 * none) is refused while sealed secrets exist, instead of making a new key that opens only what is sealed after it.
 * `rotateMasterKey` re-seals every secret under a new key in one transaction.
 */

/** The settings row holding the fingerprint of the key the stored secrets are sealed with. */
export const FINGERPRINT_SETTING = 'master_key_fingerprint';

/**
 * When a secret was last sealed. Writing it first in every sealing transaction also serialises them: on PostgreSQL
 * the upsert holds the row until the commit, so a second first-seal (or a seal during a rotation) waits, then sees
 * the other's rows and fingerprint instead of sealing under its own key beside them. SQLite's write lock does the same.
 */
export const SEALED_AT_SETTING = 'secrets_sealed_at';

export interface MasterKeyCheck {
  /** The fingerprint of the key in use; undefined when there is no key yet (and nothing sealed). */
  fingerprint: string | undefined;
  /** How many connections hold sealed secrets. */
  sealed: number;
  /** True when this check recorded the fingerprint of a database that held sealed secrets but none yet. */
  adopted: boolean;
  /** Connections whose secrets the key does not open although it was adopted (a store split by an older orgsync). */
  unreadable: string[];
}

/** Where the key was looked for, as the errors name it. */
function lookedIn(box: SecretBox, found: boolean): string {
  const file = box.keyFile();
  if (!file) return MASTER_KEY_ENV;
  return found
    ? `${file}; ${MASTER_KEY_ENV} is not set`
    : `${MASTER_KEY_ENV}, which is not set, and ${file}, which does not exist`;
}

function mismatch(
  box: SecretBox,
  expected: string | undefined,
  found: string | undefined,
  sealed: number,
  detail?: string,
): OrgsyncError {
  const file = box.keyFile();
  const want = expected
    ? `the key with fingerprint ${expected}`
    : 'the key that sealed them (its fingerprint is not recorded yet)';
  const got = found ? `the key with fingerprint ${found}` : 'none';
  const secrets = `${sealed} connection${sealed === 1 ? '' : 's'}`;
  let hint: string;
  const pending = file ? `${file}${PENDING_KEY_SUFFIX}` : undefined;
  const pendingKey = pending && expected && existsSync(pending) ? safeFingerprint(pending) : undefined;
  if (pending && pendingKey === expected) {
    hint = `A key rotation committed but did not finish: ${pending} holds the expected key. Finish it with \`mv ${pending} ${file}\`.`;
  } else {
    hint =
      (file
        ? `Restore ${file} from a backup (mode 0600), or set ${MASTER_KEY_ENV} to ${want}. `
        : `Set ${MASTER_KEY_ENV} to ${want}, or unset it if the key lives in master.key in the data directory. `) +
      'To change the key, put the current one back first and run `orgsync admin rotate-master-key`. ' +
      'If the key is lost for good, remove the connections (`orgsync connection remove NAME`) and add them again: their links and runs stay.';
  }
  return new OrgsyncError({
    code: found ? 'MASTER_KEY_MISMATCH' : 'MASTER_KEY_MISSING',
    message:
      `${found ? 'the master key is not the one' : 'there is no master key, but'} the stored secrets of ${secrets} ${found ? 'are sealed with' : 'need one'}: ` +
      `expected ${want}, found ${got} (looked in ${lookedIn(box, found !== undefined)})${detail ? `; ${detail}` : ''}. Nothing was changed`,
    hint,
    object: 'master key',
  });
}

function safeFingerprint(file: string): string | undefined {
  try {
    const key = readKeyFile(file);
    return key ? keyFingerprint(key) : undefined;
  } catch {
    return undefined;
  }
}

function opens(box: SecretBox, row: ConnectionRow): boolean {
  try {
    box.open(row.secrets, row.name);
    return true;
  } catch (err) {
    if (err instanceof OrgsyncError && err.code === 'SECRET_DECRYPT_FAILED') return false;
    throw err;
  }
}

/**
 * Refuses (MASTER_KEY_MISMATCH / MASTER_KEY_MISSING) a key other than the one the stored secrets are sealed with.
 * A database from before fingerprints (sealed rows, no fingerprint) adopts the key when it opens at least one of
 * them; the ones it does not open are returned as `unreadable`. Makes no key.
 */
export async function checkMasterKey(repos: StoreRepos, box: SecretBox): Promise<MasterKeyCheck> {
  const rows = await repos.connections.list();
  const stored = await repos.settings.get(FINGERPRINT_SETTING);
  if (rows.length === 0) return { fingerprint: box.fingerprint(), sealed: 0, adopted: false, unreadable: [] };
  const found = box.fingerprint();
  if (stored !== undefined) {
    if (found !== stored) throw mismatch(box, stored, found, rows.length);
    return { fingerprint: found, sealed: rows.length, adopted: false, unreadable: [] };
  }
  if (found === undefined) throw mismatch(box, undefined, undefined, rows.length);
  const unreadable = rows.filter((row) => !opens(box, row)).map((row) => row.name);
  if (unreadable.length === rows.length) throw mismatch(box, undefined, found, rows.length, 'it opens none of them');
  await repos.settings.set(FINGERPRINT_SETTING, found);
  return { fingerprint: found, sealed: rows.length, adopted: true, unreadable };
}

/**
 * Call inside the transaction that seals and stores a secret: checks the key as above and, when nothing is sealed
 * yet, makes the key (the key file) if there is none and records its fingerprint. Two first seals racing with
 * different keys cannot both win: the second waits for the first (SEALED_AT_SETTING), then sees its row and fingerprint.
 */
export async function prepareToSeal(tx: StoreRepos, box: SecretBox): Promise<string> {
  await tx.settings.set(SEALED_AT_SETTING, new Date().toISOString());
  const check = await checkMasterKey(tx, box);
  if (check.sealed > 0 && check.fingerprint !== undefined) return check.fingerprint;
  const fingerprint = box.ensureKey();
  if ((await tx.settings.get(FINGERPRINT_SETTING)) !== fingerprint)
    await tx.settings.set(FINGERPRINT_SETTING, fingerprint);
  return fingerprint;
}

export interface RotationResult {
  previousFingerprint: string | undefined;
  fingerprint: string;
  /** The connections whose secrets were re-sealed, by name. */
  connections: string[];
  /** The key file replaced by the new key, when the key lives in one. */
  keyFile: string | undefined;
}

/**
 * Re-seals every stored secret under `newKey` in one transaction and records its fingerprint. When the current key
 * lives in a key file, the new key is written beside it (`master.key.new`, 0600, synced) before the commit and
 * renamed over it after: a failure before the commit changes nothing, and a crash between the two leaves the new key
 * where the start-up check names it. Any secret that does not open with the current key stops the rotation.
 */
export async function rotateMasterKey(store: Store, current: SecretBox, newKey: Buffer): Promise<RotationResult> {
  const fingerprint = keyFingerprint(newKey);
  const keyFile = current.keyFile();
  const pending = keyFile ? `${keyFile}${PENDING_KEY_SUFFIX}` : undefined;
  let wrote = false;
  let returned = false;
  let result: RotationResult;
  try {
    result = await store.transaction(async (tx) => {
      await tx.settings.set(SEALED_AT_SETTING, new Date().toISOString());
      const check = await checkMasterKey(tx, current);
      if (check.fingerprint === fingerprint) {
        throw new OrgsyncError({
          code: 'MASTER_KEY_UNCHANGED',
          message: `the new master key is the key in use (fingerprint ${fingerprint}); nothing was changed`,
          hint: 'Give a different key, e.g. one made with `openssl rand -base64 32`, or leave the new key out to have one generated.',
          object: 'master key',
        });
      }
      const next = SecretBox.fromKey(newKey);
      const rows = await tx.connections.list();
      for (const row of rows) {
        let plain: string;
        try {
          plain = current.open(row.secrets, row.name);
        } catch (err) {
          if (!(err instanceof OrgsyncError)) throw err;
          throw new OrgsyncError(
            {
              code: 'MASTER_KEY_ROTATION_FAILED',
              message: `the secrets of connection "${row.name}" do not open with the current master key (${err.code}); nothing was changed`,
              hint: `Enter that connection's secrets again (\`orgsync connection update ${row.name} --secret - …\` with every secret), or remove it, then rotate again.`,
              object: `connection "${row.name}"`,
            },
            { cause: err },
          );
        }
        const sealed = next.seal(plain, row.name);
        if (next.open(sealed, row.name) !== plain)
          throw new Error(`re-sealing connection "${row.name}" did not round-trip`);
        await tx.connections.update(row.name, { secrets: sealed });
      }
      await tx.settings.set(FINGERPRINT_SETTING, fingerprint);
      if (pending) {
        writePrivateFile(pending, `${newKey.toString('base64')}\n`);
        wrote = true;
      }
      returned = true;
      return { previousFingerprint: check.fingerprint, fingerprint, connections: rows.map((r) => r.name), keyFile };
    });
  } catch (err) {
    if (!wrote || !pending) throw err;
    // Failed before the commit: the store still wants the current key, so the new one must not stay behind.
    if (!returned) {
      unlinkSync(pending);
      throw err;
    }
    // The commit itself failed: it may have been applied all the same, and then only the new key opens the store.
    throw new OrgsyncError(
      {
        code: 'MASTER_KEY_ROTATION_UNCERTAIN',
        message: `committing the rotation failed (${(err as Error).message}); it may have been applied. The new key (fingerprint ${fingerprint}) is kept in ${pending}`,
        hint: `Run \`orgsync connection test NAME\` with the current key: if it is refused expecting fingerprint ${fingerprint}, finish with \`mv ${pending} ${keyFile}\`; otherwise nothing changed and ${pending} can be removed.`,
        object: 'master key',
      },
      { cause: err },
    );
  }
  if (pending && keyFile) {
    try {
      renameSync(pending, keyFile);
    } catch (err) {
      throw new OrgsyncError(
        {
          code: 'MASTER_KEY_ROTATION_UNFINISHED',
          message: `the secrets are re-sealed under the new master key (fingerprint ${fingerprint}), but it could not be moved into place: ${(err as Error).message}`,
          hint: `Finish it with \`mv ${pending} ${keyFile}\` before anything else uses the store.`,
          object: 'master key',
        },
        { cause: err },
      );
    }
    syncDirectory(path.dirname(keyFile));
  }
  return result;
}

/** A new file of mode 0600 holding `text`, on disk before this returns; an older file of that name is replaced. */
function writePrivateFile(file: string, text: string): void {
  if (existsSync(file)) unlinkSync(file);
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform lets a directory be opened for fsync; the rename itself is atomic either way.
  }
}
