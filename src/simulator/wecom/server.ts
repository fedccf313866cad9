import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Random } from '../random.js';
import { generateOrg } from '../org-generator.js';
import { CallbackSender } from './callbacks.js';
import { simConfigSchema, type FaultKind, type SimConfig, type SimConfigInput } from './config.js';
import { SimCorp } from './corp.js';
import { WecomApiError } from './errors.js';
import { registerApi } from './api.js';
import { registerControl } from './control.js';
import { SignInState, registerSignIn } from './sign-in.js';

export interface SimulatorOptions {
  seed?: number;
  departments?: number;
  users?: number;
  config?: SimConfigInput;
}

export interface SimulatorIdentity {
  corpId: string;
  agentId: number;
  /** The self-built app's secret. */
  secret: string;
  /** The 通讯录同步 (contacts sync) secret. */
  contactsSecret: string;
}

export type SecretKind = 'app' | 'contacts';

interface Token {
  kind: SecretKind;
  expiresAt: number;
}

/** Everything a route needs to know about the caller and the simulated platform. */
export interface CallContext {
  kind: SecretKind;
  path: string;
}

/** A handler's result already serialised: the fields after errcode and errmsg, as JSON text without braces. */
export class JsonFields {
  constructor(readonly text: string) {}
}

/** Call times of one API within the last minute: a queue read from a moving head, compacted now and then. */
class MinuteWindow {
  private times: number[] = [];
  private head = 0;

  count(now: number): number {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - 60_000) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  add(now: number): void {
    this.times.push(now);
  }
}

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function derived(seed: number, label: string, length: number): string {
  const bytes = createHash('sha256').update(`orgsync-simulator:${seed}:${label}`).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += SECRET_ALPHABET[((bytes[i % bytes.length] as number) ^ (i * 7)) & 63];
  return out;
}

/**
 * A simulated WeCom server: one corp, every host's paths (qyapi, open.weixin, login.work) under one URL.
 * The platform's behaviours (tokens, app kinds, visible range, IP allow-list, rate and concurrency limits, latency,
 * faults, callbacks) are switched by SimConfig at start and at run time.
 */
export class WecomSimulator {
  readonly identity: SimulatorIdentity;
  readonly corp: SimCorp;
  readonly seed: number;
  private configValue: SimConfig;
  private readonly app: FastifyInstance;
  private readonly tokens = new Map<string, Token>();
  private readonly calls = new Map<string, number>();
  private totalCalls = 0;
  private readonly windows = new Map<string, MinuteWindow>();
  private readonly inFlight = new Map<string, number>();
  private faultRandom: Random;
  private readonly hanging = new Set<FastifyReply>();
  readonly callbacks: CallbackSender;
  readonly signIn = new SignInState();
  private baseUrl = '';

  constructor(options: SimulatorOptions = {}) {
    this.seed = options.seed ?? 1;
    this.configValue = simConfigSchema.parse(options.config ?? {});
    this.identity = {
      corpId: `ww${createHash('sha256').update(`corp:${this.seed}`).digest('hex').slice(0, 16)}`,
      agentId: 1000002,
      secret: derived(this.seed, 'app-secret', 43),
      contactsSecret: derived(this.seed, 'contacts-secret', 43),
    };
    this.corp = new SimCorp(generateOrg({ seed: this.seed, departments: options.departments ?? 30, users: options.users ?? 200 }));
    this.faultRandom = new Random(this.seed ^ 0x5eed);
    this.callbacks = new CallbackSender(() => this.configValue, this.identity.corpId);
    // On close, drop every connection, including those a 'hang' fault or a keep-alive client still holds.
    this.app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024, forceCloseConnections: true });
    // WeCom answers malformed JSON with 47001, so bodies arrive as text and the routes parse them.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    registerApi(this.app, this);
    registerSignIn(this.app, this);
    registerControl(this.app, this);
    this.app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send({ errcode: 40058, errmsg: `no such api: ${req.method} ${req.url.split('?')[0]}, hint: [orgsync simulator]` });
    });
  }

  get config(): SimConfig {
    return this.configValue;
  }

  get url(): string {
    return this.baseUrl;
  }

  /** Replaces the given switches; the rest stay as they are. Throws a zod error for bad values. */
  updateConfig(patch: Record<string, unknown>): SimConfig {
    const next = simConfigSchema.parse({ ...this.configValue, ...patch });
    this.configValue = next;
    return next;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await this.app.listen({ port, host });
    const address = this.app.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${address.port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    for (const reply of this.hanging) reply.raw.destroy();
    this.hanging.clear();
    this.callbacks.close();
    await this.callbacks.drain();
    await this.app.close();
  }

  // ------------------------------------------------------------------ tokens

  issueToken(kind: SecretKind): { token: string; expiresIn: number } {
    const token = randomBytes(48).toString('base64url');
    const ttl = this.configValue.tokenTtlSeconds;
    if (this.tokens.size > 1000) {
      const now = Date.now();
      for (const [t, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(t);
    }
    this.tokens.set(token, { kind, expiresAt: Date.now() + ttl * 1000 });
    return { token, expiresIn: ttl };
  }

  /** Ends every token early, as WeCom sometimes does. */
  revokeTokens(): number {
    const n = this.tokens.size;
    this.tokens.clear();
    return n;
  }

  private authenticate(req: FastifyRequest): SecretKind {
    const token = (req.query as Record<string, string | undefined>).access_token;
    if (token === undefined || token === '') throw new WecomApiError(41001);
    const t = this.tokens.get(token);
    if (!t) throw new WecomApiError(40014);
    if (Date.now() >= t.expiresAt) throw new WecomApiError(42001);
    return t.kind;
  }

  // ------------------------------------------------------------------ stats

  /** Counts one call of a WeCom path (the control API is not counted). */
  count(path: string): void {
    this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
    this.totalCalls++;
  }

  stats(): { total: number; calls: Record<string, number> } {
    return { total: this.totalCalls, calls: Object.fromEntries([...this.calls.entries()].sort(([a], [b]) => a.localeCompare(b))) };
  }

  resetStats(): void {
    this.calls.clear();
    this.totalCalls = 0;
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
      if (this.configValue.untrustedIp) throw new WecomApiError(60020, `from ip: ${req.ip}`);
      const kind = options.authenticated ? this.authenticate(req) : 'app';
      if (!entered) throw new WecomApiError(45033);
      this.checkRateLimit(path);
      if (this.configValue.latencyMs > 0) await new Promise((r) => setTimeout(r, this.configValue.latencyMs));
      const fault = this.drawFault(options.authenticated);
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
    if (n >= this.configValue.concurrencyLimit) return false;
    this.inFlight.set(path, n + 1);
    return true;
  }

  private leave(path: string, entered: boolean): void {
    if (entered) this.inFlight.set(path, (this.inFlight.get(path) ?? 1) - 1);
  }

  private checkRateLimit(path: string): void {
    const now = Date.now();
    let window = this.windows.get(path);
    if (!window) {
      window = new MinuteWindow();
      this.windows.set(path, window);
    }
    if (window.count(now) >= this.configValue.rateLimitPerMinute) throw new WecomApiError(45009);
    window.add(now);
  }

  private drawFault(authenticated: boolean): FaultKind | null {
    const { faultRate, faultKinds } = this.configValue;
    if (faultRate <= 0 || this.faultRandom.next() >= faultRate) return null;
    const kinds = authenticated ? faultKinds : faultKinds.filter((k) => k !== 'revoke');
    if (kinds.length === 0) return null;
    return kinds[Math.floor(this.faultRandom.next() * kinds.length)] as FaultKind;
  }

  /** Returns true when the fault took over the response. */
  private async injectFault(kind: FaultKind, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
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
      case 'http502':
        await reply.code(502).type('text/html').send('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return true;
      case 'reset':
        reply.hijack();
        req.raw.socket.destroy();
        return true;
      case 'hang':
        // A response that never comes: the client's timeout must fire. Closed with the server.
        reply.hijack();
        this.hanging.add(reply);
        reply.raw.on('close', () => this.hanging.delete(reply));
        return true;
    }
  }
}
