import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { registerControl as registerControlRoutes, type ControlTarget } from '../common/control.js';
import { randomOperations } from '../org-generator.js';
import { WecomApiError } from './errors.js';
import type { SimOperation } from './model.js';
import type { CallbackSender } from './callbacks.js';
import type { SimulatorState } from './host.js';

/** The WeCom simulator's control API (common/control.ts) with WeCom's operations for /__sim/mutate. */

const department = z.object({
  id: z.number().int().optional(),
  name: z.string(),
  parentid: z.number().int(),
  order: z.number().int().optional(),
});

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
    department: z.object({
      id: z.number().int(),
      name: z.string().optional(),
      parentid: z.number().int().optional(),
      order: z.number().int().optional(),
    }),
  }),
  z.object({ op: z.literal('deleteDepartment'), id: z.number().int() }),
  z.object({
    op: z.literal('createUser'),
    user: z.strictObject({
      userid: z.string(),
      name: z.string(),
      department: z.array(z.number().int()),
      ...userFields,
    }),
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

export function registerControl(
  app: FastifyInstance,
  sim: ControlTarget & Pick<SimulatorState, 'corp'> & { readonly callbacks: CallbackSender },
): void {
  registerControlRoutes(app, sim, {
    schema: operationSchema,
    random: (options) => randomOperations(sim.corp.snapshot(), options),
    apply: (op) => {
      sim.callbacks.send(sim.corp.apply(op));
    },
    refusal: (err) => (err instanceof WecomApiError ? err.body() : null),
  });
}
