import { afterEach, describe, expect, it } from 'vitest';
import { DingtalkClient } from '../../src/connectors/dingtalk/client.js';
import { DingtalkSource } from '../../src/connectors/dingtalk/source.js';
import { TokenCache } from '../../src/connectors/common/token-cache.js';
import { exportDirectory } from '../../src/directory/export.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { executeRun, type RunReport } from '../../src/runs/run-service.js';
import type { DingConfigInput } from '../../src/simulator/dingtalk/config.js';
import type { DingDepartment, DingUser } from '../../src/simulator/dingtalk/model.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import type { Store } from '../../src/store/store.js';
import { expected, local, type DingTruth } from '../helpers/dingtalk-directory.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

/**
 * Pull → plan → guard → apply against the DingTalk simulator over HTTP, checked against its ground truth
 * (/__sim/directory). Most tests raise the simulator's and the client's per-API QPS limit together (from DingTalk's
 * 20 to 400) so that they run in seconds; the client test keeps the default.
 */

const SOURCE = 'dingtalk';
const QPS = 400;

type Truth = DingTruth;

interface Harness {
  sim: DingtalkSimulator;
  store: Store;
  sync(options?: {
    policy?: PolicyInput;
    timeoutMs?: number;
  }): Promise<RunReport & { apiCalls: number; retries: number; connector: DingtalkSource }>;
  truth(): Promise<Truth>;
  mutate(body: unknown): Promise<{ applied: number }>;
}

let open: Array<{ sim: DingtalkSimulator; t: TestStore }> = [];
afterEach(async () => {
  for (const { sim, t } of open) {
    await sim.close();
    await t.cleanup();
  }
  open = [];
});

async function harness(
  seed: number,
  size: { departments: number; users: number },
  config: DingConfigInput = {},
): Promise<Harness> {
  const sim = new DingtalkSimulator({ seed, ...size, config: { qpsLimit: QPS, ...config } });
  const url = await sim.listen(0);
  const t = await openTestStore('sqlite');
  open.push({ sim, t });
  const tokens = new TokenCache();
  return {
    sim,
    store: t.store,
    async sync(options = {}) {
      const client = new DingtalkClient({
        clientId: sim.identity.clientId,
        clientSecret: sim.identity.clientSecret,
        baseUrl: url,
        tokens,
        concurrency: 8,
        qpsLimit: QPS,
        timeoutMs: options.timeoutMs ?? 2000,
        maxRetries: 6,
      });
      const source = new DingtalkSource(client);
      const report = await executeRun(t.store, {
        kind: 'sync',
        source: SOURCE,
        connector: source,
        policy: resolvePolicy(options.policy ?? {}),
      });
      return { ...report, apiCalls: client.stats().calls, retries: client.stats().retries, connector: source };
    },
    async truth() {
      return (await (await fetch(`${url}/__sim/directory`)).json()) as Truth;
    },
    async mutate(body) {
      const res = await fetch(`${url}/__sim/mutate`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as { applied: number };
    },
  };
}

/** The floor: one listsub per department plus one v2/user/list page per 100 direct members (at least one). */
function floor(org: Truth, visible?: Set<number>): number {
  const members = new Map<number, number>();
  for (const u of org.users) for (const d of u.dept_id_list) members.set(d, (members.get(d) ?? 0) + 1);
  let calls = 0;
  for (const d of org.departments) {
    if (visible && !visible.has(d.dept_id)) continue;
    calls += 1 + Math.max(1, Math.ceil((members.get(d.dept_id) ?? 0) / 100));
  }
  return calls;
}

const exported = async (store: Store) => exportDirectory(await store.directory.load());

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
    // gettoken, v2/department/get of the root, then the floor.
    expect(r.apiCalls).toBe(floor(truth) + 2);
    expect(h.sim.stats().calls['/topapi/v2/department/get']).toBe(1);
    expect(h.sim.stats().calls['/auth/scopes'] ?? 0).toBe(0);
    const mirror = local(await exported(h.store));
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

  it('after random changes upstream, a second sync brings it back to an exact match with the right counts', async () => {
    const h = await harness(22, { departments: 60, users: 1200 });
    await h.sync();
    const before = await h.truth();
    expect((await h.mutate({ random: { count: 150, seed: 7 } })).applied).toBe(150);
    const after = await h.truth();
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(local(await exported(h.store), after)).toEqual(expected(after));

    // The counts are exactly what changed between the two truths.
    const beforeUsers = new Set(before.users.map((u) => u.userid));
    const afterUsers = new Set(after.users.map((u) => u.userid));
    expect(r.changes.users.create).toBe([...afterUsers].filter((u) => !beforeUsers.has(u)).length);
    const leftWhileActive = before.users.filter((u) => !afterUsers.has(u.userid) && u.active).length;
    expect(r.changes.users.disable).toBe(
      leftWhileActive +
        after.users.filter(
          (u) => beforeUsers.has(u.userid) && !u.active && before.users.find((b) => b.userid === u.userid)?.active,
        ).length,
    );
    const beforeDepts = new Set(before.departments.map((d) => d.dept_id));
    const afterDepts = new Set(after.departments.map((d) => d.dept_id));
    expect(r.changes.departments.create).toBe([...afterDepts].filter((d) => !beforeDepts.has(d)).length);
    expect(r.changes.departments.delete).toBe([...beforeDepts].filter((d) => !afterDepts.has(d)).length);
  });

  it('an app without the 个人手机号信息 permission keeps every mobile and email a permitted sync stored', async () => {
    const h = await harness(33, { departments: 30, users: 300 }, { sensitiveFields: 'returned' });
    const full = await h.sync();
    expect(full.read?.unseenFields).toEqual([]);
    const first = await exported(h.store);
    expect(first.users.filter((u) => u.mobile !== null).length).toBe(300);
    h.sim.updateConfig({ sensitiveFields: 'withheld' });
    const r = await h.sync();
    expect(r.read?.unseenFields).toEqual(['mobile', 'email']);
    expect(Object.values(r.changes.users).every((n) => n === 0)).toBe(true);
    const second = await exported(h.store);
    expect(second.users.map((u) => [u.mobile, u.email])).toEqual(first.users.map((u) => [u.mobile, u.email]));
  });

  it('an app whose contact scope is one subtree gets that subtree from auth/scopes, and touches nobody outside it', async () => {
    const h = await harness(44, { departments: 50, users: 600 });
    const org = await h.truth();
    const top = org.departments.find(
      (d) => d.parent_id === 1 && org.departments.some((c) => c.parent_id === d.dept_id),
    ) as DingDepartment;
    h.sim.updateConfig({ visibleRange: [top.dept_id] });
    const r = await h.sync();
    expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
    expect(r.connector.notes.tops).toEqual([top.dept_id]);
    const mirror = local(await exported(h.store));
    expect(mirror).toEqual(expected(org, [top.dept_id]));
    expect(mirror.departments.length).toBeGreaterThan(1);
    expect(mirror.departments.filter((d) => d.parent === null).map((d) => d.id)).toEqual([top.dept_id]);
    // gettoken, get(1) refused, auth/scopes, get(top), then the floor of the subtree.
    expect(r.apiCalls).toBe(floor(org, new Set(mirror.departments.map((d) => d.id))) + 4);
  });

  it('a department whose members cannot be read makes the run partial and disables nobody', async () => {
    const h = await harness(55, { departments: 40, users: 400 });
    await h.sync();
    const org = await h.truth();
    const failing = org.departments.find(
      (d) =>
        d.dept_id !== 1 &&
        org.users.filter((u) => u.dept_id_list.length === 1 && u.dept_id_list[0] === d.dept_id && u.active).length >= 3,
    ) as DingDepartment;
    // Everyone only in it leaves, but its member list cannot be read.
    const leavers = org.users
      .filter((u) => u.dept_id_list.length === 1 && u.dept_id_list[0] === failing.dept_id)
      .map((u) => u.userid);
    await h.mutate({ operations: leavers.map((userid) => ({ op: 'deleteUser', userid })) });
    h.sim.updateConfig({ failingDepartments: [failing.dept_id] });
    const r = await h.sync();
    expect(r.status).toBe('partial');
    expect(r.connector.notes.failedDepartments).toEqual([failing.dept_id]);
    expect(r.changes.users.disable).toBe(0);
    const activeLeavers = org.users.filter((u) => leavers.includes(u.userid) && u.active).length;
    expect(r.suppressed?.users.disable).toBe(activeLeavers);
    const doc = await exported(h.store);
    for (const userid of leavers)
      expect(doc.users.find((u) => u.userid === userid)?.status).toBe(
        org.users.find((u) => u.userid === userid)?.active ? 'active' : 'disabled',
      );
    // Members of the failing department who are also elsewhere keep their membership (and its flags) in it.
    const failingLocal = doc.departments.find((d) =>
      d.links.some((l) => l.source === SOURCE && l.externalId === String(failing.dept_id)),
    )?.id;
    const alsoElsewhere = org.users.filter(
      (u) => u.dept_id_list.includes(failing.dept_id) && u.dept_id_list.length > 1,
    );
    for (const u of alsoElsewhere)
      expect(doc.users.find((x) => x.userid === u.userid)?.departments.some((m) => m.id === failingLocal)).toBe(true);

    h.sim.updateConfig({ failingDepartments: [] });
    const healed = await h.sync();
    expect(healed.status).toBe('succeeded');
    expect(healed.changes.users.disable).toBe(activeLeavers);
    expect(local(await exported(h.store), await h.truth())).toEqual(expected(await h.truth()));
  });

  it('a person who moved into a department whose members cannot be read is not disabled, nor is anybody on that read', async () => {
    const h = await harness(57, { departments: 40, users: 400 });
    await h.sync();
    const org = await h.truth();
    const mover = org.users.find((u) => u.active && u.dept_id_list.length === 1 && u.dept_id_list[0] !== 1) as DingUser;
    const target = org.departments.find(
      (d) => d.dept_id !== 1 && !mover.dept_id_list.includes(d.dept_id),
    ) as DingDepartment;
    const leaver = org.users.find(
      (u) => u.active && u.userid !== mover.userid && !u.dept_id_list.includes(target.dept_id),
    ) as DingUser;
    // The mover is listed only by the department that cannot be read: from the read alone, they look like the leaver.
    await h.mutate({
      operations: [
        { op: 'updateUser', user: { userid: mover.userid, dept_id_list: [target.dept_id] } },
        { op: 'deleteUser', userid: leaver.userid },
      ],
    });
    h.sim.updateConfig({ failingDepartments: [target.dept_id] });
    const r = await h.sync();
    expect(r.status).toBe('partial');
    expect(r.connector.notes.failedDepartments).toEqual([target.dept_id]);
    expect(r.changes.users.disable).toBe(0);
    // Held back: the mover, the leaver, and whoever is only in the department not read.
    const onlyInTarget = org.users.filter(
      (u) => u.active && u.dept_id_list.length === 1 && u.dept_id_list[0] === target.dept_id,
    ).length;
    expect(r.suppressed?.users.disable).toBe(2 + onlyInTarget);
    // Anyone not listed may be in the department not read: the read as a whole is incomplete.
    expect(r.read?.complete).toBe(false);
    const doc = await exported(h.store);
    expect(doc.users.find((u) => u.userid === mover.userid)?.status).toBe('active');
    expect(doc.users.find((u) => u.userid === leaver.userid)?.status).toBe('active');

    h.sim.updateConfig({ failingDepartments: [] });
    const healed = await h.sync();
    expect(healed.status).toBe('succeeded');
    expect(healed.changes.users.disable).toBe(1);
    const truth = await h.truth();
    expect(local(await exported(h.store), truth)).toEqual(expected(truth));
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
    const doc = await exported(h.store);
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
    expect((await exported(h.store)).users).toEqual([]);
    // The fatal error stopped the calls still waiting: far fewer than one per department.
    expect(h.sim.stats().calls['/topapi/v2/user/list'] ?? 0).toBeLessThan(20);
  });
});

describe('DingTalk sync under injected faults', () => {
  it('converges to an exact match with no duplicates at 5% faults of every kind, over 10 seeds', async () => {
    let retries = 0;
    let partialRuns = 0;
    const converge = async (h: Harness): Promise<RunReport> => {
      let r = await h.sync({ timeoutMs: 250 });
      retries += r.retries;
      // A fault can exhaust one department's retries: that run is partial (nobody disabled), the next completes it.
      for (let i = 0; i < 3 && r.status !== 'succeeded'; i++) {
        expect(r.status, JSON.stringify(r.errors)).toBe('partial');
        expect(r.changes.users.disable).toBe(0);
        partialRuns++;
        r = await h.sync({ timeoutMs: 250 });
        retries += r.retries;
      }
      return r;
    };
    const seeds = Array.from({ length: 10 }, (_, i) => i + 1);
    // Most of the time is back-off sleeps, so the seeds run side by side.
    await Promise.all(
      seeds.map(async (seed) => {
        const h = await harness(700 + seed, { departments: 25, users: 250 }, { faultRate: 0.05 });
        expect((await converge(h)).status, `seed ${seed}`).toBe('succeeded');
        await h.mutate({ random: { count: 30, seed } });
        expect((await converge(h)).status, `seed ${seed} after changes`).toBe('succeeded');
        const doc = await exported(h.store);
        const truth = await h.truth();
        expect(local(doc, truth), `seed ${seed}`).toEqual(expected(truth));
        const userids = doc.users.map((u) => u.userid?.toLowerCase());
        expect(new Set(userids).size).toBe(userids.length);
      }),
    );
    // The faults really happened: about 5% of some 1,000 calls, each retried.
    expect(retries).toBeGreaterThan(10);
    expect(partialRuns).toBeLessThan(10);
  }, 120_000);
});
