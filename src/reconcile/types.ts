import type { ErrorInfo } from '../errors.js';
import type { UserProfile, UserStatus } from '../directory/model.js';
import {
  emptyCounts,
  type ChangeCounts,
  type DepartmentAction,
  type FieldDiff,
  type Template,
  type UserAction,
} from '../store/run-repo.js';

// A run records its changes, counts and template in the store, so their types are the store's; the planner uses them
// as its own.
export { emptyCounts, type ChangeCounts, type DepartmentAction, type FieldDiff, type Template, type UserAction };

/** A local department or user: its id, or the key of one this plan creates (`new:<externalId>`). */
export type Ref = number | string;

export interface DepartmentChange {
  action: DepartmentAction;
  ref: Ref;
  externalId: string;
  /** The department's name, for people reading the plan. */
  label: string;
  /** Values to write: everything on create, only what changes otherwise. */
  set: { name?: string; order?: number; parent?: Ref };
  fields: Record<string, FieldDiff>;
  /** Link the local department to (source, externalId). */
  addLink?: boolean;
  /** The change lies in a subtree the source could not read in full; the guard holds it back. */
  incompleteScope?: boolean;
}

export interface MembershipWrite {
  department: Ref;
  order: number;
  leader: boolean;
}

export interface UserChange {
  action: UserAction;
  ref: Ref;
  externalId: string;
  label: string;
  set: Partial<UserProfile> & {
    status?: UserStatus;
    mainDepartment?: Ref | null;
    attributes?: Record<string, string>;
  };
  memberships?: { remove: number[]; upsert: MembershipWrite[] };
  fields: Record<string, FieldDiff>;
  addLink?: boolean;
  /** The data to keep on the user's link of this source: written with a new link, or replacing what an existing one holds. */
  linkData?: Record<string, string>;
  /** Disabled or deleted because the source no longer lists the user. */
  gone?: boolean;
  incompleteScope?: boolean;
}

export interface Plan {
  source: string;
  /** The directory revision the plan was made from; it applies to that revision only. */
  baseRevision: number;
  /** The source read everything: no part of it was incomplete. */
  complete: boolean;
  departments: DepartmentChange[];
  users: UserChange[];
  /** Objects left out of the plan, and why (e.g. a local account that would have been taken over). */
  issues: ErrorInfo[];
  /** Things worth knowing that change nothing (e.g. a department kept because it is not empty). */
  notes: ErrorInfo[];
  /** Active local users linked to this source before the plan: the base of the guard's ratio. */
  activeLinkedUsers: number;
}

export function countChanges(departments: readonly DepartmentChange[], users: readonly UserChange[]): ChangeCounts {
  const counts = emptyCounts();
  for (const c of departments) counts.departments[c.action]++;
  for (const c of users) counts.users[c.action]++;
  return counts;
}
