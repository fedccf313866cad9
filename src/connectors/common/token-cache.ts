import { createHash } from 'node:crypto';

/** Access tokens: cached per app, fetched once however many callers wait, refreshed ahead of expiry. */

export interface FetchedToken {
  accessToken: string;
  /** Seconds, as gettoken's expires_in. */
  expiresIn: number;
}

export type TokenFetcher = () => Promise<FetchedToken>;

export interface TokenCacheOptions {
  /** The clock (ms); tests move it. Default Date.now. */
  now?: () => number;
  /** Refresh when less than min(refreshAheadMs, refreshAheadRatio × lifetime) remains. Defaults 5 minutes and 0.1. */
  refreshAheadMs?: number;
  refreshAheadRatio?: number;
  /** After a failed early refresh, keep using the old token this long before trying again. Default 30 s. */
  refreshRetryMs?: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
  refreshAt: number;
  /** No early refresh before this (set after one failed). */
  retryAt: number;
}

/**
 * Access tokens of every platform client in the process (WeCom and DingTalk alike), created once by the caller and
 * passed to each client. Concurrent callers needing a token share one fetch; tokens are refreshed ahead of expiry.
 */
export class TokenCache {
  readonly #entries = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();
  readonly #now: () => number;
  readonly #aheadMs: number;
  readonly #aheadRatio: number;
  readonly #retryMs: number;

  constructor(options: TokenCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#aheadMs = options.refreshAheadMs ?? 5 * 60_000;
    this.#aheadRatio = options.refreshAheadRatio ?? 0.1;
    this.#retryMs = options.refreshRetryMs ?? 30_000;
  }

  /**
   * The cache key of a (baseUrl, app id, secret), the app id being WeCom's corp id or DingTalk's AppKey: the secret
   * enters only as a salted hash.
   */
  static key(baseUrl: string, appId: string, secret: string): string {
    const digest = createHash('sha256').update(`orgsync-token\0${baseUrl}\0${appId}\0${secret}`).digest('hex');
    return `${baseUrl}|${appId}|${digest.slice(0, 24)}`;
  }

  /** A valid token for the key: the cached one, or one fetched by `fetcher` (once, however many callers wait). */
  async get(key: string, fetcher: TokenFetcher): Promise<string> {
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry && now < entry.refreshAt) return entry.token;
    if (entry && now < entry.expiresAt) {
      if (now < entry.retryAt) return entry.token;
      try {
        return await this.#load(key, fetcher);
      } catch (err) {
        // An early refresh failed but the token still works: keep using it, and do not hammer gettoken.
        if (this.#entries.get(key) === entry && this.#now() < entry.expiresAt) {
          entry.retryAt = this.#now() + this.#retryMs;
          return entry.token;
        }
        throw err;
      }
    }
    return this.#load(key, fetcher);
  }

  /** Forgets `token` if it is still the cached one for the key (a newer token is kept). True when dropped. */
  invalidate(key: string, token: string): boolean {
    if (this.#entries.get(key)?.token !== token) return false;
    this.#entries.delete(key);
    return true;
  }

  /** How many tokens are cached. */
  get size(): number {
    return this.#entries.size;
  }

  #load(key: string, fetcher: TokenFetcher): Promise<string> {
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const started = this.#now();
    const promise = (async () => {
      try {
        const { accessToken, expiresIn } = await fetcher();
        const lifetime = expiresIn * 1000;
        const expiresAt = started + lifetime;
        this.#entries.set(key, {
          token: accessToken,
          expiresAt,
          refreshAt: expiresAt - Math.min(this.#aheadMs, this.#aheadRatio * lifetime),
          retryAt: 0,
        });
        return accessToken;
      } finally {
        this.#pending.delete(key);
      }
    })();
    this.#pending.set(key, promise);
    return promise;
  }
}
