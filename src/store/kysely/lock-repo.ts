import type { LockRepo } from '../lock-repo.js';
import type { Db } from './db.js';

export class KyselyLockRepo implements LockRepo {
  constructor(private readonly db: Db) {}

  async tryAcquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const at = Date.now();
    // One statement, atomic on both engines: insert, or take over a lock that expired or is already ours.
    const row = await this.db
      .insertInto('locks')
      .values({ name, holder, expires_at: at + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({ holder: eb.ref('excluded.holder'), expires_at: eb.ref('excluded.expires_at') }))
          .where((eb) => eb.or([eb('locks.expires_at', '<', at), eb('locks.holder', '=', holder)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('locks').where('name', '=', name).where('holder', '=', holder).execute();
  }
}
