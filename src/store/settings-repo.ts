import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Named values of the installation as a whole (migration 0009), such as the master key's fingerprint. */
export interface SettingsRepo {
  /** The value, or undefined when it was never set. */
  get(name: string): Promise<string | undefined>;
  /** Sets the value, replacing any earlier one. */
  set(name: string, value: string): Promise<void>;
}

type Db = Kysely<Database> | Transaction<Database>;

export class KyselySettingsRepo implements SettingsRepo {
  constructor(private readonly db: Db) {}

  async get(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
    return row?.value;
  }

  async set(name: string, value: string): Promise<void> {
    const updatedAt = new Date().toISOString();
    await this.db
      .insertInto('settings')
      .values({ name, value, updated_at: updatedAt })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated_at: updatedAt }))
      .execute();
  }
}
