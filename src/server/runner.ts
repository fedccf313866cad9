import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Connection } from '../connections/connections.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { errorInfo } from '../errors.js';
import { approveRun, type RunProgress, type RunReport } from '../runs/run-service.js';
import { isProcessAlive } from '../runs/lock.js';
import { syncConnection } from '../runs/sync.js';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';

/**
 * Runs started from the API execute here, in the background of this process: one at a time per source
 * (connection), with their latest progress kept for GET /runs/:id. While a run executes, this server holds a lease
 * on it (`run:<id>` in the locks table, renewed every 20 s); a run still `running` whose lease expired or whose
 * server process is gone is marked failed by the next sweep (at start, then every minute), since nothing of a run
 * survives its process.
 */

const LEASE_TTL_MS = 60_000;
const SWEEP_EVERY_MS = 60_000;

export type ProgressView = Omit<RunProgress, 'runId'>;

interface Active {
  source: string;
  runId: number | undefined;
  /** Resolves with the run id once the run exists; rejects if it failed before that. */
  started: Promise<number>;
  done: Promise<unknown>;
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A start that fails is reported to its own caller; nobody else has to listen.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function inProgress(source: string, runId: number): ApiError {
  return new ApiError(
    409,
    {
      code: 'RUN_IN_PROGRESS',
      message: `run ${runId} of "${source}" is still running`,
      hint: `Wait for it to finish (GET /api/v1/runs/${runId}), then start again.`,
    },
    { extra: { runId } },
  );
}

export class RunRunner {
  /** server:<host>:<pid>:<nonce>; the nonce tells apart two servers in one process. */
  readonly holder = `server:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly bySource = new Map<string, Active>();
  private readonly progressOf = new Map<number, ProgressView>();
  private readonly leases = new Map<number, NodeJS.Timeout>();
  private readonly tokens = new TokenCache();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Marks abandoned runs failed now and then every minute. */
  async start(): Promise<void> {
    await this.sweep();
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.warn({ err: errorInfo(err) }, 'sweeping abandoned runs failed'));
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /** The latest progress of a run executing in this server. */
  progress(runId: number): ProgressView | undefined {
    return this.progressOf.get(runId);
  }

  /** Starts a sync of the connection; resolves with the new run's id as soon as the run exists. */
  async startSync(connection: Connection, options: { dryRun: boolean }): Promise<number> {
    const { runId } = await this.startRun(connection.name, (onProgress) =>
      syncConnection(this.store, connection, { dryRun: options.dryRun, onProgress, tokens: this.tokens }),
    );
    return runId;
  }

  /**
   * Starts a run of `source` in the background (one at a time per source, as every run started here): `execute` is
   * given the progress callback that tells the runner the run's id. Resolves once the run exists, with its id and
   * `done`, which settles with the report when the run ends (undefined if it stopped with an error), after
   * `afterwards` ran.
   */
  async startRun(
    source: string,
    execute: (onProgress: (p: RunProgress) => void) => Promise<RunReport>,
    afterwards?: () => Promise<void>,
  ): Promise<{ runId: number; done: Promise<RunReport | undefined> }> {
    const { entry, started } = await this.claim(source);
    const onProgress = (p: RunProgress): void => {
      if (p.runId === undefined) return;
      this.began(entry, p.runId, started);
      const { runId: _runId, ...view } = p;
      this.progressOf.set(p.runId, view);
    };
    const done = execute(onProgress)
      .then(async (report) => {
        this.began(entry, report.runId, started);
        await this.finished(entry, report);
        return report;
      })
      .catch(async (err: unknown) => {
        await this.failed(entry, err, started);
        return undefined;
      })
      .finally(async () => {
        await afterwards?.().catch((err: unknown) =>
          this.log.warn({ source, err: errorInfo(err) }, 'cleaning up after a run failed'),
        );
      });
    entry.done = done;
    return { runId: await started.promise, done };
  }

  /** Applies a blocked or planned run in the background. */
  async startApproval(runId: number): Promise<number> {
    const run = await this.store.runs.get(runId);
    if (!run)
      throw new ApiError(404, {
        code: 'RUN_NOT_FOUND',
        message: `there is no run ${runId}`,
        hint: 'GET /api/v1/runs lists the runs.',
      });
    const { entry, started } = await this.claim(run.source);
    try {
      // Read again under the claim: another approval of the same run may have finished meanwhile.
      const current = await this.store.runs.get(runId);
      if (!current || (current.status !== 'blocked' && current.status !== 'planned')) {
        throw new ApiError(409, {
          code: 'RUN_NOT_APPROVABLE',
          message: `run ${runId} is ${current?.status ?? 'gone'}; only a blocked or planned (dry-run) run can be approved`,
          hint: current?.status === 'running' ? 'Wait for it to finish.' : 'Start a new run instead.',
        });
      }
      const revision = await this.store.directory.revision();
      if (current.baseRevision !== null && current.baseRevision !== revision) {
        throw new ApiError(409, {
          code: 'PLAN_STALE',
          message: `run ${runId} was planned from directory revision ${current.baseRevision}, but the directory is now at revision ${revision}`,
          hint: 'The directory changed since this plan was made. Start the sync again and approve the new run.',
        });
      }
    } catch (err) {
      await this.release(entry);
      started.reject(err);
      throw err;
    }
    this.began(entry, runId, started);
    this.progressOf.set(runId, { phase: 'apply', done: 0 });
    entry.done = approveRun(this.store, runId, {
      onProgress: (p) => {
        const { runId: _runId, ...view } = p;
        this.progressOf.set(runId, view);
      },
    })
      .then((report) => this.finished(entry, report))
      .catch((err: unknown) => this.failed(entry, err, started));
    return runId;
  }

  /**
   * Marks failed the runs left `running` by a server that is gone: its lease expired, or it ran on this host in a
   * process that no longer exists. Runs without a lease (started by a CLI command) are left alone.
   */
  async sweep(): Promise<number[]> {
    const abandoned: number[] = [];
    const mine = new Set([...this.bySource.values()].map((a) => a.runId));
    for (const run of await this.store.runs.list({ status: 'running', limit: 1000 })) {
      if (mine.has(run.id)) continue;
      const name = `run:${run.id}`;
      const lease = await this.store.views.lease(name);
      if (!lease || lease.holder === this.holder) continue;
      const [kind, ...rest] = lease.holder.split(':');
      const pid = Number(rest[rest.length - 2]);
      const host = rest.slice(0, -2).join(':');
      const gone =
        lease.expiresAt < Date.now() ||
        (kind === 'server' &&
          host === hostname() &&
          pid !== process.pid &&
          Number.isInteger(pid) &&
          !isProcessAlive(pid));
      if (!gone) continue;
      const marked = await this.store.views.abandonRun(run.id, {
        code: 'RUN_ABANDONED',
        message: `the server running this run (${host || lease.holder}${Number.isInteger(pid) ? `, process ${pid}` : ''}) stopped before the run finished`,
        hint: 'Start the run again. Batches applied before the server stopped stay applied; the changes recorded on this run show which.',
        zh: {
          message: `执行此运行的服务（${host || lease.holder}${Number.isInteger(pid) ? `，进程 ${pid}` : ''}）在运行结束前停止了`,
          hint: '请重新发起运行。服务停止前已写入的批次保持不变；本运行记录的变更列出了是哪些。',
        },
      });
      await this.store.locks.release(name, lease.holder);
      if (marked) {
        abandoned.push(run.id);
        this.log.warn({ runId: run.id, source: run.source }, 'marked a run left running by a stopped server as failed');
      }
    }
    return abandoned;
  }

  /** Stops sweeping and waits (up to timeoutMs) for the runs still executing. */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const running = [...this.bySource.values()].map((a) => a.done);
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(running), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    if (timer) clearTimeout(timer);
  }

  /** Takes the source for one run, or answers 409 with the run already going. */
  private async claim(source: string): Promise<{ entry: Active; started: ReturnType<typeof deferred<number>> }> {
    if (this.closed)
      throw new ApiError(503, {
        code: 'SHUTTING_DOWN',
        message: 'the server is shutting down',
        hint: 'Start the run again once it is back.',
      });
    for (let other = this.bySource.get(source); other; other = this.bySource.get(source)) {
      const runId = await other.started.catch(() => undefined);
      if (runId !== undefined && this.bySource.get(source) === other) throw inProgress(source, runId);
    }
    const started = deferred<number>();
    const entry: Active = { source, runId: undefined, started: started.promise, done: Promise.resolve() };
    this.bySource.set(source, entry);
    try {
      // Another server on the same database may be running this source.
      for (const run of await this.store.runs.list({ source, status: 'running', limit: 10 })) {
        const lease = await this.store.views.lease(`run:${run.id}`);
        if (lease && lease.holder !== this.holder && lease.expiresAt >= Date.now()) throw inProgress(source, run.id);
      }
    } catch (err) {
      await this.release(entry);
      started.reject(err);
      throw err;
    }
    return { entry, started };
  }

  private began(entry: Active, runId: number, started: ReturnType<typeof deferred<number>>): void {
    if (entry.runId !== undefined) return;
    entry.runId = runId;
    started.resolve(runId);
    const name = `run:${runId}`;
    const renew = (): void => {
      this.store.locks
        .tryAcquire(name, this.holder, LEASE_TTL_MS)
        .catch((err: unknown) => this.log.warn({ runId, err: errorInfo(err) }, 'renewing a run lease failed'));
    };
    renew();
    const timer = setInterval(renew, LEASE_TTL_MS / 3);
    timer.unref();
    this.leases.set(runId, timer);
  }

  private async finished(entry: Active, report: RunReport): Promise<void> {
    this.log.info(
      { runId: report.runId, source: report.source, kind: report.kind, status: report.status, changes: report.changes },
      'run finished',
    );
    await this.release(entry);
  }

  private async failed(entry: Active, err: unknown, started: ReturnType<typeof deferred<number>>): Promise<void> {
    const runId = entry.runId;
    await this.release(entry);
    if (runId === undefined) started.reject(err);
    else this.log.error({ runId, source: entry.source, err: errorInfo(err) }, 'run stopped with an error');
  }

  /** Frees the source and the run's lease; the source is free again before this returns its promise. */
  private async release(entry: Active): Promise<void> {
    if (this.bySource.get(entry.source) === entry) this.bySource.delete(entry.source);
    if (entry.runId === undefined) return;
    const runId = entry.runId;
    this.progressOf.delete(runId);
    const timer = this.leases.get(runId);
    if (timer) clearInterval(timer);
    this.leases.delete(runId);
    try {
      await this.store.locks.release(`run:${runId}`, this.holder);
    } catch (err) {
      this.log.warn({ runId, err: errorInfo(err) }, 'releasing a run lease failed');
    }
  }
}
