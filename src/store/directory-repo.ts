import type { DirectoryState, UserProfile, UserScope, UserStatus } from '../directory/model.js';

export interface DepartmentRow {
  id: number;
  parentId: number | null;
  name: string;
  order: number;
}

export interface UserRow extends UserProfile {
  id: number;
  status: UserStatus;
  mainDepartmentId: number | null;
  attributes: Record<string, string>;
}

export type DepartmentPatch = Partial<Omit<DepartmentRow, 'id'>>;
export type UserPatch = Partial<Omit<UserRow, 'id'>>;

export interface MembershipRow {
  userId: number;
  departmentId: number;
  order: number;
  leader: boolean;
}

export type ObjectKind = 'department' | 'user';

export interface LinkRow {
  kind: ObjectKind;
  objectId: number;
  source: string;
  externalId: string;
  /** What the source keeps on the link besides the id; absent or null: nothing. */
  data?: Record<string, string> | null;
}

export interface DirectoryRepo {
  /**
   * The whole directory in one consistent read; with a scope, every department but only the users the scope names
   * (the state then carries `scope`).
   */
  load(scope?: UserScope): Promise<DirectoryState>;
  revision(): Promise<number>;
  /** Marks the directory changed; returns the new revision. */
  bumpRevision(): Promise<number>;
  /** Reserves `count` consecutive ids and returns the first. */
  allocateIds(kind: ObjectKind | 'run', count: number): Promise<number>;
  insertDepartments(rows: readonly DepartmentRow[]): Promise<void>;
  updateDepartment(id: number, patch: DepartmentPatch): Promise<void>;
  deleteDepartments(ids: readonly number[]): Promise<void>;
  insertUsers(rows: readonly UserRow[]): Promise<void>;
  updateUser(id: number, patch: UserPatch): Promise<void>;
  deleteUsers(ids: readonly number[]): Promise<void>;
  /** Each (user, department) at most once per call. */
  upsertMemberships(rows: readonly MembershipRow[]): Promise<void>;
  deleteMemberships(rows: ReadonlyArray<{ userId: number; departmentId: number }>): Promise<void>;
  insertLinks(rows: readonly LinkRow[]): Promise<void>;
  /** Replaces the data kept on existing links of `source` (null removes it). */
  setLinkData(
    kind: ObjectKind,
    source: string,
    rows: ReadonlyArray<{ objectId: number; data: Record<string, string> | null }>,
  ): Promise<void>;
  deleteLinks(kind: ObjectKind, objectIds: readonly number[]): Promise<void>;
  /**
   * A source renamed an object's id (WeCom's NewUserID): the link follows, so the object keeps its local identity.
   * False when no link has the old id; refused (throws) when the new id is already linked to another object.
   */
  renameLink(kind: ObjectKind, source: string, fromExternalId: string, toExternalId: string): Promise<boolean>;
}
