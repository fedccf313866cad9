import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonFields } from '../common/core.js';
import type { SimConfig } from './config.js';
import type { SimCorp } from './corp.js';

/*
 * What the route modules (api.ts, sign-in.ts, control.ts) see of the simulator: they are handed the running
 * WecomSimulator (server.ts), which imports them, so they name it by these types rather than by its class.
 */

export interface SimulatorIdentity {
  corpId: string;
  agentId: number;
  /** The self-built app's secret. */
  secret: string;
  /** The 通讯录同步 (contacts sync) secret. */
  contactsSecret: string;
}

export type SecretKind = 'app' | 'contacts';

/** Everything a route needs to know about the caller and the simulated platform. */
export interface CallContext {
  kind: SecretKind;
  path: string;
}

/** The part of the simulator every route module reads. */
export interface SimulatorState {
  readonly config: SimConfig;
  readonly identity: SimulatorIdentity;
  readonly corp: SimCorp;
  /** Counts a call of this path (GET /__sim/stats). */
  count(path: string): void;
}

/** The pipeline every API call goes through (WecomSimulator.handle). */
export type CallHandler = (
  req: FastifyRequest,
  reply: FastifyReply,
  path: string,
  options: { authenticated: boolean },
  handler: (ctx: CallContext) => Record<string, unknown> | JsonFields | Promise<Record<string, unknown> | JsonFields>,
) => Promise<void>;
