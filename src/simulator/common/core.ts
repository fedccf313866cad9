import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { CallbackStats } from './callback-queue.js';
import type { CommonConfig } from './config.js';
import { FaultInjector } from './faults.js';
import { Hold, type HoldState } from './hold.js';
import { TokenStore } from './tokens.js';

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A secret-looking string derived from the seed: the same seed gives the same corp, secrets included. */
export function derived(seed: number, label: string, length: number): string {
  const bytes = createHash('sha256').update(`orgsync-simulator:${seed}:${label}`).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += SECRET_ALPHABET[((bytes[i % bytes.length] as number) ^ (i * 7)) & 63];
  return out;
}

/** A result already serialised: the fields to put after the platform's status fields, as JSON text without braces. */
export class JsonFields {
  constructor(readonly text: string) {}
}

export interface CallbackSink {
  stats(): CallbackStats;
  hold(after?: number): CallbackStats;
  release(): CallbackStats;
  close(): void;
  drain(): Promise<void>;
}

/**
 * What both simulators are made of: one Fastify server on 127.0.0.1 with every host's paths under it, the
 * switches (validated by the platform's schema, changed at run time), call counters, tokens, seeded faults,
 * latency, and an orderly close that also drops connections held open by a 'hang' fault.
 */
export abstract class SimulatorCore<C extends CommonConfig, K extends string> {
  readonly seed: number;
  protected readonly app: FastifyInstance;
  protected readonly tokens: TokenStore<K>;
  /** The simulator's clock (tokens, rate windows, blocks): Date.now, or a test's, moved instead of waited for. */
  readonly now: () => number;
  protected readonly faults: FaultInjector<C['faultKinds'][number]>;
  abstract readonly callbacks: CallbackSink;
  private configValue: C;
  private readonly calls = new Map<string, number>();
  /** A test's hold on API calls (POST /__sim/calls/hold): a held call waits before its latency and faults. */
  private readonly callHold = new Hold();
  private totalCalls = 0;
  private baseUrl = '';

  constructor(
    seed: number,
    private readonly schema: { parse(value: unknown): C },
    config: unknown,
    clock: () => number = () => Date.now(),
  ) {
    this.seed = seed;
    this.now = clock;
    this.tokens = new TokenStore<K>(clock);
    this.configValue = schema.parse(config ?? {});
    this.faults = new FaultInjector(seed);
    // On close, drop every connection, including those a 'hang' fault or a keep-alive client still holds.
    this.app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024, forceCloseConnections: true });
    // Both platforms answer malformed bodies with their own errcode, so bodies arrive as text and routes parse them.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }

  get config(): C {
    return this.configValue;
  }

  get url(): string {
    return this.baseUrl;
  }

  /** Replaces the given switches; the rest stay as they are. Throws a zod error for bad values. */
  updateConfig(patch: Record<string, unknown>): C {
    const next = this.schema.parse({ ...this.configValue, ...patch });
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
    this.callHold.release();
    this.faults.releaseHanging();
    this.callbacks.close();
    await this.callbacks.drain();
    await this.app.close();
  }

  /** Ends every token early, as both platforms sometimes do. */
  revokeTokens(): number {
    return this.tokens.revokeAll();
  }

  callbackStats(): CallbackStats {
    return this.callbacks.stats();
  }

  /**
   * Lets `after` more API calls through, then holds every later one (counted, checked for its token and limits,
   * then waiting before its latency) until `releaseCalls()`: a test can keep a client's call provably in flight.
   */
  holdCalls(after = 0): HoldState {
    return this.callHold.hold(after);
  }

  releaseCalls(): HoldState {
    return this.callHold.release();
  }

  callHoldState(): HoldState {
    return this.callHold.state();
  }

  // ------------------------------------------------------------------ stats

  /** Counts one call of a platform path (the control API is not counted). */
  count(path: string): void {
    this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
    this.totalCalls++;
  }

  stats(): { total: number; calls: Record<string, number> } {
    return {
      total: this.totalCalls,
      calls: Object.fromEntries([...this.calls.entries()].sort(([a], [b]) => a.localeCompare(b))),
    };
  }

  resetStats(): void {
    this.calls.clear();
    this.totalCalls = 0;
  }

  // ------------------------------------------------------------------ pipeline pieces

  /** Waits while a test holds calls, then the configured latency. */
  protected async latency(): Promise<void> {
    await this.callHold.pass();
    const ms = this.configValue.latencyMs;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  }

  /** Draws this call's fault among the configured kinds that `eligible` allows. */
  protected drawFault(
    eligible: (kind: C['faultKinds'][number]) => boolean = () => true,
  ): C['faultKinds'][number] | null {
    const { faultRate, faultKinds } = this.configValue;
    return this.faults.draw(faultRate, faultKinds.filter(eligible));
  }
}
