import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { zodIssues } from '../../errors.js';
import type { CallbackStats } from './callback-queue.js';
import { configIssues } from './config.js';
import type { HoldState } from './hold.js';
import { jsonBody, jsonObjectBody } from './request.js';

/**
 * The control API under /__sim/ (not part of either platform), the same on both simulators: counters, ground
 * truth, changes, switches, token revocation, callback counters and the ready line's facts.
 */

/** What the control API reads and changes on a simulator. */
export interface ControlTarget {
  stats(): { total: number; calls: Record<string, number> };
  resetStats(): void;
  /** The ground truth, every field, in the platform's read shapes. */
  directory(): unknown;
  /** The ready line's facts, the URL included. */
  readyLine(): Record<string, unknown>;
  callbackStats(): CallbackStats;
  readonly callbacks: { hold(after?: number): CallbackStats; release(): CallbackStats };
  holdCalls(after?: number): HoldState;
  releaseCalls(): HoldState;
  callHoldState(): HoldState;
  revokeTokens(): number;
  /** Overwrites fields of a user unchecked (see /__sim/plant); false when there is no such user. */
  plantUserFields(userid: string, fields: Record<string, unknown>): boolean;
  /** The same for a department (see /__sim/plant); false when there is no such department. */
  plantDepartmentFields(id: number, fields: Record<string, unknown>): boolean;
  readonly config: unknown;
  /** Throws a zod error for bad values. */
  updateConfig(patch: Record<string, unknown>): unknown;
}

/** How /__sim/mutate changes a simulator's org. */
export interface Mutations<Op extends { op: string }> {
  schema: z.ZodType<Op>;
  /** A realistic list of `count` changes, valid in order against the current org. */
  random(options: { count: number; seed: number }): Op[];
  /** Applies one operation (and sends its callbacks); throws when the platform's rules refuse it. */
  apply(op: Op): void;
  /** The platform's error body for a refusal thrown by `apply`, or null for anything else (rethrown). */
  refusal(err: unknown): Record<string, unknown> | null;
}

/** Fields /__sim/plant leaves alone: the corp's indexes are keyed by them. */
const PLANT_FORBIDDEN = [
  'userid',
  'department',
  'dept_id_list',
  'main_department',
  'id',
  'parentid',
  'dept_id',
  'parent_id',
];

export function badRequest(reply: FastifyReply, message: string, issues?: unknown): FastifyReply {
  return reply.code(400).send({ error: { message, ...(issues ? { issues } : {}) } });
}

type Issue = z.core.$ZodIssue;

/**
 * The issues under their fields, worded by `zodIssues`: a union that no branch matched is reported by the branch
 * that got furthest, so a bad field inside `operations` is named, rather than the union as a whole.
 */
export function fieldIssues(issues: readonly Issue[]): Array<{ path: string; message: string }> {
  return zodIssues(issues).map((i) => ({ path: i.path, message: i.message }));
}

/**
 * Parses a control-API body with `schema`; on failure answers 400 naming each bad field and returns undefined.
 */
export function parseBody<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  schema: z.ZodType<T>,
  expected: string,
): T | undefined {
  const raw = jsonBody(req);
  if ('problem' in raw) {
    badRequest(reply, raw.problem);
    return undefined;
  }
  const parsed = schema.safeParse(raw.value);
  if (!parsed.success) {
    badRequest(reply, expected, fieldIssues(parsed.error.issues));
    return undefined;
  }
  return parsed.data;
}

export function registerControl<Op extends { op: string }>(
  app: FastifyInstance,
  sim: ControlTarget,
  mutations: Mutations<Op>,
): void {
  app.get('/__sim/stats', async () => sim.stats());
  app.post('/__sim/stats/reset', async () => {
    sim.resetStats();
    return { ok: true };
  });
  app.get('/__sim/directory', async () => sim.directory());
  app.get('/__sim/identity', async () => sim.readyLine());
  app.get('/__sim/callbacks', async () => sim.callbackStats());
  // Holds for tests: stop deliveries or API calls at a known count, do something there, then release.
  const holdSchema = z.strictObject({ after: z.number().int().min(0).max(1_000_000).default(0) });
  const holdExpected = 'expected {} or { "after": N }: N more pass, then the rest wait for the release';
  app.post('/__sim/callbacks/hold', async (req, reply) => {
    const body = parseBody(req, reply, holdSchema, holdExpected);
    if (body === undefined) return reply;
    return sim.callbacks.hold(body.after);
  });
  app.post('/__sim/callbacks/release', async () => sim.callbacks.release());
  app.get('/__sim/calls/hold', async () => sim.callHoldState());
  app.post('/__sim/calls/hold', async (req, reply) => {
    const body = parseBody(req, reply, holdSchema, holdExpected);
    if (body === undefined) return reply;
    return sim.holdCalls(body.after);
  });
  app.post('/__sim/calls/release', async () => sim.releaseCalls());
  app.post('/__sim/tokens/revoke', async () => ({ revoked: sim.revokeTokens() }));
  app.get('/__sim/config', async () => sim.config);

  app.post('/__sim/config', async (req, reply) => {
    const patch = jsonObjectBody(req);
    if ('problem' in patch) return badRequest(reply, `${patch.problem} (an object of the switches to change)`);
    try {
      return sim.updateConfig(patch.value);
    } catch (err) {
      if (err instanceof z.ZodError) return badRequest(reply, 'invalid config', configIssues(err));
      throw err;
    }
  });

  // A record the real platform sends malformed (a name that is a number, an escape sequence in a field): the mutate
  // operations check values as the platform does and cannot make one. Ids, parents and memberships cannot be
  // planted: the corp's indexes hang on them.
  const fields = z.record(
    z.string().refine((k) => !PLANT_FORBIDDEN.includes(k), {
      message: `cannot be planted: ${PLANT_FORBIDDEN.join(', ')} stay as they are`,
    }),
    z.json(),
  );
  const plantSchema = z.union([
    z.strictObject({ userid: z.string().min(1), fields }),
    z.strictObject({ departmentId: z.number().int(), fields }),
  ]);
  app.post('/__sim/plant', async (req, reply) => {
    const body = parseBody(
      req,
      reply,
      plantSchema,
      'expected { "userid": "…" } or { "departmentId": N }, with "fields": { "<field>": <any JSON value> }',
    );
    if (body === undefined) return reply;
    const planted = body.fields as Record<string, unknown>;
    if ('userid' in body) {
      if (!sim.plantUserFields(body.userid, planted))
        return reply.code(404).send({ error: { message: `no user with userid "${body.userid}"`, path: 'userid' } });
    } else if (!sim.plantDepartmentFields(body.departmentId, planted)) {
      return reply.code(404).send({ error: { message: `no department ${body.departmentId}`, path: 'departmentId' } });
    }
    return { planted: Object.keys(planted) };
  });

  const mutateSchema = z.union([
    z.strictObject({ operations: z.array(mutations.schema) }),
    z.strictObject({ random: z.strictObject({ count: z.number().int().min(0).max(100_000), seed: z.number().int() }) }),
  ]);
  app.post('/__sim/mutate', async (req, reply) => {
    const body = parseBody(
      req,
      reply,
      mutateSchema,
      'expected { "operations": [...] } or { "random": { "count": N, "seed": S } }',
    );
    if (body === undefined) return reply;
    const operations = 'operations' in body ? body.operations : mutations.random(body.random);
    let applied = 0;
    for (const [index, op] of operations.entries()) {
      try {
        mutations.apply(op);
        applied++;
      } catch (err) {
        const refusal = mutations.refusal(err);
        if (refusal === null) throw err;
        return reply.code(409).send({ applied, error: { index, op: op.op, ...refusal } });
      }
    }
    return { applied };
  });
}
