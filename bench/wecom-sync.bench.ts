/**
 * WeCom sync of a 100,000-user / 3,000-department corp, 20 ms latency per call, against the simulator.
 *
 * Reported in one run, beside orgsync's API calls and wall time:
 * (a) a serial baseline making the same calls one at a time (gettoken, department/list, user/list per department),
 *     as Cordys CRM, Casdoor and MaxKey sync;
 * (b) the floor: calls × latency ÷ concurrency;
 * (c) a plain bulk insert of the very rows the sync wrote (bulk-insert-baseline.ts), the snapshot it read.
 * Targets, each on one figure against the baseline of the same work:
 * - calls ≤ departments + 3;
 * - the whole sync (wall time) at least 8× faster than the serial baseline;
 * - the read (the run's read step: the API calls and their conversion) ≤ 1.5× the floor;
 * - the write of the directory (plan + guard + apply steps) ≤ 3× the bulk insert of the same rows, as the first
 *   import's target (issue 2).
 * The read and the write are judged apart, so a slower apply cannot widen the read's allowance.
 *
 * Run: npm run bench:sync   (BENCH_USERS, BENCH_DEPARTMENTS, BENCH_LATENCY_MS, BENCH_CONCURRENCY, BENCH_BASELINE_RUNS
 * override; BENCH_APPLY_DELAY_MS pauses after every commit of the store, to check that a slower write misses)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TokenCache, WecomClient } from '../src/connectors/wecom/client.js';
import { WecomSource } from '../src/connectors/wecom/source.js';
import { resolvePolicy } from '../src/reconcile/policy.js';
import { executeRun } from '../src/runs/run-service.js';
import { openStore } from '../src/store/open.js';
import {
  bulkInsert,
  countRowsIn,
  median,
  recordingPull,
  sameRows,
  withPauseAfterCommit,
} from './bulk-insert-baseline.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS ?? 3_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const BASELINE_RUNS = Math.max(1, Number(process.env.BENCH_BASELINE_RUNS ?? 3));
const APPLY_DELAY_MS = Number(process.env.BENCH_APPLY_DELAY_MS ?? 0);
const SPEEDUP_TARGET = 8;
const READ_TARGET = 1.5;
const WRITE_TARGET = 3.0;

async function startSimulator(): Promise<{ child: ChildProcess; ready: Record<string, string> }> {
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
      '--latency-ms',
      String(LATENCY_MS),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    if (out.includes('\n'))
      return { child, ready: JSON.parse(out.slice(0, out.indexOf('\n'))) as Record<string, string> };
  }
  throw new Error('the simulator exited before it was ready');
}

async function json(url: string): Promise<{ errcode: number } & Record<string, unknown>> {
  const res = await fetch(url);
  return (await res.json()) as { errcode: number } & Record<string, unknown>;
}

/** The same calls, one at a time (in flight: 1): how the serial syncs of other tools read a corp. */
async function serialBaseline(
  url: string,
  corpId: string,
  secret: string,
  inFlight = 1,
): Promise<{ ms: number; calls: number; users: number }> {
  const t0 = performance.now();
  const token = (await json(`${url}/cgi-bin/gettoken?corpid=${corpId}&corpsecret=${secret}`)).access_token as string;
  const list = (await json(`${url}/cgi-bin/department/list?access_token=${token}`)).department as Array<{ id: number }>;
  const users = new Set<string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const d = list[next++] as { id: number };
      const res = await json(`${url}/cgi-bin/user/list?access_token=${token}&department_id=${d.id}`);
      if (res.errcode !== 0) throw new Error(`serial baseline: user/list ${d.id} answered ${res.errcode}`);
      for (const u of res.userlist as Array<{ userid: string }>) users.add(u.userid);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { ms: performance.now() - t0, calls: list.length + 2, users: users.size };
}

async function main(): Promise<number> {
  console.log(
    `WeCom sync benchmark: ${USERS.toLocaleString()} users, ${DEPARTMENTS.toLocaleString()} departments, ${LATENCY_MS} ms per call, concurrency ${CONCURRENCY}`,
  );
  const { child, ready } = await startSimulator();
  const url = ready.url as string;
  const dir = mkdtempSync(path.join(tmpdir(), 'orgsync-bench-sync-'));
  try {
    // Warm-up, not timed: the simulator serialises each user on first read and caches it. Without this the first
    // side measured would pay the simulator's start-up cost and the second would not.
    const warm = await serialBaseline(url, ready.corpId as string, ready.secret as string, 32);
    console.log(`simulator warmed: ${warm.calls} calls in ${(warm.ms / 1000).toFixed(2)} s (not counted)`);

    // orgsync: a fresh directory, one sync.
    const store = await openStore({ dataDir: dir });
    const client = new WecomClient({
      corpId: ready.corpId as string,
      secret: ready.secret as string,
      baseUrl: url,
      tokens: new TokenCache(),
      concurrency: CONCURRENCY,
    });
    const source = recordingPull(new WecomSource(client));
    const t0 = performance.now();
    const report = await executeRun(withPauseAfterCommit(store, APPLY_DELAY_MS), {
      kind: 'sync',
      source: 'wecom',
      connector: source.connector,
      policy: resolvePolicy({}),
    });
    const wallMs = performance.now() - t0;
    await store.close();
    if (report.status !== 'succeeded' || report.changes.users.create !== USERS) {
      console.error(`the sync did not succeed: ${report.status} ${JSON.stringify(report.errors.slice(0, 3))}`);
      return 2;
    }
    const calls = client.stats().calls;
    const step = (name: string) => report.steps.find((s) => s.name === name)?.durationMs ?? 0;
    const readMs = step('read');
    const applyMs = step('apply');
    const writeMs = step('plan') + step('guard') + applyMs;

    // (c) the same rows, written plainly: the snapshot the sync read, into fresh stores of the same schema.
    const synced = countRowsIn(dir);
    const bulk: number[] = [];
    for (let i = 0; i < BASELINE_RUNS; i++) {
      const bulkDir = mkdtempSync(path.join(tmpdir(), 'orgsync-bench-sync-bulk-'));
      try {
        const b = await bulkInsert(source.pulled(), 'wecom', bulkDir);
        const differ = sameRows(b.rows, synced);
        if (differ !== null) {
          console.error(differ);
          return 2;
        }
        bulk.push(b.ms);
      } finally {
        rmSync(bulkDir, { recursive: true, force: true });
      }
    }
    const bulkMs = median(bulk);

    const serial = await serialBaseline(url, ready.corpId as string, ready.secret as string);
    const floorMs = (calls * LATENCY_MS) / CONCURRENCY;
    const speedup = serial.ms / wallMs;
    const readRatio = readMs / floorMs;
    const writeRatio = writeMs / bulkMs;
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');

    const callsOk = calls <= DEPARTMENTS + 3;
    const speedupOk = speedup >= SPEEDUP_TARGET;
    const readOk = readRatio <= READ_TARGET;
    const writeOk = writeRatio <= WRITE_TARGET;
    const rows: Array<[string, string, string]> = [
      ['API calls', `${calls}`, `target ≤ departments + 3 = ${DEPARTMENTS + 3}: ${verdict(callsOk)}`],
      [
        'whole sync (wall time)',
        s(wallMs),
        `(a) serial baseline ${s(serial.ms)} (${serial.calls} calls one at a time): ${speedup.toFixed(1)}× faster, target ≥ ${SPEEDUP_TARGET}×: ${verdict(speedupOk)}`,
      ],
      [
        'read (read step)',
        s(readMs),
        `(b) floor ${s(floorMs)} (${calls} calls × ${LATENCY_MS} ms ÷ ${CONCURRENCY}): ${readRatio.toFixed(2)}×, target ≤ ${READ_TARGET}×: ${verdict(readOk)}`,
      ],
      [
        'write (plan+guard+apply)',
        s(writeMs),
        `(c) bulk insert of the same rows ${s(bulkMs)} (median of ${bulk.map((ms) => Math.round(ms)).join(' / ')} ms): ${writeRatio.toFixed(2)}×, target ≤ ${WRITE_TARGET}×: ${verdict(writeOk)}`,
      ],
      ['  of which apply', s(applyMs), `${(applyMs / bulkMs).toFixed(2)}× the bulk insert (reported, not judged)`],
    ];
    if (APPLY_DELAY_MS > 0)
      console.log(
        `BENCH_APPLY_DELAY_MS=${APPLY_DELAY_MS}: a pause of ${APPLY_DELAY_MS} ms after every commit of the store (a check of the judgement, not a measurement)`,
      );
    console.log(
      `rows written: ${synced.departments} departments (with the local root), ${synced.users} users, ${synced.memberships} memberships, ${synced.links} links`,
    );
    for (const [a, b, c] of rows) console.log(`${a.padEnd(26)} ${b.padStart(9)}   ${c}`);

    const ok = callsOk && speedupOk && readOk && writeOk;
    console.log(
      `sync: calls=${calls} (≤${DEPARTMENTS + 3}) wall=${s(wallMs)} serial=${s(serial.ms)} (${speedup.toFixed(1)}×, ≥${SPEEDUP_TARGET}×) ` +
        `read=${s(readMs)} floor=${s(floorMs)} (${readRatio.toFixed(2)}×, ≤${READ_TARGET}×) write=${s(writeMs)} bulk=${s(bulkMs)} (${writeRatio.toFixed(2)}×, ≤${WRITE_TARGET}×)` +
        (ok
          ? ''
          : ` — TARGET MISSED: ${[callsOk ? '' : 'calls', speedupOk ? '' : 'speed-up', readOk ? '' : 'read', writeOk ? '' : 'write'].filter(Boolean).join(', ')}`),
    );
    if (serial.users !== USERS) {
      console.error(`the serial baseline read ${serial.users} users, not ${USERS}`);
      return 2;
    }
    return ok ? 0 : 1;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
