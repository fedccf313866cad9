import { localized, type Lang } from '../../errors.js';
import { DeadLetters } from '../../events/dead-letters.js';
import type { EventPump } from '../../events/pump.js';
import type { InboxMessage, Store } from '../../store/store.js';
import { langOf } from '../lang.js';
import type { RouteTable } from '../route.js';
import { deadLetterListSchema, deadLetterQuery, retryDeadLettersBody, retryDeadLettersSchema } from '../schemas.js';

/**
 * Real time's dead letters: contact-change messages that failed `maxAttempts` times (docs/events.md). They are
 * listed with their last error, and a retry puts them back to pending and wakes the pump of each connection.
 */
export function eventRoutes(table: RouteTable, deps: { store: Store; pump: EventPump }): void {
  const deadLetters = new DeadLetters(deps.store, deps.pump);

  table.add({
    method: 'GET',
    url: '/api/v1/events/dead-letters',
    tag: 'events',
    summary: 'Dead letters: contact-change messages that stopped being tried, oldest first, with their last error',
    query: deadLetterQuery,
    responses: { 200: { description: 'The dead letters (at most `limit`)', schema: deadLetterListSchema } },
    description: 'Each error is in Chinese when Accept-Language prefers zh and orgsync has a Chinese text for it.',
    handler: async ({ query, req }) => {
      const lang = langOf(req.headers['accept-language']);
      const items = await deadLetters.list({ limit: query.limit, connection: query.connection });
      return { items: items.map((m) => deadLetter(m, lang)) };
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/events/dead-letters/retry',
    tag: 'events',
    summary: '重试: put dead letters back to pending (all, a connection’s, or some by id) and process them at once',
    description:
      'Each gets `maxAttempts` tries again; its last error stays until it succeeds. An id that is not a dead letter is skipped.',
    body: retryDeadLettersBody,
    responses: { 200: { description: 'What was put back', schema: retryDeadLettersSchema } },
    handler: async ({ body }) => {
      const retried = await deadLetters.retry({ connection: body?.connection, ids: body?.ids });
      return { retried: retried.length, ids: retried.map((m) => m.id) };
    },
  });
}

/** A dead letter as the API shows it: its error in `lang` (see `localized`), never the `zh` field itself. */
export function deadLetter(m: InboxMessage, lang: Lang) {
  const error = m.error ?? (m.lastError !== null ? { code: 'EVENT_FAILED', message: m.lastError } : null);
  return {
    id: m.id,
    connection: m.connection,
    type: m.type,
    events: m.events,
    receivedAt: m.receivedAt,
    attempts: m.attempts,
    deadAt: m.deadAt,
    error: error && localized(error, lang),
  };
}
