import type SqliteDatabase from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { AccessRepo } from '../access-repo.js';
import type { ConnectionRepo } from '../connection-repo.js';
import type { DirectoryRepo } from '../directory-repo.js';
import type { InboxRepo } from '../inbox-repo.js';
import type { LockRepo } from '../lock-repo.js';
import type { DialectName } from '../migrations.js';
import type { RunRepo } from '../run-repo.js';
import type { Database } from '../schema.js';
import type { SettingsRepo } from '../settings-repo.js';
import type { Store, StoreRepos } from '../store.js';
import type { ViewRepo } from '../view-repo.js';
import { KyselyAccessRepo } from './access-repo.js';
import { BulkInsert } from './bulk-insert.js';
import { KyselyConnectionRepo } from './connection-repo.js';
import type { Db } from './db.js';
import { KyselyDirectoryRepo } from './directory-repo.js';
import { KyselyInboxRepo } from './inbox-repo.js';
import { KyselyLockRepo } from './lock-repo.js';
import { RowReader } from './row-reader.js';
import { KyselyRunRepo } from './run-repo.js';
import { KyselySettingsRepo } from './settings-repo.js';
import { KyselyViewRepo } from './view-repo.js';

function repos(db: Db, dialect: DialectName, bulk: BulkInsert, reader: RowReader): StoreRepos {
  const directory = new KyselyDirectoryRepo(db, dialect, bulk, reader);
  return {
    directory,
    runs: new KyselyRunRepo(db, bulk, directory),
    locks: new KyselyLockRepo(db),
    connections: new KyselyConnectionRepo(db, dialect),
    access: new KyselyAccessRepo(db),
    views: new KyselyViewRepo(db, dialect, reader),
    inbox: new KyselyInboxRepo(db),
    settings: new KyselySettingsRepo(db),
  };
}

export class KyselyStore implements Store {
  readonly directory: DirectoryRepo;
  readonly runs: RunRepo;
  readonly locks: LockRepo;
  readonly connections: ConnectionRepo;
  readonly access: AccessRepo;
  readonly views: ViewRepo;
  readonly inbox: InboxRepo;
  readonly settings: SettingsRepo;

  private readonly bulk: BulkInsert;
  private readonly reader: RowReader;

  /** `sqlite`: the connection under a SQLite store's Kysely, for reads that skip building row objects. */
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    sqlite?: SqliteDatabase.Database,
  ) {
    this.bulk = new BulkInsert(dialect);
    this.reader = new RowReader(sqlite);
    const r = repos(db, dialect, this.bulk, this.reader);
    this.directory = r.directory;
    this.runs = r.runs;
    this.locks = r.locks;
    this.connections = r.connections;
    this.access = r.access;
    this.views = r.views;
    this.inbox = r.inbox;
    this.settings = r.settings;
  }

  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(repos(trx, this.dialect, this.bulk, this.reader)));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
