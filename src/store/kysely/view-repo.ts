import { sql, type Compilable, type Kysely } from 'kysely';
import type { Link, UserStatus } from '../../directory/model.js';
import type { ErrorInfo } from '../../errors.js';
import type { UserRow } from '../directory-repo.js';
import type { DialectName } from '../migrations.js';
import type { RunKind, RunStatus } from '../run-repo.js';
import type { Database } from '../schema.js';
import type {
  DepartmentListItem,
  Lease,
  MemberQuery,
  MemberRow,
  UserHistoryItem,
  UserMembershipRow,
  ViewRepo,
} from '../view-repo.js';
import type { Db } from './db.js';
import { RowReader } from './row-reader.js';
import { decodeFields } from './run-changes.js';

interface DepartmentRows {
  revision: number;
  /** id, parent_id, name, sort_order; by id. */
  departments: Array<[number, number | null, string, number]>;
  countOf: Map<number, number>;
  /** Each department's links, by source then external id. */
  linksOf: Map<number, Link[]>;
}

/** LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally. */
function contains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class KyselyViewRepo implements ViewRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: DialectName,
    private readonly reader: RowReader = new RowReader(),
  ) {}

  async departmentList(): Promise<{ revision: number; items: DepartmentListItem[] }> {
    const { revision, departments, countOf, linksOf } = await this.readOnly((repo) => repo.departmentRows());
    const items = departments.map(([id, parentId, name, order]) => ({
      id,
      parentId,
      name,
      order,
      memberCount: countOf.get(id) ?? 0,
      links: linksOf.get(id) ?? [],
    }));
    return { revision, items };
  }

  async departmentListJson(): Promise<{ revision: number; json: Buffer }> {
    return this.readOnly(async (repo) => {
      const revision = await repo.revision();
      const items =
        repo.dialect === 'sqlite'
          ? await repo.departmentItemsJson()
          : repo.departmentItemsText(await repo.departmentRows());
      return {
        revision,
        json: Buffer.concat([
          Buffer.from(`{"revision":${revision},"items":`),
          typeof items === 'string' ? Buffer.from(items) : items,
          Buffer.from('}'),
        ]),
      };
    });
  }

  /** `read` inside one read-only transaction (repeatable read on PostgreSQL), or in the caller's transaction. */
  private readOnly<T>(read: (repo: KyselyViewRepo) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return read(this);
    const t = (this.db as Kysely<Database>).transaction().setAccessMode('read only');
    return (this.dialect === 'postgres' ? t.setIsolationLevel('repeatable read') : t).execute((trx) =>
      read(new KyselyViewRepo(trx, this.dialect, this.reader)),
    );
  }

  private async revision(): Promise<number> {
    return (
      await this.db.selectFrom('counters').select('value').where('name', '=', 'revision').executeTakeFirstOrThrow()
    ).value;
  }

  /** The rows a department list is made of, read as arrays: at 30,000 departments an object per row costs. */
  private async departmentRows(): Promise<DepartmentRows> {
    const db = this.db;
    const rows = (query: Compilable): Promise<unknown[][]> => this.reader.arrays(db, query);
    const revision = await this.revision();
    const departments = (await rows(
      db.selectFrom('departments').select(['id', 'parent_id', 'name', 'sort_order']).orderBy('id'),
    )) as DepartmentRows['departments'];
    const counts = (await rows(
      db
        .selectFrom('memberships')
        .select(['department_id', (eb) => eb.fn.countAll<number | string>().as('n')])
        .groupBy('department_id'),
    )) as Array<[number, number | string]>;
    const links = (await rows(
      db
        .selectFrom('links')
        .select(['object_id', 'source', 'external_id'])
        .where('object_kind', '=', 'department')
        .orderBy('object_id')
        .orderBy('source')
        .orderBy('external_id'),
    )) as Array<[number, string, string]>;
    const countOf = new Map<number, number>();
    for (const [departmentId, n] of counts) countOf.set(departmentId, Number(n));
    const linksOf = new Map<number, Link[]>();
    for (const [objectId, source, externalId] of links) {
      const link = { source, externalId };
      const list = linksOf.get(objectId);
      if (list) list.push(link);
      else linksOf.set(objectId, [link]);
    }
    return { revision, departments, countOf, linksOf };
  }

  /** DepartmentListItem[] as JSON text. */
  private departmentItemsText({ departments, countOf, linksOf }: DepartmentRows): string {
    return JSON.stringify(
      departments.map(([id, parentId, name, order]) => ({
        id,
        parentId,
        name,
        order,
        memberCount: countOf.get(id) ?? 0,
        links: linksOf.get(id) ?? [],
      })),
    );
  }

  /**
   * DepartmentListItem[] as UTF-8 JSON built by SQLite in one statement: the departments in id order, each with its
   * direct member count (memberships_department index) and its links (the links' (object_kind, object_id) key).
   * PostgreSQL's json_agg takes several times longer than reading the rows, so there departmentItemsText writes it.
   */
  private async departmentItemsJson(): Promise<Buffer> {
    const query = sql<{ items: Buffer }>`select cast(json_group_array(json_object(
        'id', d.id, 'parentId', d.parent_id, 'name', d.name, 'order', d.sort_order,
        'memberCount', (select count(*) from memberships m where m.department_id = d.id),
        'links', json((select json_group_array(json_object('source', l.source, 'externalId', l.external_id) order by l.source, l.external_id)
                       from links l where l.object_kind = 'department' and l.object_id = d.id))
      ) order by d.id) as blob) as items from departments d`;
    return (await query.execute(this.db)).rows[0]?.items ?? Buffer.from('[]');
  }

  async departmentExists(id: number): Promise<boolean> {
    return (await this.db.selectFrom('departments').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }

  async members(departmentId: number, query: MemberQuery): Promise<{ items: MemberRow[]; total: number }> {
    const q = query.q?.trim();
    // A search tests every direct member. PostgreSQL, expecting few matches, would scan all users instead (100,000
    // rows against 10,000 members, ~5x slower); a lateral join it cannot flatten (offset 0) keeps it on the
    // department's memberships. SQLite starts from them anyway.
    const users =
      q && this.dialect === 'postgres'
        ? this.db.selectFrom('memberships as m').innerJoinLateral(
            (eb) =>
              eb
                .selectFrom('users')
                .select(['id', 'userid', 'name', 'position', 'mobile', 'email', 'status', 'userid_key'])
                .whereRef('users.id', '=', 'm.user_id')
                .offset(sql.lit(0))
                .as('u'),
            (join) => join.onTrue(),
          )
        : this.db.selectFrom('memberships as m').innerJoin('users as u', 'u.id', 'm.user_id');
    let base = users.where('m.department_id', '=', departmentId);
    if (q) {
      const pattern = contains(q.toLowerCase());
      base = base.where((eb) =>
        eb.or([
          sql<boolean>`lower(u.name) like ${pattern} escape '\\'`,
          sql<boolean>`u.userid_key like ${pattern} escape '\\'`,
          sql<boolean>`u.mobile like ${contains(q)} escape '\\'`,
        ]),
      );
    }
    const page = await (query.afterId !== undefined ? base.where('u.id', '>', query.afterId) : base)
      .select(['u.id', 'u.userid', 'u.name', 'u.position', 'u.mobile', 'u.email', 'u.status', 'm.leader'])
      .orderBy('u.id')
      .limit(query.limit)
      .execute();
    const total = await base.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return {
      items: page.map((r) => ({
        id: r.id,
        userid: r.userid,
        name: r.name,
        position: r.position,
        mobile: r.mobile,
        email: r.email,
        status: r.status as UserStatus,
        leader: r.leader === 1,
      })),
      total: Number(total.n),
    };
  }

  async user(id: number): Promise<{ user: UserRow; memberships: UserMembershipRow[]; links: Link[] } | undefined> {
    const u = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!u) return undefined;
    const memberships = await this.db
      .selectFrom('memberships as m')
      .innerJoin('departments as d', 'd.id', 'm.department_id')
      .select(['m.department_id', 'd.name', 'm.leader', 'm.sort_order'])
      .where('m.user_id', '=', id)
      .orderBy('m.department_id')
      .execute();
    const links = await this.db
      .selectFrom('links')
      .select(['source', 'external_id'])
      .where('object_kind', '=', 'user')
      .where('object_id', '=', id)
      .execute();
    return {
      user: {
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
      },
      memberships: memberships.map((m) => ({
        departmentId: m.department_id,
        departmentName: m.name,
        leader: m.leader === 1,
        order: m.sort_order,
      })),
      links: links
        .map((l) => ({ source: l.source, externalId: l.external_id }))
        .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)),
    };
  }

  async userHistory(userId: number, limit: number): Promise<UserHistoryItem[]> {
    const rows = await this.db
      .selectFrom('run_changes as c')
      .innerJoin('runs as r', 'r.id', 'c.run_id')
      .select([
        'c.run_id',
        'c.seq',
        'c.action',
        'c.external_id',
        'c.label',
        'c.fields',
        'r.kind',
        'r.status',
        'r.source',
        'r.started_at',
      ])
      .where('c.object_kind', '=', 'user')
      .where('c.object_id', '=', userId)
      .where('r.status', 'not in', ['planned', 'blocked'])
      .orderBy('c.run_id', 'desc')
      .orderBy('c.seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      runId: r.run_id,
      runKind: r.kind as RunKind,
      runStatus: r.status as RunStatus,
      source: r.source,
      at: r.started_at,
      seq: r.seq,
      action: r.action,
      externalId: r.external_id,
      label: r.label,
      fields: decodeFields(r.fields),
    }));
  }

  async lease(name: string): Promise<Lease | undefined> {
    const row = await this.db
      .selectFrom('locks')
      .select(['holder', 'expires_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? { holder: row.holder, expiresAt: row.expires_at } : undefined;
  }

  async abandonRun(runId: number, error: ErrorInfo): Promise<boolean> {
    const row = await this.db
      .selectFrom('runs')
      .select('errors')
      .where('id', '=', runId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    if (!row) return false;
    const errors = [...(JSON.parse(row.errors) as ErrorInfo[]), error];
    const result = await this.db
      .updateTable('runs')
      .set({ status: 'failed', finished_at: new Date().toISOString(), errors: JSON.stringify(errors) })
      .where('id', '=', runId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
