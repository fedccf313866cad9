import type { ErrorInfo } from '../errors.js';

/** The run log: each run with its steps, its recorded changes and its stored plan. */

/** 'enrich': a file filling the fields a connection's API cannot see, for the users already linked to it. */
export const RUN_KINDS = ['import', 'sync', 'push', 'event', 'enrich'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/**
 * What part of a source's word a run takes: 'create-update' creates and updates and removes nothing, 'delete-only'
 * removes what the source no longer lists and creates or updates nothing, 'full' does both.
 */
export const TEMPLATES = ['create-update', 'delete-only', 'full'] as const;
export type Template = (typeof TEMPLATES)[number];

export const RUN_STATUSES = ['planned', 'running', 'succeeded', 'partial', 'failed', 'blocked'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunRecord {
  id: number;
  kind: RunKind;
  source: string;
  status: RunStatus;
  dryRun: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  baseRevision: number | null;
  counts: ChangeCounts;
  errors: ErrorInfo[];
  notes: ErrorInfo[];
  summary: RunSummary;
}

/**
 * Something about the source's data worth knowing that changed nothing by itself (e.g. text repaired from a wrong
 * encoding), with how many rows it concerns and one example.
 */
export interface RunWarning extends ErrorInfo {
  rows?: number;
  example?: { before: string; after: string };
}

/** An enrichment run's match of the file's rows to the users linked to the connection. */
export interface EnrichmentCounts {
  /** Rows whose account is a user linked to the connection. */
  matched: number;
  /** Matched rows that changed their user. */
  enriched: number;
  /** Rows whose account no user linked to the connection has. */
  unmatched: number;
  /** The first (at most 10) unmatched accounts, in the file's order. */
  unmatchedAccounts: string[];
}

/** What a run report shows beyond its counts. */
export interface RunSummary {
  /** The template the run planned with (absent on enrichment runs and on runs recorded before templates). */
  template?: Template;
  /** What the source reported about its data (see RunWarning). */
  warnings?: RunWarning[];
  enrichment?: EnrichmentCounts;
  /** Changes held back because they lay in a part of the tree the source could not read in full. */
  suppressed?: ChangeCounts;
  /** Why the run waits for approval. */
  blocked?: ErrorInfo & { count: number; base: number };
  /** What the source delivered. */
  read?: {
    departments: number;
    users: number;
    complete: boolean;
    incompleteDepartments: number;
    unseenFields: string[];
  };
  approvedAt?: string;
  [extra: string]: unknown;
}

export interface RunStep {
  seq: number;
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  startedAt: string;
  durationMs: number;
  detail: Record<string, unknown>;
}

export interface RunChangeRecord {
  seq: number;
  objectKind: 'department' | 'user';
  action: string;
  /** The local id; null for a create that was only planned. */
  objectId: number | null;
  externalId: string;
  label: string;
  fields: Record<string, FieldDiff>;
}

export interface FieldDiff {
  before: unknown;
  after: unknown;
}

export type DepartmentAction = 'create' | 'update' | 'move' | 'delete';
export type UserAction = 'create' | 'update' | 'disable' | 'enable' | 'delete';

export interface ChangeCounts {
  departments: Record<DepartmentAction, number>;
  users: Record<UserAction, number>;
}

export function emptyCounts(): ChangeCounts {
  return {
    departments: { create: 0, update: 0, move: 0, delete: 0 },
    users: { create: 0, update: 0, disable: 0, enable: 0, delete: 0 },
  };
}

export interface NewRun {
  kind: RunKind;
  source: string;
  dryRun: boolean;
  status: RunStatus;
  /** Known from the start (e.g. the template); default empty. */
  summary?: RunSummary;
}

export type RunPatch = Partial<Omit<RunRecord, 'id' | 'kind' | 'source' | 'createdAt'>>;

export interface RunRepo {
  create(run: NewRun): Promise<RunRecord>;
  update(id: number, patch: RunPatch): Promise<void>;
  get(id: number): Promise<RunRecord | undefined>;
  /** Newest first. */
  list(options?: {
    limit?: number;
    source?: string;
    status?: RunStatus;
    kind?: RunKind;
    beforeId?: number;
  }): Promise<RunRecord[]>;
  addStep(runId: number, step: RunStep): Promise<void>;
  steps(runId: number): Promise<RunStep[]>;
  addChanges(runId: number, changes: readonly RunChangeRecord[]): Promise<void>;
  changes(runId: number, options?: { limit?: number; offset?: number }): Promise<RunChangeRecord[]>;
  countChanges(runId: number): Promise<number>;
  /** Removes the recorded changes (a stored preview replaced by the applied result). */
  clearChanges(runId: number): Promise<void>;
  savePlan(runId: number, plan: Buffer | null): Promise<void>;
  loadPlan(runId: number): Promise<Buffer | null>;
}
