import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import type { AccessService } from './access.js';
import { safeEqual } from './passwords.js';

export const SESSION_COOKIE = 'orgsync_session';
export const CSRF_HEADER = 'x-csrf-token';

export type AuthContext =
  | { kind: 'session'; username: string; csrfToken: string; sessionId: string }
  | { kind: 'token'; tokenName: string };

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/** The roles a route can require. Every admin holds every role today; the field is there so a narrower one can come. */
export type Role = 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable with no session or token. Routes only; nothing else (no URL text) makes a request public. */
    public?: boolean;
    /** The role a non-public route requires; admin when not given. */
    role?: Role;
  }
}

/** How a route is reached: anyone, or a signed-in caller holding a role. */
export type Access = { public: true } | { public: false; role: Role };

/**
 * The access a route declared in its config. Fail closed: a route that declares nothing requires admin, so a route
 * added without thinking about access is locked, not open.
 */
export function accessOf(config: { public?: boolean; role?: Role } | undefined): Access {
  if (config?.public === true) return { public: true };
  return { public: false, role: config?.role ?? 'admin' };
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const SIGN_IN_HINT =
  'Sign in with POST /api/v1/session {"username", "password"}, or send an API token (`orgsync token create`) as "Authorization: Bearer <token>".';

async function authenticate(req: FastifyRequest, access: AccessService): Promise<AuthContext> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    // A request that names a token stands or falls by it: no fallback to the cookie.
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      throw new ApiError(401, {
        code: 'INVALID_TOKEN',
        message: 'the Authorization header is not "Bearer <token>"',
        hint: SIGN_IN_HINT,
      });
    }
    const token = await access.resolveToken(match[1] as string);
    if (!token) {
      throw new ApiError(401, {
        code: 'INVALID_TOKEN',
        message: 'the API token is not valid (mistyped or revoked)',
        hint: 'See `orgsync token list`; create a new one with `orgsync token create --name NAME`.',
      });
    }
    return { kind: 'token', tokenName: token.name };
  }
  const id = req.cookies[SESSION_COOKIE];
  if (id) {
    const session = await access.session(id);
    if (session) return { kind: 'session', username: session.username, csrfToken: session.csrfToken, sessionId: id };
    throw new ApiError(401, {
      code: 'SESSION_EXPIRED',
      message: 'the session has expired or was ended',
      hint: SIGN_IN_HINT,
    });
  }
  throw new ApiError(401, { code: 'UNAUTHENTICATED', message: 'sign in first', hint: SIGN_IN_HINT });
}

/** The roles a caller holds: every admin (session or API token) holds every role. */
function rolesOf(_auth: AuthContext): readonly Role[] {
  return ['admin'];
}

/**
 * The one place access is decided, from the route fastify matched (its config), never from the URL text: the text
 * can be spelt many ways (%61pi, //, case, ;params) and only the router's decision is the one that runs a handler.
 * A request that matched no route goes to the not-found handler, which answers 404 and reaches nothing. Every other
 * request needs a session cookie or an API token unless its route is public, and a role the route requires. A
 * mutation authenticated by the cookie must also carry the session's CSRF token in x-csrf-token: a cross-site page
 * can make the browser send the cookie, but cannot read the token.
 */
export function registerAuth(app: FastifyInstance, access: AccessService): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (req) => {
    if (req.is404) return;
    const required = accessOf(req.routeOptions.config);
    if (required.public) return;
    const auth = await authenticate(req, access);
    if (!rolesOf(auth).includes(required.role)) {
      throw new ApiError(403, {
        code: 'FORBIDDEN',
        message: `this route needs the ${required.role} role`,
        hint: 'Sign in as an admin.',
      });
    }
    req.auth = auth;
    if (auth.kind === 'session' && MUTATING.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !safeEqual(sent, auth.csrfToken)) {
        throw new ApiError(403, {
          code: 'CSRF_TOKEN_INVALID',
          message: `${sent === undefined ? 'the x-csrf-token header is missing' : 'the x-csrf-token header does not match the session'}`,
          hint: 'Send the csrfToken from GET /api/v1/session (or from signing in) as the x-csrf-token header on every POST, PUT, PATCH and DELETE.',
        });
      }
    }
  });
}
