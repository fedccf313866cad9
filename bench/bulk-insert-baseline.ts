/**
 * The floor of writing a directory on SQLite: the rows a first import or first sync writes (departments, users,
 * memberships, links, with the same ids, column values and shapes), inserted by a raw better-sqlite3 connection with
 * the pragmas openStore sets, in one BEGIN IMMEDIATE transaction, one prepared statement per table, one `run` per
 * row. No plan, no audit record, no batching. Shared by the import and sync benchmarks, so that orgsync's own write of
 * a snapshot is judged against a plain write of the very same rows, measured in the same run.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import type { Snapshot } from '../src/directory/snapshot.js';
import { openStore, SQLITE_PRAGMAS, sqlitePath } from '../src/store/open.js';

/** A full GC between measurements, so one measurement does not pay for the garbage of the one before. */
export const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const fn = runInNewContext('gc') as unknown;
  return typeof fn === 'function' ? (fn as () => void) : () => {};
})();

function openRaw(dir: string): Database.Database {
  const db = new Database(sqlitePath(dir));
  // The pragmas openStore sets.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 30000');
  for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma);
  return db;
}

export const TABLES = ['departments', 'users', 'memberships', 'links'] as const;
export type RowCounts = Record<(typeof TABLES)[number], number>;

function countRows(db: Database.Database): RowCounts {
  const out = {} as RowCounts;
  for (const t of TABLES) out[t] = (db.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n;
  return out;
}

/** Row counts of a store's data directory, read on a connection of their own. */
export function countRowsIn(dir: string): RowCounts {
  const db = openRaw(dir);
  try {
    return countRows(db);
  } finally {
    db.close();
  }
}

/** What differs when the two writes did not produce the same number of rows in every table, else null. */
export function sameRows(expected: RowCounts, got: RowCounts): string | null {
  for (const t of TABLES) {
    if (expected[t] !== got[t])
      return `row counts differ between the bulk-insert baseline and orgsync: ${t} ${expected[t]} vs ${got[t]}`;
  }
  return null;
}

/** The rows a first write of `snapshot` from `source` produces, as positional parameters, with ids allocated the way apply does. */
function baselineRows(
  snapshot: Snapshot,
  source: string,
): {
  departments: unknown[][];
  users: unknown[][];
  memberships: unknown[][];
  links: unknown[][];
} {
  const at = new Date().toISOString();
  const deptIds = new Map<string, number>();
  const departments: unknown[][] = [];
  const links: unknown[][] = [];
  // The local root is department 1; the first import allocates department ids from 2, parents first. The generated
  // snapshot lists parents first already; a platform's list may not, so a department whose parent has no id yet
  // waits for a later pass (the order within a pass is the snapshot's).
  let pending = snapshot.departments;
  while (pending.length > 0) {
    const later = pending.filter((d) => {
      const parentId = d.parentExternalId === null ? 1 : deptIds.get(d.parentExternalId);
      if (parentId === undefined) return true;
      const id = deptIds.size + 2;
      deptIds.set(d.externalId, id);
      departments.push([id, parentId, d.name ?? d.externalId, d.order ?? 0, at, at]);
      links.push(['department', id, source, d.externalId, at]);
      return false;
    });
    if (later.length === pending.length)
      throw new Error(`bulk-insert baseline: the parent of department ${later[0]?.externalId} is not in the snapshot`);
    pending = later;
  }
  const users: unknown[][] = [];
  const memberships: unknown[][] = [];
  snapshot.users.forEach((u, i) => {
    const id = i + 1;
    const userid = u.userid ?? u.externalId;
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(u.attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (v !== null && v !== '') attributes[k] = v;
    }
    const main =
      typeof u.mainDepartment === 'string'
        ? deptIds.get(u.mainDepartment)
        : deptIds.get(u.departments?.[0]?.externalId ?? '');
    users.push([
      id,
      userid,
      userid.toLowerCase(),
      u.name ?? userid,
      u.alias ?? null,
      u.position ?? null,
      u.mobile ?? null,
      u.email ?? null,
      u.telephone ?? null,
      u.gender ?? null,
      u.avatar ?? null,
      u.address ?? null,
      u.employeeNo ?? null,
      u.status ?? 'active',
      main ?? null,
      JSON.stringify(attributes),
      at,
      at,
    ]);
    for (const m of u.departments ?? [])
      memberships.push([id, deptIds.get(m.externalId), m.order ?? 0, m.leader ? 1 : 0]);
    links.push(['user', id, source, u.externalId, at]);
  });
  return { departments, users, memberships, links };
}

export interface BaselineResult {
  ms: number;
  rows: RowCounts;
}

/**
 * One timed bulk insert of `snapshot`'s rows into a fresh store in `dir` (created by openStore, so the schema is
 * exactly orgsync's). Only the insert and its commit are timed. The caller removes `dir`.
 */
export async function bulkInsert(snapshot: Snapshot, source: string, dir: string): Promise<BaselineResult> {
  const store = await openStore({ dataDir: dir });
  await store.close();
  const db = openRaw(dir);
  try {
    const rows = baselineRows(snapshot, source);
    const insDept = db.prepare(
      'insert into departments (id, parent_id, name, sort_order, created_at, updated_at) values (?, ?, ?, ?, ?, ?)',
    );
    const insUser = db.prepare(
      `insert into users (id, userid, userid_key, name, alias, position, mobile, email, telephone, gender, avatar, address,
         employee_no, status, main_department_id, attributes, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insMembership = db.prepare(
      'insert into memberships (user_id, department_id, sort_order, leader) values (?, ?, ?, ?)',
    );
    const insLink = db.prepare(
      'insert into links (object_kind, object_id, source, external_id, created_at) values (?, ?, ?, ?, ?)',
    );
    const write = db.transaction(() => {
      for (const r of rows.departments) insDept.run(r);
      for (const r of rows.users) insUser.run(r);
      for (const r of rows.memberships) insMembership.run(r);
      for (const r of rows.links) insLink.run(r);
    });
    gc();
    const t0 = performance.now();
    write.immediate(); // BEGIN IMMEDIATE, as the store's write transactions
    const ms = performance.now() - t0;
    return { ms, rows: countRows(db) };
  } finally {
    db.close();
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** A source whose pull is recorded: the snapshot a sync read, so the baseline can write the very same rows. */
export function recordingPull<C extends { pull(ctx: never): Promise<Snapshot> }>(
  source: C,
): { connector: C; pulled: () => Snapshot } {
  let snapshot: Snapshot | undefined;
  const connector = new Proxy(source, {
    get(target, prop) {
      if (prop === 'pull') return async (ctx: never) => (snapshot = await target.pull(ctx));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    connector,
    pulled: () =>
      snapshot ??
      (() => {
        throw new Error('the source was never read');
      })(),
  };
}

/**
 * The store with a pause after every commit (the apply's batches among them), `ms` long: BENCH_APPLY_DELAY_MS in the
 * sync benchmarks, which checks that a slower write of the directory makes them miss their write target.
 */
export function withPauseAfterCommit<S extends { transaction: (...args: never[]) => Promise<unknown> }>(
  store: S,
  ms: number,
): S {
  if (ms <= 0) return store;
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'transaction') {
        return async (...args: never[]) => {
          const out = await target.transaction(...args);
          await new Promise((resolve) => setTimeout(resolve, ms));
          return out;
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
