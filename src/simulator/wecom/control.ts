import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { randomOperations } from '../org-generator.js';
import { WecomApiError } from './errors.js';
import type { SimOperation } from './model.js';
import type { WecomSimulator } from './server.js';

/** The simulator's own control API under /__sim/ (not part of WeCom): ground truth, changes, switches, counters. */

const department = z.object({ id: z.number().int().optional(), name: z.string(), parentid: z.number().int(), order: z.number().int().optional() });

/**
 * A user's fields as WecomUser types them. Unknown keys and wrong types are refused here (400): the corp would
 * otherwise store them as they came, or fail on them with a 500.
 */
const extAttr = z.strictObject({
  type: z.union([z.literal(0), z.literal(1)]),
  name: z.string(),
  text: z.strictObject({ value: z.string() }).optional(),
  web: z.strictObject({ url: z.string(), title: z.string() }).optional(),
});
const userFields = {
  order: z.array(z.number().int()).optional(),
  is_leader_in_dept: z.array(z.number().int()).optional(),
  main_department: z.number().int().optional(),
  position: z.string().optional(),
  mobile: z.string().optional(),
  gender: z.enum(['0', '1', '2']).optional(),
  email: z.string().optional(),
  biz_mail: z.string().optional(),
  direct_leader: z.array(z.string()).optional(),
  avatar: z.string().optional(),
  thumb_avatar: z.string().optional(),
  telephone: z.string().optional(),
  alias: z.string().optional(),
  address: z.string().optional(),
  extattr: z.strictObject({ attrs: z.array(extAttr) }).optional(),
  status: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(5)]).optional(),
  qr_code: z.string().optional(),
  external_position: z.string().optional(),
};
const operationSchema: z.ZodType<SimOperation> = z.discriminatedUnion('op', [
  z.object({ op: z.literal('createDepartment'), department }),
  z.object({
    op: z.literal('updateDepartment'),
    department: z.object({ id: z.number().int(), name: z.string().optional(), parentid: z.number().int().optional(), order: z.number().int().optional() }),
  }),
  z.object({ op: z.literal('deleteDepartment'), id: z.number().int() }),
  z.object({
    op: z.literal('createUser'),
    user: z.strictObject({ userid: z.string(), name: z.string(), department: z.array(z.number().int()), ...userFields }),
  }),
  z.object({
    op: z.literal('updateUser'),
    user: z.strictObject({
      userid: z.string(),
      new_userid: z.string().optional(),
      name: z.string().optional(),
      department: z.array(z.number().int()).optional(),
      ...userFields,
    }),
  }),
  z.object({ op: z.literal('deleteUser'), userid: z.string() }),
]) as unknown as z.ZodType<SimOperation>;

const mutateSchema = z.union([
  z.strictObject({ operations: z.array(operationSchema) }),
  z.strictObject({ random: z.strictObject({ count: z.number().int().min(0).max(100_000), seed: z.number().int() }) }),
]);

function json(req: FastifyRequest): unknown {
  const text = typeof req.body === 'string' ? req.body : '';
  if (text.trim() === '') return {};
  return JSON.parse(text);
}

function badRequest(reply: FastifyReply, message: string, issues?: unknown): FastifyReply {
  return reply.code(400).send({ error: { message, ...(issues ? { issues } : {}) } });
}

export function registerControl(app: FastifyInstance, sim: WecomSimulator): void {
  app.get('/__sim/stats', async () => sim.stats());
  app.post('/__sim/stats/reset', async () => {
    sim.resetStats();
    return { ok: true };
  });
  app.get('/__sim/directory', async () => sim.corp.snapshot());
  app.get('/__sim/identity', async () => ({ url: sim.url, ...sim.identity }));
  app.get('/__sim/callbacks', async () => sim.callbacks.stats());
  app.post('/__sim/tokens/revoke', async () => ({ revoked: sim.revokeTokens() }));
  app.get('/__sim/config', async () => sim.config);

  app.post('/__sim/config', async (req, reply) => {
    let patch: unknown;
    try {
      patch = json(req);
    } catch (err) {
      return badRequest(reply, `body is not JSON: ${(err as Error).message}`);
    }
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return badRequest(reply, 'body must be a JSON object of switches');
    try {
      return sim.updateConfig(patch as Record<string, unknown>);
    } catch (err) {
      if (err instanceof z.ZodError) {
        return badRequest(
          reply,
          'invalid config',
          // An unknown switch is reported under its own name (zod puts it in `keys`, with an empty path).
          err.issues.flatMap((i) =>
            i.code === 'unrecognized_keys'
              ? i.keys.map((k) => ({ key: [...i.path, k].join('.'), message: `unknown switch "${k}"` }))
              : [{ key: i.path.join('.'), message: i.message }],
          ),
        );
      }
      throw err;
    }
  });

  app.post('/__sim/mutate', async (req, reply) => {
    let raw: unknown;
    try {
      raw = json(req);
    } catch (err) {
      return badRequest(reply, `body is not JSON: ${(err as Error).message}`);
    }
    const parsed = mutateSchema.safeParse(raw);
    if (!parsed.success) {
      return badRequest(
        reply,
        'expected { "operations": [...] } or { "random": { "count": N, "seed": S } }',
        parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    const operations = 'operations' in parsed.data ? parsed.data.operations : randomOperations(sim.corp.snapshot(), parsed.data.random);
    let applied = 0;
    for (const [index, op] of operations.entries()) {
      try {
        sim.callbacks.send(sim.corp.apply(op));
        applied++;
      } catch (err) {
        if (err instanceof WecomApiError) {
          return reply.code(409).send({ applied, error: { index, op: op.op, ...err.body() } });
        }
        throw err;
      }
    }
    return { applied };
  });
}
