import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/stores.js';

const BETTER_SQLITE3 = path.resolve(import.meta.dirname, '../../node_modules/better-sqlite3/lib/index.js');

/** Another process that takes SQLite's write lock, says so, and holds it until `commit()` tells it to commit. */
function holdWriteLock(file: string): Promise<{ commit(): void; done: Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { default: Database } = await import(${JSON.stringify(BETTER_SQLITE3)});
       const db = new Database(${JSON.stringify(file)});
       db.exec('BEGIN IMMEDIATE');
       db.prepare("insert into locks (name, holder, expires_at) values ('other', 'other-process', 0)").run();
       process.stdout.write('locked\\n');
       process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      if (c.toString().includes('locked')) resolve({ commit: () => child.stdin.end('commit\n'), done });
    });
  });
}

/** Lets the event loop turn `n` times through its timers: it can only if nothing blocks the thread. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 20));
}

describe('SQLite shared between processes', () => {
  let store: Store | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("waits for another process's write lock without freezing the event loop, then writes", async () => {
    dir = tempDir();
    store = await openStore({ dataDir: dir });
    const other = await holdWriteLock(path.join(dir, 'orgsync.db'));

    let written = false;
    const write = store.transaction((tx) => tx.directory.bumpRevision()).then((r) => ((written = true), r));
    // Timers keep firing while the write waits (a blocked thread would stall here), and the write does wait: the
    // other process holds the lock until it is told to commit.
    await turns(10);
    expect(written).toBe(false);
    other.commit();
    expect(await write).toBe(1);
    await other.done;
    // The other process's write landed too.
    expect(await store.locks.tryAcquire('other', 'me', 1000)).toBe(true);
  });

  it('an autocommit write outside a transaction waits the same way', async () => {
    dir = tempDir();
    store = await openStore({ dataDir: dir });
    const other = await holdWriteLock(path.join(dir, 'orgsync.db'));
    let written = false;
    const create = store.runs
      .create({ kind: 'import', source: 'hr', dryRun: false, status: 'running' })
      .then((r) => ((written = true), r));
    await turns(5);
    expect(written).toBe(false);
    other.commit();
    expect((await create).id).toBe(1);
    await other.done;
  });
});
