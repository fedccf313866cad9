import type { z } from 'zod';
import {
  HttpClient,
  apiPathOf,
  httpFailure,
  isSuccess,
  jsonObject,
  transportOptions,
  type Answer,
  type ApiRequest,
  type ClientOptions,
  type ClientStats,
  type Platform,
  type TokenSource,
} from '../common/http-client.js';
import { RateLimiter } from '../common/limits.js';
import { TokenCache, type FetchedToken } from '../common/token-cache.js';
import { WecomError, errcodeRule } from './errors.js';

export { TokenCache };
export type { FetchedToken } from '../common/token-cache.js';

/**
 * A WeCom server-API client: tokens cached per (baseUrl, corp, secret) in the process's shared token cache, a
 * per-API rate limit per minute and a concurrency bound of our own, retries with jittered back-off on what WeCom
 * says is transient, and every response checked with zod (the shared HttpClient, with WeCom's way of reading an
 * answer and its errcode table). API reference, WeCom §1 and §5.
 */

export const WECOM_BASE_URL = 'https://qyapi.weixin.qq.com';

export interface WecomClientOptions extends ClientOptions {
  corpId: string;
  /** The self-built app's Secret or the 通讯录同步 Secret; sent to gettoken only. */
  secret: string;
  /** Default https://qyapi.weixin.qq.com. */
  baseUrl?: string;
  /** Requests per API path per minute. Default 10,000 (WeCom's per-corp per-API limit). */
  rateLimitPerMinute?: number;
}

export type WecomClientStats = ClientStats;

export type WecomQuery = Record<string, string | number | boolean | undefined>;

export interface WecomCallOptions {
  signal?: AbortSignal;
}

/** WeCom's answer when it refuses a call. */
interface WecomRefusal {
  errcode: number;
  errmsg: string;
}

export class WecomClient {
  readonly corpId: string;
  readonly baseUrl: string;
  /** This client's key in the token cache (the secret only as a hash). */
  readonly tokenKey: string;
  readonly #secret: string;
  readonly #http: HttpClient<WecomRefusal>;
  readonly #token: TokenSource;

  constructor(options: WecomClientOptions) {
    this.corpId = options.corpId;
    this.baseUrl = (options.baseUrl ?? WECOM_BASE_URL).replace(/\/+$/, '');
    this.#secret = options.secret;
    this.tokenKey = TokenCache.key(this.baseUrl, this.corpId, options.secret);
    this.#http = new HttpClient(wecomPlatform(this.corpId), {
      baseUrl: this.baseUrl,
      secrets: [options.secret],
      limiter: RateLimiter.perMinute(options.rateLimitPerMinute ?? 10_000),
      ...transportOptions(options),
    });
    this.#token = { cache: options.tokens, key: this.tokenKey, fetch: () => this.#fetchToken() };
  }

  /** GET `/cgi-bin/<path>?<query>&access_token=…`, the body checked against `schema`. */
  get<S extends z.ZodType>(
    path: string,
    query: WecomQuery,
    schema: S,
    options: WecomCallOptions = {},
  ): Promise<z.output<S>> {
    return this.#call('GET', path, query, undefined, schema, options.signal);
  }

  /** POST a JSON body to `/cgi-bin/<path>?access_token=…`, the response checked against `schema`. */
  post<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options: WecomCallOptions = {},
  ): Promise<z.output<S>> {
    return this.#call('POST', path, {}, body, schema, options.signal);
  }

  stats(): WecomClientStats {
    return this.#http.stats();
  }

  resetStats(): void {
    this.#http.resetStats();
  }

  async #call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    rawPath: string,
    query: WecomQuery,
    body: unknown,
    schema: S,
    signal: AbortSignal | undefined,
  ): Promise<z.output<S>> {
    const api = apiPath(rawPath);
    const answer = await this.#http.call(
      this.#token,
      (token) => this.#request(method, api, { ...query, access_token: token }, body),
      signal,
    );
    return this.#http.parse(api, schema, answer);
  }

  #fetchToken(): Promise<FetchedToken> {
    return this.#http.fetchToken(
      this.#request('GET', 'gettoken', { corpid: this.corpId, corpsecret: this.#secret }, undefined),
    );
  }

  #request(method: 'GET' | 'POST', api: string, query: WecomQuery, body: unknown): ApiRequest<WecomRefusal> {
    const url = new URL(`${this.baseUrl}/cgi-bin/${api}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return { method, url, api, ...(method === 'POST' ? { body } : {}) };
  }
}

/** How WeCom answers, and what its errcodes mean (errors.ts). */
function wecomPlatform(corpId: string): Platform<WecomRefusal> {
  return {
    name: 'WeCom',
    nameZh: '企业微信',
    codePrefix: 'WECOM',
    classify,
    // 40001 outside gettoken means the token is not (or no longer) valid, as 40014 and 42001 do; at gettoken it
    // is a wrong secret.
    retryOf: (r, api) => (r.errcode === 40001 && api !== 'gettoken' ? 'token' : errcodeRule(r.errcode).retry),
    refusalError: (r, api, secrets, attempts) =>
      WecomError.fromErrcode({ errcode: r.errcode, errmsg: r.errmsg, path: api, corpId }, secrets, attempts),
    error: (init, options) => new WecomError(init, options),
  };
}

/** "user/get", "/cgi-bin/user/get" and "cgi-bin/user/get" are the same path: "user/get". */
const apiPath = (path: string): string => apiPathOf(path, 'WeCom', 'cgi-bin/');

/** A non-zero errcode is WeCom's refusal, whatever the HTTP status; a success is a 2xx JSON object without one. */
function classify(status: number, text: string): Answer<WecomRefusal> {
  const json = jsonObject(text);
  const errcode = json ? Number(json.errcode ?? 0) : NaN;
  if (json && Number.isInteger(errcode) && errcode !== 0) {
    return { type: 'refused', refusal: { errcode, errmsg: typeof json.errmsg === 'string' ? json.errmsg : '' } };
  }
  if (!isSuccess(status)) return httpFailure(status);
  if (json === undefined)
    return {
      type: 'failed',
      code: 'NOT_JSON',
      reason: `HTTP ${status} with a body that is not JSON`,
      zh: { reason: `HTTP ${status}，应答不是 JSON` },
    };
  if (json === null)
    return {
      type: 'failed',
      code: 'NOT_JSON',
      reason: `HTTP ${status} with a body that is not a JSON object`,
      zh: { reason: `HTTP ${status}，应答不是 JSON 对象` },
    };
  if (!Number.isInteger(errcode))
    return {
      type: 'failed',
      code: 'NOT_JSON',
      reason: `HTTP ${status} with a non-numeric errcode`,
      zh: { reason: `HTTP ${status}，errcode 不是数字` },
    };
  return { type: 'ok', body: json };
}
