import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/**
 * Versioned migrations, run on every start. Never edit a released migration: add a new one.
 * Types are chosen to mean the same on both engines (bigint ids, ISO-8601 text timestamps, 0/1 flags).
 */
function migrations(dialect: DialectName): Record<string, Migration> {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  // On SQLite only "integer primary key" is the rowid itself; "bigint primary key" would add a second index and
  // turn every scan by id into random lookups.
  const id = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    '0001_directory_and_runs': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('counters')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('departments')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('parent_id', 'bigint', (c) => c.references('departments.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('sort_order', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('departments_parent').on('departments').column('parent_id').execute();
        await db.schema
          .createTable('users')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('userid', 'text')
          .addColumn('userid_key', 'text', (c) => c.unique())
          .addColumn('name', 'text')
          .addColumn('alias', 'text')
          .addColumn('position', 'text')
          .addColumn('mobile', 'text')
          .addColumn('email', 'text')
          .addColumn('telephone', 'text')
          .addColumn('gender', 'text')
          .addColumn('avatar', 'text')
          .addColumn('address', 'text')
          .addColumn('employee_no', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('main_department_id', 'bigint', (c) => c.references('departments.id').onDelete('set null'))
          .addColumn('attributes', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('memberships')
          .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('department_id', 'bigint', (c) => c.notNull().references('departments.id').onDelete('cascade'))
          .addColumn('sort_order', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('leader', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'department_id'])
          .execute();
        await db.schema.createIndex('memberships_department').on('memberships').column('department_id').execute();
        await db.schema
          .createTable('links')
          .addColumn('object_kind', 'text', (c) => c.notNull())
          .addColumn('object_id', 'bigint', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('external_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('links_pk', ['object_kind', 'source', 'external_id'])
          .addUniqueConstraint('links_one_per_source', ['object_kind', 'object_id', 'source'])
          .execute();
        await db.schema
          .createTable('runs')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('dry_run', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .addColumn('base_revision', 'bigint')
          .addColumn('counts', 'text', (c) => c.notNull())
          .addColumn('errors', 'text', (c) => c.notNull())
          .addColumn('notes', 'text', (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('plan', blob)
          .execute();
        await db.schema
          .createTable('run_steps')
          .addColumn('run_id', 'bigint', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .addColumn('detail', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_steps_pk', ['run_id', 'seq'])
          .execute();
        await db.schema
          .createTable('run_changes')
          .addColumn('run_id', 'bigint', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('object_kind', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('object_id', 'bigint')
          .addColumn('external_id', 'text', (c) => c.notNull())
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('fields', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_changes_pk', ['run_id', 'seq'])
          .execute();
        await db.schema
          .createIndex('run_changes_object')
          .on('run_changes')
          .columns(['object_kind', 'object_id'])
          .execute();
        await db.schema
          .createTable('locks')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();

        const now = new Date().toISOString();
        await db
          .insertInto('counters')
          .values([
            { name: 'revision', value: 0 },
            { name: 'department', value: 1 },
            { name: 'user', value: 0 },
            { name: 'run', value: 0 },
          ])
          .execute();
        await db
          .insertInto('departments')
          .values({ id: 1, parent_id: null, name: 'Organization', sort_order: 0, created_at: now, updated_at: now })
          .execute();
      },
    },
    '0002_connections': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('connections')
          .addColumn('id', id, (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('settings', 'text', (c) => c.notNull())
          .addColumn('secrets', 'text', (c) => c.notNull())
          .addColumn('policy', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.insertInto('counters').values({ name: 'connection', value: 0 }).execute();
      },
    },
    '0003_link_data': {
      async up(db: Kysely<any>) {
        // What a source keeps on a link besides the id, as a JSON object of strings (e.g. DingTalk's unionid,
        // which sign-in maps back to the user); null when there is nothing.
        await db.schema.alterTable('links').addColumn('data', 'text').execute();
      },
    },
    '0004_server': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('admins')
          .addColumn('username', 'text', (c) => c.primaryKey())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().references('admins.username').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .execute();
        await db.schema
          .alterTable('connections')
          .addColumn('sync_enabled', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0005_event_inbox': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('event_inbox')
          .addColumn('id', id, (c) =>
            dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
          )
          .addColumn('connection', 'text', (c) => c.notNull())
          .addColumn('dedupe_key', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('events', 'text', (c) => c.notNull())
          .addColumn('received_at', 'text', (c) => c.notNull())
          .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('run_id', 'bigint')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addUniqueConstraint('event_inbox_dedupe', ['connection', 'dedupe_key'])
          .execute();
        await db.schema
          .createIndex('event_inbox_pending')
          .on('event_inbox')
          .columns(['connection', 'done', 'id'])
          .execute();
      },
    },
    '0006_reconcile_schedule': {
      async up(db: Kysely<any>) {
        // The scheduled full sync of a connection as a cron expression; null: off. Existing connections get the
        // default, daily at 02:00, like new ones.
        await db.schema
          .alterTable('connections')
          .addColumn('reconcile_cron', 'text', (c) => c.defaultTo('0 2 * * *'))
          .execute();
      },
    },
    '0007_run_changes_clustered': {
      async up(db: Kysely<any>) {
        // SQLite: the change log becomes a WITHOUT ROWID table clustered on (run_id, seq), so each recorded change
        // costs two b-tree inserts (the table and the object index) instead of three (rowid table, key, index).
        // PostgreSQL keeps its heap and indexes.
        if (dialect !== 'sqlite') return;
        await db.schema
          .createTable('run_changes_clustered')
          .addColumn('run_id', 'bigint', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('object_kind', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('object_id', 'bigint')
          .addColumn('external_id', 'text', (c) => c.notNull())
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('fields', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_changes_pk', ['run_id', 'seq'])
          .modifyEnd(sql`without rowid`)
          .execute();
        await sql`insert into run_changes_clustered select run_id, seq, object_kind, action, object_id, external_id, label, fields from run_changes`.execute(
          db,
        );
        await db.schema.dropTable('run_changes').execute();
        await db.schema.alterTable('run_changes_clustered').renameTo('run_changes').execute();
        await db.schema
          .createIndex('run_changes_object')
          .on('run_changes')
          .columns(['object_kind', 'object_id'])
          .execute();
      },
    },
    '0008_login_attempts': {
      async up(db: Kysely<any>) {
        // Sign-in back-off shared by every instance on this database (it was per process, in memory).
        await db.schema
          .createTable('login_attempts')
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('ip', 'text', (c) => c.notNull())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('blocked_until', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('login_attempts_pk', ['username', 'ip'])
          .execute();
        await db.schema.createIndex('login_attempts_updated').on('login_attempts').column('updated_at').execute();
        // A generated first password must be changed at first sign-in; existing admins chose theirs (or kept the one
        // printed before this flag existed: they are not forced now).
        await db.schema
          .alterTable('admins')
          .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0009_master_key_fingerprint': {
      async up(db: Kysely<any>) {
        // Named values of the installation as a whole; the first is the fingerprint of the master key the stored
        // secrets are sealed with, so a start with another key is refused instead of splitting the store.
        await db.schema
          .createTable('settings')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0010_event_dead_letter': {
      async up(db: Kysely<any>) {
        // A message that fails again and again stops being tried (done = 2, a dead letter) and keeps its last error
        // whole; a failed one waits for next_attempt_at, so one bad object does not hold the others.
        for (const column of ['error_code', 'error_hint', 'error_object', 'error_zh', 'next_attempt_at', 'dead_at']) {
          await db.schema.alterTable('event_inbox').addColumn(column, 'text').execute();
        }
      },
    },
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}
