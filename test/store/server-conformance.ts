/**
 * The server's repositories (access: admins, sessions, API tokens; views: the API's reads; the connections'
 * sync switch and scheduled full sync) in the storage conformance suite, run unchanged against SQLite and PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyCounts } from '../../src/reconcile/types.js';
import type { Store } from '../../src/store/store.js';
import { blankProfile } from '../helpers/builders.js';
import { openTestStore, type Engine, type TestStore } from '../helpers/stores.js';

export function describeServerStoreConformance(engine: Engine): void {
  describe(`Store conformance: server repositories (${engine})`, () => {
    let t: TestStore;
    let store: Store;
    beforeEach(async () => {
      t = await openTestStore(engine);
      store = t.store;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    describe('access: admins', () => {
      it('counts, creates, reads, refuses a taken name, changes the password, lists by name', async () => {
        const a = store.access;
        expect(await a.countAdmins()).toBe(0);
        expect(await a.getAdmin('admin')).toBeUndefined();
        const created = await a.createAdmin('admin', 'scrypt$hash-1');
        expect(created).toMatchObject({ username: 'admin', passwordHash: 'scrypt$hash-1' });
        await a.createAdmin('张三', 'scrypt$hash-2');
        expect(await a.countAdmins()).toBe(2);
        await expect(a.createAdmin('admin', 'x')).rejects.toMatchObject({ code: 'ADMIN_EXISTS' });
        expect(await a.setAdminPassword('admin', 'scrypt$hash-3')).toBe(true);
        expect(await a.setAdminPassword('nobody', 'x')).toBe(false);
        expect((await a.getAdmin('admin'))?.passwordHash).toBe('scrypt$hash-3');
        expect((await a.listAdmins()).map((x) => x.username)).toEqual(['admin', '张三']);
        expect(Object.keys((await a.listAdmins())[0] ?? {})).not.toContain('passwordHash');
      });
    });

    describe('access: the must-change flag', () => {
      it('is set only when asked, at creation or with a new password; a password set without it clears it', async () => {
        const a = store.access;
        expect((await a.createAdmin('admin', 'h1', { mustChangePassword: true })).mustChangePassword).toBe(true);
        await a.createAdmin('ops', 'h2');
        expect((await a.getAdmin('admin'))?.mustChangePassword).toBe(true);
        expect((await a.getAdmin('ops'))?.mustChangePassword).toBe(false);
        expect((await a.listAdmins()).map((x) => [x.username, x.mustChangePassword])).toEqual([
          ['admin', true],
          ['ops', false],
        ]);
        expect(await a.setAdminPassword('admin', 'h3')).toBe(true);
        expect(await a.getAdmin('admin')).toMatchObject({ passwordHash: 'h3', mustChangePassword: false });
        await a.setAdminPassword('ops', 'h4', { mustChangePassword: true });
        expect((await a.getAdmin('ops'))?.mustChangePassword).toBe(true);
      });
    });

    describe('access: sign-in counters', () => {
      const now = 1_800_000_000_000;
      // Free until the 3rd failure, then 1 s, doubling.
      const delay = (n: number): number => (n < 3 ? 0 : 1000 * 2 ** (n - 3));

      it('counts each claim, blocks after the free ones with growing waits, refuses without counting while blocked', async () => {
        const a = store.access;
        const key = { username: 'admin', ip: '10.0.0.1' };
        for (let i = 0; i < 2; i++)
          expect(await a.claimLoginAttempt([{ ...key, delay }], now)).toEqual({ allowed: true });
        expect(await a.getLoginAttempts([key])).toEqual([{ ...key, failures: 2, blockedUntil: 0, updatedAt: now }]);
        expect(await a.claimLoginAttempt([{ ...key, delay }], now + 10)).toEqual({ allowed: true });
        expect((await a.getLoginAttempts([key]))[0]).toMatchObject({ failures: 3, blockedUntil: now + 10 + 1000 });
        // Blocked: refused, nothing written.
        expect(await a.claimLoginAttempt([{ ...key, delay }], now + 500)).toEqual({
          allowed: false,
          blockedUntil: now + 1010,
        });
        expect((await a.getLoginAttempts([key]))[0]).toMatchObject({ failures: 3, updatedAt: now + 10 });
        // After the wait, the next failure waits twice as long.
        expect(await a.claimLoginAttempt([{ ...key, delay }], now + 1010)).toEqual({ allowed: true });
        expect((await a.getLoginAttempts([key]))[0]).toMatchObject({ failures: 4, blockedUntil: now + 1010 + 2000 });
        // Another address, and another name, have counters of their own.
        const other = { username: 'admin', ip: '10.0.0.2' };
        expect(await a.claimLoginAttempt([{ ...other, delay }], now + 1020)).toEqual({ allowed: true });
        expect(await a.getLoginAttempts([other, { username: 'ops', ip: '10.0.0.1' }])).toEqual([
          { ...other, failures: 1, blockedUntil: 0, updatedAt: now + 1020 },
        ]);
      });

      it('several keys at once: any blocked key refuses the claim, and none of them counts it', async () => {
        const a = store.access;
        const user = { username: 'admin', ip: '10.0.0.1' };
        const address = { username: '', ip: '10.0.0.1' };
        const never = (): number => 0;
        const first = (): number => 60_000;
        expect(
          await a.claimLoginAttempt(
            [
              { ...user, delay: never },
              { ...address, delay: first },
            ],
            now,
          ),
        ).toEqual({ allowed: true });
        expect(
          await a.claimLoginAttempt(
            [
              { username: 'ops', ip: '10.0.0.1', delay: never },
              { ...address, delay: first },
            ],
            now + 1,
          ),
        ).toEqual({ allowed: false, blockedUntil: now + 60_000 });
        expect(await a.getLoginAttempts([{ username: 'ops', ip: '10.0.0.1' }])).toEqual([]);
        expect((await a.getLoginAttempts([address]))[0]?.failures).toBe(1);
      });

      it('claims sent at once are counted one by one: only the free ones pass', async () => {
        const a = store.access;
        const key = { username: 'admin', ip: '10.0.0.9' };
        const results = await Promise.all(
          Array.from({ length: 12 }, () =>
            a.claimLoginAttempt([{ ...key, delay: (n) => (n < 3 ? 0 : 3_600_000) }], now),
          ),
        );
        expect(results.filter((r) => r.allowed)).toHaveLength(3);
        expect((await a.getLoginAttempts([key]))[0]).toMatchObject({ failures: 3, blockedUntil: now + 3_600_000 });
      });

      it('clears keys, every key of a username, and expires idle counters whose wait is over', async () => {
        const a = store.access;
        const claim = (username: string, ip: string, at: number, d = delay) =>
          a.claimLoginAttempt([{ username, ip, delay: d }], at);
        await claim('admin', '10.0.0.1', now);
        await claim('admin', '10.0.0.2', now);
        await claim('admin', '10.0.0.3', now);
        await claim('ops', '10.0.0.1', now);
        await a.clearLoginAttempts([{ username: 'admin', ip: '10.0.0.3' }]);
        expect((await a.getLoginAttempts([{ username: 'admin', ip: '10.0.0.3' }])).length).toBe(0);
        expect(await a.clearLoginAttemptsOf('admin')).toBe(2);
        expect((await a.getLoginAttempts([{ username: 'ops', ip: '10.0.0.1' }])).length).toBe(1);

        await claim('old', '10.0.0.4', now - 10_000);
        await claim('blocked', '10.0.0.5', now - 10_000, () => 3_600_000);
        await claim('recent', '10.0.0.6', now);
        // Idle since before now - 5 s: 'old' goes; 'blocked' stays while its wait lasts; 'ops' and 'recent' are fresh.
        expect(await a.expireLoginAttempts(now - 5000, now)).toBe(1);
        const left = await a.getLoginAttempts(
          ['old', 'blocked', 'recent', 'ops'].map((username, i) => ({
            username,
            ip: ['10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.1'][i] as string,
          })),
        );
        expect(left.map((r) => r.username).sort()).toEqual(['blocked', 'ops', 'recent']);
        expect(await a.expireLoginAttempts(now - 5000, now + 3_600_000)).toBe(1);
      });
    });

    describe('access: sessions', () => {
      it('finds a session by its hash until it expires; deletes one, all of an admin, and the expired', async () => {
        const a = store.access;
        await a.createAdmin('admin', 'h');
        await a.createAdmin('ops', 'h');
        const now = 1_800_000_000_000;
        const at = new Date(now).toISOString();
        await a.createSession('h1', { username: 'admin', csrfToken: 'c1', createdAt: at, expiresAt: now + 1000 });
        await a.createSession('h2', { username: 'admin', csrfToken: 'c2', createdAt: at, expiresAt: now + 5000 });
        await a.createSession('h3', { username: 'ops', csrfToken: 'c3', createdAt: at, expiresAt: now + 5000 });
        const s1 = await a.getSession('h1', now);
        expect(s1).toEqual({ username: 'admin', csrfToken: 'c1', createdAt: at, expiresAt: now + 1000 });
        expect(typeof s1?.expiresAt).toBe('number');
        expect(await a.getSession('h1', now + 1000)).toBeUndefined();
        expect(await a.getSession('nope', now)).toBeUndefined();
        expect(await a.deleteExpiredSessions(now + 2000)).toBe(1);
        await a.deleteSession('h3');
        expect(await a.getSession('h3', now)).toBeUndefined();
        await a.createSession('h4', { username: 'admin', csrfToken: 'c4', createdAt: at, expiresAt: now + 5000 });
        // A password change keeps the session it was made in.
        expect(await a.deleteSessionsOf('admin', 'h4')).toBe(1);
        expect(await a.getSession('h4', now)).toBeDefined();
        expect(await a.deleteSessionsOf('admin')).toBe(1);
        expect(await a.getSession('h2', now)).toBeUndefined();
      });

      it('a session belongs to an existing admin and goes with it', async () => {
        const at = new Date().toISOString();
        await expect(
          store.access.createSession('h', {
            username: 'ghost',
            csrfToken: 'c',
            createdAt: at,
            expiresAt: Date.now() + 1000,
          }),
        ).rejects.toThrow();
      });
    });

    describe('access: API tokens', () => {
      it('creates, finds by hash, touches, lists by name, refuses a taken name or hash, revokes', async () => {
        const a = store.access;
        const ci = await a.createApiToken({ name: 'ci', tokenHash: 'hash-ci', prefix: 'osk_abcd' });
        expect(ci).toMatchObject({ name: 'ci', prefix: 'osk_abcd', lastUsedAt: null });
        await a.createApiToken({ name: 'hr-portal', tokenHash: 'hash-hr', prefix: 'osk_efgh' });
        await expect(a.createApiToken({ name: 'ci', tokenHash: 'other', prefix: 'osk_x' })).rejects.toMatchObject({
          code: 'TOKEN_EXISTS',
        });
        await expect(a.createApiToken({ name: 'other', tokenHash: 'hash-ci', prefix: 'osk_x' })).rejects.toThrow();
        expect((await a.findApiToken('hash-ci'))?.name).toBe('ci');
        expect(await a.findApiToken('unknown')).toBeUndefined();
        const at = '2026-11-22T02:00:00.000Z';
        await a.touchApiToken('ci', at);
        expect((await a.findApiToken('hash-ci'))?.lastUsedAt).toBe(at);
        expect((await a.listApiTokens()).map((x) => x.name)).toEqual(['ci', 'hr-portal']);
        expect(JSON.stringify(await a.listApiTokens())).not.toContain('hash-');
        expect(await a.revokeApiToken('ci')).toBe(true);
        expect(await a.revokeApiToken('ci')).toBe(false);
        expect(await a.findApiToken('hash-ci')).toBeUndefined();
      });
    });

    describe('connections: sync switch', () => {
      it('starts off, turns on and off, and survives other updates', async () => {
        const c = await store.connections.create({
          name: 'acme',
          platform: 'wecom',
          settings: { corpId: 'ww1' },
          secrets: 'sealed',
          policy: {},
        });
        expect(c.syncEnabled).toBe(false);
        expect((await store.connections.update('acme', { syncEnabled: true }))?.syncEnabled).toBe(true);
        expect((await store.connections.get('acme'))?.syncEnabled).toBe(true);
        expect((await store.connections.update('acme', { settings: { corpId: 'ww2' } }))?.syncEnabled).toBe(true);
        expect((await store.connections.list())[0]?.syncEnabled).toBe(true);
        expect((await store.connections.update('acme', { syncEnabled: false }))?.syncEnabled).toBe(false);
      });
    });

    describe('connections: scheduled full sync', () => {
      it('defaults to daily at 02:00, can be created off, changed, turned off, and survives other updates', async () => {
        const c = await store.connections.create({
          name: 'acme',
          platform: 'wecom',
          settings: { corpId: 'ww1' },
          secrets: 'sealed',
          policy: {},
        });
        expect(c.reconcileCron).toBe('0 2 * * *');
        expect((await store.connections.get('acme'))?.reconcileCron).toBe('0 2 * * *');
        const off = await store.connections.create({
          name: 'quiet',
          platform: 'dingtalk',
          settings: {},
          secrets: 'sealed',
          policy: {},
          reconcileCron: null,
        });
        expect(off.reconcileCron).toBeNull();
        expect((await store.connections.get('quiet'))?.reconcileCron).toBeNull();

        expect((await store.connections.update('acme', { reconcileCron: '*/5 * * * * *' }))?.reconcileCron).toBe(
          '*/5 * * * * *',
        );
        expect(
          (await store.connections.update('acme', { syncEnabled: true, settings: { corpId: 'ww2' } }))?.reconcileCron,
        ).toBe('*/5 * * * * *');
        expect((await store.connections.list()).map((x) => [x.name, x.reconcileCron, x.syncEnabled])).toEqual([
          ['acme', '*/5 * * * * *', true],
          ['quiet', null, false],
        ]);
        expect((await store.connections.update('acme', { reconcileCron: null }))?.reconcileCron).toBeNull();
        expect((await store.connections.update('quiet', { reconcileCron: '30 1 * * 1-5' }))?.reconcileCron).toBe(
          '30 1 * * 1-5',
        );
        expect((await store.connections.get('acme'))?.reconcileCron).toBeNull();
      });
    });

    describe('views', () => {
      async function seed(): Promise<void> {
        await store.transaction(async (tx) => {
          await tx.directory.insertDepartments([
            { id: 2, parentId: 1, name: '研发中心', order: 100 },
            { id: 3, parentId: 2, name: 'Platform', order: 50 },
            { id: 4, parentId: 1, name: 'Sales', order: 10 },
          ]);
          const user = (id: number, userid: string, name: string, mobile: string | null) => ({
            id,
            ...blankProfile(),
            userid,
            name,
            mobile,
            position: id % 2 === 0 ? '工程师' : null,
            status: id === 13 ? ('disabled' as const) : ('active' as const),
            mainDepartmentId: 2,
            attributes: (id === 10 ? { 工号: 'A-10' } : {}) as Record<string, string>,
          });
          await tx.directory.insertUsers([
            user(10, 'ZhangSan', '张三', '+86 138 0000 0010'),
            user(11, 'lisi', '李四', '+86 138 0000 0011'),
            user(12, 'wang_wu', '王五', null),
            user(13, 'zhao%6', '赵六', '+86 139 1111 2222'),
            user(14, 'alice', 'Alice Zhang', null),
          ]);
          await tx.directory.upsertMemberships([
            ...[10, 11, 12, 13, 14].map((u) => ({ userId: u, departmentId: 2, order: u, leader: u === 10 })),
            { userId: 10, departmentId: 3, order: 1, leader: false },
            { userId: 11, departmentId: 4, order: 1, leader: true },
          ]);
          await tx.directory.insertLinks([
            { kind: 'department', objectId: 2, source: 'wecom', externalId: '2' },
            { kind: 'department', objectId: 2, source: 'hr', externalId: 'RD' },
            { kind: 'user', objectId: 10, source: 'wecom', externalId: 'ZhangSan' },
          ]);
          await tx.directory.bumpRevision();
        });
      }

      it('departmentList: every department by id with direct member counts, links and the revision', async () => {
        await seed();
        const list = await store.views.departmentList();
        expect(list.revision).toBe(await store.directory.revision());
        expect(list.items.map((d) => [d.id, d.parentId, d.name, d.order, d.memberCount])).toEqual([
          [1, null, 'Organization', 0, 0],
          [2, 1, '研发中心', 100, 5],
          [3, 2, 'Platform', 50, 1],
          [4, 1, 'Sales', 10, 1],
        ]);
        expect(list.items[1]?.links).toEqual(
          expect.arrayContaining([
            { source: 'wecom', externalId: '2' },
            { source: 'hr', externalId: 'RD' },
          ]),
        );
        expect(list.items[0]?.links).toEqual([]);
        expect(await store.views.departmentExists(3)).toBe(true);
        expect(await store.views.departmentExists(99)).toBe(false);
      });

      it('departmentListJson: the same list as JSON text, links in a fixed order, at the same revision', async () => {
        await seed();
        await store.transaction(async (tx) => {
          await tx.directory.insertDepartments([
            { id: 5, parentId: 4, name: 'Q"uote\\ \u0001 \u2028 😀 <b>', order: -3 },
          ]);
          await tx.directory.bumpRevision();
        });
        const list = await store.views.departmentList();
        const text = await store.views.departmentListJson();
        const parsed = JSON.parse(text.json.toString('utf8')) as typeof list;
        expect(text.revision).toBe(list.revision);
        expect(parsed.revision).toBe(list.revision);
        const byLink = (a: { source: string; externalId: string }, b: { source: string; externalId: string }) =>
          a.source < b.source
            ? -1
            : a.source > b.source
              ? 1
              : a.externalId < b.externalId
                ? -1
                : a.externalId > b.externalId
                  ? 1
                  : 0;
        expect(parsed.items).toEqual(list.items.map((d) => ({ ...d, links: [...d.links].sort(byLink) })));
        expect(parsed.items[1]?.links).toEqual([
          { source: 'hr', externalId: 'RD' },
          { source: 'wecom', externalId: '2' },
        ]);
        await store.directory.bumpRevision();
        expect((await store.views.departmentListJson()).revision).toBe(list.revision + 1);
      });

      it('members: by id, in pages after a cursor, searched by name, userid ignoring case, or mobile; wildcards are literal', async () => {
        await seed();
        const page1 = await store.views.members(2, { limit: 2 });
        expect(page1.total).toBe(5);
        expect(page1.items.map((m) => m.id)).toEqual([10, 11]);
        expect(page1.items[0]).toEqual({
          id: 10,
          userid: 'ZhangSan',
          name: '张三',
          position: '工程师',
          mobile: '+86 138 0000 0010',
          email: null,
          status: 'active',
          leader: true,
        });
        const page2 = await store.views.members(2, { limit: 2, afterId: 11 });
        expect(page2.items.map((m) => m.id)).toEqual([12, 13]);
        expect(page2.items[1]?.status).toBe('disabled');
        expect((await store.views.members(2, { limit: 10, afterId: 13 })).items.map((m) => m.id)).toEqual([14]);

        const ids = async (q: string) => (await store.views.members(2, { q, limit: 10 })).items.map((m) => m.id);
        expect(await ids('张')).toEqual([10]);
        expect(await ids('zhang')).toEqual([10, 14]);
        expect(await ids('ZHANGSAN')).toEqual([10]);
        expect(await ids('0011')).toEqual([11]);
        expect(await ids('%')).toEqual([13]);
        expect(await ids('_')).toEqual([12]);
        expect(await ids('nobody')).toEqual([]);
        expect((await store.views.members(2, { q: 'zhang', limit: 1 })).total).toBe(2);
        expect((await store.views.members(4, { limit: 10 })).items).toEqual([
          expect.objectContaining({ id: 11, leader: true }),
        ]);
      });

      it('user: profile, memberships with department names, links; undefined for no such user', async () => {
        await seed();
        const found = await store.views.user(10);
        expect(found?.user).toMatchObject({
          id: 10,
          userid: 'ZhangSan',
          name: '张三',
          status: 'active',
          mainDepartmentId: 2,
          attributes: { 工号: 'A-10' },
        });
        expect(found?.memberships).toEqual([
          { departmentId: 2, departmentName: '研发中心', leader: true, order: 10 },
          { departmentId: 3, departmentName: 'Platform', leader: false, order: 1 },
        ]);
        expect(found?.links).toEqual([{ source: 'wecom', externalId: 'ZhangSan' }]);
        expect(await store.views.user(999)).toBeUndefined();
      });

      it('userHistory: changes of applied runs, newest first, previews left out', async () => {
        await seed();
        const applied = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const later = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        const preview = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: true, status: 'running' });
        const change = (
          seq: number,
          action: string,
          objectId: number,
          fields: Record<string, { before: unknown; after: unknown }>,
        ) => ({
          seq,
          objectKind: 'user' as const,
          action,
          objectId,
          externalId: 'ZhangSan',
          label: '张三',
          fields,
        });
        await store.runs.addChanges(applied.id, [
          change(1, 'create', 10, { name: { before: null, after: '张三' } }),
          change(2, 'create', 11, { name: { before: null, after: '李四' } }),
        ]);
        await store.runs.addChanges(later.id, [
          change(1, 'update', 10, { position: { before: null, after: '工程师' } }),
        ]);
        await store.runs.addChanges(preview.id, [
          change(1, 'disable', 10, { status: { before: 'active', after: 'disabled' } }),
        ]);
        await store.runs.update(applied.id, { status: 'succeeded' });
        await store.runs.update(later.id, { status: 'partial' });
        await store.runs.update(preview.id, { status: 'planned' });
        const history = await store.views.userHistory(10, 10);
        expect(history.map((h) => [h.runId, h.action, h.runStatus])).toEqual([
          [later.id, 'update', 'partial'],
          [applied.id, 'create', 'succeeded'],
        ]);
        expect(history[1]).toMatchObject({
          runKind: 'sync',
          source: 'wecom',
          fields: { name: { before: null, after: '张三' } },
        });
        expect(await store.views.userHistory(10, 1)).toHaveLength(1);
      });

      it('runs list: filters by kind, pages before an id', async () => {
        for (let i = 0; i < 5; i++)
          await store.runs.create({
            kind: i % 2 === 0 ? 'sync' : 'import',
            source: 'wecom',
            dryRun: false,
            status: 'succeeded',
          });
        const all = await store.runs.list({});
        expect(all.map((r) => r.id)).toEqual([5, 4, 3, 2, 1]);
        expect((await store.runs.list({ kind: 'import' })).map((r) => r.id)).toEqual([4, 2]);
        expect((await store.runs.list({ beforeId: 4, limit: 2 })).map((r) => r.id)).toEqual([3, 2]);
      });

      it('lease and abandonRun: reads a lock holder; fails a running run once, with its error added', async () => {
        expect(await store.views.lease('run:1')).toBeUndefined();
        await store.locks.tryAcquire('run:1', 'server:h:1:n', 60_000);
        const lease = await store.views.lease('run:1');
        expect(lease?.holder).toBe('server:h:1:n');
        expect(typeof lease?.expiresAt).toBe('number');

        const run = await store.runs.create({ kind: 'sync', source: 'wecom', dryRun: false, status: 'running' });
        await store.runs.update(run.id, { errors: [{ code: 'EARLIER', message: 'kept' }], counts: emptyCounts() });
        const error = { code: 'RUN_ABANDONED', message: 'gone', hint: 'again' };
        expect(await store.views.abandonRun(run.id, error)).toBe(true);
        const after = await store.runs.get(run.id);
        expect(after?.status).toBe('failed');
        expect(after?.finishedAt).not.toBeNull();
        expect(after?.errors).toEqual([{ code: 'EARLIER', message: 'kept' }, error]);
        expect(await store.views.abandonRun(run.id, error)).toBe(false);
      });
    });
  });
}
