/**
 * A simulated DingTalk org, kept in the shapes DingTalk's API returns (topapi/v2/department/get and
 * topapi/v2/user/get), so the simulator serves its state as it is. See the API reference, DingTalk §9-§12.
 */

export interface DingDepartment {
  dept_id: number;
  name: string;
  /** Absent on the root (dept_id 1). */
  parent_id?: number;
  /** A smaller order sorts first (the reverse of WeCom). */
  order: number;
  source_identifier: string;
  brief: string;
  /** Follows the members' leader flags (leader_in_dept). */
  dept_manager_userid_list: string[];
  org_dept_owner: string;
  create_dept_group: boolean;
  /** Only when the department has its group chat. */
  dept_group_chat_id?: string;
  group_contain_sub_dept: boolean;
  auto_add_user: boolean;
  auto_approve_apply: boolean;
  from_union_org: boolean;
  tags: string;
  hide_dept: boolean;
  outer_dept: boolean;
  outer_permit_depts: number[];
  outer_permit_users: string[];
  user_permits: string[];
  dept_permits: number[];
}

export interface DingDeptOrder {
  dept_id: number;
  order: number;
}

export interface DingDeptLeader {
  dept_id: number;
  leader: boolean;
}

/**
 * A user as v2/user/get returns them. DingTalk leaves out text fields that are not set, so the optional ones are
 * absent rather than empty.
 */
export interface DingUser {
  userid: string;
  /** Unique per developer account; the key OAuth sign-in maps back to a userid. */
  unionid: string;
  name: string;
  avatar: string;
  /** The mobile's country code ("86"). */
  state_code?: string;
  /** Without the country code. */
  mobile?: string;
  hide_mobile: boolean;
  telephone?: string;
  job_number?: string;
  title?: string;
  email?: string;
  /** The corp mailbox. */
  org_email?: string;
  work_place?: string;
  remark?: string;
  manager_userid?: string;
  /** Every department, aligned by dept_id with dept_order_list and leader_in_dept. */
  dept_id_list: number[];
  dept_order_list: DingDeptOrder[];
  leader_in_dept: DingDeptLeader[];
  /** A JSON object as a string. */
  extension?: string;
  /** Epoch milliseconds. */
  hired_date?: number;
  /** Has activated DingTalk. */
  active: boolean;
  real_authed: boolean;
  senior: boolean;
  admin: boolean;
  boss: boolean;
  exclusive_account: boolean;
  role_list: Array<{ id: number; name: string; group_name: string }>;
}

export interface DingOrg {
  departments: DingDepartment[];
  users: DingUser[];
}

/** The fields of a user a write may set (by the API or /__sim/mutate). */
export type DingUserFields = Partial<
  Pick<
    DingUser,
    | 'name'
    | 'mobile'
    | 'state_code'
    | 'hide_mobile'
    | 'telephone'
    | 'job_number'
    | 'title'
    | 'email'
    | 'org_email'
    | 'work_place'
    | 'remark'
    | 'manager_userid'
    | 'extension'
    | 'hired_date'
    | 'active'
    | 'senior'
    | 'admin'
    | 'boss'
    | 'exclusive_account'
    | 'avatar'
  >
> & {
  dept_id_list?: number[];
  /** Orders per department; departments not named keep theirs (or 0). */
  dept_order_list?: DingDeptOrder[];
  /** Leader flags per department; departments not named keep theirs (or false). */
  leader_in_dept?: DingDeptLeader[];
};

export interface CreateDepartmentInput {
  /** Only /__sim/mutate chooses ids; the API generates them. */
  dept_id?: number;
  name: string;
  parent_id: number;
  order?: number;
}

export interface UpdateDepartmentInput {
  dept_id: number;
  name?: string;
  parent_id?: number;
  order?: number;
  /** Replaces the department's managers: each must be a member. */
  dept_manager_userid_list?: string[];
}

export type CreateUserInput = DingUserFields & { userid?: string; name: string; dept_id_list: number[] };
export type UpdateUserInput = DingUserFields & { userid: string };

/** Changes to a simulated org, as `/__sim/mutate` takes them; the random mutation generator produces them too. */
export type DingOperation =
  | { op: 'createDepartment'; department: CreateDepartmentInput }
  | { op: 'updateDepartment'; department: UpdateDepartmentInput }
  | { op: 'deleteDepartment'; dept_id: number }
  | { op: 'createUser'; user: CreateUserInput }
  | { op: 'updateUser'; user: UpdateUserInput }
  | { op: 'deleteUser'; userid: string };

/** The contact events DingTalk's 事件订阅 posts (ID-only, classic HTTP format). */
export type ContactEvent =
  | { type: 'user_add_org' | 'user_modify_org' | 'user_leave_org' | 'user_active_org'; userIds: string[] }
  | { type: 'org_dept_create' | 'org_dept_modify' | 'org_dept_remove'; deptIds: number[] };
