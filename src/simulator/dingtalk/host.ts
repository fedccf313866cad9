import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonFields } from '../common/core.js';
import type { DingConfig } from './config.js';
import type { DingCorp } from './corp.js';
import type { ContactEvent } from './model.js';

/*
 * What the route modules (oapi.ts, api-host.ts, sign-in.ts, control.ts) see of the simulator: they are handed the
 * running DingtalkSimulator (server.ts), which imports them, so they name it by these types rather than by its class.
 */

export interface DingtalkIdentity {
  corpId: string;
  agentId: number;
  /** The app's Client ID (AppKey). */
  clientId: string;
  /** The app's Client Secret (AppSecret). */
  clientSecret: string;
}

/** Sizes that give a department of more than 1,000 direct members (the generator's wide one) and paging to test. */
export type Auth = 'app' | 'user' | 'none';

export type Host = 'oapi' | 'api';

export interface CallContext {
  path: string;
  /** The user of a user access token (auth 'user'). */
  userid?: string;
}

export type Handler<R> = (ctx: CallContext) => R | Promise<R>;

/** The part of the simulator every route module reads. */
export interface SimulatorState {
  readonly config: DingConfig;
  readonly identity: DingtalkIdentity;
  readonly corp: DingCorp;
  /** Counts a call of this path (GET /__sim/stats). */
  count(path: string): void;
  issueAppToken(): { token: string; expiresIn: number };
  /** Sends the callbacks of these changes. */
  emit(events: readonly ContactEvent[]): void;
}

/** The pipelines API calls go through (DingtalkSimulator.oapi and .apiHost). */
export type OapiCall = (
  req: FastifyRequest,
  reply: FastifyReply,
  path: string,
  auth: Auth,
  handler: Handler<Record<string, unknown> | JsonFields>,
) => Promise<void>;
export type ApiHostCall = (
  req: FastifyRequest,
  reply: FastifyReply,
  path: string,
  auth: Auth,
  handler: Handler<Record<string, unknown>>,
) => Promise<void>;
