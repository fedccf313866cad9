import type { ErrorInfo } from '../errors.js';

/** One contact change as a platform announced it, reduced to what was touched. */
export interface ContactEvent {
  object: 'user' | 'department';
  /** The source's id of the object. */
  externalId: string;
  /** The object's new id when the platform renamed it (WeCom's NewUserID). */
  newExternalId?: string;
}

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
  /** The last failure whole (code, message, hint, object), when it was recorded with one. */
  error: ErrorInfo | null;
  /** A failed pending message waits until then (null: due now). */
  nextAttemptAt: string | null;
  /** Set on a dead letter: when it stopped being tried. */
  deadAt: string | null;
}

/** How a failed attempt is recorded. */
export interface FailureOptions {
  /** Not tried again before this time (ISO-8601). Default: at once. */
  retryAt?: string;
  /** A message whose attempts reach this becomes a dead letter. Default: never. */
  maxAttempts?: number;
  /** Count the attempt (default true). false for failures that are the connection's, not the message's. */
  count?: boolean;
}

/** Which dead letters a list or a retry takes: a connection's, some by id, or all. */
export interface DeadLetterFilter {
  connection?: string;
  ids?: readonly number[];
}

export interface InboxRepo {
  /** Stores a message; false when the same (connection, dedupeKey) is already there (a platform retry). */
  add(message: {
    connection: string;
    dedupeKey: string;
    type: string;
    events: readonly ContactEvent[];
  }): Promise<boolean>;
  /** The oldest pending messages of a connection that are due (`now`, default the clock), in arrival order. */
  pending(connection: string, limit: number, now?: string): Promise<InboxMessage[]>;
  /** The earliest time a pending message of the connection waits for (null: none waits). */
  nextAttempt(connection: string): Promise<string | null>;
  /** Connections with pending messages. */
  connectionsWithPending(): Promise<string[]>;
  /** Marks messages processed by a run. */
  markDone(ids: readonly number[], runId: number): Promise<void>;
  /**
   * Records a failed attempt with its error: the messages stay pending (until `retryAt`), or become dead letters
   * when their attempts reach `maxAttempts`. Returns the ids that became dead letters.
   */
  markFailed(ids: readonly number[], error: string | ErrorInfo, options?: FailureOptions): Promise<number[]>;
  /** Dead letters, oldest first (at most `limit`, default 1,000). */
  deadLetters(filter?: DeadLetterFilter & { limit?: number }): Promise<InboxMessage[]>;
  /** Puts dead letters back to pending with no attempts counted (the last error stays); returns them. */
  retryDeadLetters(filter?: DeadLetterFilter): Promise<Array<{ id: number; connection: string }>>;
  /** Counts of a connection's messages by state. */
  counts(connection: string): Promise<{ pending: number; done: number }>;
}
