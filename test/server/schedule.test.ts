import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { loadServerConfig } from '../../src/server/config.js';
import { connectionSchema } from '../../src/server/schemas.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { type Client, signedIn, startHarness, until, type Harness } from './harness.js';

/**
 * The scheduled full sync (reconcileCron) in a real server against a real WeCom simulator, on SQLite: validation
 * naming the field, a schedule that fires every second starting ordinary sync runs, one at a time per connection,
 * none for a connection whose sync is off, re-scheduling on every change, and a clean close.
 */

const EVERY_SECOND = '* * * * * *';

let sim: WecomSimulator;
let simUrl: string;
let h: Harness;
let c: Client;

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 17, departments: 8, users: 30 });
  simUrl = await sim.listen(0);
  h = await startHarness('sqlite', { timezone: 'Asia/Shanghai' });
  c = await signedIn(h);
});

afterAll(async () => {
  await h?.close();
  await sim?.close();
});

const wecom = (name: string, over: Record<string, unknown> = {}) => ({
  platform: 'wecom',
  name,
  settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: simUrl },
  secrets: { secret: sim.identity.secret, contactsSecret: sim.identity.contactsSecret },
  ...over,
});

/** The runs of a connection as the store has them, oldest first. */
async function runsOf(source: string) {
  return (await h.t.store.runs.list({ source, limit: 1000 })).reverse();
}

/** Log lines (parsed) whose msg matches. */
function logged(msg: string, connection?: string): Array<Record<string, unknown>> {
  return h.logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg && (connection === undefined || l.connection === connection));
}

describe('scheduled full sync', () => {
  it('the API refuses a bad schedule with 400 naming schedule.reconcileCron and giving an example; nothing is saved', async () => {
    // schedule.reconcileCron, or reconcileCron at the top of the body (its older place): the same field is named.
    for (const over of [{ schedule: { reconcileCron: 'every night' } }, { reconcileCron: 'every night' }]) {
      const bad = await c.request('POST', '/api/v1/connections', wecom('badcron', over));
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'INVALID_INPUT', field: 'schedule.reconcileCron' });
      expect(bad.body.error.message).toMatch(
        /^schedule\.reconcileCron: "every night" has 2 fields: it must be a cron expression .*e\.g\. "0 2 \* \* \*" \(daily at 02:00\), or "off"$/,
      );
      expect(bad.body.error.hint).toContain('ORGSYNC_TZ');
    }
    expect(await h.t.store.connections.get('badcron')).toBeUndefined();
    // A value that is not text is refused by the request's own schema, at the place it was given.
    const wrongType = await c.request('POST', '/api/v1/connections', wecom('badcron', { reconcileCron: 5 }));
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.field).toBe('reconcileCron');
    const wrongNested = await c.request('POST', '/api/v1/connections', wecom('badcron', { schedule: { cron: '' } }));
    expect(wrongNested.body.error.field).toBe('schedule.cron');
    // Both places with different values: refused, naming both; the same value in both is one schedule.
    const both = await c.request(
      'POST',
      '/api/v1/connections',
      wecom('badcron', { reconcileCron: '0 3 * * *', schedule: { reconcileCron: '0 4 * * *' } }),
    );
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'schedule.reconcileCron',
      message: 'schedule.reconcileCron: is "0 4 * * *" but reconcileCron is "0 3 * * *": give the schedule once',
    });
    expect(await h.t.store.connections.get('badcron')).toBeUndefined();
    const same = await c.request(
      'POST',
      '/api/v1/connections',
      wecom('samecron', { reconcileCron: '0 3 * * *', schedule: { reconcileCron: '0 3 * * *' } }),
    );
    expect(same.status, same.text).toBe(201);
    expect(same.body).toMatchObject({ reconcileCron: '0 3 * * *', schedule: { reconcileCron: '0 3 * * *' } });
    expect((await c.request('DELETE', '/api/v1/connections/samecron')).status).toBe(204);

    expect((await c.request('POST', '/api/v1/connections', wecom('plain'))).status).toBe(201);
    for (const body of [{ reconcileCron: '0 25 * * *' }, { schedule: { reconcileCron: '0 25 * * *' } }]) {
      const hour = await c.request('PATCH', '/api/v1/connections/plain', body);
      expect(hour.status).toBe(400);
      expect(hour.body.error).toMatchObject({
        code: 'INVALID_INPUT',
        field: 'schedule.reconcileCron',
        message: expect.stringContaining('"0 25 * * *" is not valid'),
      });
    }
    const conflict = await c.request('PATCH', '/api/v1/connections/plain', {
      reconcileCron: 'off',
      schedule: { reconcileCron: null },
    });
    expect(conflict.body.error.message).toBe(
      'schedule.reconcileCron: is null but reconcileCron is "off": give the schedule once',
    );
    expect((await h.t.store.connections.get('plain'))?.reconcileCron).toBe('0 2 * * *');
  });

  it("shows the schedule on the connection: the default daily at 02:00 in the server's time zone, and when it runs next", async () => {
    const plain = await c.get('/api/v1/connections/plain');
    expect(connectionSchema.parse(plain.body)).toBeTruthy();
    // Sync is off: nothing is scheduled.
    expect(plain.body).toMatchObject({
      syncEnabled: false,
      reconcileCron: '0 2 * * *',
      schedule: { reconcileCron: '0 2 * * *' },
      reconcileTimezone: 'Asia/Shanghai',
      nextReconcileAt: null,
    });
    expect(h.server.schedule.scheduled().map((s) => s.connection)).not.toContain('plain');

    const on = await c.request('PATCH', '/api/v1/connections/plain', { syncEnabled: true });
    expect(on.status).toBe(200);
    // 02:00 in Shanghai (UTC+8) is 18:00 UTC, within the next day.
    expect(on.body.nextReconcileAt).toMatch(/T18:00:00\.000Z$/);
    const next = Date.parse(on.body.nextReconcileAt as string);
    expect(next).toBeGreaterThan(Date.now());
    expect(next - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const job = h.server.schedule.scheduled().find((s) => s.connection === 'plain');
    expect(job).toMatchObject({ cron: '0 2 * * *' });
    expect(job?.nextRunAt?.toISOString()).toBe(on.body.nextReconcileAt);

    const off = await c.request('PATCH', '/api/v1/connections/plain', { schedule: { reconcileCron: 'off' } });
    expect(off.body).toMatchObject({
      reconcileCron: null,
      schedule: { reconcileCron: null },
      nextReconcileAt: null,
      syncEnabled: true,
    });
    expect(h.server.schedule.scheduled().map((s) => s.connection)).not.toContain('plain');
    expect(await runsOf('plain')).toEqual([]);
  });

  it('a schedule firing every second starts ordinary sync runs, one at a time; a connection with sync off gets none', async () => {
    // The simulator holds every call, so the first sync stays in flight across firings: those are skipped, not queued.
    sim.holdCalls();
    const idle = await c.request('POST', '/api/v1/connections', wecom('idle', { reconcileCron: EVERY_SECOND }));
    expect(idle.status).toBe(201);
    expect(idle.body).toMatchObject({ reconcileCron: EVERY_SECOND, syncEnabled: false, nextReconcileAt: null });
    const fast = await c.request(
      'POST',
      '/api/v1/connections',
      wecom('fast', { reconcileCron: EVERY_SECOND, syncEnabled: true }),
    );
    expect(fast.status).toBe(201);
    expect(Date.parse(fast.body.nextReconcileAt as string) - Date.now()).toBeLessThanOrEqual(1000);

    const first = await until('a scheduled run of "fast"', async () => (await runsOf('fast'))[0], 10_000);
    expect(first).toMatchObject({ kind: 'sync', source: 'fast', dryRun: false });
    await until(
      'a firing skipped while the run goes on',
      async () => logged('scheduled full sync skipped: a run of this connection is still going', 'fast').length > 0,
      15_000,
    );
    // Still the one run, still held.
    expect((await runsOf('fast')).map((r) => [r.id, r.status])).toEqual([[first.id, 'running']]);
    expect(sim.callHoldState().held).toBeGreaterThan(0);
    sim.releaseCalls();
    await until(
      'three runs of "fast"',
      async () => (await runsOf('fast')).filter((r) => r.status !== 'running').length >= 3,
      30_000,
    );

    const runs = await runsOf('fast');
    expect(runs[0]?.status).toBe('succeeded');
    expect(runs[0]?.counts.users.create).toBe(30);
    // Never two at once: each run started after the one before it finished.
    for (let i = 1; i < runs.length; i++) {
      const before = runs[i - 1];
      const run = runs[i];
      if (!before?.finishedAt || !run?.startedAt) continue;
      expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(Date.parse(before.finishedAt));
    }
    expect(runs.filter((r) => r.status === 'running').length).toBeLessThanOrEqual(1);
    const started = logged('scheduled full sync started', 'fast');
    expect(started.length).toBeGreaterThanOrEqual(3);
    expect(started[0]).toMatchObject({ connection: 'fast', runId: first.id, cron: EVERY_SECOND });

    expect(await runsOf('idle')).toEqual([]);
    expect(h.server.schedule.scheduled().map((s) => s.connection)).toContain('fast');
    expect(h.server.schedule.scheduled().map((s) => s.connection)).not.toContain('idle');
  });

  it('re-schedules when a connection is changed, turned off, removed, or changed by another program (the CLI)', async () => {
    const names = () => h.server.schedule.scheduled().map((s) => s.connection);
    // A new schedule on a connection that had none firing: runs start.
    expect((await c.request('POST', '/api/v1/connections', wecom('later', { syncEnabled: true }))).status).toBe(201);
    expect(h.server.schedule.scheduled().find((s) => s.connection === 'later')?.cron).toBe('0 2 * * *');
    expect((await c.request('PATCH', '/api/v1/connections/later', { reconcileCron: EVERY_SECOND })).status).toBe(200);
    expect(h.server.schedule.scheduled().find((s) => s.connection === 'later')?.cron).toBe(EVERY_SECOND);
    await until(
      'a scheduled run of "later"',
      async () => (await runsOf('later')).find((r) => r.status !== 'running'),
      10_000,
    );

    // Turned off by the schedule, by the sync switch, or removed: no further runs.
    expect(
      (await c.request('PATCH', '/api/v1/connections/later', { reconcileCron: null })).body.reconcileCron,
    ).toBeNull();
    expect(
      (await c.request('PATCH', '/api/v1/connections/fast', { syncEnabled: false })).body.nextReconcileAt,
    ).toBeNull();
    expect(names()).not.toContain('later');
    expect(names()).not.toContain('fast');
    await until(
      'runs of "later" and "fast" to finish',
      async () => [...(await runsOf('later')), ...(await runsOf('fast'))].every((r) => r.status !== 'running'),
      10_000,
    );
    const counts = [(await runsOf('later')).length, (await runsOf('fast')).length];
    // A witness firing every second: once it has started two more runs, a whole second of firings has passed.
    expect(
      (
        await c.request(
          'POST',
          '/api/v1/connections',
          wecom('witness', { reconcileCron: EVERY_SECOND, syncEnabled: true }),
        )
      ).status,
    ).toBe(201);
    await until(
      'two scheduled runs of the witness',
      async () => logged('scheduled full sync started', 'witness').length >= 2,
      15_000,
    );
    expect([(await runsOf('later')).length, (await runsOf('fast')).length]).toEqual(counts);
    expect((await c.request('PATCH', '/api/v1/connections/witness', { syncEnabled: false })).status).toBe(200);
    await until(
      "the witness's runs to finish",
      async () => (await runsOf('witness')).every((r) => r.status !== 'running'),
      10_000,
    );
    expect((await c.request('DELETE', '/api/v1/connections/witness')).status).toBe(204);

    expect((await c.request('PATCH', '/api/v1/connections/fast', { syncEnabled: true })).status).toBe(200);
    expect(names()).toContain('fast');
    expect((await c.request('DELETE', '/api/v1/connections/fast')).status).toBe(204);
    expect(names()).not.toContain('fast');

    // A change written by another program (here the connection service over the same database, as the CLI does) is
    // picked up by the next reload; the server reloads every minute, the test does not wait for it.
    // (Its key differs from the server's: a change of the schedule needs no secret.)
    const cli = new ConnectionService(h.t.store, SecretBox.fromKey(randomBytes(32)));
    await cli.update('idle', { schedule: { reconcileCron: '15 3 * * *' }, syncEnabled: true });
    expect(names()).not.toContain('idle');
    await h.server.schedule.reload();
    expect(h.server.schedule.scheduled().find((s) => s.connection === 'idle')?.cron).toBe('15 3 * * *');
    expect(await runsOf('idle')).toEqual([]);
  });

  it('closes cleanly: the jobs stop, a run in flight ends before close() returns, and nothing can start afterwards', async () => {
    // The simulator holds every call: the next scheduled run of "later" is provably in flight when close() is called.
    sim.holdCalls();
    expect((await c.request('PATCH', '/api/v1/connections/later', { reconcileCron: EVERY_SECOND })).status).toBe(200);
    const inFlight = await until(
      'a run of "later" waiting on the simulator',
      async () =>
        sim.callHoldState().held > 0 ? (await runsOf('later')).find((r) => r.status === 'running') : undefined,
      10_000,
    );
    let closed = false;
    const closing = h.server.close().then(() => (closed = true));
    // close() stops the jobs first, then waits for the run: while the simulator holds it, close() has not returned.
    await until('the jobs stopped', async () => h.server.schedule.scheduled().length === 0, 10_000);
    expect(closed).toBe(false);
    expect((await h.t.store.runs.get(inFlight.id))?.status).toBe('running');
    sim.releaseCalls();
    await closing;
    const after = await runsOf('later');
    expect(after.every((r) => r.status !== 'running')).toBe(true);
    expect((await h.t.store.runs.get(inFlight.id))?.status).toBe('succeeded');
    // Nothing starts afterwards: the jobs are gone, and a reload (as the minute timer would) schedules nothing again
    // although "later" still fires every second in the store.
    expect(h.server.schedule.scheduled()).toEqual([]);
    expect(await h.t.store.connections.get('later')).toMatchObject({ syncEnabled: true, reconcileCron: EVERY_SECOND });
    await h.server.schedule.reload();
    expect(h.server.schedule.scheduled()).toEqual([]);
    expect((await runsOf('later')).length).toBe(after.length);
    // Closing twice is harmless.
    await h.server.close();
  });

  it('ORGSYNC_TZ must be a time zone; the error names the variable', () => {
    expect(() => loadServerConfig({ ORGSYNC_DATA_DIR: '.bench-data/x', ORGSYNC_TZ: 'Mars/Olympus' })).toThrow(
      /ORGSYNC_TZ "Mars\/Olympus" is not a time zone/,
    );
    expect(loadServerConfig({ ORGSYNC_DATA_DIR: '.bench-data/x', ORGSYNC_TZ: 'Europe/Berlin' }).timezone).toBe(
      'Europe/Berlin',
    );
    expect(loadServerConfig({ ORGSYNC_DATA_DIR: '.bench-data/x' }).timezone).toBe(
      Intl.DateTimeFormat().resolvedOptions().timeZone,
    );
  });
});
