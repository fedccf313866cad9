import type { AccessRepo } from './access-repo.js';
import type { ConnectionRepo } from './connection-repo.js';
import type { DirectoryRepo } from './directory-repo.js';
import type { InboxRepo } from './inbox-repo.js';
import type { LockRepo } from './lock-repo.js';
import type { DialectName } from './migrations.js';
import type { RunRepo } from './run-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import type { ViewRepo } from './view-repo.js';

/*
 * The store's ports: one file per repository, each declaring the rows it takes and gives (nothing here knows the
 * layers above). The Kysely implementation is in kysely/. The ports' types are exported from here too, so a caller
 * imports the store from one place.
 */
export type * from './access-repo.js';
export type * from './directory-repo.js';
export type * from './inbox-repo.js';
export type * from './lock-repo.js';
export type * from './run-repo.js';
export type * from './settings-repo.js';
export type * from './view-repo.js';
export type { ConnectionRepo, ConnectionRow, ConnectionRowPatch } from './connection-repo.js';
export { DEFAULT_RECONCILE_CRON } from './connection-repo.js';

export interface StoreRepos {
  directory: DirectoryRepo;
  runs: RunRepo;
  locks: LockRepo;
  connections: ConnectionRepo;
  /** Admins, sessions and API tokens of the server. */
  access: AccessRepo;
  /** Pages and summaries the server's API reads. */
  views: ViewRepo;
  /** Contact-change messages from the platforms' callbacks, stored before they are answered. */
  inbox: InboxRepo;
  /** Named values of the installation, e.g. the master key's fingerprint. */
  settings: SettingsRepo;
}

export interface Store extends StoreRepos {
  readonly dialect: DialectName;
  /** Runs fn in one transaction: all of its writes land, or none. */
  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
