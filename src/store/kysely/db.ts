import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.js';

/** The store's connection, or the transaction a repository was made for. */
export type Db = Kysely<Database> | Transaction<Database>;

/** Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
export const CHUNK = 1000;

export function chunks<T>(rows: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

export const now = (): string => new Date().toISOString();
