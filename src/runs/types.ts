/** A run as the store records it: the run log's types are the store's own (src/store/run-repo.ts). */
export { RUN_KINDS, RUN_STATUSES } from '../store/run-repo.js';
export type { RunChangeRecord, RunKind, RunRecord, RunStatus, RunStep, RunSummary } from '../store/run-repo.js';
