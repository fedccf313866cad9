import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JsonFields, SimulatorCore, derived } from '../common/core.js';
import { SlidingWindows } from '../common/sliding-window.js';
import { generateOrg } from '../org-generator.js';
import { registerApiHost } from './api-host.js';
import { DingCallbackSender } from './callbacks.js';
import { dingConfigSchema, type DingConfig, type DingConfigInput } from './config.js';
import { registerControl } from './control.js';
import { dingOrg } from './convert.js';
import { DingCorp } from './corp.js';
import { DingtalkApiError } from './errors.js';
import type { ContactEvent } from './model.js';
import { registerOapi } from './oapi.js';
import { userDetail } from './shapes.js';
import { DingSignInState, registerSignIn } from './sign-in.js';
import type { Auth, CallContext, DingtalkIdentity, Handler, Host } from './host.js';

export type { Auth, CallContext, DingtalkIdentity, Host } from './host.js';

export interface DingtalkSimulatorOptions {
  seed?: number;
  departments?: number;
  users?: number;
  config?: DingConfigInput;
  /** The clock of tokens, QPS windows and the per-IP block; default Date.now (a test moves its own instead of waiting). */
  clock?: () => number;
}

export const DINGTALK_DEFAULT_SIZES = { departments: 200, users: 10_000 } as const;

/** How a call proves who it is: the app's token, a user's token (api host), or nothing (token and login calls). */
const isTopapi = (path: string): boolean => path.startsWith('topapi/');

/**
 * A simulated DingTalk: one org behind the oapi host (oapi.dingtalk.com), the api host (api.dingtalk.com) and the
 * login host (login.dingtalk.com), all under one URL. The platform's behaviours (token reuse, the contact scope,
 * the IP allow-list, per-API QPS limits, the per-IP block, API permissions, latency, faults, callbacks) are
 * switched by DingConfig at start and at run time.
 */
export class DingtalkSimulator extends SimulatorCore<DingConfig, 'app'> {
  readonly identity: DingtalkIdentity;
  readonly corp: DingCorp;
  readonly callbacks: DingCallbackSender;
  readonly signIn = new DingSignInState();
  /** Calls per API within the last second, by this app ("app:path") and by everyone ("all:path"). */
  private readonly perSecond = new SlidingWindows(1000);
  /** Calls per IP within the last 20 seconds. */
  private readonly perIp = new SlidingWindows(20_000);
  private readonly blockedUntil = new Map<string, number>();

  constructor(options: DingtalkSimulatorOptions = {}) {
    const seed = options.seed ?? 1;
    super(seed, dingConfigSchema, options.config, options.clock);
    const hash = createHash('sha256').update(`dingtalk-corp:${seed}`).digest('hex');
    this.identity = {
      corpId: `ding${hash.slice(0, 32)}`,
      agentId: 1_000_000_000 + (Number.parseInt(hash.slice(32, 40), 16) % 1_000_000_000),
      clientId: `ding${derived(seed, 'dingtalk-app-key', 16)
        .toLowerCase()
        .replace(/[^a-z0-9]/g, 'x')}`,
      clientSecret: derived(seed, 'dingtalk-app-secret', 64),
    };
    const generated = generateOrg({
      seed,
      departments: options.departments ?? DINGTALK_DEFAULT_SIZES.departments,
      users: options.users ?? DINGTALK_DEFAULT_SIZES.users,
    });
    this.corp = new DingCorp(dingOrg(generated, { corpId: this.identity.corpId, seed }), this.identity.corpId);
    this.callbacks = new DingCallbackSender(() => this.config, this.identity.corpId, this.identity.clientId);
    registerOapi(this.app, this);
    registerApiHost(this.app, this);
    registerSignIn(this.app, this);
    registerControl(this.app, this);
    this.app.setNotFoundHandler((req, reply) => {
      const path = (req.url.split('?')[0] as string).replace(/^\//, '');
      // A topapi path DingTalk does not know is not a 404 there: errcode 22 names the API it could not find.
      if (isTopapi(path)) {
        void reply.send({
          errcode: 22,
          errmsg: '不合法ApiName',
          sub_msg: `不合法ApiName，ApiName = dingtalk.oapi.${path.slice('topapi/'.length).replaceAll('/', '.')}`,
          request_id: requestId(),
        });
        return;
      }
      void reply
        .code(404)
        .send({ errcode: 404, errmsg: `请求的URI地址不存在: ${req.method} /${path} [orgsync simulator]` });
    });
  }

  /** The app token: the live one, its life extended (tokenReuse), or a new one. */
  issueAppToken(): { token: string; expiresIn: number } {
    return this.tokens.issue('app', this.config.tokenTtlSeconds, { reuse: this.config.tokenReuse });
  }

  /** For tests of expiry: moves every token's clock forward. */
  ageTokens(ms: number): void {
    this.tokens.age(ms);
  }

  /** Posts the callbacks of a change. */
  emit(events: readonly ContactEvent[]): void {
    this.callbacks.send(events);
  }

  // ------------------------------------------------------------------ the pipeline every API call goes through

  /**
   * An oapi call: answers HTTP 200 with `{errcode, errmsg, …fields, request_id}`; a topapi path wraps token and
   * permission failures in errcode 88 (sub_code, sub_msg). `handler` gives the fields after errmsg (e.g.
   * `{ result }`), or them pre-serialised.
   */
  async oapi(
    req: FastifyRequest,
    reply: FastifyReply,
    path: string,
    auth: Auth,
    handler: Handler<Record<string, unknown> | JsonFields>,
  ): Promise<void> {
    const id = requestId();
    const succeed = async (result: Record<string, unknown> | JsonFields): Promise<void> => {
      if (result instanceof JsonFields) {
        await reply
          .type('application/json; charset=utf-8')
          .send(`{"errcode":0,"errmsg":"ok",${result.text},"request_id":"${id}"}`);
      } else {
        await reply.send({ errcode: 0, errmsg: 'ok', ...result, request_id: id });
      }
    };
    const fail = async (err: DingtalkApiError): Promise<void> => {
      await reply.send(err.body(id, isTopapi(path)));
    };
    await this.pipeline(req, reply, path, auth, 'oapi', handler, succeed, fail);
  }

  /** An api-host call: the body as it is on success; a 4xx/5xx `{code, message, requestid}` on failure. */
  async apiHost(
    req: FastifyRequest,
    reply: FastifyReply,
    path: string,
    auth: Auth,
    handler: Handler<Record<string, unknown>>,
  ): Promise<void> {
    const id = requestId();
    const succeed = async (result: Record<string, unknown>): Promise<void> => {
      await reply.send(result);
    };
    const fail = async (err: DingtalkApiError): Promise<void> => {
      const { status, body } = err.apiHost(id);
      await reply.code(status).send(body);
    };
    await this.pipeline(req, reply, path, auth, 'api', handler, succeed, fail);
  }

  /**
   * Counts the call, then applies the platform's behaviours in DingTalk's order: the per-IP block (a gateway page
   * without errcode), the IP allow-list, the token, the API permission, the per-API QPS limits, latency, injected
   * faults; then runs the handler.
   */
  private async pipeline<R>(
    req: FastifyRequest,
    reply: FastifyReply,
    path: string,
    auth: Auth,
    host: Host,
    handler: Handler<R>,
    succeed: (result: R) => Promise<void>,
    fail: (err: DingtalkApiError) => Promise<void>,
  ): Promise<void> {
    this.count(`/${path}`);
    if (await this.ipBlock(req, reply)) return;
    try {
      if (this.config.untrustedIp) throw new DingtalkApiError(60020, `来源IP ${req.ip}`);
      const ctx: CallContext = { path };
      let token: string | undefined;
      if (auth === 'app') token = this.authenticate(req, path, host);
      if (auth === 'user') ctx.userid = this.signIn.userForToken(header(req, 'x-acs-dingtalk-access-token'));
      if ((this.config.deniedApis as readonly string[]).includes(path))
        throw new DingtalkApiError(60011, `应用没有 ${path} 的接口权限`, { in88: true });
      this.checkQps(path);
      await this.latency();
      const fault = this.drawFault((k) => auth === 'app' || k !== 'revoke');
      if (fault && (await this.injectFault(fault, req, reply, token))) return;
      await succeed(await handler(ctx));
    } catch (err) {
      if (err instanceof DingtalkApiError) {
        await fail(err);
        return;
      }
      throw err;
    }
  }

  /** The app token of the call (oapi: ?access_token=; api host: the x-acs-dingtalk-access-token header). */
  private authenticate(req: FastifyRequest, path: string, host: Host): string {
    const token =
      host === 'oapi'
        ? (req.query as Record<string, string | undefined>).access_token
        : header(req, 'x-acs-dingtalk-access-token');
    const grant = this.tokens.check(token);
    if (grant === 'missing') throw new DingtalkApiError(host === 'oapi' && !isTopapi(path) ? 41001 : 40000);
    if (grant === 'unknown') throw new DingtalkApiError(40014);
    if (grant === 'expired') throw new DingtalkApiError(42001);
    return token as string;
  }

  private checkQps(path: string): void {
    const now = this.now();
    if (!this.perSecond.admit(`all:${path}`, now, this.config.globalQpsLimit)) throw new DingtalkApiError(90002);
    if (!this.perSecond.admit(`app:${path}`, now, this.config.qpsLimit)) throw new DingtalkApiError(90018);
  }

  /**
   * DingTalk's per-IP protection: over ipLimitPer20s calls in 20 seconds, the IP gets the block page for every
   * call for ipBlockSeconds. Returns true when it answered.
   */
  private async ipBlock(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const now = this.now();
    const until = this.blockedUntil.get(req.ip);
    if (until !== undefined && now < until) {
      await sendBlockPage(reply, until - now);
      return true;
    }
    if (this.perIp.admit(req.ip, now, this.config.ipLimitPer20s)) return false;
    const blockMs = this.config.ipBlockSeconds * 1000;
    this.blockedUntil.set(req.ip, now + blockMs);
    // The count starts afresh when the block ends (a real block outlasts the 20-second window anyway).
    this.perIp.reset(req.ip);
    await sendBlockPage(reply, blockMs);
    return true;
  }

  /** Returns true when the fault took over the response. */
  private async injectFault(
    kind: DingConfig['faultKinds'][number],
    req: FastifyRequest,
    reply: FastifyReply,
    token: string | undefined,
  ): Promise<boolean> {
    switch (kind) {
      case 'errcode':
        throw new DingtalkApiError(-1);
      case 'ratelimit':
        throw new DingtalkApiError(90018);
      case 'revoke':
        if (token !== undefined) this.tokens.delete(token);
        throw new DingtalkApiError(40014);
      case 'block':
        await sendBlockPage(reply, this.config.ipBlockSeconds * 1000);
        return true;
      default:
        return this.faults.transport(kind, req, reply);
    }
  }

  // ------------------------------------------------------------------ control API

  plantDepartmentFields(id: number, fields: Record<string, unknown>): boolean {
    return this.corp.plantDepartmentFields(id, fields);
  }

  plantUserFields(userid: string, fields: Record<string, unknown>): boolean {
    return this.corp.plantUserFields(userid, fields);
  }

  /** The ground truth in the shapes of v2/department/get and v2/user/get, every field. */
  directory(): unknown {
    return {
      departments: this.corp.allDepartments(),
      users: [...this.corp.allUsers()].map((u) => userDetail(u, false)),
    };
  }

  readyLine(): Record<string, unknown> {
    return { url: this.url, ...this.identity };
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function requestId(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The page a blocked IP gets: no errcode, not even JSON by content type (DingTalk calls it an HTML page), with the
 * wait in minutes.
 */
async function sendBlockPage(reply: FastifyReply, remainingMs: number): Promise<void> {
  const body = {
    status: 1111,
    wait: Math.max(1, Math.ceil(remainingMs / 60_000)),
    source: 'x5',
    punish: 'deny',
    uuid: randomUUID(),
  };
  await reply.code(200).type('text/html; charset=utf-8').send(JSON.stringify(body));
}
