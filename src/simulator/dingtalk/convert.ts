import { createHash } from 'node:crypto';
import { ORDER_BASE } from '../org-generator.js';
import { Random } from '../random.js';
import type { SimOperation, SimOrg, WecomUser } from '../wecom/model.js';
import type { DingDepartment, DingOperation, DingOrg, DingUser, DingUserFields } from './model.js';

/**
 * The bridge between the shared generator (which speaks WeCom's shapes) and DingTalk's: the generated org and the
 * random operations become DingTalk departments, users and operations, deterministically.
 */

// ------------------------------------------------------------------------------------------------- departments

/**
 * A department name DingTalk accepts: 1-64 characters without '-', ',' or '，'. A hyphen becomes the full-width
 * '－' (a character DingTalk allows and the generator never makes), so the mapping can be undone for the
 * generator's view of the org (see `wecomView`) and sibling names stay unique in both.
 */
export function dingDepartmentName(name: string): string {
  const cleaned = name.replace(/-/g, '－').replace(/[,，]/g, '、').trim();
  const chars = [...cleaned];
  return chars.length === 0 ? '部门' : chars.slice(0, 64).join('');
}

/** The name unique among `taken` (its siblings'): a clash gets a number (研发部2, 研发部3 …), within 64 characters. */
export function uniqueSiblingName(name: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  for (let n = 2; ; n++) {
    const suffix = String(n);
    const candidate = [...name].slice(0, 64 - suffix.length).join('') + suffix;
    if (!taken.has(candidate)) return candidate;
  }
}

/** WeCom sorts a larger order first, DingTalk a smaller one: the generator's orders count down from ORDER_BASE. */
export function dingOrder(wecomOrder: number): number {
  return Math.max(0, ORDER_BASE - wecomOrder);
}

/** A department with every field v2/department/get returns, in its order. */
export function newDepartment(fields: {
  dept_id: number;
  name: string;
  parent_id?: number;
  order: number;
  groupChatId?: string;
}): DingDepartment {
  return {
    dept_id: fields.dept_id,
    name: fields.name,
    ...(fields.parent_id !== undefined ? { parent_id: fields.parent_id } : {}),
    order: fields.order,
    source_identifier: '',
    brief: '',
    dept_manager_userid_list: [],
    org_dept_owner: '',
    create_dept_group: fields.groupChatId !== undefined,
    ...(fields.groupChatId !== undefined ? { dept_group_chat_id: fields.groupChatId } : {}),
    group_contain_sub_dept: false,
    auto_add_user: fields.groupChatId !== undefined,
    auto_approve_apply: false,
    from_union_org: false,
    tags: '',
    hide_dept: false,
    outer_dept: false,
    outer_permit_depts: [],
    outer_permit_users: [],
    user_permits: [],
    dept_permits: [],
  };
}

// ------------------------------------------------------------------------------------------------- users

/** A unionid derived from the corp and the userid: the same person keeps it, as on DingTalk. */
export function unionidFor(corpId: string, userid: string): string {
  const digest = createHash('sha256')
    .update(`unionid:${corpId}:${userid}`)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '');
  return `${digest.slice(0, 24)}iE`;
}

/** "+86 138…" or "+1-555…" as DingTalk keeps it: the country code apart (state_code) and the number. */
export function splitMobile(mobile: string): { state_code: string; mobile: string } {
  const m = /^\+(\d{1,4})[ -]?(.+)$/.exec(mobile.trim());
  const number = (m ? (m[2] as string) : mobile).replace(/[\s-]/g, '');
  return { state_code: m ? (m[1] as string) : '86', mobile: number };
}

const extattrText = (u: WecomUser, name: string): string | undefined =>
  u.extattr.attrs.find((a) => a.name === name && a.type === 0)?.text?.value;
const extattrUrl = (u: WecomUser, name: string): string | undefined =>
  u.extattr.attrs.find((a) => a.name === name && a.type === 1)?.web?.url;

/** The corp mailbox on DingTalk's mail service rather than WeCom's. */
const orgEmail = (bizMail: string): string | undefined =>
  bizMail === '' ? undefined : bizMail.replace(/\.wecom\.work$/, '.onaliyun.com');

const HIRED_FROM = Date.UTC(2012, 0, 1) - 8 * 3600_000; // midnight in China
const DAY = 86_400_000;

function dingUser(u: WecomUser, corpId: string, rng: Random, boss: boolean): DingUser {
  const active = u.status === 1;
  const mobile = u.mobile === '' ? undefined : splitMobile(u.mobile);
  const homepage = extattrUrl(u, '个人主页');
  return {
    userid: u.userid,
    unionid: unionidFor(corpId, u.userid),
    name: u.name,
    avatar: u.avatar === '' ? '' : `https://static-legacy.dingtalk.com/media/lADP${rng.hex(24)}_240_240.jpg`,
    ...(mobile ?? {}),
    hide_mobile: rng.chance(0.01),
    ...optional('telephone', u.telephone),
    ...optional('job_number', extattrText(u, '工号')),
    ...optional('title', u.position),
    ...optional('email', u.email),
    ...optional('org_email', orgEmail(u.biz_mail)),
    ...optional('work_place', extattrText(u, '办公地点')),
    ...optional('remark', u.alias),
    ...optional('manager_userid', u.direct_leader[0]),
    dept_id_list: [...u.department],
    dept_order_list: u.department.map((d, i) => ({ dept_id: d, order: u.order[i] ?? 0 })),
    leader_in_dept: u.department.map((d, i) => ({ dept_id: d, leader: u.is_leader_in_dept[i] === 1 })),
    ...optional('extension', homepage === undefined ? undefined : JSON.stringify({ 个人主页: homepage })),
    hired_date: HIRED_FROM + rng.int(0, 13 * 365) * DAY,
    active,
    real_authed: active,
    senior: false,
    admin: boss || (active && rng.chance(0.002)),
    boss,
    exclusive_account: false,
    role_list: [],
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined || value === '' ? {} : ({ [key]: value } as { [P in K]: string });
}

/** The head of the company: the root's leader, else the first active leader of a top department, else the first active user. */
function bossOf(org: SimOrg): string | undefined {
  const active = new Map(org.users.filter((u) => u.status === 1).map((u) => [u.userid, u]));
  const rootLeader = org.departments.find((d) => d.id === 1)?.department_leader.find((id) => active.has(id));
  if (rootLeader !== undefined) return rootLeader;
  const tops = org.departments.filter((d) => d.parentid === 1);
  for (const d of tops) {
    const leader = d.department_leader.find((id) => active.has(id));
    if (leader !== undefined) return leader;
  }
  return active.keys().next().value;
}

/**
 * The generated org in DingTalk's shapes: the same ids (root 1), names made valid and unique among siblings,
 * smaller-first orders, users with a unionid, per-department orders and leader flags; WeCom's disabled and
 * not-activated users are not active; one active user is the boss (the root's leader where there is one) and an
 * admin, a few others are admins.
 */
export function dingOrg(org: SimOrg, options: { corpId: string; seed: number }): DingOrg {
  const rng = new Random(options.seed ^ 0xd1d7a1);
  const taken = new Map<number, Set<string>>();
  const departments = org.departments.map((d) => {
    let siblings = taken.get(d.parentid);
    if (!siblings) taken.set(d.parentid, (siblings = new Set()));
    const name = uniqueSiblingName(dingDepartmentName(d.name), siblings);
    siblings.add(name);
    const group = d.id === 1 || rng.chance(0.3);
    return newDepartment({
      dept_id: d.id,
      name,
      ...(d.parentid === 0 ? {} : { parent_id: d.parentid }),
      order: dingOrder(d.order),
      ...(group ? { groupChatId: `chat${rng.hex(32)}` } : {}),
    });
  });
  const boss = bossOf(org);
  const users = org.users.map((u) => dingUser(u, options.corpId, rng, u.userid === boss));
  return { departments, users };
}

// ------------------------------------------------------------------------------------------------- operations

/**
 * The org as the generator sees it (WeCom's shapes), so `randomOperations` can plan changes against it. Names
 * undo `dingDepartmentName`'s hyphen, so the generator's sibling-name check holds for the names DingTalk gets.
 */
export function wecomView(org: DingOrg): SimOrg {
  return {
    departments: org.departments.map((d) => ({
      id: d.dept_id,
      name: d.name.replace(/－/g, '-'),
      name_en: '',
      parentid: d.parent_id ?? 0,
      order: Math.max(0, ORDER_BASE - d.order),
      department_leader: [...d.dept_manager_userid_list],
    })),
    users: org.users.map((u) => ({
      userid: u.userid,
      name: u.name,
      department: [...u.dept_id_list],
      order: u.dept_order_list.map((o) => o.order),
      is_leader_in_dept: u.leader_in_dept.map((l) => (l.leader ? 1 : 0)),
      main_department: u.dept_id_list[0] ?? 1,
      position: u.title ?? '',
      mobile: u.mobile === undefined ? '' : `+${u.state_code ?? '86'} ${u.mobile}`,
      gender: '0',
      email: u.email ?? '',
      biz_mail: u.org_email ?? '',
      direct_leader: u.manager_userid === undefined ? [] : [u.manager_userid],
      avatar: u.avatar,
      thumb_avatar: '',
      telephone: u.telephone ?? '',
      alias: u.remark ?? '',
      address: '',
      extattr: { attrs: [] },
      status: u.active ? 1 : 4,
      qr_code: '',
      external_position: '',
    })),
  };
}

/** The user fields of a generated change, in DingTalk's terms (WeCom's alias has no field there: it goes to remark). */
function userFields(u: Partial<WecomUser>): DingUserFields {
  const out: DingUserFields = {};
  if (u.name !== undefined) out.name = u.name;
  if (u.position !== undefined) out.title = u.position;
  if (u.mobile !== undefined && u.mobile !== '') Object.assign(out, splitMobile(u.mobile));
  if (u.email !== undefined) out.email = u.email;
  if (u.telephone !== undefined) out.telephone = u.telephone;
  if (u.alias !== undefined) out.remark = u.alias;
  if (u.department !== undefined) {
    const department = u.department;
    out.dept_id_list = [...department];
    if (u.order !== undefined)
      out.dept_order_list = department.map((d, i) => ({ dept_id: d, order: u.order?.[i] ?? 0 }));
    if (u.is_leader_in_dept !== undefined)
      out.leader_in_dept = department.map((d, i) => ({ dept_id: d, leader: u.is_leader_in_dept?.[i] === 1 }));
  }
  return out;
}

/** A generated change as DingTalk's. */
export function dingOperation(op: SimOperation): DingOperation {
  switch (op.op) {
    case 'createDepartment': {
      const d = op.department;
      return {
        op: 'createDepartment',
        department: {
          ...(d.id !== undefined ? { dept_id: d.id } : {}),
          name: dingDepartmentName(d.name),
          parent_id: d.parentid,
          ...(d.order !== undefined ? { order: dingOrder(d.order) } : {}),
        },
      };
    }
    case 'updateDepartment': {
      const d = op.department;
      return {
        op: 'updateDepartment',
        department: {
          dept_id: d.id,
          ...(d.name !== undefined ? { name: dingDepartmentName(d.name) } : {}),
          ...(d.parentid !== undefined ? { parent_id: d.parentid } : {}),
          ...(d.order !== undefined ? { order: dingOrder(d.order) } : {}),
        },
      };
    }
    case 'deleteDepartment':
      return { op: 'deleteDepartment', dept_id: op.id };
    case 'createUser':
      return {
        op: 'createUser',
        user: {
          ...userFields(op.user),
          userid: op.user.userid,
          name: op.user.name,
          dept_id_list: [...op.user.department],
        },
      };
    case 'updateUser':
      return { op: 'updateUser', user: { ...userFields(op.user), userid: op.user.userid } };
    case 'deleteUser':
      return { op: 'deleteUser', userid: op.userid };
  }
}
