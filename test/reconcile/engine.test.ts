import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WECOM_LIMITS } from '../../src/connectors/wecom/limits.js';
import { exportDirectory, type DirectoryExport } from '../../src/directory/export.js';
import type { Snapshot, SnapshotUser } from '../../src/directory/snapshot.js';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { approveRun, executeRun } from '../../src/runs/run-service.js';
import type { Store } from '../../src/store/store.js';
import { dept, snapshot } from '../helpers/builders.js';
import { ENGINES, openTestStore, type TestStore } from '../helpers/stores.js';

/** A source that hands over a snapshot held in memory: the shape every real connector produces. */
class MemorySource implements SourceConnector {
  readonly kind = 'memory';
  readonly limits = WECOM_LIMITS;
  constructor(public snapshot: Snapshot) {}
  async pull(): Promise<Snapshot> {
    return structuredClone(this.snapshot);
  }
}

const user = (externalId: string, departments: string[], over: Partial<SnapshotUser> = {}): SnapshotUser => ({
  externalId,
  name: `名${externalId}`,
  mobile: `+86 138${String(externalId.length * 7919 + externalId.charCodeAt(0)).padStart(8, '0')}`,
  departments: departments.map((d, i) => ({ externalId: d, order: i, leader: false })),
  mainDepartment: departments[0] ?? null,
  ...over,
});

function org(users = 12): Snapshot {
  return snapshot(
    [dept('1', null, '总部'), dept('2', '1', '研发'), dept('3', '1', '市场'), dept('4', '2', '平台')],
    Array.from({ length: users }, (_, i) => user(`u${i}`, i % 4 === 0 ? ['2', '4'] : [String((i % 3) + 2)])),
  );
}

/** The directory as the source would describe it: names and source ids instead of local ids. */
function normalized(doc: DirectoryExport, source: string) {
  const ext = new Map<number, string>();
  for (const d of doc.departments) {
    const l = d.links.find((x) => x.source === source);
    ext.set(d.id, l ? l.externalId : `local:${d.name}`);
  }
  return {
    departments: doc.departments
      .filter((d) => d.parentId !== null)
      .map((d) => ({ ext: ext.get(d.id), name: d.name, parent: d.parentId === null ? null : ext.get(d.parentId) }))
      .sort((a, b) => String(a.ext).localeCompare(String(b.ext))),
    users: doc.users
      .map((u) => ({
        link: u.links.find((l) => l.source === source)?.externalId,
        userid: u.userid,
        name: u.name,
        status: u.status,
        mobile: u.mobile,
        main: u.mainDepartment === null ? null : ext.get(u.mainDepartment),
        departments: u.departments
          .map((m) => ({ d: ext.get(m.id), leader: m.leader, order: m.order }))
          .sort((a, b) => String(a.d).localeCompare(String(b.d))),
      }))
      .sort((a, b) => String(a.userid).localeCompare(String(b.userid))),
  };
}

for (const engine of ENGINES) {
  describe(`reconcile engine on ${engine}`, () => {
    let t: TestStore;
    let store: Store;
    beforeEach(async () => {
      t = await openTestStore(engine);
      store = t.store;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    const run = (
      source: MemorySource,
      extra: { policy?: PolicyInput; dryRun?: boolean; batchSize?: number; afterCommit?: (n: number) => void } = {},
    ) =>
      executeRun(store, {
        kind: 'import',
        source: 'hr',
        connector: source,
        policy: resolvePolicy(extra.policy ?? {}),
        ...(extra.dryRun ? { dryRun: true } : {}),
        ...(extra.batchSize ? { batchSize: extra.batchSize } : {}),
        ...(extra.afterCommit ? { afterCommit: extra.afterCommit } : {}),
      });
    const exported = async () => exportDirectory(await store.directory.load());

    it('imports, then re-imports the same snapshot with an empty plan that writes nothing', async () => {
      const src = new MemorySource(org());
      const first = await run(src);
      expect(first.status).toBe('succeeded');
      expect(first.changes).toEqual({
        departments: { create: 4, update: 0, move: 0, delete: 0 },
        users: { create: 12, update: 0, disable: 0, enable: 0, delete: 0 },
      });
      const doc = await exported();
      const u0 = doc.users.find((u) => u.userid === 'u0');
      expect(u0?.departments).toHaveLength(2);
      expect(u0?.links).toEqual([{ source: 'hr', externalId: 'u0' }]);
      expect(await store.runs.countChanges(first.runId)).toBe(16);

      const revision = await store.directory.revision();
      const second = await run(src);
      expect(second.status).toBe('succeeded');
      expect(second.changes).toEqual({
        departments: { create: 0, update: 0, move: 0, delete: 0 },
        users: { create: 0, update: 0, disable: 0, enable: 0, delete: 0 },
      });
      expect(await store.directory.revision()).toBe(revision);
      expect(await store.runs.countChanges(second.runId)).toBe(0);
      expect(await exported()).toEqual(doc);
    });

    it('keeps what the source puts on a link (a unionid) with a new link, and replaces it when it changes', async () => {
      const s = org(3);
      s.users[0] = { ...s.users[0]!, linkData: { unionid: 'union-0' } };
      const src = new MemorySource(s);
      await run(src);
      const linkOf = async (userid: string) => (await exported()).users.find((u) => u.userid === userid)?.links;
      expect(await linkOf('u0')).toEqual([{ source: 'hr', externalId: 'u0', data: { unionid: 'union-0' } }]);
      expect(await linkOf('u1')).toEqual([{ source: 'hr', externalId: 'u1' }]);

      const s2 = org(3);
      s2.users[0] = { ...s2.users[0]!, linkData: { unionid: 'union-0b' } };
      s2.users[1] = { ...s2.users[1]!, linkData: { unionid: 'union-1' } };
      src.snapshot = s2;
      const r = await run(src);
      expect(r.changes.users.update).toBe(2);
      expect(await linkOf('u0')).toEqual([{ source: 'hr', externalId: 'u0', data: { unionid: 'union-0b' } }]);
      expect(await linkOf('u1')).toEqual([{ source: 'hr', externalId: 'u1', data: { unionid: 'union-1' } }]);
      // A source that says nothing of it leaves it.
      src.snapshot = org(3);
      expect((await run(src)).changes.users.update).toBe(0);
      expect(await linkOf('u1')).toEqual([{ source: 'hr', externalId: 'u1', data: { unionid: 'union-1' } }]);
    });

    it('follows the source through a sequence of changes, with exact counts each time', async () => {
      const src = new MemorySource(org());
      await run(src);

      // Sync 2: a hire, a leaver, a rename, a move, a user changing department and position.
      const s = org();
      s.departments[3] = dept('4', '3', '平台组');
      s.users = s.users.filter((u) => u.externalId !== 'u5');
      s.users.push(user('new1', ['3']));
      s.users[1] = {
        ...s.users[1]!,
        position: '经理',
        departments: [{ externalId: '3', order: 0 }],
        mainDepartment: '3',
      };
      src.snapshot = s;
      const r2 = await run(src);
      expect(r2.status).toBe('succeeded');
      expect(r2.changes).toEqual({
        departments: { create: 0, update: 0, move: 1, delete: 0 },
        users: { create: 1, update: 1, disable: 1, enable: 0, delete: 0 },
      });
      const changes = await store.runs.changes(r2.runId);
      const moved = changes.find((c) => c.action === 'move');
      expect(moved?.fields.name).toEqual({ before: '平台', after: '平台组' });
      const updated = changes.find((c) => c.action === 'update');
      expect(updated?.fields.position).toEqual({ before: null, after: '经理' });

      // Sync 3: the leaver comes back, a department is removed once emptied.
      const s3 = structuredClone(s);
      s3.users.push(user('u5', ['3']));
      s3.departments = s3.departments.filter((d) => d.externalId !== '4');
      s3.users = s3.users.map((u) => {
        const kept = u.departments?.filter((m) => m.externalId !== '4') ?? [];
        const departments = kept.length > 0 ? kept : [{ externalId: '2', order: 0, leader: false }];
        return { ...u, departments, mainDepartment: departments[0]!.externalId };
      });
      src.snapshot = s3;
      const r3 = await run(src);
      expect(r3.errors).toEqual([]);
      expect(r3.notes).toEqual([]);
      expect(r3.changes.departments.delete).toBe(1);
      expect(r3.changes.users.enable).toBe(1);
      expect(normalized(await exported(), 'hr')).toEqual(normalized(exportAfterCleanImport(s3), 'hr'));
    });

    it('blocks a mass disable, and approve applies exactly the stored plan', async () => {
      const src = new MemorySource(org(80));
      await run(src);
      src.snapshot = { ...org(80), users: org(80).users.slice(0, 20) };
      const blocked = await run(src);
      expect(blocked.status).toBe('blocked');
      expect(blocked.blocked).toMatchObject({ code: 'GUARD_BLOCKED', count: 60, base: 80 });
      expect((await exported()).users.filter((u) => u.status === 'disabled')).toHaveLength(0);
      expect(await store.runs.countChanges(blocked.runId)).toBe(60);

      const approved = await approveRun(store, blocked.runId);
      expect(approved.status).toBe('succeeded');
      expect(approved.changes.users.disable).toBe(60);
      expect((await exported()).users.filter((u) => u.status === 'disabled')).toHaveLength(60);
      await expect(approveRun(store, blocked.runId)).rejects.toMatchObject({ code: 'RUN_NOT_APPROVABLE' });
    });

    it('refuses to approve a plan made from an older directory', async () => {
      const src = new MemorySource(org(80));
      await run(src);
      src.snapshot = { ...org(80), users: org(80).users.slice(0, 20) };
      const blocked = await run(src);
      src.snapshot = org(81);
      expect((await run(src)).status).toBe('succeeded');
      await expect(approveRun(store, blocked.runId)).rejects.toMatchObject({ code: 'PLAN_STALE' });
      expect((await exported()).users.filter((u) => u.status === 'disabled')).toHaveLength(0);
    });

    it('a dry run writes nothing to the directory, records the preview, and can be approved', async () => {
      const src = new MemorySource(org());
      const planned = await run(src, { dryRun: true });
      expect(planned.status).toBe('planned');
      expect(planned.dryRun).toBe(true);
      expect(planned.changes.users.create).toBe(12);
      expect((await exported()).users).toEqual([]);
      expect(await store.directory.revision()).toBe(0);
      const preview = await store.runs.changes(planned.runId);
      expect(preview).toHaveLength(16);
      expect(preview.every((c) => c.objectId === null)).toBe(true);

      const applied = await approveRun(store, planned.runId);
      expect(applied.status).toBe('succeeded');
      expect((await exported()).users).toHaveLength(12);
      expect((await store.runs.changes(planned.runId)).every((c) => typeof c.objectId === 'number')).toBe(true);
    });

    it('an apply stopped between two transactions leaves a consistent directory, and the next run converges', async () => {
      const s = org(40);
      const src = new MemorySource(s);
      const crashed = await run(src, {
        batchSize: 7,
        afterCommit: (n) => {
          if (n === 3) throw new Error('simulated crash after the third commit');
        },
      });
      expect(crashed.status).toBe('failed');
      const partial = await exported();
      // Consistent: some users landed, each with its link and memberships pointing at existing departments.
      expect(partial.users.length).toBeGreaterThan(0);
      expect(partial.users.length).toBeLessThan(40);
      const deptIds = new Set(partial.departments.map((d) => d.id));
      for (const u of partial.users) {
        expect(u.links).toHaveLength(1);
        expect(u.departments.length).toBeGreaterThan(0);
        for (const m of u.departments) expect(deptIds.has(m.id)).toBe(true);
      }
      expect(await store.runs.countChanges(crashed.runId)).toBe(4 + partial.users.length);

      const rerun = await run(src);
      expect(rerun.status).toBe('succeeded');
      expect(rerun.changes.users.create).toBe(40 - partial.users.length);
      expect(rerun.changes.departments.create).toBe(0);
      expect(normalized(await exported(), 'hr')).toEqual(normalized(exportAfterCleanImport(s), 'hr'));
      expect((await run(src)).changes.users.create).toBe(0);
    });

    it('an incomplete subtree makes the run partial and disables nobody there', async () => {
      const src = new MemorySource(org());
      await run(src);
      const s = org();
      s.users = s.users.filter((u) => !u.departments?.some((m) => m.externalId === '3'));
      s.incompleteDepartments = ['3'];
      src.snapshot = s;
      const r = await run(src);
      expect(r.status).toBe('partial');
      expect(r.changes.users.disable).toBe(0);
      expect(r.suppressed?.users.disable).toBeGreaterThan(0);
      expect((await exported()).users.every((u) => u.status === 'active')).toBe(true);
    });

    it('a snapshot that fails validation is a failed run that writes nothing to the directory', async () => {
      const s = org();
      s.departments.push(dept('9', '99', 'orphan'));
      s.users.push({ externalId: 'bad id', name: 'x' });
      const r = await run(new MemorySource(s));
      expect(r.status).toBe('failed');
      expect(r.errors.map((e) => e.object)).toEqual(['department "9"', 'user "bad id"']);
      expect(r.errors[0]?.message).toMatch(/departments\[4\].*parentExternalId.*unknown parent "99"/);
      expect(await store.directory.revision()).toBe(0);
      expect((await exported()).departments).toHaveLength(1);
      expect(r.steps.map((st) => [st.name, st.status])).toEqual([['read', 'failed']]);
    });

    it('two sources live side by side under their own mount departments, and neither touches the other', async () => {
      const mounts = await store.transaction(async (tx) => {
        const first = await tx.directory.allocateIds('department', 2);
        await tx.directory.insertDepartments([
          { id: first, parentId: 1, name: '企业微信', order: 0 },
          { id: first + 1, parentId: 1, name: '钉钉', order: 1 },
        ]);
        await tx.directory.bumpRevision();
        return [first, first + 1] as const;
      });
      const runAs = (source: string, snap: Snapshot, mount: number) =>
        executeRun(store, {
          kind: 'import',
          source,
          connector: new MemorySource(snap),
          policy: resolvePolicy({ mountDepartmentId: mount }),
        });
      const wecom = org(6);
      // The same department ids and userids in both corps: links keep them apart.
      const dingtalk = structuredClone(wecom);
      dingtalk.users = dingtalk.users.map((u) => ({ ...u, userid: `dt-${u.externalId}`, mobile: null }));
      expect((await runAs('wecom', wecom, mounts[0])).status).toBe('succeeded');
      expect((await runAs('dingtalk', dingtalk, mounts[1])).status).toBe('succeeded');

      const doc = await exported();
      const top = (source: string) =>
        doc.departments.find((d) => d.links.some((l) => l.source === source && l.externalId === '1'));
      expect(top('wecom')?.parentId).toBe(mounts[0]);
      expect(top('dingtalk')?.parentId).toBe(mounts[1]);
      expect(doc.users).toHaveLength(12);

      // The WeCom corp loses everyone: only WeCom users are disabled, the DingTalk tree is untouched.
      const emptied = await runAs('wecom', { ...wecom, users: [] }, mounts[0]);
      expect(emptied.changes.users.disable).toBe(6);
      const after = await exported();
      expect(after.users.filter((u) => u.status === 'disabled').every((u) => u.links[0]?.source === 'wecom')).toBe(
        true,
      );
      const dingtalkPart = (d: DirectoryExport) => {
        const n = normalized(d, 'dingtalk');
        return {
          departments: n.departments.filter((x) => !String(x.ext).startsWith('local:')),
          users: n.users.filter((u) => u.link !== undefined),
        };
      };
      expect(dingtalkPart(after).users).toHaveLength(6);
      expect(dingtalkPart(after).users.every((u) => u.status === 'active')).toBe(true);
      expect(dingtalkPart(after)).toEqual(dingtalkPart(doc));
    });

    it('records every step with timings', async () => {
      const r = await run(new MemorySource(org()));
      expect(r.steps.map((s) => [s.name, s.status])).toEqual([
        ['read', 'ok'],
        ['plan', 'ok'],
        ['guard', 'ok'],
        ['apply', 'ok'],
      ]);
      expect(r.steps.every((s) => s.durationMs >= 0 && s.startedAt.length > 0)).toBe(true);
      expect(r.read).toEqual({ departments: 4, users: 12, complete: true, incompleteDepartments: 0, unseenFields: [] });
    });
  });
}

/** What a clean directory looks like after importing s once: derived from the snapshot, not from the engine. */
function exportAfterCleanImport(s: Snapshot): DirectoryExport {
  const ids = new Map<string, number>(s.departments.map((d, i) => [d.externalId, i + 2]));
  return {
    revision: 0,
    departments: [
      { id: 1, name: 'Organization', parentId: null, order: 0, links: [] },
      ...s.departments.map((d) => ({
        id: ids.get(d.externalId) as number,
        name: d.name as string,
        parentId: d.parentExternalId === null ? 1 : (ids.get(d.parentExternalId) as number),
        order: d.order ?? 0,
        links: [{ source: 'hr', externalId: d.externalId }],
      })),
    ],
    users: s.users.map((u, i) => ({
      id: i + 1,
      userid: u.externalId,
      name: u.name ?? null,
      alias: null,
      status: u.status ?? 'active',
      position: u.position ?? null,
      mobile: u.mobile ?? null,
      email: null,
      telephone: null,
      gender: null,
      avatar: null,
      address: null,
      employeeNo: null,
      mainDepartment: typeof u.mainDepartment === 'string' ? (ids.get(u.mainDepartment) as number) : null,
      departments: (u.departments ?? []).map((m) => ({
        id: ids.get(m.externalId) as number,
        leader: m.leader ?? false,
        order: m.order ?? 0,
      })),
      attributes: {},
      links: [{ source: 'hr', externalId: u.externalId }],
    })),
  };
}
