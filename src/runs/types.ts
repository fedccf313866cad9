import type { ErrorInfo } from '../errors.js';
import type { ChangeCounts, FieldDiff } from '../reconcile/types.js';

export const RUN_KINDS = ['import', 'sync', 'push', 'event'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

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

/** What a run report shows beyond its counts. */
export interface RunSummary {
  /** Changes held back because they lay in a part of the tree the source could not read in full. */
  suppressed?: ChangeCounts;
  /** Why the run waits for approval. */
  blocked?: ErrorInfo & { count: number; base: number };
  /** What the source delivered. */
  read?: { departments: number; users: number; complete: boolean; incompleteDepartments: number; unseenFields: string[] };
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
