/**
 * Call times within the last `spanMs` milliseconds: a queue read from a moving head, compacted now and then. It backs
 * every "N calls per period" rule the simulators model (WeCom's per-API minute, DingTalk's per-API second and per-IP
 * 20 seconds).
 */
export class SlidingWindow {
  private times: number[] = [];
  private head = 0;

  constructor(private readonly spanMs: number) {}

  count(now: number): number {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - this.spanMs) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  add(now: number): void {
    this.times.push(now);
  }

  /** Records a call unless `limit` calls already fall in the window; false when the call is over the limit. */
  admit(now: number, limit: number): boolean {
    if (this.count(now) >= limit) return false;
    this.add(now);
    return true;
  }
}

/** One sliding window per key (an API path, a caller's IP …), made on first use. */
export class SlidingWindows {
  private readonly windows = new Map<string, SlidingWindow>();

  constructor(private readonly spanMs: number) {}

  admit(key: string, now: number, limit: number): boolean {
    let window = this.windows.get(key);
    if (!window) {
      window = new SlidingWindow(this.spanMs);
      this.windows.set(key, window);
    }
    return window.admit(now, limit);
  }

  /** Forgets the calls of one key: its next period starts empty. */
  reset(key: string): void {
    this.windows.delete(key);
  }
}
