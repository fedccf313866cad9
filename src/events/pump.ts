import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Policy } from '../reconcile/policy.js';
import type { RunReport } from '../runs/run-service.js';
import type { InboxRepo } from '../store/inbox-repo.js';
import type { Store } from '../store/store.js';
import { runEvents, type ObjectReader } from './processor.js';

export interface EventTarget {
  reader: ObjectReader;
  policy: Policy;
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
  /** After a failed run, try again after this long (doubling, at most 5 minutes). Default 2 s. */
  retryMs?: number;
  onRun?: (connection: string, report: RunReport) => void;
  onError?: (connection: string, err: unknown) => void;
}

interface Lane {
  timer: NodeJS.Timeout | null;
  running: Promise<void> | null;
  again: boolean;
  failures: number;
}

/**
 * Turns stored messages into event runs, one connection at a time each, in arrival order. A run that fails leaves
 * its messages pending and is tried again later; reads give each object's state now, so processing a message twice
 * changes nothing twice.
 */
export class EventPump {
  readonly #lanes = new Map<string, Lane>();
  #stopped = false;
  /**
   * The holder of the event runs' leases, named as the server's runner names its own (server:<host>:<pid>:<nonce>),
   * so the runner's sweep fails an event run whose server was killed; its messages are still pending and run again.
   */
  readonly #holder = `server:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(private readonly options: EventPumpOptions) {}

  /** Processes whatever is pending (after a restart). */
  async start(): Promise<void> {
    for (const connection of await this.options.inbox.connectionsWithPending()) this.notify(connection, 0);
  }

  /** A message for the connection was stored. */
  notify(connection: string, delayMs = this.options.debounceMs ?? 150): void {
    if (this.#stopped) return;
    let lane = this.#lanes.get(connection);
    if (!lane) {
      lane = { timer: null, running: null, again: false, failures: 0 };
      this.#lanes.set(connection, lane);
    }
    if (lane.running) {
      lane.again = true;
      return;
    }
    if (lane.timer) return;
    lane.timer = setTimeout(() => {
      (lane as Lane).timer = null;
      (lane as Lane).running = this.#drain(connection, lane as Lane).finally(() => {
        (lane as Lane).running = null;
        // Messages that came in during the run wait for the debounce too, so a long burst becomes few runs.
        if ((lane as Lane).again && !this.#stopped) {
          (lane as Lane).again = false;
          this.notify(connection);
        }
      });
    }, delayMs);
  }

  /** Resolves when nothing is scheduled or running. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#lanes.values()].filter((l) => l.running || l.timer);
      if (busy.length === 0) return;
      await Promise.all(busy.map((l) => l.running ?? new Promise((r) => setTimeout(r, 20))));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const lane of this.#lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    await Promise.all([...this.#lanes.values()].map((l) => l.running));
  }

  async #drain(connection: string, lane: Lane): Promise<void> {
    const { inbox, store } = this.options;
    while (!this.#stopped) {
      const messages = await inbox.pending(connection, this.options.batchLimit ?? 2000);
      if (messages.length === 0) return;
      const ids = messages.map((m) => m.id);
      try {
        const target = await this.options.resolve(connection);
        if (!target) return;
        const task = (): Promise<RunReport> =>
          runEvents(store, { source: connection, reader: target.reader, policy: target.policy, events: messages.flatMap((m) => m.events), leaseHolder: this.#holder });
        const report = await (this.options.exclusive ? this.options.exclusive(connection, task) : task());
        if (report.status === 'failed') throw new Error(report.errors[0]?.message ?? 'the event run failed');
        await inbox.markDone(ids, report.runId);
        lane.failures = 0;
        this.options.onRun?.(connection, report);
        // A full batch means a backlog: go on at once. Otherwise whatever arrived meanwhile is picked up after the
        // debounce (notify sets `again`).
        if (messages.length < (this.options.batchLimit ?? 2000)) return;
      } catch (err) {
        lane.failures++;
        await inbox.markFailed(ids, err instanceof Error ? err.message : String(err));
        this.options.onError?.(connection, err);
        const wait = Math.min(5 * 60_000, (this.options.retryMs ?? 2000) * 2 ** (lane.failures - 1));
        if (!this.#stopped) {
          lane.timer = setTimeout(() => {
            lane.timer = null;
            this.notify(connection, 0);
          }, wait);
        }
        return;
      }
    }
  }
}
