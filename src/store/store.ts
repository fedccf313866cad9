import type { DirectoryState, UserProfile, UserScope, UserStatus } from '../directory/model.js';
import type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep } from '../runs/types.js';
import type { AccessRepo } from './access-repo.js';
import type { DialectName } from './migrations.js';
import type { InboxRepo } from './inbox-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import type { ViewRepo } from './view-repo.js';

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
  setLinkData(kind: ObjectKind, source: string, rows: ReadonlyArray<{ objectId: number; data: Record<string, string> | null }>): Promise<void>;
  deleteLinks(kind: ObjectKind, objectIds: readonly number[]): Promise<void>;
  /**
   * A source renamed an object's id (WeCom's NewUserID): the link follows, so the object keeps its local identity.
   * False when no link has the old id; refused (throws) when the new id is already linked to another object.
   */
  renameLink(kind: ObjectKind, source: string, fromExternalId: string, toExternalId: string): Promise<boolean>;
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
  list(options?: { limit?: number; source?: string; status?: RunStatus; kind?: RunKind; beforeId?: number }): Promise<RunRecord[]>;
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

export type Platform = 'wecom' | 'dingtalk';

/** A configured source: settings and policy as JSON values, secrets as the encrypted blob, never in the clear. */
export interface ConnectionRow {
  id: number;
  /** Unique; also the source name on links and runs. */
  name: string;
  platform: Platform;
  settings: Record<string, unknown>;
  secrets: string;
  policy: Record<string, unknown>;
  /** Org sync is switched on (开启同步): runs started from the API need it. New connections start with it off. */
  syncEnabled: boolean;
  /** The scheduled full sync of the connection, a cron expression (checked by the connection service); null: off. */
  reconcileCron: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A connection's scheduled full sync unless it says otherwise: daily at 02:00 (migration 0006 gives it to existing ones). */
export const DEFAULT_RECONCILE_CRON = '0 2 * * *';

/** Without reconcileCron, a new connection gets DEFAULT_RECONCILE_CRON. */
export type NewConnection = Pick<ConnectionRow, 'name' | 'platform' | 'settings' | 'secrets' | 'policy'> & Partial<Pick<ConnectionRow, 'reconcileCron'>>;
export type ConnectionRowPatch = Partial<Pick<ConnectionRow, 'settings' | 'secrets' | 'policy' | 'syncEnabled' | 'reconcileCron'>>;

export interface ConnectionRepo {
  /** Refuses a name already taken with CONNECTION_EXISTS. */
  create(connection: NewConnection): Promise<ConnectionRow>;
  /** With forUpdate inside a transaction, other writers of the row wait until it ends (PostgreSQL; SQLite's write lock already does). */
  get(name: string, options?: { forUpdate?: boolean }): Promise<ConnectionRow | undefined>;
  /** By name. */
  list(): Promise<ConnectionRow[]>;
  /** Returns the updated row, or undefined if there is no such connection. */
  update(name: string, patch: ConnectionRowPatch): Promise<ConnectionRow | undefined>;
  /** Returns whether there was such a connection. */
  remove(name: string): Promise<boolean>;
}

export interface StoreRepos {
  directory: DirectoryRepo;
  runs: RunRepo;
  locks: LockRepo;
  connections: ConnectionRepo;
  /** Admins, sessions and API tokens of the server. */
  access: AccessRepo;
  /** Pages and summaries the server's API reads. */
  views: ViewRepo;
  /** Contact-change messages from the platforms' callbacks, stored before they are answered. */
  inbox: InboxRepo;
  /** Named values of the installation, e.g. the master key's fingerprint. */
  settings: SettingsRepo;
}

export interface Store extends StoreRepos {
  readonly dialect: DialectName;
  /** Runs fn in one transaction: all of its writes land, or none. */
  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
