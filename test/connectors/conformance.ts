/**
 * The connector conformance suite: one set of sync cases every platform's source must pass, run against that
 * platform's simulator over real HTTP and a real SQLite store (source-conformance.test.ts runs it for every platform
 * of connectors/registry.ts). What the cases need of a platform is its adapter (test/helpers/source-simulators.ts);
 * what only one platform does stays in its own test file (wecom-sync.test.ts, dingtalk-sync.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformDefinition } from '../../src/connectors/contract.js';
import type { RunReport } from '../../src/runs/run-service.js';
import { type SourceHarness, sourceHarnesses } from '../helpers/source-harness.js';
import type { OrgView, RunningSimulator, SourceSimulator } from '../helpers/source-simulators.js';

type User = OrgView['users'][number];

const onlyIn = (u: User, department: number): boolean => u.departments.length === 1 && u.departments[0] === department;

/** The root department: the one without a parent. */
function rootOf(org: OrgView): number {
  const root = org.departments.find((d) => d.parent === null);
  if (!root) throw new Error('the org has no root department');
  return root.id;
}

export function describeSourceConformance<Sim extends RunningSimulator, Truth, Credentials extends string>(
  platform: PlatformDefinition,
  simulator: SourceSimulator<Sim, Truth, Credentials>,
): void {
  if (simulator.platform !== platform.id)
    throw new Error(`the ${simulator.platform} simulator's adapter was given the ${platform.id} platform`);
  const harnesses = sourceHarnesses();
  const open = (seed: number, size: { departments: number; users: number }, config: Record<string, unknown> = {}) =>
    harnesses.open(simulator, seed, size, config);

  describe(`Source conformance (${platform.id})`, () => {
    afterEach(() => harnesses.closeAll());

    describe('sync against the simulator', () => {
      it('the first sync mirrors the org exactly in the expected calls; a second changes nothing', async () => {
        const h = await open(101, { departments: 60, users: 600 });
        const truth = await h.truth();
        const org = simulator.view(truth);
        const r = await h.sync();
        expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
        expect(r.changes.departments.create).toBe(org.departments.length);
        expect(r.changes.users.create).toBe(org.users.length);
        expect(r.apiCalls).toBe(simulator.expectedCalls(truth, [rootOf(org)]));
        expect(await h.mirror()).toEqual(simulator.expected(truth));

        const again = await h.sync();
        expect(again.status).toBe('succeeded');
        expect(Object.values(again.changes.users).every((n) => n === 0)).toBe(true);
        expect(Object.values(again.changes.departments).every((n) => n === 0)).toBe(true);
        expect(await h.mirror()).toEqual(simulator.expected(truth));
      });

      it('after random changes upstream, a second sync brings it back to an exact match with the right counts', async () => {
        const h = await open(202, { departments: 80, users: 1000 });
        await h.sync();
        const before = await h.view();
        expect((await h.mutate({ random: { count: 150, seed: 7 } })).applied).toBe(150);
        const truth = await h.truth();
        const after = simulator.view(truth);
        const r = await h.sync();
        expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
        expect(await h.mirror(truth)).toEqual(simulator.expected(truth));

        // The counts are exactly what changed between the two truths.
        const beforeUsers = new Map(before.users.map((u) => [u.userid, u]));
        const afterUsers = new Map(after.users.map((u) => [u.userid, u]));
        expect(r.changes.users.create).toBe(after.users.filter((u) => !beforeUsers.has(u.userid)).length);
        // Disabled: whoever was active and left, or stayed but was disabled upstream.
        expect(r.changes.users.disable).toBe(
          before.users.filter((u) => u.status === 'active' && afterUsers.get(u.userid)?.status !== 'active').length,
        );
        const beforeDepts = new Set(before.departments.map((d) => d.id));
        const afterDepts = new Set(after.departments.map((d) => d.id));
        expect(r.changes.departments.create).toBe([...afterDepts].filter((d) => !beforeDepts.has(d)).length);
        expect(r.changes.departments.delete).toBe([...beforeDepts].filter((d) => !afterDepts.has(d)).length);
      });

      it('an app that loses the personal-details permission (fields withheld) keeps every mobile and email a permitted sync stored', async () => {
        const h = await open(303, { departments: 30, users: 300 }, { sensitiveFields: 'returned' });
        const full = await h.sync();
        expect(full.read?.unseenFields).toEqual([]);
        const first = await h.exported();
        const org = await h.view();
        const mobiles = first.users.filter((u) => u.mobile !== null).length;
        expect(mobiles).toBe(org.users.filter((u) => u.mobile).length);
        expect(mobiles).toBeGreaterThan(org.users.length / 2);

        await h.configure({ sensitiveFields: 'withheld' });
        const r = await h.sync();
        expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
        expect(r.read?.unseenFields).toEqual(expect.arrayContaining(['mobile', 'email']));
        expect(r.read?.unseenFields).toEqual(simulator.withheldFields);
        expect(Object.values(r.changes.users).every((n) => n === 0)).toBe(true);
        const second = await h.exported();
        expect(second.users.map((u) => [u.mobile, u.email])).toEqual(first.users.map((u) => [u.mobile, u.email]));
        const withheld = (doc: typeof first) => doc.users.map((u) => simulator.withheldFields.map((f) => u[f]));
        expect(withheld(second)).toEqual(withheld(first));
      });

      it('an app that sees one subtree gets that subtree, not an empty tree, and touches nobody outside it', async () => {
        const h = await open(404, { departments: 50, users: 600 });
        const truth = await h.truth();
        const org = simulator.view(truth);
        const root = rootOf(org);
        const top = org.departments.find(
          (d) => d.parent === root && org.departments.some((c) => c.parent === d.id),
        ) as OrgView['departments'][number];
        await h.configure({ visibleRange: [top.id] });
        const r = await h.sync();
        expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
        if (simulator.scopeTops) expect(simulator.scopeTops(r.connector)).toEqual([top.id]);
        const mirror = await h.mirror();
        expect(mirror).toEqual(simulator.expected(truth, [top.id]));
        expect(mirror.departments.length).toBeGreaterThan(1);
        expect(mirror.departments.filter((d) => d.parent === null).map((d) => d.id)).toEqual([top.id]);
        expect(r.apiCalls).toBe(simulator.expectedCalls(truth, [top.id]));
      });
    });

    describe('departments whose members cannot be read', () => {
      it('makes the run partial and disables nobody; the next full read disables the leavers', async () => {
        const h = await open(505, { departments: 40, users: 400 });
        await h.sync();
        const org = await h.view();
        const root = rootOf(org);
        const failing = org.departments.find(
          (d) => d.id !== root && org.users.filter((u) => u.status === 'active' && onlyIn(u, d.id)).length >= 3,
        ) as OrgView['departments'][number];
        // Everyone only in it leaves, but its member list cannot be read.
        const leavers = org.users.filter((u) => onlyIn(u, failing.id));
        await h.mutate({ operations: leavers.map((u) => ({ op: 'deleteUser', userid: u.userid })) });
        await h.configure({ failingDepartments: [failing.id] });
        const r = await h.sync();
        expect(r.status).toBe('partial');
        expect(simulator.failedDepartments(r.connector)).toEqual([failing.id]);
        expect(r.changes.users.disable).toBe(0);
        const activeLeavers = leavers.filter((u) => u.status === 'active').length;
        expect(r.suppressed?.users.disable).toBe(activeLeavers);
        const doc = await h.exported();
        const statusOf = new Map(org.users.map((u) => [u.userid, u.status]));
        for (const u of leavers) expect(doc.users.find((x) => x.userid === u.userid)?.status).toBe(u.status);
        expect(doc.users.every((u) => u.status === 'active' || statusOf.get(u.userid as string) === 'disabled')).toBe(
          true,
        );
        // Members of the failing department who are also elsewhere keep their membership (and its flags) in it.
        const failingLocal = doc.departments.find((d) =>
          d.links.some((l) => l.source === platform.id && l.externalId === String(failing.id)),
        )?.id;
        const alsoElsewhere = org.users.filter((u) => u.departments.includes(failing.id) && u.departments.length > 1);
        for (const u of alsoElsewhere)
          expect(doc.users.find((x) => x.userid === u.userid)?.departments.some((m) => m.id === failingLocal)).toBe(
            true,
          );

        await h.configure({ failingDepartments: [] });
        const healed = await h.sync();
        expect(healed.status).toBe('succeeded');
        expect(healed.changes.users.disable).toBe(activeLeavers);
        const truth = await h.truth();
        expect(await h.mirror(truth)).toEqual(simulator.expected(truth));
      });

      it('a person who moved into such a department is not disabled, nor is anybody on that read', async () => {
        const h = await open(507, { departments: 40, users: 400 });
        await h.sync();
        const org = await h.view();
        const root = rootOf(org);
        const mover = org.users.find(
          (u) => u.status === 'active' && u.departments.length === 1 && u.departments[0] !== root,
        ) as User;
        const target = org.departments.find(
          (d) => d.id !== root && !mover.departments.includes(d.id),
        ) as OrgView['departments'][number];
        const leaver = org.users.find(
          (u) => u.status === 'active' && u.userid !== mover.userid && !u.departments.includes(target.id),
        ) as User;
        // The mover is listed only by the department that cannot be read: from the read alone, they look like the leaver.
        await h.mutate({
          operations: [simulator.moveUser(mover.userid, target.id), { op: 'deleteUser', userid: leaver.userid }],
        });
        await h.configure({ failingDepartments: [target.id] });
        const r = await h.sync();
        expect(r.status).toBe('partial');
        expect(simulator.failedDepartments(r.connector)).toEqual([target.id]);
        expect(r.changes.users.disable).toBe(0);
        // Held back: the mover, the leaver, and whoever is only in the department not read.
        const onlyInTarget = org.users.filter((u) => u.status === 'active' && onlyIn(u, target.id)).length;
        expect(r.suppressed?.users.disable).toBe(2 + onlyInTarget);
        // Anyone not listed may be in the department not read: the read as a whole is incomplete.
        expect(r.read?.complete).toBe(false);
        const doc = await h.exported();
        expect(doc.users.find((u) => u.userid === mover.userid)?.status).toBe('active');
        expect(doc.users.find((u) => u.userid === leaver.userid)?.status).toBe('active');

        await h.configure({ failingDepartments: [] });
        const healed = await h.sync();
        expect(healed.status).toBe('succeeded');
        expect(healed.changes.users.disable).toBe(1);
        const truth = await h.truth();
        expect(await h.mirror(truth)).toEqual(simulator.expected(truth));
      });
    });

    describe('under injected faults', () => {
      it('converges to an exact match with no duplicates at 5% faults of every kind, over 10 seeds', async () => {
        let retries = 0;
        let partialRuns = 0;
        const converge = async (h: SourceHarness<Sim, Truth, Credentials>): Promise<RunReport> => {
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
            const h = await open(700 + seed, { departments: 25, users: 250 }, { faultRate: 0.05 });
            expect((await converge(h)).status, `seed ${seed}`).toBe('succeeded');
            await h.mutate({ random: { count: 30, seed } });
            expect((await converge(h)).status, `seed ${seed} after changes`).toBe('succeeded');
            const truth = await h.truth();
            expect(await h.mirror(truth), `seed ${seed}`).toEqual(simulator.expected(truth));
            const userids = (await h.exported()).users.map((u) => u.userid?.toLowerCase());
            expect(new Set(userids).size).toBe(userids.length);
          }),
        );
        // The faults really happened: about 5% of some 1,000 calls, each retried.
        expect(retries).toBeGreaterThan(10);
        expect(partialRuns).toBeLessThan(10);
      }, 120_000);
    });
  });
}
