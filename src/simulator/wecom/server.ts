import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JsonFields, SimulatorCore, derived } from '../common/core.js';
import { SlidingWindows } from '../common/sliding-window.js';
import { generateOrg } from '../org-generator.js';
import { CallbackSender } from './callbacks.js';
import { simConfigSchema, type SimConfig, type SimConfigInput } from './config.js';
import { registerControl } from './control.js';
import { SimCorp } from './corp.js';
import { WecomApiError } from './errors.js';
import { registerExport } from './export.js';
import { registerApi } from './api.js';
import { SignInState, registerSignIn } from './sign-in.js';
import type { CallContext, SecretKind, SimulatorIdentity } from './host.js';

export type { CallContext, SecretKind, SimulatorIdentity } from './host.js';

export interface SimulatorOptions {
  seed?: number;
  departments?: number;
  users?: number;
  config?: SimConfigInput;
  /** The clock of tokens and the per-minute rate window; default Date.now (a test moves its own instead of waiting). */
  clock?: () => number;
}

const TOKEN_FAILURES = { missing: 41001, unknown: 40014, expired: 42001 } as const;

/**
 * A simulated WeCom server: one corp, every host's paths (qyapi, open.weixin, login.work) under one URL.
 * The platform's behaviours (tokens, app kinds, visible range, IP allow-list, rate and concurrency limits, latency,
 * faults, callbacks) are switched by SimConfig at start and at run time.
 */
export class WecomSimulator extends SimulatorCore<SimConfig, SecretKind> {
  readonly identity: SimulatorIdentity;
  readonly corp: SimCorp;
  readonly callbacks: CallbackSender;
  readonly signIn = new SignInState();
  /** Calls per API within the last minute, for rateLimitPerMinute. */
  private readonly minute = new SlidingWindows(60_000);
  private readonly inFlight = new Map<string, number>();

  constructor(options: SimulatorOptions = {}) {
    const seed = options.seed ?? 1;
    super(seed, simConfigSchema, options.config, options.clock);
    this.identity = {
      corpId: `ww${createHash('sha256').update(`corp:${seed}`).digest('hex').slice(0, 16)}`,
      agentId: 1000002,
      secret: derived(seed, 'app-secret', 43),
      contactsSecret: derived(seed, 'contacts-secret', 43),
    };
    this.corp = new SimCorp(generateOrg({ seed, departments: options.departments ?? 30, users: options.users ?? 200 }));
    this.callbacks = new CallbackSender(() => this.config, this.identity.corpId);
    registerApi(this.app, this);
    registerSignIn(this.app, this);
    registerControl(this.app, this);
    registerExport(this.app, this);
    this.app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send({
        errcode: 40058,
        errmsg: `no such api: ${req.method} ${req.url.split('?')[0]}, hint: [orgsync simulator]`,
      });
    });
  }

  // ------------------------------------------------------------------ tokens

  issueToken(kind: SecretKind): { token: string; expiresIn: number } {
    return this.tokens.issue(kind, this.config.tokenTtlSeconds);
  }

  private authenticate(req: FastifyRequest): SecretKind {
    const grant = this.tokens.check((req.query as Record<string, string | undefined>).access_token);
    if (typeof grant === 'string') throw new WecomApiError(TOKEN_FAILURES[grant]);
    return grant.kind;
  }

  // ------------------------------------------------------------------ the pipeline every API call goes through

  /**
   * Counts the call, then applies the platform's behaviours in WeCom's order: IP allow-list, token, rate and
   * concurrency limits, latency, injected faults; then runs the handler. Errors become WeCom error bodies.
   */
  async handle(
    req: FastifyRequest,
    reply: FastifyReply,
    path: string,
    options: { authenticated: boolean },
    handler: (ctx: CallContext) => Record<string, unknown> | JsonFields | Promise<Record<string, unknown> | JsonFields>,
  ): Promise<void> {
    this.count(`/cgi-bin/${path}`);
    const entered = this.enter(path);
    try {
      if (this.config.untrustedIp) throw new WecomApiError(60020, `from ip: ${req.ip}`);
      const kind = options.authenticated ? this.authenticate(req) : 'app';
      if (!entered) throw new WecomApiError(45033);
      if (!this.minute.admit(path, this.now(), this.config.rateLimitPerMinute)) throw new WecomApiError(45009);
      await this.latency();
      const fault = this.drawFault((k) => options.authenticated || k !== 'revoke');
      if (fault && (await this.injectFault(fault, req, reply))) return;
      const body = await handler({ kind, path });
      if (body instanceof JsonFields) {
        await reply.type('application/json; charset=utf-8').send(`{"errcode":0,"errmsg":"ok",${body.text}}`);
      } else {
        await reply.send({ errcode: 0, errmsg: 'ok', ...body });
      }
    } catch (err) {
      if (err instanceof WecomApiError) {
        await reply.send(err.body());
        return;
      }
      throw err;
    } finally {
      this.leave(path, entered);
    }
  }

  private enter(path: string): boolean {
    const n = this.inFlight.get(path) ?? 0;
    if (n >= this.config.concurrencyLimit) return false;
    this.inFlight.set(path, n + 1);
    return true;
  }

  private leave(path: string, entered: boolean): void {
    if (entered) this.inFlight.set(path, (this.inFlight.get(path) ?? 1) - 1);
  }

  /** Returns true when the fault took over the response. */
  private async injectFault(
    kind: SimConfig['faultKinds'][number],
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<boolean> {
    switch (kind) {
      case 'errcode':
        throw new WecomApiError(-1);
      case 'ratelimit':
        throw new WecomApiError(45009);
      case 'revoke': {
        const token = (req.query as Record<string, string | undefined>).access_token;
        if (token) this.tokens.delete(token);
        throw new WecomApiError(40014);
      }
      default:
        return this.faults.transport(kind, req, reply);
    }
  }

  // ------------------------------------------------------------------ control API

  directory(): unknown {
    return this.corp.snapshot();
  }

  plantDepartmentFields(id: number, fields: Record<string, unknown>): boolean {
    return this.corp.plantDepartmentFields(id, fields);
  }

  plantUserFields(userid: string, fields: Record<string, unknown>): boolean {
    return this.corp.plantUserFields(userid, fields);
  }

  readyLine(): Record<string, unknown> {
    return { url: this.url, ...this.identity };
  }
}
