import type { SettingsRepo } from '../settings-repo.js';
import type { Db } from './db.js';

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
