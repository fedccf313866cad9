import type { PlatformLimits } from '../directory/limits.js';
import type { DirectoryState, UserScope } from '../directory/model.js';
import type { Snapshot } from '../directory/snapshot.js';

/** The only shapes the core knows of a source: everything platform-specific stays behind them. */

export interface PullProgress {
  phase: string;
  done: number;
  total?: number;
}

export interface PullContext {
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface SourceConnector {
  /** What kind of source this is, e.g. "json", "wecom". */
  readonly kind: string;
  /** The limits its data is checked against before planning. */
  readonly limits: PlatformLimits;
  /**
   * A platform's read: a record that fails the limits is skipped (a run error naming it, its departments marked
   * incomplete, the run partial) instead of failing the run, so one bad record does not stop the corp's sync. A file
   * the operator hands in is refused whole instead (absent or false).
   */
  readonly skipsInvalidRecords?: boolean;
  /** Reads the whole org as the source sees it, declaring what it could not read or cannot see. */
  pull(ctx: PullContext): Promise<Snapshot>;
  /** Facts about the read for the run's log (e.g. API calls made). */
  readonly stats?: () => Record<string, unknown>;
  /**
   * For a source that reads only some objects (contact-change events): turns what `pull` returned into the org as
   * the source sees it, from the directory loaded under the run's lock. The result is what is validated and planned.
   */
  readonly rebase?: (pulled: Snapshot, directory: DirectoryState) => Rebased;
  /**
   * With `rebase`: the users the rebase and its plan need, asked after `pull`; the run then loads only those users
   * (and every department) instead of the whole directory.
   */
  readonly scope?: () => UserScope;
}

/**
 * A rebased snapshot: every department of the source, and of its users only those in `users` (by the source's id):
 * the ones the run touched. The plan leaves every other user linked to the source as it is, neither changed nor
 * gone, so a run of a few events costs what those users cost, not the whole directory.
 */
export interface Rebased {
  snapshot: Snapshot;
  users: ReadonlySet<string>;
}
