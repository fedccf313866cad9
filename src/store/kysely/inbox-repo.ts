import type { ErrorInfo, ZhText } from '../../errors.js';
import type { ContactEvent, DeadLetterFilter, FailureOptions, InboxMessage, InboxRepo } from '../inbox-repo.js';
import type { EventInboxTable } from '../schema.js';
import type { Db } from './db.js';

export class KyselyInboxRepo implements InboxRepo {
  constructor(private readonly db: Db) {}

  async add(message: {
    connection: string;
    dedupeKey: string;
    type: string;
    events: readonly ContactEvent[];
  }): Promise<boolean> {
    // Only the same message stored before is a retry of it: any other conflict (an id taken, say) is an error.
    const result = await this.db
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
      .onConflict((oc) => oc.columns(['connection', 'dedupe_key']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async pending(connection: string, limit: number, now = new Date().toISOString()): Promise<InboxMessage[]> {
    const rows = await this.db
      .selectFrom('event_inbox')
      .selectAll()
      .where('connection', '=', connection)
      .where('done', '=', 0)
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toMessage);
  }

  async nextAttempt(connection: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('event_inbox')
      .select((eb) => eb.fn.min<string | null>('next_attempt_at').as('at'))
      .where('connection', '=', connection)
      .where('done', '=', 0)
      .executeTakeFirst();
    return row?.at ?? null;
  }

  async connectionsWithPending(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('event_inbox')
      .select('connection')
      .distinct()
      .where('done', '=', 0)
      .orderBy('connection')
      .execute();
    return rows.map((r) => r.connection);
  }

  async markDone(ids: readonly number[], runId: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .updateTable('event_inbox')
        .set({ done: 1, run_id: runId })
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
    }
  }

  async markFailed(ids: readonly number[], error: string | ErrorInfo, options: FailureOptions = {}): Promise<number[]> {
    const info: ErrorInfo = typeof error === 'string' ? { code: 'EVENT_FAILED', message: error } : error;
    const fields = {
      last_error: info.message.slice(0, 2000),
      error_code: typeof error === 'string' ? null : info.code.slice(0, 200),
      error_hint: info.hint?.slice(0, 2000) ?? null,
      error_object: info.object?.slice(0, 500) ?? null,
      error_zh:
        info.zh !== undefined
          ? JSON.stringify({
              message: info.zh.message.slice(0, 2000),
              ...(info.zh.hint !== undefined ? { hint: info.zh.hint.slice(0, 2000) } : {}),
            })
          : null,
      next_attempt_at: options.retryAt ?? null,
    };
    const count = options.count ?? true;
    const max = options.maxAttempts;
    const dead: number[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await this.db
        .updateTable('event_inbox')
        .set((eb) => ({ ...fields, ...(count ? { attempts: eb('attempts', '+', 1) } : {}) }))
        .where('id', 'in', chunk)
        .where('done', '=', 0)
        .execute();
      if (max === undefined) continue;
      // Those that reached the limit stop being tried: read back, so the caller learns which.
      const reached = await this.db
        .selectFrom('event_inbox')
        .select('id')
        .where('id', 'in', chunk)
        .where('done', '=', 0)
        .where('attempts', '>=', max)
        .execute();
      if (reached.length === 0) continue;
      const reachedIds = reached.map((r) => Number(r.id));
      await this.db
        .updateTable('event_inbox')
        .set({ done: 2, dead_at: new Date().toISOString(), next_attempt_at: null })
        .where('id', 'in', reachedIds)
        .execute();
      dead.push(...reachedIds);
    }
    return dead;
  }

  async deadLetters(filter: DeadLetterFilter & { limit?: number } = {}): Promise<InboxMessage[]> {
    if (filter.ids !== undefined && filter.ids.length === 0) return [];
    let q = this.db.selectFrom('event_inbox').selectAll().where('done', '=', 2);
    if (filter.connection !== undefined) q = q.where('connection', '=', filter.connection);
    if (filter.ids !== undefined) q = q.where('id', 'in', [...filter.ids]);
    const rows = await q
      .orderBy('id')
      .limit(filter.limit ?? 1000)
      .execute();
    return rows.map(toMessage);
  }

  async retryDeadLetters(filter: DeadLetterFilter = {}): Promise<Array<{ id: number; connection: string }>> {
    if (filter.ids !== undefined && filter.ids.length === 0) return [];
    let q = this.db.selectFrom('event_inbox').select(['id', 'connection']).where('done', '=', 2);
    if (filter.connection !== undefined) q = q.where('connection', '=', filter.connection);
    if (filter.ids !== undefined) q = q.where('id', 'in', [...filter.ids]);
    const rows = (await q.orderBy('id').execute()).map((r) => ({ id: Number(r.id), connection: r.connection }));
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .updateTable('event_inbox')
        .set({ done: 0, attempts: 0, next_attempt_at: null, dead_at: null })
        .where(
          'id',
          'in',
          rows.slice(i, i + 500).map((r) => r.id),
        )
        .where('done', '=', 2)
        .execute();
    }
    return rows;
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

function toMessage(r: { id: number | string | bigint } & Omit<EventInboxTable, 'id'>): InboxMessage {
  const zh = r.error_zh !== null ? parseZh(r.error_zh) : undefined;
  const error: ErrorInfo | null =
    r.last_error === null || r.error_code === null
      ? null
      : {
          code: r.error_code,
          message: r.last_error,
          ...(r.error_hint !== null ? { hint: r.error_hint } : {}),
          ...(r.error_object !== null ? { object: r.error_object } : {}),
          ...(zh !== undefined ? { zh } : {}),
        };
  return {
    id: Number(r.id),
    connection: r.connection,
    dedupeKey: r.dedupe_key,
    type: r.type,
    events: JSON.parse(r.events) as ContactEvent[],
    receivedAt: r.received_at,
    attempts: r.attempts,
    lastError: r.last_error,
    error,
    nextAttemptAt: r.next_attempt_at,
    deadAt: r.dead_at,
  };
}

function parseZh(text: string): ZhText | undefined {
  try {
    const v = JSON.parse(text) as Partial<ZhText>;
    if (typeof v.message === 'string')
      return { message: v.message, ...(typeof v.hint === 'string' ? { hint: v.hint } : {}) };
  } catch {
    // not JSON: the English text stands
  }
  return undefined;
}
