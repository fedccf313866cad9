import type { Link, UserStatus } from '../directory/model.js';
import type { ErrorInfo } from '../errors.js';
import type { UserRow } from './directory-repo.js';
import type { FieldDiff, RunKind, RunStatus } from './run-repo.js';

/**
 * The reads the server answers from: pages and summaries shaped for the API, each one query (or one read
 * transaction), never the whole directory loaded into memory.
 */

export interface DepartmentListItem {
  id: number;
  parentId: number | null;
  name: string;
  order: number;
  /** Users in the department itself (not its subdepartments), active and disabled. */
  memberCount: number;
  links: Link[];
}

export interface MemberRow {
  id: number;
  userid: string | null;
  name: string | null;
  position: string | null;
  mobile: string | null;
  email: string | null;
  status: UserStatus;
  leader: boolean;
}

export interface MemberQuery {
  /** Part of the name, userid (ignoring case) or mobile. */
  q?: string | undefined;
  /** Users with a larger id than this (the last one of the previous page). */
  afterId?: number | undefined;
  limit: number;
}

export interface UserMembershipRow {
  departmentId: number;
  departmentName: string;
  leader: boolean;
  order: number;
}

export interface UserHistoryItem {
  runId: number;
  runKind: RunKind;
  runStatus: RunStatus;
  source: string;
  /** When the run started. */
  at: string | null;
  seq: number;
  action: string;
  externalId: string;
  label: string;
  fields: Record<string, FieldDiff>;
}

export interface Lease {
  holder: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface ViewRepo {
  /** Every department with its direct member count and links, by id, with the revision they were read at. */
  departmentList(): Promise<{ revision: number; items: DepartmentListItem[] }>;
  /**
   * The same list as the UTF-8 JSON text `{"revision":…,"items":[…]}`, built by the database itself: at 30,000
   * departments the objects of `departmentList` and their garbage cost more than reading the rows, and the text
   * goes out as it comes (SQLite hands it over as bytes, not decoded into a string and encoded again).
   */
  departmentListJson(): Promise<{ revision: number; json: Buffer }>;
  departmentExists(id: number): Promise<boolean>;
  /** Direct members of a department by user id, and how many match in all. */
  members(departmentId: number, query: MemberQuery): Promise<{ items: MemberRow[]; total: number }>;
  user(id: number): Promise<{ user: UserRow; memberships: UserMembershipRow[]; links: Link[] } | undefined>;
  /** The recorded changes of one user, newest first; previews that were never applied (planned, blocked) are left out. */
  userHistory(userId: number, limit: number): Promise<UserHistoryItem[]>;
  /** Who holds a lock (see LockRepo), if anyone ever took it. */
  lease(name: string): Promise<Lease | undefined>;
  /** Marks a run that is still `running` as failed with this error; false if it was no longer running. */
  abandonRun(runId: number, error: ErrorInfo): Promise<boolean>;
}
