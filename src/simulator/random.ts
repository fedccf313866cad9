/**
 * A small seeded PRNG for the simulator's generators: sfc32 seeded through splitmix32. Same seed, same stream, on
 * every platform (integer arithmetic only). No module-level state: each generator makes its own `Random`.
 */

const TWO_32 = 4294967296;

/** Lookup tables (immutable) for fast digit and hex strings. */
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DIGITS4: readonly string[] = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'));

/** splitmix32 step, used to spread a seed over sfc32's 128 bits of state. */
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return [next, z >>> 0];
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Any finite number is a seed; integers up to 2^53 keep all their bits. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Random: the seed must be a finite number, got ${String(seed)}`);
    const whole = Math.trunc(seed);
    const lo = whole >>> 0;
    const hi = Math.floor(whole / TWO_32) >>> 0;
    let s = (lo ^ Math.imul(hi, 0x85ebca6b)) | 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, value] = splitmix32(s);
      s = next;
      out.push(value);
    }
    this.a = out[0]! | 0;
    this.b = out[1]! | 0;
    this.c = out[2]! | 0;
    this.d = out[3]! | 0;
    // Warm up, as sfc32's authors recommend.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform unsigned 32-bit integer. */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.uint32() / TWO_32;
  }

  /** A uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new Error(`Random.int: bad range [${min}, ${max}]`);
    }
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element, uniformly. Throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.pick: empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /**
   * An index drawn in proportion to weights given as a running total (cumulative[i] = w0 + … + wi, non-decreasing,
   * last entry > 0). Binary search: O(log n).
   */
  weightedIndex(cumulative: ArrayLike<number>): number {
    const n = cumulative.length;
    const total = n > 0 ? (cumulative[n - 1] as number) : 0;
    if (!(total > 0)) throw new Error('Random.weightedIndex: the weights sum to 0');
    const x = this.next() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Fisher-Yates, in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** Fisher-Yates on a typed array, in place; returns the same array. */
  shuffleInts<A extends Int32Array | Uint32Array>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = items[i] as number;
      items[i] = items[j] as number;
      items[j] = tmp;
    }
    return items;
  }

  /** `digits` decimal digits, zero-padded (leading zeros allowed). */
  digits(digits: number): string {
    let s = '';
    while (s.length < digits) {
      const x = this.uint32() % 10_000;
      s += DIGITS4[x] as string;
    }
    return s.length === digits ? s : s.slice(0, digits);
  }

  /** `length` lowercase hex characters. */
  hex(length: number): string {
    let s = '';
    while (s.length < length) {
      const x = this.uint32();
      s +=
        (HEX2[x >>> 24] as string) +
        (HEX2[(x >>> 16) & 255] as string) +
        (HEX2[(x >>> 8) & 255] as string) +
        (HEX2[x & 255] as string);
    }
    return s.length === length ? s : s.slice(0, length);
  }

  /** An independent stream derived from this one (advances this stream by one draw). */
  fork(): Random {
    return new Random(this.uint32() * 0x100000 + (this.uint32() >>> 12));
  }
}
