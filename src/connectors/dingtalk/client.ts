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
  type Failure,
  type Json,
  type Platform,
  type TokenSource,
} from '../common/http-client.js';
import { RateLimiter } from '../common/limits.js';
import { TokenCache, type FetchedToken } from '../common/token-cache.js';
import {
  API_HOST_CODES,
  API_HOST_PERMISSION_DENIED,
  DingtalkError,
  dingtalkRetry,
  type DingtalkRefusal,
} from './errors.js';
import { userAccessTokenSchema } from './schemas.js';

/**
 * A DingTalk server-API client for an internal app: the app token from `gettoken` in the process's shared token
 * cache (DingTalk hands back the same token, its life extended, within its validity), a per-API QPS limit and a
 * concurrency bound of our own, retries with jittered back-off on what DingTalk says is transient — the QPS
 * errcodes, the api host's 403 QpsLimit codes and the per-IP block page that carries no errcode — and every
 * response checked with zod (the shared HttpClient with DingTalk's way of reading an answer and its errcode table).
 * API reference, DingTalk §9-§11.
 */

export const DINGTALK_BASE_URL = 'https://oapi.dingtalk.com';
export const DINGTALK_API_HOST_URL = 'https://api.dingtalk.com';
/** DingTalk's documented per-app per-API limit for an internal app of a standard org. */
export const DINGTALK_QPS_LIMIT = 20;
/** Calls of every API within 20 s: under DingTalk's per-IP block at 10,000, with room for other programs on the IP. */
export const DINGTALK_CALLS_PER_20S = 9_000;

export interface DingtalkClientOptions extends ClientOptions {
  /** The app's Client ID (AppKey). */
  clientId: string;
  /** The app's Client Secret (AppSecret); sent to gettoken (and userAccessToken) only. */
  clientSecret: string;
  /** The oapi host. Default https://oapi.dingtalk.com. */
  baseUrl?: string;
  /** The api host (v1.0/…). Default https://api.dingtalk.com with the default oapi host, else the same as baseUrl (a proxy or the simulator serves both). */
  apiHostUrl?: string;
  /** Requests per API per second. Default 20 (DingTalk's per-app per-API limit). */
  qpsLimit?: number;
  /** Requests of every API together per 20 seconds. Default 9,000 (DingTalk blocks an IP for minutes over 10,000). */
  callsPer20s?: number;
}

export type DingtalkClientStats = ClientStats;

export interface DingtalkCallOptions {
  signal?: AbortSignal;
  /** Goes ahead of ordinary calls waiting for a place in flight (a tree walk, whose answers bring more calls). */
  urgent?: boolean;
}

export interface UserAccessToken {
  accessToken: string;
  refreshToken: string;
  expireIn: number;
  /** With the scope `openid corpid`: the org the user chose. */
  corpId?: string;
}

export class DingtalkClient {
  readonly clientId: string;
  readonly baseUrl: string;
  readonly apiHostUrl: string;
  /** This client's key in the token cache (the secret only as a hash). */
  readonly tokenKey: string;
  readonly #secret: string;
  readonly #http: HttpClient<DingtalkRefusal>;
  readonly #token: TokenSource;

  constructor(options: DingtalkClientOptions) {
    this.clientId = options.clientId;
    this.baseUrl = (options.baseUrl ?? DINGTALK_BASE_URL).replace(/\/+$/, '');
    this.apiHostUrl = (
      options.apiHostUrl ?? (this.baseUrl === DINGTALK_BASE_URL ? DINGTALK_API_HOST_URL : this.baseUrl)
    ).replace(/\/+$/, '');
    this.#secret = options.clientSecret;
    this.tokenKey = TokenCache.key(this.baseUrl, this.clientId, options.clientSecret);
    this.#http = new HttpClient(dingtalkPlatform(this.clientId), {
      baseUrl: this.baseUrl,
      secrets: [options.clientSecret],
      limiter: RateLimiter.perSecond(options.qpsLimit ?? DINGTALK_QPS_LIMIT),
      overallLimiter: new RateLimiter(options.callsPer20s ?? DINGTALK_CALLS_PER_20S, 21_000),
      ...transportOptions(options),
    });
    this.#token = { cache: options.tokens, key: this.tokenKey, fetch: () => this.#fetchToken() };
  }

  /** POST a JSON body to the oapi host's `<path>?access_token=…` (the topapi/… contact APIs); the body checked against `schema`. */
  async post<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options: DingtalkCallOptions = {},
  ): Promise<z.output<S>> {
    const api = apiPath(path);
    const answer = await this.#http.call(
      this.#token,
      (token) => ({ ...this.#oapi('POST', api, { access_token: token }), body, ...urgent(options) }),
      options.signal,
    );
    return this.#http.parse(api, schema, answer);
  }

  /** GET the oapi host's `<path>?<query>&access_token=…` (e.g. auth/scopes). */
  async get<S extends z.ZodType>(
    path: string,
    query: Record<string, string | number>,
    schema: S,
    options: DingtalkCallOptions = {},
  ): Promise<z.output<S>> {
    const api = apiPath(path);
    const answer = await this.#http.call(
      this.#token,
      (token) => ({ ...this.#oapi('GET', api, { ...query, access_token: token }), ...urgent(options) }),
      options.signal,
    );
    return this.#http.parse(api, schema, answer);
  }

  /** A call of the api host (`v1.0/…`) with the app's token in `x-acs-dingtalk-access-token`. */
  async apiHost<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: S,
    options: DingtalkCallOptions = {},
  ): Promise<z.output<S>> {
    const api = apiPath(path);
    const answer = await this.#http.call(
      this.#token,
      (token) => this.#apiHost(method, api, body, token),
      options.signal,
    );
    return this.#http.parse(api, schema, answer);
  }

  /** OAuth sign-in: exchanges a login code (single use) for the user's token (v1.0/oauth2/userAccessToken). */
  async userAccessToken(code: string, options: DingtalkCallOptions = {}): Promise<UserAccessToken> {
    const api = 'v1.0/oauth2/userAccessToken';
    const body = await this.#http.send(
      this.#apiHost('POST', api, {
        clientId: this.clientId,
        clientSecret: this.#secret,
        code,
        grantType: 'authorization_code',
      }),
      options.signal,
      [code],
    );
    const parsed = this.#http.parse(api, userAccessTokenSchema, body);
    return {
      accessToken: parsed.accessToken,
      refreshToken: parsed.refreshToken,
      expireIn: parsed.expireIn,
      ...(parsed.corpId !== undefined ? { corpId: parsed.corpId } : {}),
    };
  }

  /** The signed-in user's profile (v1.0/contact/users/me) with their token: `unionId` is the key back to a userid. */
  async currentUser<S extends z.ZodType>(
    userToken: string,
    schema: S,
    options: DingtalkCallOptions = {},
  ): Promise<z.output<S>> {
    const api = 'v1.0/contact/users/me';
    const body = await this.#http.send(this.#apiHost('GET', api, undefined, userToken), options.signal, [userToken]);
    return this.#http.parse(api, schema, body);
  }

  stats(): DingtalkClientStats {
    return this.#http.stats();
  }

  resetStats(): void {
    this.#http.resetStats();
  }

  #fetchToken(): Promise<FetchedToken> {
    return this.#http.fetchToken(this.#oapi('GET', 'gettoken', { appkey: this.clientId, appsecret: this.#secret }));
  }

  #oapi(method: 'GET' | 'POST', api: string, query: Record<string, string | number>): ApiRequest<DingtalkRefusal> {
    const url = new URL(`${this.baseUrl}/${api}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    return { method, url, api };
  }

  #apiHost(method: 'GET' | 'POST', api: string, body: unknown, token?: string): ApiRequest<DingtalkRefusal> {
    return {
      method,
      url: new URL(`${this.apiHostUrl}/${api}`),
      api,
      ...(method === 'POST' ? { body } : {}),
      ...(token !== undefined ? { headers: { 'x-acs-dingtalk-access-token': token } } : {}),
      classify: classifyApiHost,
    };
  }
}

const urgent = (options: DingtalkCallOptions): { urgent?: boolean } => (options.urgent ? { urgent: true } : {});

/** How DingTalk answers, and what its errcodes mean (errors.ts). */
function dingtalkPlatform(clientId: string): Platform<DingtalkRefusal> {
  return {
    name: 'DingTalk',
    nameZh: '钉钉',
    codePrefix: 'DINGTALK',
    classify: classifyOapi,
    retryOf: (r) => dingtalkRetry(r),
    refusalError: (r, api, secrets, attempts) =>
      DingtalkError.fromRefusal(r, { path: api, clientId }, secrets, attempts),
    error: (init, options) => new DingtalkError(init, options),
  };
}

/** "topapi/v2/user/list" and "/topapi/v2/user/list" are the same path. */
const apiPath = (path: string): string => apiPathOf(path, 'DingTalk');

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/**
 * DingTalk's per-IP block: over 10,000 calls in 20 seconds from one IP, every call gets a page without errcode
 * (JSON `{status: 1111, wait, punish: "deny"}` served as HTML, or an HTML page) for about 5 minutes. Never a success.
 */
function blocked(json: Json | null | undefined): Failure {
  const wait = json && typeof json.wait === 'number' ? json.wait : undefined;
  return {
    type: 'failed',
    code: 'IP_BLOCKED',
    reason: `an answer without errcode (DingTalk's per-IP block page${wait !== undefined ? `, wait ${wait} min` : ''})`,
    retry: 'backoff-long',
    kind: 'rate_limit',
    hint:
      `DingTalk blocks an IP that makes more than 10,000 calls in 20 seconds, for about 5 minutes${wait !== undefined ? ` (it said ${wait} min)` : ''}, ` +
      'and answers every call with this page. Wait, then run again; if other programs call DingTalk from the same IP, spread their calls out.',
    zh: {
      reason: `应答没有 errcode（钉钉的单 IP 封禁页面${wait !== undefined ? `，需等待 ${wait} 分钟` : ''}）`,
      hint:
        `同一 IP 在 20 秒内调用超过 10,000 次，钉钉会封禁该 IP 约 5 分钟${wait !== undefined ? `（本次提示 ${wait} 分钟）` : ''}，期间每次调用都返回这个页面。` +
        '请等待后再运行；若同一 IP 上还有别的程序调用钉钉，请把它们的调用错开。',
    },
  };
}

/** An oapi answer: errcode 0 is success; 88 carries the cause in sub_code; no errcode at all is the block page. */
function classifyOapi(status: number, body: string): Answer<DingtalkRefusal> {
  const json = jsonObject(body);
  if (json && json.errcode !== undefined && json.errcode !== null) {
    const errcode = Number(json.errcode);
    if (!Number.isInteger(errcode))
      return {
        type: 'failed',
        code: 'NOT_JSON',
        reason: `HTTP ${status} with a non-numeric errcode`,
        zh: { reason: `HTTP ${status}，errcode 不是数字` },
      };
    if (errcode === 0) return isSuccess(status) ? { type: 'ok', body: json } : httpFailure(status);
    const errmsg = text(json.errmsg);
    if (errcode === 88) {
      const subCode =
        json.sub_code === undefined || json.sub_code === null || json.sub_code === '' ? undefined : text(json.sub_code);
      const cause = subCode !== undefined && /^-?\d+$/.test(subCode) ? Number(subCode) : undefined;
      return {
        type: 'refused',
        refusal: {
          errcode: cause,
          errmsg: text(json.sub_msg) || errmsg,
          in88: true,
          ...(subCode !== undefined ? { subCode } : {}),
        },
      };
    }
    return { type: 'refused', refusal: { errcode, errmsg } };
  }
  if (isSuccess(status) || (json && (json.status !== undefined || json.punish !== undefined))) return blocked(json);
  return httpFailure(status);
}

/** An api-host answer: the body itself on success; HTTP 4xx/5xx with `{code, message}` on failure. */
function classifyApiHost(status: number, body: string): Answer<DingtalkRefusal> {
  const json = jsonObject(body);
  if (isSuccess(status)) {
    if (json && json.status === 1111 && json.punish !== undefined) return blocked(json);
    if (json) return { type: 'ok', body: json };
    return blocked(json);
  }
  if (json && typeof json.code === 'string') {
    const apiCode = json.code;
    const errmsg = text(json.message);
    if (apiCode === API_HOST_PERMISSION_DENIED)
      return { type: 'refused', refusal: { errcode: 60011, errmsg, in88: true, subCode: '60011', apiCode, status } };
    return { type: 'refused', refusal: { errcode: API_HOST_CODES[apiCode], errmsg, apiCode, status } };
  }
  if (json && (json.status !== undefined || json.punish !== undefined)) return blocked(json);
  return httpFailure(status);
}
