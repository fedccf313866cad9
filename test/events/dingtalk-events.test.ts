import { describe, expect, it } from 'vitest';
import { exportDirectory } from '../../src/directory/export.js';
import { syncConnection } from '../../src/runs/sync.js';
import type { DingOperation } from '../../src/simulator/dingtalk/model.js';
import { expected, local, type DingMirror, type DingTruth } from '../helpers/dingtalk-directory.js';
import { startSimulator } from '../helpers/sim-process.js';
import {
  CALLBACK_AES_KEY,
  CALLBACK_TOKEN,
  allRuns,
  closedAfterEach,
  mutate,
  settled,
  simDirectory,
  startEventsServer,
  type EventsServer,
  type Realtime,
} from '../helpers/events.js';

/**
 * Real time, end to end, for DingTalk: the simulator posts its ID-only contact events (事件订阅), signed and
 * encrypted for the AppKey, to the server's callback endpoint; the server stores them, reads the touched objects
 * back with v2/user/get and v2/department/get, and applies event runs. No sync runs after the first one, and the
 * directory must still equal the simulator's, profiles included.
 *
 * The simulator and the server's DingTalk client allow 400 calls per API per second (DingTalk's default for an
 * internal app is 20), as the sync tests do: see docs/events.md for what 20 means for a burst.
 */

const NAME = 'dt';
const QPS = 400;

type Setup = Realtime<'dingtalk'>;
const track = closedAfterEach<'dingtalk'>();

/**
 * A simulated org (in this process, or in its own), the server with a connection to it, a first sync, then the
 * simulator's callbacks pointed at the server.
 */
async function setup(
  seed: number,
  size: { departments: number; users: number },
  where: 'here' | 'own process' = 'here',
): Promise<Setup> {
  const options = { seed, ...size, config: { sensitiveFields: 'returned', qpsLimit: QPS } } as const;
  const sim = await startSimulator('dingtalk', options, where);
  const id = sim.identity;
  let events: EventsServer;
  try {
    events = await startEventsServer({
      add: (connections) =>
        connections.add({
          platform: 'dingtalk',
          name: NAME,
          settings: { corpId: id.corpId, agentId: id.agentId, clientId: id.clientId, apiBaseUrl: sim.url },
          secrets: { clientSecret: id.clientSecret, callbackToken: CALLBACK_TOKEN, callbackAesKey: CALLBACK_AES_KEY },
        }),
      server: { dingtalkQpsLimit: QPS },
    });
  } catch (err) {
    await sim.close();
    throw err;
  }
  const s = track({ sim, events });
  const first = await syncConnection(events.store, await events.connections.get(NAME), { qpsLimit: QPS });
  expect(first.status, JSON.stringify(first.errors)).toBe('succeeded');
  await sim.configure({
    callbackUrl: events.callbackUrl(NAME),
    callbackToken: CALLBACK_TOKEN,
    callbackAesKey: CALLBACK_AES_KEY,
  });
  return s;
}

/** The local directory and the simulator's, profiles included. */
async function compare(s: Setup): Promise<{ mirror: DingMirror; want: DingMirror }> {
  const truth = await simDirectory<DingTruth>(s.sim.url);
  const doc = exportDirectory(await s.events.store.directory.load());
  return { mirror: local(doc, truth, { source: NAME, profile: true }), want: expected(truth, [1], { profile: true }) };
}

/** Every event delivered and stored, no sync run, every event run succeeded, nothing left pending. */
async function onlyEvents(s: Setup): Promise<void> {
  const callbacks = await s.sim.callbackStats();
  expect(callbacks).toMatchObject({ queued: 0, failed: 0 });
  expect(callbacks.delivered).toBeGreaterThan(0);
  const store = s.events.store;
  expect((await store.runs.list({ kind: 'sync' })).length).toBe(1);
  // Every event run, not the newest 50 `runs.list` answers by default.
  const runs = await allRuns(store, { kind: 'event' });
  expect(runs.length).toBeGreaterThan(0);
  expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
  // A message identical to one stored (DingTalk's retry; or two events about one object in the same millisecond,
  // whose read is one) is acknowledged and not stored again.
  const inbox = await store.inbox.counts(NAME);
  expect(inbox.pending).toBe(0);
  expect(inbox.done).toBeGreaterThan(0);
  expect(inbox.done).toBeLessThanOrEqual(callbacks.delivered);
}

describe('DingTalk contact-change callbacks', () => {
  it('refuses a forged request, storing nothing', async () => {
    const s = await setup(401, { departments: 10, users: 40 });
    const forged = await fetch(
      `${s.events.callbackUrl(NAME)}?msg_signature=${'0'.repeat(40)}&timestamp=${Date.now()}&nonce=abc`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ encrypt: 'AAAA' }),
      },
    );
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('CALLBACK_SIGNATURE_INVALID');
    expect(await s.events.store.inbox.counts(NAME)).toStrictEqual({ pending: 0, done: 0 });
  });

  it('every kind of change /__sim/mutate makes is posted, received and applied', async () => {
    const s = await setup(402, { departments: 25, users: 250 });
    const truth = await simDirectory<DingTruth>(s.sim.url);
    const inactive = truth.users.find((u) => !u.active && u.dept_id_list.length === 1);
    const mover = truth.users.find((u) => u.active && u.dept_id_list.length === 1 && u.dept_id_list[0] !== 1);
    const leaver = truth.users.find((u) => u.active && u.dept_id_list.length > 1);
    expect(inactive && mover && leaver).toBeTruthy();
    const operations: DingOperation[] = [
      // org_dept_create, twice, one below the other
      { op: 'createDepartment', department: { dept_id: 9001, name: '事件一部', parent_id: 1, order: 3 } },
      { op: 'createDepartment', department: { dept_id: 9002, name: '事件二组', parent_id: 9001 } },
      // user_add_org in both new departments, a leader in one, with an order, a country code, an extension
      {
        op: 'createUser',
        user: {
          userid: 'evt.new',
          name: '事件新人',
          mobile: '5550100',
          state_code: '1',
          email: 'evt.new@example.com',
          title: '工程师',
          job_number: 'E-9001',
          work_place: '杭州',
          extension: JSON.stringify({ 爱好: '旅游' }),
          dept_id_list: [9001, 9002],
          dept_order_list: [{ dept_id: 9002, order: 7 }],
          leader_in_dept: [{ dept_id: 9001, leader: true }],
        },
      },
      // user_modify_org: a move, new fields, one cleared
      { op: 'updateUser', user: { userid: mover!.userid, dept_id_list: [9002, 1], title: '新职位', telephone: '' } },
      // user_active_org
      { op: 'updateUser', user: { userid: inactive!.userid, active: true } },
      // org_dept_modify with a new manager: user_modify_org for the member whose leader flag changed
      {
        op: 'updateDepartment',
        department: { dept_id: 9002, name: '事件二组改', dept_manager_userid_list: [mover!.userid] },
      },
      // org_dept_modify: a move under another parent, a new order
      { op: 'updateDepartment', department: { dept_id: 9001, parent_id: mover!.dept_id_list[0]!, order: 9 } },
      // user_leave_org
      { op: 'deleteUser', userid: leaver!.userid },
      // org_dept_remove of a subtree (one event naming both), once its members are gone
      { op: 'deleteUser', userid: 'evt.new' },
      { op: 'updateUser', user: { userid: mover!.userid, dept_id_list: [1] } },
      { op: 'deleteDepartment', dept_id: 9001 },
    ];
    await mutate(s, { operations });
    await settled(s);
    // One posted event per change (the manager change posts two), each stored as its own message.
    expect((await s.sim.callbackStats()).delivered).toBe(operations.length + 1);
    const { mirror, want } = await compare(s);
    expect(mirror).toStrictEqual(want);
    await onlyEvents(s);

    // The person created and removed between two reads is known locally only if a read saw them: either way not active.
    const doc = exportDirectory(await s.events.store.directory.load());
    const removed = doc.users.filter((u) =>
      u.links.some((l) => l.source === NAME && (l.externalId === 'evt.new' || l.externalId === leaver!.userid)),
    );
    expect(removed.every((u) => u.status === 'disabled')).toBe(true);
    expect(removed.some((u) => u.links.some((l) => l.externalId === leaver!.userid))).toBe(true);
  });

  it('150 random changes reach the directory with no sync, exactly', async () => {
    const s = await setup(403, { departments: 25, users: 250 });
    await mutate(s, { random: { count: 150, seed: 9 } });
    await settled(s);
    const { mirror, want } = await compare(s);
    expect(mirror).toStrictEqual(want);
    await onlyEvents(s);
  });

  it("1,000 random changes at once, no sync: every one received and applied, the directory exactly the simulator's", async () => {
    // The simulator in its own process, as DingTalk is: its work does not share the server's event loop.
    const s = await setup(404, { departments: 120, users: 2000 }, 'own process');
    await mutate(s, { random: { count: 1000, seed: 17 } });
    const done = Date.now();
    // Settled: every event delivered and stored, every stored one applied. How long that takes is a benchmark's
    // figure (npm run bench:events, target 5 s); here it is printed, and the outcome must be exact.
    await settled(s);
    const elapsed = Date.now() - done;
    const stats = await s.sim.callbackStats();
    const runs = (await allRuns(s.events.store, { kind: 'event' })).length;
    console.log(
      `1,000 changes: ${elapsed} ms from the mutate's answer to settled; ${stats.delivered} events delivered, ${stats.queued} still queued; ${runs} event runs`,
    );
    const { mirror, want } = await compare(s);
    expect(mirror).toStrictEqual(want);
    await onlyEvents(s);
  }, 120_000);
});
