import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { withLock } from '../../src/runs/lock.js';
import { OrgsyncError } from '../../src/errors.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

/**
 * The directory lock after a crash: a process of this host that was killed while holding it never releases it, and
 * waiting out its 60-second lease would stop every run (the event pump's included) for that long.
 */

let opened: TestStore[] = [];
afterEach(async () => {
  for (const t of opened) await t.cleanup();
  opened = [];
});

async function store(): Promise<TestStore> {
  const t = await openTestStore('sqlite');
  opened.push(t);
  return t;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.status).toBe(0);
  return child.pid as number;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OrgsyncError);
    return (err as OrgsyncError).code;
  }
  throw new Error('expected LOCK_TIMEOUT');
}

describe('withLock', () => {
  it('takes over at once a lock left by a process of this host that is gone', async () => {
    const { store: s } = await store();
    const dead = `${hostname()}:${deadPid()}:run-7`;
    expect(await s.locks.tryAcquire('directory', dead, 60_000)).toBe(true);
    // A time-out of 0: withLock gives up at its first wait, so it succeeds only by taking the lock over at once.
    const value = await withLock(s, 'directory', `${hostname()}:${process.pid}:run-8`, 0, async () => {
      expect((await s.views.lease('directory'))?.holder).toBe(`${hostname()}:${process.pid}:run-8`);
      return 42;
    });
    expect(value).toBe(42);
  });

  it('waits for a live holder of this host, and for a holder on another host, until its own timeout', async () => {
    const { store: s } = await store();
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      await once(alive, 'spawn');
      expect(await s.locks.tryAcquire('directory', `${hostname()}:${alive.pid}:run-1`, 60_000)).toBe(true);
      expect(await refusal(withLock(s, 'directory', `${hostname()}:${process.pid}:run-2`, 400, async () => 1))).toBe(
        'LOCK_TIMEOUT',
      );
      await s.locks.release('directory', `${hostname()}:${alive.pid}:run-1`);

      // A pid on another machine says nothing about this one's processes.
      expect(await s.locks.tryAcquire('directory', `another-host.example:${deadPid()}:run-3`, 60_000)).toBe(true);
      expect(await refusal(withLock(s, 'directory', `${hostname()}:${process.pid}:run-4`, 400, async () => 1))).toBe(
        'LOCK_TIMEOUT',
      );
    } finally {
      alive.kill('SIGKILL');
    }
  });
});
