import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/stores.js';

const BETTER_SQLITE3 = path.resolve(import.meta.dirname, '../../node_modules/better-sqlite3/lib/index.js');

/** Another process that takes SQLite's write lock, says so, and holds it for holdMs. */
function holdWriteLock(file: string, holdMs: number): Promise<{ done: Promise<void> }> {
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
       setTimeout(() => { db.exec('COMMIT'); db.close(); process.exit(0); }, ${holdMs});`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      if (c.toString().includes('locked')) resolve({ done });
    });
  });
}

describe('SQLite shared between processes', () => {
  let store: Store | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('waits for another process\'s write lock without freezing the event loop, then writes', async () => {
    dir = tempDir();
    store = await openStore({ dataDir: dir });
    const other = await holdWriteLock(path.join(dir, 'orgsync.db'), 800);

    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    const revision = await store.transaction((tx) => tx.directory.bumpRevision());
    const waited = Date.now() - started;
    clearInterval(timer);
    await other.done;

    expect(revision).toBe(1);
    // The write had to wait for the other process to commit...
    expect(waited).toBeGreaterThanOrEqual(500);
    // ...and meanwhile timers kept firing: the wait did not block the thread.
    expect(ticks).toBeGreaterThanOrEqual(10);
    // The other process's write landed too.
    expect(await store.locks.tryAcquire('other', 'me', 1000)).toBe(true);
  });

  it('an autocommit write outside a transaction waits the same way', async () => {
    dir = tempDir();
    store = await openStore({ dataDir: dir });
    const other = await holdWriteLock(path.join(dir, 'orgsync.db'), 500);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const run = await store.runs.create({ kind: 'import', source: 'hr', dryRun: false, status: 'running' });
    clearInterval(timer);
    await other.done;
    expect(run.id).toBe(1);
    expect(ticks).toBeGreaterThanOrEqual(5);
  });
});
