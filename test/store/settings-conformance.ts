/** The settings repository (migration 0009) in the storage conformance suite, run unchanged on SQLite and PostgreSQL. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type Engine, type TestStore } from '../helpers/stores.js';

export function describeSettingsConformance(engine: Engine): void {
  describe(`Store conformance: settings (${engine})`, () => {
    let t: TestStore;
    let store: Store;
    beforeEach(async () => {
      t = await openTestStore(engine);
      store = t.store;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it('reads undefined until set; set replaces; names are separate; another store sees the value', async () => {
      expect(await store.settings.get('master_key_fingerprint')).toBeUndefined();
      await store.settings.set('master_key_fingerprint', 'aaaaaaaaaaaaaaaa');
      await store.settings.set('other', '1');
      await store.settings.set('master_key_fingerprint', 'bbbbbbbbbbbbbbbb');
      expect(await store.settings.get('master_key_fingerprint')).toBe('bbbbbbbbbbbbbbbb');
      expect(await store.settings.get('other')).toBe('1');
      expect(await (await t.reopen()).settings.get('master_key_fingerprint')).toBe('bbbbbbbbbbbbbbbb');
    });

    it('a set inside a failed transaction is not kept', async () => {
      await store.settings.set('master_key_fingerprint', 'before');
      await expect(
        store.transaction(async (tx) => {
          await tx.settings.set('master_key_fingerprint', 'after');
          expect(await tx.settings.get('master_key_fingerprint')).toBe('after');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.settings.get('master_key_fingerprint')).toBe('before');
    });
  });
}
