import type { PlatformLimits } from '../directory/limits.js';
import type { DirectoryState, UserScope } from '../directory/model.js';
import { effectiveUserId, type Snapshot, type SnapshotDepartment, type SnapshotUser } from '../directory/snapshot.js';
import type { Rebased, SourceConnector } from '../connectors/contract.js';
import type { Policy } from '../reconcile/policy.js';
import { executeRun, type RunProgress, type RunReport } from '../runs/run-service.js';
import type { Store } from '../store/store.js';
import { applyReads, sourceView, touchedUsers, type ObjectReads } from './view.js';

/** One contact change as a platform announced it, reduced to what was touched. */
export interface ContactEvent {
  object: 'user' | 'department';
  /** The source's id of the object. */
  externalId: string;
  /** The object's new id when the platform renamed it (WeCom's NewUserID). */
  newExternalId?: string;
}

/**
 * Targeted reads of single objects, by the platform's connector. null: the platform says the object does not exist
 * (after a leave or a remove that means gone). Any other failure throws, and the events stay to be tried again.
 */
export interface ObjectReader {
  readonly kind: string;
  readonly limits: PlatformLimits;
  readUser(externalId: string): Promise<SnapshotUser | null>;
  readDepartment(externalId: string): Promise<SnapshotDepartment | null>;
  readonly stats?: () => Record<string, unknown>;
}

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
 * The `stats` of a reader: the API calls its client made since the reader was made. A client outlives the runs it
 * serves (one per connection, so its rate limiter counts every run's calls), and each run has a reader of its own.
 */
export function callsSince(client: { stats(): { calls: number } }): () => Record<string, unknown> {
  const before = client.stats().calls;
  return () => ({ apiCalls: client.stats().calls - before });
}

/**
 * Reads in flight at most, per kind of object: the connector's client bounds concurrency (32 by default) and keeps
 * to the platform's rate limits, so this only keeps a large batch from queueing thousands of calls at once.
 */
const READ_CONCURRENCY = 32;

async function readAll<T>(ids: readonly string[], read: (id: string) => Promise<T>): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      out.set(id, await read(id));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, ids.length) }, worker));
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
  });

  async pull(): Promise<Snapshot> {
    // Users and departments are different APIs with their own rate limits: read side by side.
    const [users, departments] = await Promise.all([
      readAll(this.touched.users, (id) => this.reader.readUser(id)),
      readAll(this.touched.departments, (id) => this.reader.readDepartment(id)),
    ]);
    // A user may already be in a department whose create event is still on its way: read those too, and their
    // parents, so the user's memberships have somewhere to point.
    let missing = this.missingDepartments(users, departments);
    while (missing.length > 0) {
      for (const [id, d] of await readAll(missing, (x) => this.reader.readDepartment(x))) {
        departments.set(id, d);
        this.#ancestors.add(id);
      }
      missing = this.missingDepartments(new Map(), departments);
    }
    this.reads = { users, departments };
    return {
      complete: true,
      incompleteDepartments: [],
      unseenFields: [],
      departments: [...departments.values()].filter((d): d is SnapshotDepartment => d !== null),
      users: [...users.values()].filter((u): u is SnapshotUser => u !== null),
    };
  }

  private missingDepartments(users: ReadonlyMap<string, SnapshotUser | null>, departments: ReadonlyMap<string, SnapshotDepartment | null>): string[] {
    const missing = new Set<string>();
    const known = (id: string): boolean => this.knownParents.has(id) || departments.has(id);
    for (const u of users.values()) for (const m of u?.departments ?? []) if (!known(m.externalId)) missing.add(m.externalId);
    for (const [id, d] of departments) {
      const parent = d?.parentExternalId;
      if (parent == null || departments.has(parent)) continue;
      // A department that moved (or is new) takes its ancestors as they are now, up to the top: under a parent
      // still in its old place in the directory's tree, it could close a cycle, or sit deeper than the platform
      // allows, until the parent's own event arrives.
      if (!this.knownParents.has(parent) || this.knownParents.get(id) !== parent || this.#ancestors.has(id)) missing.add(parent);
    }
    return [...missing];
  }

  /**
   * The users the rebase and its plan can touch: those read (by the source's id, renamed ones under their new id),
   * the members of a department read as gone, and whoever a read user could be matched to or collide with.
   */
  readonly scope = (): UserScope => {
    const candidates: Array<UserScope['candidates'][number]> = [];
    for (const u of this.reads.users.values()) if (u) candidates.push({ externalId: u.externalId, userid: effectiveUserId(u), mobile: u.mobile, email: u.email });
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
export async function runEvents(store: Store, options: EventRunOptions): Promise<RunReport> {
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
  return executeRun(store, {
    kind: 'event',
    source: options.source,
    connector,
    policy: options.policy,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.leaseHolder !== undefined ? { leaseHolder: options.leaseHolder } : {}),
  });
}
