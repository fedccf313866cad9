import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OrgsyncError } from '../errors.js';
import type { InboxRepo } from '../store/inbox-repo.js';
import { CallbackLimiter, type Limited } from './callback-limits.js';
import { CallbackReceiver, CallbackRejected, MAX_CALLBACK_BODY_BYTES, type CallbackConfig } from './callbacks.js';

/** The path of a connection's callback endpoint, below the server's public URL. */
export const callbackPath = (connection: string): string => `/callbacks/${encodeURIComponent(connection)}`;

/**
 * What a connection name leads to: its callback settings, or why it has no endpoint. The three reasons are answered
 * alike (see NO_ENDPOINT); only the log tells them apart.
 */
export type CallbackEndpoint =
  | { config: CallbackConfig }
  | { unavailable: 'unknown-connection' | 'no-callback-configured' | 'secrets-unreadable'; code?: string };

/** The one answer for a name with no usable endpoint, whatever the reason: a caller learns nothing from it. */
export const NO_ENDPOINT = { status: 404, text: 'no callback is configured for this connection' } as const;

const UNAVAILABLE_LOG: Record<Extract<CallbackEndpoint, { unavailable: string }>['unavailable'], string> = {
  'unknown-connection': 'callback endpoint unavailable: there is no such connection',
  'no-callback-configured': 'callback endpoint unavailable: the connection has no callback Token and EncodingAESKey',
  'secrets-unreadable':
    "callback endpoint unavailable: the connection's stored secrets cannot be opened (is the master key the one they were sealed with?)",
};

interface Log {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface CallbackRoutesOptions {
  inbox: InboxRepo;
  /** The endpoint of a connection name. */
  endpoint(connection: string): Promise<CallbackEndpoint>;
  /** A message was stored for the connection. */
  stored(connection: string): void;
  /** Counts refused requests and answers 429 past the limits; default limits when absent. */
  limiter?: CallbackLimiter;
  log?: Log;
}

const RATE_LIMITED = 'CALLBACK_RATE_LIMITED: too many refused requests; try again later';

/**
 * GET and POST /callbacks/:connection, public (the platforms cannot sign in) and checked by signature instead. The
 * message is stored before the reply; a platform's retry of a stored message is acknowledged and not stored again.
 * A bad request changes nothing and gets a plain 4xx with one log line naming the reason, never a secret nor the
 * body; a client over the limit of refused requests gets 429 before its body is read.
 */
export async function registerCallbackRoutes(app: FastifyInstance, options: CallbackRoutesOptions): Promise<void> {
  const limiter = options.limiter ?? new CallbackLimiter();
  const log = options.log;
  const crossed = (reached: Limited, ip: string, connection: string | undefined): void => {
    if (reached === null) return;
    const { perIp, perConnection, windowMs } = limiter.limits;
    log?.warn(
      { ip, connection, limit: reached === 'ip' ? perIp : perConnection, windowMs },
      reached === 'ip'
        ? 'callback refusals from this client reached the limit: it is answered 429 until the window slides'
        : 'callback refusals for this connection reached the limit: clients refused in the window are answered 429 until it slides',
    );
  };

  await app.register(async (scope) => {
    // The body is kept as the exact text received (XML for WeCom, JSON for DingTalk), bounded in size, and only
    // scanned by the receiver: no parser sees it before its signature is checked.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_CALLBACK_BODY_BYTES }, (_req, body, done) =>
      done(null, body),
    );

    // Before the body is read: a client over its limit costs a map lookup.
    scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const connection = (req.params as { connection?: string } | undefined)?.connection ?? '';
      const limited = limiter.limited(req.ip, connection);
      if (limited === null) return;
      const retryAfter = Math.ceil(limiter.limits.windowMs / 1000);
      await reply.code(429).header('retry-after', String(retryAfter)).type('text/plain').send(RATE_LIMITED);
      return reply;
    });

    // fastify's own refusals (a body over the bound, a broken body stream) are answered as the receiver refuses:
    // plain text, one log line without a stack, counted. Anything else is the server's own failure and goes up.
    scope.setErrorHandler(
      async (
        err: { code?: string; statusCode?: number; message?: string },
        req: FastifyRequest,
        reply: FastifyReply,
      ) => {
        const status = err.statusCode;
        if (status === undefined || status < 400 || status >= 500) throw err;
        const connection = (req.params as { connection?: string } | undefined)?.connection;
        const [code, message] =
          err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? ['CALLBACK_TOO_LARGE', `the body is larger than ${MAX_CALLBACK_BODY_BYTES} bytes`]
            : ['CALLBACK_REQUEST_INVALID', 'the request could not be read'];
        log?.warn({ connection, code, method: req.method, fastifyCode: err.code }, `callback refused: ${message}`);
        crossed(limiter.refused(req.ip), req.ip, connection);
        await reply.code(status).type('text/plain').send(`${code}: ${message}`);
      },
    );

    const handle = async (
      req: FastifyRequest<{ Params: { connection: string } }>,
      reply: FastifyReply,
    ): Promise<void> => {
      const connection = req.params.connection;
      const endpoint = await options.endpoint(connection);
      if ('unavailable' in endpoint) {
        const line = {
          connection,
          cause: endpoint.unavailable,
          ...(endpoint.code !== undefined ? { code: endpoint.code } : {}),
          method: req.method,
        };
        if (endpoint.unavailable === 'unknown-connection') log?.info(line, UNAVAILABLE_LOG[endpoint.unavailable]);
        else log?.warn(line, UNAVAILABLE_LOG[endpoint.unavailable]);
        crossed(limiter.refused(req.ip), req.ip, undefined);
        await reply.code(NO_ENDPOINT.status).type('text/plain').send(NO_ENDPOINT.text);
        return;
      }
      try {
        const outcome = new CallbackReceiver(endpoint.config).receive({
          method: req.method,
          query: (req.query ?? {}) as Record<string, unknown>,
          body: typeof req.body === 'string' ? req.body : '',
        });
        if (outcome.message && outcome.message.events.length > 0) {
          const added = await options.inbox.add({
            connection,
            dedupeKey: outcome.message.dedupeKey,
            type: outcome.message.type,
            events: outcome.message.events,
          });
          if (added) options.stored(connection);
        }
        await reply.code(outcome.status).type(outcome.contentType).send(outcome.body);
      } catch (err) {
        if (!(err instanceof OrgsyncError)) throw err;
        const status = err instanceof CallbackRejected ? err.status : 400;
        log?.warn({ connection, code: err.code, method: req.method }, `callback refused: ${err.message}`);
        crossed(limiter.refused(req.ip, connection), req.ip, connection);
        await reply.code(status).type('text/plain').send(`${err.code}: ${err.message}`);
      }
    };
    // Public: the auth hook lets these through by the route's own config (the platforms cannot sign in).
    scope.get('/callbacks/:connection', { config: { public: true } }, handle);
    scope.post('/callbacks/:connection', { config: { public: true } }, handle);
  });
}
