import {
  emptyCounts,
  type NewRun,
  type RunChangeRecord,
  type RunKind,
  type RunPatch,
  type RunRecord,
  type RunRepo,
  type RunStatus,
  type RunStep,
} from '../run-repo.js';
import type { RunsTable } from '../schema.js';
import type { BulkInsert } from './bulk-insert.js';
import { now, type Db } from './db.js';
import type { KyselyDirectoryRepo } from './directory-repo.js';
import { decodeFields, encodeFields } from './run-changes.js';

function runFromRow(r: Omit<RunsTable, 'plan'>): RunRecord {
  return {
    id: r.id,
    kind: r.kind as RunKind,
    source: r.source,
    status: r.status as RunStatus,
    dryRun: r.dry_run === 1,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    baseRevision: r.base_revision,
    counts: JSON.parse(r.counts),
    errors: JSON.parse(r.errors),
    notes: JSON.parse(r.notes),
    summary: JSON.parse(r.summary),
  };
}

const RUN_COLUMNS = [
  'id',
  'kind',
  'source',
  'status',
  'dry_run',
  'created_at',
  'started_at',
  'finished_at',
  'base_revision',
  'counts',
  'errors',
  'notes',
  'summary',
] as const;

export class KyselyRunRepo implements RunRepo {
  constructor(
    private readonly db: Db,
    private readonly bulk: BulkInsert,
    private readonly directory: KyselyDirectoryRepo,
  ) {}

  async create(run: NewRun): Promise<RunRecord> {
    const id = await this.directory.allocateIds('run', 1);
    const row = {
      id,
      kind: run.kind,
      source: run.source,
      status: run.status,
      dry_run: run.dryRun ? 1 : 0,
      created_at: now(),
      started_at: now(),
      finished_at: null,
      base_revision: null,
      counts: JSON.stringify(emptyCounts()),
      errors: '[]',
      notes: '[]',
      summary: JSON.stringify(run.summary ?? {}),
      plan: null,
    };
    await this.db.insertInto('runs').values(row).execute();
    return runFromRow(row);
  }

  async update(id: number, patch: RunPatch): Promise<void> {
    const v: Partial<RunsTable> = {};
    if (patch.status !== undefined) v.status = patch.status;
    if (patch.dryRun !== undefined) v.dry_run = patch.dryRun ? 1 : 0;
    if (patch.startedAt !== undefined) v.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) v.finished_at = patch.finishedAt;
    if (patch.baseRevision !== undefined) v.base_revision = patch.baseRevision;
    if (patch.counts !== undefined) v.counts = JSON.stringify(patch.counts);
    if (patch.errors !== undefined) v.errors = JSON.stringify(patch.errors);
    if (patch.notes !== undefined) v.notes = JSON.stringify(patch.notes);
    if (patch.summary !== undefined) v.summary = JSON.stringify(patch.summary);
    if (Object.keys(v).length === 0) return;
    await this.db.updateTable('runs').set(v).where('id', '=', id).execute();
  }

  async get(id: number): Promise<RunRecord | undefined> {
    const row = await this.db.selectFrom('runs').select(RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? runFromRow(row) : undefined;
  }

  async list(
    options: { limit?: number; source?: string; status?: RunStatus; kind?: RunKind; beforeId?: number } = {},
  ): Promise<RunRecord[]> {
    let q = this.db
      .selectFrom('runs')
      .select(RUN_COLUMNS)
      .orderBy('id', 'desc')
      .limit(options.limit ?? 50);
    if (options.source !== undefined) q = q.where('source', '=', options.source);
    if (options.status !== undefined) q = q.where('status', '=', options.status);
    if (options.kind !== undefined) q = q.where('kind', '=', options.kind);
    if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
    return (await q.execute()).map(runFromRow);
  }

  async addStep(runId: number, step: RunStep): Promise<void> {
    await this.db
      .insertInto('run_steps')
      .values({
        run_id: runId,
        seq: step.seq,
        name: step.name,
        status: step.status,
        started_at: step.startedAt,
        duration_ms: Math.round(step.durationMs),
        detail: JSON.stringify(step.detail),
      })
      .execute();
  }

  async steps(runId: number): Promise<RunStep[]> {
    const rows = await this.db.selectFrom('run_steps').selectAll().where('run_id', '=', runId).orderBy('seq').execute();
    return rows.map((r) => ({
      seq: r.seq,
      name: r.name,
      status: r.status as RunStep['status'],
      startedAt: r.started_at,
      durationMs: r.duration_ms,
      detail: JSON.parse(r.detail),
    }));
  }

  async addChanges(runId: number, changes: readonly RunChangeRecord[]): Promise<void> {
    await this.bulk.run(
      this.db,
      'run_changes',
      ['run_id', 'seq', 'object_kind', 'action', 'object_id', 'external_id', 'label', 'fields'],
      changes.map((c) => [runId, c.seq, c.objectKind, c.action, c.objectId, c.externalId, c.label, encodeFields(c)]),
    );
  }

  async changes(runId: number, options: { limit?: number; offset?: number } = {}): Promise<RunChangeRecord[]> {
    const rows = await this.db
      .selectFrom('run_changes')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .limit(options.limit ?? 1_000_000)
      .offset(options.offset ?? 0)
      .execute();
    return rows.map((r) => ({
      seq: r.seq,
      objectKind: r.object_kind,
      action: r.action,
      objectId: r.object_id,
      externalId: r.external_id,
      label: r.label,
      fields: decodeFields(r.fields),
    }));
  }

  async countChanges(runId: number): Promise<number> {
    const row = await this.db
      .selectFrom('run_changes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async clearChanges(runId: number): Promise<void> {
    await this.db.deleteFrom('run_changes').where('run_id', '=', runId).execute();
  }

  async savePlan(runId: number, plan: Buffer | null): Promise<void> {
    await this.db.updateTable('runs').set({ plan }).where('id', '=', runId).execute();
  }

  async loadPlan(runId: number): Promise<Buffer | null> {
    const row = await this.db.selectFrom('runs').select('plan').where('id', '=', runId).executeTakeFirst();
    return row?.plan ? Buffer.from(row.plan) : null;
  }
}
