import { afterEach, describe, expect, it } from 'vitest';
import { exportDirectory } from '../../src/directory/export.js';
import { coalesce, type ContactEvent } from '../../src/events/processor.js';
import { syncConnection } from '../../src/runs/sync.js';
import { randomOperations } from '../../src/simulator/org-generator.js';
import type { SimOperation, SimOrg } from '../../src/simulator/wecom/model.js';
import {
  CALLBACK_AES_KEY,
  CALLBACK_TOKEN,
  mutate,
  settled,
  simDirectory,
  startEventsServer,
  type EventsServer,
  type Realtime,
} from '../helpers/events.js';
import { startSimulator } from '../helpers/sim-process.js';
import { expected, local } from '../helpers/wecom-directory.js';
import { Client } from '../server/harness.js';

/**
 * Real time never stalls (issue 15, item 6). A WeCom simulator over real HTTP, read with the app's secret: one
 * member outside the app's visible range (user/get answers 60011) and one department whose reads always fail
 * (department/get answers -1, every retry). 200 random changes by callback, plus changes of those two. Every other
 * change must reach the directory; the messages that need the failing department end as dead letters with its
 * error; the outsider's are applied (not visible = gone from the app's view, and never linked here). With the
 * fault cleared, a retry through the API applies the dead letters and the directory equals the simulator's.
 */

const NAME = 'wx';
const HIDDEN = 4000;
const OUTSIDER = 'outsider.zhao';

let pairs: Array<Realtime<'wecom'>> = [];
afterEach(async () => {
  for (const p of pairs) {
    await p.sim.close();
    await p.events.close();
  }
  pairs = [];
});

/** Runs `fn` with the pump's retry settings in the environment the server reads them from. */
/** The org as the random changes may touch it: the visible tops and below, without the hidden department and its member. */
function visiblePart(org: SimOrg, tops: ReadonlySet<number>): SimOrg {
  const byId = new Map(org.departments.map((d) => [d.id, d]));
  const visible = (id: number): boolean => {
    for (let p: number | undefined = id; p !== undefined && p !== 0; p = byId.get(p)?.parentid)
      if (tops.has(p)) return true;
    return false;
  };
  const users = org.users
    .filter((u) => u.department.some(visible))
    .map((u) => {
      const keep = u.department.map((d, i) => (visible(d) ? i : -1)).filter((i) => i >= 0);
      return {
        ...u,
        department: keep.map((i) => u.department[i] as number),
        order: keep.map((i) => u.order[i] as number),
        is_leader_in_dept: keep.map((i) => u.is_leader_in_dept[i] as number),
        main_department: visible(u.main_department) ? u.main_department : (u.department[keep[0] as number] as number),
      };
    });
  return { ...org, departments: org.departments.filter((d) => visible(d.id)), users };
}

/** The objects a message names, as `user:<id>` / `department:<id>`. */
function named(events: readonly ContactEvent[]): string[] {
  const c = coalesce(events);
  return [
    ...c.users.map((u) => `user:${u}`),
    ...c.renames.map((r) => `user:${r.from}`),
    ...c.departments.map((d) => `department:${d}`),
  ];
}

describe('real time with an unreadable department and a member outside the visible range', () => {
  it('applies every other change of 200 random ones, dead-letters the failing messages with their error, and applies them on a retry once the fault is cleared', async () => {
    const sim = await startSimulator('wecom', { seed: 517, departments: 25, users: 250 }, 'here');
    let events: EventsServer;
    try {
      // A department outside every visible top, with one member; the app sees the tops below the root.
      await mutate({ sim } as Realtime<'wecom'>, {
        operations: [
          { op: 'createDepartment', department: { id: HIDDEN, name: '外部顾问组', parentid: 1 } },
          { op: 'createUser', user: { userid: OUTSIDER, name: '赵外', department: [HIDDEN], mobile: '13900004000' } },
        ],
      });
      events = await startEventsServer({
        // The server's own settings: three tries, 20 ms apart at first.
        env: { ORGSYNC_EVENT_MAX_ATTEMPTS: '3', ORGSYNC_EVENT_RETRY_MS: '20' },
        // The app's secret only: reads are limited to its visible range, as for a self-built app.
        add: (connections) =>
          connections.add({
            platform: 'wecom',
            name: NAME,
            settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: sim.url },
            secrets: { secret: sim.identity.secret, callbackToken: CALLBACK_TOKEN, callbackAesKey: CALLBACK_AES_KEY },
          }),
      });
    } catch (err) {
      await sim.close();
      throw err;
    }
    const pair: Realtime<'wecom'> = { sim, events };
    pairs.push(pair);
    expect(events.server.events.retry).toMatchObject({ maxAttempts: 3, retryMs: 20 });

    const start = await simDirectory<SimOrg>(sim.url);
    const tops = start.departments.filter((d) => d.parentid === 1 && d.id !== HIDDEN).map((d) => d.id);
    await sim.configure({ visibleRange: tops });
    expect((await syncConnection(events.store, await events.connections.get(NAME))).status).toBe('succeeded');
    const first = exportDirectory(await events.store.directory.load());
    expect(first.users.some((u) => u.links.some((l) => l.externalId === OUTSIDER))).toBe(false);

    // The failing department: a visible one below a top, with members.
    const failing = start.departments.find(
      (d) => tops.includes(d.parentid) && start.users.some((u) => u.department.includes(d.id)),
    );
    expect(failing).toBeDefined();
    const F = failing!.id;
    await sim.configure({
      failReads: { departments: [F] },
      callbackUrl: events.callbackUrl(NAME),
      callbackToken: CALLBACK_TOKEN,
      callbackAesKey: CALLBACK_AES_KEY,
    });

    const operations: SimOperation[] = [
      { op: 'updateDepartment', department: { id: F, name: '读不出的部门' } },
      { op: 'updateUser', user: { userid: OUTSIDER, position: '外部顾问' } },
      ...randomOperations(visiblePart(start, new Set(tops)), { count: 200, seed: 29 }),
      { op: 'updateUser', user: { userid: OUTSIDER, name: '赵外二' } },
    ];
    await mutate(pair, { operations });
    await settled(pair);

    // The dead letters: exactly the messages that need the failing department, each with its error.
    const client = new Client(events.server.url);
    // The events helper starts the server with this admin password (test/helpers/events.ts).
    const admin = events.server.admin ?? { username: 'admin', password: 'an-admin-password-1' };
    expect((await client.login(admin.username, admin.password)).status).toBe(200);
    const listed = await client.get(`/api/v1/events/dead-letters?connection=${NAME}`);
    expect(listed.status).toBe(200);
    const dead = listed.body.items as Array<{
      id: number;
      events: ContactEvent[];
      attempts: number;
      error: { code: string; message: string; hint?: string; object?: string };
    }>;
    expect(dead.length).toBeGreaterThan(0);
    for (const m of dead) {
      expect(m.attempts).toBe(3);
      expect(m.error).toMatchObject({ code: 'WECOM_BUSY', object: `department "${F}"` });
      expect(m.error.hint).toEqual(expect.any(String));
    }
    expect(dead.some((m) => named(m.events).includes(`department:${F}`))).toBe(true);
    // Nothing about the outsider failed: not visible means gone from the app's view.
    expect(dead.filter((m) => named(m.events).includes(`user:${OUTSIDER}`))).toStrictEqual([]);
    expect((await events.store.inbox.counts(NAME)).pending).toBe(0);
    // No run failed: the unreadable department was left out of runs that went on.
    const runs = await events.store.runs.list({ kind: 'event', limit: 10_000 });
    expect(
      runs.filter((r) => r.status !== 'succeeded').map((r) => ({ id: r.id, status: r.status, errors: r.errors })),
    ).toStrictEqual([]);
    expect(await events.store.runs.list({ kind: 'sync' })).toHaveLength(1);

    // Every other change is in: the directory equals the app's view of the simulator, but for the objects the
    // dead letters name (the failing department, and a department moved under it).
    const held = new Set(dead.flatMap((m) => named(m.events)));
    const heldDepartments = new Set(
      [...held].filter((k) => k.startsWith('department:')).map((k) => Number(k.slice('department:'.length))),
    );
    expect([...held].filter((k) => k.startsWith('user:'))).toStrictEqual([]);
    const without = <V extends { departments: Array<{ id: number }> }>(v: V): V => ({
      ...v,
      departments: v.departments.filter((d) => !heldDepartments.has(d.id)),
    });
    let org = await simDirectory<SimOrg>(sim.url);
    expect(org.users.some((u) => u.userid === OUTSIDER && u.name === '赵外二')).toBe(true);
    const doc = exportDirectory(await events.store.directory.load());
    expect(without(local(doc, org, NAME))).toStrictEqual(without(expected(org, tops)));
    expect(doc.users.some((u) => u.links.some((l) => l.externalId === OUTSIDER))).toBe(false);
    // The failing department is as the first sync left it (its rename is in a dead letter).
    expect(
      doc.departments.find((d) => d.links.some((l) => l.source === NAME && l.externalId === String(F)))?.name,
    ).toBe(failing!.name);

    // The fault cleared, 重试 puts them back and the pump applies them at once.
    await sim.configure({ failReads: { departments: [] } });
    const retried = await client.request('POST', '/api/v1/events/dead-letters/retry', { connection: NAME });
    expect(retried.status).toBe(200);
    expect(retried.body).toStrictEqual({ retried: dead.length, ids: dead.map((m) => m.id) });
    await settled(pair);
    expect((await client.get('/api/v1/events/dead-letters')).body.items).toStrictEqual([]);
    expect(await events.store.inbox.counts(NAME)).toMatchObject({ pending: 0 });
    org = await simDirectory<SimOrg>(sim.url);
    expect(local(exportDirectory(await events.store.directory.load()), org, NAME)).toStrictEqual(expected(org, tops));
  }, 120_000);
});
