import { afterEach, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/directory/snapshot.js';
import { WECOM_LIMITS } from '../../src/connectors/wecom/limits.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { executeRun } from '../../src/runs/run-service.js';
import type { Store } from '../../src/store/store.js';
import { ENGINES } from '../helpers/stores.js';
import { signedIn, startHarness, type Harness } from './harness.js';

/**
 * The tree's answer is kept per directory revision: it must follow every change, whether the change is written by
 * the server's own store or by another process (a CLI run) on the same database.
 */

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

function snapshot(names: string[]): Snapshot {
  return {
    complete: true,
    incompleteDepartments: [],
    unseenFields: [],
    departments: names.map((name, i) => ({ externalId: `d${i + 1}`, parentExternalId: null, name, order: i })),
    users: [{ externalId: 'u1', userid: 'u1', name: '张三', departments: [{ externalId: 'd1' }] }],
  };
}

async function importInto(store: Store, names: string[]): Promise<void> {
  const s = snapshot(names);
  const report = await executeRun(store, {
    kind: 'import',
    source: 'json',
    connector: { kind: 'json', limits: WECOM_LIMITS, pull: async () => s },
    policy: resolvePolicy({}),
  });
  expect(report.status).toBe('succeeded');
}

describe.each(ENGINES)('GET /api/v1/directory/departments on %s', (engine) => {
  it('answers the same while the directory is unchanged and follows each change', async () => {
    h = await startHarness(engine);
    const c = await signedIn(h);
    const tree = async () => {
      const res = await c.get('/api/v1/directory/departments');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return res;
    };

    const empty = await tree();
    expect(empty.body.items).toHaveLength(1);
    expect((await tree()).text).toBe(empty.text);

    await importInto(h.t.store, ['研发部', '销售部']);
    const first = await tree();
    expect(first.body.revision).toBeGreaterThan(empty.body.revision);
    expect(first.body.items.map((d: { name: string }) => d.name)).toEqual(expect.arrayContaining(['研发部', '销售部']));
    expect(first.body.items.find((d: { name: string }) => d.name === '研发部').memberCount).toBe(1);
    expect((await tree()).text).toBe(first.text);

    // A rename written by another connection, as `orgsync import` in another process would.
    await importInto(await h.t.reopen(), ['研发中心', '销售部']);
    const renamed = await tree();
    expect(renamed.body.revision).toBeGreaterThan(first.body.revision);
    expect(renamed.body.items.map((d: { name: string }) => d.name)).toContain('研发中心');
    expect(renamed.body.items.map((d: { name: string }) => d.name)).not.toContain('研发部');
    expect((await tree()).text).toBe(renamed.text);
  });
});
