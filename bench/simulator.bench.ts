/**
 * The WeCom simulator must never be the bottleneck of a benchmark: it holds a 100,000-user / 3,000-department org
 * in under 1 GB and serves at least 2,000 user/list requests per second on this machine.
 *
 * Both figures are measured against a baseline from the same run:
 * - memory: the simulator process's RSS after startup, next to the RSS of the same process before the org exists;
 * - throughput: user/list requests per second, next to a plain node:http server (in its own process, like the
 *   simulator) answering a fixed JSON body of the same average size: the ceiling of Node's HTTP stack and of this
 *   load generator on this machine.
 *
 * Run: npm run bench:simulator   (BENCH_USERS, BENCH_DEPARTMENTS, BENCH_SECONDS, BENCH_CONCURRENCY override)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import http from 'node:http';

const ROOT = path.resolve(import.meta.dirname, '..');
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS ?? 3_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const MEMORY_TARGET_MB = 1024;
const THROUGHPUT_TARGET = 2000;

interface Started {
  child: ChildProcess;
  line: Record<string, unknown>;
}

/** Starts a process that prints one JSON line when ready. */
async function start(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    out += chunk.toString();
    const nl = out.indexOf('\n');
    if (nl >= 0) return { child, line: JSON.parse(out.slice(0, nl)) as Record<string, unknown> };
  }
  throw new Error(`process exited before it was ready: ${args.join(' ')}`);
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** RSS of a process, from /proc (Linux). */
async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function get(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Keeps CONCURRENCY requests in flight for SECONDS; returns completed requests per second and bytes per response. */
async function load(url: string, pathFor: (i: number) => string): Promise<{ rps: number; bytes: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  let bytes = 0;
  let errors = 0;
  let i = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const res = await get(agent, `${url}${pathFor(i++)}`);
      if (res.status !== 200 || !res.body.startsWith('{"errcode":0')) errors++;
      bytes += res.body.length;
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: done / seconds, bytes: bytes / Math.max(done, 1), errors };
}

async function main(): Promise<number> {
  console.log(`simulator benchmark: ${USERS.toLocaleString()} users, ${DEPARTMENTS.toLocaleString()} departments, ${SECONDS} s per load, ${CONCURRENCY} in flight`);

  // 1. Memory: the same process, before and after the org exists.
  const t0 = performance.now();
  // The platform's 10,000 calls per API per minute would end the measurement after a few seconds: lifted here.
  const sim = await start(['bin/orgsync.js', 'simulate', 'wecom', '--users', String(USERS), '--departments', String(DEPARTMENTS), '--seed', '1', '--rate-limit-per-minute', '100000000']);
  const startupMs = performance.now() - t0;
  const url = sim.line.url as string;
  const simRss = await rssMb(sim.child.pid as number);
  const empty = await start(['bin/orgsync.js', 'simulate', 'wecom', '--users', '0', '--departments', '1', '--seed', '1']);
  const emptyRss = await rssMb(empty.child.pid as number);
  await stop(empty.child);

  // 2. Throughput of user/list over the departments a sync reads, with the app secret.
  const token = (await (await fetch(`${url}/cgi-bin/gettoken?corpid=${sim.line.corpId}&corpsecret=${sim.line.secret}`)).json()) as { access_token: string };
  const directory = (await (await fetch(`${url}/__sim/directory`)).json()) as { departments: Array<{ id: number }>; users: Array<{ department: number[] }> };
  const members = new Map<number, number>();
  for (const u of directory.users) for (const d of u.department) members.set(d, (members.get(d) ?? 0) + 1);
  // Every department but the very wide ones (> 1,000 direct members), which are a handful of calls in a sync.
  const ids = directory.departments.map((d) => d.id).filter((id) => (members.get(id) ?? 0) <= 1000);
  const wide = directory.departments.length - ids.length;
  const avgMembers = ids.reduce((a, id) => a + (members.get(id) ?? 0), 0) / ids.length;
  await fetch(`${url}/__sim/stats/reset`, { method: 'POST' });
  const simLoad = await load(url, (i) => `/cgi-bin/user/list?access_token=${token.access_token}&department_id=${ids[i % ids.length]}`);
  const stats = (await (await fetch(`${url}/__sim/stats`)).json()) as { calls: Record<string, number> };
  await stop(sim.child);

  // Baseline: plain node:http answering a fixed body of the same size, in its own process.
  const body = JSON.stringify({ errcode: 0, errmsg: 'ok', pad: 'x'.repeat(Math.max(0, Math.round(simLoad.bytes) - 40)) });
  const plain = await start([
    '--input-type=module',
    '-e',
    `import http from 'node:http';
     const body = ${JSON.stringify(body)};
     const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
     server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port })));`,
  ]);
  const plainLoad = await load(plain.line.url as string, () => '/');
  await stop(plain.child);

  const rows: Array<[string, string, string]> = [
    ['simulator RSS (100k users)', `${simRss.toFixed(0)} MB`, `empty simulator ${emptyRss.toFixed(0)} MB; org adds ${(simRss - emptyRss).toFixed(0)} MB`],
    ['simulator startup', `${(startupMs / 1000).toFixed(1)} s`, 'process start to ready line'],
    [
      'user/list throughput',
      `${simLoad.rps.toFixed(0)} req/s`,
      `plain node:http ${plainLoad.rps.toFixed(0)} req/s (${(simLoad.rps / plainLoad.rps).toFixed(2)}× baseline)`,
    ],
    ['user/list response', `${(simLoad.bytes / 1024).toFixed(1)} KiB`, `${avgMembers.toFixed(1)} members on average over ${ids.length} departments (${wide} wider ones left out)`],
  ];
  for (const [a, b, c] of rows) console.log(`${a.padEnd(28)} ${b.padStart(12)}   ${c}`);
  console.log(`server counted ${stats.calls['/cgi-bin/user/list'] ?? 0} user/list calls; errors seen by the client: ${simLoad.errors}`);

  const memoryOk = simRss < MEMORY_TARGET_MB;
  const throughputOk = simLoad.rps >= THROUGHPUT_TARGET;
  console.log(
    `simulator: rss=${simRss.toFixed(0)}MB (target <${MEMORY_TARGET_MB}MB) user/list=${simLoad.rps.toFixed(0)}req/s (${(simLoad.rps / plainLoad.rps).toFixed(2)}× plain http, target ≥${THROUGHPUT_TARGET}req/s)` +
      (memoryOk && throughputOk ? '' : ' — TARGET MISSED'),
  );
  if (simLoad.errors > 0) return 2;
  return memoryOk && throughputOk ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
