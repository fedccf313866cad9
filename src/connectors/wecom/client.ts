import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { z } from 'zod';
import { WecomError, errcodeRule, redact } from './errors.js';
import { gettokenSchema } from './schemas.js';

/**
 * A WeCom server-API client: tokens cached per (baseUrl, corp, secret) and shared by every client of the process,
 * a per-API rate limit and a concurrency bound of our own, retries with jittered back-off on what WeCom says is
 * transient, and every response checked with zod. API reference, WeCom §1 and §5.
 */

/** New tokens one call may fetch after its token was refused (40014 / 42001 / 40001). */
const TOKEN_REFRESHES = 3;

export const WECOM_BASE_URL = 'https://qyapi.weixin.qq.com';

// ---------------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------------

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
 * Access tokens of every WeCom client in the process, created once by the caller and passed to each client.
 * Concurrent callers needing a token share one gettoken; tokens are refreshed ahead of expiry.
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

  /** The cache key of a (baseUrl, corpId, secret): the secret enters only as a salted hash. */
  static key(baseUrl: string, corpId: string, secret: string): string {
    const digest = createHash('sha256').update(`orgsync-wecom-token\0${baseUrl}\0${corpId}\0${secret}`).digest('hex');
    return `${baseUrl}|${corpId}|${digest.slice(0, 24)}`;
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

// ---------------------------------------------------------------------------------------------------------------
// Limits of our own: per-path calls per minute, calls in flight
// ---------------------------------------------------------------------------------------------------------------

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A call's place in its path's window; moved to the moment the request is actually sent. */
interface Slot {
  at: number;
}

/**
 * A sliding-window log per API path: never more than `limit` sends within any `windowMs`. The window is a little
 * longer than WeCom's minute, so that differing network delays cannot make WeCom count one call too many.
 */
class PathRateLimiter {
  readonly #windows = new Map<string, { slots: Slot[]; head: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  async acquire(path: string, signal?: AbortSignal): Promise<Slot> {
    let w = this.#windows.get(path);
    if (!w) {
      w = { slots: [], head: 0 };
      this.#windows.set(path, w);
    }
    for (;;) {
      const now = Date.now();
      while (w.head < w.slots.length && (w.slots[w.head] as Slot).at <= now - this.windowMs) w.head++;
      if (w.head > 1024 && w.head * 2 > w.slots.length) {
        w.slots = w.slots.slice(w.head);
        w.head = 0;
      }
      if (w.slots.length - w.head < this.limit) {
        const slot = { at: now };
        w.slots.push(slot);
        return slot;
      }
      const oldest = w.slots[w.head] as Slot;
      await sleep(Math.max(1, oldest.at + this.windowMs - now + 1), signal);
    }
  }
}

class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason);
      };
      this.#waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------------------------

export interface WecomClientOptions {
  corpId: string;
  /** The self-built app's Secret or the 通讯录同步 Secret; sent to gettoken only. */
  secret: string;
  /** Default https://qyapi.weixin.qq.com. */
  baseUrl?: string;
  /** The process's one token cache. */
  tokens: TokenCache;
  /** Requests in flight at once, across every API. Default 16. */
  concurrency?: number;
  /** Requests per API path per minute. Default 10,000 (WeCom's per-corp per-API limit). */
  rateLimitPerMinute?: number;
  /** Per request. Default 10,000 ms. */
  timeoutMs?: number;
  /** Retries of transient failures per call. Default 5. */
  maxRetries?: number;
  fetch?: typeof globalThis.fetch;
  /** For back-off jitter. Default Math.random. */
  random?: () => number;
}

export interface WecomClientStats {
  /** HTTP requests sent, gettoken included. */
  calls: number;
  byPath: Record<string, number>;
  /** Requests sent again (after a transient failure or a token refresh). */
  retries: number;
  /** gettoken requests sent. */
  tokenFetches: number;
}

export type WecomQuery = Record<string, string | number | boolean | undefined>;

export interface WecomCallOptions {
  signal?: AbortSignal;
}

type Json = Record<string, unknown>;

/** What one request came to. */
type Outcome =
  | { type: 'ok'; body: Json }
  | { type: 'errcode'; errcode: number; errmsg: string }
  | { type: 'failed'; code: string; reason: string; cause?: Error };

interface Budget {
  retries: number;
}

const RETRY_BASE_MS = 100;
const RATE_LIMITED_BASE_MS = 1000;
const RETRY_CAP_MS = 5000;

export class WecomClient {
  readonly corpId: string;
  readonly baseUrl: string;
  /** This client's key in the token cache (the secret only as a hash). */
  readonly tokenKey: string;
  readonly #secret: string;
  readonly #tokens: TokenCache;
  readonly #fetch: typeof globalThis.fetch;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #limiter: PathRateLimiter;
  readonly #semaphore: Semaphore;
  #stats: WecomClientStats = { calls: 0, byPath: {}, retries: 0, tokenFetches: 0 };

  constructor(options: WecomClientOptions) {
    this.corpId = options.corpId;
    this.baseUrl = (options.baseUrl ?? WECOM_BASE_URL).replace(/\/+$/, '');
    this.#secret = options.secret;
    this.#tokens = options.tokens;
    this.tokenKey = TokenCache.key(this.baseUrl, this.corpId, options.secret);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#random = options.random ?? Math.random;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxRetries = options.maxRetries ?? 5;
    this.#limiter = new PathRateLimiter(options.rateLimitPerMinute ?? 10_000, 61_000);
    this.#semaphore = new Semaphore(options.concurrency ?? 32);
  }

  /** GET `/cgi-bin/<path>?<query>&access_token=…`, the body checked against `schema`. */
  get<S extends z.ZodType>(path: string, query: WecomQuery, schema: S, options: WecomCallOptions = {}): Promise<z.output<S>> {
    return this.#call('GET', path, query, undefined, schema, options.signal);
  }

  /** POST a JSON body to `/cgi-bin/<path>?access_token=…`, the response checked against `schema`. */
  post<S extends z.ZodType>(path: string, body: unknown, schema: S, options: WecomCallOptions = {}): Promise<z.output<S>> {
    return this.#call('POST', path, {}, body, schema, options.signal);
  }

  stats(): WecomClientStats {
    return { ...this.#stats, byPath: { ...this.#stats.byPath } };
  }

  resetStats(): void {
    this.#stats = { calls: 0, byPath: {}, retries: 0, tokenFetches: 0 };
  }

  async #call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    rawPath: string,
    query: WecomQuery,
    body: unknown,
    schema: S,
    signal: AbortSignal | undefined,
  ): Promise<z.output<S>> {
    const path = apiPath(rawPath);
    // One signal often stops a whole pull of thousands of calls, each listening while it waits: not a leak.
    if (signal) setMaxListeners(0, signal);
    const budget: Budget = { retries: 0 };
    let refreshes = 0;
    for (;;) {
      const token = await abortable(this.#tokens.get(this.tokenKey, () => this.#fetchToken()), signal);
      const outcome = await this.#exchange(method, path, { ...query, access_token: token }, body, signal, budget, [token]);
      if (outcome.type === 'ok') return this.#parse(path, schema, outcome.body);
      const { errcode, errmsg } = outcome;
      // 40001 outside gettoken means the token is not (or no longer) valid, as 40014 and 42001 do.
      // A wrong secret fails at gettoken itself; a token revoked again right after a refresh gets another one, a
      // few times at most, so one unlucky call does not fail a whole sync.
      if ((errcodeRule(errcode).retry === 'token' || errcode === 40001) && refreshes < TOKEN_REFRESHES) {
        refreshes++;
        this.#tokens.invalidate(this.tokenKey, token);
        this.#stats.retries++;
        continue;
      }
      throw WecomError.fromErrcode({ errcode, errmsg, path, corpId: this.corpId }, [this.#secret, token]);
    }
  }

  async #fetchToken(): Promise<{ accessToken: string; expiresIn: number }> {
    const outcome = await this.#exchange('GET', 'gettoken', { corpid: this.corpId, corpsecret: this.#secret }, undefined, undefined, { retries: 0 }, []);
    if (outcome.type === 'errcode') {
      throw WecomError.fromErrcode({ errcode: outcome.errcode, errmsg: outcome.errmsg, path: 'gettoken', corpId: this.corpId }, [this.#secret]);
    }
    const parsed = this.#parse('gettoken', gettokenSchema, outcome.body);
    return { accessToken: parsed.access_token, expiresIn: parsed.expires_in };
  }

  /**
   * Sends a request, again and again while the failure is transient and the budget lasts. Returns success or a
   * non-transient errcode; throws a WecomError when the retries are used up.
   */
  async #exchange(
    method: 'GET' | 'POST',
    path: string,
    query: WecomQuery,
    body: unknown,
    signal: AbortSignal | undefined,
    budget: Budget,
    tokens: readonly string[],
  ): Promise<Extract<Outcome, { type: 'ok' | 'errcode' }>> {
    const secrets = [this.#secret, ...tokens];
    for (;;) {
      const outcome = await this.#send(method, path, query, body, signal, secrets);
      let rateLimited = false;
      if (outcome.type === 'ok') return outcome;
      if (outcome.type === 'errcode') {
        const retry = errcodeRule(outcome.errcode).retry;
        if (retry !== 'backoff' && retry !== 'backoff-long') return outcome;
        rateLimited = retry === 'backoff-long';
      }
      if (budget.retries >= this.#maxRetries) throw this.#giveUp(path, outcome, budget.retries + 1, secrets);
      await sleep(this.#backoff(budget.retries, rateLimited), signal);
      budget.retries++;
      this.#stats.retries++;
    }
  }

  #backoff(retry: number, rateLimited: boolean): number {
    const ceiling = Math.min(RETRY_CAP_MS, (rateLimited ? RATE_LIMITED_BASE_MS : RETRY_BASE_MS) * 2 ** retry);
    const wait = ceiling / 2 + (this.#random() * ceiling) / 2;
    // WeCom's frequency blocks last a while: never come back within a second.
    return rateLimited ? Math.max(RATE_LIMITED_BASE_MS, wait) : wait;
  }

  #giveUp(path: string, outcome: Outcome, attempts: number, secrets: readonly string[]): WecomError {
    if (outcome.type === 'errcode') {
      return WecomError.fromErrcode({ errcode: outcome.errcode, errmsg: outcome.errmsg, path, corpId: this.corpId }, secrets, attempts);
    }
    if (outcome.type === 'ok') throw new TypeError('a success is no reason to give up');
    return new WecomError(
      {
        code: outcome.code,
        kind: 'transient',
        message: `WeCom ${path}: ${outcome.reason}, after ${attempts} tries`,
        hint: `WeCom or the network to ${this.baseUrl} failed every try. Check that orgsync can reach it (proxy, firewall, DNS), then run again.`,
        path,
        attempts,
      },
      outcome.cause ? { cause: outcome.cause } : undefined,
    );
  }

  /** One HTTP request, within our rate limit and concurrency bound. */
  async #send(
    method: 'GET' | 'POST',
    path: string,
    query: WecomQuery,
    body: unknown,
    signal: AbortSignal | undefined,
    secrets: readonly string[],
  ): Promise<Outcome> {
    const url = new URL(`${this.baseUrl}/cgi-bin/${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));

    const slot = await this.#limiter.acquire(path, signal);
    const release = await this.#semaphore.acquire(signal);
    try {
      slot.at = Date.now();
      this.#stats.calls++;
      this.#stats.byPath[path] = (this.#stats.byPath[path] ?? 0) + 1;
      if (path === 'gettoken') this.#stats.tokenFetches++;
      // One controller and one timer per request: AbortSignal.timeout + AbortSignal.any cost more than the rest of
      // the client's work on a small answer, and a sync sends thousands.
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error('timeout'));
      }, this.#timeoutMs);
      const onAbort = (): void => controller.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let status: number;
      let text: string;
      try {
        if (signal?.aborted) throw signal.reason;
        const res = await this.#fetch(url, {
          method,
          signal: controller.signal,
          ...(method === 'POST' ? { body: JSON.stringify(body ?? {}), headers: { 'content-type': 'application/json' } } : {}),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timedOut) return { type: 'failed', code: 'WECOM_TIMEOUT', reason: `no answer within ${this.#timeoutMs} ms` };
        const cause = safeCause(err, secrets);
        return { type: 'failed', code: 'WECOM_UNREACHABLE', reason: `the request failed (${cause.message})`, cause };
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      return classify(status, text);
    } finally {
      release();
    }
  }

  #parse<S extends z.ZodType>(path: string, schema: S, body: Json): z.output<S> {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const issues = result.error.issues;
    const first = issues[0];
    const field = first ? fieldPath(first.path) : '(body)';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    throw new WecomError({
      code: 'WECOM_BAD_RESPONSE',
      kind: 'unknown',
      message: `WeCom ${path} answered a body orgsync does not understand: field "${field}": ${first?.message ?? 'invalid'}${more}`,
      hint: `Check that baseUrl (${this.baseUrl}) points at WeCom's server API. If it does, WeCom changed the response of ${path}: report it with this message.`,
      path,
      object: `${path} response, field ${field}`,
    });
  }
}

/** "user/get", "/cgi-bin/user/get" and "cgi-bin/user/get" are the same path: "user/get". */
function apiPath(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/^cgi-bin\//, '').replace(/[?#].*$/, '');
  if (!/^[A-Za-z0-9_/.-]+$/.test(p)) throw new TypeError(`not a WeCom API path: ${JSON.stringify(path)}`);
  return p;
}

function classify(status: number, text: string): Outcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const json = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Json) : undefined;
  const errcode = json ? Number(json.errcode ?? 0) : NaN;
  if (json && Number.isInteger(errcode) && errcode !== 0) {
    return { type: 'errcode', errcode, errmsg: typeof json.errmsg === 'string' ? json.errmsg : '' };
  }
  if (status >= 500 || status === 429) return { type: 'failed', code: 'WECOM_HTTP_ERROR', reason: `HTTP ${status}` };
  if (status < 200 || status >= 300) return { type: 'failed', code: 'WECOM_HTTP_ERROR', reason: `HTTP ${status}` };
  if (body === undefined) return { type: 'failed', code: 'WECOM_NOT_JSON', reason: `HTTP ${status} with a body that is not JSON` };
  if (!json) return { type: 'failed', code: 'WECOM_NOT_JSON', reason: `HTTP ${status} with a body that is not a JSON object` };
  if (!Number.isInteger(errcode)) return { type: 'failed', code: 'WECOM_NOT_JSON', reason: `HTTP ${status} with a non-numeric errcode` };
  return { type: 'ok', body: json };
}

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(body)' : out;
}

/** A failed fetch's reason without anything that could carry a URL, a secret or a token. */
function safeCause(err: unknown, secrets: readonly string[]): Error {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${code}: ${e.message}` : e.message);
    e = e.cause;
  }
  const cause = new Error(redact(parts.join(' ← ') || String(err), secrets));
  cause.name = 'WecomNetworkError';
  return cause;
}
