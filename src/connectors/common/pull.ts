import type { z } from 'zod';
import {
  skippedRecord,
  type Snapshot,
  type SnapshotDepartment,
  type SnapshotMembership,
  type SnapshotUser,
  type UnseenField,
} from '../../directory/snapshot.js';
import type { ErrorInfo } from '../../errors.js';
import type { PullProgress } from '../contract.js';
import { ConnectorError } from './errors.js';

/**
 * What every platform pull does with member lists, whatever the platform: read each department's members
 * concurrently (the client bounds concurrency and rate), mark a department whose members could not be read as
 * incomplete (so nobody in it is disabled) while an error that is the whole connection's problem stops the pull,
 * keep a user listed by several departments once with every membership, and declare fields the platform withholds
 * as unseen rather than empty.
 */

/** A wrong secret, a missing permission, a setting: the whole connection's problem, not one department's. */
export function stopsThePull(err: unknown): boolean {
  return err instanceof ConnectorError && (err.kind === 'config' || err.kind === 'auth');
}

export interface CollectorOptions {
  /** Errors that are the connection's problem rather than one department's (a wrong secret, a missing permission): they stop the pull. */
  isFatal: (err: unknown) => boolean;
  /** Fields the platform withholds from some apps altogether (WeCom's new self-built apps, DingTalk apps without the 个人手机号信息 permission). */
  withheld: readonly UnseenField[];
  onProgress?: (progress: PullProgress) => void;
  /** Departments whose members are to be read, for progress (may grow while a tree is walked). */
  total?: () => number | undefined;
  /** The pull's own signal: aborting it stops the calls too. */
  signal?: AbortSignal;
}

export interface CollectedPull {
  /** Not `complete` when a member list or a part of the tree could not be read (see `finish`). */
  snapshot: Snapshot;
  /** Departments whose members, or whose sub-departments, could not be read. */
  incomplete: string[];
  /** No user carried any of the withheld fields: they were declared unseen. */
  withheld: boolean;
}

export class SnapshotCollector {
  /** For every call of the pull: aborted by the pull's signal or by the first fatal error. */
  readonly signal: AbortSignal;
  readonly #stop = new AbortController();
  readonly #onAbort = (): void => this.#stop.abort(this.options.signal?.reason);
  readonly #users = new Map<string, SnapshotUser | null>();
  readonly #incomplete = new Set<string>();
  /** A department's member list failed: who is in it is unknown. */
  #membersUnread = false;
  /** Records that did not parse, by object and field: a user listed by several departments is reported once. */
  readonly #skipped = new Map<string, ErrorInfo>();
  #contactSeen = false;
  #done = 0;

  constructor(private readonly options: CollectorOptions) {
    this.signal = this.#stop.signal;
    if (options.signal?.aborted) this.#stop.abort(options.signal.reason);
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Stops listening to the pull's signal; call it when the pull ends, however it ends. */
  close(): void {
    this.options.signal?.removeEventListener('abort', this.#onAbort);
  }

  /**
   * Whether an error stops the pull. The first one that does stops every call still waiting too (a wrong secret or a
   * missing permission fails them all alike); after that, every error does.
   */
  fatal(err: unknown): boolean {
    if (this.#stop.signal.aborted) return true;
    if (!this.options.isFatal(err)) return false;
    this.#stop.abort(err);
    return true;
  }

  /**
   * Reads one department's members with `read`; a failure that is not fatal marks the department incomplete, and the
   * read as a whole: anybody it did not list may have moved into that department, so nobody is taken as gone.
   */
  async department(externalId: string, read: () => Promise<void>): Promise<void> {
    try {
      await read();
    } catch (err) {
      if (this.fatal(err)) throw err;
      this.#incomplete.add(externalId);
      this.#membersUnread = true;
    }
    const total = this.options.total?.();
    this.options.onProgress?.({ phase: 'members', done: ++this.#done, ...(total !== undefined ? { total } : {}) });
  }

  /** A department the pull could not read in full for another reason (e.g. its sub-departments). */
  markIncomplete(externalId: string): void {
    this.#incomplete.add(externalId);
  }

  /**
   * One member record of a department's list, checked on its own: a record that does not parse is skipped (a run
   * error naming the user and the field) and the department that listed it is marked incomplete, so the rest of the
   * list, and of the corp, is still read and nobody in that department is taken as gone.
   */
  record<S extends z.ZodType>(
    schema: S,
    raw: unknown,
    departmentExternalId: string,
    platform: string,
  ): z.output<S> | undefined {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    this.#incomplete.add(departmentExternalId);
    const id = raw !== null && typeof raw === 'object' ? (raw as { userid?: unknown }).userid : undefined;
    this.skipped(
      typeof id === 'string' && id !== '' ? `user "${id}"` : `a member of department "${departmentExternalId}"`,
      parsed.error,
      platform,
    );
    return undefined;
  }

  /**
   * A record of `object` that did not parse, as run errors (one per field). Whoever skips it marks the departments
   * it concerns incomplete.
   */
  skipped(object: string, error: z.ZodError, platform: string): void {
    for (const issue of error.issues) {
      const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(record)';
      const key = `${object}\u0000${field}`;
      if (!this.#skipped.has(key)) {
        this.#skipped.set(
          key,
          skippedRecord(
            object,
            field,
            `${platform} sent a value orgsync does not understand (${issue.message})`,
            undefined,
          ),
        );
      }
    }
  }

  /** The platform sent one of the withheld fields for some user: the app does see them. */
  contactSeen(): void {
    this.#contactSeen = true;
  }

  /**
   * A member as a department's list gives them. The first sighting is converted (to null for someone who is gone,
   * as if absent); every sighting may add what its department's list says of that membership (leader flag, order).
   */
  member<T>(
    externalId: string,
    record: T,
    convert: (record: T) => SnapshotUser | null,
    membership?: SnapshotMembership,
  ): void {
    let user = this.#users.get(externalId);
    if (user === undefined) {
      user = convert(record);
      this.#users.set(externalId, user);
    }
    if (user === null || membership === undefined) return;
    const list = (user.departments ??= []);
    const existing = list.find((m) => m.externalId === membership.externalId);
    if (!existing) list.push(membership);
    else {
      if (membership.leader !== undefined) existing.leader = membership.leader;
      if (membership.order !== undefined) existing.order = membership.order;
    }
  }

  /**
   * The snapshot of `departments` and the members collected. Memberships in departments the pull did not see
   * (outside the app's range) are dropped; while the tree itself is incomplete such a membership may lie in the part
   * not read, so those users' memberships are left unsaid (kept as they are) instead.
   *
   * The snapshot is not `complete` when a member list failed or the tree is incomplete: a user or a department the
   * read did not see may have moved into the part it could not read (a member list that failed, a subtree not
   * walked), so the directory's own place for them says nothing, and no one may be disabled or deleted on this read.
   * A record skipped on its own (`record`) leaves only its department incomplete: the rest of that list was read.
   */
  finish(departments: SnapshotDepartment[], options: { treeComplete?: boolean } = {}): CollectedPull {
    const known = new Set(departments.map((d) => d.externalId));
    const treeComplete = options.treeComplete ?? true;
    const users: SnapshotUser[] = [];
    // The fields each user loses (see `without`); undefined: none.
    const drops: Array<string[] | undefined> = [];
    for (const u of this.#users.values()) {
      if (u === null) continue;
      let drop: string[] | undefined;
      if (u.departments?.some((m) => !known.has(m.externalId))) {
        if (treeComplete) u.departments = u.departments.filter((m) => known.has(m.externalId));
        else drop = ['departments', 'mainDepartment'];
      }
      if (typeof u.mainDepartment === 'string' && !known.has(u.mainDepartment)) (drop ??= []).push('mainDepartment');
      users.push(u);
      drops.push(drop);
    }
    // An app that gets none of the withheld fields for anybody does not see them: unseen, not empty.
    const withheld = users.length > 0 && !this.#contactSeen;
    const unseen: readonly string[] = withheld ? this.options.withheld : [];
    const dropAll = unseen.length > 0 ? new Set(unseen) : undefined;
    for (let i = 0; i < users.length; i++) {
      const extra = drops[i];
      const drop = extra ? new Set([...unseen, ...extra]) : dropAll;
      if (drop) users[i] = without(users[i] as SnapshotUser, drop);
    }
    const incomplete = [...this.#incomplete].filter((id) => known.has(id)).sort(byId);
    return {
      snapshot: {
        complete: treeComplete && !this.#membersUnread,
        incompleteDepartments: incomplete,
        unseenFields: withheld ? [...this.options.withheld] : [],
        departments,
        users,
        ...(this.#skipped.size > 0 ? { skipped: [...this.#skipped.values()] } : {}),
      },
      incomplete,
      withheld,
    };
  }
}

/**
 * The user without the fields in `drop`, as a new object. Deleting a property other than the last one added turns a
 * V8 object into a slow dictionary; the validation and the planner read every field of 100,000 of them (a
 * deleted gender made the plan step of a 100,000-user WeCom sync take half as long again).
 */
function without(u: SnapshotUser, drop: ReadonlySet<string>): SnapshotUser {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u)) if (!drop.has(k)) out[k] = v;
  return out as unknown as SnapshotUser;
}

/** Numeric ids by value, others as text. */
function byId(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}
