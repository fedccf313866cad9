/**
 * Import benchmark on SQLite: how long a first import of a large org chart takes next to the fastest plain way of
 * writing the same rows, and how long an unchanged re-import takes. See docs/benchmarks.md.
 *
 *   npm run bench:import                                     # 100,000 users, 5,000 departments, 3 repetitions
 *   BENCH_USERS=5000 BENCH_DEPARTMENTS=300 npm run bench:import   # a quick run
 *
 * Exits 1 if a target is missed (after printing everything), 2 if the benchmark itself could not run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import type { SourceConnector } from '../src/connectors/contract.js';
import { WECOM_LIMITS } from '../src/directory/limits.js';
import { validateSnapshot, type Snapshot } from '../src/directory/snapshot.js';
import { resolvePolicy } from '../src/reconcile/policy.js';
import type { ChangeCounts } from '../src/reconcile/types.js';
import { executeRun, type RunReport } from '../src/runs/run-service.js';
import { openStore, SQLITE_PRAGMAS, sqlitePath } from '../src/store/open.js';
import { generateSnapshot, treeDepth } from './generate-snapshot.js';

const FIRST_TARGET = 3.0; // first import ≤ 3× the plain bulk insert
const REIMPORT_TARGET = 0.5; // unchanged re-import < 0.5× the first import
const SOURCE = 'bench';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new BenchError(`${name}=${raw} is not a whole number`);
  return n;
}

class BenchError extends Error {}

function fail(message: string): never {
  throw new BenchError(message);
}

// ---------------------------------------------------------------- helpers

/** A full GC between measurements, so one measurement does not pay for the garbage of the one before. */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const fn = runInNewContext('gc') as unknown;
  return typeof fn === 'function' ? (fn as () => void) : () => {};
})();

const tempDirs = new Set<string>();
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orgsync-bench-'));
  tempDirs.add(dir);
  return dir;
}
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmtMs = (ms: number): string => `${Math.round(ms).toLocaleString('en-US')} ms`;
const fmtX = (x: number): string => `${x.toFixed(2)}×`;
const mib = (kib: number): string => `${Math.round(kib / 1024).toLocaleString('en-US')} MiB`;
const maxRssKiB = (): number => process.resourceUsage().maxRSS;

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
}
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [pad(header, widths), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => pad(r, widths))].join('\n');
}

function openRaw(dir: string): Database.Database {
  const db = new Database(sqlitePath(dir));
  // The pragmas openStore sets.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 30000');
  for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma);
  return db;
}

const TABLES = ['departments', 'users', 'memberships', 'links'] as const;
type RowCounts = Record<(typeof TABLES)[number], number>;

function countRows(db: Database.Database): RowCounts {
  const out = {} as RowCounts;
  for (const t of TABLES) out[t] = (db.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n;
  return out;
}

// ---------------------------------------------------------------- the baseline: a plain bulk insert

/** The rows a first import writes, as positional parameters, with ids allocated the way apply does. */
function baselineRows(snapshot: Snapshot): {
  departments: unknown[][];
  users: unknown[][];
  memberships: unknown[][];
  links: unknown[][];
} {
  const at = new Date().toISOString();
  const deptIds = new Map<string, number>();
  const departments: unknown[][] = [];
  const links: unknown[][] = [];
  // The local root is department 1; the first import allocates department ids from 2, parents first.
  snapshot.departments.forEach((d, i) => {
    const id = i + 2;
    deptIds.set(d.externalId, id);
    const parentId = d.parentExternalId === null ? 1 : deptIds.get(d.parentExternalId);
    if (parentId === undefined) fail(`generator: department ${d.externalId} comes before its parent`);
    departments.push([id, parentId, d.name ?? d.externalId, d.order ?? 0, at, at]);
    links.push(['department', id, SOURCE, d.externalId, at]);
  });
  const users: unknown[][] = [];
  const memberships: unknown[][] = [];
  snapshot.users.forEach((u, i) => {
    const id = i + 1;
    const userid = u.userid ?? u.externalId;
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(u.attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (v !== null && v !== '') attributes[k] = v;
    }
    const main = typeof u.mainDepartment === 'string' ? deptIds.get(u.mainDepartment) : deptIds.get(u.departments?.[0]?.externalId ?? '');
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
    for (const m of u.departments ?? []) memberships.push([id, deptIds.get(m.externalId), m.order ?? 0, m.leader ? 1 : 0]);
    links.push(['user', id, SOURCE, u.externalId, at]);
  });
  return { departments, users, memberships, links };
}

interface BaselineResult {
  ms: number;
  rows: RowCounts;
}

async function runBaseline(snapshot: Snapshot): Promise<BaselineResult> {
  const dir = tempDir();
  try {
    const store = await openStore({ dataDir: dir }); // the schema, exactly as orgsync creates it
    await store.close();
    const db = openRaw(dir);
    try {
      const rows = baselineRows(snapshot);
      const insDept = db.prepare('insert into departments (id, parent_id, name, sort_order, created_at, updated_at) values (?, ?, ?, ?, ?, ?)');
      const insUser = db.prepare(
        `insert into users (id, userid, userid_key, name, alias, position, mobile, email, telephone, gender, avatar, address,
           employee_no, status, main_department_id, attributes, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insMembership = db.prepare('insert into memberships (user_id, department_id, sort_order, leader) values (?, ?, ?, ?)');
      const insLink = db.prepare('insert into links (object_kind, object_id, source, external_id, created_at) values (?, ?, ?, ?, ?)');
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
  } finally {
    removeDir(dir);
  }
}

// ---------------------------------------------------------------- first import and unchanged re-import

function connectorFor(snapshot: Snapshot): SourceConnector {
  return {
    kind: 'bench',
    limits: WECOM_LIMITS,
    pull: async () => snapshot,
  };
}

function totalChanges(c: ChangeCounts): number {
  return [...Object.values(c.departments), ...Object.values(c.users)].reduce((a, b) => a + b, 0);
}

function describeFailure(report: RunReport): string {
  const errors = report.errors.slice(0, 5).map((e) => `  ${e.code}: ${e.message}`);
  return [`run ${report.runId} ended "${report.status}"`, ...errors, report.errors.length > 5 ? `  … ${report.errors.length - 5} more` : ''].join('\n');
}

interface ImportResult {
  firstMs: number;
  firstSteps: Record<string, number>;
  firstRunChanges: number;
  rows: RowCounts;
  reimportMs: number;
  reimportSteps: Record<string, number>;
  revisionBefore: number;
  revisionAfter: number;
  reimportRunChanges: number;
}

const stepDurations = (report: RunReport): Record<string, number> =>
  Object.fromEntries(report.steps.map((s) => [s.name, s.durationMs]));

async function runImport(snapshot: Snapshot): Promise<ImportResult> {
  const dir = tempDir();
  try {
    const store = await openStore({ dataDir: dir });
    try {
      const options = { kind: 'import' as const, source: SOURCE, connector: connectorFor(snapshot), policy: resolvePolicy({}) };

      gc();
      let t0 = performance.now();
      const first = await executeRun(store, options);
      const firstMs = performance.now() - t0;
      if (first.status !== 'succeeded') fail(`first import: ${describeFailure(first)}`);
      const d = first.changes.departments;
      const u = first.changes.users;
      if (
        d.create !== snapshot.departments.length ||
        u.create !== snapshot.users.length ||
        totalChanges(first.changes) !== snapshot.departments.length + snapshot.users.length
      ) {
        fail(
          `first import: expected ${snapshot.departments.length} department creates and ${snapshot.users.length} user creates and nothing else, got ${JSON.stringify(first.changes)}`,
        );
      }
      const firstRunChanges = await store.runs.countChanges(first.runId);

      gc();
      const revisionBefore = await store.directory.revision();
      t0 = performance.now();
      const again = await executeRun(store, options);
      const reimportMs = performance.now() - t0;
      const revisionAfter = await store.directory.revision();
      if (again.status !== 'succeeded') fail(`unchanged re-import: ${describeFailure(again)}`);
      if (totalChanges(again.changes) !== 0) fail(`unchanged re-import: expected no changes, got ${JSON.stringify(again.changes)}`);
      const reimportRunChanges = await store.runs.countChanges(again.runId);

      const db = openRaw(dir);
      let rows: RowCounts;
      try {
        rows = countRows(db);
      } finally {
        db.close();
      }
      return {
        firstMs,
        firstSteps: stepDurations(first),
        firstRunChanges,
        rows,
        reimportMs,
        reimportSteps: stepDurations(again),
        revisionBefore,
        revisionAfter,
        reimportRunChanges,
      };
    } finally {
      await store.close();
    }
  } finally {
    removeDir(dir);
  }
}

// ---------------------------------------------------------------- main

/** The commit measured, and whether the working tree differs from it. */
function gitState(): string {
  try {
    const run = (args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = run(['rev-parse', '--short', 'HEAD']);
    const dirty = run(['status', '--porcelain', '--untracked-files=no', '--', 'src']) !== '';
    return `commit ${commit}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'commit unknown';
  }
}

async function main(): Promise<number> {
  const users = envInt('BENCH_USERS', 100_000);
  const departments = envInt('BENCH_DEPARTMENTS', 5_000);
  const repetitions = Math.max(1, envInt('BENCH_RUNS', 3));

  const probe = new Database(':memory:');
  const sqliteVersion = (probe.prepare('select sqlite_version() as v').get() as { v: string }).v;
  probe.close();
  console.log(`orgsync import benchmark — ${gitState()}, SQLite ${sqliteVersion}, node ${process.version}, ${os.availableParallelism()} CPU (${os.cpus()[0]?.model ?? '?'}), ${os.platform()} ${os.release()}`);

  let t0 = performance.now();
  const snapshot = generateSnapshot({ users, departments });
  const genMs = performance.now() - t0;
  t0 = performance.now();
  const issues = validateSnapshot(snapshot, WECOM_LIMITS);
  const validateMs = performance.now() - t0;
  if (issues.length > 0) {
    fail(`the generated snapshot is not WeCom-valid (${issues.length} issues), e.g.\n${issues.slice(0, 5).map((i) => `  ${i.path} ${i.field}: ${i.message}`).join('\n')}`);
  }
  const memberships = snapshot.users.reduce((n, u) => n + (u.departments?.length ?? 0), 0);
  const multi = snapshot.users.filter((u) => (u.departments?.length ?? 0) > 1).length;
  const leaders = snapshot.users.reduce((n, u) => n + (u.departments?.filter((m) => m.leader).length ?? 0), 0);
  console.log(
    `snapshot: ${snapshot.departments.length.toLocaleString('en-US')} departments (${treeDepth(snapshot)} levels), ` +
      `${snapshot.users.length.toLocaleString('en-US')} users, ${memberships.toLocaleString('en-US')} memberships ` +
      `(${multi.toLocaleString('en-US')} users in 2-3 departments, ${leaders.toLocaleString('en-US')} leader memberships); ` +
      `generated in ${fmtMs(genMs)}, WeCom-valid (validated in ${fmtMs(validateMs)})`,
  );
  gc();
  const rssAfterGenerate = maxRssKiB();

  const baselines: BaselineResult[] = [];
  for (let i = 0; i < repetitions; i++) {
    const b = await runBaseline(snapshot);
    baselines.push(b);
    console.log(`  baseline #${i + 1}: ${fmtMs(b.ms)}`);
  }
  const rssAfterBaseline = maxRssKiB();

  const imports: ImportResult[] = [];
  for (let i = 0; i < repetitions; i++) {
    const r = await runImport(snapshot);
    imports.push(r);
    console.log(`  import #${i + 1}: first ${fmtMs(r.firstMs)}, re-import ${fmtMs(r.reimportMs)}`);
  }
  const rssAfterImports = maxRssKiB();

  // The import must have written exactly the rows the baseline wrote.
  const expected = baselines[0]?.rows as RowCounts;
  const got = imports[0]?.rows as RowCounts;
  for (const t of TABLES) {
    if (expected[t] !== got[t]) fail(`row counts differ between baseline and import: ${t} ${expected[t]} vs ${got[t]}`);
  }

  const baselineMs = median(baselines.map((b) => b.ms));
  const firstMs = median(imports.map((r) => r.firstMs));
  const reimportMs = median(imports.map((r) => r.reimportMs));
  const firstRatio = firstMs / baselineMs;
  const reimportRatio = reimportMs / firstMs;
  const firstOk = firstRatio <= FIRST_TARGET;
  const reimportOk = reimportRatio < REIMPORT_TARGET;
  const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
  const all = (xs: number[]): string => xs.map((x) => Math.round(x)).join(' / ');

  console.log(`\nmedian of ${repetitions} (rows written: ${TABLES.map((t) => `${got[t].toLocaleString('en-US')} ${t}`).join(', ')})\n`);
  console.log(
    table(
      ['measurement', 'median', 'runs (ms)', 'ratio', 'target', ''],
      [
        ['baseline: plain bulk insert', fmtMs(baselineMs), all(baselines.map((b) => b.ms)), '', '', ''],
        ['first import (executeRun)', fmtMs(firstMs), all(imports.map((r) => r.firstMs)), `${fmtX(firstRatio)} baseline`, `≤ ${FIRST_TARGET.toFixed(1)}×`, verdict(firstOk)],
        ['unchanged re-import', fmtMs(reimportMs), all(imports.map((r) => r.reimportMs)), `${fmtX(reimportRatio)} first`, `< ${REIMPORT_TARGET.toFixed(1)}×`, verdict(reimportOk)],
      ],
    ),
  );

  const breakdown = (label: string, total: number, steps: Array<Record<string, number>>): void => {
    const names = ['read', 'plan', 'guard', 'apply'];
    const rows = names.map((n) => {
      const ms = median(steps.map((s) => s[n] ?? 0));
      return [n, fmtMs(ms), `${((ms / total) * 100).toFixed(1)}%`];
    });
    const stepsSum = median(steps.map((s) => names.reduce((a, n) => a + (s[n] ?? 0), 0)));
    rows.push(['outside steps (run record, lock, report)', fmtMs(Math.max(0, total - stepsSum)), `${(((total - stepsSum) / total) * 100).toFixed(1)}%`]);
    console.log(`\n${label} by step (median of each step's durationMs in the run report)\n`);
    console.log(table(['step', 'median', 'share'], rows));
  };
  breakdown('first import', firstMs, imports.map((r) => r.firstSteps));
  breakdown('unchanged re-import', reimportMs, imports.map((r) => r.reimportSteps));

  const moved = imports.map((r) => r.revisionAfter - r.revisionBefore);
  const reimportChanges = imports.map((r) => r.reimportRunChanges);
  console.log(`\nfirst import: ${imports[0]?.firstRunChanges.toLocaleString('en-US')} rows recorded in run_changes`);
  console.log(
    `unchanged re-import: directory revision ${imports[0]?.revisionBefore} → ${imports[0]?.revisionAfter} ` +
      `(${moved.every((m) => m === 0) ? 'did not move' : `MOVED by ${moved.join(' / ')}`}), ` +
      `${reimportChanges.join(' / ')} rows written to run_changes`,
  );
  if (moved.some((m) => m !== 0)) {
    console.log('  note: apply committed a transaction (and bumped the revision) for a plan with no changes');
  }

  console.log(
    `\npeak RSS (process max): ${mib(rssAfterGenerate)} after generating the snapshot, ${mib(rssAfterBaseline)} after the baselines, ` +
      `${mib(rssAfterImports)} after the imports and re-imports`,
  );
  console.log(
    `\nimport: first=${Math.round(firstMs)}ms (${fmtX(firstRatio)} baseline, target ≤${FIRST_TARGET}×) ` +
      `reimport=${Math.round(reimportMs)}ms (${fmtX(reimportRatio)} first, target <${REIMPORT_TARGET}×)` +
      `${firstOk && reimportOk ? '' : ` — TARGET MISSED: ${[firstOk ? '' : 'first import', reimportOk ? '' : 're-import'].filter(Boolean).join(', ')}`}`,
  );
  return firstOk && reimportOk ? 0 : 1;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    console.error(`\nBENCHMARK ABORTED: ${err instanceof BenchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 2;
  })
  .finally(() => {
    for (const dir of [...tempDirs]) removeDir(dir);
  });
