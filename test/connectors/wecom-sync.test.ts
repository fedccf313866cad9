import { afterEach, describe, expect, it } from 'vitest';
import { exportDirectory } from '../../src/directory/export.js';
import { TokenCache, WecomClient } from '../../src/connectors/wecom/client.js';
import { WecomSource } from '../../src/connectors/wecom/source.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { executeRun, type RunReport } from '../../src/runs/run-service.js';
import type { SimConfigInput } from '../../src/simulator/wecom/config.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';
import { expected, local } from '../helpers/wecom-directory.js';

/** Pull → plan → guard → apply against the WeCom simulator over HTTP, checked against its ground truth. */

const SOURCE = 'wecom';

interface Harness {
  sim: WecomSimulator;
  store: Store;
  sync(options?: {
    secret?: 'app' | 'contacts';
    policy?: PolicyInput;
    timeoutMs?: number;
  }): Promise<RunReport & { apiCalls: number; retries: number }>;
  truth(): Promise<SimOrg>;
  mutate(body: unknown): Promise<{ applied: number }>;
  configure(patch: SimConfigInput): Promise<void>;
}

let open: Array<{ sim: WecomSimulator; t: TestStore }> = [];
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
  config: SimConfigInput = {},
): Promise<Harness> {
  const sim = new WecomSimulator({ seed, ...size, config });
  const url = await sim.listen(0);
  const t = await openTestStore('sqlite');
  open.push({ sim, t });
  const tokens = new TokenCache();
  return {
    sim,
    store: t.store,
    async sync(options = {}) {
      const client = new WecomClient({
        corpId: sim.identity.corpId,
        secret: options.secret === 'contacts' ? sim.identity.contactsSecret : sim.identity.secret,
        baseUrl: url,
        tokens,
        concurrency: 8,
        timeoutMs: options.timeoutMs ?? 2000,
        maxRetries: 6,
      });
      const source = new WecomSource(client);
      const report = await executeRun(t.store, {
        kind: 'sync',
        source: SOURCE,
        connector: source,
        policy: resolvePolicy(options.policy ?? {}),
      });
      return { ...report, apiCalls: client.stats().calls, retries: client.stats().retries };
    },
    async truth() {
      return (await (await fetch(`${url}/__sim/directory`)).json()) as SimOrg;
    },
    async mutate(body) {
      const res = await fetch(`${url}/__sim/mutate`, { method: 'POST', body: JSON.stringify(body) });
      return (await res.json()) as { applied: number };
    },
    async configure(patch) {
      sim.updateConfig(patch as Record<string, unknown>);
    },
  };
}

const exported = async (store: Store) => exportDirectory(await store.directory.load());

describe('WeCom sync against the simulator', () => {
  it('the first sync mirrors the corp exactly, in departments + 2 calls; a second changes nothing', async () => {
    const h = await harness(101, { departments: 60, users: 600 });
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(r.changes.departments.create).toBe(60);
    expect(r.changes.users.create).toBe(600);
    expect(r.apiCalls).toBe(60 + 2); // gettoken, department/list, one user/list per department
    expect(local(await exported(h.store))).toEqual(expected(await h.truth()));

    const again = await h.sync();
    expect(again.status).toBe('succeeded');
    expect(Object.values(again.changes.users).every((n) => n === 0)).toBe(true);
    expect(Object.values(again.changes.departments).every((n) => n === 0)).toBe(true);
  });

  it('after random changes upstream, a second sync brings it back to an exact match with the right counts', async () => {
    const h = await harness(202, { departments: 80, users: 800 });
    await h.sync();
    const before = await h.truth();
    expect((await h.mutate({ random: { count: 120, seed: 7 } })).applied).toBe(120);
    const after = await h.truth();
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(local(await exported(h.store), after)).toEqual(expected(after));

    // The counts are exactly what changed between the two truths.
    const beforeUsers = new Set(before.users.map((u) => u.userid));
    const afterUsers = new Set(after.users.map((u) => u.userid));
    expect(r.changes.users.create).toBe([...afterUsers].filter((u) => !beforeUsers.has(u)).length);
    expect(r.changes.users.disable).toBe([...beforeUsers].filter((u) => !afterUsers.has(u)).length);
    const beforeDepts = new Set(before.departments.map((d) => d.id));
    const afterDepts = new Set(after.departments.map((d) => d.id));
    expect(r.changes.departments.create).toBe([...afterDepts].filter((d) => !beforeDepts.has(d)).length);
    expect(r.changes.departments.delete).toBe([...beforeDepts].filter((d) => !afterDepts.has(d)).length);
  });

  it('switching the app from legacy to new (fields withheld) keeps every mobile and email', async () => {
    const h = await harness(303, { departments: 30, users: 300 }, { sensitiveFields: 'returned' });
    await h.sync();
    const first = await exported(h.store);
    const mobiles = first.users.filter((u) => u.mobile !== null).length;
    expect(mobiles).toBeGreaterThan(250);
    await h.configure({ sensitiveFields: 'withheld' });
    const r = await h.sync();
    expect(r.read?.unseenFields).toEqual(expect.arrayContaining(['mobile', 'email']));
    expect(Object.values(r.changes.users).every((n) => n === 0)).toBe(true);
    const second = await exported(h.store);
    expect(second.users.map((u) => [u.mobile, u.email])).toEqual(first.users.map((u) => [u.mobile, u.email]));
  });

  it('an app that sees one subtree gets that subtree, not an empty tree, and touches nobody outside it', async () => {
    const h = await harness(404, { departments: 50, users: 500 });
    const org = await h.truth();
    const top = org.departments.find((d) => d.parentid === 1 && org.departments.some((c) => c.parentid === d.id)) as {
      id: number;
    };
    await h.configure({ visibleRange: [top.id] });
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    const mirror = local(await exported(h.store));
    expect(mirror).toEqual(expected(org, [top.id]));
    expect(mirror.departments.length).toBeGreaterThan(1);
    expect(mirror.departments.filter((d) => d.parent === null).map((d) => d.id)).toEqual([top.id]);
  });

  it('a department whose members cannot be read makes the run partial and disables nobody', async () => {
    const h = await harness(505, { departments: 40, users: 400 });
    await h.sync();
    const org = await h.truth();
    const failing = org.departments.find(
      (d) => d.id !== 1 && org.users.filter((u) => u.department.includes(d.id)).length >= 3,
    ) as { id: number };
    // Everyone in it leaves, but its member list cannot be read.
    const leavers = org.users
      .filter((u) => u.department.length === 1 && u.department[0] === failing.id)
      .map((u) => u.userid);
    await h.mutate({ operations: leavers.map((userid) => ({ op: 'deleteUser', userid })) });
    await h.configure({ failingDepartments: [failing.id] });
    const r = await h.sync();
    expect(r.status).toBe('partial');
    expect(r.changes.users.disable).toBe(0);
    const activeLeavers = org.users.filter((u) => leavers.includes(u.userid) && u.status !== 2).length;
    expect(r.suppressed?.users.disable).toBe(activeLeavers);
    expect(
      (await exported(h.store)).users.every(
        (u) => u.status === 'active' || org.users.find((o) => o.userid === u.userid)?.status === 2,
      ),
    ).toBe(true);
  });

  it('a person who moved into a department whose members cannot be read is not disabled, nor is anybody on that read', async () => {
    const h = await harness(507, { departments: 40, users: 400 });
    await h.sync();
    const org = await h.truth();
    const mover = org.users.find(
      (u) => u.status === 1 && u.department.length === 1 && u.department[0] !== 1,
    ) as SimOrg['users'][number];
    const target = org.departments.find((d) => d.id !== 1 && !mover.department.includes(d.id)) as { id: number };
    const leaver = org.users.find(
      (u) => u.status === 1 && u.userid !== mover.userid && !u.department.includes(target.id),
    ) as SimOrg['users'][number];
    // The mover is listed only by the department that cannot be read: from the read alone, they look like the leaver.
    await h.mutate({
      operations: [
        { op: 'updateUser', user: { userid: mover.userid, department: [target.id], main_department: target.id } },
        { op: 'deleteUser', userid: leaver.userid },
      ],
    });
    await h.configure({ failingDepartments: [target.id] });
    const r = await h.sync();
    expect(r.status).toBe('partial');
    expect(r.changes.users.disable).toBe(0);
    const onlyInTarget = org.users.filter(
      (u) => u.status === 1 && u.department.length === 1 && u.department[0] === target.id,
    ).length;
    expect(r.suppressed?.users.disable).toBe(2 + onlyInTarget);
    expect(r.read?.complete).toBe(false);
    const doc = await exported(h.store);
    expect(doc.users.find((u) => u.userid === mover.userid)?.status).toBe('active');
    expect(doc.users.find((u) => u.userid === leaver.userid)?.status).toBe('active');

    await h.configure({ failingDepartments: [] });
    const healed = await h.sync();
    expect(healed.status).toBe('succeeded');
    expect(healed.changes.users.disable).toBe(1);
  });

  it('with the contacts secret from a new IP (48009) it falls back to ids: memberships and leavers follow, names stay', async () => {
    const h = await harness(606, { departments: 30, users: 300 });
    await h.sync({ secret: 'contacts' });
    const before = await exported(h.store);
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
    const r = await h.sync({ secret: 'contacts' });
    expect(r.status).toBe('succeeded');
    expect(r.changes.users.disable).toBe(1);
    expect(r.changes.users.update).toBe(1);
    const after = await exported(h.store);
    const moved = after.users.find((u) => u.userid === mover.userid);
    const targetLocal = after.departments.find((d) => d.links.some((l) => l.externalId === String(target.id)));
    expect(moved?.departments.map((m) => m.id)).toEqual([targetLocal?.id]);
    expect(moved?.name).toBe(before.users.find((u) => u.userid === mover.userid)?.name);
    expect(after.users.find((u) => u.userid === leaver.userid)?.status).toBe('disabled');
    expect(after.departments.map((d) => d.name)).toEqual(before.departments.map((d) => d.name));
  });
});

describe('WeCom sync under injected faults', () => {
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
        const h = await harness(700 + seed, { departments: 25, users: 200 }, { faultRate: 0.05 });
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
    // The faults really happened: about 5% of some 600 calls, each retried.
    expect(retries).toBeGreaterThan(10);
    expect(partialRuns).toBeLessThan(10);
  }, 120_000);
});
