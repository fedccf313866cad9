import { existsSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type SchemaMetadata,
  type TableMetadata,
} from 'kysely';
import pg from 'pg';
import { OrgsyncError } from '../errors.js';
import { createPrivateFile, secureDataDir, type ModeFix } from './data-dir.js';
import { KyselyStore } from './kysely/store.js';
import { StaticMigrationProvider, type DialectName } from './migrations.js';
import { SqliteStoreDialect, whenUnlocked } from './sqlite-driver.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

export interface StoreConfig {
  /** postgres://… selects PostgreSQL; otherwise SQLite in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL only: the schema to use (created if missing); default the connection's search_path. */
  schema?: string | undefined;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

export function sqlitePath(dataDir: string): string {
  return path.join(dataDir, 'orgsync.db');
}

/**
 * The connection settings of every SQLite store, after WAL and the busy timeout: `synchronous = NORMAL` is safe
 * under WAL (a crash loses at most the last commits, never consistency); a 64 MiB page cache (the default is 2 MiB)
 * keeps the indexes a 100,000-user apply touches in memory.
 */
export const SQLITE_PRAGMAS: readonly string[] = ['synchronous = NORMAL', 'foreign_keys = ON', 'cache_size = -65536'];

const INT8_OID = 20;

/**
 * Kysely's PostgreSQL introspector reads the columns of every table in every schema, which fails ("schema … does not
 * exist") when another session drops a schema meanwhile, and grows with everything else in the database. The
 * migrator only asks whether its own tables exist in its schema (the current one): answer just that.
 */
class CurrentSchemaIntrospector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<any>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    return (await sql<SchemaMetadata>`select nspname as name from pg_catalog.pg_namespace`.execute(this.db)).rows;
  }

  /** Tables and views of the current schema, without their columns. */
  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ schema: string; name: string; kind: string }>`
      select n.nspname as schema, c.relname as name, c.relkind as kind
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'v', 'p')`.execute(this.db);
    return rows.map((r) => ({ name: r.name, schema: r.schema, isView: r.kind === 'v', columns: [] }));
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

/** PostgreSQL as orgsync uses it: the migrator introspects only the current schema (other schemas may come and go). */
export class OrgsyncPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

export interface OpenOptions {
  /**
   * Told of every directory or file of the data directory found open to group or others and tightened (the CLI
   * prints a warning, the server logs one).
   */
  onModeFix?: (fix: ModeFix) => void;
}

export async function openStore(config: StoreConfig, options: OpenOptions = {}): Promise<Store> {
  let db: Kysely<Database>;
  let dialect: DialectName;
  let migrationTableSchema: string | undefined;
  let sqliteHandle: SqliteDatabase.Database | undefined;
  if (isPostgresUrl(config.databaseUrl)) {
    dialect = 'postgres';
    const schema = config.schema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new OrgsyncError({
        code: 'CONFIG_INVALID',
        message: `schema name "${schema}" is not valid`,
        hint: 'Use lower-case letters, digits and _.',
      });
    }
    // The data directory still holds the master key: tightened if it exists, not made.
    if (existsSync(config.dataDir))
      for (const fix of secureDataDir(config.dataDir, { create: false })) options.onModeFix?.(fix);
    // Connect once up front, so an unreachable server is reported as such and not as a failed migration.
    const client = new pg.Client({
      connectionString: config.databaseUrl,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    await connectOrExplain(client, config.databaseUrl);
    try {
      if (schema) await createSchema(client, schema);
      // Kysely looks for its migration tables in every schema unless told which: name the one in use.
      migrationTableSchema =
        ((await client.query('select current_schema() as s')).rows[0] as { s: string | null }).s ?? undefined;
    } finally {
      await client.end();
    }
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
      types: {
        // bigint columns hold ids, orders and epoch milliseconds: all safe as JavaScript numbers.
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? (v: string) => Number(v)
            : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    db = new Kysely<Database>({ dialect: new OrgsyncPostgresDialect({ pool }) });
  } else {
    if (config.databaseUrl !== undefined && config.databaseUrl !== '') {
      throw new OrgsyncError({
        code: 'CONFIG_INVALID',
        message: `ORGSYNC_DATABASE_URL "${redactUrl(config.databaseUrl)}" is not a postgres:// URL`,
        hint: 'Set ORGSYNC_DATABASE_URL=postgres://user@host:5432/db for PostgreSQL, or leave it unset to use SQLite in ORGSYNC_DATA_DIR.',
      });
    }
    dialect = 'sqlite';
    for (const fix of secureDataDir(config.dataDir, { create: true })) options.onModeFix?.(fix);
    const file = sqlitePath(config.dataDir);
    createPrivateFile(file);
    let sqlite: SqliteDatabase.Database;
    try {
      sqlite = new SqliteDatabase(file);
    } catch (err) {
      throw new OrgsyncError(
        {
          code: 'STORE_UNAVAILABLE',
          message: `cannot open the database ${file}: ${(err as Error).message}`,
          hint: 'Check that ORGSYNC_DATA_DIR points to a writable directory.',
        },
        { cause: err },
      );
    }
    // WAL lets a server and CLI commands share the file: readers never block the one writer.
    await whenUnlocked(sqlite, () => sqlite.pragma('journal_mode = WAL'));
    // Short on purpose: longer waits happen asynchronously in the driver (see sqlite-driver.ts).
    sqlite.pragma('busy_timeout = 20');
    for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma);
    db = new Kysely<Database>({ dialect: new SqliteStoreDialect(sqlite) });
    sqliteHandle = sqlite;
  }

  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(dialect),
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
  const { error, results } = sqliteHandle
    ? await migrateExclusively(sqliteHandle, migrator)
    : await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error');
    throw new OrgsyncError(
      {
        code: 'STORE_MIGRATION_FAILED',
        message: `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
        hint: isPostgresUrl(config.databaseUrl)
          ? 'Check that the database user may create tables.'
          : 'Check the data directory and that no older orgsync version is writing to it.',
      },
      { cause: error },
    );
  }
  return new KyselyStore(db, dialect, sqliteHandle);
}

/**
 * Kysely takes no migration lock on SQLite (it assumes one process). Two processes opening a new data directory
 * at once would both migrate; running the whole migration inside one BEGIN IMMEDIATE on the same connection
 * makes it atomic and makes the second process wait, then find nothing left to do.
 */
async function migrateExclusively(
  sqlite: SqliteDatabase.Database,
  migrator: Migrator,
): ReturnType<Migrator['migrateToLatest']> {
  await whenUnlocked(sqlite, () => sqlite.exec('BEGIN IMMEDIATE'));
  let result: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  try {
    result = await migrator.migrateToLatest();
  } catch (err) {
    sqlite.exec('ROLLBACK');
    throw err;
  }
  sqlite.exec(result.error ? 'ROLLBACK' : 'COMMIT');
  return result;
}

async function connectOrExplain(client: pg.Client, url: string): Promise<void> {
  try {
    await client.connect();
  } catch (err) {
    throw new OrgsyncError(
      {
        code: 'STORE_UNAVAILABLE',
        message: `cannot connect to PostgreSQL at ${redactUrl(url)}: ${(err as Error).message}`,
        hint: 'Check that the server runs and ORGSYNC_DATABASE_URL names the right host, port, user and database.',
      },
      { cause: err },
    );
  }
}

/** CREATE SCHEMA IF NOT EXISTS is not safe when two sessions run it at once: the loser sees a unique violation. */
async function createSchema(client: pg.Client, schema: string): Promise<void> {
  try {
    await client.query(`create schema if not exists ${schema}`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw err;
  }
}

/** A database URL for messages: the password is never shown. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
