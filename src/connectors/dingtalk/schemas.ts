import { z } from 'zod';

/**
 * The DingTalk responses orgsync reads (API reference, DingTalk §9-§11), checked on every call. The client has
 * already checked errcode; these describe the rest. Unknown fields are dropped; fields DingTalk leaves out when they
 * are not set, withholds from apps without a permission, or that the reference marks [?] are optional.
 */

const int = z.number().int();
/** DingTalk sends ids as numbers; tolerate numeric strings. */
const id = z.union([int, z.string().regex(/^\d+$/).transform(Number)]);

/** The api host's app token (v1.0/oauth2/accessToken). */
export const accessTokenSchema = z.object({
  accessToken: z.string().min(1),
  expireIn: int.positive(),
});

/** A signed-in user's token (v1.0/oauth2/userAccessToken). */
export const userAccessTokenSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string(),
  expireIn: int.positive(),
  corpId: z.string().optional(),
});

/** v1.0/contact/users/me: the signed-in user; mobile, stateCode and email only with the personal-information permission. */
export const currentUserSchema = z.object({
  nick: z.string().optional(),
  avatarUrl: z.string().optional(),
  openId: z.string().optional(),
  unionId: z.string().min(1),
  mobile: z.string().optional(),
  stateCode: z.string().optional(),
  email: z.string().optional(),
});

/** auth/scopes: the contact scope (通讯录权限范围) and the user fields the app may read. */
export const authScopesSchema = z.object({
  auth_user_field: z.array(z.string()).default([]),
  auth_org_scopes: z
    .object({
      authed_dept: z.array(id).default([]),
      authed_user: z.array(z.string()).default([]),
    })
    .default({ authed_dept: [], authed_user: [] }),
});

/** v2/department/listsub: direct children, smaller order first, without order. */
export const departmentListItemSchema = z.object({
  dept_id: id,
  name: z.string(),
  /** Absent on the root. */
  parent_id: id.optional(),
});
export const listsubSchema = z.object({ result: z.array(departmentListItemSchema).default([]) });
/** v2/department/listsub with each child left unchecked, to be checked one by one (see DingtalkSource). */
export const listsubPageSchema = z.object({ result: z.array(z.unknown()).default([]) });

export const departmentSchema = departmentListItemSchema.extend({
  /** Smaller sorts first. */
  order: z.number().optional(),
  dept_manager_userid_list: z.array(z.string()).optional(),
});
export type DingtalkDepartmentRecord = z.output<typeof departmentSchema>;
export const departmentGetSchema = z.object({ result: departmentSchema });

export const listsubidSchema = z.object({ result: z.object({ dept_id_list: z.array(id).default([]) }) });

/**
 * A member as v2/user/list returns them: only the fields orgsync keeps. `leader` and `dept_order` are for the
 * department listed. Text fields DingTalk leaves out when they are not set; mobile (with state_code) and email only
 * come to an app with the 个人手机号信息 / 邮箱 permission.
 */
export const userListItemSchema = z.object({
  userid: z.string().min(1),
  unionid: z.string().optional(),
  name: z.string(),
  avatar: z.string().optional(),
  state_code: z.string().optional(),
  mobile: z.string().optional(),
  telephone: z.string().optional(),
  job_number: z.string().optional(),
  title: z.string().optional(),
  email: z.string().optional(),
  work_place: z.string().optional(),
  dept_id_list: z.array(id).default([]),
  dept_order: z.number().optional(),
  /** A JSON object as a string. */
  extension: z.string().optional(),
  /** Has activated DingTalk. */
  active: z.boolean().optional(),
  /** Heads the department listed. */
  leader: z.boolean().optional(),
});
export type DingtalkUserItem = z.output<typeof userListItemSchema>;

export const userListSchema = z.object({
  result: z.object({
    has_more: z.boolean(),
    /** A number; present while has_more. */
    next_cursor: z.number().optional(),
    list: z.array(userListItemSchema).default([]),
  }),
});

/** v2/user/list with each member left unchecked, to be checked one by one: one bad record does not lose the page. */
export const userListPageSchema = z.object({
  result: z.object({
    has_more: z.boolean(),
    next_cursor: z.number().optional(),
    list: z.array(z.unknown()).default([]),
  }),
});

export const userListIdSchema = z.object({ result: z.object({ userid_list: z.array(z.string()).default([]) }) });

export const userGetSchema = z.object({
  result: userListItemSchema.extend({
    leader_in_dept: z.array(z.object({ dept_id: id, leader: z.boolean() })).optional(),
    dept_order_list: z.array(z.object({ dept_id: id, order: z.number() })).optional(),
  }),
});
export type DingtalkUserDetail = z.output<typeof userGetSchema>['result'];
