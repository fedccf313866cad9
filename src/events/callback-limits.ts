/**
 * The rate limits of the callback endpoints. Only REFUSED requests are counted (bad signature, stale timestamp,
 * malformed body, unknown connection, …): a platform sends signed messages, which are never counted nor limited, so
 * its own traffic, bursts and retries included, never reaches a limit. Once a client is over its limit, its requests
 * are answered 429 before their body is read.
 *
 * - Per client address (an IPv6 client by its /64, which one host usually holds whole): `perIp` refusals in the
 *   window, then 429 for that address.
 * - Per connection: `perConnection` refusals in the window mean the endpoint is under attack from many addresses,
 *   each below its own limit; then every address already refused in the window is answered 429 for it at once,
 *   while an address with no refusal (the platform's) is still heard.
 *
 * The windows slide: the count is the current fixed window's plus the previous one's, weighted by how much of it
 * still lies inside the sliding window.
 */

export interface CallbackLimits {
  /** Refused requests from one client address in the window before it is answered 429; Infinity turns it off. */
  perIp: number;
  /** Refused requests to one connection in the window before its refused clients are answered 429; Infinity turns it off. */
  perConnection: number;
  /** The sliding window, in ms. */
  windowMs: number;
}

export const DEFAULT_CALLBACK_LIMITS: CallbackLimits = { perIp: 20, perConnection: 100, windowMs: 60_000 };

/** Client addresses followed at most: a flood from ever new addresses cannot grow the table without bound. */
const MAX_TRACKED = 20_000;

interface Counter {
  /** Index of the current fixed window (time / windowMs). */
  bucket: number;
  current: number;
  previous: number;
}

/** Which limit answers a request 429, or null. */
export type Limited = 'ip' | 'connection' | null;

export class CallbackLimiter {
  #limits: CallbackLimits;
  readonly #now: () => number;
  readonly #clients = new Map<string, Counter>();
  readonly #connections = new Map<string, Counter>();
  #prunedBucket = -1;

  constructor(limits: Partial<CallbackLimits> = {}, now: () => number = Date.now) {
    this.#limits = checked({ ...DEFAULT_CALLBACK_LIMITS, ...limits });
    this.#now = now;
  }

  get limits(): CallbackLimits {
    return { ...this.#limits };
  }

  /** Sets other limits (the server's options); the counts so far are kept. */
  configure(limits: Partial<CallbackLimits>): void {
    this.#limits = checked({ ...this.#limits, ...limits });
  }

  /** Whether a request from `ip` to `connection` is answered 429 before anything of it is read. */
  limited(ip: string, connection: string): Limited {
    const now = this.#now();
    const client = this.#count(this.#clients.get(clientKey(ip)), now);
    if (client >= this.#limits.perIp) return 'ip';
    if (client > 0 && this.#count(this.#connections.get(connection), now) >= this.#limits.perConnection)
      return 'connection';
    return null;
  }

  /**
   * Counts a refused request; `connection` only when it names an existing connection (a made-up name would grow the
   * table). Returns the limit this refusal reached, so the crossing is logged once and not every 429 after it.
   */
  refused(ip: string, connection?: string): Limited {
    const now = this.#now();
    const key = clientKey(ip);
    let counter = this.#clients.get(key);
    if (!counter) {
      this.#makeRoom(now);
      counter = { bucket: this.#bucket(now), current: 0, previous: 0 };
      this.#clients.set(key, counter);
    }
    const client = this.#add(counter, now);
    let reached: Limited = client >= this.#limits.perIp && client - 1 < this.#limits.perIp ? 'ip' : null;
    if (connection !== undefined) {
      let c = this.#connections.get(connection);
      if (!c) {
        c = { bucket: this.#bucket(now), current: 0, previous: 0 };
        this.#connections.set(connection, c);
      }
      const n = this.#add(c, now);
      if (reached === null && n >= this.#limits.perConnection && n - 1 < this.#limits.perConnection)
        reached = 'connection';
    }
    return reached;
  }

  #bucket(now: number): number {
    return Math.floor(now / this.#limits.windowMs);
  }

  #roll(counter: Counter, now: number): void {
    const bucket = this.#bucket(now);
    if (bucket === counter.bucket) return;
    counter.previous = bucket === counter.bucket + 1 ? counter.current : 0;
    counter.current = 0;
    counter.bucket = bucket;
  }

  #count(counter: Counter | undefined, now: number): number {
    if (!counter) return 0;
    this.#roll(counter, now);
    const into = (now % this.#limits.windowMs) / this.#limits.windowMs;
    return counter.current + counter.previous * (1 - into);
  }

  #add(counter: Counter, now: number): number {
    this.#roll(counter, now);
    counter.current++;
    return this.#count(counter, now);
  }

  /** Drops clients whose windows have passed (at most once per window), else the one followed longest. */
  #makeRoom(now: number): void {
    if (this.#clients.size < MAX_TRACKED) return;
    const bucket = this.#bucket(now);
    if (this.#prunedBucket !== bucket) {
      this.#prunedBucket = bucket;
      for (const [key, counter] of this.#clients) if (counter.bucket < bucket - 1) this.#clients.delete(key);
    }
    if (this.#clients.size >= MAX_TRACKED) {
      const oldest = this.#clients.keys().next();
      if (!oldest.done) this.#clients.delete(oldest.value);
    }
  }
}

function checked(limits: CallbackLimits): CallbackLimits {
  for (const name of ['perIp', 'perConnection'] as const) {
    const v = limits[name];
    if (!(v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && v >= 1)))
      throw new RangeError(`callback limit ${name} must be a whole number of at least 1, or Infinity (not ${v})`);
  }
  if (!Number.isInteger(limits.windowMs) || limits.windowMs < 1)
    throw new RangeError(`callback limit windowMs must be a whole number of ms, at least 1 (not ${limits.windowMs})`);
  return limits;
}

/** The address a client is counted by: IPv4 as it is (also when mapped into IPv6), IPv6 by its /64. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (!ip.includes(':')) return ip;
  const bare = ip.split('%', 1)[0] as string;
  const [head = '', tail] = bare.split('::', 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
