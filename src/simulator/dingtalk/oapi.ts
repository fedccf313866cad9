import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JsonFields } from '../common/core.js';
import { JsonCache } from '../common/json-cache.js';
import { VisibleDepartments } from '../common/visible-range.js';
import { splitMobile } from './convert.js';
import { DingtalkApiError } from './errors.js';
import type { DingDepartment, DingUser, DingUserFields } from './model.js';
import { body, bool, int, missing, required, str, type Body } from './params.js';
import type { Auth, CallContext, OapiCall, SimulatorState } from './host.js';
import type { DingSignInState } from './sign-in.js';
import { departmentListItem, userDetail, userListItem } from './shapes.js';

/**
 * DingTalk's oapi host (oapi.dingtalk.com): gettoken, auth/scopes and the topapi contact and 免登 APIs, request
 * validation and response shapes as the API reference (§9-§11) gives them. topapi calls are POST with a JSON body
 * and answer `{errcode, errmsg, result, request_id}`.
 */

const MAX_PAGE = 100;

/** "2,3" → [2, 3]: dept_id_list on user writes is a comma-separated string, not an array. */
function csvIds(v: unknown, field: string): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new DingtalkApiError(400002, `${field} must be a comma-separated string such as "2,3"`);
  const parts = v
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new DingtalkApiError(400002, `${field}: "${p}" is not a department id`);
    return Number(p);
  });
}

function csvStrings(v: unknown, field: string): string[] | undefined {
  const s = str(v, field);
  return s === undefined
    ? undefined
    : s
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '');
}

/** The user fields of a v2/user/create or update body, in the corp's terms. Fields DingTalk has and the simulator does not model are ignored. */
function userFields(b: Body): DingUserFields {
  const out: DingUserFields = {};
  for (const f of [
    'name',
    'telephone',
    'job_number',
    'title',
    'email',
    'org_email',
    'work_place',
    'remark',
    'manager_userid',
    'extension',
  ] as const) {
    const v = str(b[f], f);
    if (v !== undefined) out[f] = v;
  }
  const mobile = str(b.mobile, 'mobile');
  if (mobile !== undefined)
    Object.assign(out, mobile === '' ? { mobile: '' } : mobile.startsWith('+') ? splitMobile(mobile) : { mobile });
  const hide = bool(b.hide_mobile, 'hide_mobile');
  if (hide !== undefined) out.hide_mobile = hide;
  const senior = bool(b.senior_mode, 'senior_mode');
  if (senior !== undefined) out.senior = senior;
  const exclusive = bool(b.exclusive_account, 'exclusive_account');
  if (exclusive !== undefined) out.exclusive_account = exclusive;
  const hired = int(b.hired_date, 'hired_date');
  if (hired !== undefined) out.hired_date = hired;
  const depts = csvIds(b.dept_id_list, 'dept_id_list');
  if (depts !== undefined) out.dept_id_list = depts;
  if (b.dept_order_list !== undefined) {
    if (!Array.isArray(b.dept_order_list))
      throw new DingtalkApiError(400002, 'dept_order_list must be a list of {dept_id, order}');
    out.dept_order_list = b.dept_order_list.map((o: unknown, i) => {
      const e = (o ?? {}) as Body;
      const field = (name: string) => `dept_order_list[${i}].${name}`;
      return {
        dept_id: required(int(e.dept_id, field('dept_id')), field('dept_id')),
        order: required(int(e.order, field('order')), field('order')),
      };
    });
  }
  return out;
}

export function registerOapi(
  app: FastifyInstance,
  sim: SimulatorState & { readonly signIn: DingSignInState; oapi: OapiCall },
): void {
  const corp = sim.corp;

  /** The contact scope as a set of department ids; null when it is the whole org. */
  const visibleDepartments = new VisibleDepartments((id) => corp.subtree(id));
  const scope = (): Set<number> | null => visibleDepartments.of(sim.config.visibleRange, corp.version);
  const department = (id: number): DingDepartment => {
    const d = corp.department(id);
    if (!d) throw new DingtalkApiError(60003, `dept_id ${id}`);
    return d;
  };
  /** A department the app's contact scope must include (60011 otherwise). */
  const scoped = (id: number): DingDepartment => {
    const d = department(id);
    if (!(scope()?.has(id) ?? true)) throw new DingtalkApiError(60011, `部门 ${id} 不在应用的通讯录授权范围内`);
    return d;
  };
  const userInScope = (u: DingUser): boolean => {
    const seen = scope();
    return seen === null || u.dept_id_list.some((d) => seen.has(d));
  };

  // A user's JSON per view (and per department for lists), reused until the user changes: every write replaces
  // the user object.
  const serialized = new JsonCache<DingUser>();
  const withheld = (): boolean => sim.config.sensitiveFields === 'withheld';
  const detailJson = (u: DingUser): string => {
    const hide = withheld();
    return serialized.text(u, hide ? 'withheld' : 'full', () => userDetail(u, hide));
  };
  const listJson = (u: DingUser, deptId: number): string => {
    const hide = withheld();
    return serialized.text(u, `${hide ? 'withheld' : 'full'}:${deptId}`, () => userListItem(u, deptId, hide));
  };

  /** The members of a department for a member read; failingDepartments fail with -1. */
  const members = (id: number, limitedByScope: boolean): readonly DingUser[] => {
    if (limitedByScope) scoped(id);
    else department(id);
    if (sim.config.failingDepartments.includes(id)) throw new DingtalkApiError(-1);
    return corp.membersOf(id);
  };
  /** A page of a numeric cursor (an offset from 0) and a size of 1-100. */
  const pageOf = <T>(all: readonly T[], b: Body): { list: readonly T[]; hasMore: boolean; next: number } => {
    const cursor = required(int(b.cursor, 'cursor'), 'cursor');
    const size = required(int(b.size, 'size'), 'size');
    if (cursor < 0) throw new DingtalkApiError(400002, 'cursor must be 0 or more');
    if (size < 1 || size > MAX_PAGE) throw new DingtalkApiError(400002, `size must be 1-${MAX_PAGE}`);
    const list = all.slice(cursor, cursor + size);
    const next = cursor + list.length;
    return { list, hasMore: next < all.length, next };
  };

  const route = (
    method: 'GET' | 'POST',
    path: string,
    auth: Auth,
    handler: (req: FastifyRequest, ctx: CallContext) => Record<string, unknown> | JsonFields,
  ): void => {
    app.route({
      method: ['GET', 'POST'],
      url: `/${path}`,
      handler: (req, reply) =>
        sim.oapi(req, reply, path, auth, (ctx) => {
          if (req.method !== method) throw new DingtalkApiError(method === 'POST' ? 43002 : 43001);
          return handler(req, ctx);
        }),
    });
  };
  const query = (req: FastifyRequest): Record<string, string | undefined> =>
    req.query as Record<string, string | undefined>;

  // ---------------------------------------------------------------- tokens and scope
  route('GET', 'gettoken', 'none', (req) => {
    const { appkey, appsecret } = query(req);
    if (missing(appkey) || missing(appsecret)) throw new DingtalkApiError(40035, 'corpid or appkey');
    if (appkey !== sim.identity.clientId || appsecret !== sim.identity.clientSecret) throw new DingtalkApiError(40096);
    const { token, expiresIn } = sim.issueAppToken();
    return { access_token: token, expires_in: expiresIn };
  });

  route('GET', 'auth/scopes', 'app', () => ({
    auth_user_field: [
      'userid',
      'unionid',
      'name',
      'avatar',
      'title',
      'job_number',
      'dept_id_list',
      'active',
      ...(withheld() ? [] : ['mobile', 'email']),
    ],
    auth_org_scopes: { authed_dept: sim.config.visibleRange, authed_user: [] },
  }));

  // ---------------------------------------------------------------- departments
  route('POST', 'topapi/v2/department/listsub', 'app', (req) => {
    const id = int(body(req).dept_id, 'dept_id') ?? 1;
    scoped(id);
    return { result: corp.childrenOf(id).map(departmentListItem) };
  });

  route('POST', 'topapi/v2/department/listsubid', 'app', (req) => {
    const id = required(int(body(req).dept_id, 'dept_id'), 'dept_id');
    department(id);
    return { result: { dept_id_list: corp.childrenOf(id).map((d) => d.dept_id) } };
  });

  route('POST', 'topapi/v2/department/get', 'app', (req) => ({
    result: scoped(required(int(body(req).dept_id, 'dept_id'), 'dept_id')),
  }));

  route('POST', 'topapi/v2/department/create', 'app', (req) => {
    const b = body(req);
    const order = int(b.order, 'order');
    const { deptId, events } = corp.createDepartment({
      name: required(str(b.name, 'name'), 'name'),
      parent_id: required(int(b.parent_id, 'parent_id'), 'parent_id'),
      ...(order !== undefined ? { order } : {}),
    });
    sim.emit(events);
    return { result: { dept_id: deptId } };
  });

  route('POST', 'topapi/v2/department/update', 'app', (req) => {
    const b = body(req);
    const name = str(b.name, 'name');
    const parent = int(b.parent_id, 'parent_id');
    const order = int(b.order, 'order');
    const managers = csvStrings(b.dept_manager_userid_list, 'dept_manager_userid_list');
    sim.emit(
      corp.updateDepartment({
        dept_id: required(int(b.dept_id, 'dept_id'), 'dept_id'),
        ...(name !== undefined ? { name } : {}),
        ...(parent !== undefined ? { parent_id: parent } : {}),
        ...(order !== undefined ? { order } : {}),
        ...(managers !== undefined ? { dept_manager_userid_list: managers } : {}),
      }),
    );
    return {};
  });

  route('POST', 'topapi/v2/department/delete', 'app', (req) => {
    sim.emit(corp.deleteDepartment(required(int(body(req).dept_id, 'dept_id'), 'dept_id')));
    return {};
  });

  // ---------------------------------------------------------------- members
  route('POST', 'topapi/user/listid', 'app', (req) => {
    const id = required(int(body(req).dept_id, 'dept_id'), 'dept_id');
    return { result: { userid_list: members(id, false).map((u) => u.userid) } };
  });

  route('POST', 'topapi/user/listsimple', 'app', (req) => {
    const b = body(req);
    const page = pageOf(members(required(int(b.dept_id, 'dept_id'), 'dept_id'), true), b);
    return {
      result: {
        has_more: page.hasMore,
        ...(page.hasMore ? { next_cursor: page.next } : {}),
        list: page.list.map((u) => ({ userid: u.userid, name: u.name })),
      },
    };
  });

  route('POST', 'topapi/v2/user/list', 'app', (req) => {
    const b = body(req);
    const id = required(int(b.dept_id, 'dept_id'), 'dept_id');
    const page = pageOf(members(id, true), b);
    const next = page.hasMore ? `"next_cursor":${page.next},` : '';
    return new JsonFields(
      `"result":{"has_more":${page.hasMore},${next}"list":[${page.list.map((u) => listJson(u, id)).join(',')}]}`,
    );
  });

  // ---------------------------------------------------------------- users
  route('POST', 'topapi/v2/user/get', 'app', (req) => {
    const userid = required(str(body(req).userid, 'userid'), 'userid');
    const u = corp.user(userid);
    if (!u) throw new DingtalkApiError(60121, `userid ${userid}`);
    if (!userInScope(u)) throw new DingtalkApiError(60011, `${userid} 不在应用的通讯录授权范围内`);
    return new JsonFields(`"result":${detailJson(u)}`);
  });

  route('POST', 'topapi/v2/user/create', 'app', (req) => {
    const b = body(req);
    const fields = userFields(b);
    const userid = str(b.userid, 'userid');
    const { user, events } = corp.createUser({
      ...fields,
      ...(userid !== undefined && userid !== '' ? { userid } : {}),
      name: required(fields.name, 'name'),
      dept_id_list: required(fields.dept_id_list, 'dept_id_list'),
    });
    sim.emit(events);
    return { result: { userid: user.userid, unionId: user.unionid } };
  });

  route('POST', 'topapi/v2/user/update', 'app', (req) => {
    const b = body(req);
    sim.emit(corp.updateUser({ ...userFields(b), userid: required(str(b.userid, 'userid'), 'userid') }));
    return {};
  });

  route('POST', 'topapi/v2/user/delete', 'app', (req) => {
    sim.emit(corp.deleteUser(required(str(body(req).userid, 'userid'), 'userid')));
    return {};
  });

  route('POST', 'topapi/user/getbyunionid', 'app', (req) => {
    const unionid = required(str(body(req).unionid, 'unionid'), 'unionid');
    const u = corp.userByUnionid(unionid);
    if (!u) throw new DingtalkApiError(60121, `unionid ${unionid} is not a member of this org`);
    return { result: { contact_type: 0, userid: u.userid } };
  });

  // ---------------------------------------------------------------- in-app sign-in (免登)
  route('POST', 'topapi/v2/user/getuserinfo', 'app', (req) => {
    const userid = sim.signIn.redeemInAppCode(required(str(body(req).code, 'code'), 'code'));
    const u = corp.user(userid);
    if (!u) throw new DingtalkApiError(60121, `userid ${userid}`);
    return {
      result: {
        userid: u.userid,
        unionid: u.unionid,
        name: u.name,
        device_id: createHash('sha256').update(`device:${u.userid}`).digest('hex').slice(0, 32),
        sys: u.admin,
        // 1 main admin, 2 sub-admin, 100 boss, 0 others: the simulated boss is also the main admin.
        sys_level: u.admin ? (u.boss ? 1 : 2) : u.boss ? 100 : 0,
      },
    };
  });
}
