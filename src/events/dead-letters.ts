import type { DeadLetterFilter, InboxMessage, Store } from '../store/store.js';
import type { EventPump } from './pump.js';

/** Contact-change messages that stopped being tried: listed with their last error, and put back on request. */
export class DeadLetters {
  constructor(
    private readonly store: Store,
    private readonly pump: EventPump,
  ) {}

  /** Oldest first, at most `limit`; only one connection's when it is given. */
  list(options: { limit: number; connection?: string | undefined }): Promise<InboxMessage[]> {
    return this.store.inbox.deadLetters({
      limit: options.limit,
      ...(options.connection !== undefined ? { connection: options.connection } : {}),
    });
  }

  /** Puts them back to pending and wakes the pump of each connection, so they are processed at once. */
  async retry(filter: {
    connection?: string | undefined;
    ids?: readonly number[] | undefined;
  }): Promise<Array<{ id: number; connection: string }>> {
    const which: DeadLetterFilter = {
      ...(filter.connection !== undefined ? { connection: filter.connection } : {}),
      ...(filter.ids !== undefined ? { ids: filter.ids } : {}),
    };
    const retried = await this.store.inbox.retryDeadLetters(which);
    for (const connection of new Set(retried.map((m) => m.connection))) this.pump.notify(connection, 0);
    return retried;
  }
}
