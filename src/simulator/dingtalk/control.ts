import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseBody, registerControl as registerControlRoutes, type ControlTarget } from '../common/control.js';
import { randomOperations } from '../org-generator.js';
import { dingOperation, wecomView } from './convert.js';
import { DingtalkApiError } from './errors.js';
import type { DingOperation } from './model.js';
import type { SimulatorState } from './host.js';
import type { DingSignInState } from './sign-in.js';

/**
 * The DingTalk simulator's control API (common/control.ts) with DingTalk's operations for /__sim/mutate, and
 * POST /__sim/auth-code, which stands in for dd.getAuthCode inside the DingTalk client (a 免登 code for
 * topapi/v2/user/getuserinfo).
 */

const deptOrder = z.strictObject({ dept_id: z.number().int(), order: z.number().int() });
const deptLeader = z.strictObject({ dept_id: z.number().int(), leader: z.boolean() });

/** A user's fields as DingUser types them. Unknown keys and wrong types are refused here (400). */
const userFields = {
  name: z.string().optional(),
  mobile: z.string().optional(),
  state_code: z.string().optional(),
  hide_mobile: z.boolean().optional(),
  telephone: z.string().optional(),
  job_number: z.string().optional(),
  title: z.string().optional(),
  email: z.string().optional(),
  org_email: z.string().optional(),
  work_place: z.string().optional(),
  remark: z.string().optional(),
  manager_userid: z.string().optional(),
  extension: z.string().optional(),
  hired_date: z.number().int().optional(),
  active: z.boolean().optional(),
  senior: z.boolean().optional(),
  admin: z.boolean().optional(),
  boss: z.boolean().optional(),
  exclusive_account: z.boolean().optional(),
  avatar: z.string().optional(),
  dept_id_list: z.array(z.number().int()).optional(),
  dept_order_list: z.array(deptOrder).optional(),
  leader_in_dept: z.array(deptLeader).optional(),
};

const operationSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('createDepartment'),
    department: z.strictObject({
      dept_id: z.number().int().optional(),
      name: z.string(),
      parent_id: z.number().int(),
      order: z.number().int().optional(),
    }),
  }),
  z.strictObject({
    op: z.literal('updateDepartment'),
    department: z.strictObject({
      dept_id: z.number().int(),
      name: z.string().optional(),
      parent_id: z.number().int().optional(),
      order: z.number().int().optional(),
      dept_manager_userid_list: z.array(z.string()).optional(),
    }),
  }),
  z.strictObject({ op: z.literal('deleteDepartment'), dept_id: z.number().int() }),
  z.strictObject({
    op: z.literal('createUser'),
    user: z.strictObject({
      ...userFields,
      userid: z.string().optional(),
      name: z.string(),
      dept_id_list: z.array(z.number().int()),
    }),
  }),
  z.strictObject({ op: z.literal('updateUser'), user: z.strictObject({ ...userFields, userid: z.string() }) }),
  z.strictObject({ op: z.literal('deleteUser'), userid: z.string() }),
]) as unknown as z.ZodType<DingOperation>;

export function registerControl(
  app: FastifyInstance,
  sim: ControlTarget & SimulatorState & { readonly signIn: DingSignInState },
): void {
  registerControlRoutes(app, sim, {
    schema: operationSchema,
    random: (options) =>
      randomOperations(
        wecomView({ departments: sim.corp.allDepartments(), users: [...sim.corp.allUsers()] }),
        options,
      ).map(dingOperation),
    apply: (op) => {
      sim.emit(sim.corp.apply(op));
    },
    refusal: (err) => (err instanceof DingtalkApiError ? { errcode: err.errcode, errmsg: err.message } : null),
  });

  app.post('/__sim/auth-code', async (req, reply) => {
    const b = parseBody(
      req,
      reply,
      z.strictObject({ userid: z.string().min(1) }),
      'expected { "userid": "…" }: the member signing in',
    );
    if (b === undefined) return reply;
    const u = sim.corp.user(b.userid);
    if (!u) return reply.code(404).send({ error: { message: `no member with userid "${b.userid}"`, path: 'userid' } });
    if (!u.active)
      return reply.code(409).send({
        error: {
          message: `"${b.userid}" has not activated DingTalk (active: false): set active first`,
          path: 'userid',
        },
      });
    return { code: sim.signIn.issueInAppCode(u.userid) };
  });
}
