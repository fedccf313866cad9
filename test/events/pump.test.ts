import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionService, type Connection } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { TokenCache } from '../../src/connectors/common/token-cache.js';
import { WecomClient } from '../../src/connectors/wecom/client.js';
import { EventPump, retrySettings } from '../../src/events/pump.js';
import type { ContactEvent } from '../../src/events/processor.js';
import { WecomObjectReader } from '../../src/connectors/wecom/reader.js';
import { syncConnection } from '../../src/runs/sync.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type Engine } from '../helpers/stores.js';

/**
 * The pump on its own, with a real store and a real WeCom simulator over HTTP (no callbacks: messages are stored
 * as the callback route stores them): an unreadable object holds only the messages naming it, which wait with a
 * growing back-off and end as dead letters; a run failing as a whole is split until the failing message is alone.
 */

const NAME = 'wx';

interface Setup {
  sim: WecomSimulator;
  store: Store;
  connection: Connection;
  close(): Promise<void>;
}

let open: Setup[] = [];
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
});

async function setup(engine: Engine = 'sqlite'): Promise<Setup> {
  const sim = new WecomSimulator({ seed: 41, departments: 12, users: 60 });
  const url = await sim.listen(0);
  const test = await openTestStore(engine);
  const env = { ORGSYNC_MASTER_KEY: 'cd'.repeat(32) } as NodeJS.ProcessEnv;
  const connections = new ConnectionService(test.store, SecretBox.fromEnvironment({ env, dataDir: test.dataDir }));
  const id = sim.identity;
  await connections.add({
    platform: 'wecom',
    name: NAME,
    settings: { corpId: id.corpId, agentId: id.agentId, apiBaseUrl: url },
    secrets: { secret: id.secret, contactsSecret: id.contactsSecret },
  });
  const connection = await connections.get(NAME);
  expect((await syncConnection(test.store, connection)).status).toBe('succeeded');
  const s = {
    sim,
    store: test.store,
    connection,
    async close() {
      await sim.close();
      await test.cleanup();
    },
  };
  open.push(s);
  return s;
}

function pumpOf(s: Setup, options: { maxAttempts: number; retryMs: number; now?: () => number }): EventPump {
  const client = new WecomClient({
    corpId: s.connection.settings.corpId,
    secret: s.sim.identity.contactsSecret,
    baseUrl: s.connection.settings.apiBaseUrl,
    tokens: new TokenCache(),
    maxRetries: 0,
  });
  return new EventPump({
    store: s.store,
    inbox: s.store.inbox,
    resolve: async () => ({ reader: new WecomObjectReader(client), policy: s.connection.policy }),
    debounceMs: 0,
    retry: { maxAttempts: options.maxAttempts, retryMs: options.retryMs },
    ...(options.now ? { now: options.now } : {}),
  });
}

let keys = 0;
const store = (s: Setup, ...events: ContactEvent[]): Promise<boolean> =>
  s.store.inbox.add({ connection: NAME, dedupeKey: `k${++keys}`, type: 'test', events });
const dept = (id: number): ContactEvent => ({ object: 'department', externalId: String(id) });
const user = (id: string): ContactEvent => ({ object: 'user', externalId: id });

async function localDepartment(s: Setup, id: number) {
  return (await s.store.directory.load()).departments.find((d) =>
    d.links.some((l) => l.source === NAME && l.externalId === String(id)),
  );
}
async function localUser(s: Setup, userid: string) {
  return (await s.store.directory.load()).users.find((u) =>
    u.links.some((l) => l.source === NAME && l.externalId === userid),
  );
}

/** Polls the store until `check` holds (a state, not a time). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 5));
}

describe('EventPump: failures isolated per object, then dead letters', () => {
  it.each(['sqlite', 'postgres'] as const)(
    'an unreadable department and user hold only their own messages; the others apply; theirs end as dead letters with the error; a retry applies them (%s)',
    async (engine) => {
      const s = await setup(engine);
      const org = s.sim.corp.snapshot();
      const [failing, renamed] = org.departments.filter((d) => d.id !== 1);
      const [stuck, moved] = org.users.filter((u) => u.status !== 5);
      // Changes in the simulator, with no callbacks: the test stores the messages itself.
      s.sim.corp.apply({ op: 'updateDepartment', department: { id: renamed!.id, name: '改名的部门' } });
      s.sim.corp.apply({ op: 'updateDepartment', department: { id: failing!.id, name: '读不出的部门' } });
      s.sim.corp.apply({ op: 'updateUser', user: { userid: stuck!.userid, name: '读不出的人' } });
      s.sim.corp.apply({ op: 'updateUser', user: { userid: moved!.userid, name: '改了名的人' } });
      s.sim.updateConfig({ failReads: { departments: [failing!.id], users: [stuck!.userid] } });

      const pump = pumpOf(s, { maxAttempts: 3, retryMs: 1 });
      await store(s, dept(failing!.id));
      await store(s, user(moved!.userid), user(stuck!.userid));
      await store(s, dept(renamed!.id));
      await store(s, user(moved!.userid));
      pump.notify(NAME);
      await pump.idle();

      // The readable changes are in; the unreadable objects are as they were.
      expect((await localDepartment(s, renamed!.id))?.name).toBe('改名的部门');
      expect((await localUser(s, moved!.userid))?.name).toBe('改了名的人');
      expect((await localDepartment(s, failing!.id))?.name).toBe(failing!.name);
      expect((await localUser(s, stuck!.userid))?.name).toBe(stuck!.name);
      // The messages naming them are dead letters, each tried 3 times, with the platform's error; the rest are done.
      const dead = await s.store.inbox.deadLetters({ connection: NAME });
      expect(dead.map((m) => [m.events, m.attempts, m.error?.code])).toStrictEqual([
        [[dept(failing!.id)], 3, 'WECOM_BUSY'],
        [[user(moved!.userid), user(stuck!.userid)], 3, 'WECOM_BUSY'],
      ]);
      expect(dead.map((m) => m.error?.object)).toStrictEqual([
        `department "${failing!.id}"`,
        `user "${stuck!.userid}"`,
      ]);
      expect(dead.every((m) => m.error?.hint !== undefined && m.deadAt !== null)).toBe(true);
      expect(await s.store.inbox.counts(NAME)).toStrictEqual({ pending: 0, done: 2 });
      // No run failed: the unreadable objects were left out of runs that went on.
      const runs = await s.store.runs.list({ kind: 'event', limit: 100 });
      expect(runs.length).toBeGreaterThan(0);
      expect(runs.filter((r) => r.status !== 'succeeded')).toStrictEqual([]);

      // The fault cleared, a retry puts them back and the pump applies them.
      s.sim.updateConfig({ failReads: { departments: [], users: [] } });
      expect((await s.store.inbox.retryDeadLetters({ connection: NAME })).map((m) => m.id)).toStrictEqual(
        dead.map((m) => m.id),
      );
      pump.notify(NAME, 0);
      await pump.idle();
      expect((await localDepartment(s, failing!.id))?.name).toBe('读不出的部门');
      expect((await localUser(s, stuck!.userid))?.name).toBe('读不出的人');
      expect(await s.store.inbox.deadLetters()).toStrictEqual([]);
      expect(await s.store.inbox.counts(NAME)).toStrictEqual({ pending: 0, done: 4 });
      await pump.stop();
    },
  );

  it('waits longer after each failure (retryMs, doubling), counted on a clock of its own', async () => {
    const s = await setup();
    const failing = s.sim.corp.snapshot().departments.find((d) => d.id !== 1)!;
    s.sim.updateConfig({ failReads: { departments: [failing.id] } });
    let now = Date.parse('2030-01-01T00:00:00.000Z');
    const pump = pumpOf(s, { maxAttempts: 4, retryMs: 10, now: () => now });
    await store(s, dept(failing.id));
    const message = async () =>
      (await s.store.inbox.pending(NAME, 1, '2099-01-01T00:00:00.000Z'))[0] ?? (await s.store.inbox.deadLetters())[0];
    pump.notify(NAME, 0);
    const seen: Array<[number, string | null]> = [];
    for (const [attempts, wait] of [
      [1, 10],
      [2, 20],
      [3, 40],
    ] as const) {
      await until(async () => (await message())?.attempts === attempts);
      const m = await message();
      seen.push([m!.attempts, m!.nextAttemptAt]);
      expect(Date.parse(m!.nextAttemptAt!) - now).toBe(wait);
      // Not due yet on this clock (however long the test waits): nothing happens until it moves on.
      expect(await s.store.inbox.pending(NAME, 10, new Date(now).toISOString())).toStrictEqual([]);
      now += wait;
    }
    await until(async () => (await s.store.inbox.deadLetters()).length === 1);
    expect((await s.store.inbox.deadLetters())[0]?.attempts).toBe(4);
    expect(seen.map(([a]) => a)).toStrictEqual([1, 2, 3]);
    await pump.stop();
  });

  it('a run that fails as a whole is split until the failing message is alone; the others apply', async () => {
    const s = await setup();
    const org = s.sim.corp.snapshot();
    const [a, b, c] = org.users.filter((u) => u.status !== 5);
    // An alias longer than WeCom allows (the simulator does not check it): the run's validation refuses the whole
    // snapshot, so the run fails, whichever message named the user.
    s.sim.corp.apply({ op: 'updateUser', user: { userid: b!.userid, alias: '长'.repeat(100) } });
    s.sim.corp.apply({ op: 'updateUser', user: { userid: a!.userid, name: '甲乙' } });
    s.sim.corp.apply({ op: 'updateUser', user: { userid: c!.userid, name: '丙丁' } });
    const pump = pumpOf(s, { maxAttempts: 2, retryMs: 1 });
    await store(s, user(a!.userid));
    await store(s, user(b!.userid));
    await store(s, user(c!.userid));
    pump.notify(NAME);
    await pump.idle();
    expect((await localUser(s, a!.userid))?.name).toBe('甲乙');
    expect((await localUser(s, c!.userid))?.name).toBe('丙丁');
    expect((await localUser(s, b!.userid))?.name).toBe(b!.name);
    const dead = await s.store.inbox.deadLetters();
    expect(dead.map((m) => [m.events, m.attempts])).toStrictEqual([[[user(b!.userid)], 2]]);
    expect(dead[0]?.error?.message).toEqual(expect.any(String));
    await pump.stop();
  });

  it('a failure of the whole connection holds every message without counting it', async () => {
    const s = await setup();
    const d = s.sim.corp.snapshot().departments.find((x) => x.id !== 1)!;
    s.sim.updateConfig({ untrustedIp: true });
    const pump = pumpOf(s, { maxAttempts: 1, retryMs: 1 });
    await store(s, dept(d.id));
    pump.notify(NAME, 0);
    await until(
      async () =>
        (await s.store.inbox.pending(NAME, 1, '2099-01-01T00:00:00.000Z'))[0]?.error?.code === 'WECOM_UNTRUSTED_IP',
    );
    await pump.stop();
    const [held] = await s.store.inbox.pending(NAME, 1, '2099-01-01T00:00:00.000Z');
    expect(held?.attempts).toBe(0);
    expect(await s.store.inbox.deadLetters()).toStrictEqual([]);
  });

  it('reads its settings from the environment, refusing a bad value with the variable named', () => {
    expect(retrySettings({})).toStrictEqual({ maxAttempts: 8, retryMs: 2000, maxRetryMs: 300_000 });
    expect(retrySettings({ ORGSYNC_EVENT_MAX_ATTEMPTS: '3', ORGSYNC_EVENT_RETRY_MS: '50' })).toStrictEqual({
      maxAttempts: 3,
      retryMs: 50,
      maxRetryMs: 300_000,
    });
    expect(() => retrySettings({ ORGSYNC_EVENT_MAX_ATTEMPTS: '0' })).toThrow(
      /ORGSYNC_EVENT_MAX_ATTEMPTS "0" is not a whole number from 1 to 1000/,
    );
    expect(() => retrySettings({ ORGSYNC_EVENT_RETRY_MS: '1.5' })).toThrow(/ORGSYNC_EVENT_RETRY_MS/);
  });
});
