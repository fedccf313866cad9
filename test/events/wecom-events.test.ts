import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { exportDirectory } from '../../src/directory/export.js';
import { syncConnection } from '../../src/runs/sync.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { expected, local } from '../helpers/wecom-directory.js';

/**
 * Real time, end to end: the WeCom simulator posts its contact events, signed and encrypted, to the server's
 * callback endpoint; the server stores them, reads the touched objects back and applies event runs. No sync runs
 * after the first one, and the directory must still equal the simulator's.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'eventToken123';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

interface Setup {
  sim: WecomSimulator;
  server: RunningServer;
  store: Store;
  connections: ConnectionService;
  dir: string;
}

let setups: Setup[] = [];
afterEach(async () => {
  for (const s of setups) {
    await s.sim.close();
    await s.server.close();
    await s.store.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
  setups = [];
});

async function setup(seed: number, idsOnly: boolean): Promise<Setup> {
  const sim = new WecomSimulator({ seed, departments: 25, users: 250 });
  const simUrl = await sim.listen(0);
  const dir = mkdtempSync(path.join(ROOT, '.bench-data', 'events-'));
  const env = { ORGSYNC_MASTER_KEY: 'ab'.repeat(32) } as NodeJS.ProcessEnv;
  const store = await openStore({ dataDir: dir });
  const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir: dir }));
  await connections.add({
    platform: 'wecom',
    name: 'wx',
    corpId: sim.identity.corpId,
    agentId: sim.identity.agentId,
    secret: sim.identity.secret,
    contactsSecret: sim.identity.contactsSecret,
    apiBaseUrl: simUrl,
    callbackToken: TOKEN,
    callbackAesKey: AES_KEY,
  });
  const server = await startServer({ env, store, dataDir: dir, port: 0, host: '127.0.0.1', adminPassword: 'an-admin-password-1', logStream: { write: () => {} } });
  const s = { sim, server, store, connections, dir };
  setups.push(s);
  const first = await syncConnection(store, await connections.get('wx'));
  expect(first.status).toBe('succeeded');
  sim.updateConfig({ callbackUrl: `${server.url}/callbacks/wx`, callbackToken: TOKEN, callbackAesKey: AES_KEY, callbackIdsOnly: idsOnly } as Record<string, unknown>);
  return s;
}

async function truth(sim: WecomSimulator): Promise<SimOrg> {
  return (await (await fetch(`${sim.url}/__sim/directory`)).json()) as SimOrg;
}

/** Waits until the simulator has delivered every event and the server has processed every stored one. */
async function settle(s: Setup): Promise<void> {
  for (;;) {
    const stats = s.sim.callbacks.stats();
    if (stats.queued === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await s.server.events.idle();
}

describe('WeCom contact-change callbacks', () => {
  it('refuses a forged request and an unknown connection, storing nothing', async () => {
    const s = await setup(301, false);
    const bad = await fetch(`${s.server.url}/callbacks/wx?msg_signature=${'0'.repeat(40)}&timestamp=${Math.floor(Date.now() / 1000)}&nonce=1&echostr=abc`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('CALLBACK_SIGNATURE_INVALID');
    const unknown = await fetch(`${s.server.url}/callbacks/nobody`, { method: 'POST', body: '<xml/>' });
    expect(unknown.status).toBe(404);
    expect(await s.store.inbox.counts('wx')).toStrictEqual({ pending: 0, done: 0 });
  });

  it.each([
    ['full payloads', false],
    ['ID-only payloads, for changes WeCom reports that way', true],
  ])('random changes reach the directory with no sync (%s)', async (_label, idsOnly) => {
    const s = await setup(idsOnly ? 303 : 302, idsOnly as boolean);
    const before = (await s.store.runs.list({ kind: 'sync' })).length;
    const res = await fetch(`${s.sim.url}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ random: { count: 150, seed: 9 } }) });
    expect(res.status).toBe(200);
    await settle(s);
    const org = await truth(s.sim);
    const doc = exportDirectory(await s.store.directory.load());
    if (idsOnly) {
      // ID-only events carry no profile changes at all (WeCom sends update_user only for a department or userid
      // change): names may lag until the scheduled reconcile; the tree, who is there and where must not.
      const strip = (v: { departments: Array<{ id: number; name: string; parent: number | null }>; users: Array<{ userid: string; memberships: Array<{ d: number }> }> }) => ({ departments: v.departments.map(({ name: _n, ...d }) => d), users: v.users.map((u) => ({ userid: u.userid, memberships: u.memberships.map((m) => m.d) })) });
      expect(strip(local(doc, org, 'wx'))).toStrictEqual(strip(expected(org)));
    } else {
      expect(local(doc, org, 'wx')).toStrictEqual(expected(org));
    }
    // Only event runs did it.
    expect((await s.store.runs.list({ kind: 'sync' })).length).toBe(before);
    const events = await s.store.runs.list({ kind: 'event' });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((r) => r.status === 'succeeded')).toBe(true);
    expect((await s.store.inbox.counts('wx')).pending).toBe(0);
  });
});
