import { afterEach, describe, expect, it } from 'vitest';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { sourceHarnesses } from '../helpers/source-harness.js';
import { wecomSimulator } from '../helpers/source-simulators.js';

/**
 * What only WeCom does, against its simulator over HTTP. The cases every platform passes (exact mirror, changes,
 * withheld fields, visible range, unreadable departments, faults) are the conformance suite's
 * (source-conformance.test.ts).
 */

const harnesses = sourceHarnesses();
afterEach(() => harnesses.closeAll());

describe('WeCom sync against the simulator', () => {
  it('with the contacts secret from a new IP (48009) it falls back to ids: memberships and leavers follow, names stay', async () => {
    const h = await harnesses.open(wecomSimulator, 606, { departments: 30, users: 300 });
    await h.sync({ credentials: 'contacts' });
    const before = await h.exported();
    const org = await h.truth();
    const mover = org.users.find((u) => u.department.length === 1 && u.status === 1) as SimOrg['users'][number];
    const target = org.departments.find((d) => d.id !== 1 && !mover.department.includes(d.id)) as { id: number };
    const leaver = org.users.find((u) => u.userid !== mover.userid && u.status === 1) as SimOrg['users'][number];
    await h.mutate({
      operations: [
        { op: 'updateUser', user: { userid: mover.userid, department: [target.id], main_department: target.id } },
        { op: 'deleteUser', userid: leaver.userid },
        { op: 'updateUser', user: { userid: mover.userid, name: '改了名字' } },
      ],
    });
    await h.configure({ contactsSecretNewIp: true });
    const r = await h.sync({ credentials: 'contacts' });
    expect(r.status).toBe('succeeded');
    expect(r.notes.map((n) => n.code)).toContain('WECOM_IDS_ONLY');
    expect(r.changes.users.disable).toBe(1);
    expect(r.changes.users.update).toBe(1);
    const after = await h.exported();
    const moved = after.users.find((u) => u.userid === mover.userid);
    const targetLocal = after.departments.find((d) => d.links.some((l) => l.externalId === String(target.id)));
    expect(moved?.departments.map((m) => m.id)).toEqual([targetLocal?.id]);
    expect(moved?.name).toBe(before.users.find((u) => u.userid === mover.userid)?.name);
    expect(after.users.find((u) => u.userid === leaver.userid)?.status).toBe('disabled');
    expect(after.departments.map((d) => d.name)).toEqual(before.departments.map((d) => d.name));
  });
});
