import { randomBytes } from 'node:crypto';

/**
 * Short-lived random ids standing for a grant: sign-in codes (single use) and tickets (valid until they expire).
 * An expired id is kept until it is taken, so callers can tell "expired" from "unknown" where the platform does.
 */
export class ExpiringGrants<G> {
  private readonly entries = new Map<string, { grant: G; expiresAt: number }>();

  constructor(private readonly ttlMs: number) {}

  issue(grant: G): string {
    const id = randomBytes(32).toString('base64url');
    this.entries.set(id, { grant, expiresAt: Date.now() + this.ttlMs });
    return id;
  }

  /** The grant and whether it expired, leaving it in place; undefined for an unknown id. */
  peek(id: string): { grant: G; expired: boolean } | undefined {
    const e = this.entries.get(id);
    return e && { grant: e.grant, expired: Date.now() >= e.expiresAt };
  }

  /** Uses the id up: the grant while it is valid, undefined when unknown, used before or expired. */
  take(id: string): G | undefined {
    const e = this.entries.get(id);
    this.entries.delete(id);
    return e && Date.now() < e.expiresAt ? e.grant : undefined;
  }

  /** For tests of expiry: moves every entry's clock forward. */
  age(ms: number): void {
    for (const e of this.entries.values()) e.expiresAt -= ms;
  }
}
