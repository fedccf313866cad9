import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore, type StoreConfig } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

/** The PostgreSQL server CI starts (see .ci/run); override with ORGSYNC_TEST_DATABASE_URL. */
export const PG_URL = process.env.ORGSYNC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type Engine = 'sqlite' | 'postgres';
export const ENGINES: Engine[] = ['sqlite', 'postgres'];

export interface TestStore {
  store: Store;
  /** Opens a second, independent store on the same database (another process would see the same). */
  reopen(): Promise<Store>;
  /** For SQLite: the data directory; for PostgreSQL: the schema name. */
  location: string;
  /** The data directory (for PostgreSQL, where the master key file would go). */
  dataDir: string;
  cleanup(): Promise<void>;
}

export function tempDir(prefix = 'orgsync-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A fresh, empty database: a new SQLite file in a temp dir, or a new schema on the test PostgreSQL server. */
export async function openTestStore(engine: Engine): Promise<TestStore> {
  const dir = tempDir();
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const config: StoreConfig = engine === 'sqlite' ? { dataDir: dir } : { dataDir: dir, databaseUrl: PG_URL, schema };
  const opened: Store[] = [];
  const open = async (): Promise<Store> => {
    const s = await openStore(config);
    opened.push(s);
    return s;
  };
  const store = await open();
  return {
    store,
    reopen: open,
    location: engine === 'sqlite' ? dir : schema,
    dataDir: dir,
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
      }
    },
  };
}
