import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/reconcile/types.js';
import { decodePlan, encodePlan } from '../../src/runs/run-service.js';

/** The stored plan of a dry or blocked run: written piece by piece, it is still exactly JSON.stringify(plan). */

function bigPlan(users: number): Plan {
  return {
    source: '通讯录',
    baseRevision: 7,
    complete: true,
    departments: [{ action: 'create', key: 'new:公司/研发', set: { name: '研发', note: undefined } }],
    users: Array.from({ length: users }, (_, i) => ({
      action: 'create',
      key: `new:u${i}`,
      set: {
        name: `员工${i}`,
        mobile: i % 3 === 0 ? undefined : `+86 138${10_000_000 + i}`,
        attributes: { 工位: `"F-${i}"\n` },
      },
    })),
    issues: [],
    notes: [{ code: 'X', message: 'a note' }],
    guardBase: undefined,
  } as unknown as Plan;
}

describe('encodePlan', () => {
  it.each([0, 3, 40_000])(
    '%i users: the gzipped text is JSON.stringify(plan), and decodePlan reads it back',
    async (n) => {
      const plan = bigPlan(n);
      const encoded = await encodePlan(plan);
      expect(gunzipSync(encoded).toString('utf8')).toBe(JSON.stringify(plan));
      expect(decodePlan(encoded)).toEqual(JSON.parse(JSON.stringify(plan)));
    },
  );
});
