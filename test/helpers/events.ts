import { afterEach, expect } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/start.js';
import type { CallbackStats } from '../../src/simulator/common/callback-queue.js';
import type { SimulatorProcess } from './sim-process.js';
import { openTestStore, type Engine } from './stores.js';
import type { Store } from '../../src/store/store.js';
import type { RunRecord } from '../../src/runs/types.js';

/**
 * Real time, end to end, for either platform: a data directory in the system's temp dir, the store (SQLite there, or a
 * schema of its own on the test PostgreSQL server), a connection with a callback Token and EncodingAESKey, and the
 * real server; a simulator of the platform posts its events to
 * `callbackUrl(name)`. Close with `close()` (the simulator is the caller's).
 */

/** The callback Token and EncodingAESKey the tests configure on both sides. */
export const CALLBACK_TOKEN = 'eventToken123';
export const CALLBACK_AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

export interface EventsServer {
  server: RunningServer;
  store: Store;
  connections: ConnectionService;
  dir: string;
  /** The server's callback endpoint of a connection. */
  callbackUrl(connection: string): string;
  close(): Promise<void>;
}

export async function startEventsServer(options: {
  /** Adds the connection(s), with CALLBACK_TOKEN and CALLBACK_AES_KEY. */
  add(connections: ConnectionService): Promise<unknown>;
  server?: Partial<StartServerOptions>;
  /** Default SQLite. */
  engine?: Engine;
  /** ORGSYNC_* settings of the server besides its master key (e.g. ORGSYNC_EVENT_MAX_ATTEMPTS). */
  env?: Record<string, string>;
}): Promise<EventsServer> {
  const test = await openTestStore(options.engine ?? 'sqlite');
  const { store, dataDir: dir } = test;
  const env = { ORGSYNC_MASTER_KEY: 'ab'.repeat(32) } as NodeJS.ProcessEnv;
  const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir: dir }));
  try {
    await options.add(connections);
    const server = await startServer({
      env: { ...env, ...options.env },
      store,
      dataDir: dir,
      port: 0,
      host: '127.0.0.1',
      adminPassword: 'an-admin-password-1',
      logStream: { write: () => {} },
      ...options.server,
    });
    return {
      server,
      store,
      connections,
      dir,
      callbackUrl: (connection) => `${server.url}/callbacks/${encodeURIComponent(connection)}`,
      async close() {
        await server.close();
        await test.cleanup();
      },
    };
  } catch (err) {
    await test.cleanup();
    throw err;
  }
}

/**
 * Waits until the simulator has delivered (or given up) every queued event and the server has processed every
 * stored one. Every event is stored before the server answers it, so once the queue is empty the pump knows of all.
 */
export async function settle(
  callbackStats: () => CallbackStats | Promise<CallbackStats>,
  server: RunningServer,
  pollMs = 10,
): Promise<void> {
  while ((await callbackStats()).queued > 0) await new Promise((r) => setTimeout(r, pollMs));
  await server.events.idle();
}

/**
 * Every run that matches, newest first, read page by page: `runs.list` answers the newest 50 unless told otherwise,
 * and a check over "the runs" must not pass on the newest page while an older run failed.
 */
export async function allRuns(
  store: Store,
  filter: { kind?: RunRecord['kind']; source?: string; status?: RunRecord['status'] } = {},
): Promise<RunRecord[]> {
  const all: RunRecord[] = [];
  for (;;) {
    const beforeId = all.at(-1)?.id;
    const page = await store.runs.list({ ...filter, limit: 200, ...(beforeId !== undefined ? { beforeId } : {}) });
    all.push(...page);
    if (page.length < 200) return all;
  }
}

/** The simulator's ground truth, GET /__sim/directory. */
export async function simDirectory<T>(simUrl: string): Promise<T> {
  const res = await fetch(`${simUrl}/__sim/directory`);
  if (!res.ok) throw new Error(`/__sim/directory answered HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** A simulator posting its events to a server: what the real-time tests of either platform work with. */
export interface Realtime<P extends 'wecom' | 'dingtalk'> {
  sim: SimulatorProcess<P>;
  events: EventsServer;
}

/** Closes every pair passed to the returned function after each test of the file that calls this. */
export function closedAfterEach<P extends 'wecom' | 'dingtalk'>(): (pair: Realtime<P>) => Realtime<P> {
  let pairs: Array<Realtime<P>> = [];
  afterEach(async () => {
    for (const s of pairs) {
      await s.sim.close();
      await s.events.close();
    }
    pairs = [];
  });
  return (pair) => {
    pairs.push(pair);
    return pair;
  };
}

/** POST /__sim/mutate; fails the test on anything but 200. */
export async function mutate(pair: Realtime<'wecom' | 'dingtalk'>, body: unknown): Promise<void> {
  const res = await fetch(`${pair.sim.url}/__sim/mutate`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** See settle: every event delivered and stored, every stored one applied. */
export const settled = (pair: Realtime<'wecom' | 'dingtalk'>): Promise<void> =>
  settle(() => pair.sim.callbackStats(), pair.events.server);
