import { hostname } from 'node:os';
import { once } from 'node:events';
import { createGzip, gunzipSync } from 'node:zlib';
import {
  OrgsyncError,
  ValidationError,
  describeIssue,
  errorInfo,
  localized,
  type ErrorInfo,
  type Lang,
} from '../errors.js';
import { linkKey, linkOf, type DirectoryState } from '../directory/model.js';
import { skipInvalidRecords, validateSnapshot, type Snapshot } from '../directory/snapshot.js';
import type { SourceConnector } from '../connectors/contract.js';
import { applyPlan, changeRecord } from '../reconcile/apply.js';
import { planEnrichment } from '../reconcile/enrich.js';
import { PlanStaleError } from '../reconcile/errors.js';
import { guard } from '../reconcile/guard.js';
import { plan as makePlan } from '../reconcile/plan.js';
import type { Policy } from '../reconcile/policy.js';
import { countChanges, type ChangeCounts, type Plan } from '../reconcile/types.js';
import type { Store } from '../store/store.js';
import { withLock } from './lock.js';
import type {
  EnrichmentCounts,
  RunKind,
  RunRecord,
  RunStatus,
  RunStep,
  RunSummary,
  RunWarning,
  Template,
} from './types.js';

export interface RunProgress {
  phase: 'read' | 'plan' | 'guard' | 'apply';
  done: number;
  total?: number;
  message?: string;
  /** The run this progress belongs to: known from the first report on, so a caller can follow a run it started. */
  runId?: number;
}

interface CommonRunOptions {
  /** The source's name: links and runs are keyed by it. */
  source: string;
  connector: SourceConnector;
  policy: Policy;
  dryRun?: boolean;
  onProgress?: (progress: RunProgress) => void;
  /** How long to wait for another run that is writing the directory. */
  lockTimeoutMs?: number;
  batchSize?: number;
  afterCommit?: (committed: number) => Promise<void> | void;
  /**
   * Holds the lease `run:<id>` under this name (`server:<host>:<pid>:<nonce>`, as the server's runner names its
   * own) from the run's creation, in the same transaction, so that no crash leaves the run without it, until the run
   * ends, renewed meanwhile. The server's sweep fails a `running` run whose lease holder is gone.
   */
  leaseHolder?: string;
}

/**
 * An import, sync or event run plans with a template (default 'full'); an enrichment run plans the snapshot's
 * fields for the users already linked to `source` (`planEnrichment`).
 */
export type RunOptions = CommonRunOptions &
  ({ kind: Exclude<RunKind, 'enrich'>; template?: Template } | { kind: 'enrich'; template?: never });

/** The run report: the contract of `--json` output and of the API. */
export interface RunReport {
  runId: number;
  kind: RunKind;
  source: string;
  status: RunStatus;
  dryRun: boolean;
  /** The template the run planned with; absent for enrichment runs and runs recorded before templates. */
  template?: Template;
  startedAt: string | null;
  finishedAt: string | null;
  changes: ChangeCounts;
  suppressed?: ChangeCounts;
  blocked?: ErrorInfo & { count: number; base: number };
  errors: ErrorInfo[];
  notes: ErrorInfo[];
  /** What the source reported about its data (e.g. text repaired from a wrong encoding). */
  warnings: RunWarning[];
  read?: RunSummary['read'];
  enrichment?: EnrichmentCounts;
  steps: RunStep[];
}

const DIRECTORY_LOCK = 'directory';

/** One step of a run: timed, logged on the run, and marked failed if it throws. */
class StepRecorder {
  private seq = 0;
  constructor(
    private readonly store: Store,
    private readonly runId: number,
  ) {}

  async start(): Promise<void> {
    this.seq = (await this.store.runs.steps(this.runId)).length;
  }

  async step<T>(name: string, fn: () => Promise<{ value: T; detail: Record<string, unknown> }>): Promise<T> {
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    try {
      const { value, detail } = await fn();
      await this.store.runs.addStep(this.runId, {
        seq: ++this.seq,
        name,
        status: 'ok',
        startedAt,
        durationMs: performance.now() - t0,
        detail,
      });
      return value;
    } catch (err) {
      const detail =
        err instanceof ValidationError ? { error: errorInfo(err), issues: err.issues } : { error: errorInfo(err) };
      await this.store.runs.addStep(this.runId, {
        seq: ++this.seq,
        name,
        status: 'failed',
        startedAt,
        durationMs: performance.now() - t0,
        detail,
      });
      throw err;
    }
  }
}

function checkSnapshot(s: Snapshot, options: RunOptions): void {
  const issues = validateSnapshot(s, options.connector.limits);
  if (issues.length > 0)
    throw new ValidationError(`the ${options.connector.kind} snapshot from "${options.source}"`, issues);
}

/**
 * The snapshot of a source that skips invalid records, without them; a problem no record can be skipped for (the
 * tree itself) still fails the run.
 */
function skipInvalid(
  s: Snapshot,
  options: RunOptions,
  directory: DirectoryState,
): { snapshot: Snapshot; skipped: ErrorInfo[] } {
  let byLink: Map<string, readonly string[]> | undefined;
  // Built only when a record is skipped: the source ids of the departments the directory has each linked user in.
  const localDepartments = (externalId: string): readonly string[] | undefined => {
    if (!byLink) {
      const deptIds = new Map<number, string>();
      for (const d of directory.departments) {
        const link = linkOf(d.links, options.source);
        if (link) deptIds.set(d.id, link.externalId);
      }
      byLink = new Map();
      for (const u of directory.users) {
        const link = linkOf(u.links, options.source);
        if (!link) continue;
        byLink.set(
          linkKey(options.source, link.externalId),
          u.memberships.flatMap((m) => deptIds.get(m.departmentId) ?? []),
        );
      }
    }
    return byLink.get(linkKey(options.source, externalId));
  };
  const { snapshot, skipped, issues } = skipInvalidRecords(s, options.connector.limits, localDepartments);
  if (issues.length > 0)
    throw new ValidationError(`the ${options.connector.kind} snapshot from "${options.source}"`, issues);
  return { snapshot, skipped };
}

const RUN_LEASE_TTL_MS = 60_000;

/** read → plan → guard → apply, recorded as one run. Never throws for a failed run: the report says so. */
export async function executeRun(store: Store, options: RunOptions): Promise<RunReport> {
  const dryRun = options.dryRun ?? false;
  const created = {
    kind: options.kind,
    source: options.source,
    dryRun,
    status: 'running' as const,
    ...(options.kind === 'enrich' ? {} : { summary: { template: options.template ?? 'full' } }),
  };
  const holder = options.leaseHolder;
  if (holder === undefined) return executeCreated(store, options, await store.runs.create(created));
  const run = await store.transaction(async (tx) => {
    const r = await tx.runs.create(created);
    await tx.locks.tryAcquire(`run:${r.id}`, holder, RUN_LEASE_TTL_MS);
    return r;
  });
  const renew = setInterval(() => {
    store.locks.tryAcquire(`run:${run.id}`, holder, RUN_LEASE_TTL_MS).catch(() => {});
  }, RUN_LEASE_TTL_MS / 3);
  renew.unref();
  try {
    return await executeCreated(store, options, run);
  } finally {
    clearInterval(renew);
    await store.locks.release(`run:${run.id}`, holder).catch(() => {});
  }
}

async function executeCreated(store: Store, options: RunOptions, run: RunRecord): Promise<RunReport> {
  const dryRun = run.dryRun;
  const steps = new StepRecorder(store, run.id);
  const onProgress = options.onProgress;
  const progress = onProgress ? (p: RunProgress): void => onProgress({ ...p, runId: run.id }) : () => {};
  const summary: RunSummary = { ...run.summary };
  try {
    progress({ phase: 'read', done: 0 });
    const snapshot = await steps.step('read', async () => {
      const s = await options.connector.pull({
        onProgress: (p) =>
          progress({
            phase: 'read',
            done: p.done,
            ...(p.total !== undefined ? { total: p.total } : {}),
            message: p.phase,
          }),
      });
      // A partial read is checked once it is rebased on the directory, a read that skips invalid records against the
      // directory (whose departments they are in): both in the plan step.
      if (!options.connector.rebase && !options.connector.skipsInvalidRecords) checkSnapshot(s, options);
      const warnings = options.connector.warnings?.() ?? [];
      if (warnings.length > 0) summary.warnings = warnings;
      summary.read = {
        departments: s.departments.length,
        users: s.users.length,
        complete: s.complete,
        incompleteDepartments: s.incompleteDepartments.length,
        unseenFields: s.unseenFields,
      };
      return {
        value: s,
        detail: {
          ...summary.read,
          ...(s.skipped?.length ? { skipped: s.skipped.length } : {}),
          ...(summary.warnings ? { warnings: summary.warnings.length } : {}),
          ...(options.connector.stats?.() ?? {}),
        },
      };
    });
    const skipped: ErrorInfo[] = [...(snapshot.skipped ?? [])];

    return await withLock(
      store,
      DIRECTORY_LOCK,
      `${hostname()}:${process.pid}:run-${run.id}`,
      options.lockTimeoutMs,
      async () => {
        progress({ phase: 'plan', done: 0 });
        const planned = await steps.step('plan', async () => {
          const directory = await store.directory.load(
            options.connector.rebase ? options.connector.scope?.() : undefined,
          );
          let whole = snapshot;
          let userScope: ReadonlySet<string> | undefined;
          if (options.connector.rebase) {
            ({ snapshot: whole, users: userScope } = options.connector.rebase(snapshot, directory));
            if (!options.connector.skipsInvalidRecords) checkSnapshot(whole, options);
          }
          if (options.connector.skipsInvalidRecords) {
            const before = whole;
            const kept = skipInvalid(before, options, directory);
            whole = kept.snapshot;
            skipped.push(...kept.skipped);
            if (summary.read && kept.skipped.length > 0) {
              summary.read.complete &&= whole.complete;
              summary.read.incompleteDepartments +=
                whole.incompleteDepartments.length - before.incompleteDepartments.length;
            }
          }
          let p: Plan;
          if (options.kind === 'enrich') {
            const enriched = planEnrichment(options.source, whole, directory, options.policy);
            p = enriched.plan;
            summary.enrichment = enriched.enrichment;
          } else {
            p = makePlan(options.source, whole, directory, options.policy, {
              ...(userScope ? { userScope } : {}),
              ...(options.template ? { template: options.template } : {}),
            });
          }
          return {
            value: p,
            detail: {
              baseRevision: p.baseRevision,
              changes: countChanges(p.departments, p.users),
              issues: p.issues.length,
              notes: p.notes.length,
              ...(skipped.length > 0 ? { skipped: skipped.length } : {}),
              ...(summary.enrichment ? { enrichment: summary.enrichment } : {}),
            },
          };
        });
        await store.runs.update(run.id, { baseRevision: planned.baseRevision });

        progress({ phase: 'guard', done: 0 });
        const guarded = await steps.step('guard', async () => {
          const g = guard(planned, options.policy);
          summary.suppressed = countChanges(g.suppressed.departments, g.suppressed.users);
          return {
            value: g,
            detail: {
              suppressed: summary.suppressed,
              blocked: g.blocked !== null,
              ...(g.blocked ? { reason: g.blocked.message } : {}),
            },
          };
        });
        const errors: ErrorInfo[] = [...skipped, ...planned.issues];
        const counts = countChanges(guarded.plan.departments, guarded.plan.users);

        if (dryRun || guarded.blocked) {
          await recordPreview(store, run.id, guarded.plan);
          await store.runs.savePlan(run.id, await encodePlan(guarded.plan));
          if (guarded.blocked) {
            summary.blocked = guarded.blocked;
            const { code, message, hint, zh } = guarded.blocked;
            errors.unshift({ code, message, ...(hint ? { hint } : {}), ...(zh ? { zh } : {}) });
          }
          await finish(store, run.id, dryRun ? 'planned' : 'blocked', counts, errors, planned.notes, summary);
          return report(store, run.id);
        }

        progress({ phase: 'apply', done: 0, total: guarded.plan.departments.length + guarded.plan.users.length });
        const result = await steps.step('apply', async () => {
          const r = await applyPlan(guarded.plan, store, {
            runId: run.id,
            ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
            onProgress: (done, total) => progress({ phase: 'apply', done, total }),
            ...(options.afterCommit ? { afterCommit: options.afterCommit } : {}),
          });
          return { value: r, detail: { applied: r.applied, errors: r.errors.length, revision: r.revision } };
        });
        errors.push(...result.errors);
        await finish(
          store,
          run.id,
          appliedStatus(errors, summary.suppressed, planned.complete),
          result.applied,
          errors,
          planned.notes,
          summary,
        );
        return report(store, run.id);
      },
    );
  } catch (err) {
    const errors =
      err instanceof ValidationError
        ? err.issues.map((i) => ({
            code: err.code,
            message: describeIssue(i),
            ...(i.hint ? { hint: i.hint } : {}),
            ...(i.object ? { object: i.object } : {}),
          }))
        : [errorInfo(err)];
    await finish(store, run.id, 'failed', undefined, errors, [], summary);
    return report(store, run.id);
  }
}

/** Applies exactly the plan a blocked (or dry-run) run stored, if the directory has not changed since. */
export async function approveRun(
  store: Store,
  runId: number,
  options: { lockTimeoutMs?: number; batchSize?: number; onProgress?: (progress: RunProgress) => void } = {},
): Promise<RunReport> {
  const run = await store.runs.get(runId);
  if (!run) {
    throw new OrgsyncError({
      code: 'RUN_NOT_FOUND',
      message: `there is no run ${runId}`,
      hint: 'See `orgsync runs list` for run ids.',
    });
  }
  if (run.status !== 'blocked' && run.status !== 'planned') {
    throw new OrgsyncError({
      code: 'RUN_NOT_APPROVABLE',
      message: `run ${runId} is ${run.status}; only a blocked or planned (dry-run) run can be approved`,
      hint: run.status === 'running' ? 'Wait for it to finish.' : 'Start a new run instead.',
    });
  }
  return withLock(
    store,
    DIRECTORY_LOCK,
    `${hostname()}:${process.pid}:approve-${runId}`,
    options.lockTimeoutMs,
    async () => {
      const stored = await store.runs.loadPlan(runId);
      if (!stored) {
        throw new OrgsyncError({
          code: 'PLAN_MISSING',
          message: `run ${runId} has no stored plan`,
          hint: 'Start a new run.',
        });
      }
      const plan = decodePlan(stored);
      const current = await store.directory.revision();
      if (current !== plan.baseRevision) throw new PlanStaleError(plan.baseRevision, current);

      const steps = new StepRecorder(store, runId);
      await steps.start();
      await store.runs.update(runId, { status: 'running', dryRun: false });
      await store.runs.clearChanges(runId);
      const summary: RunSummary = { ...run.summary, approvedAt: new Date().toISOString() };
      try {
        const result = await steps.step('apply', async () => {
          const onProgress = options.onProgress;
          onProgress?.({ phase: 'apply', done: 0, total: plan.departments.length + plan.users.length, runId });
          const r = await applyPlan(plan, store, {
            runId,
            ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
            ...(onProgress
              ? { onProgress: (done: number, total: number) => onProgress({ phase: 'apply', done, total, runId }) }
              : {}),
          });
          return {
            value: r,
            detail: { approved: true, applied: r.applied, errors: r.errors.length, revision: r.revision },
          };
        });
        await store.runs.savePlan(runId, null);
        const errors = [...plan.issues, ...result.errors];
        await finish(
          store,
          runId,
          appliedStatus(errors, summary.suppressed, plan.complete),
          result.applied,
          errors,
          run.notes,
          summary,
        );
      } catch (err) {
        await finish(store, runId, 'failed', undefined, [errorInfo(err)], run.notes, summary);
      }
      return report(store, runId);
    },
  );
}

/** An applied run is partial when something was left out, failed, or held back, or the source was not read in full. */
function appliedStatus(
  errors: readonly ErrorInfo[],
  suppressed: ChangeCounts | undefined,
  sourceComplete: boolean,
): RunStatus {
  const heldBack =
    suppressed !== undefined &&
    [...Object.values(suppressed.departments), ...Object.values(suppressed.users)].some((n) => n > 0);
  return errors.length > 0 || heldBack || !sourceComplete ? 'partial' : 'succeeded';
}

/** Changes of a preview built and written at once: a 100,000-change plan is not held twice more as records and rows. */
const PREVIEW_BATCH = 2_000;

async function recordPreview(store: Store, runId: number, plan: Plan): Promise<void> {
  const ctx = { departmentIds: new Map<string, number>(), seq: 1 };
  await store.transaction(async (tx) => {
    for (let i = 0; i < plan.departments.length; i += PREVIEW_BATCH)
      await tx.runs.addChanges(
        runId,
        plan.departments
          .slice(i, i + PREVIEW_BATCH)
          .map((c) => changeRecord(ctx, 'department', c, typeof c.ref === 'number' ? c.ref : null)),
      );
    for (let i = 0; i < plan.users.length; i += PREVIEW_BATCH)
      await tx.runs.addChanges(
        runId,
        plan.users
          .slice(i, i + PREVIEW_BATCH)
          .map((c) => changeRecord(ctx, 'user', c, typeof c.ref === 'number' ? c.ref : null)),
      );
  });
}

async function finish(
  store: Store,
  runId: number,
  status: RunStatus,
  counts: ChangeCounts | undefined,
  errors: ErrorInfo[],
  notes: ErrorInfo[],
  summary: RunSummary,
): Promise<void> {
  await store.runs.update(runId, {
    status,
    finishedAt: new Date().toISOString(),
    ...(counts ? { counts } : {}),
    errors,
    notes,
    summary,
  });
}

export async function report(store: Store, runId: number): Promise<RunReport> {
  const run = (await store.runs.get(runId)) as RunRecord;
  return toReport(run, await store.runs.steps(runId));
}

/** A run as its report, its errors and notes in `lang` (see `localized`). */
export function toReport(run: RunRecord, steps: RunStep[], lang: Lang = 'en'): RunReport {
  const blocked = run.summary.blocked;
  return {
    runId: run.id,
    kind: run.kind,
    source: run.source,
    status: run.status,
    dryRun: run.dryRun,
    ...(run.summary.template ? { template: run.summary.template } : {}),
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    changes: run.counts,
    ...(run.summary.suppressed ? { suppressed: run.summary.suppressed } : {}),
    ...(blocked ? { blocked: { ...localized(blocked, lang), count: blocked.count, base: blocked.base } } : {}),
    errors: run.errors.map((e) => localized(e, lang)),
    notes: run.notes.map((e) => localized(e, lang)),
    warnings: (run.summary.warnings ?? []).map((w) => localized(w, lang)),
    ...(run.summary.read ? { read: run.summary.read } : {}),
    ...(run.summary.enrichment ? { enrichment: run.summary.enrichment } : {}),
    steps,
  };
}

/**
 * The plan as gzipped JSON, the same document JSON.stringify(plan) is, compressed as it is written: a large plan's
 * JSON (hundreds of MB of UTF-16 for 100,000 changes) is never one string.
 */
export async function encodePlan(plan: Plan): Promise<Buffer> {
  const gzip = createGzip();
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  let pending = '';
  const write = async (text: string): Promise<void> => {
    pending += text;
    if (pending.length < 1 << 20) return;
    const chunk = pending;
    pending = '';
    if (!gzip.write(chunk)) await once(gzip, 'drain');
  };
  let first = true;
  await write('{');
  for (const [key, value] of Object.entries(plan)) {
    if (value === undefined || typeof value === 'function') continue;
    await write(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    if (!Array.isArray(value)) {
      await write(JSON.stringify(value));
      continue;
    }
    await write('[');
    for (let i = 0; i < value.length; i++) await write(`${i === 0 ? '' : ','}${JSON.stringify(value[i]) ?? 'null'}`);
    await write(']');
  }
  gzip.end(`${pending}}`);
  await ended;
  return Buffer.concat(out);
}

export function decodePlan(data: Buffer): Plan {
  return JSON.parse(gunzipSync(data).toString('utf8')) as Plan;
}
