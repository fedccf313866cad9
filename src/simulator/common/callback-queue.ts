const ATTEMPTS = 4; // the first try and 3 retries
const TIMEOUT_MS = 5000;

export interface CallbackStats {
  queued: number;
  delivered: number;
  failed: number;
  attempts: number;
  lastError: string | null;
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
}

/**
 * Posts callback events one at a time, in the order they were queued. A delivery that fails (network error, 5 s
 * timeout, non-2xx, or a reply the platform would not accept) is tried 3 more times, the n-th retry after
 * n × `retryDelayMs()` (the `callbackRetryDelayMs` switch, 100 ms by default), then counted as failed.
 */
export class CallbackQueue {
  private queue: Promise<void> = Promise.resolve();
  private readonly counters: CallbackStats = { queued: 0, delivered: 0, failed: 0, attempts: 0, lastError: null };
  private closed = false;

  constructor(private readonly retryDelayMs: () => number = () => 100) {}

  stats(): CallbackStats {
    return { ...this.counters };
  }

  push(delivery: CallbackDelivery): void {
    this.counters.queued++;
    this.queue = this.queue.then(() => this.deliver(delivery));
  }

  /** Waits until every queued event was delivered or given up. */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Stops retrying: pending deliveries give up at their next attempt. */
  close(): void {
    this.closed = true;
  }

  private async deliver(delivery: CallbackDelivery): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS && !this.closed; attempt++) {
      this.counters.attempts++;
      const { url, body, contentType } = delivery.request();
      try {
        const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': contentType }, signal: AbortSignal.timeout(TIMEOUT_MS) });
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
