import { randomBytes } from 'node:crypto';

export interface TokenGrant<K extends string> {
  kind: K;
  expiresAt: number;
}

/**
 * Access tokens by the secret that obtained them. WeCom hands out a new token on every call; DingTalk returns the
 * live one and extends its life (`reuse`).
 */
export class TokenStore<K extends string> {
  private readonly tokens = new Map<string, TokenGrant<K>>();
  /** The newest token of each kind, for reuse. */
  private readonly current = new Map<K, string>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  issue(kind: K, ttlSeconds: number, options: { reuse?: boolean } = {}): { token: string; expiresIn: number } {
    const now = this.now();
    const live = this.current.get(kind);
    const grant = live === undefined ? undefined : this.tokens.get(live);
    if (options.reuse && live !== undefined && grant && grant.expiresAt > now) {
      grant.expiresAt = now + ttlSeconds * 1000;
      return { token: live, expiresIn: ttlSeconds };
    }
    if (this.tokens.size > 1000) {
      for (const [t, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(t);
    }
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, { kind, expiresAt: now + ttlSeconds * 1000 });
    this.current.set(kind, token);
    return { token, expiresIn: ttlSeconds };
  }

  get(token: string): TokenGrant<K> | undefined {
    return this.tokens.get(token);
  }

  /** The grant of a live token, or why there is none: each platform answers these with its own errcodes. */
  check(token: string | undefined): TokenGrant<K> | 'missing' | 'unknown' | 'expired' {
    if (token === undefined || token === '') return 'missing';
    const grant = this.tokens.get(token);
    if (!grant) return 'unknown';
    return this.now() >= grant.expiresAt ? 'expired' : grant;
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  /** Ends every token early; returns how many there were. */
  revokeAll(): number {
    const n = this.tokens.size;
    this.tokens.clear();
    this.current.clear();
    return n;
  }

  /** For tests of expiry: moves every token's clock forward. */
  age(ms: number): void {
    for (const t of this.tokens.values()) t.expiresAt -= ms;
  }
}
