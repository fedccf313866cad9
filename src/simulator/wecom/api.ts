import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JsonFields } from '../common/core.js';
import { JsonCache } from '../common/json-cache.js';
import { jsonObjectBody } from '../common/request.js';
import { VisibleDepartments } from '../common/visible-range.js';
import { WecomApiError, type WecomErrcode } from './errors.js';
import type { WecomDepartment, WecomUser } from './model.js';
import type { CallContext, CallHandler, SecretKind, SimulatorState } from './host.js';
import type { SignInState } from './sign-in.js';

/** WeCom's server API (qyapi.weixin.qq.com/cgi-bin/...), request validation and response shapes as the reference gives them. */

type Query = Record<string, string | undefined>;

const SENSITIVE: ReadonlyArray<keyof WecomUser> = [
  'mobile',
  'email',
  'avatar',
  'thumb_avatar',
  'biz_mail',
  'address',
  'qr_code',
];

function query(req: FastifyRequest): Query {
  return req.query as Query;
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = jsonObjectBody(req);
  if ('problem' in b) throw new WecomApiError(47001, b.problem);
  return b.value;
}

function intParam(value: unknown, missing: WecomErrcode, invalid: WecomErrcode = 40058): number {
  if (value === undefined || value === null || value === '') throw new WecomApiError(missing);
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new WecomApiError(invalid);
  return n;
}

function stringParam(value: unknown, missing: WecomErrcode): string {
  if (value === undefined || value === null || value === '') throw new WecomApiError(missing);
  if (typeof value !== 'string') throw new WecomApiError(40058);
  return value;
}

function optional<T>(value: unknown, check: (v: unknown) => v is T): T | undefined {
  if (value === undefined) return undefined;
  if (!check(value)) throw new WecomApiError(40058);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** What the API's routes use of the simulator. */
interface ApiHost extends SimulatorState {
  readonly signIn: SignInState;
  issueToken(kind: SecretKind): { token: string; expiresIn: number };
  handle: CallHandler;
}

export function registerApi(app: FastifyInstance, sim: ApiHost): void {
  const corp = sim.corp;

  /** What the caller may see: the contacts secret sees everything, the app its visible range. */
  const visibleDepartments = new VisibleDepartments((id) => corp.subtree(id).map((d) => d.id));
  const visible = (ctx: CallContext): Set<number> | null =>
    ctx.kind === 'contacts' ? null : visibleDepartments.of(sim.config.visibleRange, corp.version);
  const canSee = (ctx: CallContext, departmentId: number): boolean =>
    visible(ctx)?.has(departmentId) ?? corp.department(departmentId) !== undefined;

  const detailRead = (ctx: CallContext): void => {
    if (ctx.kind === 'contacts' && sim.config.contactsSecretNewIp) throw new WecomApiError(48009);
  };
  const writeAccess = (ctx: CallContext): void => {
    if (ctx.kind !== 'contacts') throw new WecomApiError(48002, 'contact writes need the contacts sync secret');
  };

  /** A user as this caller sees them: only visible departments, and no sensitive fields for a new self-built app. */
  const present = (ctx: CallContext, u: WecomUser): Record<string, unknown> => {
    const seen = visible(ctx);
    const out: Record<string, unknown> = { ...u };
    if (seen) {
      const keep = u.department.map((d, i) => (seen.has(d) ? i : -1)).filter((i) => i >= 0);
      out.department = keep.map((i) => u.department[i]);
      out.order = keep.map((i) => u.order[i]);
      out.is_leader_in_dept = keep.map((i) => u.is_leader_in_dept[i]);
    }
    if (ctx.kind === 'app' && sim.config.sensitiveFields === 'withheld') {
      for (const f of SENSITIVE) delete out[f];
      out.gender = '0';
    }
    return out;
  };
  const userVisible = (ctx: CallContext, u: WecomUser): boolean => {
    const seen = visible(ctx);
    return seen === null || u.department.some((d) => seen.has(d));
  };
  const department = (id: number): WecomDepartment => {
    const d = corp.department(id);
    if (!d) throw new WecomApiError(60003, `department ${id}`);
    return d;
  };
  /** The failReads fault: reads of these objects always answer its errcode. */
  const failRead = (object: { department: number } | { userid: string }): void => {
    const f = sim.config.failReads;
    if ('department' in object ? f.departments.includes(object.department) : f.users.includes(object.userid)) {
      throw new WecomApiError(f.errcode as WecomErrcode, 'failReads');
    }
  };

  const route = (
    method: 'GET' | 'POST',
    path: string,
    handler: (
      req: FastifyRequest,
      ctx: CallContext,
    ) => Record<string, unknown> | JsonFields | Promise<Record<string, unknown> | JsonFields>,
    authenticated = true,
  ): void => {
    app.route({
      method,
      url: `/cgi-bin/${path}`,
      handler: (req, reply) => sim.handle(req, reply, path, { authenticated }, (ctx) => handler(req, ctx)),
    });
  };

  // ---------------------------------------------------------------- token
  route(
    'GET',
    'gettoken',
    (req) => {
      const q = query(req);
      const corpId = stringParam(q.corpid, 41002);
      if (corpId !== sim.identity.corpId) throw new WecomApiError(40013);
      const secret = stringParam(q.corpsecret, 41004);
      const kind = secret === sim.identity.secret ? 'app' : secret === sim.identity.contactsSecret ? 'contacts' : null;
      if (!kind) throw new WecomApiError(40001);
      const { token, expiresIn } = sim.issueToken(kind);
      return { access_token: token, expires_in: expiresIn };
    },
    false,
  );

  // ---------------------------------------------------------------- departments
  /** The departments a list call returns: the subtree of `id` (or of every visible top), visible ones only. */
  const listedDepartments = (req: FastifyRequest, ctx: CallContext): WecomDepartment[] => {
    const q = query(req);
    const seen = visible(ctx);
    let roots: number[];
    if (q.id !== undefined && q.id !== '') {
      const id = intParam(q.id, 41016);
      failRead({ department: id });
      department(id);
      if (!canSee(ctx, id)) throw new WecomApiError(60011, `department ${id}`);
      roots = [id];
    } else {
      if (seen && seen.size === 0) throw new WecomApiError(60011, 'the app sees no department');
      roots = seen ? topsOf(seen, corp) : [1];
    }
    const out: WecomDepartment[] = [];
    for (const r of roots) for (const d of corp.subtree(r)) if (!seen || seen.has(d.id)) out.push(d);
    return out;
  };

  route('GET', 'department/list', (req, ctx) => {
    detailRead(ctx);
    return { department: listedDepartments(req, ctx) };
  });

  route('GET', 'department/simplelist', (req, ctx) => ({
    department_id: listedDepartments(req, ctx).map((d) => ({ id: d.id, parentid: d.parentid, order: d.order })),
  }));

  route('GET', 'department/get', (req, ctx) => {
    detailRead(ctx);
    const id = intParam(query(req).id, 41016);
    failRead({ department: id });
    const d = department(id);
    if (!canSee(ctx, id)) throw new WecomApiError(60011, `department ${id}`);
    return { department: d };
  });

  route('POST', 'department/create', (req, ctx) => {
    writeAccess(ctx);
    const b = body(req);
    const name = stringParam(b.name, 40058);
    const parentid = intParam(b.parentid, 40058, 60124);
    const { id } = corp.createDepartment({
      name,
      parentid,
      ...(b.name_en !== undefined ? { name_en: stringParam(b.name_en, 40058) } : {}),
      ...(b.order !== undefined ? { order: intParamU32(b.order) } : {}),
      ...(b.id !== undefined ? { id: intParam(b.id, 40058, 60123) } : {}),
    });
    return { errmsg: 'created', id };
  });

  route('POST', 'department/update', (req, ctx) => {
    writeAccess(ctx);
    const b = body(req);
    const id = intParam(b.id, 41016, 60123);
    corp.updateDepartment({
      id,
      ...(b.name !== undefined ? { name: stringParam(b.name, 40058) } : {}),
      ...(b.name_en !== undefined ? { name_en: stringParam(b.name_en, 40058) } : {}),
      ...(b.parentid !== undefined ? { parentid: intParam(b.parentid, 40058, 60124) } : {}),
      ...(b.order !== undefined ? { order: intParamU32(b.order) } : {}),
    });
    return { errmsg: 'updated' };
  });

  route('GET', 'department/delete', (req, ctx) => {
    writeAccess(ctx);
    corp.deleteDepartment(intParam(query(req).id, 41016, 60123));
    return { errmsg: 'deleted' };
  });

  // ---------------------------------------------------------------- users
  route('GET', 'user/get', (req, ctx) => {
    detailRead(ctx);
    const userid = stringParam(query(req).userid, 41009);
    failRead({ userid });
    const u = corp.user(userid);
    if (!u) throw new WecomApiError(60111, `userid ${userid}`);
    // A member who exists outside the app's visible range: WeCom answers "no privilege" (60011), not "no such
    // member" (60111).
    if (!userVisible(ctx, u)) throw new WecomApiError(60011, `userid ${userid}`);
    return present(ctx, u);
  });

  const membersFor = (req: FastifyRequest, ctx: CallContext): WecomUser[] => {
    const q = query(req);
    const id = intParam(q.department_id, 41016);
    department(id);
    if (!canSee(ctx, id)) throw new WecomApiError(60011, `department ${id}`);
    const failing = sim.config.failingDepartments;
    if (failing.includes(id)) throw new WecomApiError(-1);
    if (q.fetch_child !== '1') return corp.membersOf(id);
    const subtree = corp.subtree(id);
    // A recursive read takes in the members of every department below: a failing one fails it too.
    if (failing.length > 0 && subtree.some((d) => failing.includes(d.id))) throw new WecomApiError(-1);
    const seen = new Set<string>();
    const out: WecomUser[] = [];
    for (const d of subtree) {
      for (const u of corp.membersOf(d.id)) {
        if (!seen.has(u.userid)) {
          seen.add(u.userid);
          out.push(u);
        }
      }
    }
    return out;
  };

  // A user's JSON per view, reused until the user changes (every write replaces the user object).
  const serialized = new JsonCache<WecomUser>();
  const userJson = (ctx: CallContext, u: WecomUser): string => {
    if (visible(ctx) !== null) return JSON.stringify(present(ctx, u));
    return serialized.text(u, ctx.kind === 'app' && sim.config.sensitiveFields === 'withheld' ? 'app' : 'full', () =>
      present(ctx, u),
    );
  };

  route('GET', 'user/list', (req, ctx) => {
    detailRead(ctx);
    return new JsonFields(
      `"userlist":[${membersFor(req, ctx)
        .map((u) => userJson(ctx, u))
        .join(',')}]`,
    );
  });

  route('GET', 'user/simplelist', (req, ctx) => {
    detailRead(ctx);
    return {
      userlist: membersFor(req, ctx).map((u) => {
        const p = present(ctx, u);
        return { userid: u.userid, name: u.name, department: p.department, open_userid: '' };
      }),
    };
  });

  let listIdCache: { version: number; rows: Array<{ userid: string; department: number }> } = { version: -1, rows: [] };
  route('POST', 'user/list_id', (req, ctx) => {
    if (ctx.kind !== 'contacts') throw new WecomApiError(48002, 'user/list_id needs the contacts sync secret');
    const b = body(req);
    const limit = b.limit === undefined ? 10_000 : intParam(b.limit, 40058);
    if (limit < 1 || limit > 10_000) throw new WecomApiError(40058, 'limit must be 1-10000');
    let offset = 0;
    if (b.cursor !== undefined && b.cursor !== '') {
      if (typeof b.cursor !== 'string') throw new WecomApiError(40058, 'cursor');
      offset = decodeCursor(b.cursor);
    }
    if (listIdCache.version !== corp.version) {
      const rows: Array<{ userid: string; department: number }> = [];
      for (const u of corp.allUsers()) for (const d of u.department) rows.push({ userid: u.userid, department: d });
      listIdCache = { version: corp.version, rows };
    }
    const page = listIdCache.rows.slice(offset, offset + limit);
    const end = offset + page.length;
    return { next_cursor: end < listIdCache.rows.length ? encodeCursor(end) : '', dept_user: page };
  });

  route('POST', 'user/create', (req, ctx) => {
    writeAccess(ctx);
    const b = body(req);
    const userid = stringParam(b.userid, 41009);
    const name = stringParam(b.name, 60112);
    const dept = optional(b.department, isIntArray);
    if (dept) for (const d of dept) if (!corp.department(d)) throw new WecomApiError(60127, `department ${d}`);
    const leaders = optional(b.is_leader_in_dept, isIntArray);
    if (leaders && dept && leaders.length !== dept.length) throw new WecomApiError(60132);
    corp.createUser({
      userid,
      name,
      ...(dept ? { department: dept } : {}),
      ...(leaders ? { is_leader_in_dept: leaders } : {}),
      ...userFields(b),
    });
    return { errmsg: 'created' };
  });

  route('POST', 'user/update', (req, ctx) => {
    writeAccess(ctx);
    const b = body(req);
    const userid = stringParam(b.userid, 41009);
    const dept = optional(b.department, isIntArray);
    const leaders = optional(b.is_leader_in_dept, isIntArray);
    corp.updateUser({
      userid,
      ...(b.name !== undefined ? { name: stringParam(b.name, 60112) } : {}),
      ...(dept ? { department: dept } : {}),
      ...(leaders ? { is_leader_in_dept: leaders } : {}),
      ...(b.new_userid !== undefined ? { new_userid: stringParam(b.new_userid, 40003) } : {}),
      ...userFields(b),
    });
    return { errmsg: 'updated' };
  });

  route('GET', 'user/delete', (req, ctx) => {
    writeAccess(ctx);
    corp.deleteUser(stringParam(query(req).userid, 41009));
    return { errmsg: 'deleted' };
  });

  route('POST', 'user/batchdelete', (req, ctx) => {
    writeAccess(ctx);
    const list = optional(body(req).useridlist, isStringArray);
    if (!list || list.length === 0) throw new WecomApiError(41009);
    if (list.length > 200) throw new WecomApiError(40031, 'at most 200 userids');
    // All or nothing: one unknown id fails the whole call.
    for (const id of list) if (!corp.user(id)) throw new WecomApiError(40031, `userid ${id}`);
    for (const id of list) corp.deleteUser(id);
    return { errmsg: 'deleted' };
  });

  // ---------------------------------------------------------------- the app
  route('GET', 'agent/get', (req, ctx) => {
    const agentid = intParam(query(req).agentid, 41011, 40056);
    if (ctx.kind !== 'app') throw new WecomApiError(48002, 'agent/get needs the app secret');
    if (agentid !== sim.identity.agentId) throw new WecomApiError(40056);
    return {
      agentid,
      name: 'orgsync',
      square_logo_url: '',
      description: 'orgsync simulated self-built app',
      allow_userinfos: { user: [] },
      allow_partys: { partyid: sim.config.visibleRange },
      allow_tags: { tagid: [] },
      close: 0,
      redirect_domain: sim.config.trustedDomains[0] ?? '',
      report_location_flag: 0,
      isreportenter: 0,
      home_url: '',
    };
  });

  route('GET', 'getcallbackip', () => ({ ip_list: ['127.0.0.1'] }));

  // ---------------------------------------------------------------- sign-in: code exchange
  /** A code's grant; the user_ticket only for a user in the app's visible range (any member gets the userid). */
  const redeem = (code: string, ctx: CallContext): { userid: string; userTicket?: string } => {
    const grant = sim.signIn.redeem(code);
    const u = corp.user(grant.userid);
    if (grant.userTicket && !(u && userVisible(ctx, u))) return { userid: grant.userid };
    return grant;
  };

  route('GET', 'auth/getuserinfo', (req, ctx) => {
    const code = stringParam(query(req).code, 41008);
    if (ctx.kind !== 'app') throw new WecomApiError(48002);
    const grant = redeem(code, ctx);
    return { userid: grant.userid, ...(grant.userTicket ? { user_ticket: grant.userTicket, expires_in: 1800 } : {}) };
  });

  route('GET', 'user/getuserinfo', (req, ctx) => {
    const code = stringParam(query(req).code, 41008);
    if (ctx.kind !== 'app') throw new WecomApiError(48002);
    const grant = redeem(code, ctx);
    return {
      UserId: grant.userid,
      DeviceId: '',
      ...(grant.userTicket ? { user_ticket: grant.userTicket } : {}),
      expires_in: 1800,
    };
  });

  route('POST', 'auth/getuserdetail', (req, ctx) => {
    if (ctx.kind !== 'app') throw new WecomApiError(48002);
    const ticket = stringParam(body(req).user_ticket, 40058);
    const userid = sim.signIn.userForTicket(ticket);
    const u = corp.user(userid);
    if (!u) throw new WecomApiError(60111, `userid ${userid}`);
    return {
      userid: u.userid,
      gender: u.gender,
      avatar: u.avatar,
      qr_code: u.qr_code,
      mobile: u.mobile,
      email: u.email,
      biz_mail: u.biz_mail,
      address: u.address,
    };
  });
}

function intParamU32(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new WecomApiError(40058, 'order');
  return n;
}

function userFields(b: Record<string, unknown>): Partial<WecomUser> {
  const out: Partial<WecomUser> = {};
  const strings = [
    'position',
    'mobile',
    'email',
    'biz_mail',
    'telephone',
    'alias',
    'address',
    'external_position',
  ] as const;
  for (const f of strings) {
    const v = optional(b[f], isString);
    if (v !== undefined) out[f] = v;
  }
  const gender = optional(b.gender, isString);
  if (gender !== undefined) {
    if (gender !== '0' && gender !== '1' && gender !== '2') throw new WecomApiError(40058, 'gender');
    out.gender = gender;
  }
  const order = optional(b.order, isIntArray);
  if (order) out.order = order;
  const main = optional(b.main_department, isInt);
  if (main !== undefined) out.main_department = main;
  const leaders = optional(b.direct_leader, isStringArray);
  if (leaders) out.direct_leader = leaders;
  if (b.enable !== undefined) {
    if (b.enable !== 0 && b.enable !== 1) throw new WecomApiError(40058, 'enable');
    out.status = b.enable === 1 ? 1 : 2;
  }
  if (b.extattr !== undefined) {
    const e = b.extattr as { attrs?: unknown };
    if (typeof e !== 'object' || e === null || !Array.isArray(e.attrs)) throw new WecomApiError(40058, 'extattr');
    out.extattr = e as WecomUser['extattr'];
  }
  return out;
}

/** The top departments of a visible set: those whose parent is not in it. */
function topsOf(seen: Set<number>, corp: SimulatorState['corp']): number[] {
  return [...seen].filter((id) => !seen.has(corp.department(id)?.parentid ?? 0)).sort((a, b) => a - b);
}

function encodeCursor(offset: number): string {
  return Buffer.from(`sim:${offset}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^sim:(\d+)$/.exec(text);
  if (!m) throw new WecomApiError(40058, 'invalid cursor');
  return Number(m[1]);
}
