import { z } from 'zod';

/**
 * The WeCom responses orgsync reads (API reference, WeCom §1-§4), checked on every call. The client has already
 * checked errcode; these describe the rest. Unknown fields are dropped; fields WeCom withholds from some apps
 * (new self-built apps, third-party apps) or that the reference marks [?] are optional.
 */

const int = z.number().int();
/** WeCom sends gender as "0" | "1" | "2"; tolerate a number. */
const gender = z.union([z.string(), int]).transform((v) => String(v));

export const departmentSchema = z.object({
  id: int,
  /** Withheld from third-party apps. */
  name: z.string().optional(),
  name_en: z.string().optional(),
  department_leader: z.array(z.string()).optional(),
  /** 0 for the root (id 1). */
  parentid: int,
  /** Larger sorts first; up to 2^32 - 1. */
  order: z.number().default(0),
});
export type WecomDepartmentRecord = z.output<typeof departmentSchema>;

export const departmentListSchema = z.object({ department: z.array(departmentSchema) });
/** department/list with each department left unchecked, to be checked one by one (see WecomSource). */
export const departmentListPageSchema = z.object({ department: z.array(z.unknown()) });
export const departmentGetSchema = z.object({ department: departmentSchema });

export const departmentIdSchema = z.object({ id: int, parentid: int, order: z.number().default(0) });
export const departmentSimpleListSchema = z.object({ department_id: z.array(departmentIdSchema) });

const extAttrSchema = z.object({
  /** 0 text, 1 web, 2 mini program; others may come. */
  type: int,
  name: z.string(),
  /** Older responses put a text attribute's value here. */
  value: z.string().optional(),
  text: z.object({ value: z.string() }).optional(),
  web: z.object({ url: z.string().optional(), title: z.string().optional() }).optional(),
});

/**
 * A member as user/get and user/list return it (a change here needs the same in `isPlainUserRecord`): only the fields orgsync keeps (the others — biz_mail, direct_leader,
 * thumb_avatar, open_userid, qr_code, external_position — are dropped unchecked). user/list answers up to the
 * whole corp in one sync, so every field checked here costs 100,000 times.
 */
export const userSchema = z.object({
  userid: z.string().min(1),
  name: z.string(),
  /** Only the departments the secret can see. */
  department: z.array(int),
  order: z.array(z.number()).optional(),
  is_leader_in_dept: z.array(int).optional(),
  main_department: int.optional(),
  position: z.string().optional(),
  /** Withheld from self-built apps created after 2022-06-20 (as are email, biz_mail, avatar, address, qr_code). */
  mobile: z.string().optional(),
  /** "0" unknown, "1" male, "2" female; "0" when withheld. */
  gender: gender.optional(),
  email: z.string().optional(),
  avatar: z.string().optional(),
  telephone: z.string().optional(),
  alias: z.string().optional(),
  address: z.string().optional(),
  extattr: z.object({ attrs: z.array(extAttrSchema).default([]) }).optional(),
  /** 1 activated, 2 disabled, 4 not activated, 5 left the corp. */
  status: int.optional(),
});
export type WecomUserRecord = z.output<typeof userSchema>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): boolean => Number.isSafeInteger(v);
const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

function allInts(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!Number.isSafeInteger(v[i])) return false;
  return true;
}

function allNumbers(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}

function isPlainExtAttr(a: unknown): boolean {
  if (!isObject(a) || !isInt(a.type) || typeof a.name !== 'string' || !isOptionalString(a.value)) return false;
  if (a.text !== undefined && !(isObject(a.text) && typeof a.text.value === 'string')) return false;
  return a.web === undefined || (isObject(a.web) && isOptionalString(a.web.url) && isOptionalString(a.web.title));
}

/**
 * Whether a member record is one `userSchema` takes just as it is, so it can be read without the schema's copy: a
 * sync checks every record of every department (112,649 for a 100,000-user corp), and the copy and its garbage were
 * a large part of the read. Never more lenient than the schema; stricter where the schema would change the record
 * (a numeric gender becomes a string, a missing attrs list an empty one): such a record, and any record this does
 * not take, goes through `userSchema`, which converts it or names what is wrong. Keep the two in step
 * (test/connectors/wecom-records.test.ts compares them).
 */
export function isPlainUserRecord(raw: unknown): raw is WecomUserRecord {
  if (!isObject(raw)) return false;
  const u = raw;
  if (typeof u.userid !== 'string' || u.userid.length === 0 || typeof u.name !== 'string') return false;
  if (!allInts(u.department)) return false;
  if (u.order !== undefined && !allNumbers(u.order)) return false;
  if (u.is_leader_in_dept !== undefined && !allInts(u.is_leader_in_dept)) return false;
  if (u.main_department !== undefined && !isInt(u.main_department)) return false;
  if (u.status !== undefined && !isInt(u.status)) return false;
  if (
    !isOptionalString(u.position) ||
    !isOptionalString(u.mobile) ||
    !isOptionalString(u.gender) ||
    !isOptionalString(u.email) ||
    !isOptionalString(u.avatar) ||
    !isOptionalString(u.telephone) ||
    !isOptionalString(u.alias) ||
    !isOptionalString(u.address)
  )
    return false;
  if (u.extattr === undefined) return true;
  if (!isObject(u.extattr) || !Array.isArray(u.extattr.attrs)) return false;
  for (const a of u.extattr.attrs) if (!isPlainExtAttr(a)) return false;
  return true;
}

export const userGetSchema = userSchema;
export const userListSchema = z.object({ userlist: z.array(userSchema) });
/** user/list with each member left unchecked, to be checked one by one: one bad record does not lose the page. */
export const userListPageSchema = z.object({ userlist: z.array(z.unknown()) });

export const simpleUserSchema = z.object({
  userid: z.string().min(1),
  name: z.string(),
  department: z.array(int).optional(),
  open_userid: z.string().optional(),
});
export const userSimpleListSchema = z.object({ userlist: z.array(simpleUserSchema) });

export const userListIdSchema = z.object({
  /** Empty (or absent) at the end. */
  next_cursor: z.string().optional(),
  dept_user: z.array(z.object({ userid: z.string().min(1), department: int })).default([]),
});

export const agentGetSchema = z.object({
  agentid: int,
  name: z.string(),
  square_logo_url: z.string().optional(),
  description: z.string().optional(),
  allow_userinfos: z.object({ user: z.array(z.object({ userid: z.string() })).default([]) }).optional(),
  /** The visible range's departments. */
  allow_partys: z.object({ partyid: z.array(int).default([]) }).optional(),
  allow_tags: z.object({ tagid: z.array(int).default([]) }).optional(),
  close: int.optional(),
  redirect_domain: z.string().optional(),
  report_location_flag: int.optional(),
  isreportenter: int.optional(),
  home_url: z.string().optional(),
});

export const callbackIpSchema = z.object({ ip_list: z.array(z.string()) });
