import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { OrgsyncError } from '../errors.js';

/**
 * The data directory holds password hashes, every employee's contact data and the master key: only its owner may
 * read it. It is made 0700 and the files orgsync writes there 0600 whatever the umask, and a directory or file
 * found looser (an older orgsync made them 0755 / 0644) is tightened on start, with a warning naming it.
 */

export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

/**
 * The files orgsync keeps in the data directory besides master.key, which is not tightened but refused when it is
 * open to others (see secret-box.ts): a key others could read may have been copied, so using it is the operator's
 * decision.
 */
export const DATA_FILES = [
  'orgsync.db',
  'orgsync.db-wal',
  'orgsync.db-shm',
  'orgsync.db-journal',
  'server.log',
] as const;

/** A directory or file whose mode was tightened. */
export interface ModeFix {
  path: string;
  /** The permission bits before and after, e.g. 0o755 → 0o700. */
  from: number;
  to: number;
}

export function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** The one line an operator reads about a fix (the CLI's stderr, the server's log). */
export function describeFix(fix: ModeFix): string {
  return `${fix.path} was open to group or others (mode ${octal(fix.from)}); changed it to ${octal(fix.to)}`;
}

function unwritable(target: string, err: unknown): OrgsyncError {
  return new OrgsyncError(
    {
      code: 'STORE_UNAVAILABLE',
      message: `cannot make ${target} private to its owner: ${(err as Error).message}`,
      hint: 'Check that ORGSYNC_DATA_DIR (or --data-dir) points to a directory this user owns.',
      object: target,
    },
    { cause: err },
  );
}

/** Clears the group and other bits of `target` if it exists; the fix made, if any. */
function tighten(target: string, mode: number): ModeFix | undefined {
  let current: number;
  try {
    current = statSync(target).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unwritable(target, err);
  }
  if ((current & 0o077) === 0) return undefined;
  const next = current & mode;
  try {
    chmodSync(target, next);
  } catch (err) {
    throw unwritable(target, err);
  }
  return { path: target, from: current, to: next };
}

/**
 * Makes `dataDir` (when `create`, creating it) 0700 and orgsync's files in it 0600; returns what it had to tighten.
 * A directory created here gets its mode by chmod, as mkdir's mode is narrowed by the umask but never widened.
 */
export function secureDataDir(dataDir: string, options: { create: boolean }): ModeFix[] {
  const fixes: ModeFix[] = [];
  let created: string | undefined;
  if (options.create) {
    try {
      created = mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
    } catch (err) {
      throw unwritable(dataDir, err);
    }
  }
  if (created !== undefined) {
    try {
      chmodSync(dataDir, DATA_DIR_MODE);
    } catch (err) {
      throw unwritable(dataDir, err);
    }
  } else {
    const fix = tighten(dataDir, DATA_DIR_MODE);
    if (fix) fixes.push(fix);
  }
  for (const name of DATA_FILES) {
    const fix = tighten(path.join(dataDir, name), DATA_FILE_MODE);
    if (fix) fixes.push(fix);
  }
  return fixes;
}

/**
 * Creates `file` empty with mode 0600 if it does not exist, so that SQLite opens a private file (it gives its -wal
 * and -shm files the database file's mode) instead of creating one under the umask (0644 as a rule).
 */
export function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', DATA_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw unwritable(file, err);
  }
  closeSync(fd);
  try {
    chmodSync(file, DATA_FILE_MODE);
  } catch (err) {
    throw unwritable(file, err);
  }
}
