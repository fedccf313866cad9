/**
 * The storage conformance suite: one set of tests that every Store implementation must pass, run unchanged
 * against SQLite (sqlite.test.ts) and PostgreSQL (postgres.test.ts).
 *
 * Every test gets a fresh, empty database (a new SQLite temp dir or a new PostgreSQL schema) and drops it
 * afterwards, so tests never see each other's data.
 */
import { rmSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DirectoryState, LocalDepartment, LocalUser } from '../../src/directory/model.js';
import { emptyCounts } from '../../src/reconcile/types.js';
import type { RunChangeRecord, RunStep } from '../../src/runs/types.js';
import { openStore, sqlitePath, type StoreConfig } from '../../src/store/open.js';
import type { DepartmentRow, LinkRow, MembershipRow, Store, UserRow } from '../../src/store/store.js';
import { blankProfile } from '../helpers/builders.js';
import { openTestStore, PG_URL, tempDir, type Engine, type TestStore } from '../helpers/stores.js';

const MAX_U32 = 2 ** 32 - 1;

function userRow(id: number, over: Partial<UserRow> = {}): UserRow {
  return {
    id,
    ...blankProfile(),
    userid: `user${id}`,
    name: `User ${id}`,
    status: 'active',
    mainDepartmentId: null,
    attributes: {},
    ...over,
  };
}

/** A user with every profile field filled in, Chinese text included. */
function fullUserRow(id: number, mainDepartmentId: number | null): UserRow {
  return {
    id,
    userid: `ZhangSan${id}`,
    name: '张三',
    alias: 'San Zhang',
    position: '高级工程师',
    mobile: '+86 138 0013 8000',
    email: `zhangsan${id}@example.com`,
    telephone: '010-12345678',
    gender: 'male',
    avatar: 'https://example.com/avatar/张三.png',
    address: '北京市海淀区中关村大街 1 号',
    employeeNo: 'E-0001',
    status: 'disabled',
    mainDepartmentId,
    attributes: { 工号: 'A-001', 部门: '研发中心', 'emoji 🙂': '✓', quote: 'He said "hi"\n\\ done', empty: '' },
  };
}

function dept(id: number, parentId: number | null, name = `Dept ${id}`, order = 0): DepartmentRow {
  return { id, parentId, name, order };
}

function deptOf(state: DirectoryState, id: number): LocalDepartment | undefined {
  return state.departments.find((d) => d.id === id);
}

function userOf(state: DirectoryState, id: number): LocalUser | undefined {
  return state.users.find((u) => u.id === id);
}

/** Every number in a loaded directory is a JS number (PostgreSQL bigint must not come back as a string). */
function expectNumbers(state: DirectoryState): void {
  expect(typeof state.revision).toBe('number');
  expect(typeof state.rootId).toBe('number');
  for (const d of state.departments) {
    expect(typeof d.id).toBe('number');
    expect(typeof d.order).toBe('number');
    if (d.parentId !== null) expect(typeof d.parentId).toBe('number');
  }
  for (const u of state.users) {
    expect(typeof u.id).toBe('number');
    if (u.mainDepartmentId !== null) expect(typeof u.mainDepartmentId).toBe('number');
    for (const m of u.memberships) {
      expect(typeof m.departmentId).toBe('number');
      expect(typeof m.order).toBe('number');
      expect(typeof m.leader).toBe('boolean');
    }
  }
}

async function pgQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A database no store has opened yet (a new SQLite data dir, or a new PostgreSQL schema name). */
interface FreshDatabase {
  open(): Promise<Store>;
  /** Creates the empty container: the schema on PostgreSQL (SQLite's directory exists already). */
  createEmpty(): Promise<void>;
  /** Another process in the middle of creating the database: holds its creating transaction open until commit(). */
  holdCreation(): Promise<{ commit(): Promise<void> }>;
  cleanup(): Promise<void>;
}

function freshDatabase(engine: Engine): FreshDatabase {
  const dir = tempDir();
  const schema = `c_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const config: StoreConfig = engine === 'postgres' ? { dataDir: dir, databaseUrl: PG_URL, schema } : { dataDir: dir };
  const opened: Store[] = [];
  const competitors: Array<() => Promise<void>> = [];
  return {
    async open() {
      const s = await openStore(config);
      opened.push(s);
      return s;
    },
    async createEmpty() {
      if (engine === 'postgres') await pgQuery(`create schema ${schema}`);
    },
    async holdCreation() {
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        competitors.push(() => client.end());
        await client.query('begin');
        await client.query(`create schema ${schema}`);
        return { commit: async () => void (await client.query('commit')) };
      }
      const db = new SqliteDatabase(sqlitePath(dir));
      competitors.push(async () => void (db.open && db.close()));
      db.exec('BEGIN IMMEDIATE');
      return { commit: async () => void db.exec('COMMIT') };
    },
    async cleanup() {
      for (const s of opened) await s.close();
      for (const end of competitors) await end();
      rmSync(dir, { recursive: true, force: true });
      if (engine === 'postgres') await pgQuery(`drop schema if exists ${schema} cascade`);
    },
  };
}

const ROOT: LocalDepartment = { id: 1, parentId: null, name: 'Organization', order: 0, links: [] };

function change(seq: number, over: Partial<RunChangeRecord> = {}): RunChangeRecord {
  return {
    seq,
    objectKind: seq % 2 === 0 ? 'department' : 'user',
    action: seq % 3 === 0 ? 'create' : 'update',
    objectId: seq % 5 === 0 ? null : 10_000 + seq,
    externalId: `ext-${seq}`,
    label: `对象 ${seq}`,
    fields: { name: { before: `old ${seq}`, after: `新 ${seq}` }, order: { before: seq, after: null } },
    ...over,
  };
}

export function describeStoreConformance(engine: Engine): void {
  describe(`Store conformance (${engine})`, () => {
    let t: TestStore;
    let store: Store;

    beforeEach(async () => {
      t = await openTestStore(engine);
      store = t.store;
    });

    afterEach(async () => {
      await t.cleanup();
    });

    // ---------------------------------------------------------------------------------------------
    describe('migrations', () => {
      it('a fresh store has only the local root department and revision 0', async () => {
        expect(store.dialect).toBe(engine);
        const state = await store.directory.load();
        expect(state).toStrictEqual({ revision: 0, rootId: 1, departments: [ROOT], users: [] });
        expectNumbers(state);
        expect(await store.directory.revision()).toBe(0);
        expect(await store.runs.list()).toEqual([]);
      });

      it('the counters start right after the seeded data', async () => {
        // The root holds department id 1; users and runs start at 1.
        expect(await store.directory.allocateIds('department', 1)).toBe(2);
        expect(await store.directory.allocateIds('user', 1)).toBe(1);
        expect(await store.directory.allocateIds('run', 1)).toBe(1);
      });

      it('reopening the same database re-runs migrations harmlessly and sees the same data', async () => {
        const d = store.directory;
        const deptId = await d.allocateIds('department', 1);
        const userId = await d.allocateIds('user', 1);
        await d.insertDepartments([dept(deptId, 1, '研发部', 7)]);
        await d.insertUsers([fullUserRow(userId, deptId)]);
        await d.upsertMemberships([{ userId, departmentId: deptId, order: 3, leader: true }]);
        await d.insertLinks([
          { kind: 'department', objectId: deptId, source: 'wecom', externalId: 'd-1' },
          { kind: 'user', objectId: userId, source: 'wecom', externalId: 'u-1' },
        ]);
        await d.bumpRevision();
        const run = await store.runs.create({ kind: 'import', source: 'wecom', dryRun: false, status: 'running' });
        const before = await d.load();

        const second = await t.reopen();
        const after = await second.directory.load();
        expect(after).toStrictEqual(before);
        expect(after.revision).toBe(1);
        // Exactly one root: the seed did not run again.
        expect(after.departments.filter((x) => x.parentId === null)).toHaveLength(1);
        expect(await second.runs.get(run.id)).toStrictEqual(run);
        // The counters were not reset by the second migration pass.
        expect(await second.directory.allocateIds('department', 1)).toBe(deptId + 1);
        expect(await second.directory.allocateIds('user', 1)).toBe(userId + 1);

        // A third open, after the second wrote, still works and sees everything.
        const third = await t.reopen();
        expect(await third.directory.allocateIds('department', 1)).toBe(deptId + 2);
        expect((await third.directory.load()).departments.map((x) => x.id)).toEqual([1, deptId]);
      });

      it('several stores opening the same empty database at once all succeed, and the seed runs once', async () => {
        const fresh = freshDatabase(engine);
        try {
          await fresh.createEmpty();
          const stores = await Promise.all(Array.from({ length: 4 }, () => fresh.open()));
          for (const s of stores) {
            expect(await s.directory.load()).toStrictEqual({ revision: 0, rootId: 1, departments: [ROOT], users: [] });
          }
          // One set of counters: ids handed out through different stores never collide.
          const ids = await Promise.all(stores.map((s) => s.directory.allocateIds('department', 1)));
          expect([...ids].sort((a, b) => a - b)).toEqual([2, 3, 4, 5]);
        } finally {
          await fresh.cleanup();
        }
      });

      // Fails on PostgreSQL as of 5089ac3: openStore runs `create schema if not exists` outside any lock, and two
      // such statements racing for the same new schema make the loser fail with a unique violation on
      // pg_namespace_nspname_index (SQLite passes: the opener waits for the write lock, then migrates).
      it('a store opening while another process is still creating the same new database waits, then succeeds', async () => {
        const fresh = freshDatabase(engine);
        try {
          const competitor = await fresh.holdCreation();
          const opening = fresh.open().then(
            (s) => ({ ok: true as const, s }),
            (error: unknown) => ({ ok: false as const, error }),
          );
          let settled = false;
          void opening.finally(() => (settled = true));
          await sleep(300);
          // Still waiting for the other process (if it were not, this test would prove nothing).
          expect(settled).toBe(false);
          await competitor.commit();
          const result = await opening;
          expect(result.ok ? 'opened' : String((result as { error: unknown }).error)).toBe('opened');
          if (result.ok) {
            expect(await result.s.directory.load()).toStrictEqual({
              revision: 0,
              rootId: 1,
              departments: [ROOT],
              users: [],
            });
          }
        } finally {
          await fresh.cleanup();
        }
      });

      it('a second, independent database opened alongside the first migrates and stays separate', async () => {
        // For PostgreSQL this is a second schema in the same database (as parallel test files or two
        // orgsync installations sharing one server would have).
        const other = await openTestStore(engine);
        try {
          await store.directory.insertDepartments([dept(2, 1, 'only in the first')]);
          await store.directory.bumpRevision();
          const state = await other.store.directory.load();
          expect(state).toStrictEqual({ revision: 0, rootId: 1, departments: [ROOT], users: [] });
          await other.store.directory.insertDepartments([dept(2, 1, 'only in the second')]);
          expect(deptOf(await store.directory.load(), 2)?.name).toBe('only in the first');
          expect(deptOf(await other.store.directory.load(), 2)?.name).toBe('only in the second');
        } finally {
          await other.cleanup();
        }
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: ids', () => {
      it('allocateIds returns consecutive ranges per kind', async () => {
        const d = store.directory;
        const a = await d.allocateIds('user', 3);
        const b = await d.allocateIds('user', 1);
        const c = await d.allocateIds('user', 5);
        expect([a, b, c]).toEqual([1, 4, 5]);
        // Kinds have separate counters.
        expect(await d.allocateIds('department', 2)).toBe(2);
        expect(await d.allocateIds('run', 2)).toBe(1);
        expect(await d.allocateIds('user', 1)).toBe(10);
        // Allocating ids is not a directory change.
        expect(await d.revision()).toBe(0);
      });

      it('allocateIds never repeats, also across two stores on the same database', async () => {
        const second = await t.reopen();
        const ranges: Array<{ first: number; count: number }> = [];
        const take = async (s: Store, count: number): Promise<void> => {
          ranges.push({ first: await s.directory.allocateIds('user', count), count });
        };
        // Interleaved, one after another.
        for (let i = 0; i < 5; i++) {
          await take(store, i + 1);
          await take(second, 2);
        }
        // And in parallel.
        await Promise.all(Array.from({ length: 20 }, (_, i) => take(i % 2 === 0 ? store : second, (i % 4) + 1)));

        const ids = ranges.flatMap((r) => Array.from({ length: r.count }, (_, k) => r.first + k));
        const total = ranges.reduce((n, r) => n + r.count, 0);
        expect(ids).toHaveLength(total);
        expect(new Set(ids).size).toBe(total);
        // No gaps either: together the ranges are exactly 1..total.
        expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
        expect(await store.directory.allocateIds('user', 1)).toBe(total + 1);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: departments', () => {
      it('insertDepartments round-trips through load(), numbers as numbers, orders up to 2^32-1', async () => {
        await store.directory.insertDepartments([
          dept(2, 1, '研发部', 10),
          dept(3, 2, 'Backend "core"', MAX_U32),
          dept(4, 1, 'Sales', 0),
          dept(5, 3, 'Leaf', 2 ** 31),
        ]);
        const state = await store.directory.load();
        expect(state.departments).toStrictEqual([
          ROOT,
          { id: 2, parentId: 1, name: '研发部', order: 10, links: [] },
          { id: 3, parentId: 2, name: 'Backend "core"', order: MAX_U32, links: [] },
          { id: 4, parentId: 1, name: 'Sales', order: 0, links: [] },
          { id: 5, parentId: 3, name: 'Leaf', order: 2 ** 31, links: [] },
        ]);
        expect(state.rootId).toBe(1);
        expectNumbers(state);
      });

      it('a department with an existing id or an unknown parent is refused', async () => {
        await store.directory.insertDepartments([dept(2, 1)]);
        await expect(store.directory.insertDepartments([dept(2, 1, 'again')])).rejects.toThrow();
        await expect(store.directory.insertDepartments([dept(3, 999)])).rejects.toThrow();
        expect((await store.directory.load()).departments.map((d) => d.id)).toEqual([1, 2]);
      });

      it('updateDepartment patches name, order and parentId, each alone', async () => {
        const d = store.directory;
        await d.insertDepartments([dept(2, 1, 'A', 1), dept(3, 1, 'B', 2), dept(4, 2, 'C', 3)]);

        await d.updateDepartment(4, { name: '新名字' });
        expect(deptOf(await d.load(), 4)).toStrictEqual({ id: 4, parentId: 2, name: '新名字', order: 3, links: [] });

        await d.updateDepartment(4, { order: MAX_U32 });
        expect(deptOf(await d.load(), 4)).toStrictEqual({
          id: 4,
          parentId: 2,
          name: '新名字',
          order: MAX_U32,
          links: [],
        });

        await d.updateDepartment(4, { parentId: 3 });
        expect(deptOf(await d.load(), 4)).toStrictEqual({
          id: 4,
          parentId: 3,
          name: '新名字',
          order: MAX_U32,
          links: [],
        });

        await d.updateDepartment(2, { name: 'A2', order: 0, parentId: 3 });
        const state = await d.load();
        expect(deptOf(state, 2)).toStrictEqual({ id: 2, parentId: 3, name: 'A2', order: 0, links: [] });
        // Untouched departments stay as they were.
        expect(deptOf(state, 3)).toStrictEqual({ id: 3, parentId: 1, name: 'B', order: 2, links: [] });
        expect(deptOf(state, 1)).toStrictEqual(ROOT);
        expectNumbers(state);
      });

      it('updateDepartment to an unknown parent is refused', async () => {
        await store.directory.insertDepartments([dept(2, 1)]);
        await expect(store.directory.updateDepartment(2, { parentId: 999 })).rejects.toThrow();
        expect(deptOf(await store.directory.load(), 2)?.parentId).toBe(1);
      });

      it('deleteDepartments removes exactly the named departments, children first', async () => {
        const d = store.directory;
        await d.insertDepartments([dept(2, 1), dept(3, 2), dept(4, 3), dept(5, 1)]);
        await d.deleteDepartments([4, 3]);
        expect((await d.load()).departments.map((x) => x.id)).toEqual([1, 2, 5]);
        await d.deleteDepartments([2]);
        expect((await d.load()).departments.map((x) => x.id)).toEqual([1, 5]);
        // Deleting nothing, or an id that does not exist, is harmless.
        await d.deleteDepartments([]);
        await d.deleteDepartments([999]);
        expect((await d.load()).departments.map((x) => x.id)).toEqual([1, 5]);
      });

      it('deleting a department that still has children is refused (the parent reference never dangles)', async () => {
        const d = store.directory;
        await d.insertDepartments([dept(2, 1), dept(3, 2)]);
        await expect(d.deleteDepartments([2])).rejects.toThrow();
        expect((await d.load()).departments.map((x) => x.id)).toEqual([1, 2, 3]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: users', () => {
      it('insertUsers round-trips every field through load()', async () => {
        const d = store.directory;
        await d.insertDepartments([dept(2, 1, '研发部')]);
        const full = fullUserRow(1, 2);
        const bare: UserRow = {
          id: 2,
          ...blankProfile(),
          status: 'active',
          mainDepartmentId: null,
          attributes: {},
        };
        const big = userRow(2 ** 40, { gender: 'female', mainDepartmentId: 1 });
        await d.insertUsers([full, bare, big]);

        const state = await d.load();
        expect(state.users).toStrictEqual([
          { ...full, memberships: [], links: [] },
          { ...bare, memberships: [], links: [] },
          { ...big, memberships: [], links: [] },
        ]);
        expect(userOf(state, 1)?.attributes.工号).toBe('A-001');
        expectNumbers(state);
      });

      it('updateUser patches only the given fields; null clears a field', async () => {
        const d = store.directory;
        await d.insertDepartments([dept(2, 1), dept(3, 1)]);
        const original = fullUserRow(1, 2);
        const other = fullUserRow(2, 3);
        await d.insertUsers([original, other]);

        await d.updateUser(1, { name: '李四', position: null });
        let u = userOf(await d.load(), 1);
        expect(u).toStrictEqual({ ...original, name: '李四', position: null, memberships: [], links: [] });

        await d.updateUser(1, { mobile: null, email: null, mainDepartmentId: null, status: 'active' });
        u = userOf(await d.load(), 1);
        expect(u).toStrictEqual({
          ...original,
          name: '李四',
          position: null,
          mobile: null,
          email: null,
          mainDepartmentId: null,
          status: 'active',
          memberships: [],
          links: [],
        });

        await d.updateUser(1, {
          attributes: { 城市: '上海' },
          mainDepartmentId: 3,
          gender: 'female',
          employeeNo: null,
        });
        u = userOf(await d.load(), 1);
        expect(u?.attributes).toStrictEqual({ 城市: '上海' });
        expect(u?.mainDepartmentId).toBe(3);
        expect(u?.gender).toBe('female');
        expect(u?.employeeNo).toBeNull();
        expect(u?.alias).toBe(original.alias);
        expect(u?.address).toBe(original.address);

        // An empty patch changes nothing.
        const before = await d.load();
        await d.updateUser(1, {});
        expect((await d.load()).users).toStrictEqual(before.users);

        // The other user was never touched.
        expect(userOf(await d.load(), 2)).toStrictEqual({ ...other, memberships: [], links: [] });
      });

      it('updateUser can change the case of its own userid, and clear it', async () => {
        const d = store.directory;
        await d.insertUsers([userRow(1, { userid: 'ZhangSan' })]);
        await d.updateUser(1, { userid: 'zhangsan' });
        expect(userOf(await d.load(), 1)?.userid).toBe('zhangsan');
        await d.updateUser(1, { userid: null });
        expect(userOf(await d.load(), 1)?.userid).toBeNull();
        // With the userid cleared, another user may take it.
        await d.insertUsers([userRow(2, { userid: 'ZHANGSAN' })]);
        expect(userOf(await d.load(), 2)?.userid).toBe('ZHANGSAN');
      });

      it('deleteUsers removes exactly the named users', async () => {
        const d = store.directory;
        await d.insertUsers([userRow(1), userRow(2), userRow(3), userRow(4)]);
        await d.deleteUsers([1, 3]);
        expect((await d.load()).users.map((u) => u.id)).toEqual([2, 4]);
        await d.deleteUsers([]);
        await d.deleteUsers([999]);
        expect((await d.load()).users.map((u) => u.id)).toEqual([2, 4]);
      });

      it('deleteUsers handles more ids than one statement chunk', async () => {
        const d = store.directory;
        await d.insertUsers(Array.from({ length: 1100 }, (_, i) => userRow(i + 1)));
        await d.deleteUsers(Array.from({ length: 1050 }, (_, i) => i + 1));
        expect((await d.load()).users.map((u) => u.id)).toEqual(Array.from({ length: 50 }, (_, i) => 1051 + i));
      });

      it('a user whose main department does not exist is refused', async () => {
        await expect(store.directory.insertUsers([userRow(1, { mainDepartmentId: 999 })])).rejects.toThrow();
        expect((await store.directory.load()).users).toEqual([]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: bulk writes', () => {
      // Sizes well past any multi-row statement size (bound parameters are limited to 32,766 on SQLite and
      // 65,535 on PostgreSQL, so a bulk write must split into several statements somewhere below that).
      const DEPTS = 5_100;
      const USERS = 3_400;

      it('thousands of departments, users, memberships and links are written and read back exactly', async () => {
        const d = store.directory;
        const deptRows = Array.from({ length: DEPTS }, (_, i) =>
          dept(i + 2, i < 100 ? 1 : 2 + (i % 100), `部门 ${i}`, MAX_U32 - i),
        );
        const userRows = Array.from({ length: USERS }, (_, i) =>
          userRow(i + 1, {
            userid: `U${i}`,
            mainDepartmentId: 2 + (i % DEPTS),
            attributes: { 序号: String(i) },
            mobile: i % 2 ? null : `138${i}`,
          }),
        );
        const memberships: MembershipRow[] = userRows.flatMap((u, i) =>
          [0, 1, 2].map((k) => ({
            userId: u.id,
            departmentId: 2 + ((i * 3 + k) % DEPTS),
            order: i * 10 + k,
            leader: k === 0,
          })),
        );
        const links: LinkRow[] = [
          ...deptRows.map((r) => ({
            kind: 'department' as const,
            objectId: r.id,
            source: 'wecom',
            externalId: `wd${r.id}`,
          })),
          ...userRows.map((r) => ({ kind: 'user' as const, objectId: r.id, source: 'wecom', externalId: `wu${r.id}` })),
          ...userRows.map((r) => ({
            kind: 'user' as const,
            objectId: r.id,
            source: 'dingtalk',
            externalId: `du${r.id}`,
          })),
        ];
        await store.transaction(async (tx) => {
          await tx.directory.insertDepartments(deptRows);
          await tx.directory.insertUsers(userRows);
          await tx.directory.upsertMemberships(memberships);
          await tx.directory.insertLinks(links);
        });

        let state = await d.load();
        expect(state.departments).toHaveLength(DEPTS + 1);
        expect(state.users).toHaveLength(USERS);
        expect(state.departments.slice(1)).toStrictEqual(
          deptRows.map((r) => ({ ...r, links: [{ source: 'wecom', externalId: `wd${r.id}` }] })),
        );
        const byUser = new Map<number, MembershipRow[]>();
        for (const m of memberships) byUser.set(m.userId, [...(byUser.get(m.userId) ?? []), m]);
        const expectedUsers = userRows.map((u) => ({
          ...u,
          memberships: (byUser.get(u.id) ?? [])
            .map((m) => ({ departmentId: m.departmentId, order: m.order, leader: m.leader }))
            .sort((a, b) => a.departmentId - b.departmentId),
          links: [
            { source: 'dingtalk', externalId: `du${u.id}` },
            { source: 'wecom', externalId: `wu${u.id}` },
          ],
        }));
        expect(state.users).toStrictEqual(expectedUsers);
        expectNumbers(state);

        // Upsert them all again with new values: the conflict path, across statements.
        await d.upsertMemberships(memberships.map((m) => ({ ...m, order: m.order + 1, leader: !m.leader })));
        state = await d.load();
        expect(state.users.flatMap((u) => u.memberships)).toHaveLength(memberships.length);
        expect(userOf(state, USERS)?.memberships).toStrictEqual(
          expectedUsers[USERS - 1]!.memberships.map((m) => ({ ...m, order: m.order + 1, leader: !m.leader })),
        );
        expect(state.users.every((u) => u.memberships.filter((m) => m.leader).length === 2)).toBe(true);
      });

      it('writing no rows is a no-op', async () => {
        const d = store.directory;
        const before = await d.load();
        await d.insertDepartments([]);
        await d.insertUsers([]);
        await d.upsertMemberships([]);
        await d.deleteMemberships([]);
        await d.insertLinks([]);
        await d.deleteLinks('user', []);
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        await store.runs.addChanges(run.id, []);
        expect(await d.load()).toStrictEqual(before);
        expect(await store.runs.countChanges(run.id)).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: a load for a scope of users', () => {
      it('loads every department and exactly the users the scope names, each as a whole load has it', async () => {
        // 2,600 users (past one statement chunk of ids): u1..u2400 linked to "wx" (every 10th disabled), the rest
        // local; every user also linked to "hr". Departments 2..41 linked to "wx" as d2..d41, 42 local.
        const USERS = 2_600;
        const LINKED = 2_400;
        const deptRows = [
          ...Array.from({ length: 40 }, (_, i) => dept(i + 2, 1, `部门 ${i}`, i)),
          dept(42, 1, '本地部门'),
        ];
        // Contacts written in ways the keys see through: some the database compares itself, some it hands back.
        const odd: Record<number, Partial<UserRow>> = {
          2410: { mobile: '+86 138/0000/2410' },
          2412: { mobile: '+86 (138) 0000.2412' },
          2414: { email: 'Ünïcode.User2414@Example.com' },
          2416: { email: '  USER2416@EXAMPLE.COM' },
        };
        const userRows = Array.from({ length: USERS }, (_, i) =>
          userRow(i + 1, {
            userid: `User${i + 1}`,
            status: i % 10 === 9 ? 'disabled' : 'active',
            mobile: `1380000${String(i + 1).padStart(4, '0')}`,
            email: `user${i + 1}@example.com`,
            mainDepartmentId: 2 + (i % 40),
            ...odd[i + 1],
          }),
        );
        const memberships: MembershipRow[] = userRows.flatMap((u, i) => [
          { userId: u.id, departmentId: 2 + (i % 40), order: i, leader: i % 7 === 0 },
          ...(i % 3 === 0 ? [{ userId: u.id, departmentId: 42, order: 1, leader: false }] : []),
        ]);
        const links: LinkRow[] = [
          ...deptRows
            .filter((r) => r.id !== 42)
            .map((r) => ({ kind: 'department' as const, objectId: r.id, source: 'wx', externalId: `d${r.id}` })),
          ...userRows
            .slice(0, LINKED)
            .map((r) => ({ kind: 'user' as const, objectId: r.id, source: 'wx', externalId: `u${r.id}` })),
          ...userRows.map((r) => ({ kind: 'user' as const, objectId: r.id, source: 'hr', externalId: `E${r.id}` })),
        ];
        await store.transaction(async (tx) => {
          await tx.directory.insertDepartments(deptRows);
          await tx.directory.insertUsers(userRows);
          await tx.directory.upsertMemberships(memberships);
          await tx.directory.insertLinks(links);
        });
        const whole = await store.directory.load();
        expect(whole.scope).toBeUndefined();

        const named = Array.from({ length: 1_500 }, (_, i) => `u${i * 2 + 1}`); // 1,500 linked users, odd ids
        const scoped = await store.directory.load({
          source: 'wx',
          externalIds: [...named, 'nobody', 'E4'], // an unknown id, and an id of another source
          memberOf: ['d41', 'd42'], // d42 is no department of "wx"
          candidates: [
            { externalId: 'n1', userid: 'USER2402' }, // a local user, by userid ignoring case
            { externalId: 'n2', mobile: '+86 138-0000-2404' }, // a local user, by mobile digits
            { externalId: 'n3', email: ' User2406@Example.COM ' }, // a local user, by email ignoring case and spaces
            { externalId: 'n4', mobile: '13800002410' },
            { externalId: 'n5', mobile: '+8613800002412' },
            { externalId: 'n6', email: 'ünïcode.user2414@example.com' },
            { externalId: 'n7', email: 'user2416@example.com' },
            { externalId: 'n8', userid: 'ghost', mobile: '139', email: null },
            // Linked already: matching does not apply, so the local user with this mobile is not needed.
            { externalId: 'u1', mobile: '13800002408', email: 'user2418@example.com' },
          ],
        });
        const expected = new Set<number>();
        for (let id = 1; id <= LINKED; id += 2) expected.add(id); // u2401 and on are named but not linked to "wx"
        // Members of department 41 (index i with 2 + i % 40 = 41).
        for (let i = 0; i < USERS; i++) if (2 + (i % 40) === 41) expected.add(i + 1);
        for (const id of [2402, 2404, 2406, 2410, 2412, 2414, 2416]) expected.add(id);
        expect(scoped.users.map((u) => u.id)).toStrictEqual([...expected].sort((a, b) => a - b));
        const wholeById = new Map(whole.users.map((u) => [u.id, u]));
        expect(scoped.users).toStrictEqual(scoped.users.map((u) => wholeById.get(u.id)));
        expect(scoped.departments).toStrictEqual(whole.departments);
        expect(scoped.revision).toBe(whole.revision);
        expect(scoped.rootId).toBe(whole.rootId);
        const active = whole.users.filter(
          (u) => u.status === 'active' && u.links.some((l) => l.source === 'wx'),
        ).length;
        expect(active).toBe(LINKED - LINKED / 10);
        expect(scoped.scope).toStrictEqual({ source: 'wx', activeLinkedUsers: active });
        expectNumbers(scoped);

        // Many keys at once are compared while reading every user's contacts: the same users come back.
        const many = await store.directory.load({
          source: 'wx',
          externalIds: [],
          memberOf: [],
          candidates: [
            ...Array.from({ length: 600 }, (_, i) => ({
              externalId: `m${i}`,
              mobile: `139${String(i).padStart(8, '0')}`,
              email: `nobody${i}@example.org`,
            })),
            { externalId: 'x1', mobile: '13800002410' },
            { externalId: 'x2', mobile: '13800002412' },
            { externalId: 'x3', email: 'ÜNÏCODE.USER2414@EXAMPLE.COM' },
            { externalId: 'x4', email: 'user2416@example.com' },
          ],
        });
        expect(many.users.map((u) => u.id)).toStrictEqual([2410, 2412, 2414, 2416]);

        // An empty scope: every department, no user, the count still there.
        const empty = await store.directory.load({ source: 'wx', externalIds: [], memberOf: [], candidates: [] });
        expect(empty.users).toStrictEqual([]);
        expect(empty.departments).toStrictEqual(whole.departments);
        expect(empty.scope).toStrictEqual({ source: 'wx', activeLinkedUsers: active });
      });
    });

    describe('directory: userid unique ignoring case', () => {
      it('a second user whose userid differs only in case is refused', async () => {
        const d = store.directory;
        await d.insertUsers([userRow(1, { userid: 'ZhangSan' })]);
        await expect(d.insertUsers([userRow(2, { userid: 'zhangsan' })])).rejects.toThrow();
        await expect(d.insertUsers([userRow(3, { userid: 'ZHANGSAN' })])).rejects.toThrow();
        await expect(d.insertUsers([userRow(4, { userid: 'ZhangSan' })])).rejects.toThrow();
        expect((await d.load()).users.map((u) => [u.id, u.userid])).toEqual([[1, 'ZhangSan']]);
      });

      it('within one insertUsers call the whole batch is refused', async () => {
        const d = store.directory;
        await expect(d.insertUsers([userRow(1, { userid: 'Li' }), userRow(2, { userid: 'LI' })])).rejects.toThrow();
        expect((await d.load()).users).toEqual([]);
      });

      it('updateUser to a case variant of another user’s userid is refused', async () => {
        const d = store.directory;
        await d.insertUsers([userRow(1, { userid: 'wangwu' }), userRow(2, { userid: 'zhaoliu' })]);
        await expect(d.updateUser(2, { userid: 'WangWu' })).rejects.toThrow();
        expect(userOf(await d.load(), 2)?.userid).toBe('zhaoliu');
      });

      it('many users without a userid are allowed', async () => {
        await store.directory.insertUsers([
          userRow(1, { userid: null }),
          userRow(2, { userid: null }),
          userRow(3, { userid: null }),
        ]);
        expect((await store.directory.load()).users).toHaveLength(3);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: memberships', () => {
      beforeEach(async () => {
        await store.directory.insertDepartments([dept(2, 1), dept(3, 1), dept(4, 3)]);
        await store.directory.insertUsers([userRow(1, { mainDepartmentId: 3 }), userRow(2, { mainDepartmentId: 3 })]);
      });

      it('upsertMemberships inserts, then updates order and leader on conflict', async () => {
        const d = store.directory;
        await d.upsertMemberships([
          { userId: 1, departmentId: 2, order: 5, leader: false },
          { userId: 1, departmentId: 3, order: MAX_U32, leader: true },
          { userId: 2, departmentId: 3, order: 0, leader: false },
        ]);
        let state = await d.load();
        expect(userOf(state, 1)?.memberships).toStrictEqual([
          { departmentId: 2, order: 5, leader: false },
          { departmentId: 3, order: MAX_U32, leader: true },
        ]);
        expect(userOf(state, 2)?.memberships).toStrictEqual([{ departmentId: 3, order: 0, leader: false }]);
        expectNumbers(state);

        await d.upsertMemberships([
          { userId: 1, departmentId: 2, order: 9, leader: true },
          { userId: 1, departmentId: 3, order: 1, leader: false },
          { userId: 1, departmentId: 4, order: 2, leader: false },
        ]);
        state = await d.load();
        expect(userOf(state, 1)?.memberships).toStrictEqual([
          { departmentId: 2, order: 9, leader: true },
          { departmentId: 3, order: 1, leader: false },
          { departmentId: 4, order: 2, leader: false },
        ]);
        // The other user's membership in the same department was not touched.
        expect(userOf(state, 2)?.memberships).toStrictEqual([{ departmentId: 3, order: 0, leader: false }]);
      });

      it('a membership in an unknown department or for an unknown user is refused', async () => {
        const d = store.directory;
        await expect(
          d.upsertMemberships([{ userId: 1, departmentId: 999, order: 0, leader: false }]),
        ).rejects.toThrow();
        await expect(
          d.upsertMemberships([{ userId: 999, departmentId: 2, order: 0, leader: false }]),
        ).rejects.toThrow();
        expect(userOf(await d.load(), 1)?.memberships).toEqual([]);
      });

      it('deleteMemberships removes just the named pairs', async () => {
        const d = store.directory;
        await d.upsertMemberships([
          { userId: 1, departmentId: 2, order: 0, leader: false },
          { userId: 1, departmentId: 3, order: 0, leader: false },
          { userId: 2, departmentId: 2, order: 0, leader: false },
          { userId: 2, departmentId: 3, order: 0, leader: true },
        ]);
        await d.deleteMemberships([
          { userId: 1, departmentId: 3 },
          { userId: 2, departmentId: 2 },
          { userId: 2, departmentId: 4 }, // not a member: harmless
        ]);
        const state = await d.load();
        expect(userOf(state, 1)?.memberships).toStrictEqual([{ departmentId: 2, order: 0, leader: false }]);
        expect(userOf(state, 2)?.memberships).toStrictEqual([{ departmentId: 3, order: 0, leader: true }]);
      });

      it('deleting a user deletes its memberships', async () => {
        const d = store.directory;
        await d.upsertMemberships([
          { userId: 1, departmentId: 2, order: 1, leader: true },
          { userId: 2, departmentId: 2, order: 2, leader: false },
        ]);
        await d.deleteUsers([1]);
        // A new user with the same id starts with no memberships: the old rows went with the user.
        await d.insertUsers([userRow(1, { userid: 'reborn' })]);
        const state = await d.load();
        expect(userOf(state, 1)?.memberships).toEqual([]);
        expect(userOf(state, 2)?.memberships).toStrictEqual([{ departmentId: 2, order: 2, leader: false }]);
        // And the department can go without complaint about leftover memberships of user 1.
        await d.deleteMemberships([{ userId: 2, departmentId: 2 }]);
        await d.deleteDepartments([2]);
        expect(deptOf(await d.load(), 2)).toBeUndefined();
      });

      it('deleting a department deletes its memberships and clears users’ main department', async () => {
        const d = store.directory;
        await d.upsertMemberships([
          { userId: 1, departmentId: 3, order: 1, leader: true },
          { userId: 1, departmentId: 2, order: 1, leader: false },
          { userId: 2, departmentId: 3, order: 2, leader: false },
        ]);
        await d.updateUser(2, { mainDepartmentId: 2 });
        await d.deleteDepartments([4, 3]);
        const state = await d.load();
        expect(deptOf(state, 3)).toBeUndefined();
        const u1 = userOf(state, 1);
        expect(u1?.mainDepartmentId).toBeNull();
        expect(u1?.memberships).toStrictEqual([{ departmentId: 2, order: 1, leader: false }]);
        const u2 = userOf(state, 2);
        expect(u2?.mainDepartmentId).toBe(2);
        expect(u2?.memberships).toEqual([]);
        // The users themselves are still there, otherwise unchanged.
        expect(u1?.userid).toBe('user1');
        expect(u1?.status).toBe('active');
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('directory: links', () => {
      beforeEach(async () => {
        await store.directory.insertDepartments([dept(2, 1), dept(3, 1)]);
        await store.directory.insertUsers([userRow(1), userRow(2)]);
      });

      it('insertLinks attaches links to departments and users in load()', async () => {
        const d = store.directory;
        await d.insertLinks([
          { kind: 'department', objectId: 2, source: 'wecom', externalId: '100' },
          { kind: 'department', objectId: 2, source: 'dingtalk', externalId: '100' },
          { kind: 'department', objectId: 1, source: 'wecom', externalId: '1' },
          { kind: 'user', objectId: 1, source: 'wecom', externalId: 'ZhangSan' },
          { kind: 'user', objectId: 2, source: 'dingtalk', externalId: '张三的钉钉' },
          // The same external id under another kind is a different thing.
          { kind: 'user', objectId: 2, source: 'wecom', externalId: '100' },
        ]);
        const state = await d.load();
        expect(deptOf(state, 1)?.links).toStrictEqual([{ source: 'wecom', externalId: '1' }]);
        expect(deptOf(state, 2)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: '100' },
          { source: 'wecom', externalId: '100' },
        ]);
        expect(deptOf(state, 3)?.links).toEqual([]);
        expect(userOf(state, 1)?.links).toStrictEqual([{ source: 'wecom', externalId: 'ZhangSan' }]);
        expect(userOf(state, 2)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: '张三的钉钉' },
          { source: 'wecom', externalId: '100' },
        ]);
      });

      it('a link keeps its data (e.g. a unionid) through load(); setLinkData replaces or clears it; a rename keeps it', async () => {
        const d = store.directory;
        await d.insertLinks([
          {
            kind: 'user',
            objectId: 1,
            source: 'dingtalk',
            externalId: 'zhangsan',
            data: { unionid: 'u-1iPiS5Z0x', other: '值' },
          },
          { kind: 'user', objectId: 2, source: 'dingtalk', externalId: 'lisi', data: null },
          { kind: 'user', objectId: 2, source: 'wecom', externalId: 'lisi' },
          { kind: 'department', objectId: 2, source: 'dingtalk', externalId: '2', data: {} },
        ]);
        let state = await d.load();
        expect(userOf(state, 1)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: 'zhangsan', data: { other: '值', unionid: 'u-1iPiS5Z0x' } },
        ]);
        // No data (absent, null or empty) reads back without the key.
        expect(userOf(state, 2)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: 'lisi' },
          { source: 'wecom', externalId: 'lisi' },
        ]);
        expect(deptOf(state, 2)?.links).toStrictEqual([{ source: 'dingtalk', externalId: '2' }]);

        await d.setLinkData('user', 'dingtalk', [
          { objectId: 1, data: null },
          { objectId: 2, data: { unionid: 'u-2' } },
        ]);
        expect(await d.renameLink('user', 'dingtalk', 'lisi', 'lisi2')).toBe(true);
        state = await d.load();
        expect(userOf(state, 1)?.links).toStrictEqual([{ source: 'dingtalk', externalId: 'zhangsan' }]);
        // Only the named source's link changed, and the rename kept the data.
        expect(userOf(state, 2)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: 'lisi2', data: { unionid: 'u-2' } },
          { source: 'wecom', externalId: 'lisi' },
        ]);
        // A link that does not exist is no error, and gains nothing.
        await d.setLinkData('department', 'dingtalk', [{ objectId: 3, data: { x: 'y' } }]);
        expect(deptOf(await d.load(), 3)?.links).toEqual([]);
      });

      it('renameLink moves a link to a new external id; unknown ids answer false; a taken id is refused', async () => {
        const d = store.directory;
        await d.insertLinks([
          { kind: 'user', objectId: 1, source: 'wecom', externalId: 'zhangsan' },
          { kind: 'user', objectId: 2, source: 'wecom', externalId: 'lisi' },
          { kind: 'department', objectId: 2, source: 'wecom', externalId: 'zhangsan' },
        ]);
        expect(await d.renameLink('user', 'wecom', 'zhangsan', 'zhangsan2')).toBe(true);
        expect(await d.renameLink('user', 'wecom', 'nobody', 'x')).toBe(false);
        expect(await d.renameLink('user', 'dingtalk', 'lisi', 'x')).toBe(false);
        await expect(d.renameLink('user', 'wecom', 'lisi', 'zhangsan2')).rejects.toThrow();
        const state = await d.load();
        expect(userOf(state, 1)?.links).toStrictEqual([{ source: 'wecom', externalId: 'zhangsan2' }]);
        expect(userOf(state, 2)?.links).toStrictEqual([{ source: 'wecom', externalId: 'lisi' }]);
        // Another kind with the same external id is untouched.
        expect(deptOf(state, 2)?.links).toStrictEqual([{ source: 'wecom', externalId: 'zhangsan' }]);
      });

      it('the same (kind, source, externalId) twice is refused', async () => {
        const d = store.directory;
        await d.insertLinks([{ kind: 'department', objectId: 2, source: 'wecom', externalId: 'X' }]);
        await expect(
          d.insertLinks([{ kind: 'department', objectId: 3, source: 'wecom', externalId: 'X' }]),
        ).rejects.toThrow();
        // Within one call too.
        await expect(
          d.insertLinks([
            { kind: 'user', objectId: 1, source: 'wecom', externalId: 'Y' },
            { kind: 'user', objectId: 2, source: 'wecom', externalId: 'Y' },
          ]),
        ).rejects.toThrow();
        const state = await d.load();
        expect(deptOf(state, 3)?.links).toEqual([]);
        expect(userOf(state, 1)?.links).toEqual([]);
        expect(userOf(state, 2)?.links).toEqual([]);
      });

      it('a second link for the same object and source is refused', async () => {
        const d = store.directory;
        await d.insertLinks([{ kind: 'user', objectId: 1, source: 'wecom', externalId: 'a' }]);
        await expect(
          d.insertLinks([{ kind: 'user', objectId: 1, source: 'wecom', externalId: 'b' }]),
        ).rejects.toThrow();
        // Another source for the same object is fine.
        await d.insertLinks([{ kind: 'user', objectId: 1, source: 'dingtalk', externalId: 'b' }]);
        expect(userOf(await d.load(), 1)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: 'b' },
          { source: 'wecom', externalId: 'a' },
        ]);
      });

      it('deleteLinks removes all links of the named objects of one kind, and frees the external ids', async () => {
        const d = store.directory;
        const links: LinkRow[] = [
          { kind: 'department', objectId: 2, source: 'wecom', externalId: 'd2' },
          { kind: 'department', objectId: 2, source: 'dingtalk', externalId: 'd2' },
          { kind: 'department', objectId: 3, source: 'wecom', externalId: 'd3' },
          { kind: 'user', objectId: 2, source: 'wecom', externalId: 'u2' },
        ];
        await d.insertLinks(links);
        await d.deleteLinks('department', [2]);
        let state = await d.load();
        expect(deptOf(state, 2)?.links).toEqual([]);
        expect(deptOf(state, 3)?.links).toStrictEqual([{ source: 'wecom', externalId: 'd3' }]);
        // Same numeric id, other kind: untouched.
        expect(userOf(state, 2)?.links).toStrictEqual([{ source: 'wecom', externalId: 'u2' }]);

        // The freed external id can be linked to another object now.
        await d.insertLinks([{ kind: 'department', objectId: 3, source: 'dingtalk', externalId: 'd2' }]);
        await d.deleteLinks('user', [2, 999]);
        state = await d.load();
        expect(deptOf(state, 3)?.links).toStrictEqual([
          { source: 'dingtalk', externalId: 'd2' },
          { source: 'wecom', externalId: 'd3' },
        ]);
        expect(userOf(state, 2)?.links).toEqual([]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('event inbox', () => {
      it('stores a message once per (connection, dedupe key), hands out pending ones in order, marks them done or failed', async () => {
        const inbox = store.inbox;
        const ev = (id: string) => [{ object: 'user' as const, externalId: id }];
        expect(
          await inbox.add({ connection: 'wx', dedupeKey: 'k1', type: 'change_contact/create_user', events: ev('a') }),
        ).toBe(true);
        // A platform's retry of the same message.
        expect(
          await inbox.add({ connection: 'wx', dedupeKey: 'k1', type: 'change_contact/create_user', events: ev('a') }),
        ).toBe(false);
        expect(
          await inbox.add({ connection: 'wx', dedupeKey: 'k2', type: 'change_contact/delete_user', events: ev('b') }),
        ).toBe(true);
        // The same key under another connection is another message.
        expect(await inbox.add({ connection: 'dt', dedupeKey: 'k1', type: 'user_add_org', events: ev('c') })).toBe(
          true,
        );
        expect(await inbox.connectionsWithPending()).toStrictEqual(['dt', 'wx']);

        const pending = await inbox.pending('wx', 10);
        expect(pending.map((m) => [m.dedupeKey, m.events, m.attempts])).toStrictEqual([
          ['k1', ev('a'), 0],
          ['k2', ev('b'), 0],
        ]);
        expect((await inbox.pending('wx', 1)).map((m) => m.dedupeKey)).toStrictEqual(['k1']);

        await inbox.markFailed([pending[1]?.id as number], 'WeCom was busy');
        const [, failed] = await inbox.pending('wx', 10);
        expect([failed?.attempts, failed?.lastError]).toStrictEqual([1, 'WeCom was busy']);

        await inbox.markDone(
          pending.map((m) => m.id),
          42,
        );
        expect(await inbox.pending('wx', 10)).toStrictEqual([]);
        expect(await inbox.counts('wx')).toStrictEqual({ pending: 0, done: 2 });
        expect(await inbox.connectionsWithPending()).toStrictEqual(['dt']);
        // Done messages still count as received: a late retry is not stored again.
        expect(
          await inbox.add({ connection: 'wx', dedupeKey: 'k2', type: 'change_contact/delete_user', events: ev('b') }),
        ).toBe(false);
      });

      it('a failed message waits for its retry time, becomes a dead letter at the attempt limit with its whole error, and is put back by a retry', async () => {
        const inbox = store.inbox;
        const ev = (id: string) => [{ object: 'department' as const, externalId: id }];
        for (const [connection, key] of [
          ['wx', 'a'],
          ['wx', 'b'],
          ['wx', 'c'],
          ['dt', 'd'],
        ] as const) {
          expect(await inbox.add({ connection, dedupeKey: key, type: 't', events: ev(key) })).toBe(true);
        }
        const [a, b, c] = await inbox.pending('wx', 10);
        const error = {
          code: 'WECOM_BUSY',
          message: 'WeCom was busy and stayed busy',
          hint: 'Try again later.',
          object: 'department "7"',
          zh: { message: '企业微信持续繁忙', hint: '稍后再试。' },
        };
        const later = '2030-01-01T00:00:00.000Z';
        // Counted once, waiting: not due before its time, due after; the wait is what nextAttempt reports.
        expect(await inbox.markFailed([a!.id], error, { retryAt: later, maxAttempts: 2 })).toStrictEqual([]);
        expect((await inbox.pending('wx', 10)).map((m) => m.dedupeKey)).toStrictEqual(['b', 'c']);
        expect(await inbox.nextAttempt('wx')).toBe(later);
        expect(await inbox.nextAttempt('dt')).toBeNull();
        const due = await inbox.pending('wx', 10, '2030-01-01T00:00:01.000Z');
        expect(due.map((m) => [m.dedupeKey, m.attempts, m.error, m.nextAttemptAt])).toStrictEqual([
          ['a', 1, error, later],
          ['b', 0, null, null],
          ['c', 0, null, null],
        ]);
        // A failure that is not the message's is recorded without counting.
        expect(
          await inbox.markFailed(
            [b!.id],
            { code: 'WECOM_INVALID_SECRET', message: 'wrong secret' },
            { count: false, maxAttempts: 1 },
          ),
        ).toStrictEqual([]);
        expect((await inbox.pending('wx', 10)).find((m) => m.id === b!.id)?.attempts).toBe(0);
        // The second counted failure reaches the limit: a dead letter, no longer pending, its error kept whole.
        expect(await inbox.markFailed([a!.id, c!.id], error, { retryAt: later, maxAttempts: 2 })).toStrictEqual([
          a!.id,
        ]);
        expect((await inbox.pending('wx', 10, '2031-01-01T00:00:00.000Z')).map((m) => m.dedupeKey)).toStrictEqual([
          'b',
          'c',
        ]);
        const dead = await inbox.deadLetters();
        expect(dead.map((m) => [m.id, m.connection, m.attempts, m.error, m.nextAttemptAt])).toStrictEqual([
          [a!.id, 'wx', 2, error, null],
        ]);
        expect(typeof dead[0]?.deadAt).toBe('string');
        expect(await inbox.deadLetters({ connection: 'dt' })).toStrictEqual([]);
        expect(await inbox.counts('wx')).toStrictEqual({ pending: 2, done: 0 });
        // A retry of another connection's or of unknown ids changes nothing; the right one puts it back, counting
        // from zero, its last error kept for whoever looks.
        expect(await inbox.retryDeadLetters({ connection: 'dt' })).toStrictEqual([]);
        expect(await inbox.retryDeadLetters({ ids: [] })).toStrictEqual([]);
        expect(await inbox.retryDeadLetters({ connection: 'wx', ids: [a!.id] })).toStrictEqual([
          { id: a!.id, connection: 'wx' },
        ]);
        expect(await inbox.deadLetters()).toStrictEqual([]);
        const back = (await inbox.pending('wx', 10)).find((m) => m.id === a!.id);
        expect([back?.attempts, back?.nextAttemptAt, back?.deadAt, back?.error]).toStrictEqual([0, null, null, error]);
        expect(await inbox.connectionsWithPending()).toStrictEqual(['dt', 'wx']);
      });
    });

    describe('directory: revision', () => {
      it('bumpRevision increases the revision by one each time', async () => {
        const d = store.directory;
        expect(await d.revision()).toBe(0);
        expect(await d.bumpRevision()).toBe(1);
        expect(await d.revision()).toBe(1);
        expect(await d.bumpRevision()).toBe(2);
        expect(await d.bumpRevision()).toBe(3);
        expect(await d.revision()).toBe(3);
        const state = await d.load();
        expect(state.revision).toBe(3);
        expect(typeof state.revision).toBe('number');
        // Another store on the same database continues from there.
        const second = await t.reopen();
        expect(await second.directory.revision()).toBe(3);
        expect(await second.directory.bumpRevision()).toBe(4);
        expect(await d.revision()).toBe(4);
      });

      it('concurrent bumps from two stores never return the same revision', async () => {
        const second = await t.reopen();
        const got = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? second : store).directory.bumpRevision()),
        );
        expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(await store.directory.revision()).toBe(20);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('transaction', () => {
      it('all writes land when fn resolves, and fn’s value is returned', async () => {
        const result = await store.transaction(async (tx) => {
          const deptId = await tx.directory.allocateIds('department', 1);
          const userId = await tx.directory.allocateIds('user', 1);
          await tx.directory.insertDepartments([dept(deptId, 1, 'in tx')]);
          await tx.directory.insertUsers([userRow(userId, { mainDepartmentId: deptId })]);
          await tx.directory.upsertMemberships([{ userId, departmentId: deptId, order: 1, leader: true }]);
          await tx.directory.insertLinks([{ kind: 'user', objectId: userId, source: 'wecom', externalId: 'tx-user' }]);
          const revision = await tx.directory.bumpRevision();
          const run = await tx.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
          // Reads inside the transaction see its own writes.
          const inside = await tx.directory.load();
          expect(userOf(inside, userId)?.memberships).toHaveLength(1);
          expect(inside.revision).toBe(revision);
          return { deptId, userId, revision, runId: run.id };
        });
        expect(result).toEqual({ deptId: 2, userId: 1, revision: 1, runId: 1 });

        const state = await store.directory.load();
        expect(state.revision).toBe(1);
        expect(deptOf(state, 2)?.name).toBe('in tx');
        expect(userOf(state, 1)).toMatchObject({
          mainDepartmentId: 2,
          memberships: [{ departmentId: 2, order: 1, leader: true }],
          links: [{ source: 'wecom', externalId: 'tx-user' }],
        });
        expect((await store.runs.get(1))?.kind).toBe('sync');
        expect(await store.directory.allocateIds('department', 1)).toBe(3);
        // Visible from another store too: it was committed.
        const second = await t.reopen();
        expect(await second.directory.load()).toStrictEqual(state);
      });

      it('no write lands when fn throws; the error comes out unchanged', async () => {
        const d = store.directory;
        // Some committed data first, which the failed transaction also modifies.
        expect(await d.allocateIds('department', 1)).toBe(2);
        expect(await d.allocateIds('user', 1)).toBe(1);
        await d.insertDepartments([dept(2, 1, 'kept', 5)]);
        await d.insertUsers([userRow(1, { mainDepartmentId: 2 })]);
        await d.upsertMemberships([{ userId: 1, departmentId: 2, order: 1, leader: false }]);
        await d.insertLinks([{ kind: 'department', objectId: 2, source: 'wecom', externalId: 'kept' }]);
        await d.bumpRevision();
        const run = await store.runs.create({ kind: 'import', source: 'wecom', dryRun: true, status: 'planned' });
        const before = await d.load();

        const boom = new Error('boom');
        await expect(
          store.transaction(async (tx) => {
            const deptId = await tx.directory.allocateIds('department', 3);
            const userId = await tx.directory.allocateIds('user', 3);
            await tx.directory.insertDepartments([dept(deptId, 1, 'lost')]);
            await tx.directory.insertUsers([userRow(userId, { mainDepartmentId: deptId })]);
            await tx.directory.updateDepartment(2, { name: 'renamed', order: 99 });
            await tx.directory.updateUser(1, { name: 'renamed', mainDepartmentId: null });
            await tx.directory.upsertMemberships([
              { userId: 1, departmentId: 2, order: 7, leader: true },
              { userId, departmentId: deptId, order: 0, leader: false },
            ]);
            await tx.directory.insertLinks([
              { kind: 'department', objectId: deptId, source: 'wecom', externalId: 'lost' },
            ]);
            await tx.directory.deleteLinks('department', [2]);
            await tx.directory.bumpRevision();
            await tx.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
            await tx.runs.update(run.id, { status: 'failed' });
            expect(await tx.locks.tryAcquire('apply', 'tx-holder', 60_000)).toBe(true);
            throw boom;
          }),
        ).rejects.toBe(boom);

        expect(await d.load()).toStrictEqual(before);
        expect(await d.revision()).toBe(1);
        // The counters were rolled back too: the next ids are the ones the transaction had taken.
        expect(await d.allocateIds('department', 1)).toBe(3);
        expect(await d.allocateIds('user', 1)).toBe(2);
        expect((await store.runs.list()).map((r) => r.id)).toEqual([run.id]);
        expect((await store.runs.get(run.id))?.status).toBe('planned');
        expect(await d.allocateIds('run', 1)).toBe(run.id + 1);
        // The lock taken inside was never held.
        expect(await store.locks.tryAcquire('apply', 'someone-else', 60_000)).toBe(true);
      });

      it('a statement that fails inside fn rolls back the writes before it', async () => {
        const d = store.directory;
        await d.insertUsers([userRow(1, { userid: 'taken' })]);
        await expect(
          store.transaction(async (tx) => {
            await tx.directory.insertDepartments([dept(2, 1, 'lost')]);
            await tx.directory.bumpRevision();
            await tx.directory.insertUsers([userRow(2, { userid: 'TAKEN' })]);
          }),
        ).rejects.toThrow();
        const state = await d.load();
        expect(state.departments.map((x) => x.id)).toEqual([1]);
        expect(state.users.map((u) => u.id)).toEqual([1]);
        expect(state.revision).toBe(0);
        // And the store is still usable afterwards.
        await store.transaction(async (tx) => tx.directory.insertDepartments([dept(2, 1, 'ok')]));
        expect(deptOf(await d.load(), 2)?.name).toBe('ok');
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('runs', () => {
      it('create returns increasing ids and a complete record that get() returns unchanged', async () => {
        const a = await store.runs.create({ kind: 'import', source: 'wecom', dryRun: true, status: 'planned' });
        const b = await store.runs.create({ kind: 'sync', source: 'dingtalk', dryRun: false, status: 'running' });
        const c = await store.runs.create({ kind: 'event', source: 'wecom', dryRun: false, status: 'running' });
        expect(typeof a.id).toBe('number');
        expect(b.id).toBe(a.id + 1);
        expect(c.id).toBe(b.id + 1);
        expect(a).toMatchObject({
          kind: 'import',
          source: 'wecom',
          dryRun: true,
          status: 'planned',
          finishedAt: null,
          baseRevision: null,
          counts: emptyCounts(),
          errors: [],
          notes: [],
          summary: {},
        });
        expect(Number.isNaN(Date.parse(a.createdAt))).toBe(false);
        expect(await store.runs.get(a.id)).toStrictEqual(a);
        expect(await store.runs.get(b.id)).toStrictEqual(b);
        expect(await store.runs.get(c.id + 100)).toBeUndefined();
      });

      it('update patches status, counts, errors, notes, summary and finishedAt, and nothing else', async () => {
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const other = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const counts = emptyCounts();
        counts.departments.create = 3;
        counts.users.disable = MAX_U32;
        const errors = [{ code: 'SOURCE_ERROR', message: '读取失败', hint: 'retry', object: 'users[3]' }];
        const notes = [{ code: 'NOTE', message: 'note' }];
        const summary = {
          read: { departments: 2, users: 5, complete: true, incompleteDepartments: 0, unseenFields: ['mobile'] },
          extra: { 键: [1, 2] },
        };
        const finishedAt = '2024-05-06T07:08:09.010Z';

        await store.runs.update(run.id, {
          status: 'partial',
          counts,
          errors,
          notes,
          summary,
          finishedAt,
          baseRevision: 42,
        });
        const got = await store.runs.get(run.id);
        expect(got).toStrictEqual({
          ...run,
          status: 'partial',
          counts,
          errors,
          notes,
          summary,
          finishedAt,
          baseRevision: 42,
        });
        expect(typeof got?.baseRevision).toBe('number');

        // A second, partial patch leaves the rest alone.
        await store.runs.update(run.id, { status: 'succeeded' });
        expect(await store.runs.get(run.id)).toStrictEqual({
          ...run,
          status: 'succeeded',
          counts,
          errors,
          notes,
          summary,
          finishedAt,
          baseRevision: 42,
        });
        await store.runs.update(run.id, {});
        expect((await store.runs.get(run.id))?.status).toBe('succeeded');
        // The other run was not touched.
        expect(await store.runs.get(other.id)).toStrictEqual(other);
      });

      it('keeps a template given at creation, then warnings and enrichment counts, and lists enrichment runs by kind', async () => {
        const run = await store.runs.create({
          kind: 'import',
          source: 'hr',
          dryRun: false,
          status: 'running',
          summary: { template: 'delete-only' },
        });
        expect(run.summary).toStrictEqual({ template: 'delete-only' });
        expect(await store.runs.get(run.id)).toStrictEqual(run);
        const warnings = [
          {
            code: 'MOJIBAKE_REPAIRED',
            message: '3 rows were read in the wrong encoding and repaired',
            rows: 3,
            example: { before: 'ä¼ä¸å¾®ä¿¡', after: '企业微信' },
            zh: { message: '3 行文字编码有误，已修复' },
          },
        ];
        await store.runs.update(run.id, { summary: { template: 'delete-only', warnings } });
        expect((await store.runs.get(run.id))?.summary).toStrictEqual({ template: 'delete-only', warnings });

        const enrich = await store.runs.create({ kind: 'enrich', source: 'wecom', dryRun: true, status: 'running' });
        const enrichment = { matched: 2, enriched: 1, unmatched: 1, unmatchedAccounts: ['李雷'] };
        await store.runs.update(enrich.id, { status: 'planned', summary: { enrichment } });
        expect(await store.runs.get(enrich.id)).toStrictEqual({
          ...enrich,
          status: 'planned',
          summary: { enrichment },
        });
        expect((await store.runs.list({ kind: 'enrich' })).map((r) => r.id)).toEqual([enrich.id]);
      });

      it('list is newest first, honours limit, and filters by source and status', async () => {
        const made = [];
        const spec = [
          ['wecom', 'succeeded'],
          ['dingtalk', 'failed'],
          ['wecom', 'failed'],
          ['wecom', 'succeeded'],
          ['dingtalk', 'succeeded'],
          ['wecom', 'blocked'],
        ] as const;
        for (const [source, status] of spec) {
          const r = await store.runs.create({ kind: 'sync', source, dryRun: false, status: 'running' });
          await store.runs.update(r.id, { status });
          made.push({ id: r.id, source, status });
        }
        const ids = (xs: Array<{ id: number }>) => xs.map((x) => x.id);
        const newestFirst = [...made].reverse();

        expect(ids(await store.runs.list())).toEqual(ids(newestFirst));
        expect(ids(await store.runs.list({ limit: 2 }))).toEqual(ids(newestFirst.slice(0, 2)));
        expect(ids(await store.runs.list({ source: 'wecom' }))).toEqual(
          ids(newestFirst.filter((r) => r.source === 'wecom')),
        );
        expect(ids(await store.runs.list({ status: 'failed' }))).toEqual(
          ids(newestFirst.filter((r) => r.status === 'failed')),
        );
        expect(ids(await store.runs.list({ source: 'wecom', status: 'succeeded' }))).toEqual(
          ids(newestFirst.filter((r) => r.source === 'wecom' && r.status === 'succeeded')),
        );
        expect(ids(await store.runs.list({ source: 'wecom', limit: 1 }))).toEqual([
          newestFirst.find((r) => r.source === 'wecom')?.id,
        ]);
        expect(await store.runs.list({ source: 'nowhere' })).toEqual([]);
        const listed = await store.runs.list({ limit: 1 });
        expect(listed[0]).toStrictEqual(await store.runs.get(made[made.length - 1]!.id));
      });

      it('addStep / steps: ordered by seq, per run, detail round-trips', async () => {
        const run = await store.runs.create({ kind: 'import', source: 'wecom', dryRun: false, status: 'running' });
        const other = await store.runs.create({ kind: 'import', source: 'wecom', dryRun: false, status: 'running' });
        const step = (seq: number, over: Partial<RunStep> = {}): RunStep => ({
          seq,
          name: `step-${seq}`,
          status: 'ok',
          startedAt: `2024-01-01T00:00:0${seq}.000Z`,
          durationMs: seq * 10,
          detail: { seq, 说明: '读取通讯录', nested: { list: [1, 'two', null] } },
          ...over,
        });
        await store.runs.addStep(run.id, step(3, { status: 'skipped' }));
        await store.runs.addStep(run.id, step(1));
        await store.runs.addStep(run.id, step(2, { status: 'failed', detail: {} }));
        await store.runs.addStep(other.id, step(1, { name: 'other' }));

        expect(await store.runs.steps(run.id)).toStrictEqual([
          step(1),
          step(2, { status: 'failed', detail: {} }),
          step(3, { status: 'skipped' }),
        ]);
        expect(await store.runs.steps(other.id)).toStrictEqual([step(1, { name: 'other' })]);
        expect(await store.runs.steps(other.id + 1)).toEqual([]);
        // The same seq twice in one run is refused.
        await expect(store.runs.addStep(run.id, step(1))).rejects.toThrow();
      });

      it('addChanges (more than one insert chunk) / changes with limit and offset / countChanges / clearChanges', async () => {
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: true, status: 'planned' });
        const other = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: true, status: 'planned' });
        const N = 7_600;
        const all = Array.from({ length: N }, (_, i) => change(i + 1));
        // Written in two calls and not in seq order: reads must still be ordered by seq.
        await store.runs.addChanges(run.id, all.slice(4000).reverse());
        await store.runs.addChanges(run.id, all.slice(0, 4000));
        await store.runs.addChanges(other.id, [change(1, { label: 'other' })]);

        expect(await store.runs.countChanges(run.id)).toBe(N);
        expect(await store.runs.countChanges(other.id)).toBe(1);
        const read = await store.runs.changes(run.id);
        expect(read).toHaveLength(N);
        expect(read).toStrictEqual(all);
        expect(read.filter((c) => c.objectId === null)).toHaveLength(Math.floor(N / 5));
        for (const c of read.slice(0, 10)) if (c.objectId !== null) expect(typeof c.objectId).toBe('number');

        expect(await store.runs.changes(run.id, { limit: 10 })).toStrictEqual(all.slice(0, 10));
        expect(await store.runs.changes(run.id, { limit: 100, offset: 3995 })).toStrictEqual(all.slice(3995, 4095));
        expect(await store.runs.changes(run.id, { offset: N - 3 })).toStrictEqual(all.slice(N - 3));
        expect(await store.runs.changes(run.id, { limit: 5, offset: N })).toEqual([]);

        await store.runs.clearChanges(run.id);
        expect(await store.runs.countChanges(run.id)).toBe(0);
        expect(await store.runs.changes(run.id)).toEqual([]);
        // Only that run's changes went.
        expect(await store.runs.changes(other.id)).toStrictEqual([change(1, { label: 'other' })]);
        // A cleared run can record its changes anew (the seqs are free again).
        await store.runs.addChanges(run.id, all.slice(0, 3));
        expect(await store.runs.countChanges(run.id)).toBe(3);
      });

      it('change records round-trip exactly whatever their action and "before" values', async () => {
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const membership = [{ department: 2, order: 0, leader: true }];
        const records: RunChangeRecord[] = [
          // A create with nothing before: the common case of a first import.
          change(1, {
            action: 'create',
            objectKind: 'user',
            fields: {
              name: { before: null, after: '王五' },
              status: { before: null, after: 'active' },
              departments: { before: [], after: membership },
              mainDepartment: { before: null, after: 2 },
              'attributes.城市': { before: null, after: '上海' },
            },
          }),
          // A create that does carry a "before" (a re-created object, say).
          change(2, {
            action: 'create',
            objectKind: 'department',
            fields: { name: { before: 'old', after: 'new' }, parent: { before: null, after: 1 } },
          }),
          // A create with no fields at all.
          change(3, { action: 'create', fields: {} }),
          // Not a create, but every "before" null.
          change(4, { action: 'update', fields: { mobile: { before: null, after: '1' } } }),
          // A create whose "before" is an empty list in a field other than departments.
          change(5, { action: 'create', fields: { tags: { before: [], after: ['x'] } } }),
          // A create whose values are falsy.
          change(6, {
            action: 'create',
            fields: {
              order: { before: null, after: 0 },
              name: { before: null, after: '' },
              leader: { before: null, after: false },
            },
          }),
        ];
        await store.runs.addChanges(run.id, records);
        expect(await store.runs.changes(run.id)).toStrictEqual(records);
      });

      // Fails on both engines as of 5089ac3: the compact encoding of create records (encodeFields/decodeFields in
      // store/kysely/run-changes.ts) accepts departments.before === null as "empty" but always decodes it as [].
      it('a create record whose departments "before" is null reads back as null', async () => {
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const record = change(1, {
          action: 'create',
          objectKind: 'user',
          fields: {
            name: { before: null, after: 'x' },
            departments: { before: null, after: [{ department: 2, order: 0, leader: false }] },
          },
        });
        await store.runs.addChanges(run.id, [record]);
        expect(await store.runs.changes(run.id)).toStrictEqual([record]);
      });

      it('savePlan / loadPlan round-trip a Buffer byte for byte; savePlan(null) clears it', async () => {
        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: true, status: 'blocked' });
        const other = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: true, status: 'blocked' });
        expect(await store.runs.loadPlan(run.id)).toBeNull();

        const planJson = JSON.stringify({
          source: 'wecom',
          baseRevision: 7,
          departments: Array.from({ length: 300 }, (_, i) => ({
            action: 'create',
            externalId: `d${i}`,
            name: `部门${i}`,
          })),
        });
        const gz = gzipSync(Buffer.from(planJson, 'utf8'));
        await store.runs.savePlan(run.id, gz);
        const loaded = await store.runs.loadPlan(run.id);
        expect(Buffer.isBuffer(loaded)).toBe(true);
        expect(loaded?.length).toBe(gz.length);
        expect(loaded?.equals(gz)).toBe(true);
        expect(gunzipSync(loaded!).toString('utf8')).toBe(planJson);

        // Every byte value, NULs and high bytes included, survives.
        const raw = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7 + (i >> 8)) % 256));
        await store.runs.savePlan(other.id, raw);
        expect((await store.runs.loadPlan(other.id))?.equals(raw)).toBe(true);
        // The first plan was not touched by saving the second.
        expect((await store.runs.loadPlan(run.id))?.equals(gz)).toBe(true);

        // The plan does not leak into the run record.
        expect(Object.keys((await store.runs.get(run.id)) ?? {})).not.toContain('plan');

        await store.runs.savePlan(run.id, null);
        expect(await store.runs.loadPlan(run.id)).toBeNull();
        expect((await store.runs.loadPlan(other.id))?.equals(raw)).toBe(true);
        expect(await store.runs.loadPlan(other.id + 100)).toBeNull();

        // An empty plan is a plan, not "no plan".
        await store.runs.savePlan(run.id, Buffer.alloc(0));
        const empty = await store.runs.loadPlan(run.id);
        expect(Buffer.isBuffer(empty)).toBe(true);
        expect(empty?.length).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('locks', () => {
      it('free → taken; another holder is refused; the holder may renew; after release the other gets it', async () => {
        const l = store.locks;
        expect(await l.tryAcquire('apply', 'A', 60_000)).toBe(true);
        expect(await l.tryAcquire('apply', 'B', 60_000)).toBe(false);
        expect(await l.tryAcquire('apply', 'A', 60_000)).toBe(true);
        expect(await l.tryAcquire('apply', 'B', 60_000)).toBe(false);
        // Releasing a lock one does not hold changes nothing.
        await l.release('apply', 'B');
        expect(await l.tryAcquire('apply', 'B', 60_000)).toBe(false);
        // Another name is another lock.
        expect(await l.tryAcquire('other', 'B', 60_000)).toBe(true);
        await l.release('apply', 'A');
        expect(await l.tryAcquire('apply', 'B', 60_000)).toBe(true);
        expect(await l.tryAcquire('apply', 'A', 60_000)).toBe(false);
      });

      it('a lock held by one store is refused to another store on the same database', async () => {
        const second = await t.reopen();
        expect(await store.locks.tryAcquire('apply', 'A', 60_000)).toBe(true);
        expect(await second.locks.tryAcquire('apply', 'B', 60_000)).toBe(false);
        await store.locks.release('apply', 'A');
        expect(await second.locks.tryAcquire('apply', 'B', 60_000)).toBe(true);
        expect(await store.locks.tryAcquire('apply', 'A', 60_000)).toBe(false);
      });

      it('an expired lock is taken over by another holder', async () => {
        const l = store.locks;
        // Held for a minute: refused to another holder (however slow the machine, the minute is not over).
        expect(await l.tryAcquire('held', 'A', 60_000)).toBe(true);
        expect(await l.tryAcquire('held', 'B', 60_000)).toBe(false);
        // Held for 1 ms: B polls until it has it (the test's time-out ends a wait that never does).
        expect(await l.tryAcquire('apply', 'A', 1)).toBe(true);
        while (!(await l.tryAcquire('apply', 'B', 60_000))) await sleep(5);
        // B now holds it for a minute; A's old claim is worth nothing.
        expect(await l.tryAcquire('apply', 'A', 250)).toBe(false);
        // A's late release does not free B's lock.
        await l.release('apply', 'A');
        expect(await l.tryAcquire('apply', 'C', 60_000)).toBe(false);
      });

      it('renewing extends the expiry', async () => {
        const l = store.locks;
        expect(await l.tryAcquire('apply', 'A', 50)).toBe(true);
        // No earlier than the expiry the store set (it read its clock before this line).
        const first = Date.now() + 50;
        expect(await l.tryAcquire('apply', 'A', 60_000)).toBe(true);
        while (Date.now() <= first) await sleep(5); // past the first expiry
        expect(await l.tryAcquire('apply', 'B', 60_000)).toBe(false);
      });

      it('race: 10 concurrent tryAcquire calls from two stores with distinct holders → exactly one wins', async () => {
        const second = await t.reopen();
        for (let round = 0; round < 5; round++) {
          const name = `race-${round}`;
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              (i % 2 === 0 ? store : second).locks.tryAcquire(name, `holder-${i}`, 60_000),
            ),
          );
          expect(results.filter(Boolean)).toHaveLength(1);
          // And the winner really is the holder: every other holder is still refused.
          const winner = results.indexOf(true);
          for (let i = 0; i < 10; i++) {
            if (i !== winner) expect(await store.locks.tryAcquire(name, `holder-${i}`, 60_000)).toBe(false);
          }
          expect(await second.locks.tryAcquire(name, `holder-${winner}`, 60_000)).toBe(true);
        }
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('concurrent writers', () => {
      it('two stores on one database each run 20 transactions in parallel: all 40 land with distinct ids', async () => {
        const second = await t.reopen();
        const write = (s: Store, tag: string, i: number): Promise<number> =>
          s.transaction(async (tx) => {
            const id = await tx.directory.allocateIds('department', 1);
            await tx.directory.insertDepartments([dept(id, 1, `${tag}-${i}`, i)]);
            await tx.directory.bumpRevision();
            return id;
          });
        const settled = await Promise.allSettled([
          ...Array.from({ length: 20 }, (_, i) => write(store, 'a', i)),
          ...Array.from({ length: 20 }, (_, i) => write(second, 'b', i)),
        ]);
        const failures = settled
          .filter((r) => r.status === 'rejected')
          .map((r) => String((r as PromiseRejectedResult).reason));
        expect(failures).toEqual([]);
        const ids = settled.map((r) => (r as PromiseFulfilledResult<number>).value);
        expect(new Set(ids).size).toBe(40);
        expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));

        const state = await store.directory.load();
        expect(state.departments).toHaveLength(41);
        expect(state.revision).toBe(40);
        const names = state.departments.filter((d) => d.id !== 1).map((d) => d.name);
        for (let i = 0; i < 20; i++) {
          expect(names).toContain(`a-${i}`);
          expect(names).toContain(`b-${i}`);
        }
        expect(await second.directory.load()).toStrictEqual(state);
      });
    });
  });
}
