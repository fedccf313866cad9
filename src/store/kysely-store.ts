import { type Kysely, type Transaction } from 'kysely';
import type { DirectoryState, LocalDepartment, LocalUser, Link, UserStatus } from '../directory/model.js';
import type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep } from '../runs/types.js';
import { emptyCounts } from '../reconcile/types.js';
import type { DialectName } from './migrations.js';
import type { Database, RunsTable, UsersTable } from './schema.js';
import type {
  DepartmentPatch,
  DepartmentRow,
  DirectoryRepo,
  LinkRow,
  LockRepo,
  MembershipRow,
  NewRun,
  ObjectKind,
  RunPatch,
  RunRepo,
  Store,
  StoreRepos,
  UserPatch,
  UserRow,
} from './store.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const CHUNK = 1000;

function chunks<T>(rows: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

const now = (): string => new Date().toISOString();

function userValues(r: UserRow, at: string): UsersTable {
  return {
    id: r.id,
    userid: r.userid,
    userid_key: r.userid === null ? null : r.userid.toLowerCase(),
    name: r.name,
    alias: r.alias,
    position: r.position,
    mobile: r.mobile,
    email: r.email,
    telephone: r.telephone,
    gender: r.gender,
    avatar: r.avatar,
    address: r.address,
    employee_no: r.employeeNo,
    status: r.status,
    main_department_id: r.mainDepartmentId,
    attributes: JSON.stringify(r.attributes),
    created_at: at,
    updated_at: at,
  };
}

function userPatchValues(p: UserPatch): Partial<UsersTable> {
  const v: Partial<UsersTable> = {};
  if (p.userid !== undefined) {
    v.userid = p.userid;
    v.userid_key = p.userid === null ? null : p.userid.toLowerCase();
  }
  if (p.name !== undefined) v.name = p.name;
  if (p.alias !== undefined) v.alias = p.alias;
  if (p.position !== undefined) v.position = p.position;
  if (p.mobile !== undefined) v.mobile = p.mobile;
  if (p.email !== undefined) v.email = p.email;
  if (p.telephone !== undefined) v.telephone = p.telephone;
  if (p.gender !== undefined) v.gender = p.gender;
  if (p.avatar !== undefined) v.avatar = p.avatar;
  if (p.address !== undefined) v.address = p.address;
  if (p.employeeNo !== undefined) v.employee_no = p.employeeNo;
  if (p.status !== undefined) v.status = p.status;
  if (p.mainDepartmentId !== undefined) v.main_department_id = p.mainDepartmentId;
  if (p.attributes !== undefined) v.attributes = JSON.stringify(p.attributes);
  return v;
}

class KyselyDirectoryRepo implements DirectoryRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: DialectName,
  ) {}

  async load(): Promise<DirectoryState> {
    if (!this.db.isTransaction) {
      // A consistent picture even while another process writes: one read transaction.
      const t = (this.db as Kysely<Database>).transaction().setAccessMode('read only');
      return (this.dialect === 'postgres' ? t.setIsolationLevel('repeatable read') : t).execute((trx) =>
        new KyselyDirectoryRepo(trx, this.dialect).load(),
      );
    }
    const db = this.db;
    const revision = await this.revision();
    const [deptRows, userRows, membershipRows, linkRows] = [
      await db.selectFrom('departments').selectAll().orderBy('id').execute(),
      await db.selectFrom('users').selectAll().orderBy('id').execute(),
      await db.selectFrom('memberships').selectAll().orderBy('user_id').orderBy('department_id').execute(),
      await db.selectFrom('links').selectAll().orderBy('object_kind').orderBy('object_id').orderBy('source').execute(),
    ];
    const deptLinks = new Map<number, Link[]>();
    const userLinks = new Map<number, Link[]>();
    for (const l of linkRows) {
      const map = l.object_kind === 'department' ? deptLinks : userLinks;
      const list = map.get(l.object_id);
      const link = { source: l.source, externalId: l.external_id };
      if (list) list.push(link);
      else map.set(l.object_id, [link]);
    }
    const departments: LocalDepartment[] = deptRows.map((d) => ({
      id: d.id,
      parentId: d.parent_id,
      name: d.name,
      order: d.sort_order,
      links: deptLinks.get(d.id) ?? [],
    }));
    const users: LocalUser[] = [];
    const byId = new Map<number, LocalUser>();
    for (const u of userRows) {
      const user: LocalUser = {
        id: u.id,
        userid: u.userid,
        name: u.name,
        alias: u.alias,
        position: u.position,
        mobile: u.mobile,
        email: u.email,
        telephone: u.telephone,
        gender: u.gender,
        avatar: u.avatar,
        address: u.address,
        employeeNo: u.employee_no,
        status: u.status as UserStatus,
        mainDepartmentId: u.main_department_id,
        attributes: JSON.parse(u.attributes) as Record<string, string>,
        memberships: [],
        links: userLinks.get(u.id) ?? [],
      };
      users.push(user);
      byId.set(user.id, user);
    }
    for (const m of membershipRows) {
      byId.get(m.user_id)?.memberships.push({ departmentId: m.department_id, order: m.sort_order, leader: m.leader === 1 });
    }
    const root = departments.find((d) => d.parentId === null);
    return { revision, rootId: root?.id ?? 1, departments, users };
  }

  async revision(): Promise<number> {
    const row = await this.db.selectFrom('counters').select('value').where('name', '=', 'revision').executeTakeFirstOrThrow();
    return row.value;
  }

  async bumpRevision(): Promise<number> {
    return this.allocateIds('revision', 1);
  }

  async allocateIds(kind: ObjectKind | 'run' | 'revision', count: number): Promise<number> {
    const row = await this.db
      .updateTable('counters')
      .set((eb) => ({ value: eb('value', '+', count) }))
      .where('name', '=', kind)
      .returning('value')
      .executeTakeFirstOrThrow();
    return row.value - count + 1;
  }

  async insertDepartments(rows: readonly DepartmentRow[]): Promise<void> {
    const at = now();
    for (const part of chunks(rows)) {
      await this.db
        .insertInto('departments')
        .values(part.map((r) => ({ id: r.id, parent_id: r.parentId, name: r.name, sort_order: r.order, created_at: at, updated_at: at })))
        .execute();
    }
  }

  async updateDepartment(id: number, patch: DepartmentPatch): Promise<void> {
    await this.db
      .updateTable('departments')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.order !== undefined ? { sort_order: patch.order } : {}),
        ...(patch.parentId !== undefined ? { parent_id: patch.parentId } : {}),
        updated_at: now(),
      })
      .where('id', '=', id)
      .execute();
  }

  async deleteDepartments(ids: readonly number[]): Promise<void> {
    // One at a time, in the caller's order (children first), so the parent reference never dangles.
    for (const id of ids) await this.db.deleteFrom('departments').where('id', '=', id).execute();
  }

  async insertUsers(rows: readonly UserRow[]): Promise<void> {
    const at = now();
    for (const part of chunks(rows, 500)) {
      await this.db.insertInto('users').values(part.map((r) => userValues(r, at))).execute();
    }
  }

  async updateUser(id: number, patch: UserPatch): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ ...userPatchValues(patch), updated_at: now() })
      .where('id', '=', id)
      .execute();
  }

  async deleteUsers(ids: readonly number[]): Promise<void> {
    for (const part of chunks(ids)) await this.db.deleteFrom('users').where('id', 'in', part).execute();
  }

  async upsertMemberships(rows: readonly MembershipRow[]): Promise<void> {
    for (const part of chunks(rows)) {
      await this.db
        .insertInto('memberships')
        .values(part.map((m) => ({ user_id: m.userId, department_id: m.departmentId, sort_order: m.order, leader: m.leader ? 1 : 0 })))
        .onConflict((oc) =>
          oc.columns(['user_id', 'department_id']).doUpdateSet((eb) => ({
            sort_order: eb.ref('excluded.sort_order'),
            leader: eb.ref('excluded.leader'),
          })),
        )
        .execute();
    }
  }

  async deleteMemberships(rows: ReadonlyArray<{ userId: number; departmentId: number }>): Promise<void> {
    for (const m of rows) {
      await this.db.deleteFrom('memberships').where('user_id', '=', m.userId).where('department_id', '=', m.departmentId).execute();
    }
  }

  async insertLinks(rows: readonly LinkRow[]): Promise<void> {
    const at = now();
    for (const part of chunks(rows)) {
      await this.db
        .insertInto('links')
        .values(part.map((l) => ({ object_kind: l.kind, object_id: l.objectId, source: l.source, external_id: l.externalId, created_at: at })))
        .execute();
    }
  }

  async deleteLinks(kind: ObjectKind, objectIds: readonly number[]): Promise<void> {
    for (const part of chunks(objectIds)) {
      await this.db.deleteFrom('links').where('object_kind', '=', kind).where('object_id', 'in', part).execute();
    }
  }
}

function runFromRow(r: Omit<RunsTable, 'plan'>): RunRecord {
  return {
    id: r.id,
    kind: r.kind as RunKind,
    source: r.source,
    status: r.status as RunStatus,
    dryRun: r.dry_run === 1,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    baseRevision: r.base_revision,
    counts: JSON.parse(r.counts),
    errors: JSON.parse(r.errors),
    notes: JSON.parse(r.notes),
    summary: JSON.parse(r.summary),
  };
}

const RUN_COLUMNS = [
  'id',
  'kind',
  'source',
  'status',
  'dry_run',
  'created_at',
  'started_at',
  'finished_at',
  'base_revision',
  'counts',
  'errors',
  'notes',
  'summary',
] as const;

class KyselyRunRepo implements RunRepo {
  constructor(
    private readonly db: Db,
    private readonly directory: KyselyDirectoryRepo,
  ) {}

  async create(run: NewRun): Promise<RunRecord> {
    const id = await this.directory.allocateIds('run', 1);
    const row = {
      id,
      kind: run.kind,
      source: run.source,
      status: run.status,
      dry_run: run.dryRun ? 1 : 0,
      created_at: now(),
      started_at: now(),
      finished_at: null,
      base_revision: null,
      counts: JSON.stringify(emptyCounts()),
      errors: '[]',
      notes: '[]',
      summary: '{}',
      plan: null,
    };
    await this.db.insertInto('runs').values(row).execute();
    return runFromRow(row);
  }

  async update(id: number, patch: RunPatch): Promise<void> {
    const v: Partial<RunsTable> = {};
    if (patch.status !== undefined) v.status = patch.status;
    if (patch.dryRun !== undefined) v.dry_run = patch.dryRun ? 1 : 0;
    if (patch.startedAt !== undefined) v.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) v.finished_at = patch.finishedAt;
    if (patch.baseRevision !== undefined) v.base_revision = patch.baseRevision;
    if (patch.counts !== undefined) v.counts = JSON.stringify(patch.counts);
    if (patch.errors !== undefined) v.errors = JSON.stringify(patch.errors);
    if (patch.notes !== undefined) v.notes = JSON.stringify(patch.notes);
    if (patch.summary !== undefined) v.summary = JSON.stringify(patch.summary);
    if (Object.keys(v).length === 0) return;
    await this.db.updateTable('runs').set(v).where('id', '=', id).execute();
  }

  async get(id: number): Promise<RunRecord | undefined> {
    const row = await this.db.selectFrom('runs').select(RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? runFromRow(row) : undefined;
  }

  async list(options: { limit?: number; source?: string; status?: RunStatus } = {}): Promise<RunRecord[]> {
    let q = this.db.selectFrom('runs').select(RUN_COLUMNS).orderBy('id', 'desc').limit(options.limit ?? 50);
    if (options.source !== undefined) q = q.where('source', '=', options.source);
    if (options.status !== undefined) q = q.where('status', '=', options.status);
    return (await q.execute()).map(runFromRow);
  }

  async addStep(runId: number, step: RunStep): Promise<void> {
    await this.db
      .insertInto('run_steps')
      .values({
        run_id: runId,
        seq: step.seq,
        name: step.name,
        status: step.status,
        started_at: step.startedAt,
        duration_ms: Math.round(step.durationMs),
        detail: JSON.stringify(step.detail),
      })
      .execute();
  }

  async steps(runId: number): Promise<RunStep[]> {
    const rows = await this.db.selectFrom('run_steps').selectAll().where('run_id', '=', runId).orderBy('seq').execute();
    return rows.map((r) => ({
      seq: r.seq,
      name: r.name,
      status: r.status as RunStep['status'],
      startedAt: r.started_at,
      durationMs: r.duration_ms,
      detail: JSON.parse(r.detail),
    }));
  }

  async addChanges(runId: number, changes: readonly RunChangeRecord[]): Promise<void> {
    for (const part of chunks(changes)) {
      await this.db
        .insertInto('run_changes')
        .values(
          part.map((c) => ({
            run_id: runId,
            seq: c.seq,
            object_kind: c.objectKind,
            action: c.action,
            object_id: c.objectId,
            external_id: c.externalId,
            label: c.label,
            fields: JSON.stringify(c.fields),
          })),
        )
        .execute();
    }
  }

  async changes(runId: number, options: { limit?: number; offset?: number } = {}): Promise<RunChangeRecord[]> {
    const rows = await this.db
      .selectFrom('run_changes')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .limit(options.limit ?? 1_000_000)
      .offset(options.offset ?? 0)
      .execute();
    return rows.map((r) => ({
      seq: r.seq,
      objectKind: r.object_kind,
      action: r.action,
      objectId: r.object_id,
      externalId: r.external_id,
      label: r.label,
      fields: JSON.parse(r.fields),
    }));
  }

  async countChanges(runId: number): Promise<number> {
    const row = await this.db
      .selectFrom('run_changes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async clearChanges(runId: number): Promise<void> {
    await this.db.deleteFrom('run_changes').where('run_id', '=', runId).execute();
  }

  async savePlan(runId: number, plan: Buffer | null): Promise<void> {
    await this.db.updateTable('runs').set({ plan }).where('id', '=', runId).execute();
  }

  async loadPlan(runId: number): Promise<Buffer | null> {
    const row = await this.db.selectFrom('runs').select('plan').where('id', '=', runId).executeTakeFirst();
    return row?.plan ? Buffer.from(row.plan) : null;
  }
}

class KyselyLockRepo implements LockRepo {
  constructor(private readonly db: Db) {}

  async tryAcquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const at = Date.now();
    // One statement, atomic on both engines: insert, or take over a lock that expired or is already ours.
    const row = await this.db
      .insertInto('locks')
      .values({ name, holder, expires_at: at + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({ holder: eb.ref('excluded.holder'), expires_at: eb.ref('excluded.expires_at') }))
          .where((eb) => eb.or([eb('locks.expires_at', '<', at), eb('locks.holder', '=', holder)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('locks').where('name', '=', name).where('holder', '=', holder).execute();
  }
}

function repos(db: Db, dialect: DialectName): StoreRepos {
  const directory = new KyselyDirectoryRepo(db, dialect);
  return { directory, runs: new KyselyRunRepo(db, directory), locks: new KyselyLockRepo(db) };
}

export class KyselyStore implements Store {
  readonly directory: DirectoryRepo;
  readonly runs: RunRepo;
  readonly locks: LockRepo;

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
  ) {
    ({ directory: this.directory, runs: this.runs, locks: this.locks } = repos(db, dialect));
  }

  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(repos(trx, this.dialect)));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
