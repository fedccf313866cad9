import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OrgsyncError } from '../errors.js';
import type { InboxRepo } from '../store/inbox-repo.js';
import { CallbackReceiver, CallbackRejected, MAX_CALLBACK_BODY_BYTES, type CallbackConfig } from './callbacks.js';

/** The path of a connection's callback endpoint, below the server's public URL. */
export const callbackPath = (connection: string): string => `/callbacks/${encodeURIComponent(connection)}`;

export interface CallbackRoutesOptions {
  inbox: InboxRepo;
  /** The callback settings of a connection; null when it has none (or does not exist): answered 404. */
  config(connection: string): Promise<CallbackConfig | null>;
  /** A message was stored for the connection. */
  stored(connection: string): void;
  log?: { warn(obj: Record<string, unknown>, msg: string): void };
}

/**
 * GET and POST /callbacks/:connection, public (the platforms cannot sign in) and checked by signature instead. The
 * message is stored before the reply; a platform's retry of a stored message is acknowledged and not stored again.
 * A bad request changes nothing and gets a plain 4xx; its log line names the reason, never a secret.
 */
export async function registerCallbackRoutes(app: FastifyInstance, options: CallbackRoutesOptions): Promise<void> {
  await app.register(async (scope) => {
    // The body is checked as the exact text received (XML for WeCom, JSON for DingTalk), bounded in size.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_CALLBACK_BODY_BYTES }, (_req, body, done) => done(null, body));
    // A body over the bound is refused by fastify before the handler runs: answered as the receiver refuses (plain
    // text, CALLBACK_TOO_LARGE, logged), not as an API error naming the API's 1 MiB. Other errors go up as before.
    scope.setErrorHandler(async (err: { code?: string }, req: FastifyRequest, reply: FastifyReply) => {
      if (err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw err;
      const connection = (req.params as { connection?: string } | undefined)?.connection;
      const message = `the body is larger than ${MAX_CALLBACK_BODY_BYTES} bytes`;
      options.log?.warn({ connection, code: 'CALLBACK_TOO_LARGE', method: req.method }, `callback refused: ${message}`);
      await reply.code(413).type('text/plain').send(`CALLBACK_TOO_LARGE: ${message}`);
    });

    const handle = async (req: FastifyRequest<{ Params: { connection: string } }>, reply: FastifyReply): Promise<void> => {
      const connection = req.params.connection;
      const config = await options.config(connection);
      if (!config) {
        await reply.code(404).type('text/plain').send('no callback is configured for this connection');
        return;
      }
      try {
        const outcome = new CallbackReceiver(config).receive({
          method: req.method,
          query: (req.query ?? {}) as Record<string, unknown>,
          body: typeof req.body === 'string' ? req.body : '',
        });
        if (outcome.message && outcome.message.events.length > 0) {
          const added = await options.inbox.add({ connection, dedupeKey: outcome.message.dedupeKey, type: outcome.message.type, events: outcome.message.events });
          if (added) options.stored(connection);
        }
        await reply.code(outcome.status).type(outcome.contentType).send(outcome.body);
      } catch (err) {
        if (!(err instanceof OrgsyncError)) throw err;
        const status = err instanceof CallbackRejected ? err.status : 400;
        options.log?.warn({ connection, code: err.code, method: req.method }, `callback refused: ${err.message}`);
        await reply.code(status).type('text/plain').send(`${err.code}: ${err.message}`);
      }
    };
    scope.get('/callbacks/:connection', { config: { public: true } }, handle);
    scope.post('/callbacks/:connection', { config: { public: true } }, handle);
  });
}
