/**
 * The WeCom simulator must never be the bottleneck of a benchmark: it holds a 100,000-user / 3,000-department org
 * in under 1 GB and serves at least 2,000 user/list requests per second on this machine.
 *
 * Both figures are measured against a baseline from the same run:
 * - memory: the simulator process's peak RSS (VmHWM) once it has served what a benchmark asks of it: every department's
 *   user/list with the app secret and with the contacts secret (each view of a user is serialised on first read and
 *   kept), then the throughput load below. Next to it, the peak RSS of an empty simulator after the same reads and
 *   the same load. The RSS at the ready line, before any request, is reported too, but not judged: it leaves out the
 *   cached answers;
 * - throughput: user/list requests per second, next to a plain node:http server (in its own process, like the
 *   simulator) answering a fixed JSON body of the same average size: the ceiling of Node's HTTP stack and of this
 *   load generator on this machine.
 *
 * Run: npm run bench:simulator   (BENCH_USERS, BENCH_DEPARTMENTS, BENCH_SECONDS, BENCH_CONCURRENCY override)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
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

/** RSS of a process, from /proc (Linux): now (VmRSS) and its peak so far (VmHWM). */
async function rssMb(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  return { now: field('VmRSS'), peak: field('VmHWM') };
}

interface Simulator {
  child: ChildProcess;
  url: string;
  /** Department ids and their direct member counts, from the simulator's own view of the org. */
  departments: Array<{ id: number; members: number }>;
  /** Access tokens of the app secret and of the contacts secret. */
  tokens: { app: string; contacts: string };
}

async function startSimulator(users: number, departments: number): Promise<Simulator> {
  // The platform's 10,000 calls per API per minute would end the measurement after a few seconds: lifted here.
  const { child, line } = await start([
    'bin/orgsync.js',
    'simulate',
    'wecom',
    '--users',
    String(users),
    '--departments',
    String(departments),
    '--seed',
    '1',
    '--rate-limit-per-minute',
    '100000000',
  ]);
  const url = line.url as string;
  const token = async (secret: unknown): Promise<string> => {
    const answer = (await (
      await fetch(`${url}/cgi-bin/gettoken?corpid=${line.corpId}&corpsecret=${secret}`)
    ).json()) as { errcode: number; access_token: string };
    if (answer.errcode !== 0) throw new Error(`gettoken answered ${answer.errcode}`);
    return answer.access_token;
  };
  const tokens = { app: await token(line.secret), contacts: await token(line.contactsSecret) };
  const directory = (await (await fetch(`${url}/__sim/directory`)).json()) as {
    departments: Array<{ id: number }>;
    users: Array<{ department: number[] }>;
  };
  const members = new Map<number, number>();
  for (const u of directory.users) for (const d of u.department) members.set(d, (members.get(d) ?? 0) + 1);
  return {
    child,
    url,
    tokens,
    departments: directory.departments.map((d) => ({ id: d.id, members: members.get(d.id) ?? 0 })),
  };
}

/**
 * user/list of every department (the wide ones too), once with each secret, CONCURRENCY in flight: what a sync with
 * either secret makes the simulator serialise and keep.
 */
async function readEverything(sim: Simulator): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const paths = [sim.tokens.app, sim.tokens.contacts].flatMap((token) =>
    sim.departments.map((d) => `/cgi-bin/user/list?access_token=${token}&department_id=${d.id}`),
  );
  let next = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const res = await get(agent, `${sim.url}${paths[next++]}`);
      if (res.status !== 200 || !res.body.startsWith('{"errcode":0')) errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  if (errors > 0) throw new Error(`${errors} of ${paths.length} user/list reads failed`);
  return paths.length;
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
async function load(
  url: string,
  pathFor: (i: number) => string,
): Promise<{ rps: number; bytes: number; errors: number }> {
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
  console.log(
    `simulator benchmark: ${USERS.toLocaleString()} users, ${DEPARTMENTS.toLocaleString()} departments, ${SECONDS} s per load, ${CONCURRENCY} in flight`,
  );

  const t0 = performance.now();
  const sim = await startSimulator(USERS, DEPARTMENTS);
  const startupMs = performance.now() - t0;
  const atReady = await rssMb(sim.child.pid as number);
  const url = sim.url;

  // 1. Everything a sync can ask of it, with either secret: the simulator then holds every cached answer.
  const reads = await readEverything(sim);
  const afterReads = await rssMb(sim.child.pid as number);

  // 2. Throughput of user/list over the departments a sync reads, with the app secret.
  // Every department but the very wide ones (> 1,000 direct members), which are a handful of calls in a sync.
  const ids = sim.departments.filter((d) => d.members <= 1000).map((d) => d.id);
  const wide = sim.departments.length - ids.length;
  const avgMembers = sim.departments.filter((d) => d.members <= 1000).reduce((a, d) => a + d.members, 0) / ids.length;
  await fetch(`${url}/__sim/stats/reset`, { method: 'POST' });
  const simLoad = await load(
    url,
    (i) => `/cgi-bin/user/list?access_token=${sim.tokens.app}&department_id=${ids[i % ids.length]}`,
  );
  const stats = (await (await fetch(`${url}/__sim/stats`)).json()) as { calls: Record<string, number> };
  const simRss = await rssMb(sim.child.pid as number);
  await stop(sim.child);

  // Memory baseline: an empty simulator, the same reads and the same load.
  const empty = await startSimulator(0, 1);
  const emptyAtReady = await rssMb(empty.child.pid as number);
  await readEverything(empty);
  await load(
    empty.url,
    () => `/cgi-bin/user/list?access_token=${empty.tokens.app}&department_id=${empty.departments[0]?.id ?? 1}`,
  );
  const emptyRss = await rssMb(empty.child.pid as number);
  await stop(empty.child);

  // Baseline: plain node:http answering a fixed body of the same size, in its own process.
  const body = JSON.stringify({
    errcode: 0,
    errmsg: 'ok',
    pad: 'x'.repeat(Math.max(0, Math.round(simLoad.bytes) - 40)),
  });
  const plain = await start([
    '--input-type=module',
    '-e',
    `import { readFile } from 'node:fs/promises';
import http from 'node:http';
     const body = ${JSON.stringify(body)};
     const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
     server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port })));`,
  ]);
  const plainLoad = await load(plain.line.url as string, () => '/');
  await stop(plain.child);

  const rows: Array<[string, string, string]> = [
    [
      'peak RSS after reads + load',
      `${simRss.peak.toFixed(0)} MB`,
      `empty simulator after the same: ${emptyRss.peak.toFixed(0)} MB; the org and its cached answers add ${(simRss.peak - emptyRss.peak).toFixed(0)} MB; target < ${MEMORY_TARGET_MB} MB`,
    ],
    [
      'RSS at the end',
      `${simRss.now.toFixed(0)} MB`,
      `after ${reads} user/list reads with both secrets: ${afterReads.now.toFixed(0)} MB (reported, not judged)`,
    ],
    [
      'RSS at ready',
      `${atReady.now.toFixed(0)} MB`,
      `before any request, empty simulator ${emptyAtReady.now.toFixed(0)} MB (reported, not judged)`,
    ],
    ['simulator startup', `${(startupMs / 1000).toFixed(1)} s`, 'process start to ready line'],
    [
      'user/list throughput',
      `${simLoad.rps.toFixed(0)} req/s`,
      `plain node:http ${plainLoad.rps.toFixed(0)} req/s (${(simLoad.rps / plainLoad.rps).toFixed(2)}× baseline)`,
    ],
    [
      'user/list response',
      `${(simLoad.bytes / 1024).toFixed(1)} KiB`,
      `${avgMembers.toFixed(1)} members on average over ${ids.length} departments (${wide} wider ones left out)`,
    ],
  ];
  for (const [a, b, c] of rows) console.log(`${a.padEnd(28)} ${b.padStart(12)}   ${c}`);
  console.log(
    `server counted ${stats.calls['/cgi-bin/user/list'] ?? 0} user/list calls; errors seen by the client: ${simLoad.errors}`,
  );

  const memoryOk = simRss.peak < MEMORY_TARGET_MB;
  const throughputOk = simLoad.rps >= THROUGHPUT_TARGET;
  console.log(
    `simulator: peak rss=${simRss.peak.toFixed(0)}MB after reads with both secrets and the load (target <${MEMORY_TARGET_MB}MB) user/list=${simLoad.rps.toFixed(0)}req/s (${(simLoad.rps / plainLoad.rps).toFixed(2)}× plain http, target ≥${THROUGHPUT_TARGET}req/s)` +
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
