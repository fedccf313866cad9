import { OrgsyncError } from '../errors.js';
import type { Store } from '../store/store.js';

const TTL_MS = 60_000;
const POLL_MS = 100;

/**
 * Runs fn holding a named lock in the database, so a server and CLI commands (or several instances on one
 * PostgreSQL) never write the directory at the same time. The lease is renewed while fn runs; a holder that
 * died loses it after TTL_MS.
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
    if (Date.now() >= deadline) {
      throw new OrgsyncError({
        code: 'LOCK_TIMEOUT',
        message: `another run has been writing the directory for more than ${Math.round(timeoutMs / 1000)} s`,
        hint: 'Wait for it to finish (see `orgsync runs list`) and try again.',
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
