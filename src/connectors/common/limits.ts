import { AbortWatch } from './abort.js';

/**
 * Limits a client keeps of its own, so the platform never has to enforce them: calls per API within a sliding
 * window (WeCom counts per minute, DingTalk per second), and calls in flight.
 */

/**
 * A call's place in its API's window, from before it is sent until it is answered. The platform counts a call
 * when it arrives, somewhere between the two: a permit counts as in the window all that time and for `windowMs`
 * after the answer, so however the network delays calls, no window of the platform's sees more than the limit.
 */
export interface Permit {
  readonly key: string;
}

interface Waiter<T> {
  grant: (value: T) => void;
  reject: (reason: unknown) => void;
  /** Removes the abort listener once the waiter is granted. */
  done?: () => void;
}

interface Window {
  /** Permits given and not yet finished. */
  inFlight: number;
  /** When finished permits were answered, in order. */
  finished: number[];
  head: number;
  waiting: Array<Waiter<Permit>>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A sliding-window log per key (an API path): never more than `limit` calls within any `windowMs`, counting each
 * from its send to its answer. Callers that find the window full queue in order; one timer per key lets them in as
 * the oldest answers leave the window.
 */
export class RateLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #aborts = new AbortWatch();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`rate limit must be a positive whole number, not ${limit}`);
  }

  /** WeCom's limits count calls per minute; a second of margin for the platform's clock. */
  static perMinute(limit: number): RateLimiter {
    return new RateLimiter(limit, 61_000);
  }

  /** DingTalk's limits count calls per second (QPS); calls count until their answer, so a small margin is enough. */
  static perSecond(limit: number): RateLimiter {
    return new RateLimiter(limit, 1_010);
  }

  acquire(key: string, signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let w = this.#windows.get(key);
    if (!w) {
      w = { inFlight: 0, finished: [], head: 0, waiting: [], timer: undefined };
      this.#windows.set(key, w);
    }
    this.#prune(w, Date.now());
    if (w.waiting.length === 0 && this.#room(w)) return Promise.resolve(this.#take(w, key));
    const window = w;
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter<Permit> = { grant: resolve, reject };
      if (signal) {
        waiter.done = this.#aborts.on(signal, () => {
          const i = window.waiting.indexOf(waiter);
          if (i >= 0) window.waiting.splice(i, 1);
          if (window.waiting.length === 0 && window.timer !== undefined) {
            clearTimeout(window.timer);
            window.timer = undefined;
          }
          reject(signal.reason);
        });
      }
      window.waiting.push(waiter);
      this.#schedule(window, key);
    });
  }

  /** The call was answered (or failed): it counts for `windowMs` from now. */
  finish(permit: Permit): void {
    const w = this.#windows.get(permit.key);
    if (!w) return;
    w.inFlight--;
    w.finished.push(Date.now());
    this.#schedule(w, permit.key);
  }

  /** The call was never sent: its place is free again. */
  cancel(permit: Permit): void {
    const w = this.#windows.get(permit.key);
    if (!w) return;
    w.inFlight--;
    this.#grant(w, permit.key);
  }

  #room(w: Window): boolean {
    return w.inFlight + (w.finished.length - w.head) < this.limit;
  }

  #take(w: Window, key: string): Permit {
    w.inFlight++;
    return { key };
  }

  #prune(w: Window, now: number): void {
    while (w.head < w.finished.length && (w.finished[w.head] as number) <= now - this.windowMs) w.head++;
    if (w.head > 1024 && w.head * 2 > w.finished.length) {
      w.finished = w.finished.slice(w.head);
      w.head = 0;
    }
  }

  #grant(w: Window, key: string): void {
    this.#prune(w, Date.now());
    while (w.waiting.length > 0 && this.#room(w)) {
      const waiter = w.waiting.shift() as Waiter<Permit>;
      waiter.done?.();
      waiter.grant(this.#take(w, key));
    }
    this.#schedule(w, key);
  }

  #schedule(w: Window, key: string): void {
    if (w.timer !== undefined || w.waiting.length === 0) return;
    this.#prune(w, Date.now());
    if (this.#room(w)) {
      this.#grant(w, key);
      return;
    }
    // Full of calls still in flight: the next `finish` looks again.
    const oldest = w.finished[w.head];
    if (oldest === undefined) return;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        this.#grant(w, key);
      },
      Math.max(1, oldest + this.windowMs - Date.now() + 1),
    );
  }
}

/**
 * At most `size` holders at once. Urgent callers (those whose answer brings more work, such as a walk of the
 * department tree) go ahead of the ordinary queue.
 */
export class Semaphore {
  #free: number;
  readonly #aborts = new AbortWatch();
  readonly #urgent: Array<Waiter<void>> = [];
  readonly #waiting: Array<Waiter<void>> = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`concurrency must be a positive whole number, not ${size}`);
    this.#free = size;
  }

  async acquire(signal?: AbortSignal, urgent = false): Promise<() => void> {
    if (this.#free > 0 && this.#urgent.length === 0 && this.#waiting.length === 0) {
      this.#free--;
      return this.#releaser();
    }
    const queue = urgent ? this.#urgent : this.#waiting;
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: Waiter<void> = { grant: resolve, reject };
      if (signal) {
        waiter.done = this.#aborts.on(signal, () => {
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          reject(signal.reason);
        });
      }
      queue.push(waiter);
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#urgent.shift() ?? this.#waiting.shift();
      if (next) {
        next.done?.();
        next.grant();
      } else {
        this.#free++;
      }
    };
  }
}
