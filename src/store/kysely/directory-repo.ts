import { sql, type Compilable, type Kysely } from 'kysely';
import { emailKey, mobileKey, userIdKey } from '../../directory/limits.js';
import type { DirectoryState, LocalDepartment, LocalUser, Link, UserScope, UserStatus } from '../../directory/model.js';
import type {
  DepartmentPatch,
  DepartmentRow,
  DirectoryRepo,
  LinkRow,
  MembershipRow,
  ObjectKind,
  UserPatch,
  UserRow,
} from '../directory-repo.js';
import type { DialectName } from '../migrations.js';
import type { Database, UsersTable } from '../schema.js';
import type { BulkInsert } from './bulk-insert.js';
import { chunks, now, type Db } from './db.js';
import type { RowReader } from './row-reader.js';

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

export class KyselyDirectoryRepo implements DirectoryRepo {
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
    const USER_COLUMNS = [
      'id',
      'userid',
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
    ] as const;
    const deptRows = await rows(
      db.selectFrom('departments').select(['id', 'parent_id', 'name', 'sort_order']).orderBy('id'),
    );
    const linkQuery = db.selectFrom('links').select(['object_kind', 'object_id', 'source', 'external_id', 'data']);
    let userRows: unknown[][];
    let membershipRows: unknown[][];
    let linkRows: unknown[][];
    let scoped: DirectoryState['scope'];
    if (!scope) {
      userRows = await rows(db.selectFrom('users').select(USER_COLUMNS).orderBy('id'));
      membershipRows = await rows(
        db
          .selectFrom('memberships')
          .select(['user_id', 'department_id', 'sort_order', 'leader'])
          .orderBy('user_id')
          .orderBy('department_id'),
      );
      linkRows = await rows(linkQuery);
    } else {
      const deptLinkRows = await rows(linkQuery.where('object_kind', '=', 'department'));
      const ids = await this.scopedUserIds(scope, deptLinkRows as Array<[string, number, string, string]>);
      userRows = [];
      membershipRows = [];
      linkRows = deptLinkRows;
      // Ascending ids in ascending chunks: the same order as a whole load.
      for (const part of chunks(ids)) {
        userRows.push(
          ...(await rows(db.selectFrom('users').select(USER_COLUMNS).where('id', 'in', part).orderBy('id'))),
        );
        membershipRows.push(
          ...(await rows(
            db
              .selectFrom('memberships')
              .select(['user_id', 'department_id', 'sort_order', 'leader'])
              .where('user_id', 'in', part)
              .orderBy('user_id')
              .orderBy('department_id'),
          )),
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
    for (const [kind, objectId, source, externalId, data] of linkRows as Array<
      [string, number, string, string, string | null]
    >) {
      const map = kind === 'department' ? deptLinks : userLinks;
      const list = map.get(objectId);
      const link: Link =
        data === null
          ? { source, externalId }
          : { source, externalId, data: JSON.parse(data) as Record<string, string> };
      if (list) list.push(link);
      else map.set(objectId, [link]);
    }
    // By source name, compared as code units: the same order whatever the database's collation.
    const bySource = (a: Link, b: Link): number => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
    for (const list of deptLinks.values()) if (list.length > 1) list.sort(bySource);
    for (const list of userLinks.values()) if (list.length > 1) list.sort(bySource);
    const departments: LocalDepartment[] = (deptRows as Array<[number, number | null, string, number]>).map(
      ([id, parentId, name, order]) => ({
        id,
        parentId,
        name,
        order,
        links: deptLinks.get(id) ?? [],
      }),
    );
    type UserCells = [
      number,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string,
      number | null,
      string,
    ];
    const users: LocalUser[] = [];
    const byId = new Map<number, LocalUser>();
    for (const [
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
      status,
      mainDepartmentId,
      attributes,
    ] of userRows as UserCells[]) {
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
  private async scopedUserIds(
    scope: UserScope,
    deptLinkRows: ReadonlyArray<[string, number, string, string]>,
  ): Promise<number[]> {
    const db = this.db;
    const rows = (query: Compilable): Promise<unknown[][]> => this.reader.arrays(db, query);
    const ids = new Set<number>();
    const linked = new Set<string>();
    for (const part of chunks([...new Set(scope.externalIds)])) {
      const found = await rows(
        db
          .selectFrom('links')
          .select(['object_id', 'external_id'])
          .where('object_kind', '=', 'user')
          .where('source', '=', scope.source)
          .where('external_id', 'in', part),
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
    const departments = deptLinkRows
      .filter(([, , source, externalId]) => source === scope.source && gone.has(externalId))
      .map(([, objectId]) => objectId);
    for (const part of chunks(departments)) {
      add(await rows(db.selectFrom('memberships').select('user_id').distinct().where('department_id', 'in', part)));
    }
    const userids = [...new Set(scope.candidates.flatMap((c) => (c.userid ? [userIdKey(c.userid)] : [])))];
    for (const part of chunks(userids))
      add(await rows(db.selectFrom('users').select('id').where('userid_key', 'in', part)));
    // Mobiles and emails, for users not linked yet: compared on keys the database does not hold.
    const unlinked = scope.candidates.filter((c) => !linked.has(c.externalId));
    const mobiles = new Set(unlinked.flatMap((c) => (c.mobile ? [mobileKey(c.mobile)] : [])));
    const emails = new Set(unlinked.flatMap((c) => (c.email ? [emailKey(c.email)] : [])));
    if (mobiles.size > 0 || emails.size > 0) {
      const contacts = (await rows(this.contactCandidates([...mobiles], [...emails]))) as Array<
        [number, string | null, string | null]
      >;
      for (const [id, mobile, email] of contacts) {
        if ((mobile !== null && mobiles.has(mobileKey(mobile))) || (email !== null && emails.has(emailKey(email))))
          ids.add(Number(id));
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
    if (mobiles.length + emails.length > 500)
      return users.where((eb) => eb.or([eb('mobile', 'is not', null), eb('email', 'is not', null)]));
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
        any.push(
          eb.and([eb('mobile', 'is not', null), eb.or([eb(digits, 'in', forms), eb(oddMobile, '=', sql.lit(true))])]),
        );
      }
      if (emails.length > 0) {
        any.push(
          eb.and([
            eb('email', 'is not', null),
            eb.or([eb(sql<string>`lower(trim(email))`, 'in', emails), eb(oddEmail, '=', sql.lit(true))]),
          ]),
        );
      }
      return eb.or(any);
    });
  }

  async revision(): Promise<number> {
    const row = await this.db
      .selectFrom('counters')
      .select('value')
      .where('name', '=', 'revision')
      .executeTakeFirstOrThrow();
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
    await this.bulk.run(
      this.db,
      'users',
      USER_COLUMNS,
      rows.map((r) => userRow(r, at)),
    );
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
      await this.db
        .deleteFrom('memberships')
        .where('user_id', '=', m.userId)
        .where('department_id', '=', m.departmentId)
        .execute();
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

  async setLinkData(
    kind: ObjectKind,
    source: string,
    rows: ReadonlyArray<{ objectId: number; data: Record<string, string> | null }>,
  ): Promise<void> {
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
