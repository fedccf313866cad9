import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { OrgsyncError, type ErrorInfo } from '../errors.js';
import type { Policy } from '../reconcile/policy.js';
import type { RunReport } from '../runs/run-service.js';
import type { InboxMessage, InboxRepo } from '../store/inbox-repo.js';
import type { Store } from '../store/store.js';
import type { ObjectReader } from '../connectors/contract.js';
import { coalesce, runEvents, type EventRunReport, type ObjectFailure } from './processor.js';

export interface EventTarget {
  reader: ObjectReader;
  policy: Policy;
}

/** How failed messages are tried again: growing waits, then a dead letter. */
export interface RetrySettings {
  /** A message that fails this many times becomes a dead letter. Default 8 (ORGSYNC_EVENT_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** The wait after a first failure, doubled after each next one. Default 2 s (ORGSYNC_EVENT_RETRY_MS). */
  retryMs: number;
  /** The longest wait. Default 5 minutes. */
  maxRetryMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { maxAttempts: 8, retryMs: 2000, maxRetryMs: 5 * 60_000 };

/**
 * The retry settings from the environment: ORGSYNC_EVENT_MAX_ATTEMPTS (1-1000) and ORGSYNC_EVENT_RETRY_MS
 * (1-3,600,000); unset ones keep their defaults. A bad value is refused with the variable named.
 */
export function retrySettings(env: NodeJS.ProcessEnv): RetrySettings {
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const text = env[name]?.trim();
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new OrgsyncError({
        code: 'CONFIG_INVALID',
        message: `${name} "${text}" is not a whole number from ${min} to ${max}`,
        hint: `Set ${name} to a whole number from ${min} to ${max}, or unset it for the default (${fallback}).`,
        object: name,
      });
    }
    return n;
  };
  const retryMs = int('ORGSYNC_EVENT_RETRY_MS', 1, 3_600_000, DEFAULT_RETRY.retryMs);
  return {
    maxAttempts: int('ORGSYNC_EVENT_MAX_ATTEMPTS', 1, 1000, DEFAULT_RETRY.maxAttempts),
    retryMs,
    maxRetryMs: Math.max(DEFAULT_RETRY.maxRetryMs, retryMs),
  };
}

export interface EventPumpOptions {
  store: Store;
  inbox: InboxRepo;
  /** The reader and policy of a connection; null when it is gone (its messages then wait). */
  resolve(connection: string): Promise<EventTarget | null>;
  /** Runs a task while no other run of the connection goes on (the server's runner); default: just runs it. */
  exclusive?: (connection: string, task: () => Promise<RunReport>) => Promise<RunReport>;
  /** Waits this long after a message before processing, so a burst becomes one run. Default 150 ms. */
  debounceMs?: number;
  /** Messages per run at most. Default 2,000. */
  batchLimit?: number;
  /** How failed messages are tried again; DEFAULT_RETRY for what is not given (`orgsync serve` reads `retrySettings(env)`). */
  retry?: Partial<RetrySettings>;
  /**
   * How often `start()`ed pumps look for pending messages nobody told them of (put back by `orgsync runs
   * retry-dead-letters`, or stored by another server on the same database). Default 60 s.
   */
  pollMs?: number;
  /** The clock (ISO-8601 now); default the system's. */
  now?: () => number;
  onRun?: (connection: string, report: RunReport) => void;
  onError?: (connection: string, err: unknown) => void;
  /** Messages that became dead letters, with the error they keep. */
  onDeadLetter?: (connection: string, ids: number[], error: ErrorInfo) => void;
}

interface Lane {
  /** The debounce before a run. */
  timer: NodeJS.Timeout | null;
  /** Wakes the lane when the first waiting (failed) message is due. */
  retryTimer: NodeJS.Timeout | null;
  running: Promise<void> | null;
  again: boolean;
  /** Runs in a row that failed for the whole connection: the lane waits longer after each. */
  failures: number;
}

/** A batch's outcome: done, or waiting (its messages marked), or the lane must stop for now. */
type Outcome = 'done' | 'stop';

/**
 * Turns stored messages into event runs, one connection at a time each, in arrival order. Failures are isolated:
 * an object that cannot be read is left out of its run and only the messages naming it wait, each with a growing
 * back-off, and become dead letters after `maxAttempts` failures (kept with their last error until a person retries
 * them). A run that fails as a whole is split until the failing message is alone. A failure of the whole
 * connection (a wrong secret, a missing permission) holds every message, counting no attempt, since none is at
 * fault. Reads give each object's state now, so processing a message twice changes nothing twice.
 */
export class EventPump {
  readonly #lanes = new Map<string, Lane>();
  #stopped = false;
  readonly #retry: RetrySettings;
  /**
   * The holder of the event runs' leases, named as the server's runner names its own (server:<host>:<pid>:<nonce>),
   * so the runner's sweep fails an event run whose server was killed; its messages are still pending and run again.
   */
  readonly #holder = `server:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(private readonly options: EventPumpOptions) {
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  get retry(): Readonly<RetrySettings> {
    return this.#retry;
  }

  #poll: NodeJS.Timeout | null = null;

  /** Processes whatever is pending (after a restart), and then looks again every `pollMs`. */
  async start(): Promise<void> {
    await this.#wakePending();
    if (this.#stopped || this.#poll) return;
    this.#poll = setInterval(() => {
      this.#wakePending().catch((err: unknown) => this.options.onError?.('*', err));
    }, this.options.pollMs ?? 60_000);
    this.#poll.unref();
  }

  async #wakePending(): Promise<void> {
    // A lane already scheduled or running keeps to that (notify sees to it); a drain takes only what is due.
    for (const connection of await this.options.inbox.connectionsWithPending()) this.notify(connection, 0);
  }

  #lane(connection: string): Lane {
    let lane = this.#lanes.get(connection);
    if (!lane) {
      lane = { timer: null, retryTimer: null, running: null, again: false, failures: 0 };
      this.#lanes.set(connection, lane);
    }
    return lane;
  }

  /** A message for the connection was stored (or put back by a retry). */
  notify(connection: string, delayMs = this.options.debounceMs ?? 150): void {
    if (this.#stopped) return;
    const lane = this.#lane(connection);
    if (lane.running) {
      lane.again = true;
      return;
    }
    if (lane.timer) return;
    lane.timer = setTimeout(() => {
      lane.timer = null;
      lane.running = this.#drain(connection, lane)
        .catch((err: unknown) => {
          // The store failed: try again later, as for a failed run.
          this.options.onError?.(connection, err);
          this.#wakeAt(connection, lane, this.#now() + this.#wait(++lane.failures));
        })
        .finally(() => {
          lane.running = null;
          // Messages that came in during the run wait for the debounce too, so a long burst becomes few runs.
          if (lane.again && !this.#stopped) {
            lane.again = false;
            this.notify(connection);
          }
        });
    }, delayMs);
  }

  /** Resolves when nothing is scheduled or running (a message waiting for its retry counts as scheduled). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#lanes.values()].filter((l) => l.running || l.timer || l.retryTimer);
      if (busy.length === 0) return;
      await Promise.all(busy.map((l) => l.running ?? new Promise((r) => setTimeout(r, 20))));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    for (const lane of this.#lanes.values()) {
      if (lane.timer) clearTimeout(lane.timer);
      if (lane.retryTimer) clearTimeout(lane.retryTimer);
      lane.retryTimer = null;
    }
    await Promise.all([...this.#lanes.values()].map((l) => l.running));
  }

  #now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The wait after the n-th failure in a row: retryMs, doubling, at most maxRetryMs. */
  #wait(n: number): number {
    return Math.min(this.#retry.maxRetryMs, this.#retry.retryMs * 2 ** Math.min(Math.max(n - 1, 0), 30));
  }

  /** Schedules the lane to run again at `at` (epoch ms), unless it already wakes earlier. */
  #wakeAt(connection: string, lane: Lane, at: number): void {
    if (this.#stopped) return;
    if (lane.retryTimer) clearTimeout(lane.retryTimer);
    lane.retryTimer = setTimeout(
      () => {
        lane.retryTimer = null;
        this.notify(connection, 0);
      },
      Math.max(0, at - this.#now()),
    );
  }

  async #drain(connection: string, lane: Lane): Promise<void> {
    const { inbox } = this.options;
    const limit = this.options.batchLimit ?? 2000;
    if (lane.retryTimer) {
      clearTimeout(lane.retryTimer);
      lane.retryTimer = null;
    }
    while (!this.#stopped) {
      const messages = await inbox.pending(connection, limit, new Date(this.#now()).toISOString());
      if (messages.length === 0) break;
      if ((await this.#process(connection, lane, messages)) === 'stop') return;
      // A full batch means a backlog: go on at once. Otherwise whatever arrived meanwhile is picked up after the
      // debounce (notify sets `again`).
      if (messages.length < limit) break;
    }
    // Messages waiting for their retry wake the lane when the first is due.
    const next = await inbox.nextAttempt(connection);
    if (next !== null) this.#wakeAt(connection, lane, Date.parse(next));
  }

  /**
   * One batch: a run of all of it. Messages naming an object that could not be read wait; a run that fails as a
   * whole is split in halves, each run on its own, until a failing message is alone and counted as failed.
   */
  async #process(connection: string, lane: Lane, messages: InboxMessage[]): Promise<Outcome> {
    const { inbox, store } = this.options;
    const target = await this.options.resolve(connection);
    if (!target) return 'stop';
    let report: EventRunReport | null = null;
    let thrown: unknown = null;
    try {
      const task = async (): Promise<RunReport> =>
        (report = await runEvents(store, {
          source: connection,
          reader: target.reader,
          policy: target.policy,
          events: messages.flatMap((m) => m.events),
          leaseHolder: this.#holder,
        }));
      await (this.options.exclusive ? this.options.exclusive(connection, task) : task());
    } catch (err) {
      thrown = err;
    }
    const done = report as EventRunReport | null;
    if (done && done.status !== 'failed') {
      lane.failures = 0;
      const failing = new Map<number, ObjectFailure>();
      if (done.unreadable.length > 0) {
        const byKey = new Map(done.unreadable.map((f) => [`${f.object}:${f.externalId}`, f]));
        for (const m of messages) {
          const touched = coalesce(m.events);
          const failure = [
            ...touched.users.map((u) => `user:${u}`),
            ...touched.departments.map((d) => `department:${d}`),
          ]
            .map((k) => byKey.get(k))
            .find((f) => f !== undefined);
          if (failure) failing.set(m.id, failure);
        }
      }
      await inbox.markDone(
        messages.filter((m) => !failing.has(m.id)).map((m) => m.id),
        done.runId,
      );
      await this.#fail(
        connection,
        messages.filter((m) => failing.has(m.id)),
        (m) => (failing.get(m.id) as ObjectFailure).error,
      );
      this.options.onRun?.(connection, done);
      return 'done';
    }

    const error: ErrorInfo = done?.connectionError ?? done?.errors[0] ?? errorOf(thrown);
    this.options.onError?.(connection, done ? new OrgsyncError(error) : thrown);
    if (done?.connectionError || error.code === 'LOCK_TIMEOUT') {
      // Nothing of this connection can be read now (or another run holds the directory for long): every message
      // waits, none is at fault.
      lane.failures++;
      const retryAt = new Date(this.#now() + this.#wait(lane.failures)).toISOString();
      await inbox.markFailed(
        messages.map((m) => m.id),
        error,
        { retryAt, count: false },
      );
      return 'stop';
    }
    if (messages.length > 1) {
      // Which message fails the run is not known: halves, each on its own, until it is alone.
      const half = Math.ceil(messages.length / 2);
      for (const part of [messages.slice(0, half), messages.slice(half)]) {
        if (this.#stopped) return 'stop';
        if ((await this.#process(connection, lane, part)) === 'stop') return 'stop';
      }
      return 'done';
    }
    await this.#fail(connection, messages, () => error);
    return 'done';
  }

  /** Counts a failed attempt of each message: it waits its back-off, or becomes a dead letter. */
  async #fail(
    connection: string,
    messages: readonly InboxMessage[],
    errorOf: (m: InboxMessage) => ErrorInfo,
  ): Promise<void> {
    // Grouped by error and by attempt count (which sets the wait), one update each.
    const groups = new Map<string, { error: ErrorInfo; attempts: number; ids: number[] }>();
    for (const m of messages) {
      const error = errorOf(m);
      const key = `${m.attempts}\u0000${JSON.stringify(error)}`;
      const group = groups.get(key) ?? { error, attempts: m.attempts + 1, ids: [] };
      group.ids.push(m.id);
      groups.set(key, group);
    }
    for (const g of groups.values()) {
      const retryAt = new Date(this.#now() + this.#wait(g.attempts)).toISOString();
      const dead = await this.options.inbox.markFailed(g.ids, g.error, {
        retryAt,
        maxAttempts: this.#retry.maxAttempts,
      });
      if (dead.length > 0) this.options.onDeadLetter?.(connection, dead, g.error);
    }
  }
}

function errorOf(err: unknown): ErrorInfo {
  if (err instanceof OrgsyncError) return err.toInfo();
  return {
    code: 'EVENT_RUN_FAILED',
    message: err instanceof Error ? err.message : String(err ?? 'the event run failed'),
  };
}
