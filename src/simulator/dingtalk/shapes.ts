import type { DingDepartment, DingUser } from './model.js';

/**
 * The shapes DingTalk's read APIs give a department or a user, each with its keys in one order. `withheld` drops
 * what an app without the 个人手机号信息 / 邮箱 permission does not get: mobile (with its state_code) and email.
 */

/** v2/department/listsub: no order, no managers. */
export function departmentListItem(d: DingDepartment): Record<string, unknown> {
  return {
    dept_id: d.dept_id,
    name: d.name,
    ...(d.parent_id !== undefined ? { parent_id: d.parent_id } : {}),
    source_identifier: d.source_identifier,
    create_dept_group: d.create_dept_group,
    auto_add_user: d.auto_add_user,
    from_union_org: d.from_union_org,
    tags: d.tags,
  };
}

/** v2/user/get. */
export function userDetail(u: DingUser, withheld: boolean): Record<string, unknown> {
  return {
    userid: u.userid,
    unionid: u.unionid,
    name: u.name,
    avatar: u.avatar,
    ...(withheld ? {} : contact(u)),
    hide_mobile: u.hide_mobile,
    ...texts(u),
    ...(u.manager_userid !== undefined ? { manager_userid: u.manager_userid } : {}),
    dept_id_list: u.dept_id_list,
    dept_order_list: u.dept_order_list,
    leader_in_dept: u.leader_in_dept,
    ...(u.extension !== undefined ? { extension: u.extension } : {}),
    ...(u.hired_date !== undefined ? { hired_date: u.hired_date } : {}),
    active: u.active,
    real_authed: u.real_authed,
    senior: u.senior,
    admin: u.admin,
    boss: u.boss,
    exclusive_account: u.exclusive_account,
    role_list: u.role_list,
  };
}

/** v2/user/list: the user as a member of `deptId`, with that department's order and leader flag. */
export function userListItem(u: DingUser, deptId: number, withheld: boolean): Record<string, unknown> {
  return {
    userid: u.userid,
    unionid: u.unionid,
    name: u.name,
    avatar: u.avatar,
    ...(u.manager_userid !== undefined ? { manager_userid: u.manager_userid } : {}),
    ...(withheld ? {} : contact(u)),
    hide_mobile: u.hide_mobile,
    ...texts(u),
    dept_id_list: u.dept_id_list,
    dept_order: u.dept_order_list.find((o) => o.dept_id === deptId)?.order ?? 0,
    ...(u.extension !== undefined ? { extension: u.extension } : {}),
    ...(u.hired_date !== undefined ? { hired_date: u.hired_date } : {}),
    active: u.active,
    admin: u.admin,
    boss: u.boss,
    leader: u.leader_in_dept.find((l) => l.dept_id === deptId)?.leader ?? false,
    exclusive_account: u.exclusive_account,
  };
}

function contact(u: DingUser): Record<string, unknown> {
  return {
    ...(u.state_code !== undefined ? { state_code: u.state_code } : {}),
    ...(u.mobile !== undefined ? { mobile: u.mobile } : {}),
    ...(u.email !== undefined ? { email: u.email } : {}),
  };
}

function texts(u: DingUser): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['telephone', 'job_number', 'title', 'org_email', 'work_place', 'remark'] as const)
    if (u[k] !== undefined) out[k] = u[k];
  return out;
}
