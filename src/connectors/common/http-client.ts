import { TextDecoder } from 'node:util';
import { z } from 'zod';
import { AbortWatch } from './abort.js';
import { safeCause, type ConnectorError, type ConnectorErrorInit, type ErrorKind, type RetryKind } from './errors.js';
import { Semaphore, type Permit, type RateLimiter } from './limits.js';
import type { FetchedToken, TokenCache, TokenFetcher } from './token-cache.js';

/**
 * The part of a platform client that does not depend on the platform: requests within a per-API rate limit and a
 * concurrency bound, a timeout per request, retries with jittered back-off on what the platform says is transient,
 * a fresh token when the platform refuses the cached one, zod-checked bodies, secrets scrubbed from every error.
 * What differs (how an answer reads, the error table) comes in as a `Platform`.
 */

export type Json = Record<string, unknown>;

/** An answer that is neither a success nor the platform's refusal: a timeout, a reset, an HTTP error, a strange body. */
export interface Failure {
  type: 'failed';
  /** Appended to the platform's prefix: "TIMEOUT" → WECOM_TIMEOUT. */
  code: string;
  reason: string;
  cause?: Error;
  /** How to wait before trying again ('none': the same request would fail the same way). Default 'backoff'. */
  retry?: 'backoff' | 'backoff-long' | 'none';
  /** When the retries run out. Default 'transient'. */
  kind?: ErrorKind;
  /** When the retries run out. Default: check the network. */
  hint?: string;
  /** `reason` (and `hint`, when given) in Chinese. */
  zh?: { reason: string; hint?: string };
}

/** What one HTTP answer came to, as the platform reads it. */
export type Answer<R> = { type: 'ok'; body: Json } | { type: 'refused'; refusal: R } | Failure;

export interface ApiRequest<R = unknown> {
  method: 'GET' | 'POST';
  url: URL;
  /** The API as the stats and the rate limiter count it, e.g. "user/list". */
  api: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Goes ahead of ordinary requests waiting for a place in flight. */
  urgent?: boolean;
  /** Counted as a token fetch. */
  tokenFetch?: boolean;
  /** How to read this request's answers, when it is not the platform's usual way (another host). */
  classify?: (status: number, text: string) => Answer<R>;
  /** The largest answer read, in bytes. Default: the client's maxResponseBytes (TOKEN_MAX_BYTES for a token fetch). */
  maxBytes?: number;
}

/** The largest answer a data call reads (a page of users is well under 1 MiB); a larger one is dropped unread. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** The largest gettoken answer read: a real one is under 300 bytes. */
export const TOKEN_MAX_BYTES = 64 * 1024;

/** What differs between platforms. */
export interface Platform<R> {
  /** In messages: "WeCom", "DingTalk". */
  readonly name: string;
  /** In Chinese messages: "企业微信", "钉钉". */
  readonly nameZh: string;
  /** Of error codes: "WECOM" gives WECOM_TIMEOUT, WECOM_BAD_RESPONSE, … */
  readonly codePrefix: string;
  classify(status: number, text: string): Answer<R>;
  /** What to do about a refusal before giving up; undefined: give up at once. */
  retryOf(refusal: R, api: string): RetryKind | undefined;
  /** The typed error of a refusal; `secrets` must not appear in it. */
  refusalError(refusal: R, api: string, secrets: readonly string[], attempts?: number): ConnectorError;
  /** The platform's error class, for failures without a refusal. */
  error(init: ConnectorErrorInit, options?: { cause?: unknown }): ConnectorError;
}

export interface HttpClientOptions {
  /** Named in hints. */
  baseUrl: string;
  /** Every secret the client holds: scrubbed from every error, with the tokens it used. */
  secrets: readonly string[];
  limiter: RateLimiter;
  /** A limit on every call together (DingTalk blocks an IP over 10,000 calls in 20 s). */
  overallLimiter?: RateLimiter;
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  /** The largest answer read, in bytes. Default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  fetch?: typeof globalThis.fetch;
  /** For back-off jitter. Default Math.random. */
  random?: () => number;
}

/** What every platform client takes besides its credentials. */
export interface ClientOptions {
  /** The process's one token cache. */
  tokens: TokenCache;
  /** Requests in flight at once, across every API. Default 32. */
  concurrency?: number;
  /** Per request. Default 10,000 ms. */
  timeoutMs?: number;
  /** Retries of transient failures per call. Default 5. */
  maxRetries?: number;
  fetch?: typeof globalThis.fetch;
  /** For back-off jitter. Default Math.random. */
  random?: () => number;
}

/** The HttpClient's settings from a client's options, with the defaults filled in. */
export function transportOptions(
  options: ClientOptions,
): Pick<HttpClientOptions, 'concurrency' | 'timeoutMs' | 'maxRetries' | 'fetch' | 'random'> {
  return {
    concurrency: options.concurrency ?? 32,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxRetries: options.maxRetries ?? 5,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.random ? { random: options.random } : {}),
  };
}

export interface ClientStats {
  /** HTTP requests sent, token fetches included. */
  calls: number;
  byPath: Record<string, number>;
  /** Requests sent again (after a transient failure or a token refresh). */
  retries: number;
  /** Token requests sent. */
  tokenFetches: number;
}

/** Where a call's token comes from. */
export interface TokenSource {
  cache: TokenCache;
  key: string;
  fetch: TokenFetcher;
}

interface Budget {
  retries: number;
}

/** gettoken's answer on both platforms: the token and its life in seconds. */
export const gettokenSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().int().positive(),
});

/** New tokens one call may fetch after its token was refused. */
const TOKEN_REFRESHES = 3;
const RETRY_BASE_MS = 100;
const RATE_LIMITED_BASE_MS = 1000;
const RETRY_CAP_MS = 5000;

type Settled<R> = Extract<Answer<R>, { type: 'ok' | 'refused' }>;

export class HttpClient<R> {
  readonly #platform: Platform<R>;
  readonly #baseUrl: string;
  readonly #secrets: readonly string[];
  readonly #fetch: typeof globalThis.fetch;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxBytes: number;
  readonly #limiter: RateLimiter;
  readonly #overall: RateLimiter | undefined;
  readonly #semaphore: Semaphore;
  readonly #aborts = new AbortWatch();
  /** One for every answer: making a TextDecoder costs more than decoding a page of members with it. */
  readonly #decoder = new TextDecoder();
  #stats: ClientStats = emptyStats();

  constructor(platform: Platform<R>, options: HttpClientOptions) {
    this.#platform = platform;
    this.#baseUrl = options.baseUrl;
    this.#secrets = options.secrets;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#random = options.random ?? Math.random;
    this.#timeoutMs = options.timeoutMs;
    this.#maxRetries = options.maxRetries;
    this.#maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.#limiter = options.limiter;
    this.#overall = options.overallLimiter;
    this.#semaphore = new Semaphore(options.concurrency);
  }

  stats(): ClientStats {
    return { ...this.#stats, byPath: { ...this.#stats.byPath } };
  }

  resetStats(): void {
    this.#stats = emptyStats();
  }

  /**
   * A call with the app's token: the cached one, or a fresh one when the platform refuses it (a token revoked
   * again right after a refresh gets another one, a few times at most, so one unlucky call does not fail a sync).
   */
  async call(tokens: TokenSource, request: (token: string) => ApiRequest<R>, signal?: AbortSignal): Promise<Json> {
    const budget: Budget = { retries: 0 };
    let refreshes = 0;
    for (;;) {
      const token = await this.#aborts.abortable(tokens.cache.get(tokens.key, tokens.fetch), signal);
      const req = request(token);
      const answer = await this.#exchange(req, signal, budget, [token]);
      if (answer.type === 'ok') return answer.body;
      if (this.#platform.retryOf(answer.refusal, req.api) === 'token' && refreshes < TOKEN_REFRESHES) {
        refreshes++;
        tokens.cache.invalidate(tokens.key, token);
        this.#stats.retries++;
        continue;
      }
      throw this.#platform.refusalError(answer.refusal, req.api, [...this.#secrets, token]);
    }
  }

  /**
   * A call without the app's token (the token fetch itself, or a call with a user's token), with a budget of its
   * own. A refusal throws its typed error. `secrets` (a user's token) are scrubbed from errors too.
   */
  async send(request: ApiRequest<R>, signal?: AbortSignal, secrets: readonly string[] = []): Promise<Json> {
    const answer = await this.#exchange(request, signal, { retries: 0 }, secrets);
    if (answer.type === 'refused')
      throw this.#platform.refusalError(answer.refusal, request.api, [...this.#secrets, ...secrets]);
    return answer.body;
  }

  /** The app token from the platform's gettoken (WeCom and DingTalk answer it alike). */
  async fetchToken(request: ApiRequest<R>): Promise<FetchedToken> {
    const body = await this.send({ ...request, tokenFetch: true });
    const parsed = this.parse(request.api, gettokenSchema, body);
    return { accessToken: parsed.access_token, expiresIn: parsed.expires_in };
  }

  /** The body checked against `schema`; a mismatch names the field. */
  parse<S extends z.ZodType>(api: string, schema: S, body: Json): z.output<S> {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const { name, nameZh, codePrefix } = this.#platform;
    const issues = result.error.issues;
    const first = issues[0];
    const field = first ? fieldPath(first.path) : '(body)';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    throw this.#platform.error({
      code: `${codePrefix}_BAD_RESPONSE`,
      kind: 'unknown',
      message: `${name} ${api} answered a body orgsync does not understand: field "${field}": ${first?.message ?? 'invalid'}${more}`,
      hint: `Check that baseUrl (${this.#baseUrl}) points at ${name}'s server API. If it does, ${name} changed the response of ${api}: report it with this message.`,
      path: api,
      object: `${api} response, field ${field}`,
      zh: {
        message: `${nameZh} ${api} 的应答 orgsync 无法理解：字段 "${field}"：${first?.message ?? 'invalid'}${issues.length > 1 ? `（另有 ${issues.length - 1} 处）` : ''}`,
        hint: `检查 API 地址（${this.#baseUrl}）是否指向${nameZh}的服务端 API。若是，说明${nameZh}改变了 ${api} 的应答：请附上这条信息报告问题。`,
      },
    });
  }

  /**
   * Sends a request, again and again while the failure is transient and the budget lasts. Returns success or a
   * refusal not to retry; throws the typed error when the retries are used up.
   */
  async #exchange(
    request: ApiRequest<R>,
    signal: AbortSignal | undefined,
    budget: Budget,
    tokens: readonly string[],
  ): Promise<Settled<R>> {
    const secrets = [...this.#secrets, ...tokens];
    for (;;) {
      const answer = await this.#send(request, signal, secrets);
      if (answer.type === 'ok') return answer;
      let retry: RetryKind | undefined;
      if (answer.type === 'refused') {
        retry = this.#platform.retryOf(answer.refusal, request.api);
        if (retry !== 'backoff' && retry !== 'backoff-long') return answer;
      } else {
        if (answer.retry === 'none') throw this.#giveUp(request.api, answer, budget.retries + 1, secrets);
        retry = answer.retry ?? 'backoff';
      }
      if (budget.retries >= this.#maxRetries) throw this.#giveUp(request.api, answer, budget.retries + 1, secrets);
      await this.#aborts.sleep(this.#backoff(budget.retries, retry === 'backoff-long'), signal);
      budget.retries++;
      this.#stats.retries++;
    }
  }

  #redirected(status: number): Failure {
    const { name, nameZh } = this.#platform;
    return {
      type: 'failed',
      code: 'REDIRECT',
      reason: `HTTP ${status}, a redirect, which orgsync does not follow`,
      retry: 'none',
      kind: 'config',
      hint: `Set apiBaseUrl to ${name}'s API itself (now ${this.#baseUrl}), not to an address that redirects: orgsync never follows a redirect, so a secret or token cannot be passed on to another host.`,
      zh: {
        reason: `HTTP ${status}，是重定向，orgsync 不跟随重定向`,
        hint: `把 API 地址设为${nameZh} API 本身（现为 ${this.#baseUrl}），不要用会重定向的地址：orgsync 从不跟随重定向，秘钥和 token 不会被转发到别的主机。`,
      },
    };
  }

  #tooLarge(maxBytes: number): Failure {
    const { name, nameZh } = this.#platform;
    return {
      type: 'failed',
      code: 'TOO_LARGE',
      reason: `an answer larger than ${maxBytes.toLocaleString('en')} bytes, dropped unread`,
      retry: 'none',
      kind: 'unknown',
      hint: `Check that apiBaseUrl (${this.#baseUrl}) points at ${name}'s server API: no answer of it comes near this size.`,
      zh: {
        reason: `应答超过 ${maxBytes.toLocaleString('en')} 字节，已丢弃`,
        hint: `检查 API 地址（${this.#baseUrl}）是否指向${nameZh}的服务端 API：它的应答不会接近这个大小。`,
      },
    };
  }

  #backoff(retry: number, rateLimited: boolean): number {
    const ceiling = Math.min(RETRY_CAP_MS, (rateLimited ? RATE_LIMITED_BASE_MS : RETRY_BASE_MS) * 2 ** retry);
    const wait = ceiling / 2 + (this.#random() * ceiling) / 2;
    // Rate limits are counted per window: never come back within a second.
    return rateLimited ? Math.max(RATE_LIMITED_BASE_MS, wait) : wait;
  }

  #giveUp(
    api: string,
    answer: Exclude<Answer<R>, { type: 'ok' }>,
    attempts: number,
    secrets: readonly string[],
  ): ConnectorError {
    if (answer.type === 'refused') return this.#platform.refusalError(answer.refusal, api, secrets, attempts);
    const { name, nameZh, codePrefix } = this.#platform;
    return this.#platform.error(
      {
        code: `${codePrefix}_${answer.code}`,
        kind: answer.kind ?? 'transient',
        message: `${name} ${api}: ${answer.reason}, after ${attempts} tries`,
        hint:
          answer.hint ??
          `${name} or the network to ${this.#baseUrl} failed every try. Check that orgsync can reach it (proxy, firewall, DNS), then run again.`,
        path: api,
        attempts,
        zh: {
          message: `${nameZh} ${api}：${answer.zh?.reason ?? answer.reason}（重试 ${attempts} 次后）`,
          hint:
            answer.zh?.hint ??
            (answer.hint === undefined
              ? `${nameZh}或到 ${this.#baseUrl} 的网络每次都失败。请检查 orgsync 能否访问它（代理、防火墙、DNS），然后再运行。`
              : answer.hint),
        },
      },
      answer.cause ? { cause: answer.cause } : undefined,
    );
  }

  /** One HTTP request, within the rate limit and the concurrency bound. */
  async #send(request: ApiRequest<R>, signal: AbortSignal | undefined, secrets: readonly string[]): Promise<Answer<R>> {
    const permit = await this.#limiter.acquire(request.api, signal);
    let overall: Permit | undefined;
    let release: () => void;
    try {
      overall = await this.#overall?.acquire('*', signal);
      release = await this.#semaphore.acquire(signal, request.urgent === true);
    } catch (err) {
      this.#limiter.cancel(permit);
      if (overall) this.#overall?.cancel(overall);
      throw err;
    }
    try {
      this.#stats.calls++;
      this.#stats.byPath[request.api] = (this.#stats.byPath[request.api] ?? 0) + 1;
      if (request.tokenFetch) this.#stats.tokenFetches++;
      // One controller and one timer per request: AbortSignal.timeout + AbortSignal.any cost more than the rest of
      // the client's work on a small answer, and a sync sends thousands.
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error('timeout'));
      }, this.#timeoutMs);
      const stopWaiting = signal ? this.#aborts.on(signal, () => controller.abort(signal.reason)) : undefined;
      let status: number;
      let text: string;
      const maxBytes = request.maxBytes ?? (request.tokenFetch ? TOKEN_MAX_BYTES : this.#maxBytes);
      try {
        if (signal?.aborted) throw signal.reason;
        const post = request.method === 'POST';
        const headers = post ? { 'content-type': 'application/json', ...request.headers } : request.headers;
        const res = await this.#fetch(request.url, {
          method: request.method,
          signal: controller.signal,
          // A redirect is an answer like any other, never followed: its Location could be any host, and the URL
          // carries the secret (gettoken) or the token.
          redirect: 'manual',
          ...(headers ? { headers } : {}),
          ...(post ? { body: JSON.stringify(request.body ?? {}) } : {}),
        });
        status = res.status;
        if (status >= 300 && status < 400) {
          controller.abort(new Error('redirect'));
          return this.#redirected(status);
        }
        const body = await readLimited(res, maxBytes, this.#decoder);
        if (body === undefined) {
          // Abandoning the body closes the connection: the rest is never read.
          controller.abort(new Error('too large'));
          return this.#tooLarge(maxBytes);
        }
        text = body;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timedOut)
          return {
            type: 'failed',
            code: 'TIMEOUT',
            reason: `no answer within ${this.#timeoutMs} ms`,
            zh: { reason: `${this.#timeoutMs} 毫秒内没有应答` },
          };
        const cause = safeCause(err, secrets);
        return {
          type: 'failed',
          code: 'UNREACHABLE',
          reason: `the request failed (${cause.message})`,
          cause,
          zh: { reason: `请求失败（${cause.message}）` },
        };
      } finally {
        clearTimeout(timer);
        stopWaiting?.();
      }
      return (request.classify ?? this.#platform.classify)(status, text);
    } finally {
      this.#limiter.finish(permit);
      if (overall) this.#overall?.finish(overall);
      release();
    }
  }
}

/** The body as text, or undefined when it is larger than `maxBytes` (declared or as it streams in). */
async function readLimited(res: Response, maxBytes: number, decoder: TextDecoder): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) return undefined;
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  // TextDecoder drops a BOM, as Response.text() does.
  return decoder.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
}

function emptyStats(): ClientStats {
  return { calls: 0, byPath: {}, retries: 0, tokenFetches: 0 };
}

/** The body as a JSON object; undefined when it is not JSON at all, null when it is JSON but not an object. */
export function jsonObject(text: string): Json | null | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Json) : null;
}

/** An HTTP status outside 2xx without a refusal the platform explains. */
export function httpFailure(status: number): Failure {
  return { type: 'failed', code: 'HTTP_ERROR', reason: `HTTP ${status}`, zh: { reason: `HTTP ${status}` } };
}

export const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/**
 * An API path as the stats and the rate limiter name it: without leading slashes, query or fragment, and without
 * `prefix` ("cgi-bin/user/get" and "/user/get" are both "user/get" for WeCom).
 */
export function apiPathOf(path: string, platform: string, prefix = ''): string {
  let p = path.replace(/^\/+/, '').replace(/[?#].*$/, '');
  if (prefix !== '' && p.startsWith(prefix)) p = p.slice(prefix.length);
  if (!/^[A-Za-z0-9_/.-]+$/.test(p)) throw new TypeError(`not a ${platform} API path: ${JSON.stringify(path)}`);
  return p;
}

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(body)' : out;
}
