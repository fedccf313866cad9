import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { exportDirectory, type DirectoryExport } from '../../src/directory/export.js';
import { syncConnection } from '../../src/runs/sync.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { allRuns } from '../helpers/events.js';
import { serveProcess, type ServeProcess } from '../helpers/processes.js';
import { tempDir } from '../helpers/stores.js';
import { expected as dingExpected, local as dingLocal, type DingTruth } from '../helpers/dingtalk-directory.js';
import { expected, local } from '../helpers/wecom-directory.js';

/**
 * Issue 7: `orgsync serve` (the built bin, its own process) receives a stream of contact events and is killed
 * with SIGKILL while an event run is under way; it is started again on the same data directory. The platform
 * retries a delivery that failed, so nothing the server did not acknowledge is lost; what it stored but had not
 * processed is still in the inbox; the run it left `running` is failed by the restarted server's sweep; and the
 * directory ends exactly like the simulator's, with nobody twice.
 *
 * Every step waits on a state, never on time: the simulator's deliveries are held at known counts (hold/release), its
 * API calls are held while the victim run reads, so the kill lands in that run whatever the machine's speed, and
 * the restarted server listens on a port the kernel picks (a port freed by a kill is never reused).
 *
 * Needs the build: `npx tsc -p tsconfig.build.json`.
 */

const TOKEN = 'restartToken42';
const AES_KEY = 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut';
const NAME = 'wx';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

/** Nobody twice: one local user per WeCom userid, each membership once, each link once. */
function duplicates(doc: DirectoryExport): string[] {
  const found: string[] = [];
  const seen = new Map<string, number>();
  for (const u of doc.users) {
    for (const l of u.links.filter((x) => x.source === NAME)) {
      if (seen.has(l.externalId))
        found.push(`userid ${l.externalId} is linked to users ${seen.get(l.externalId)} and ${u.id}`);
      seen.set(l.externalId, u.id);
    }
    const ids = u.departments.map((m) => m.id);
    if (new Set(ids).size !== ids.length) found.push(`user ${u.id} has a membership twice: ${ids.join(',')}`);
  }
  const depts = new Map<string, number>();
  for (const d of doc.departments) {
    for (const l of d.links.filter((x) => x.source === NAME)) {
      if (depts.has(l.externalId)) found.push(`department ${l.externalId} is linked twice`);
      depts.set(l.externalId, d.id);
    }
  }
  return found;
}

/**
 * Per platform: the corp, and the stream of random changes (DingTalk reads every touched object back at its
 * default 20 calls per API per second, so its stream is shorter).
 */
const PLATFORMS = [
  { platform: 'wecom', rounds: 30, perRound: 40 },
  { platform: 'dingtalk', rounds: 15, perRound: 20 },
] as const;

/** Deliveries processed before the victim run, then delivered while it is held: both well short of either stream. */
const FIRST = 40;
const SECOND = 30;

describe('orgsync serve killed in the middle of a stream of contact events', () => {
  it.each(PLATFORMS)(
    '$platform: starts again on the same data directory, fails the run it left, and ends exactly like the simulator',
    async ({ platform, rounds, perRound }) => {
      const total = rounds * perRound;
      const sim =
        platform === 'wecom'
          ? new WecomSimulator({ seed: 505, departments: 60, users: 1500 })
          : new DingtalkSimulator({ seed: 505, departments: 60, users: 1500 });
      const simUrl = await sim.listen(0);
      cleanup.push(() => sim.close());
      const dir = tempDir('orgsync-restart-');
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const env = {
        ORGSYNC_DATA_DIR: dir,
        ORGSYNC_DATABASE_URL: '',
        ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
        // Each start listens where the kernel says; the simulator is told the address.
        ORGSYNC_PORT: '0',
        ORGSYNC_HOST: '127.0.0.1',
        ORGSYNC_ADMIN_PASSWORD: 'correct horse battery',
      };

      // The connection and its first sync, from this process on the same data directory, which stays open here to
      // watch the runs and the inbox (SQLite between processes, as a CLI command beside the server).
      const store: Store = await openStore({ dataDir: dir });
      cleanup.push(() => store.close());
      const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir: dir }));
      const callback = { callbackToken: TOKEN, callbackAesKey: AES_KEY };
      if (sim instanceof WecomSimulator) {
        const id = sim.identity;
        await connections.add({
          platform: 'wecom',
          name: NAME,
          settings: { corpId: id.corpId, agentId: id.agentId, apiBaseUrl: simUrl },
          secrets: { secret: id.secret, contactsSecret: id.contactsSecret, ...callback },
        });
      } else {
        const id = sim.identity;
        await connections.add({
          platform: 'dingtalk',
          name: NAME,
          settings: { corpId: id.corpId, agentId: id.agentId, clientId: id.clientId, apiBaseUrl: simUrl },
          secrets: { clientSecret: id.clientSecret, ...callback },
        });
      }
      expect((await syncConnection(store, await connections.get(NAME))).status).toBe('succeeded');

      let server: ServeProcess = await serveProcess(env);
      const kill = (s: ServeProcess) => () => {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      };
      cleanup.push(kill(server));
      // Only FIRST deliveries go out until the test says more.
      sim.callbacks.hold(FIRST);
      sim.updateConfig({
        callbackUrl: `${server.url}/callbacks/${NAME}`,
        callbackToken: TOKEN,
        callbackAesKey: AES_KEY,
      });

      let streamed = 0;
      const stream = async (from: number, to: number): Promise<void> => {
        for (let i = from; i < to; i++) {
          const res = await fetch(`${simUrl}/__sim/mutate`, {
            method: 'POST',
            body: JSON.stringify({ random: { count: perRound, seed: 1000 + i } }),
          });
          expect(res.status).toBe(200);
          streamed += ((await res.json()) as { applied: number }).applied;
        }
      };
      // Half the changes before the kill, the other half while the server is down.
      await stream(0, Math.floor(rounds / 2));
      const inbox = () => store.inbox.counts(NAME);
      const running = async () => (await store.runs.list({ kind: 'event', status: 'running', limit: 1 }))[0];
      // The hold reached: its allowance used up (`attempts` is where the test put it) and nothing moving (every
      // delivery started is waiting at the hold). A slow answer may have cost a retry, so deliveries are counted, not assumed.
      const atHold = (attempts: number) => {
        const c = sim.callbacks.stats();
        return c.attempts === attempts && c.held > 0 && c.inFlight === c.held;
      };

      // 1. The first FIRST events delivered and processed: event runs that finished before the one to be killed.
      await until('the first deliveries, then the hold', async () => atHold(FIRST), 60_000);
      const firstDelivered = sim.callbacks.stats().delivered;
      expect(firstDelivered).toBeGreaterThan(0);
      await until(
        'the first deliveries processed',
        async () => (await inbox()).pending === 0 && (await running()) === undefined,
        60_000,
      );
      // (A message the same as one already stored is stored once: the inbox may count a little less than was delivered.)
      const first = (await inbox()).done;
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(firstDelivered);
      expect(await store.runs.list({ kind: 'event', status: 'succeeded', limit: 1 })).toHaveLength(1);

      // 2. The simulator holds every API call, then lets SECOND more deliveries through: the event run they start is
      // provably in flight (running, its read waiting in the simulator) when the server is killed.
      sim.holdCalls();
      sim.callbacks.hold(SECOND);
      await until('the second deliveries, then the hold', async () => atHold(FIRST + SECOND), 60_000);
      const victim = await until(
        'an event run waiting on a read',
        async () => (sim.callHoldState().held > 0 ? await running() : undefined),
        60_000,
      );
      server.child.kill('SIGKILL');
      expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' });
      sim.releaseCalls();
      const atKill = sim.callbacks.stats();
      // Events still to come: the simulator holds them.
      expect(atKill).toMatchObject({ attempts: FIRST + SECOND, failed: 0 });
      expect(atKill.delivered).toBeGreaterThan(firstDelivered);
      expect(atKill.queued).toBeGreaterThan(0);

      // What the killed server left: its run still `running`, and messages stored but not processed.
      expect((await store.runs.get(victim.id))?.status).toBe('running');
      expect((await inbox()).pending).toBeGreaterThan(0);
      const stored = (await inbox()).pending + (await inbox()).done;
      expect(stored).toBeGreaterThan(first);
      expect(stored).toBeLessThanOrEqual(atKill.delivered);

      // 3. One delivery attempt meets the dead server and fails; its retry waits at the hold.
      sim.callbacks.hold(1);
      await until('an attempt on the dead server', async () => atHold(atKill.attempts + 1), 60_000);
      expect(sim.callbacks.stats()).toMatchObject({
        delivered: atKill.delivered,
        failed: 0,
        lastError: expect.stringMatching(/fetch failed|ECONNREFUSED/),
      });

      // 4. The rest of the changes, then the server again (a new port), then everything released.
      await stream(Math.floor(rounds / 2), rounds);
      expect(streamed).toBe(total);
      server = await serveProcess(env);
      cleanup.push(kill(server));
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      // The restarted server's sweep failed the abandoned run at start.
      const abandoned = await store.runs.get(victim.id);
      expect(abandoned?.status).toBe('failed');
      expect(abandoned?.errors.at(-1)?.code).toBe('RUN_ABANDONED');
      sim.updateConfig({ callbackUrl: `${server.url}/callbacks/${NAME}` });
      sim.callbacks.release();

      // Every event delivered (one only on a retry), every stored one processed, no run left going.
      await until('the simulator to deliver everything', async () => sim.callbacks.stats().queued === 0, 120_000);
      await until(
        'the inbox to empty',
        async () =>
          (await inbox()).pending === 0 && (await store.runs.list({ status: 'running', limit: 1 })).length === 0,
        120_000,
      );
      const stats = sim.callbacks.stats();
      expect(stats.failed).toBe(0);
      expect(stats.attempts).toBeGreaterThan(stats.delivered); // the kill cost the attempt made while it was down
      expect(stats.delivered).toBeGreaterThan(atKill.delivered);

      const truth = (await (await fetch(`${simUrl}/__sim/directory`)).json()) as unknown;
      const doc = exportDirectory(await store.directory.load());
      expect(duplicates(doc)).toStrictEqual([]);
      if (platform === 'wecom') expect(local(doc, truth as SimOrg, NAME)).toStrictEqual(expected(truth as SimOrg));
      else expect(dingLocal(doc, truth as DingTruth, { source: NAME })).toStrictEqual(dingExpected(truth as DingTruth));

      // Only event runs changed the directory after the first sync; every one after the restart succeeded.
      expect(await store.runs.list({ kind: 'sync' })).toHaveLength(1);
      const after = (await allRuns(store, { kind: 'event' })).filter((r) => r.id > victim.id);
      expect(after.length).toBeGreaterThan(0);
      expect(
        after.filter((r) => r.status !== 'succeeded').map((r) => ({ id: r.id, status: r.status, errors: r.errors })),
      ).toStrictEqual([]);
      expect(
        server.lines.some(
          (l) => l.msg === 'marked a run left running by a stopped server as failed' && l.runId === victim.id,
        ),
      ).toBe(true);
    },
    240_000,
  );
});
