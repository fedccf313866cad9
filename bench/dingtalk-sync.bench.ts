/**
 * DingTalk sync of a 50,000-user / 2,000-department org, 20 ms latency per call, against the simulator.
 *
 * Reported in one run, beside orgsync's API calls and wall time:
 * (a) a serial baseline making the same calls one at a time (gettoken, the root, listsub per department, v2/user/list
 *     page by page), as Cordys CRM syncs;
 * (b) the floor: one listsub per department plus one v2/user/list page per 100 members of a department (at least
 *     one), × latency ÷ concurrency.
 * Targets: calls ≤ the floor's count + 2; at least 8× faster than the serial baseline.
 *
 * DingTalk allows an internal app 20 calls per API per second; at that rate the read alone takes minutes whatever
 * the client does, so the benchmark raises the simulator's per-API QPS limits and orgsync's client limit together
 * (BENCH_QPS, default 2,000), and the simulator's per-IP limit so that the untimed warm-up and the baseline do not
 * trip its block (orgsync's client keeps its own calls under 9,000 per 20 s regardless).
 *
 * Run: npm run bench:sync:dingtalk   (BENCH_USERS, BENCH_DEPARTMENTS, BENCH_LATENCY_MS, BENCH_CONCURRENCY, BENCH_QPS override)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TokenCache } from '../src/connectors/common/token-cache.js';
import { DingtalkClient } from '../src/connectors/dingtalk/client.js';
import { DingtalkSource } from '../src/connectors/dingtalk/source.js';
import { resolvePolicy } from '../src/reconcile/policy.js';
import { executeRun } from '../src/runs/run-service.js';
import { openStore } from '../src/store/open.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const USERS = Number(process.env.BENCH_USERS ?? 50_000);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS ?? 2_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const QPS = Number(process.env.BENCH_QPS ?? 2_000);

interface Ready {
  url: string;
  clientId: string;
  clientSecret: string;
}

async function startSimulator(): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(
    process.execPath,
    [
      'bin/orgsync.js', 'simulate', 'dingtalk', '--seed', '1', '--users', String(USERS), '--departments', String(DEPARTMENTS),
      '--latency-ms', String(LATENCY_MS), '--qps-limit', String(QPS), '--global-qps-limit', String(QPS), '--ip-limit-per-20s', '10000000',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    if (out.includes('\n')) return { child, ready: JSON.parse(out.slice(0, out.indexOf('\n'))) as Ready };
  }
  throw new Error('the simulator exited before it was ready');
}

type Reply = { errcode: number } & Record<string, unknown>;

async function call(url: string, body?: unknown): Promise<Reply> {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const reply = (await res.json()) as Reply;
  if (reply.errcode !== 0) throw new Error(`${new URL(url).pathname} answered ${JSON.stringify(reply).slice(0, 200)}`);
  return reply;
}

/**
 * The same calls, `inFlight` at a time (1: how the serial syncs of other tools read an org): gettoken, the root,
 * then listsub of every department found and every page of its members.
 */
async function serialBaseline(ready: Ready, inFlight = 1): Promise<{ ms: number; calls: number; users: number; departments: number }> {
  const t0 = performance.now();
  const token = (await call(`${ready.url}/gettoken?appkey=${ready.clientId}&appsecret=${encodeURIComponent(ready.clientSecret)}`)).access_token as string;
  const api = (p: string): string => `${ready.url}/${p}?access_token=${token}`;
  await call(api('topapi/v2/department/get'), { dept_id: 1 });
  let calls = 2;
  const users = new Set<string>();
  const queue: number[] = [1];
  let departments = 0;
  let busy = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const id = queue.shift();
      if (id === undefined) {
        if (busy === 0) return;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      busy++;
      departments++;
      const children = (await call(api('topapi/v2/department/listsub'), { dept_id: id })).result as Array<{ dept_id: number }>;
      calls++;
      queue.push(...children.map((c) => c.dept_id));
      for (let cursor = 0; ; ) {
        const page = (await call(api('topapi/v2/user/list'), { dept_id: id, cursor, size: 100 })).result as { has_more: boolean; next_cursor?: number; list: Array<{ userid: string }> };
        calls++;
        for (const u of page.list) users.add(u.userid);
        if (!page.has_more) break;
        cursor = page.next_cursor as number;
      }
      busy--;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { ms: performance.now() - t0, calls, users: users.size, departments };
}

/** The floor's call count from the ground truth: one listsub per department, one page per 100 members (at least one). */
async function floorCount(url: string): Promise<number> {
  const truth = (await (await fetch(`${url}/__sim/directory`)).json()) as { departments: Array<{ dept_id: number }>; users: Array<{ dept_id_list: number[] }> };
  const members = new Map<number, number>();
  for (const u of truth.users) for (const d of u.dept_id_list) members.set(d, (members.get(d) ?? 0) + 1);
  return truth.departments.reduce((n, d) => n + 1 + Math.max(1, Math.ceil((members.get(d.dept_id) ?? 0) / 100)), 0);
}

async function main(): Promise<number> {
  console.log(
    `DingTalk sync benchmark: ${USERS.toLocaleString()} users, ${DEPARTMENTS.toLocaleString()} departments, ${LATENCY_MS} ms per call, ` +
      `concurrency ${CONCURRENCY}, per-API QPS limit ${QPS} (simulator and client; DingTalk's own is 20)`,
  );
  const { child, ready } = await startSimulator();
  const scratch = path.join(ROOT, '.bench-data');
  mkdirSync(scratch, { recursive: true });
  const dir = mkdtempSync(path.join(scratch, 'dingtalk-sync-'));
  try {
    const floorCalls = await floorCount(ready.url);
    // Warm-up, not timed: the simulator serialises each user on first read and caches it. Without this the first
    // side measured would pay the simulator's start-up cost and the second would not.
    const warm = await serialBaseline(ready, CONCURRENCY);
    console.log(`simulator warmed: ${warm.calls} calls in ${(warm.ms / 1000).toFixed(2)} s (not counted)`);

    // orgsync: a fresh directory, one sync.
    const store = await openStore({ dataDir: dir });
    const client = new DingtalkClient({ clientId: ready.clientId, clientSecret: ready.clientSecret, baseUrl: ready.url, tokens: new TokenCache(), concurrency: CONCURRENCY, qpsLimit: QPS });
    const t0 = performance.now();
    const report = await executeRun(store, { kind: 'sync', source: 'dingtalk', connector: new DingtalkSource(client), policy: resolvePolicy({}) });
    const wallMs = performance.now() - t0;
    await store.close();
    if (report.status !== 'succeeded' || report.changes.users.create !== USERS) {
      console.error(`the sync did not succeed: ${report.status} ${JSON.stringify(report.errors.slice(0, 3))}`);
      return 2;
    }
    const { calls, retries } = client.stats();
    const step = (name: string) => report.steps.find((s) => s.name === name)?.durationMs ?? 0;
    const readMs = step('read');
    const directoryMs = step('plan') + step('guard') + step('apply');

    const serial = await serialBaseline(ready);
    const floorMs = (floorCalls * LATENCY_MS) / CONCURRENCY;
    const speedup = serial.ms / wallMs;

    const rows: Array<[string, string, string]> = [
      ['orgsync API calls', `${calls}`, `target ≤ floor + 2 = ${floorCalls + 2} (${retries} retries)`],
      ['orgsync wall time', `${(wallMs / 1000).toFixed(2)} s`, `read ${(readMs / 1000).toFixed(2)} s (API), plan+guard+apply ${(directoryMs / 1000).toFixed(2)} s`],
      ['(a) serial baseline', `${(serial.ms / 1000).toFixed(2)} s`, `${serial.calls} calls one at a time; orgsync is ${speedup.toFixed(1)}× faster (target ≥ 8×)`],
      ['(b) floor', `${(floorMs / 1000).toFixed(2)} s`, `${floorCalls} calls × ${LATENCY_MS} ms ÷ ${CONCURRENCY}; read is ${(readMs / floorMs).toFixed(2)}× the floor`],
    ];
    for (const [a, b, c] of rows) console.log(`${a.padEnd(24)} ${b.padStart(10)}   ${c}`);

    const ok = calls <= floorCalls + 2 && speedup >= 8;
    console.log(
      `sync: calls=${calls} (≤${floorCalls + 2}) wall=${(wallMs / 1000).toFixed(2)}s serial=${(serial.ms / 1000).toFixed(2)}s (${speedup.toFixed(1)}×, ≥8×) ` +
        `floor=${(floorMs / 1000).toFixed(2)}s` +
        (ok ? '' : ' — TARGET MISSED'),
    );
    if (serial.users !== USERS || serial.calls !== floorCalls + 2) {
      console.error(`the serial baseline read ${serial.users} users in ${serial.calls} calls, not ${USERS} in ${floorCalls + 2}`);
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
