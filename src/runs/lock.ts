import { hostname } from 'node:os';
import { OrgsyncError } from '../errors.js';
import type { Store } from '../store/store.js';

const TTL_MS = 60_000;
const POLL_MS = 100;

/** Whether a process of this host exists (one owned by another user counts). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A holder named `<host>:<pid>:<label>` (as runs name themselves) whose process on this host is gone: killed, it
 * will never release the lock, and waiting for the lease to lapse would stop every run for up to TTL_MS.
 */
export function holderGone(holder: string): boolean {
  const m = /^(.*):(\d+):[^:]*$/.exec(holder);
  if (!m) return false;
  const pid = Number(m[2]);
  return m[1] === hostname() && pid !== process.pid && !isProcessAlive(pid);
}

/**
 * Runs fn holding a named lock in the database, so a server and CLI commands (or several instances on one
 * PostgreSQL) never write the directory at the same time. The lease is renewed while fn runs; a holder that
 * died loses it after TTL_MS, or at once when it ran on this host and its process is gone.
 */
export async function withLock<T>(
  store: Store,
  name: string,
  holder: string,
  timeoutMs = 10 * 60_000,
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!(await store.locks.tryAcquire(name, holder, TTL_MS))) {
    const current = await store.views.lease(name);
    if (current && current.holder !== holder && holderGone(current.holder)) {
      // Released only if that dead holder still has it; then everyone waiting tries again on equal terms.
      await store.locks.release(name, current.holder);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new OrgsyncError({
        code: 'LOCK_TIMEOUT',
        message: `another run has been writing the directory for more than ${Math.round(timeoutMs / 1000)} s`,
        hint: 'Wait for it to finish (see `orgsync runs list`) and try again.',
        zh: {
          message: `另一个运行写入通讯录已超过 ${Math.round(timeoutMs / 1000)} 秒`,
          hint: '等它结束（见运行日志或 `orgsync runs list`）后再试。',
        },
      });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const renew = setInterval(() => {
    store.locks.tryAcquire(name, holder, TTL_MS).catch(() => {});
  }, TTL_MS / 3);
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await store.locks.release(name, holder);
  }
}
