import { Hold } from './hold.js';

const ATTEMPTS = 4; // the first try and 3 retries
const TIMEOUT_MS = 5000;

export interface CallbackStats {
  queued: number;
  delivered: number;
  failed: number;
  attempts: number;
  lastError: string | null;
  /** A test holds deliveries (POST /__sim/callbacks/hold): attempts beyond its allowance wait for the release. */
  holding: boolean;
  /** Attempts (first tries and retries) waiting at the hold now. */
  held: number;
  /** Deliveries started and not ended (sending, waiting to retry, or held): all held means nothing is moving. */
  inFlight: number;
}

export interface CallbackRequest {
  url: URL;
  body: string;
  contentType: string;
}

/** One event to deliver, in the platform's envelope. */
export interface CallbackDelivery {
  /** The request of one attempt: built afresh each time (a new timestamp, nonce and signature). */
  request(): CallbackRequest;
  /**
   * Why a 2xx answer still does not count as received (the platform expects a particular reply), or null when it
   * does. Left out: any 2xx is a receipt.
   */
  refusal?(body: string): string | null;
  /**
   * Delivered alone: every delivery queued before it has ended first, and none queued after it starts before it has
   * ended. For a change the receiver cannot read back out of order (a renamed userid: the events after it name the
   * new id, which means nothing before the rename has arrived).
   */
  alone?: boolean;
}

/**
 * Posts callback events, started in the order they were queued, up to `concurrency()` at a time (the platforms post
 * from several servers and do not promise an order; 1 delivers strictly one after another). A delivery marked
 * `alone` waits for those before it and holds back those after it. A delivery that fails (network error, 5 s
 * timeout, non-2xx, or a reply the platform would not accept) is tried 3 more times, the n-th retry after
 * n × `retryDelayMs()` (the `callbackRetryDelayMs` switch, 100 ms by default), then counted as failed; it keeps its
 * place (its slot) meanwhile. A test can hold the queue (`hold(after)`): `after` more attempts start, first tries
 * and retries alike, and the rest wait in order until `release()`, so a test knows exactly how much was delivered.
 */
export class CallbackQueue {
  private readonly waiting: CallbackDelivery[] = [];
  private inFlight = 0;
  /** A delivery marked `alone` is in flight. */
  private exclusive = false;
  private readonly idle: Array<() => void> = [];
  private readonly counters = { queued: 0, delivered: 0, failed: 0, attempts: 0, lastError: null as string | null };
  private readonly gate = new Hold();
  private closed = false;

  constructor(
    private readonly retryDelayMs: () => number = () => 100,
    private readonly concurrency: () => number = () => 1,
  ) {}

  stats(): CallbackStats {
    const { holding, held } = this.gate.state();
    return { ...this.counters, holding, held, inFlight: this.inFlight };
  }

  /** Lets `after` more delivery attempts start (first tries and retries alike), then holds the rest. */
  hold(after = 0): CallbackStats {
    this.gate.hold(after);
    return this.stats();
  }

  /** Lets every held attempt go, and no longer holds. */
  release(): CallbackStats {
    this.gate.release();
    return this.stats();
  }

  push(delivery: CallbackDelivery): void {
    this.counters.queued++;
    this.waiting.push(delivery);
    this.next();
  }

  /** Waits until every queued event was delivered or given up. */
  async drain(): Promise<void> {
    if (this.waiting.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Stops retrying: pending deliveries give up at their next attempt. */
  close(): void {
    this.closed = true;
    this.gate.release();
  }

  /** Starts what may start now. */
  private next(): void {
    while (this.waiting.length > 0 && !this.exclusive) {
      const head = this.waiting[0] as CallbackDelivery;
      if (head.alone ? this.inFlight > 0 : this.inFlight >= Math.max(1, this.concurrency())) break;
      this.waiting.shift();
      this.inFlight++;
      if (head.alone) this.exclusive = true;
      void this.deliver(head).finally(() => {
        this.inFlight--;
        if (head.alone) this.exclusive = false;
        this.next();
        if (this.waiting.length === 0 && this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }

  private async deliver(delivery: CallbackDelivery): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS && !this.closed; attempt++) {
      await this.gate.pass();
      if (this.closed) break;
      this.counters.attempts++;
      const { url, body, contentType } = delivery.request();
      try {
        const res = await fetch(url, {
          method: 'POST',
          body,
          headers: { 'content-type': contentType },
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        const text = await res.text();
        const refusal = res.ok ? (delivery.refusal?.(text) ?? null) : `HTTP ${res.status}`;
        if (refusal === null) {
          this.counters.delivered++;
          this.counters.queued--;
          return;
        }
        this.counters.lastError = refusal;
      } catch (err) {
        this.counters.lastError = (err as Error).message;
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, this.retryDelayMs() * attempt));
    }
    this.counters.failed++;
    this.counters.queued--;
  }
}
