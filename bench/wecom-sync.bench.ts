/**
 * WeCom sync of a 100,000-user / 3,000-department corp, 20 ms latency per call, against the simulator.
 *
 * Reported in one run, beside orgsync's API calls and wall time:
 * (a) a serial baseline making the same calls one at a time (gettoken, department/list, user/list per department),
 *     as Cordys CRM, Casdoor and MaxKey sync;
 * (b) the floor: calls × latency ÷ concurrency.
 * Targets: calls ≤ departments + 3; at least 8× faster than the serial baseline; wall time within 1.5× of the floor
 * plus the directory's plan and apply time.
 *
 * Run: npm run bench:sync   (BENCH_USERS, BENCH_DEPARTMENTS, BENCH_LATENCY_MS, BENCH_CONCURRENCY override)
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

const ROOT = path.resolve(import.meta.dirname, '..');
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS ?? 3_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

async function startSimulator(): Promise<{ child: ChildProcess; ready: Record<string, string> }> {
  const child = spawn(
    process.execPath,
    ['bin/orgsync.js', 'simulate', 'wecom', '--seed', '1', '--users', String(USERS), '--departments', String(DEPARTMENTS), '--latency-ms', String(LATENCY_MS)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    if (out.includes('\n')) return { child, ready: JSON.parse(out.slice(0, out.indexOf('\n'))) as Record<string, string> };
  }
  throw new Error('the simulator exited before it was ready');
}

async function json(url: string): Promise<{ errcode: number } & Record<string, unknown>> {
  const res = await fetch(url);
  return (await res.json()) as { errcode: number } & Record<string, unknown>;
}

/** The same calls, one at a time (in flight: 1): how the serial syncs of other tools read a corp. */
async function serialBaseline(url: string, corpId: string, secret: string, inFlight = 1): Promise<{ ms: number; calls: number; users: number }> {
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
  console.log(`WeCom sync benchmark: ${USERS.toLocaleString()} users, ${DEPARTMENTS.toLocaleString()} departments, ${LATENCY_MS} ms per call, concurrency ${CONCURRENCY}`);
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
    const client = new WecomClient({ corpId: ready.corpId as string, secret: ready.secret as string, baseUrl: url, tokens: new TokenCache(), concurrency: CONCURRENCY });
    const t0 = performance.now();
    const report = await executeRun(store, { kind: 'sync', source: 'wecom', connector: new WecomSource(client), policy: resolvePolicy({}) });
    const wallMs = performance.now() - t0;
    await store.close();
    if (report.status !== 'succeeded' || report.changes.users.create !== USERS) {
      console.error(`the sync did not succeed: ${report.status} ${JSON.stringify(report.errors.slice(0, 3))}`);
      return 2;
    }
    const calls = client.stats().calls;
    const step = (name: string) => report.steps.find((s) => s.name === name)?.durationMs ?? 0;
    const readMs = step('read');
    const directoryMs = step('plan') + step('guard') + step('apply');

    const serial = await serialBaseline(url, ready.corpId as string, ready.secret as string);
    const floorMs = (calls * LATENCY_MS) / CONCURRENCY;
    const speedup = serial.ms / wallMs;
    const budgetMs = 1.5 * (floorMs + directoryMs);

    const rows: Array<[string, string, string]> = [
      ['orgsync API calls', `${calls}`, `target ≤ departments + 3 = ${DEPARTMENTS + 3}`],
      ['orgsync wall time', `${(wallMs / 1000).toFixed(2)} s`, `read ${(readMs / 1000).toFixed(2)} s (API), plan+guard+apply ${(directoryMs / 1000).toFixed(2)} s`],
      ['(a) serial baseline', `${(serial.ms / 1000).toFixed(2)} s`, `${serial.calls} calls one at a time; orgsync is ${speedup.toFixed(1)}× faster (target ≥ 8×)`],
      ['(b) floor', `${(floorMs / 1000).toFixed(2)} s`, `${calls} calls × ${LATENCY_MS} ms ÷ ${CONCURRENCY}; read is ${(readMs / floorMs).toFixed(2)}× the floor`],
      ['floor + directory time', `${((floorMs + directoryMs) / 1000).toFixed(2)} s`, `orgsync is ${(wallMs / (floorMs + directoryMs)).toFixed(2)}× it (target ≤ 1.5×)`],
    ];
    for (const [a, b, c] of rows) console.log(`${a.padEnd(24)} ${b.padStart(10)}   ${c}`);

    const ok = calls <= DEPARTMENTS + 3 && speedup >= 8 && wallMs <= budgetMs;
    console.log(
      `sync: calls=${calls} (≤${DEPARTMENTS + 3}) wall=${(wallMs / 1000).toFixed(2)}s serial=${(serial.ms / 1000).toFixed(2)}s (${speedup.toFixed(1)}×, ≥8×) ` +
        `floor+directory=${((floorMs + directoryMs) / 1000).toFixed(2)}s (${(wallMs / (floorMs + directoryMs)).toFixed(2)}×, ≤1.5×)` +
        (ok ? '' : ' — TARGET MISSED'),
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
