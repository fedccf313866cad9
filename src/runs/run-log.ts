import type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep, Store } from '../store/store.js';

/** Which runs a list takes: newest first, at most `limit`, older than `beforeId` for the next page. */
export interface RunFilter {
  limit: number;
  source?: string | undefined;
  status?: RunStatus | undefined;
  kind?: RunKind | undefined;
  beforeId?: number | undefined;
}

/** The recorded runs as readers see them (the API; the CLI reads the same through the store). */
export class RunLog {
  constructor(private readonly store: Store) {}

  list(filter: RunFilter): Promise<RunRecord[]> {
    return this.store.runs.list({
      limit: filter.limit,
      ...(filter.source !== undefined ? { source: filter.source } : {}),
      ...(filter.status !== undefined ? { status: filter.status } : {}),
      ...(filter.kind !== undefined ? { kind: filter.kind } : {}),
      ...(filter.beforeId !== undefined ? { beforeId: filter.beforeId } : {}),
    });
  }

  /** One run with its steps, its first `changeLimit` changes and how many it recorded; undefined: no such run. */
  async detail(
    id: number,
    changeLimit: number,
  ): Promise<{ run: RunRecord; steps: RunStep[]; changes: RunChangeRecord[]; total: number } | undefined> {
    const run = await this.store.runs.get(id);
    if (!run) return undefined;
    const [steps, changes, total] = [
      await this.store.runs.steps(run.id),
      await this.store.runs.changes(run.id, { limit: changeLimit }),
      await this.store.runs.countChanges(run.id),
    ];
    return { run, steps, changes, total };
  }

  /** A page of a run's changes in the order they were recorded, and how many there are; undefined: no such run. */
  async changes(
    id: number,
    page: { limit: number; offset: number },
  ): Promise<{ items: RunChangeRecord[]; total: number } | undefined> {
    if (!(await this.store.runs.get(id))) return undefined;
    return { items: await this.store.runs.changes(id, page), total: await this.store.runs.countChanges(id) };
  }
}
