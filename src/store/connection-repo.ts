/** A configured source: settings and policy as JSON values, secrets as the encrypted blob, never in the clear. */
export interface ConnectionRow {
  id: number;
  /** Unique; also the source name on links and runs. */
  name: string;
  /** A platform id of the registry; the connection service checks it, so a new platform needs nothing here. */
  platform: string;
  settings: Record<string, unknown>;
  secrets: string;
  policy: Record<string, unknown>;
  /** Org sync is switched on (开启同步): runs started from the API need it. New connections start with it off. */
  syncEnabled: boolean;
  /** The scheduled full sync of the connection, a cron expression (checked by the connection service); null: off. */
  reconcileCron: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A connection's scheduled full sync unless it says otherwise: daily at 02:00 (migration 0006 gives it to existing ones). */
export const DEFAULT_RECONCILE_CRON = '0 2 * * *';

/** Without reconcileCron, a new connection gets DEFAULT_RECONCILE_CRON; without syncEnabled, sync is off. */
export type NewConnection = Pick<ConnectionRow, 'name' | 'platform' | 'settings' | 'secrets' | 'policy'> &
  Partial<Pick<ConnectionRow, 'reconcileCron' | 'syncEnabled'>>;
export type ConnectionRowPatch = Partial<
  Pick<ConnectionRow, 'settings' | 'secrets' | 'policy' | 'syncEnabled' | 'reconcileCron'>
>;

export interface ConnectionRepo {
  /** Refuses a name already taken with CONNECTION_EXISTS. */
  create(connection: NewConnection): Promise<ConnectionRow>;
  /** With forUpdate inside a transaction, other writers of the row wait until it ends (PostgreSQL; SQLite's write lock already does). */
  get(name: string, options?: { forUpdate?: boolean }): Promise<ConnectionRow | undefined>;
  /** By name. */
  list(): Promise<ConnectionRow[]>;
  /** Returns the updated row, or undefined if there is no such connection. */
  update(name: string, patch: ConnectionRowPatch): Promise<ConnectionRow | undefined>;
  /** Returns whether there was such a connection. */
  remove(name: string): Promise<boolean>;
}
