import { afterEach, describe, expect, it } from 'vitest';
import type { DingDepartment } from '../../src/simulator/dingtalk/model.js';
import { expected, local } from '../helpers/dingtalk-directory.js';
import { sourceHarnesses } from '../helpers/source-harness.js';
import { dingtalkSimulator } from '../helpers/source-simulators.js';

/**
 * What only DingTalk does, against its simulator over HTTP (/__sim/directory is the ground truth): member pages of
 * 100 in a department of 1,000+, the listsub walk, the API permission errcode. The cases every platform passes
 * (exact mirror, changes, withheld fields, the contact scope through auth/scopes, unreadable departments, faults) are
 * the conformance suite's (source-conformance.test.ts). The adapter raises the simulator's and the client's per-API
 * QPS limit together (from DingTalk's 20 to 400) so that they run in seconds.
 */

const SOURCE = 'dingtalk';

const harnesses = sourceHarnesses();
afterEach(() => harnesses.closeAll());
const harness = (seed: number, size: { departments: number; users: number }, config: Record<string, unknown> = {}) =>
  harnesses.open(dingtalkSimulator, seed, size, config);

describe('DingTalk sync against the simulator', () => {
  it('the first sync mirrors the org exactly (a department of 1,000+ members, users in several departments) in the floor + 2 calls; a second changes nothing', async () => {
    const h = await harness(11, { departments: 200, users: 10_000 });
    const truth = await h.truth();
    const widest = Math.max(
      ...truth.departments.map((d) => truth.users.filter((u) => u.dept_id_list.includes(d.dept_id)).length),
    );
    expect(widest).toBeGreaterThan(1000);
    expect(truth.users.filter((u) => u.dept_id_list.length > 1).length).toBeGreaterThan(500);

    const r = await h.sync();
    expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
    expect(r.changes.departments.create).toBe(200);
    expect(r.changes.users.create).toBe(10_000);
    // gettoken, v2/department/get of the root, then one listsub per department and one page per 100 members.
    expect(r.apiCalls).toBe(dingtalkSimulator.expectedCalls(truth, [1]));
    expect(h.sim.stats().calls['/topapi/v2/department/get']).toBe(1);
    expect(h.sim.stats().calls['/auth/scopes'] ?? 0).toBe(0);
    const mirror = local(await h.exported());
    expect(mirror).toEqual(expected(truth));
    expect(mirror.users.every((u) => typeof u.unionid === 'string' && u.unionid.length > 0)).toBe(true);
    expect(
      mirror.users.some(
        (u) => u.memberships.length > 1 && u.memberships.some((m) => m.leader) && u.memberships.some((m) => !m.leader),
      ),
    ).toBe(true);
    expect(mirror.users.some((u) => u.status === 'disabled')).toBe(true);

    const again = await h.sync();
    expect(again.status).toBe('succeeded');
    expect(Object.values(again.changes.users).every((n) => n === 0)).toBe(true);
    expect(Object.values(again.changes.departments).every((n) => n === 0)).toBe(true);
  });

  it('a department moved under one whose sub-departments cannot be walked keeps its people and itself', async () => {
    const h = await harness(58, { departments: 40, users: 400 });
    await h.sync();
    const org = await h.truth();
    const ancestors = (id: number): number[] => {
      const out: number[] = [];
      for (
        let p = org.departments.find((d) => d.dept_id === id)?.parent_id;
        p !== undefined && p !== 0;
        p = org.departments.find((d) => d.dept_id === p)?.parent_id
      )
        out.push(p);
      return out;
    };
    // A leaf department with people in it, moved under a department whose entry in its parent's listsub has no usable id.
    const onlyIn = (id: number): number =>
      org.users.filter((u) => u.active && u.dept_id_list.length === 1 && u.dept_id_list[0] === id).length;
    const moved = org.departments.find(
      (d) => d.dept_id !== 1 && !org.departments.some((c) => c.parent_id === d.dept_id) && onlyIn(d.dept_id) >= 3,
    ) as DingDepartment;
    // Its parent's subtree is what the read misses: one that does not hold the moved department where the directory has it.
    const hidden = org.departments.find(
      (d) =>
        d.dept_id !== 1 &&
        d.parent_id !== 1 &&
        d.dept_id !== moved.dept_id &&
        !ancestors(moved.dept_id).includes(d.parent_id as number),
    ) as DingDepartment;
    // And an empty leaf department moved there too: nothing may delete it on this read.
    const empty = await h.mutate({
      operations: [{ op: 'createDepartment', department: { name: '空部门', parent_id: 1 } }],
    });
    expect(empty.applied).toBe(1);
    await h.sync();
    const emptyId = (await h.truth()).departments.find((d) => d.name === '空部门')?.dept_id as number;
    await h.mutate({
      operations: [
        { op: 'updateDepartment', department: { dept_id: moved.dept_id, parent_id: hidden.dept_id } },
        { op: 'updateDepartment', department: { dept_id: emptyId, parent_id: hidden.dept_id } },
      ],
    });
    expect(h.sim.plantDepartmentFields(hidden.dept_id, { dept_id: 'not-a-number' })).toBe(true);
    const r = await h.sync();
    expect(r.status).toBe('partial');
    expect(r.changes.users.disable).toBe(0);
    expect(r.changes.departments.delete).toBe(0);
    expect(r.read?.complete).toBe(false);
    const doc = await h.exported();
    const linked = (id: number) =>
      doc.departments.find((d) => d.links.some((l) => l.source === SOURCE && l.externalId === String(id)));
    expect(linked(moved.dept_id)).toBeDefined();
    expect(linked(emptyId)).toBeDefined();
    const people = org.users.filter((u) => u.active && u.dept_id_list.includes(moved.dept_id)).map((u) => u.userid);
    expect(people.length).toBeGreaterThanOrEqual(3);
    for (const userid of people) expect(doc.users.find((u) => u.userid === userid)?.status).toBe('active');
  });

  it('stops with the permission hint when the app may not read members at all (88 / 60011), writing nothing', async () => {
    const h = await harness(66, { departments: 20, users: 100 }, { deniedApis: ['topapi/v2/user/list'] });
    const r = await h.sync();
    expect(r.status).toBe('failed');
    expect(r.errors[0]).toMatchObject({ code: 'DINGTALK_API_PERMISSION_DENIED' });
    expect(r.errors[0]?.hint).toContain('成员信息读取');
    expect((await h.exported()).users).toEqual([]);
    // The fatal error stopped the calls still waiting: far fewer than one per department.
    expect(h.sim.stats().calls['/topapi/v2/user/list'] ?? 0).toBeLessThan(20);
  });
});
