import type { FastifyInstance } from 'fastify';
import type { Connection, ConnectionService } from '../connections/connections.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import type { ObjectReader } from '../connectors/contract.js';
import { definitionOf } from '../connectors/registry.js';
import { OrgsyncError } from '../errors.js';
import type { Store } from '../store/store.js';
import { CallbackLimiter, type CallbackLimits } from './callback-limits.js';
import { EventPump, type EventTarget, type RetrySettings } from './pump.js';
import { registerCallbackRoutes, type CallbackEndpoint } from './routes.js';

export interface EventsDeps {
  store: Store;
  connections: ConnectionService;
  /** DingTalk: calls per API per second of the event reads (default 20, DingTalk's limit for an internal app). */
  dingtalkQpsLimit?: number;
  /** Limits of refused callback requests; DEFAULT_CALLBACK_LIMITS for those not given. */
  callbackLimits?: Partial<CallbackLimits>;
  /** How failed messages are tried again before they become dead letters; DEFAULT_RETRY for what is not given. */
  retry?: Partial<RetrySettings>;
}

/**
 * The server's part of real-time sync: the callback endpoints (/callbacks/<connection>) and the pump that turns
 * stored messages into event runs. Connections without a callback Token and EncodingAESKey have no endpoint.
 */
export async function registerEvents(app: FastifyInstance, deps: EventsDeps): Promise<EventPump> {
  const tokens = new TokenCache();
  const connections = new DecodedConnections(deps.store, deps.connections);
  /** The connection's reads, through a client kept as long as the connection is unchanged. */
  const readerOf = (entry: Decoded): ObjectReader => {
    const platform = definitionOf(entry.connection);
    entry.client ??= platform.client(entry.connection, {
      tokens,
      ...(deps.dingtalkQpsLimit !== undefined ? { qpsLimit: deps.dingtalkQpsLimit } : {}),
    });
    return platform.objectReader(entry.client);
  };

  const pump = new EventPump({
    store: deps.store,
    inbox: deps.store.inbox,
    async resolve(name): Promise<EventTarget | null> {
      const entry = await connections.get(name);
      if (!entry) return null;
      // One client for the runs one after another: its rate limiter counts their calls together, as the platform does.
      return { reader: readerOf(entry), policy: entry.connection.policy };
    },
    onRun: (name, report) =>
      app.log.info(
        { connection: name, runId: report.runId, status: report.status, changes: report.changes },
        'event run',
      ),
    onError: (name, err) =>
      app.log.warn(
        { connection: name, error: err instanceof Error ? err.message : String(err) },
        'event run failed; the events stay and are tried again',
      ),
    onDeadLetter: (name, ids, error) =>
      app.log.warn(
        {
          connection: name,
          messages: ids,
          code: error.code,
          error: error.message,
          ...(error.object !== undefined ? { object: error.object } : {}),
        },
        'events became dead letters: see `orgsync runs dead-letters` or 运行日志, retry once the cause is fixed',
      ),
    ...(deps.retry !== undefined ? { retry: deps.retry } : {}),
  });

  const limiter = new CallbackLimiter(deps.callbackLimits);
  // startServer sets the limits it was given here (buildApp passes no options of the callbacks through).
  app.decorate('callbackLimiter', limiter);
  await registerCallbackRoutes(app, {
    inbox: deps.store.inbox,
    async endpoint(name): Promise<CallbackEndpoint> {
      let entry: Decoded | undefined;
      try {
        entry = await connections.get(name);
      } catch (err) {
        // The secrets cannot be opened (another master key, a damaged row): the operator's to fix, the caller's to
        // know nothing of. The error's message names where the key was looked for, so only its code is kept.
        if (err instanceof OrgsyncError) return { unavailable: 'secrets-unreadable', code: err.code };
        throw err;
      }
      const c = entry?.connection;
      if (!c) return { unavailable: 'unknown-connection' };
      const token = c.secrets.callbackToken;
      const encodingAesKey = c.secrets.callbackAesKey;
      if (token === undefined || encodingAesKey === undefined) return { unavailable: 'no-callback-configured' };
      return {
        config: { platform: c.platform, token, encodingAesKey, receiverId: definitionOf(c).callbackReceiverId(c) },
      };
    },
    stored: (name) => pump.notify(name),
    limiter,
    log: app.log,
  });
  return pump;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The limits of refused callback requests (src/events/callback-limits.ts). */
    callbackLimiter: CallbackLimiter;
  }
}

interface Decoded {
  connection: Connection;
  /** The platform's client, made by its definition. */
  client?: unknown;
}

/**
 * Connections with their secrets opened, kept while the stored row stays the same: every callback request and
 * every event run needs its connection, and opening the secrets (and checking settings and policy) each time cost
 * more than storing the message. A row read per use still notices any change at once, from this process or another.
 */
class DecodedConnections {
  readonly #entries = new Map<string, Decoded & { stamp: string }>();

  constructor(
    private readonly store: Store,
    private readonly service: ConnectionService,
  ) {}

  async get(name: string): Promise<Decoded | undefined> {
    const row = await this.store.connections.get(name);
    if (!row) {
      this.#entries.delete(name);
      return undefined;
    }
    // The sealed secrets change on every update of a secret (a fresh nonce), the rest is compared as stored.
    const stamp = JSON.stringify([row.id, row.platform, row.updatedAt, row.secrets, row.settings, row.policy]);
    const cached = this.#entries.get(name);
    if (cached?.stamp === stamp) return cached;
    let connection: Connection;
    try {
      connection = await this.service.get(name);
    } catch (err) {
      if (err instanceof OrgsyncError && err.code === 'CONNECTION_NOT_FOUND') return undefined;
      throw err;
    }
    const entry = { stamp, connection };
    this.#entries.set(name, entry);
    return entry;
  }
}
