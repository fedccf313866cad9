import type SqliteDatabase from 'better-sqlite3';
import type { Compilable } from 'kysely';
import type { Db } from './db.js';

/**
 * Reads whole tables as arrays of column values, in select order. On SQLite it uses better-sqlite3's raw mode:
 * building an object per row costs about twice the read itself for a 15-column row (measured on the 100,000 users
 * of a directory load), and the caller builds its own objects anyway. Only inside a transaction, so the raw
 * statement runs on the connection the transaction holds; elsewhere, and on PostgreSQL, Kysely's rows are mapped.
 */
export class RowReader {
  constructor(private readonly sqlite?: SqliteDatabase.Database) {}

  async arrays(db: Db, query: Compilable): Promise<unknown[][]> {
    const compiled = query.compile();
    if (this.sqlite && db.isTransaction)
      return this.sqlite
        .prepare(compiled.sql)
        .raw(true)
        .all(compiled.parameters as unknown[]) as unknown[][];
    return (await db.executeQuery<Record<string, unknown>>(compiled)).rows.map((r) => Object.values(r));
  }
}
