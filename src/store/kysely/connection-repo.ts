import { OrgsyncError } from '../../errors.js';
import {
  DEFAULT_RECONCILE_CRON,
  type ConnectionRepo,
  type ConnectionRow,
  type ConnectionRowPatch,
  type NewConnection,
} from '../connection-repo.js';
import type { DialectName } from '../migrations.js';
import type { ConnectionsTable } from '../schema.js';
import { now, type Db } from './db.js';

function connectionFromRow(r: ConnectionsTable): ConnectionRow {
  return {
    id: r.id,
    name: r.name,
    platform: r.platform,
    settings: JSON.parse(r.settings) as Record<string, unknown>,
    secrets: r.secrets,
    policy: JSON.parse(r.policy) as Record<string, unknown>,
    syncEnabled: r.sync_enabled === 1,
    reconcileCron: r.reconcile_cron,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

export class KyselyConnectionRepo implements ConnectionRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: DialectName,
  ) {}

  async create(connection: NewConnection): Promise<ConnectionRow> {
    const id = await this.nextId();
    const at = now();
    const row: ConnectionsTable = {
      id,
      name: connection.name,
      platform: connection.platform,
      settings: JSON.stringify(connection.settings),
      secrets: connection.secrets,
      policy: JSON.stringify(connection.policy),
      sync_enabled: connection.syncEnabled ? 1 : 0,
      reconcile_cron: connection.reconcileCron === undefined ? DEFAULT_RECONCILE_CRON : connection.reconcileCron,
      created_at: at,
      updated_at: at,
    };
    try {
      await this.db.insertInto('connections').values(row).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        {
          code: 'CONNECTION_EXISTS',
          message: `a connection named "${connection.name}" exists already`,
          hint: `Choose another name, or change that one with \`orgsync connection update ${connection.name}\`.`,
        },
        { cause: err },
      );
    }
    return connectionFromRow(row);
  }

  async get(name: string, options: { forUpdate?: boolean } = {}): Promise<ConnectionRow | undefined> {
    let q = this.db.selectFrom('connections').selectAll().where('name', '=', name);
    if (options.forUpdate && this.dialect === 'postgres' && this.db.isTransaction) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return row ? connectionFromRow(row) : undefined;
  }

  async list(): Promise<ConnectionRow[]> {
    const rows = await this.db.selectFrom('connections').selectAll().execute();
    // By name, compared as code units: the same order whatever the database's collation.
    return rows.map(connectionFromRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async update(name: string, patch: ConnectionRowPatch): Promise<ConnectionRow | undefined> {
    const v: Partial<ConnectionsTable> = {};
    if (patch.settings !== undefined) v.settings = JSON.stringify(patch.settings);
    if (patch.secrets !== undefined) v.secrets = patch.secrets;
    if (patch.policy !== undefined) v.policy = JSON.stringify(patch.policy);
    if (patch.syncEnabled !== undefined) v.sync_enabled = patch.syncEnabled ? 1 : 0;
    if (patch.reconcileCron !== undefined) v.reconcile_cron = patch.reconcileCron;
    const row = await this.db
      .updateTable('connections')
      .set({ ...v, updated_at: now() })
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
    return row ? connectionFromRow(row) : undefined;
  }

  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('connections').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private async nextId(): Promise<number> {
    const row = await this.db
      .updateTable('counters')
      .set((eb) => ({ value: eb('value', '+', 1) }))
      .where('name', '=', 'connection')
      .returning('value')
      .executeTakeFirstOrThrow();
    return row.value;
  }
}
