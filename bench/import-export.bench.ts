/**
 * WeCom export import benchmark: a 100,000-row contacts export with 5,000 departments as paths, written by the WeCom
 * simulator's own export (GET /__sim/export.xlsx, not the reader's library), imported with the built CLI. Each figure
 * is judged against a baseline measured in the same run (issue 17; see docs/benchmarks.md):
 *
 *   (a) parsing: the export reader producing the snapshot ≤ 1.5× the fastest xlsx reader available here reading the
 *       same file into rows (exceljs's streaming WorkbookReader and its non-streaming readFile; the faster counts);
 *   (b) end to end: `orgsync import FILE` into a fresh SQLite store ≤ parse + 1.2× `orgsync import` of the same org
 *       as a JSON snapshot;
 *   (c) the peak RSS of that import process, and of a dry run of it into a fresh store (VmHWM, by /usr/bin/time -v)
 *       ≤ 1 GiB;
 *   (d) an unchanged re-import writes nothing, and a delete-only run over the unchanged file plans nothing.
 *
 * Every parse runs in a process of its own, so one reader's garbage or heap does not weigh on the next; the three
 * parsers take turns, BENCH_PARSE_RUNS times (3), and the medians are compared.
 *
 *   npm run bench:import:export                                          # 100,000 rows, 5,000 departments
 *   BENCH_USERS=5000 BENCH_DEPARTMENTS=300 npm run bench:import:export   # a quick run
 *
 * Exits 1 if a target is missed (after printing everything), 2 if the benchmark itself could not run.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { wecom } from '../src/connectors/wecom/index.js';
import { openStore } from '../src/store/open.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS ?? 5_000);
const PARSE_TARGET = 1.5;
/** Each parser reads the file this many times; the median counts. */
const PARSE_RUNS = Math.max(1, Number(process.env.BENCH_PARSE_RUNS ?? 3));
const JSON_FACTOR = 1.2;
const RSS_TARGET_KIB = 1024 * 1024;

const fmtMs = (ms: number): string => `${Math.round(ms).toLocaleString('en-US')} ms`;
const fmtX = (x: number): string => `${x.toFixed(2)}×`;
const mib = (kib: number): string => `${Math.round(kib / 1024).toLocaleString('en-US')} MiB`;

// ---------------------------------------------------------------- the parsers, each in a child process

type Parser = 'reader' | 'exceljs-stream' | 'exceljs-readfile';

/** Reads `file` with one parser and prints {ms, rows}: rows are what it produced (people, or sheet rows). */
async function childParse(parser: Parser, file: string): Promise<void> {
  const t0 = performance.now();
  let rows = 0;
  if (parser === 'reader') {
    const source = wecom.exportReader?.source(file, { content: 'xlsx' });
    if (!source) throw new Error('WeCom has no export reader');
    const snapshot = await source.pull({});
    rows = snapshot.users.length;
    const ms = performance.now() - t0;
    if (process.env.BENCH_SNAPSHOT_OUT)
      await writeFile(
        process.env.BENCH_SNAPSHOT_OUT,
        JSON.stringify({ departments: snapshot.departments, users: snapshot.users }),
      );
    console.log(JSON.stringify({ ms, rows, departments: snapshot.departments.length }));
    return;
  }
  if (parser === 'exceljs-stream') {
    const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, {
      sharedStrings: 'cache',
      hyperlinks: 'ignore',
      styles: 'ignore',
      worksheets: 'emit',
      entries: 'emit',
    });
    for await (const sheet of reader)
      for await (const row of sheet) {
        const values = (row as ExcelJS.Row).values as unknown[];
        if (values.length > 0) rows++;
      }
  } else {
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(file);
    for (const sheet of workbook.worksheets)
      sheet.eachRow((row) => {
        if ((row.values as unknown[]).length > 0) rows++;
      });
  }
  console.log(JSON.stringify({ ms: performance.now() - t0, rows }));
}

interface Parsed {
  ms: number;
  rows: number;
  departments?: number;
}

function medianOf(runs: Parsed[]): Parsed {
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Parsed;
}

function parse(parser: Parser, file: string, snapshotOut?: string): Parsed {
  const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'parse', parser, file], {
    cwd: ROOT,
    env: { ...process.env, ...(snapshotOut ? { BENCH_SNAPSHOT_OUT: snapshotOut } : {}) },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(out.toString().trim().split('\n').pop() as string) as Parsed;
}

// ---------------------------------------------------------------- the CLI import, with its peak RSS

interface Imported {
  ms: number;
  peakKiB: number;
  report: {
    runId: number;
    status: string;
    template?: string;
    changes: { departments: Record<string, number>; users: Record<string, number> };
    steps: Array<{ name: string; durationMs: number }>;
  };
}

let imports = 0;

function cliImport(dataDir: string, file: string, args: string[] = []): Imported {
  const env = { ...process.env };
  delete env.ORGSYNC_DATABASE_URL;
  const timeOut = path.join(dataDir, '..', `time-${path.basename(dataDir)}-${++imports}.txt`);
  const t0 = performance.now();
  let stdout = '';
  try {
    stdout = execFileSync(
      '/usr/bin/time',
      [
        '-v',
        '-o',
        timeOut,
        process.execPath,
        'bin/orgsync.js',
        '--data-dir',
        dataDir,
        'import',
        file,
        '--json',
        ...args,
      ],
      { cwd: ROOT, env, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; status?: number };
    throw new Error(
      `orgsync import ${path.basename(file)} ${args.join(' ')} exited ${err.status}: ${err.stderr?.toString().slice(-2000)}`,
    );
  }
  const ms = performance.now() - t0;
  const peak = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(timeOut, 'utf8'));
  if (!peak) throw new Error(`/usr/bin/time -v wrote no maximum resident set size to ${timeOut}`);
  return { ms, peakKiB: Number(peak[1]), report: JSON.parse(stdout) };
}

/** The directory revision of the store in `dataDir`, and how many run_changes rows each of `runs` recorded. */
async function storeFacts(dataDir: string, runs: number[] = []): Promise<{ revision: number; recorded: number[] }> {
  const store = await openStore({ dataDir });
  try {
    const recorded: number[] = [];
    for (const run of runs) recorded.push(await store.runs.countChanges(run));
    return { revision: await store.directory.revision(), recorded };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- the simulator's export

async function startSimulator(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      'bin/orgsync.js',
      'simulate',
      'wecom',
      '--seed',
      '1',
      '--users',
      String(USERS),
      '--departments',
      String(DEPARTMENTS),
      '--sensitive-fields',
      'returned',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    if (out.includes('\n')) {
      const ready = JSON.parse(out.slice(0, out.indexOf('\n'))) as Record<string, string>;
      return { child, url: ready.url as string };
    }
  }
  throw new Error('the simulator exited before it was ready');
}

async function writeExport(file: string): Promise<void> {
  const { child, url } = await startSimulator();
  try {
    const res = await fetch(`${url}/__sim/export.xlsx`);
    if (!res.ok) throw new Error(`GET /__sim/export.xlsx answered ${res.status}`);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  } finally {
    child.kill();
  }
}

// ---------------------------------------------------------------- the run

const total = (c: Imported['report']['changes']): number =>
  [...Object.values(c.departments), ...Object.values(c.users)].reduce((a, b) => a + b, 0);
const steps = (r: Imported['report']): string =>
  r.steps.map((s) => `${s.name} ${(s.durationMs / 1000).toFixed(1)} s`).join(', ');

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orgsync-bench-export-'));
  try {
    console.log(
      `WeCom export import benchmark: ${USERS.toLocaleString('en-US')} users, ${DEPARTMENTS.toLocaleString('en-US')} departments`,
    );
    console.log(
      `machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} CPUs; load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const xlsx = path.join(dir, 'export.xlsx');
    const json = path.join(dir, 'snapshot.json');
    await writeExport(xlsx);
    console.log(`export written by the simulator: ${(statSync(xlsx).size / 1024 / 1024).toFixed(1)} MB\n`);

    // (a) parsing.
    // Interleaved, so a spell of load on the machine falls on all three; each figure is the median.
    const runs: Record<Parser, Parsed[]> = { reader: [], 'exceljs-stream': [], 'exceljs-readfile': [] };
    for (let i = 0; i < PARSE_RUNS; i++) {
      runs.reader.push(parse('reader', xlsx, i === 0 ? json : undefined));
      runs['exceljs-stream'].push(parse('exceljs-stream', xlsx));
      runs['exceljs-readfile'].push(parse('exceljs-readfile', xlsx));
    }
    const [reader, stream, readFile] = (['reader', 'exceljs-stream', 'exceljs-readfile'] as const).map((p) =>
      medianOf(runs[p]),
    ) as [Parsed, Parsed, Parsed];
    const all = (p: Parser): string => runs[p].map((r) => fmtMs(r.ms)).join(', ');
    const baseline =
      stream.ms <= readFile.ms ? { name: 'exceljs streaming', ...stream } : { name: 'exceljs readFile', ...readFile };
    const parseRatio = reader.ms / baseline.ms;
    console.log('(a) parsing the export');
    console.log(
      `  export reader → snapshot: ${fmtMs(reader.ms)} (${reader.rows} people, ${reader.departments} departments)`,
    );
    console.log(`  exceljs streaming WorkbookReader → rows: ${fmtMs(stream.ms)} (${stream.rows} rows)`);
    console.log(`  exceljs readFile → rows: ${fmtMs(readFile.ms)} (${readFile.rows} rows)`);
    console.log(
      `  each run: reader ${all('reader')}; streaming ${all('exceljs-stream')}; readFile ${all('exceljs-readfile')}`,
    );
    console.log(`  reader / ${baseline.name}: ${fmtX(parseRatio)} (target ≤ ${fmtX(PARSE_TARGET)})\n`);
    if (reader.rows !== USERS) throw new Error(`the reader read ${reader.rows} people, not ${USERS}`);

    // (b) + (c) end to end, and the JSON snapshot of the same org.
    const jsonImport = cliImport(path.join(dir, 'json-store'), json);
    const xlsxStore = path.join(dir, 'xlsx-store');
    const xlsxImport = cliImport(xlsxStore, xlsx);
    for (const [name, r] of [
      ['JSON', jsonImport],
      ['xlsx', xlsxImport],
    ] as const)
      if (r.report.status !== 'succeeded' || r.report.changes.users.create !== USERS)
        throw new Error(`the ${name} import ended ${r.report.status}: ${JSON.stringify(r.report.changes)}`);
    const e2eLimit = reader.ms + JSON_FACTOR * jsonImport.ms;
    console.log('(b) end to end, orgsync import into a fresh SQLite store (process start to exit)');
    console.log(`  xlsx export: ${fmtMs(xlsxImport.ms)} (${steps(xlsxImport.report)})`);
    console.log(`  JSON snapshot of the same org: ${fmtMs(jsonImport.ms)} (${steps(jsonImport.report)})`);
    console.log(
      `  limit parse + ${JSON_FACTOR} × JSON = ${fmtMs(e2eLimit)}; xlsx / limit ${fmtX(xlsxImport.ms / e2eLimit)}\n`,
    );
    // A dry run into a fresh store records the whole plan and its preview instead of applying it.
    const dryRun = cliImport(path.join(dir, 'dry-store'), xlsx, ['--dry-run']);
    if (dryRun.report.status !== 'planned' || dryRun.report.changes.users.create !== USERS)
      throw new Error(`the dry run ended ${dryRun.report.status}: ${JSON.stringify(dryRun.report.changes)}`);
    console.log('(c) peak RSS of the import process (VmHWM)');
    console.log(
      `  xlsx: ${mib(xlsxImport.peakKiB)}, JSON: ${mib(jsonImport.peakKiB)} (target ≤ ${mib(RSS_TARGET_KIB)})`,
    );
    console.log(`  xlsx --dry-run: ${mib(dryRun.peakKiB)}, ${fmtMs(dryRun.ms)} (${steps(dryRun.report)})\n`);

    // (d) unchanged re-import and delete-only.
    const revisionBefore = (await storeFacts(xlsxStore)).revision;
    const again = cliImport(xlsxStore, xlsx);
    const deleteOnly = cliImport(xlsxStore, xlsx, ['--template', 'delete-only']);
    const after = await storeFacts(xlsxStore, [again.report.runId, deleteOnly.report.runId]);
    console.log('(d) the same file again');
    console.log(
      `  unchanged re-import (${again.report.template}): ${again.report.status}, ${total(again.report.changes)} changes, ${after.recorded[0]} run_changes rows, ${fmtMs(again.ms)}`,
    );
    console.log(
      `  delete-only over it: ${deleteOnly.report.status}, ${total(deleteOnly.report.changes)} changes, ${after.recorded[1]} run_changes rows, ${fmtMs(deleteOnly.ms)}`,
    );
    console.log(`  directory revision ${revisionBefore} → ${after.revision}\n`);

    const checks: Array<[string, boolean]> = [
      [`(a) parse ≤ ${PARSE_TARGET}× ${baseline.name}`, parseRatio <= PARSE_TARGET],
      [`(b) import ≤ parse + ${JSON_FACTOR}× JSON import`, xlsxImport.ms <= e2eLimit],
      [
        '(c) peak RSS ≤ 1 GiB (import and dry run)',
        [xlsxImport, dryRun].every((r) => r.peakKiB > 0 && r.peakKiB <= RSS_TARGET_KIB),
      ],
      [
        '(d) unchanged re-import writes nothing',
        again.report.status === 'succeeded' &&
          total(again.report.changes) === 0 &&
          after.recorded[0] === 0 &&
          after.revision === revisionBefore,
      ],
      [
        '(d) delete-only over the unchanged file plans nothing',
        deleteOnly.report.status === 'succeeded' && total(deleteOnly.report.changes) === 0 && after.recorded[1] === 0,
      ],
    ];
    for (const [name, ok] of checks) console.log(`${ok ? 'met   ' : 'MISSED'} ${name}`);
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'parse') {
  childParse(process.argv[3] as Parser, process.argv[4] as string).catch((e: unknown) => {
    console.error(e);
    process.exit(2);
  });
} else {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
}
