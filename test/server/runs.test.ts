import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changesSchema,
  departmentListSchema,
  membersSchema,
  runDetailSchema,
  runListSchema,
  userDetailSchema,
} from '../../src/server/schemas.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { Client, signedIn, startHarness, until, type Harness } from './harness.js';

/** Background runs from the API against a real WeCom simulator, and the directory they leave behind. */

let sim: WecomSimulator;
let simUrl: string;
let h: Harness;
let c: Client;

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 66, departments: 20, users: 150, config: { sensitiveFields: 'returned' } });
  simUrl = await sim.listen(0);
  h = await startHarness('sqlite');
  c = await signedIn(h);
  const created = await c.request('POST', '/api/v1/connections', {
    platform: 'wecom',
    name: 'acme',
    settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: simUrl },
    secrets: { secret: sim.identity.secret, contactsSecret: sim.identity.contactsSecret },
  });
  expect(created.status).toBe(201);
});

afterAll(async () => {
  await h.close();
  await sim.close();
});

async function finished(runId: number): Promise<any> {
  return until(`run ${runId} to finish`, async () => {
    const run = await c.get(`/api/v1/runs/${runId}`);
    return run.body.status !== 'running' && run.body.progress === undefined ? run.body : undefined;
  });
}

describe('sync from the API', () => {
  it('refuses while 开启同步 is off; starts in the background (202); a second start is 409 with the running run; progress shows; it succeeds', async () => {
    const disabled = await c.request('POST', '/api/v1/connections/acme/sync', {});
    expect(disabled.status).toBe(409);
    expect(disabled.body.error).toMatchObject({ code: 'SYNC_DISABLED', hint: expect.stringContaining('开启同步') });
    expect((await c.request('POST', '/api/v1/connections/nope/sync', {})).status).toBe(404);
    expect((await c.request('PATCH', '/api/v1/connections/acme', { syncEnabled: true })).status).toBe(200);

    sim.updateConfig({ latencyMs: 120 });
    const started = await c.request('POST', '/api/v1/connections/acme/sync', {});
    expect(started.status).toBe(202);
    const runId = started.body.runId as number;
    expect(runId).toBeGreaterThan(0);

    const again = await c.request('POST', '/api/v1/connections/acme/sync', { dryRun: true });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      error: { code: 'RUN_IN_PROGRESS', message: expect.any(String), hint: expect.any(String) },
      runId,
    });

    const running = await until('progress', async () => {
      const r = await c.get(`/api/v1/runs/${runId}`);
      return r.body.progress ? r.body : undefined;
    });
    expect(running.status).toBe('running');
    expect(running.progress).toMatchObject({
      phase: expect.stringMatching(/^(read|plan|guard|apply)$/),
      done: expect.any(Number),
    });
    const listed = await c.get('/api/v1/runs?status=running');
    expect(listed.body.items.find((r: { runId: number }) => r.runId === runId)?.progress).toBeDefined();
    sim.updateConfig({ latencyMs: 0 });

    const report = await finished(runId);
    expect(runDetailSchema.parse(report)).toBeTruthy();
    expect(report).toMatchObject({ runId, kind: 'sync', source: 'acme', status: 'succeeded', dryRun: false });
    expect(report.changes.users.create).toBe(150);
    expect(report.read).toMatchObject({ users: 150, complete: true });
    expect(report.steps.map((s: { name: string }) => s.name)).toEqual(['read', 'plan', 'guard', 'apply']);
    expect(report.changedObjects.total).toBeGreaterThan(150);
    expect(report.changedObjects.items).toHaveLength(100);

    const changes = await c.get(`/api/v1/runs/${runId}/changes?limit=5&offset=3`);
    expect(changesSchema.parse(changes.body).items.map((x) => x.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(changes.body.total).toBe(report.changedObjects.total);
    expect(changes.body.items[0].fields).toBeTypeOf('object');

    // Once finished, the connection may sync again.
    const next = await c.request('POST', '/api/v1/connections/acme/sync', { dryRun: true });
    expect(next.status).toBe(202);
    expect((await finished(next.body.runId)).status).toBe('planned');
  });

  it('the directory endpoints show the tree, members with search and paging, and a user with history', async () => {
    const deps = await c.get('/api/v1/directory/departments');
    expect(departmentListSchema.parse(deps.body).items).toHaveLength(sim.corp.snapshot().departments.length + 1);
    expect(deps.body.revision).toBeGreaterThan(0);
    const linked = deps.body.items.filter((d: { links: unknown[] }) => d.links.length > 0);
    expect(linked.length).toBe(sim.corp.snapshot().departments.length);
    expect(linked[0].links[0].source).toBe('acme');
    const ids = new Set(deps.body.items.map((d: { id: number }) => d.id));
    for (const d of deps.body.items) if (d.parentId !== null) expect(ids.has(d.parentId)).toBe(true);

    const biggest = [...deps.body.items].sort(
      (a: { memberCount: number }, b: { memberCount: number }) => b.memberCount - a.memberCount,
    )[0];
    expect(biggest.memberCount).toBeGreaterThan(5);
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await c.get(
        `/api/v1/directory/departments/${biggest.id}/members?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(membersSchema.parse(page.body).total).toBe(biggest.memberCount);
      expect(page.body.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.body.items.map((m: { id: number }) => m.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(Math.ceil(biggest.memberCount / 4));
    expect(new Set(seen).size).toBe(biggest.memberCount);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));

    const first = (await c.get(`/api/v1/directory/departments/${biggest.id}/members?limit=200`)).body.items[0];
    const search = async (q: string) =>
      (await c.get(`/api/v1/directory/departments/${biggest.id}/members?q=${encodeURIComponent(q)}`)).body.items.map(
        (m: { id: number }) => m.id,
      );
    expect(await search(first.name.slice(1))).toContain(first.id);
    expect(await search(first.userid.toUpperCase())).toContain(first.id);
    expect(first.mobile).toBeTruthy();
    expect(await search(first.mobile.slice(-6))).toContain(first.id);
    expect(await search('nobody-is-called-this')).toEqual([]);
    expect((await c.get('/api/v1/directory/departments/999999/members')).status).toBe(404);

    const user = await c.get(`/api/v1/directory/users/${first.id}`);
    expect(userDetailSchema.parse(user.body).user).toMatchObject({
      id: first.id,
      userid: first.userid,
      name: first.name,
    });
    expect(user.body.memberships.map((m: { departmentId: number }) => m.departmentId)).toContain(biggest.id);
    expect(user.body.memberships[0].departmentName).toEqual(expect.any(String));
    expect(user.body.links).toEqual([{ source: 'acme', externalId: first.userid }]);
    expect(user.body.history[0]).toMatchObject({
      action: 'create',
      source: 'acme',
      runKind: 'sync',
      runStatus: 'succeeded',
      fields: { name: { before: null, after: first.name } },
    });
    expect((await c.get('/api/v1/directory/users/999999')).status).toBe(404);
  });

  it('a run blocked by the deletion guard is approved through the API and applied', async () => {
    expect(
      (await c.request('PATCH', '/api/v1/connections/acme', { policy: { guard: { maxUsers: 3, maxRatio: 0.05 } } }))
        .status,
    ).toBe(200);
    const gone = sim.corp
      .snapshot()
      .users.slice(0, 12)
      .map((u) => u.userid);
    for (const userid of gone) sim.corp.apply({ op: 'deleteUser', userid });

    const started = await c.request('POST', '/api/v1/connections/acme/sync', {});
    expect(started.status).toBe(202);
    const blocked = await finished(started.body.runId);
    expect(blocked.status).toBe('blocked');
    expect(blocked.blocked).toMatchObject({ code: 'GUARD_BLOCKED', count: 12, hint: expect.any(String) });
    expect(blocked.changes.users.disable).toBe(12);
    expect(blocked.changedObjects.items.filter((x: { action: string }) => x.action === 'disable')).toHaveLength(12);
    // English by default, Chinese for the console's Chinese pages; the stored Chinese text itself never shows.
    expect(blocked.blocked.message).toMatch(/^the plan disables or deletes 12 of \d+ active users of source "acme"/);
    expect(JSON.stringify(blocked)).not.toContain('"zh"');
    const zh = { headers: { 'accept-language': 'zh-CN' } };
    const blockedZh = (await c.request('GET', `/api/v1/runs/${blocked.runId}`, undefined, zh)).body;
    expect(blockedZh.blocked).toStrictEqual({
      code: 'GUARD_BLOCKED',
      count: 12,
      base: blocked.blocked.base,
      message: `计划停用或删除来源「acme」${blocked.blocked.base} 名在职成员中的 12 名（${((12 / blocked.blocked.base) * 100).toFixed(1)}%），超过上限 3 人且超过 5%`,
      hint: expect.stringContaining('批准'),
    });
    expect(blockedZh.errors[0]).toMatchObject({ code: 'GUARD_BLOCKED', message: blockedZh.blocked.message });
    const listedZh = (await c.request('GET', '/api/v1/runs?status=blocked', undefined, zh)).body.items[0];
    expect(listedZh.blocked.message).toBe(blockedZh.blocked.message);
    expect(JSON.stringify(blockedZh)).not.toContain('"zh"');

    const approved = await c.request('POST', `/api/v1/runs/${blocked.runId}/approve`, {});
    expect(approved.status).toBe(202);
    expect(approved.body).toEqual({ runId: blocked.runId });
    const applied = await finished(blocked.runId);
    expect(applied.status).toBe('succeeded');
    expect(applied.changes.users.disable).toBe(12);
    expect(applied.steps.map((s: { name: string }) => s.name)).toEqual(['read', 'plan', 'guard', 'apply']);

    const again = await c.request('POST', `/api/v1/runs/${blocked.runId}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('RUN_NOT_APPROVABLE');
    expect((await c.request('POST', '/api/v1/runs/999999/approve', {})).status).toBe(404);

    // The people who left are disabled, and their history says so, newest first.
    const disabled = applied.changedObjects.items.find((x: { action: string }) => x.action === 'disable');
    const user = await c.get(`/api/v1/directory/users/${disabled.objectId}`);
    expect(user.body.user.status).toBe('disabled');
    expect(user.body.history.map((x: { action: string }) => x.action)).toEqual(['disable', 'create']);
  });

  it('lists runs newest first with filters and cursor paging; validates the query', async () => {
    const all = await c.get('/api/v1/runs');
    expect(runListSchema.parse(all.body).items.length).toBeGreaterThanOrEqual(3);
    expect(all.body.nextCursor).toBeNull();
    const ids = all.body.items.map((r: { runId: number }) => r.runId);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(all.body.items[0].steps).toBeUndefined();

    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await c.get(`/api/v1/runs?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.body.items.map((r: { runId: number }) => r.runId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(ids);

    expect(
      (await c.get('/api/v1/runs?status=planned')).body.items.every((r: { status: string }) => r.status === 'planned'),
    ).toBe(true);
    expect((await c.get('/api/v1/runs?kind=import')).body.items).toEqual([]);
    expect((await c.get('/api/v1/runs?source=acme&kind=sync')).body.items.length).toBe(ids.length);
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['status=exploded', 'status'],
      ['kind=x', 'kind'],
      ['cursor=abc', 'cursor'],
      ['colour=red', 'colour'],
    ]) {
      const bad = await c.get(`/api/v1/runs?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.body.error.field).toBe(field);
    }
    expect((await c.get('/api/v1/runs/abc')).body.error.field).toBe('id');
    expect((await c.get('/api/v1/runs/999999')).status).toBe(404);
    expect((await c.get('/api/v1/runs/1/changes?offset=-1')).body.error.field).toBe('offset');
    expect((await c.get('/api/v1/directory/departments/1/members?cursor=x')).body.error.field).toBe('cursor');
    expect((await c.request('POST', '/api/v1/connections/acme/sync', { dryRun: 'yes' })).body.error.field).toBe(
      'dryRun',
    );
  });

  it('a run left running by a server that is gone is marked failed at the next start; a CLI run (no lease) is left alone', async () => {
    const store = h.t.store;
    const dead = await store.runs.create({ kind: 'sync', source: 'gone-1', dryRun: false, status: 'running' });
    await store.locks.tryAcquire(`run:${dead.id}`, `server:${hostname()}:999999999:dead`, 60_000);
    const expired = await store.runs.create({ kind: 'sync', source: 'gone-2', dryRun: false, status: 'running' });
    await store.locks.tryAcquire(`run:${expired.id}`, 'server:elsewhere:123:abcd', -1);
    const cli = await store.runs.create({ kind: 'import', source: 'json', dryRun: false, status: 'running' });

    const restarted = await h.restart();
    const r = new Client(restarted.url);
    r.cookie = c.cookie;
    for (const id of [dead.id, expired.id]) {
      const run = (await r.get(`/api/v1/runs/${id}`)).body;
      expect(run.status).toBe('failed');
      expect(run.finishedAt).not.toBeNull();
      expect(run.errors).toEqual([
        expect.objectContaining({
          code: 'RUN_ABANDONED',
          message: expect.stringContaining('stopped before the run finished'),
          hint: expect.any(String),
        }),
      ]);
    }
    expect((await r.get(`/api/v1/runs/${cli.id}`)).body.status).toBe('running');
    expect(h.logs.some((l) => l.includes('marked a run left running by a stopped server as failed'))).toBe(true);
    await store.runs.update(cli.id, { status: 'failed' });
  });
});
