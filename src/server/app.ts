import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { ConnectionService } from '../connections/connections.js';
import { registerEvents } from '../events/server.js';
import { eventRoutes } from './api/events.js';
import type { EventPump, RetrySettings } from '../events/pump.js';
import { OrgsyncError, errorInfo } from '../errors.js';
import type { Store } from '../store/store.js';
import { connectionRoutes } from './api/connections.js';
import { directoryRoutes } from './api/directory.js';
import { platformRoutes } from './api/platforms.js';
import { importRoutes } from './api/imports.js';
import { runRoutes } from './api/runs.js';
import { DEFAULT_LOGIN_LIMITS, sessionRoutes, type LoginLimits } from './api/session.js';
import type { AccessService } from './auth/access.js';
import { accessOf, registerAuth, type Access } from './auth/hook.js';
import { registerPasswordChangeGate } from './auth/password-change.js';
import { registerConsole } from './console.js';
import { ApiError, fromOrgsyncError } from './errors.js';
import { openApiDocument } from './openapi.js';
import { ImportService } from './import-service.js';
import { ImportUploads } from './import-uploads.js';
import { RouteTable, type AnyRouteSpec } from './route.js';
import { ReconcileScheduler } from './reconcile-scheduler.js';
import { RunRunner } from './runner.js';

export interface AppDeps {
  store: Store;
  connections: ConnectionService;
  access: AccessService;
  consoleDir: string;
  publicUrl: string | undefined;
  sessionTtlMs: number;
  loginLimits?: LoginLimits | undefined;
  version: string;
  /** DingTalk: calls per API per second of the event runs' reads (default 20). */
  dingtalkQpsLimit?: number;
  /** How failed event messages are tried again (ORGSYNC_EVENT_MAX_ATTEMPTS, ORGSYNC_EVENT_RETRY_MS). */
  eventRetry?: Partial<RetrySettings>;
  /** The IANA time zone of the scheduled full syncs. */
  timezone: string;
  /** Where uploaded import files are kept (in `uploads/`). */
  dataDir: string;
  /** The largest upload POST /api/v1/imports keeps (ORGSYNC_IMPORT_MAX_SIZE). */
  importMaxBytes: number;
  /** The time uploads expire by (ms since the epoch); default Date.now. */
  clock?: (() => number) | undefined;
}

/** Where secrets could show up in a log line; pino replaces them before the line is written. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'body',
  '*.body',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'contactsSecret',
  '*.contactsSecret',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'csrfToken',
  '*.csrfToken',
];

/**
 * DEL, C1 (U+009B is a one-character CSI on many terminals) and the Unicode line separators, which JSON leaves raw:
 * the log goes to a terminal as often as to a collector, and names and platform errors in it come from outside.
 */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;

/** A JSON log line with those characters as `\uXXXX` escapes: the same JSON value, nothing a terminal acts on. */
export function escapeLogLine(line: string): string {
  return line.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function loggerOptions(
  level: string,
  stream: { write(line: string): void } | undefined,
): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: escapeLogLine },
    ...(stream ? { stream } : {}),
  };
}

/** A route as the app registered it, with the access its config declares (collected by an onRoute hook). */
export interface RegisteredRoute {
  method: string;
  url: string;
  access: Access;
}

/**
 * The Content-Security-Policy of every answer. The console is one script and one stylesheet from its own origin;
 * React's style props are set through the CSSOM, which style-src does not govern, so nothing inline is allowed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

/** Trust the nearest `count` proxies. */
function hops(count: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < count;
}

/** fastify's own request errors (bad JSON, wrong content type, body too large) in the API's error shape. */
function fastifyClientError(err: { code?: string; statusCode?: number; message: string }): ApiError | undefined {
  const status = err.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const codes: Record<string, [string, string]> = {
    FST_ERR_CTP_INVALID_JSON_BODY: ['INVALID_JSON', 'Send the body as valid JSON.'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['INVALID_JSON', 'Send a JSON body, or no content-type header when there is none.'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.'],
    FST_ERR_CTP_BODY_TOO_LARGE: ['BODY_TOO_LARGE', 'The API takes bodies up to 1 MiB.'],
  };
  const [code, hint] = codes[err.code ?? ''] ?? [status === 400 ? 'INVALID_INPUT' : `HTTP_${status}`, undefined];
  if (code === 'INVALID_JSON' && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    return new ApiError(400, { code, message: 'the body is not valid JSON', hint });
  return new ApiError(status, { code, message: err.message, hint });
}

/**
 * The whole server: API routes under /api/v1, their OpenAPI document, /healthz, the console, the runner of
 * background runs and the scheduler of full syncs (neither started: call runner.start() and schedule.start()).
 */
export async function buildApp(
  deps: AppDeps,
  options: { logger: FastifyServerOptions['logger']; trustProxy?: boolean | number | string },
): Promise<{
  app: FastifyInstance;
  routes: AnyRouteSpec[];
  registered: RegisteredRoute[];
  runner: RunRunner;
  events: EventPump;
  schedule: ReconcileScheduler;
}> {
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: typeof options.trustProxy === 'number' ? hops(options.trustProxy) : (options.trustProxy ?? false),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // A URL fastify cannot decode (a lone %, bad UTF-8) or route: answered in the API's error shape with the same
    // headers as every other answer (fastify's default writes it bare, before any hook).
    frameworkErrors: (err, req, reply: FastifyReply) => {
      securityHeaders(req, reply, httpsBeforeRouting);
      const answer =
        (err.code === 'FST_ERR_BAD_URL' ? undefined : fastifyClientError(err)) ??
        new ApiError(400, {
          code: 'INVALID_URL',
          message: 'the URL cannot be read',
          hint: 'Check the URL; percent-encode characters outside ASCII as UTF-8.',
        });
      void reply.code(answer.statusCode).send(answer.body());
    },
  });
  // Where the browser reached us over https. HSTS is sent only then: over plain http browsers ignore it, and sent
  // from a LAN or test address it would pin that host to https for a year.
  const https = (req: FastifyRequest): boolean =>
    deps.publicUrl?.startsWith('https://') === true || req.protocol === 'https';
  // fastify builds the request of a framework error (an unreadable URL) without its trustProxy rules, so there
  // req.protocol never reads X-Forwarded-Proto. Believing the header whenever proxies are trusted at all is safe
  // for HSTS alone: a browser ignores the header on an answer that did not come over https.
  const proxied = typeof options.trustProxy === 'number' ? options.trustProxy > 0 : Boolean(options.trustProxy);
  const httpsBeforeRouting = (req: FastifyRequest): boolean =>
    https(req) ||
    (proxied &&
      String(req.headers['x-forwarded-proto'] ?? '')
        .split(',')[0]
        ?.trim()
        .toLowerCase() === 'https');
  /** The headers of every answer: API, console, healthz, callbacks, 404s and errors alike. */
  const securityHeaders = (req: FastifyRequest, reply: FastifyReply, overHttps = https): void => {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'same-origin');
    void reply.header('x-frame-options', 'DENY');
    if (overHttps(req)) void reply.header('strict-transport-security', 'max-age=31536000');
    // Nothing is cached unless its route said so (the console's files set their own cache-control).
    if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
  };
  // Every route the app ends up with (plugins' and fastify's own HEAD routes too), as the router knows it: the list
  // the security tests walk, so a route added later is covered without editing them.
  const registered: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      registered.push({ method, url: route.url, access: accessOf(route.config) });
  });
  const runner = new RunRunner(deps.store, app.log);
  const schedule = new ReconcileScheduler({
    store: deps.store,
    connections: deps.connections,
    runner,
    log: app.log,
    timezone: deps.timezone,
  });
  // The API speaks JSON only; a text/plain body (which a cross-site form can send) is refused with 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler(async (err, req, reply) => {
    let answer: ApiError;
    if (err instanceof ApiError) answer = err;
    else if (err instanceof OrgsyncError) answer = fromOrgsyncError(err);
    else
      answer =
        fastifyClientError(err as { code?: string; statusCode?: number; message: string }) ??
        new ApiError(500, {
          code: 'INTERNAL',
          message: 'the server failed to answer',
          hint: 'See the server log for the error.',
        });
    if (answer.statusCode >= 500)
      req.log.error(
        { err: err instanceof Error ? { ...errorInfo(err), stack: err.stack } : errorInfo(err) },
        'request failed',
      );
    for (const [name, value] of Object.entries(answer.headers)) void reply.header(name, value);
    return reply.code(answer.statusCode).send(answer.body());
  });

  // One line per answered request: the route, not the query string (it may hold a searched name or number).
  app.addHook('onResponse', async (req, reply) => {
    req.log.info(
      {
        method: req.method,
        path: req.url.split('?', 1)[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  app.addHook('onSend', async (req, reply, payload) => {
    securityHeaders(req, reply);
    return payload;
  });

  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, { global: false });
  registerAuth(app, deps.access);
  registerPasswordChangeGate(app, deps.access);

  const secureCookie = https;
  const table = new RouteTable(app);
  sessionRoutes(table, app, {
    access: deps.access,
    secureCookie,
    sessionTtlMs: deps.sessionTtlMs,
    limits: deps.loginLimits ?? DEFAULT_LOGIN_LIMITS,
  });
  connectionRoutes(table, {
    connections: deps.connections,
    runner,
    schedule,
    baseUrl: () => deps.publicUrl ?? app.listeningOrigin,
  });
  platformRoutes(table);
  runRoutes(table, { store: deps.store, runner });
  const uploads = new ImportUploads(deps.dataDir, { maxBytes: deps.importMaxBytes, now: deps.clock ?? Date.now });
  importRoutes(table, {
    imports: new ImportService({ store: deps.store, connections: deps.connections, runner, uploads }),
  });
  // Uploads nobody applied nor asked for again are deleted at start and every 10 minutes (and at every upload).
  let sweeper: NodeJS.Timeout | undefined;
  const sweepUploads = (): void => {
    uploads.sweep().catch((err: unknown) => app.log.warn({ err: errorInfo(err) }, 'deleting expired uploads failed'));
  };
  app.addHook('onReady', async () => {
    sweepUploads();
    sweeper = setInterval(sweepUploads, 10 * 60_000);
    sweeper.unref();
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
  directoryRoutes(table, { store: deps.store });
  table.add({
    method: 'GET',
    url: '/api/docs',
    tag: 'meta',
    summary: 'This API described as OpenAPI 3.1 (JSON)',
    responses: { 200: { description: 'The OpenAPI document' } },
    handler: async () => openApiDocument(table.routes, { version: deps.version, serverUrl: deps.publicUrl }),
  });

  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    try {
      await deps.store.directory.revision();
      return { status: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  // Public, and checked by signature: the platforms cannot sign in.
  const events = await registerEvents(app, {
    store: deps.store,
    connections: deps.connections,
    ...(deps.dingtalkQpsLimit !== undefined ? { dingtalkQpsLimit: deps.dingtalkQpsLimit } : {}),
    ...(deps.eventRetry !== undefined ? { retry: deps.eventRetry } : {}),
  });
  eventRoutes(table, { store: deps.store, pump: events });

  await registerConsole(app, deps.consoleDir);
  return { app, routes: table.routes, registered, runner, events, schedule };
}
