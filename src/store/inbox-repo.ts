import type { Kysely, Transaction } from 'kysely';
import type { ContactEvent } from '../events/processor.js';
import type { Database } from './schema.js';

/**
 * Contact-change messages from the platforms, written before the callback is answered: a crash after the reply
 * loses nothing, and a platform's retry of a message already here is acknowledged without being stored twice.
 */

export interface InboxMessage {
  id: number;
  connection: string;
  dedupeKey: string;
  type: string;
  events: ContactEvent[];
  receivedAt: string;
  attempts: number;
  lastError: string | null;
}

export interface InboxRepo {
  /** Stores a message; false when the same (connection, dedupeKey) is already there (a platform retry). */
  add(message: { connection: string; dedupeKey: string; type: string; events: readonly ContactEvent[] }): Promise<boolean>;
  /** The oldest pending messages of a connection, in arrival order. */
  pending(connection: string, limit: number): Promise<InboxMessage[]>;
  /** Connections with pending messages. */
  connectionsWithPending(): Promise<string[]>;
  /** Marks messages processed by a run. */
  markDone(ids: readonly number[], runId: number): Promise<void>;
  /** Records a failed attempt; the messages stay pending. */
  markFailed(ids: readonly number[], error: string): Promise<void>;
  /** Counts of a connection's messages by state. */
  counts(connection: string): Promise<{ pending: number; done: number }>;
}

type Db = Kysely<Database> | Transaction<Database>;

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

export class KyselyInboxRepo implements InboxRepo {
  constructor(private readonly db: Db) {}

  async add(message: { connection: string; dedupeKey: string; type: string; events: readonly ContactEvent[] }): Promise<boolean> {
    try {
      await this.db
        .insertInto('event_inbox')
        .values({
          connection: message.connection,
          dedupe_key: message.dedupeKey,
          type: message.type,
          events: JSON.stringify(message.events),
          received_at: new Date().toISOString(),
          done: 0,
          run_id: null,
          attempts: 0,
          last_error: null,
        })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async pending(connection: string, limit: number): Promise<InboxMessage[]> {
    const rows = await this.db
      .selectFrom('event_inbox')
      .selectAll()
      .where('connection', '=', connection)
      .where('done', '=', 0)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      connection: r.connection,
      dedupeKey: r.dedupe_key,
      type: r.type,
      events: JSON.parse(r.events) as ContactEvent[],
      receivedAt: r.received_at,
      attempts: r.attempts,
      lastError: r.last_error,
    }));
  }

  async connectionsWithPending(): Promise<string[]> {
    const rows = await this.db.selectFrom('event_inbox').select('connection').distinct().where('done', '=', 0).orderBy('connection').execute();
    return rows.map((r) => r.connection);
  }

  async markDone(ids: readonly number[], runId: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db.updateTable('event_inbox').set({ done: 1, run_id: runId }).where('id', 'in', ids.slice(i, i + 500)).execute();
    }
  }

  async markFailed(ids: readonly number[], error: string): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .updateTable('event_inbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error.slice(0, 2000) }))
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
    }
  }

  async counts(connection: string): Promise<{ pending: number; done: number }> {
    const rows = await this.db
      .selectFrom('event_inbox')
      .select(['done', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('connection', '=', connection)
      .groupBy('done')
      .execute();
    const n = (d: number): number => Number(rows.find((r) => Number(r.done) === d)?.n ?? 0);
    return { pending: n(0), done: n(1) };
  }
}
