import { CompiledQuery } from 'kysely';
import type { DialectName } from '../migrations.js';
import type { Database } from '../schema.js';
import { CHUNK, type Db } from './db.js';

/**
 * Multi-row INSERT for the bulk paths of an import. Kysely's builder spends more time shaping 100,000 rows than
 * the database spends writing them; here the statement text depends only on the table and the row count, so it is
 * built once per shape (and SQLite's statement cache reuses the compiled statement), and Kysely still executes it
 * inside the caller's transaction.
 */
export class BulkInsert {
  private readonly texts = new Map<string, string>();

  constructor(private readonly dialect: DialectName) {}

  async run(
    db: Db,
    table: keyof Database,
    columns: readonly string[],
    rows: ReadonlyArray<readonly unknown[]>,
    suffix = '',
  ): Promise<void> {
    const width = columns.length;
    const size = Math.floor(Math.min(CHUNK * 10, 30_000 / width));
    for (let start = 0, count = 0; start < rows.length; start += count) {
      count = this.chunkSize(rows.length - start, size);
      const params = new Array<unknown>(count * width);
      for (let r = 0; r < count; r++) {
        const row = rows[start + r] as readonly unknown[];
        for (let c = 0; c < width; c++) params[r * width + c] = row[c];
      }
      await db.executeQuery(CompiledQuery.raw(this.text(table, columns, count, suffix), params));
    }
  }

  /**
   * Rows in the next statement. SQLite compiles each statement text once and keeps it (the driver's cache), so the
   * rows left after the full chunks go in power-of-two pieces: a handful of shapes per table, compiled once, instead
   * of a new remainder every batch (each compile of a statement of thousands of rows took about 10 ms).
   * PostgreSQL parses every statement anyway: one for the rest.
   */
  private chunkSize(left: number, size: number): number {
    if (left >= size || this.dialect !== 'sqlite') return Math.min(left, size);
    return 1 << (31 - Math.clz32(left));
  }

  private text(table: string, columns: readonly string[], count: number, suffix: string): string {
    const key = `${table}|${columns.join(',')}|${count}|${suffix}`;
    let text = this.texts.get(key);
    if (text === undefined) {
      let n = 0;
      const tuple = (): string => `(${columns.map(() => (this.dialect === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
      text = `insert into ${table} (${columns.join(', ')}) values ${Array.from({ length: count }, tuple).join(', ')}${suffix}`;
      if (this.texts.size > 256) this.texts.clear();
      this.texts.set(key, text);
    }
    return text;
  }
}
