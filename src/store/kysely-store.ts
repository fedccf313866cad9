import type SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, sql, type Compilable, type Kysely, type Transaction } from 'kysely';
import { OrgsyncError } from '../errors.js';
import { emailKey, mobileKey, userIdKey } from '../directory/limits.js';
import type { DirectoryState, LocalDepartment, LocalUser, Link, UserScope, UserStatus } from '../directory/model.js';
import type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep } from '../runs/types.js';
import { emptyCounts } from '../reconcile/types.js';
import { KyselyAccessRepo, type AccessRepo } from './access-repo.js';
import { KyselyInboxRepo, type InboxRepo } from './inbox-repo.js';
import { KyselySettingsRepo, type SettingsRepo } from './settings-repo.js';
import type { DialectName } from './migrations.js';
import { KyselyViewRepo, type ViewRepo } from './view-repo.js';
import type { ConnectionsTable, Database, RunsTable, UsersTable } from './schema.js';
import { DEFAULT_RECONCILE_CRON } from './store.js';
import type {
  ConnectionRepo,
  ConnectionRow,
  ConnectionRowPatch,
  DepartmentPatch,
  DepartmentRow,
  DirectoryRepo,
  LinkRow,
  LockRepo,
  MembershipRow,
  NewConnection,
  NewRun,
  Platform,
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

/**
 * Reads whole tables as arrays of column values, in select order. On SQLite it uses better-sqlite3's raw mode:
 * building an object per row costs about twice the read itself for a 15-column row (measured on the 100,000 users
 * of a directory load), and the caller builds its own objects anyway. Only inside a transaction, so the raw
 * statement runs on the connection the transaction holds; elsewhere, and on PostgreSQL, Kysely's rows are mapped.
 */
export class RowReader {
  constructor(private readonly sqlite?: SqliteDatabase.Database) {}

  async arrays(db: Db, query: Compilable): Promise<unknown[][]> {
    const compiled = query.compile();
    if (this.sqlite && db.isTransaction) return this.sqlite.prepare(compiled.sql).raw(true).all(compiled.parameters as unknown[]) as unknown[][];
    return (await db.executeQuery<Record<string, unknown>>(compiled)).rows.map((r) => Object.values(r));
  }
}

/**
 * Multi-row INSERT for the bulk paths of an import. Kysely's builder spends more time shaping 100,000 rows than
 * the database spends writing them; here the statement text depends only on the table and the row count, so it is
 * built once per shape (and SQLite's statement cache reuses the compiled statement), and Kysely still executes it
 * inside the caller's transaction.
 */
class BulkInsert {
  private readonly texts = new Map<string, string>();

  constructor(private readonly dialect: DialectName) {}

  async run(db: Db, table: keyof Database, columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>, suffix = ''): Promise<void> {
    const width = columns.length;
    const size = Math.floor(Math.min(CHUNK * 10, 30_000 / width));
    for (let start = 0; start < rows.length; start += size) {
      const count = Math.min(size, rows.length - start);
      const params = new Array<unknown>(count * width);
      for (let r = 0; r < count; r++) {
        const row = rows[start + r] as readonly unknown[];
        for (let c = 0; c < width; c++) params[r * width + c] = row[c];
      }
      await db.executeQuery(CompiledQuery.raw(this.text(table, columns, count, suffix), params));
    }
  }

  private text(table: string, columns: readonly string[], count: number, suffix: string): string {
    const key = `${table}|${columns.join(',')}|${count}|${suffix}`;
    let text = this.texts.get(key);
    if (text === undefined) {
      let n = 0;
      const tuple = (): string => `(${columns.map(() => (this.dialect === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
      text = `insert into ${table} (${columns.join(', ')}) values ${Array.from({ length: count }, tuple).join(', ')}${suffix}`;
      if (this.texts.size > 64) this.texts.clear();
      this.texts.set(key, text);
    }
    return text;
  }
}

const now = (): string => new Date().toISOString();

/** A link's data as stored: JSON with its keys sorted, or null for none. */
function linkData(data: Record<string, string> | null | undefined): string | null {
  if (!data) return null;
  const keys = Object.keys(data).sort();
  return keys.length === 0 ? null : JSON.stringify(Object.fromEntries(keys.map((k) => [k, data[k]])));
}

const USER_COLUMNS = [
  'id',
  'userid',
  'userid_key',
  'name',
  'alias',
  'position',
  'mobile',
  'email',
  'telephone',
  'gender',
  'avatar',
  'address',
  'employee_no',
  'status',
  'main_department_id',
  'attributes',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof UsersTable>;

function userRow(r: UserRow, at: string): unknown[] {
  return [
    r.id,
    r.userid,
    r.userid === null ? null : r.userid.toLowerCase(),
    r.name,
    r.alias,
    r.position,
    r.mobile,
    r.email,
    r.telephone,
    r.gender,
    r.avatar,
    r.address,
    r.employeeNo,
    r.status,
    r.mainDepartmentId,
    JSON.stringify(r.attributes),
    at,
    at,
  ];
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
    private readonly bulk: BulkInsert,
    private readonly reader: RowReader,
  ) {}

  async load(scope?: UserScope): Promise<DirectoryState> {
    if (!this.db.isTransaction) {
      // A consistent picture even while another process writes: one read transaction.
      const t = (this.db as Kysely<Database>).transaction().setAccessMode('read only');
      return (this.dialect === 'postgres' ? t.setIsolationLevel('repeatable read') : t).execute((trx) =>
        new KyselyDirectoryRepo(trx, this.dialect, this.bulk, this.reader).load(scope),
      );
    }
    const db = this.db;
    const revision = await this.revision();
    const rows = (query: Compilable): Promise<unknown[][]> => this.reader.arrays(db, query);
    const USER_COLUMNS = ['id', 'userid', 'name', 'alias', 'position', 'mobile', 'email', 'telephone', 'gender', 'avatar', 'address', 'employee_no', 'status', 'main_department_id', 'attributes'] as const;
    const deptRows = await rows(db.selectFrom('departments').select(['id', 'parent_id', 'name', 'sort_order']).orderBy('id'));
    const linkQuery = db.selectFrom('links').select(['object_kind', 'object_id', 'source', 'external_id', 'data']);
    let userRows: unknown[][];
    let membershipRows: unknown[][];
    let linkRows: unknown[][];
    let scoped: DirectoryState['scope'];
    if (!scope) {
      userRows = await rows(db.selectFrom('users').select(USER_COLUMNS).orderBy('id'));
      membershipRows = await rows(db.selectFrom('memberships').select(['user_id', 'department_id', 'sort_order', 'leader']).orderBy('user_id').orderBy('department_id'));
      linkRows = await rows(linkQuery);
    } else {
      const deptLinkRows = await rows(linkQuery.where('object_kind', '=', 'department'));
      const ids = await this.scopedUserIds(scope, deptLinkRows as Array<[string, number, string, string]>);
      userRows = [];
      membershipRows = [];
      linkRows = deptLinkRows;
      // Ascending ids in ascending chunks: the same order as a whole load.
      for (const part of chunks(ids)) {
        userRows.push(...(await rows(db.selectFrom('users').select(USER_COLUMNS).where('id', 'in', part).orderBy('id'))));
        membershipRows.push(
          ...(await rows(db.selectFrom('memberships').select(['user_id', 'department_id', 'sort_order', 'leader']).where('user_id', 'in', part).orderBy('user_id').orderBy('department_id'))),
        );
        linkRows.push(...(await rows(linkQuery.where('object_kind', '=', 'user').where('object_id', 'in', part))));
      }
      const [count] = await rows(
        db
          .selectFrom('links as l')
          .innerJoin('users as u', 'u.id', 'l.object_id')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('l.object_kind', '=', 'user')
          .where('l.source', '=', scope.source)
          .where('u.status', '=', 'active'),
      );
      scoped = { source: scope.source, activeLinkedUsers: Number(count?.[0] ?? 0) };
    }
    const deptLinks = new Map<number, Link[]>();
    const userLinks = new Map<number, Link[]>();
    for (const [kind, objectId, source, externalId, data] of linkRows as Array<[string, number, string, string, string | null]>) {
      const map = kind === 'department' ? deptLinks : userLinks;
      const list = map.get(objectId);
      const link: Link = data === null ? { source, externalId } : { source, externalId, data: JSON.parse(data) as Record<string, string> };
      if (list) list.push(link);
      else map.set(objectId, [link]);
    }
    // By source name, compared as code units: the same order whatever the database's collation.
    const bySource = (a: Link, b: Link): number => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
    for (const list of deptLinks.values()) if (list.length > 1) list.sort(bySource);
    for (const list of userLinks.values()) if (list.length > 1) list.sort(bySource);
    const departments: LocalDepartment[] = (deptRows as Array<[number, number | null, string, number]>).map(([id, parentId, name, order]) => ({
      id,
      parentId,
      name,
      order,
      links: deptLinks.get(id) ?? [],
    }));
    type UserCells = [number, string | null, string | null, string | null, string | null, string | null, string | null, string | null, string | null, string | null, string | null, string | null, string, number | null, string];
    const users: LocalUser[] = [];
    const byId = new Map<number, LocalUser>();
    for (const [id, userid, name, alias, position, mobile, email, telephone, gender, avatar, address, employeeNo, status, mainDepartmentId, attributes] of userRows as UserCells[]) {
      const user: LocalUser = {
        id,
        userid,
        name,
        alias,
        position,
        mobile,
        email,
        telephone,
        gender,
        avatar,
        address,
        employeeNo,
        status: status as UserStatus,
        mainDepartmentId,
        attributes: attributes === '{}' ? {} : (JSON.parse(attributes) as Record<string, string>),
        memberships: [],
        links: userLinks.get(id) ?? [],
      };
      users.push(user);
      byId.set(id, user);
    }
    for (const [userId, departmentId, order, leader] of membershipRows as Array<[number, number, number, number]>) {
      byId.get(userId)?.memberships.push({ departmentId, order, leader: leader === 1 });
    }
    const root = departments.find((d) => d.parentId === null);
    return { revision, rootId: root?.id ?? 1, departments, users, ...(scoped ? { scope: scoped } : {}) };
  }

  /** The ids of the users a scope names, ascending. */
  private async scopedUserIds(scope: UserScope, deptLinkRows: ReadonlyArray<[string, number, string, string]>): Promise<number[]> {
    const db = this.db;
    const rows = (query: Compilable): Promise<unknown[][]> => this.reader.arrays(db, query);
    const ids = new Set<number>();
    const linked = new Set<string>();
    for (const part of chunks([...new Set(scope.externalIds)])) {
      const found = await rows(
        db.selectFrom('links').select(['object_id', 'external_id']).where('object_kind', '=', 'user').where('source', '=', scope.source).where('external_id', 'in', part),
      );
      for (const [id, externalId] of found) {
        ids.add(Number(id));
        linked.add(String(externalId));
      }
    }
    const add = (found: unknown[][]): void => {
      for (const [id] of found) ids.add(Number(id));
    };
    const gone = new Set(scope.memberOf);
    const departments = deptLinkRows.filter(([, , source, externalId]) => source === scope.source && gone.has(externalId)).map(([, objectId]) => objectId);
    for (const part of chunks(departments)) {
      add(await rows(db.selectFrom('memberships').select('user_id').distinct().where('department_id', 'in', part)));
    }
    const userids = [...new Set(scope.candidates.flatMap((c) => (c.userid ? [userIdKey(c.userid)] : [])))];
    for (const part of chunks(userids)) add(await rows(db.selectFrom('users').select('id').where('userid_key', 'in', part)));
    // Mobiles and emails, for users not linked yet: compared on keys the database does not hold.
    const unlinked = scope.candidates.filter((c) => !linked.has(c.externalId));
    const mobiles = new Set(unlinked.flatMap((c) => (c.mobile ? [mobileKey(c.mobile)] : [])));
    const emails = new Set(unlinked.flatMap((c) => (c.email ? [emailKey(c.email)] : [])));
    if (mobiles.size > 0 || emails.size > 0) {
      const contacts = (await rows(this.contactCandidates([...mobiles], [...emails]))) as Array<[number, string | null, string | null]>;
      for (const [id, mobile, email] of contacts) {
        if ((mobile !== null && mobiles.has(mobileKey(mobile))) || (email !== null && emails.has(emailKey(email)))) ids.add(Number(id));
      }
    }
    return [...ids].sort((a, b) => a - b);
  }

  /**
   * Users who may have one of these mobile or email keys: a superset, checked against the keys by the caller. The
   * database takes the common case itself: a mobile of digits and ` ()+.-` stripped of those, and a printable-ASCII
   * email trimmed and lower-cased, equal the key (mobileKey, emailKey); anything else comes back to be checked.
   * A few keys are compared in the database; many are cheaper to compare while reading every user's contacts.
   */
  private contactCandidates(mobiles: readonly string[], emails: readonly string[]): Compilable {
    const users = this.db.selectFrom('users').select(['id', 'mobile', 'email']);
    if (mobiles.length + emails.length > 500) return users.where((eb) => eb.or([eb('mobile', 'is not', null), eb('email', 'is not', null)]));
    const pg = this.dialect === 'postgres';
    const digits = pg
      ? sql<string>`regexp_replace(mobile, '[ ()+.-]', '', 'g')`
      : sql<string>`replace(replace(replace(replace(replace(replace(mobile, ' ', ''), '(', ''), ')', ''), '+', ''), '.', ''), '-', '')`;
    const oddMobile = pg ? sql<boolean>`mobile ~ '[^0-9 ()+.-]'` : sql<boolean>`mobile glob '*[^0-9 ()+.-]*'`;
    const oddEmail = pg ? sql<boolean>`email ~ '[^ -~]'` : sql<boolean>`email glob '*[^ -~]*'`;
    return users.where((eb) => {
      const any = [];
      if (mobiles.length > 0) {
        // A mainland number may carry +86 before the key.
        const forms = [...mobiles, ...mobiles.map((m) => `86${m}`)];
        any.push(eb.and([eb('mobile', 'is not', null), eb.or([eb(digits, 'in', forms), eb(oddMobile, '=', sql.lit(true))])]));
      }
      if (emails.length > 0) {
        any.push(eb.and([eb('email', 'is not', null), eb.or([eb(sql<string>`lower(trim(email))`, 'in', emails), eb(oddEmail, '=', sql.lit(true))])]));
      }
      return eb.or(any);
    });
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
    await this.bulk.run(
      this.db,
      'departments',
      ['id', 'parent_id', 'name', 'sort_order', 'created_at', 'updated_at'],
      rows.map((r) => [r.id, r.parentId, r.name, r.order, at, at]),
    );
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
    await this.bulk.run(this.db, 'users', USER_COLUMNS, rows.map((r) => userRow(r, at)));
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
    await this.bulk.run(
      this.db,
      'memberships',
      ['user_id', 'department_id', 'sort_order', 'leader'],
      rows.map((m) => [m.userId, m.departmentId, m.order, m.leader ? 1 : 0]),
      ' on conflict (user_id, department_id) do update set sort_order = excluded.sort_order, leader = excluded.leader',
    );
  }

  async deleteMemberships(rows: ReadonlyArray<{ userId: number; departmentId: number }>): Promise<void> {
    for (const m of rows) {
      await this.db.deleteFrom('memberships').where('user_id', '=', m.userId).where('department_id', '=', m.departmentId).execute();
    }
  }

  async insertLinks(rows: readonly LinkRow[]): Promise<void> {
    const at = now();
    await this.bulk.run(
      this.db,
      'links',
      ['object_kind', 'object_id', 'source', 'external_id', 'created_at', 'data'],
      rows.map((l) => [l.kind, l.objectId, l.source, l.externalId, at, linkData(l.data)]),
    );
  }

  async setLinkData(kind: ObjectKind, source: string, rows: ReadonlyArray<{ objectId: number; data: Record<string, string> | null }>): Promise<void> {
    for (const r of rows) {
      await this.db
        .updateTable('links')
        .set({ data: linkData(r.data) })
        .where('object_kind', '=', kind)
        .where('source', '=', source)
        .where('object_id', '=', r.objectId)
        .execute();
    }
  }

  async deleteLinks(kind: ObjectKind, objectIds: readonly number[]): Promise<void> {
    for (const part of chunks(objectIds)) {
      await this.db.deleteFrom('links').where('object_kind', '=', kind).where('object_id', 'in', part).execute();
    }
  }

  async renameLink(kind: ObjectKind, source: string, fromExternalId: string, toExternalId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('links')
      .set({ external_id: toExternalId })
      .where('object_kind', '=', kind)
      .where('source', '=', source)
      .where('external_id', '=', fromExternalId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

/**
 * A create has no "before": its record stores only the values it set (under one marker key no field can have),
 * a third of the size of the full diff, which on a first import of a large org is most of what the run log writes.
 */
const AFTER_ONLY = '=after';

function encodeFields(c: RunChangeRecord): string {
  if (c.action !== 'create') return JSON.stringify(c.fields);
  // A create whose every "before" is empty is stored as its "after" values only.
  const after: Record<string, unknown> = {};
  for (const name in c.fields) {
    const d = c.fields[name] as { before: unknown; after: unknown };
    const empty = name === 'departments' ? Array.isArray(d.before) && d.before.length === 0 : d.before === null;
    if (!empty) return JSON.stringify(c.fields);
    after[name] = d.after;
  }
  return JSON.stringify({ [AFTER_ONLY]: after });
}

export function decodeFields(text: string): RunChangeRecord['fields'] {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const after = parsed[AFTER_ONLY] as Record<string, unknown> | undefined;
  if (after === undefined) return parsed as RunChangeRecord['fields'];
  const fields: RunChangeRecord['fields'] = {};
  for (const [name, value] of Object.entries(after)) fields[name] = { before: name === 'departments' ? [] : null, after: value };
  return fields;
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
    private readonly bulk: BulkInsert,
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

  async list(options: { limit?: number; source?: string; status?: RunStatus; kind?: RunKind; beforeId?: number } = {}): Promise<RunRecord[]> {
    let q = this.db.selectFrom('runs').select(RUN_COLUMNS).orderBy('id', 'desc').limit(options.limit ?? 50);
    if (options.source !== undefined) q = q.where('source', '=', options.source);
    if (options.status !== undefined) q = q.where('status', '=', options.status);
    if (options.kind !== undefined) q = q.where('kind', '=', options.kind);
    if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
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
    await this.bulk.run(
      this.db,
      'run_changes',
      ['run_id', 'seq', 'object_kind', 'action', 'object_id', 'external_id', 'label', 'fields'],
      changes.map((c) => [runId, c.seq, c.objectKind, c.action, c.objectId, c.externalId, c.label, encodeFields(c)]),
    );
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
      fields: decodeFields(r.fields),
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

function connectionFromRow(r: ConnectionsTable): ConnectionRow {
  return {
    id: r.id,
    name: r.name,
    platform: r.platform as Platform,
    settings: JSON.parse(r.settings) as Record<string, unknown>,
    secrets: r.secrets,
    policy: JSON.parse(r.policy) as Record<string, unknown>,
    syncEnabled: r.sync_enabled === 1,
    reconcileCron: r.reconcile_cron,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

class KyselyConnectionRepo implements ConnectionRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: DialectName,
  ) {}

  async create(connection: NewConnection): Promise<ConnectionRow> {
    const id = await this.nextId();
    const at = now();
    const row: ConnectionsTable = {
      id,
      name: connection.name,
      platform: connection.platform,
      settings: JSON.stringify(connection.settings),
      secrets: connection.secrets,
      policy: JSON.stringify(connection.policy),
      sync_enabled: 0,
      reconcile_cron: connection.reconcileCron === undefined ? DEFAULT_RECONCILE_CRON : connection.reconcileCron,
      created_at: at,
      updated_at: at,
    };
    try {
      await this.db.insertInto('connections').values(row).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        {
          code: 'CONNECTION_EXISTS',
          message: `a connection named "${connection.name}" exists already`,
          hint: `Choose another name, or change that one with \`orgsync connection update ${connection.name}\`.`,
        },
        { cause: err },
      );
    }
    return connectionFromRow(row);
  }

  async get(name: string, options: { forUpdate?: boolean } = {}): Promise<ConnectionRow | undefined> {
    let q = this.db.selectFrom('connections').selectAll().where('name', '=', name);
    if (options.forUpdate && this.dialect === 'postgres' && this.db.isTransaction) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return row ? connectionFromRow(row) : undefined;
  }

  async list(): Promise<ConnectionRow[]> {
    const rows = await this.db.selectFrom('connections').selectAll().execute();
    // By name, compared as code units: the same order whatever the database's collation.
    return rows.map(connectionFromRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async update(name: string, patch: ConnectionRowPatch): Promise<ConnectionRow | undefined> {
    const v: Partial<ConnectionsTable> = {};
    if (patch.settings !== undefined) v.settings = JSON.stringify(patch.settings);
    if (patch.secrets !== undefined) v.secrets = patch.secrets;
    if (patch.policy !== undefined) v.policy = JSON.stringify(patch.policy);
    if (patch.syncEnabled !== undefined) v.sync_enabled = patch.syncEnabled ? 1 : 0;
    if (patch.reconcileCron !== undefined) v.reconcile_cron = patch.reconcileCron;
    const row = await this.db
      .updateTable('connections')
      .set({ ...v, updated_at: now() })
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
    return row ? connectionFromRow(row) : undefined;
  }

  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('connections').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private async nextId(): Promise<number> {
    const row = await this.db
      .updateTable('counters')
      .set((eb) => ({ value: eb('value', '+', 1) }))
      .where('name', '=', 'connection')
      .returning('value')
      .executeTakeFirstOrThrow();
    return row.value;
  }
}

function repos(db: Db, dialect: DialectName, bulk: BulkInsert, reader: RowReader): StoreRepos {
  const directory = new KyselyDirectoryRepo(db, dialect, bulk, reader);
  return {
    directory,
    runs: new KyselyRunRepo(db, bulk, directory),
    locks: new KyselyLockRepo(db),
    connections: new KyselyConnectionRepo(db, dialect),
    access: new KyselyAccessRepo(db),
    views: new KyselyViewRepo(db, dialect, reader),
    inbox: new KyselyInboxRepo(db),
    settings: new KyselySettingsRepo(db),
  };
}

export class KyselyStore implements Store {
  readonly directory: DirectoryRepo;
  readonly runs: RunRepo;
  readonly locks: LockRepo;
  readonly connections: ConnectionRepo;
  readonly access: AccessRepo;
  readonly views: ViewRepo;
  readonly inbox: InboxRepo;
  readonly settings: SettingsRepo;

  private readonly bulk: BulkInsert;
  private readonly reader: RowReader;

  /** `sqlite`: the connection under a SQLite store's Kysely, for reads that skip building row objects. */
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    sqlite?: SqliteDatabase.Database,
  ) {
    this.bulk = new BulkInsert(dialect);
    this.reader = new RowReader(sqlite);
    ({ directory: this.directory, runs: this.runs, locks: this.locks, connections: this.connections, access: this.access, views: this.views, inbox: this.inbox } = repos(db, dialect, this.bulk, this.reader));
    this.settings = new KyselySettingsRepo(db);
  }

  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(repos(trx, this.dialect, this.bulk, this.reader)));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
