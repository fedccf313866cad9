import { Cron } from 'croner';
import type { FastifyBaseLogger } from 'fastify';
import type { ConnectionService } from '../connections/connections.js';
import { CRON_MODE } from '../connections/reconcile-cron.js';
import { errorInfo } from '../errors.js';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import type { RunRunner } from './runner.js';

/**
 * The scheduled full sync (issue 7): one croner job per connection that has 开启同步 on and a `reconcileCron`, each
 * firing an ordinary `sync` run through the runner, so a callback that never arrived costs at most one period. A
 * connection whose run is still going when its time comes is skipped (logged), never queued.
 *
 * The jobs follow the connections table: `reload()` after every change made through the API, and every minute for
 * changes made by the CLI or another server on the same database.
 */

const RELOAD_EVERY_MS = 60_000;

export interface ReconcileSchedulerDeps {
  store: Store;
  connections: ConnectionService;
  runner: RunRunner;
  log: FastifyBaseLogger;
  /** IANA time zone the expressions are read in (ORGSYNC_TZ, else the server's own). */
  timezone: string;
}

interface Job {
  cron: string;
  job: Cron;
}

export class ReconcileScheduler {
  private readonly jobs = new Map<string, Job>();
  /** Stored expressions croner refused (a database edited by hand): warned about once, not every reload. */
  private readonly refused = new Map<string, string>();
  private readonly firing = new Set<Promise<void>>();
  private reloading: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: ReconcileSchedulerDeps) {}

  get timezone(): string {
    return this.deps.timezone;
  }

  /** Schedules every connection now, then looks for changes every minute. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch((err: unknown) =>
        this.deps.log.warn({ err: errorInfo(err) }, 'reloading the scheduled full syncs failed'),
      );
    }, RELOAD_EVERY_MS);
    this.timer.unref();
  }

  /** The connections with a job, and when each fires next. */
  scheduled(): Array<{ connection: string; cron: string; nextRunAt: Date | null }> {
    return [...this.jobs].map(([connection, { cron, job }]) => ({ connection, cron, nextRunAt: job.nextRun() }));
  }

  /** Brings the jobs in line with the stored connections. Calls run one after another, never interleaved. */
  reload(): Promise<void> {
    const run = this.reloading.catch(() => undefined).then(() => this.apply());
    this.reloading = run;
    return run;
  }

  /** Stops every job and waits for the starts already under way. Runs already started are the runner's to finish. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.reloading.catch(() => undefined);
    for (const { job } of this.jobs.values()) job.stop();
    this.jobs.clear();
    await Promise.allSettled([...this.firing]);
  }

  private async apply(): Promise<void> {
    if (this.closed) return;
    const wanted = new Map<string, string>();
    for (const row of await this.deps.store.connections.list()) {
      if (row.syncEnabled && row.reconcileCron !== null) wanted.set(row.name, row.reconcileCron);
    }
    if (this.closed) return;
    const { log, timezone } = this.deps;
    for (const [name, current] of this.jobs) {
      const cron = wanted.get(name);
      if (cron === current.cron) continue;
      current.job.stop();
      this.jobs.delete(name);
      if (cron === undefined) log.info({ connection: name }, 'scheduled full sync removed');
    }
    for (const name of this.refused.keys()) if (wanted.get(name) !== this.refused.get(name)) this.refused.delete(name);
    for (const [name, cron] of wanted) {
      if (this.jobs.has(name) || this.refused.get(name) === cron) continue;
      let job: Cron;
      try {
        job = new Cron(cron, { mode: CRON_MODE, timezone, unref: true, protect: true }, () => this.fire(name));
      } catch (err) {
        this.refused.set(name, cron);
        log.warn(
          { connection: name, cron, err: errorInfo(err) },
          `the stored reconcileCron of "${name}" is not valid: no scheduled full sync (set it again with \`orgsync connection update ${name} --reconcile-cron EXPR\`)`,
        );
        continue;
      }
      this.jobs.set(name, { cron, job });
      log.info(
        { connection: name, cron, timezone, nextRunAt: job.nextRun()?.toISOString() ?? null },
        'scheduled full sync',
      );
    }
  }

  /** One firing: a sync run of the connection, unless one is still going. Never throws (croner would only log it). */
  private fire(name: string): Promise<void> {
    const done = this.startRun(name).catch((err: unknown) =>
      this.deps.log.warn({ connection: name, err: errorInfo(err) }, 'scheduled full sync could not start'),
    );
    this.firing.add(done);
    void done.finally(() => this.firing.delete(done));
    return done;
  }

  private async startRun(name: string): Promise<void> {
    const { store, connections, runner, log } = this.deps;
    if (this.closed) return;
    // The row may have changed since the last reload: only a connection that still wants the schedule syncs.
    const row = await store.connections.get(name);
    if (!row?.syncEnabled || row.reconcileCron === null || this.closed) return;
    const connection = await connections.get(name);
    try {
      const runId = await runner.startSync(connection, { dryRun: false });
      log.info({ connection: name, runId, cron: row.reconcileCron }, 'scheduled full sync started');
    } catch (err) {
      if (err instanceof ApiError && err.code === 'RUN_IN_PROGRESS') {
        log.info(
          { connection: name, runId: err.extra.runId },
          'scheduled full sync skipped: a run of this connection is still going',
        );
        return;
      }
      if (err instanceof ApiError && err.code === 'SHUTTING_DOWN') return;
      throw err;
    }
  }
}
