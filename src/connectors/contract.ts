import type { PlatformLimits } from '../directory/limits.js';
import type { DirectoryState } from '../directory/model.js';
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
  /** Reads the whole org as the source sees it, declaring what it could not read or cannot see. */
  pull(ctx: PullContext): Promise<Snapshot>;
  /** Facts about the read for the run's log (e.g. API calls made). */
  readonly stats?: () => Record<string, unknown>;
  /**
   * For a source that reads only some objects (contact-change events): turns what `pull` returned into the whole
   * org as the source sees it, from the directory loaded under the run's lock. The result is what is validated
   * and planned.
   */
  readonly rebase?: (pulled: Snapshot, directory: DirectoryState) => Snapshot;
}
