/** A run as the store records it: the run log's types are the store's own (src/store/run-repo.ts). */
export { RUN_KINDS, RUN_STATUSES, TEMPLATES } from '../store/run-repo.js';
export type {
  EnrichmentCounts,
  RunChangeRecord,
  RunKind,
  RunRecord,
  RunStatus,
  RunStep,
  RunSummary,
  RunWarning,
  Template,
} from '../store/run-repo.js';
