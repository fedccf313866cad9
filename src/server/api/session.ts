import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessService } from '../auth/access.js';
import { SESSION_COOKIE, type AuthContext } from '../auth/hook.js';
import { ApiError } from '../errors.js';
import type { RouteTable } from '../route.js';
import { loginBody, sessionSchema } from '../schemas.js';

export interface LoginLimits {
  /** Sign-in attempts per client IP. */
  perIp: { max: number; windowMs: number };
  /** Failed sign-ins per username, from anywhere. */
  perUser: { max: number; windowMs: number };
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perIp: { max: 20, windowMs: 60_000 },
  perUser: { max: 10, windowMs: 15 * 60_000 },
};

function tooMany(seconds: number, what: string): ApiError {
  const wait = Math.max(1, seconds);
  return new ApiError(
    429,
    { code: 'RATE_LIMITED', message: `too many sign-in attempts ${what}; try again in ${wait} s`, hint: 'Wait, then sign in again. `orgsync admin set-password` resets a forgotten password.' },
    { headers: { 'retry-after': String(wait) } },
  );
}

export function sessionRoutes(
  table: RouteTable,
  app: FastifyInstance,
  deps: { access: AccessService; secureCookie(req: FastifyRequest): boolean; sessionTtlMs: number; limits: LoginLimits },
): void {
  const perIp = app.createRateLimit({ max: deps.limits.perIp.max, timeWindow: deps.limits.perIp.windowMs, keyGenerator: (req) => `ip:${req.ip}` });
  const perUser = app.createRateLimit({
    max: deps.limits.perUser.max,
    timeWindow: deps.limits.perUser.windowMs,
    keyGenerator: (req) => `user:${String((req.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase()}`,
  });

  table.add({
    method: 'POST',
    url: '/api/v1/session',
    tag: 'session',
    summary: 'Sign in',
    description: 'Sets the httpOnly cookie `orgsync_session`. Limited per client IP and per username (429 with Retry-After).',
    public: true,
    body: loginBody,
    responses: {
      200: { description: 'Signed in', schema: sessionSchema },
      401: { description: 'Wrong username or password' },
      429: { description: 'Too many attempts; see Retry-After' },
    },
    handler: async ({ body, req, reply }) => {
      const ip = await perIp(req);
      if (!ip.isAllowed && ip.isExceeded) throw tooMany(ip.ttlInSeconds, 'from this address');
      const user = await perUser(req, { increment: false });
      if (!user.isAllowed && user.remaining === 0) throw tooMany(user.ttlInSeconds, `for "${body.username}"`);
      const granted = await deps.access.login(body.username, body.password);
      if (!granted) {
        await perUser(req);
        throw new ApiError(401, {
          code: 'INVALID_CREDENTIALS',
          message: 'the username or password is wrong',
          hint: 'Check both. The first admin is "admin"; its password was printed once in the server log at first start, and `orgsync admin set-password` sets a new one.',
        });
      }
      void reply.setCookie(SESSION_COOKIE, granted.id, {
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.secureCookie(req),
        path: '/',
        maxAge: Math.floor(deps.sessionTtlMs / 1000),
      });
      req.log.info({ username: granted.session.username }, 'signed in');
      return { user: { username: granted.session.username }, csrfToken: granted.session.csrfToken };
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/session',
    tag: 'session',
    summary: 'The current session and its CSRF token',
    responses: { 200: { description: 'Signed in', schema: sessionSchema } },
    handler: async ({ req }) => describe(req.auth),
  });

  table.add({
    method: 'DELETE',
    url: '/api/v1/session',
    tag: 'session',
    summary: 'Sign out',
    responses: { 204: { description: 'Signed out; the cookie is cleared' } },
    handler: async ({ req, reply }) => {
      const auth = req.auth;
      if (auth?.kind === 'session') {
        await deps.access.logout(auth.sessionId);
        void reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.secureCookie(req) });
        req.log.info({ username: auth.username }, 'signed out');
      }
      return undefined;
    },
  });
}

function describe(auth: AuthContext | null): { user: { username: string }; csrfToken: string | null } {
  if (!auth) throw new ApiError(401, { code: 'UNAUTHENTICATED', message: 'not signed in' });
  return auth.kind === 'session' ? { user: { username: auth.username }, csrfToken: auth.csrfToken } : { user: { username: `token:${auth.tokenName}` }, csrfToken: null };
}
