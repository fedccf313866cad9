import { rmSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { StaticMigrationProvider } from '../../src/store/migrations.js';
import { OrgsyncPostgresDialect, openStore, sqlitePath, type StoreConfig } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { ENGINES, PG_URL, tempDir, type Engine } from '../helpers/stores.js';

/**
 * A database an older orgsync made (migrated up to a given migration, with rows written then) opened by this one:
 * openStore runs the later migrations, and what they add to existing rows is what a new row would get.
 */

interface OldDatabase {
  config: StoreConfig;
  cleanup(): Promise<void>;
}

/** A new database migrated up to `last` only, with `rows` written then. */
async function olderDatabase(
  engine: Engine,
  last: string,
  rows: (db: Kysely<any>) => Promise<void>,
): Promise<OldDatabase> {
  const dataDir = tempDir('orgsync-upgrade-');
  let db: Kysely<any>;
  let config: StoreConfig;
  let dropSchema = async (): Promise<void> => {};
  if (engine === 'sqlite') {
    db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SqliteDatabase(sqlitePath(dataDir)) }) });
    config = { dataDir };
  } else {
    const schema = `t_up_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const run = async (text: string): Promise<void> => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(text);
      } finally {
        await client.end();
      }
    };
    await run(`create schema ${schema}`);
    dropSchema = () => run(`drop schema if exists ${schema} cascade`);
    db = new Kysely<any>({
      dialect: new OrgsyncPostgresDialect({
        pool: new pg.Pool({ connectionString: PG_URL, max: 1, options: `-c search_path=${schema}` }),
      }),
    });
    config = { dataDir, databaseUrl: PG_URL, schema };
  }
  try {
    const migrator = new Migrator({
      db,
      provider: new StaticMigrationProvider(engine),
      ...(config.schema ? { migrationTableSchema: config.schema } : {}),
    });
    const { error } = await migrator.migrateTo(last);
    if (error) throw error;
    await rows(db);
  } finally {
    await db.destroy();
  }
  return {
    config,
    cleanup: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      await dropSchema();
    },
  };
}

describe.each(ENGINES)('upgrading a database of an older orgsync (%s)', (engine) => {
  let old: OldDatabase | undefined;
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await old?.cleanup();
    old = undefined;
  });

  it('0006: existing connections get the scheduled full sync daily at 02:00', async () => {
    const at = new Date().toISOString();
    old = await olderDatabase(engine, '0005_event_inbox', async (db) => {
      await db
        .insertInto('connections')
        .values({
          id: 1,
          name: 'acme',
          platform: 'wecom',
          settings: '{}',
          secrets: 'sealed',
          policy: '{}',
          sync_enabled: 1,
          created_at: at,
          updated_at: at,
        })
        .execute();
    });

    const store = await openStore(old.config);
    stores.push(store);
    expect(await store.connections.get('acme')).toMatchObject({
      name: 'acme',
      syncEnabled: true,
      reconcileCron: '0 2 * * *',
    });
    expect((await store.connections.update('acme', { reconcileCron: null }))?.reconcileCron).toBeNull();
    // Opening again migrates nothing twice.
    const again = await openStore(old.config);
    stores.push(again);
    expect((await again.connections.get('acme'))?.reconcileCron).toBeNull();
  });

  it('0007: the change log keeps every recorded change (SQLite rebuilds it clustered on run and sequence)', async () => {
    const at = new Date().toISOString();
    const fields = (n: number): string => JSON.stringify({ name: { before: `old ${n}`, after: `new ${n}` } });
    old = await olderDatabase(engine, '0006_reconcile_schedule', async (db) => {
      for (const id of [1, 2]) {
        await db
          .insertInto('runs')
          .values({
            id,
            kind: 'sync',
            source: 'wecom:acme',
            status: 'succeeded',
            dry_run: 0,
            created_at: at,
            counts: '{}',
            errors: '[]',
            notes: '[]',
            summary: '{}',
          })
          .execute();
      }
      await db
        .insertInto('run_changes')
        .values(
          [3, 1, 2].map((seq) => ({
            run_id: 1,
            seq,
            object_kind: 'user',
            action: 'update',
            object_id: seq,
            external_id: `u${seq}`,
            label: `User ${seq}`,
            fields: fields(seq),
          })),
        )
        .execute();
      await db
        .insertInto('run_changes')
        .values({
          run_id: 2,
          seq: 1,
          object_kind: 'department',
          action: 'delete',
          object_id: null,
          external_id: 'd9',
          label: 'Gone',
          fields: '{}',
        })
        .execute();
    });

    const store = await openStore(old.config);
    stores.push(store);
    const changes = await store.runs.changes(1);
    expect(changes.map((c) => c.seq)).toStrictEqual([1, 2, 3]);
    expect(changes[1]).toStrictEqual({
      seq: 2,
      objectKind: 'user',
      action: 'update',
      objectId: 2,
      externalId: 'u2',
      label: 'User 2',
      fields: { name: { before: 'old 2', after: 'new 2' } },
    });
    expect(await store.runs.countChanges(2)).toBe(1);
    // The run's sequence stays unique, and new changes are recorded after the old ones.
    await store.runs.addChanges(1, [
      { seq: 4, objectKind: 'user', action: 'create', objectId: 4, externalId: 'u4', label: 'User 4', fields: {} },
    ]);
    await expect(
      store.runs.addChanges(1, [
        { seq: 4, objectKind: 'user', action: 'create', objectId: 5, externalId: 'u5', label: 'User 5', fields: {} },
      ]),
    ).rejects.toThrow();
    expect(await store.runs.countChanges(1)).toBe(4);
    if (engine === 'sqlite') {
      const sqlite = new SqliteDatabase(sqlitePath(old.config.dataDir));
      try {
        const ddl = (
          sqlite.prepare("select sql from sqlite_master where type = 'table' and name = 'run_changes'").get() as {
            sql: string;
          }
        ).sql;
        expect(ddl.toLowerCase()).toContain('without rowid');
        expect(
          sqlite
            .prepare(
              "select name from sqlite_master where type = 'index' and tbl_name = 'run_changes' and name = 'run_changes_object'",
            )
            .get(),
        ).toBeDefined();
      } finally {
        sqlite.close();
      }
    }
  });
});
