import type { DirectoryState, UserProfile, UserStatus } from '../directory/model.js';
import type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep } from '../runs/types.js';
import type { DialectName } from './migrations.js';

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
}

export interface DirectoryRepo {
  /** The whole directory in one consistent read. */
  load(): Promise<DirectoryState>;
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
  deleteLinks(kind: ObjectKind, objectIds: readonly number[]): Promise<void>;
}

export interface NewRun {
  kind: RunKind;
  source: string;
  dryRun: boolean;
  status: RunStatus;
}

export type RunPatch = Partial<Omit<RunRecord, 'id' | 'kind' | 'source' | 'createdAt'>>;

export interface RunRepo {
  create(run: NewRun): Promise<RunRecord>;
  update(id: number, patch: RunPatch): Promise<void>;
  get(id: number): Promise<RunRecord | undefined>;
  /** Newest first. */
  list(options?: { limit?: number; source?: string; status?: RunStatus }): Promise<RunRecord[]>;
  addStep(runId: number, step: RunStep): Promise<void>;
  steps(runId: number): Promise<RunStep[]>;
  addChanges(runId: number, changes: readonly RunChangeRecord[]): Promise<void>;
  changes(runId: number, options?: { limit?: number; offset?: number }): Promise<RunChangeRecord[]>;
  countChanges(runId: number): Promise<number>;
  /** Removes the recorded changes (a stored preview replaced by the applied result). */
  clearChanges(runId: number): Promise<void>;
  savePlan(runId: number, plan: Buffer | null): Promise<void>;
  loadPlan(runId: number): Promise<Buffer | null>;
}

export interface LockRepo {
  /** Takes the lock if it is free, expired, or already ours. */
  tryAcquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
}

export interface StoreRepos {
  directory: DirectoryRepo;
  runs: RunRepo;
  locks: LockRepo;
}

export interface Store extends StoreRepos {
  readonly dialect: DialectName;
  /** Runs fn in one transaction: all of its writes land, or none. */
  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
