import type { ErrorInfo, ValidationIssue } from '../errors.js';
import { USER_PROFILE_FIELDS, type Gender, type UserStatus } from './model.js';
import {
  checkControlChars,
  checkDepartmentName,
  checkDepartmentsPerUser,
  checkProfileField,
  checkUserId,
  checkUserName,
  userIdKey,
  type LimitViolation,
  type PlatformLimits,
} from './limits.js';

/**
 * What one source says about the org, in one shape for every source. For users, a key that is absent (undefined)
 * means "the source did not say"; null means "known to be empty".
 */
export interface Snapshot {
  /** false: the source could not read everything; nothing may be deleted or disabled on its word. */
  complete: boolean;
  /** Departments (source ids) whose subtree could not be read in full. */
  incompleteDepartments: string[];
  /**
   * Fields the source cannot see at all (e.g. mobile for a new WeCom self-built app): never taken as empty.
   * "status" unseen: the source lists people without saying whether they are active (e.g. a list of ids only).
   */
  unseenFields: UnseenField[];
  departments: SnapshotDepartment[];
  users: SnapshotUser[];
  /**
   * Records the source read but could not take (a platform answer that does not parse), each with why. They are left
   * out, and the departments that listed them are in incompleteDepartments, so nobody in them is taken as gone.
   */
  skipped?: ErrorInfo[];
}

export const UNSEEN_FIELDS = [...USER_PROFILE_FIELDS, 'status'] as const;
export type UnseenField = (typeof UNSEEN_FIELDS)[number];

export interface SnapshotDepartment {
  externalId: string;
  /** null: a top department of the source, hung under the source's mount department. */
  parentExternalId: string | null;
  name?: string;
  order?: number;
}

export interface SnapshotMembership {
  externalId: string;
  /** Absent: not known; an existing membership keeps its flag, a new one is not a leader. */
  leader?: boolean;
  /** Absent: not known; an existing membership keeps its order, a new one gets 0. */
  order?: number;
}

export interface SnapshotUser {
  externalId: string;
  /** The account name; defaults to externalId. */
  userid?: string;
  name?: string;
  alias?: string | null;
  position?: string | null;
  mobile?: string | null;
  email?: string | null;
  telephone?: string | null;
  gender?: Gender | null;
  avatar?: string | null;
  address?: string | null;
  employeeNo?: string | null;
  status?: UserStatus;
  mainDepartment?: string | null;
  departments?: SnapshotMembership[];
  attributes?: Record<string, string | null>;
  /**
   * What the source keeps on the user's link besides the id (e.g. DingTalk's unionid, which sign-in maps back to
   * the user). Absent: not said, the stored data stays; given: it replaces the stored data.
   */
  linkData?: Record<string, string>;
}

export function effectiveUserId(user: SnapshotUser): string {
  return user.userid ?? user.externalId;
}

function issueFrom(path: string, object: string, field: string, v: LimitViolation): ValidationIssue {
  return { path, object, field, message: v.message, hint: v.hint };
}

/**
 * Checks the snapshot as a whole: unique ids, a tree without cycles or unknown parents, the platform's depth and
 * size limits, and every user's fields and memberships. Returns every problem found, in input order.
 */
export function validateSnapshot(snapshot: Snapshot, limits: PlatformLimits): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const deptIndex = new Map<string, number>();

  snapshot.departments.forEach((d, i) => {
    const path = `departments[${i}]`;
    const object = `department "${d.externalId}"`;
    if (deptIndex.has(d.externalId)) {
      issues.push({
        path,
        object,
        field: 'externalId',
        message: `duplicate id; departments[${deptIndex.get(d.externalId)}] has the same one`,
        hint: 'Give every department its own externalId.',
      });
      return;
    }
    deptIndex.set(d.externalId, i);
    if (d.name !== undefined) {
      const v = checkDepartmentName(d.name, limits);
      if (v) issues.push(issueFrom(path, object, 'name', v));
    }
    if (d.order !== undefined && (!Number.isInteger(d.order) || d.order < 0 || d.order >= 2 ** 32)) {
      issues.push({
        path,
        object,
        field: 'order',
        message: `${d.order} is not an integer in [0, 2^32)`,
        hint: 'Use a whole number from 0 to 4294967295.',
      });
    }
  });

  if (limits.maxDepartments !== null && deptIndex.size > limits.maxDepartments) {
    issues.push({
      path: 'departments',
      field: 'departments',
      message: `${deptIndex.size} departments; ${limits.platform} allows at most ${limits.maxDepartments}`,
      hint: 'Split the org or remove departments.',
    });
  }

  // Parents: unknown ones and cycles, then depth, each department reported once.
  const depth = new Map<string, number>();
  snapshot.departments.forEach((d, i) => {
    if (deptIndex.get(d.externalId) !== i) return;
    const path = `departments[${i}]`;
    const object = `department "${d.externalId}"`;
    if (d.parentExternalId === null) return;
    if (d.parentExternalId === d.externalId) {
      issues.push({
        path,
        object,
        field: 'parentExternalId',
        message: 'the department is its own parent',
        hint: 'Point parentExternalId at another department, or null for a top department.',
      });
    } else if (!deptIndex.has(d.parentExternalId)) {
      issues.push({
        path,
        object,
        field: 'parentExternalId',
        message: `unknown parent "${d.parentExternalId}": no department in the snapshot has that externalId`,
        hint: 'Add the parent department to the snapshot, or use null for a top department.',
      });
    }
  });
  const reportedCycle = new Set<string>();
  for (const [id, i] of deptIndex) {
    if (depth.has(id)) continue;
    const chain: string[] = [];
    const onChain = new Set<string>();
    let cur: string | null = id;
    let base = 0;
    let broken = false;
    while (cur !== null) {
      const known = depth.get(cur);
      if (known !== undefined) {
        base = known;
        break;
      }
      if (onChain.has(cur)) {
        const cycle = chain.slice(chain.indexOf(cur));
        if (!cycle.some((c) => reportedCycle.has(c))) {
          for (const c of cycle) reportedCycle.add(c);
          const at = deptIndex.get(cur) ?? i;
          issues.push({
            path: `departments[${at}]`,
            object: `department "${cur}"`,
            field: 'parentExternalId',
            message: `the parents form a cycle: ${[...cycle, cur].map((c) => `"${c}"`).join(' → ')}`,
            hint: 'Break the cycle so that every department leads up to a top department (parentExternalId null).',
          });
        }
        broken = true;
        break;
      }
      const idx = deptIndex.get(cur);
      const d = idx === undefined ? undefined : snapshot.departments[idx];
      if (!d || d.parentExternalId === cur || (d.parentExternalId !== null && !deptIndex.has(d.parentExternalId))) {
        broken = true; // unknown parent or self-parent: reported above
        break;
      }
      chain.push(cur);
      onChain.add(cur);
      cur = d.parentExternalId;
    }
    if (broken) {
      for (const c of chain) depth.set(c, -1);
      continue;
    }
    for (let k = chain.length - 1; k >= 0; k--) {
      const c = chain[k] as string;
      base = base < 0 ? -1 : base + 1;
      depth.set(c, base);
    }
  }
  if (limits.maxDepth !== null) {
    for (const [id, i] of deptIndex) {
      const dd = depth.get(id) ?? 0;
      if (dd > limits.maxDepth) {
        issues.push({
          path: `departments[${i}]`,
          object: `department "${id}"`,
          field: 'parentExternalId',
          message: `the department is at level ${dd}; ${limits.platform} allows at most ${limits.maxDepth} levels`,
          hint: `Move it (or an ancestor) up so the tree is at most ${limits.maxDepth} levels deep.`,
        });
      }
    }
  }

  snapshot.incompleteDepartments.forEach((id, i) => {
    if (!deptIndex.has(id)) {
      issues.push({
        path: `incompleteDepartments[${i}]`,
        field: 'incompleteDepartments',
        message: `unknown department "${id}"`,
        hint: 'List only externalIds of departments in the snapshot.',
      });
    }
  });

  const userIndex = new Map<string, number>();
  const useridIndex = new Map<string, number>();
  snapshot.users.forEach((u, i) => {
    const path = `users[${i}]`;
    const object = `user "${u.externalId}"`;
    if (userIndex.has(u.externalId)) {
      issues.push({
        path,
        object,
        field: 'externalId',
        message: `duplicate id; users[${userIndex.get(u.externalId)}] has the same one`,
        hint: 'Give every user their own externalId.',
      });
      return;
    }
    userIndex.set(u.externalId, i);
    const userid = effectiveUserId(u);
    const useridField = u.userid === undefined ? 'externalId' : 'userid';
    const uv = checkUserId(userid, limits);
    if (uv) {
      issues.push(issueFrom(path, object, useridField, uv));
    } else {
      const other = useridIndex.get(userIdKey(userid));
      if (other !== undefined) {
        issues.push({
          path,
          object,
          field: useridField,
          message: `userid "${userid}" is already used by users[${other}]; userids are unique ignoring case`,
          hint: 'Give each user a userid that differs in more than letter case.',
        });
      } else {
        useridIndex.set(userIdKey(userid), i);
      }
    }
    if (u.name !== undefined) {
      const v = checkUserName(u.name, limits);
      if (v) issues.push(issueFrom(path, object, 'name', v));
    }
    for (const f of ['alias', 'position', 'mobile', 'email', 'telephone', 'address', 'employeeNo'] as const) {
      const value = u[f];
      if (typeof value === 'string') {
        const v = checkProfileField(f, value, limits);
        if (v) issues.push(issueFrom(path, object, f, v));
      }
    }
    if (u.departments !== undefined) {
      const seen = new Set<string>();
      u.departments.forEach((m, j) => {
        if (!deptIndex.has(m.externalId)) {
          issues.push({
            path: `${path}.departments[${j}]`,
            object,
            field: 'externalId',
            message: `unknown department "${m.externalId}"`,
            hint: 'Reference a department listed in "departments" of the snapshot.',
          });
        } else if (seen.has(m.externalId)) {
          issues.push({
            path: `${path}.departments[${j}]`,
            object,
            field: 'externalId',
            message: `department "${m.externalId}" is listed twice`,
            hint: 'List each department once per user.',
          });
        }
        seen.add(m.externalId);
      });
      const v = checkDepartmentsPerUser(seen.size, limits);
      if (v) issues.push(issueFrom(path, object, 'departments', v));
      if (typeof u.mainDepartment === 'string' && !seen.has(u.mainDepartment)) {
        issues.push({
          path,
          object,
          field: 'mainDepartment',
          message: `main department "${u.mainDepartment}" is not one of the user's departments`,
          hint: 'Set mainDepartment to one of the externalIds in the user\'s "departments".',
        });
      }
    } else if (typeof u.mainDepartment === 'string' && !deptIndex.has(u.mainDepartment)) {
      issues.push({
        path,
        object,
        field: 'mainDepartment',
        message: `unknown department "${u.mainDepartment}"`,
        hint: 'Reference a department listed in the snapshot.',
      });
    }
    if (u.linkData !== undefined) {
      for (const [key, value] of Object.entries(u.linkData)) {
        if (key === '' || key.length > 64 || typeof value !== 'string' || value.length > 256) {
          issues.push({
            path: `${path}.linkData`,
            object,
            field: 'linkData',
            message: `link data "${key}" must have a name of 1-64 characters and a text value of at most 256`,
            hint: 'Keep only short text values (such as an id) on the link.',
          });
        }
      }
    }
    if (u.attributes !== undefined) {
      for (const key of Object.keys(u.attributes)) {
        if (key.trim() === '' || key.length > 64) {
          issues.push({
            path: `${path}.attributes`,
            object,
            field: 'attributes',
            message: `attribute name "${key}" must be 1-64 characters`,
            hint: 'Rename the attribute.',
          });
        } else {
          const v = checkControlChars(key, `the attribute name "${key}"`);
          if (v) issues.push(issueFrom(`${path}.attributes`, object, 'attributes', v));
        }
      }
    }
  });

  return issues;
}

/** The run error of a record left out of a platform's read. */
export function skippedRecord(object: string, field: string, message: string, hint: string | undefined): ErrorInfo {
  return {
    code: 'RECORD_SKIPPED',
    object,
    message: `${object}, field "${field}": ${message}; the record was skipped and nobody in its departments was disabled or deleted`,
    hint: `${hint ? `${hint} ` : ''}Fix the record on the platform, then sync again.`,
    zh: {
      message: `${object}，字段 "${field}"：${message}；已跳过该记录，其所在部门中没有人被停用或删除`,
      hint: '在平台上修正该记录，然后重新同步。',
    },
  };
}

export interface SkipResult {
  /** The snapshot without the records skipped; their departments (and those of the skipped fields) incomplete. */
  snapshot: Snapshot;
  /** One run error per problem of a record skipped. */
  skipped: ErrorInfo[];
  /** Problems no record can be skipped for (the tree itself: duplicates, unknown parents, cycles, depth, size). */
  issues: ValidationIssue[];
}

const USER_PATH = /^users\[(\d+)\]/;
const DEPARTMENT_PATH = /^departments\[(\d+)\]$/;

/**
 * A platform's read with its invalid records left out instead of failing the run, so one bad record does not stop
 * the corp's sync: a user with an invalid field is skipped, a department keeps its place in the tree but its invalid
 * name or order is not taken (left unsaid). Every department such a record is in, on the platform's side and, for a
 * user the directory already holds, on the local side (`localDepartments`, the source ids of the departments the
 * directory has the user in; undefined for a user it does not hold), is marked incomplete, so the run disables and
 * deletes nobody there. A skipped user the directory holds in no department of the source leaves the whole read
 * incomplete rather than be taken as gone.
 */
export function skipInvalidRecords(
  snapshot: Snapshot,
  limits: PlatformLimits,
  localDepartments: (externalId: string) => readonly string[] | undefined,
): SkipResult {
  const found = validateSnapshot(snapshot, limits);
  if (found.length === 0) return { snapshot, skipped: [], issues: [] };
  const badUsers = new Set<number>();
  const badDepartmentFields = new Map<number, Set<'name' | 'order'>>();
  const skipped: ErrorInfo[] = [];
  const issues: ValidationIssue[] = [];
  for (const issue of found) {
    const user = USER_PATH.exec(issue.path);
    const dept = DEPARTMENT_PATH.exec(issue.path);
    if (user) {
      badUsers.add(Number(user[1]));
    } else if (dept && (issue.field === 'name' || issue.field === 'order')) {
      const i = Number(dept[1]);
      const fields = badDepartmentFields.get(i) ?? new Set();
      fields.add(issue.field);
      badDepartmentFields.set(i, fields);
    } else {
      issues.push(issue);
      continue;
    }
    skipped.push(skippedRecord(issue.object ?? issue.path, issue.field, issue.message, issue.hint));
  }
  const known = new Set(snapshot.departments.map((d) => d.externalId));
  const incomplete = new Set(snapshot.incompleteDepartments);
  let complete = snapshot.complete;
  const departments = snapshot.departments.map((d, i) => {
    const fields = badDepartmentFields.get(i);
    if (!fields) return d;
    incomplete.add(d.externalId);
    const copy = { ...d };
    for (const f of fields) delete copy[f];
    return copy;
  });
  const users = snapshot.users.filter((u, i) => {
    if (!badUsers.has(i)) return true;
    const local = localDepartments(u.externalId);
    const theirs = [
      ...(u.departments ?? []).map((m) => m.externalId),
      ...(typeof u.mainDepartment === 'string' ? [u.mainDepartment] : []),
      ...(local ?? []),
    ].filter((id) => known.has(id));
    for (const id of theirs) incomplete.add(id);
    if (local?.every((id) => !known.has(id))) complete = false;
    return false;
  });
  return {
    snapshot: { ...snapshot, complete, incompleteDepartments: [...incomplete], departments, users },
    skipped,
    issues,
  };
}
