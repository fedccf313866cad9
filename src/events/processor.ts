import type { PlatformLimits } from '../directory/limits.js';
import type { DirectoryState, UserScope } from '../directory/model.js';
import { effectiveUserId, type Snapshot, type SnapshotDepartment, type SnapshotUser } from '../directory/snapshot.js';
import { ConnectorError } from '../connectors/common/errors.js';
import { stopsThePull } from '../connectors/common/pull.js';
import type { ObjectReader, Rebased, SourceConnector } from '../connectors/contract.js';
import { errorInfo, type ErrorInfo } from '../errors.js';
import type { Policy } from '../reconcile/policy.js';
import { executeRun, type RunProgress, type RunReport } from '../runs/run-service.js';
import type { ContactEvent } from '../store/inbox-repo.js';
import type { Store } from '../store/store.js';
import { applyReads, sourceView, touchedUsers, type ObjectReads } from './view.js';

// The inbox keeps events as they came, so the event's type is the store's.
export type { ContactEvent } from '../store/inbox-repo.js';

/** A read that failed for one object: the run goes on without it, and the messages naming it wait. */
export interface ObjectFailure {
  object: 'user' | 'department';
  externalId: string;
  /** Why; for an object that depends on an unreadable department (a member of it, a child), that department's. */
  error: ErrorInfo;
}

/**
 * A failure that is the whole connection's, not one object's: a wrong secret, a setting, a missing API permission.
 * Every other read would fail alike, so the run stops and every message waits (none is a dead letter for it).
 */
export function connectionWide(err: unknown): boolean {
  if (stopsThePull(err)) return true;
  return (
    err instanceof ConnectorError &&
    (err.code === 'WECOM_API_FORBIDDEN' ||
      err.code === 'WECOM_API_PERMISSION_REVOKED' ||
      err.code === 'WECOM_CONTACTS_SECRET_NEW_IP')
  );
}

/** The report of an event run, with the objects it could not read (left out of it). */
export type EventRunReport = RunReport & {
  unreadable: ObjectFailure[];
  /** Set when the run failed for the whole connection (see `connectionWide`). */
  connectionError?: ErrorInfo;
};

/** The objects a batch of events touched, each once, and the renames in the order they came. */
export interface CoalescedEvents {
  users: string[];
  departments: string[];
  renames: Array<{ from: string; to: string }>;
}

/**
 * A burst of events about the same objects needs one read per object: the read gives its state now, whatever the
 * events said in between. A renamed user is read under its new id.
 */
export function coalesce(events: readonly ContactEvent[]): CoalescedEvents {
  const users = new Set<string>();
  const departments = new Set<string>();
  const renames: Array<{ from: string; to: string }> = [];
  for (const e of events) {
    if (e.object === 'department') {
      departments.add(e.externalId);
      continue;
    }
    if (e.newExternalId !== undefined && e.newExternalId !== e.externalId) {
      renames.push({ from: e.externalId, to: e.newExternalId });
      users.delete(e.externalId);
      users.add(e.newExternalId);
    } else {
      users.add(e.externalId);
    }
  }
  return { users: [...users], departments: [...departments], renames };
}

/**
 * Reads in flight at most, per kind of object: the connector's client bounds concurrency (32 by default) and keeps
 * to the platform's rate limits, so this only keeps a large batch from queueing thousands of calls at once.
 */
const READ_CONCURRENCY = 32;

async function readAll<T>(
  ids: readonly string[],
  read: (id: string) => Promise<T>,
  failed: (id: string, err: unknown) => void,
): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  let next = 0;
  let fatal: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < ids.length && fatal === null) {
      const id = ids[next++] as string;
      try {
        out.set(id, await read(id));
      } catch (err) {
        // One object's failure leaves that object out; the connection's stops the whole read.
        if (connectionWide(err)) fatal = { err };
        else failed(id, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, ids.length) }, worker));
  if (fatal !== null) throw (fatal as { err: unknown }).err;
  return out;
}

/**
 * The connector of an event run: `pull` reads the touched objects (and any department a read user is in that the
 * directory does not know yet, and the ancestors of a department that moved); `rebase` lays them over the source's
 * view from the directory loaded under the lock.
 */
class EventSource implements SourceConnector {
  readonly kind: string;
  readonly limits: PlatformLimits;
  reads: ObjectReads = { departments: new Map(), users: new Map() };
  /** Departments read as the parent of a read one: their own parent is read too, up to the top. */
  readonly #ancestors = new Set<string>();

  constructor(
    private readonly source: string,
    private readonly reader: ObjectReader,
    private readonly touched: CoalescedEvents,
    /** The departments the directory knows, by the source's id, with their parent's (null at the top). */
    private readonly knownParents: ReadonlyMap<string, string | null>,
  ) {
    this.kind = reader.kind;
    // Reads give each object as it is now, laid over the directory's older tree: a department read after it moved
    // deeper can still carry a descendant the platform has since moved out of it, whose event is on its way. The
    // view is then deeper than the platform allows for a while; the platform keeps to its depth itself.
    this.limits = { ...reader.limits, maxDepth: null };
  }

  readonly stats = (): Record<string, unknown> => ({
    users: this.touched.users.length,
    departments: this.touched.departments.length,
    renames: this.touched.renames.length,
    ...(this.reader.stats?.() ?? {}),
    // Left out of this run; their messages wait and are tried again on their own.
    ...(this.failures.size > 0
      ? {
          unreadable: [...this.failures.values()].map((f) => ({
            object: f.object,
            externalId: f.externalId,
            code: f.error.code,
          })),
        }
      : {}),
  });

  /** Objects whose read failed, by `user:<id>` / `department:<id>`: left out of the run. */
  readonly failures = new Map<string, ObjectFailure>();
  /** Set when a read failed for the whole connection. */
  connectionError: ErrorInfo | null = null;

  async pull(): Promise<Snapshot> {
    try {
      return await this.#pull();
    } catch (err) {
      if (connectionWide(err)) this.connectionError = errorInfo(err);
      throw err;
    }
  }

  async #pull(): Promise<Snapshot> {
    const failed = (object: ObjectFailure['object']) => (externalId: string, err: unknown) => {
      const info = errorInfo(err);
      this.failures.set(`${object}:${externalId}`, {
        object,
        externalId,
        error: { ...info, object: info.object ?? `${object} "${externalId}"` },
      });
    };
    // Users and departments are different APIs with their own rate limits: read side by side.
    const [users, departments] = await Promise.all([
      readAll(this.touched.users, (id) => this.reader.readUser(id), failed('user')),
      readAll(this.touched.departments, (id) => this.reader.readDepartment(id), failed('department')),
    ]);
    // A user may already be in a department whose create event is still on its way: read those too, and their
    // parents, so the user's memberships have somewhere to point.
    let missing = this.missingDepartments(users, departments);
    while (missing.length > 0) {
      for (const [id, d] of await readAll(missing, (x) => this.reader.readDepartment(x), failed('department'))) {
        departments.set(id, d);
        this.#ancestors.add(id);
      }
      missing = this.missingDepartments(new Map(), departments);
    }
    this.#leaveOutDependents(users, departments);
    this.reads = { users, departments };
    return {
      complete: true,
      incompleteDepartments: [],
      unseenFields: [],
      departments: [...departments.values()].filter((d): d is SnapshotDepartment => d !== null),
      users: [...users.values()].filter((u): u is SnapshotUser => u !== null),
    };
  }

  /**
   * A read user in a department the directory does not know and that could not be read, or a read department
   * under a parent that could not be read, where the directory does not know that parent or the department moved
   * to it (its ancestors as they are now are unknown: it could close a cycle), cannot be applied as read: it is
   * left out too, with that department's error, and waits with it. A new department under a known parent that
   * could not be read goes under that parent as the directory has it.
   */
  #leaveOutDependents(
    users: Map<string, SnapshotUser | null>,
    departments: Map<string, SnapshotDepartment | null>,
  ): void {
    const unreadable = (id: string): ObjectFailure | undefined =>
      this.knownParents.has(id) || departments.has(id) ? undefined : this.failures.get(`department:${id}`);
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, d] of departments) {
        const parent = d?.parentExternalId;
        if (parent == null || departments.has(parent)) continue;
        const needed =
          !this.knownParents.has(parent) || (this.knownParents.has(id) && this.knownParents.get(id) !== parent);
        const cause = needed ? this.failures.get(`department:${parent}`) : undefined;
        if (!cause) continue;
        departments.delete(id);
        this.failures.set(`department:${id}`, { object: 'department', externalId: id, error: cause.error });
        changed = true;
      }
    }
    for (const [id, u] of users) {
      const cause = u?.departments?.map((m) => unreadable(m.externalId)).find((f) => f !== undefined);
      if (!cause) continue;
      users.delete(id);
      this.failures.set(`user:${id}`, { object: 'user', externalId: id, error: cause.error });
    }
  }

  private missingDepartments(
    users: ReadonlyMap<string, SnapshotUser | null>,
    departments: ReadonlyMap<string, SnapshotDepartment | null>,
  ): string[] {
    const missing = new Set<string>();
    // A department whose read failed is not read again in the same run.
    const known = (id: string): boolean =>
      this.knownParents.has(id) || departments.has(id) || this.failures.has(`department:${id}`);
    for (const u of users.values())
      for (const m of u?.departments ?? []) if (!known(m.externalId)) missing.add(m.externalId);
    for (const [id, d] of departments) {
      const parent = d?.parentExternalId;
      if (parent == null || departments.has(parent)) continue;
      // A department that moved (or is new) takes its ancestors as they are now, up to the top: under a parent
      // still in its old place in the directory's tree, it could close a cycle, or sit deeper than the platform
      // allows, until the parent's own event arrives.
      if (this.failures.has(`department:${parent}`)) continue;
      if (!this.knownParents.has(parent) || this.knownParents.get(id) !== parent || this.#ancestors.has(id))
        missing.add(parent);
    }
    return [...missing];
  }

  /**
   * The users the rebase and its plan can touch: those read (by the source's id, renamed ones under their new id),
   * the members of a department read as gone, and whoever a read user could be matched to or collide with.
   */
  readonly scope = (): UserScope => {
    const candidates: Array<UserScope['candidates'][number]> = [];
    for (const u of this.reads.users.values())
      if (u)
        candidates.push({ externalId: u.externalId, userid: effectiveUserId(u), mobile: u.mobile, email: u.email });
    return {
      source: this.source,
      externalIds: [...this.reads.users.keys()],
      memberOf: [...this.reads.departments].filter(([, d]) => d === null).map(([id]) => id),
      candidates,
    };
  };

  readonly rebase = (_pulled: Snapshot, directory: DirectoryState): Rebased => {
    const users = touchedUsers(directory, this.source, this.reads);
    return { snapshot: applyReads(sourceView(directory, this.source, users), this.reads), users };
  };
}

export interface EventRunOptions {
  /** The connection's name: the source of links and runs. */
  source: string;
  reader: ObjectReader;
  policy: Policy;
  events: readonly ContactEvent[];
  onProgress?: (progress: RunProgress) => void;
  /** See RunOptions.leaseHolder: a server holds its event runs' leases, so its sweep fails those a crash left. */
  leaseHolder?: string;
}

/**
 * One batch of contact-change events as one run of kind "event": renames first (the link follows the new id),
 * then targeted reads, then the same plan → guard → apply as a sync, on the whole org as the source sees it.
 */
export async function runEvents(store: Store, options: EventRunOptions): Promise<EventRunReport> {
  const touched = coalesce(options.events);
  for (const { from, to } of touched.renames) {
    await store.transaction(async (tx) => {
      if (await tx.directory.renameLink('user', options.source, from, to)) await tx.directory.bumpRevision();
    });
  }
  // Which departments the directory knows and where: the department list, not the whole directory (users and
  // memberships), which executeRun loads anyway under the lock.
  const list = (await store.views.departmentList()).items;
  const external = new Map<number, string>();
  for (const d of list) {
    const link = d.links.find((l) => l.source === options.source);
    if (link) external.set(d.id, link.externalId);
  }
  const knownParents = new Map<string, string | null>();
  for (const d of list) {
    const id = external.get(d.id);
    if (id !== undefined) knownParents.set(id, d.parentId === null ? null : (external.get(d.parentId) ?? null));
  }
  const connector = new EventSource(options.source, options.reader, touched, knownParents);
  const report = await executeRun(store, {
    kind: 'event',
    source: options.source,
    connector,
    policy: options.policy,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.leaseHolder !== undefined ? { leaseHolder: options.leaseHolder } : {}),
  });
  return {
    ...report,
    unreadable: [...connector.failures.values()],
    ...(connector.connectionError ? { connectionError: connector.connectionError } : {}),
  };
}
