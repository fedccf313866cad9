import { TokenCache } from '../../src/connectors/common/token-cache.js';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { platformOf } from '../../src/connectors/registry.js';
import { type DirectoryExport, exportDirectory } from '../../src/directory/export.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { executeRun, type RunReport } from '../../src/runs/run-service.js';
import type { Store } from '../../src/store/store.js';
import type { Mirror, OrgView, RunningSimulator, SourceSimulator } from './source-simulators.js';
import { openTestStore } from './stores.js';

/**
 * A platform's simulator over real HTTP and a fresh SQLite store, synced through the platform definition of
 * connectors/registry.ts (its `source()`, as `syncConnection` does) and `executeRun`: pull → plan → guard → apply.
 */

export interface SyncResult extends RunReport {
  /** HTTP requests the client made, token fetches included. */
  apiCalls: number;
  retries: number;
  /** The run's source, for what it noted about its pull. */
  connector: SourceConnector;
}

export interface SourceHarness<Sim, Truth, Credentials extends string> {
  sim: Sim;
  url: string;
  store: Store;
  /** One sync of the whole org with the default policy, recorded as a run whose source is the platform's id. */
  sync(options?: { timeoutMs?: number; credentials?: Credentials }): Promise<SyncResult>;
  /** The simulator's ground truth (GET /__sim/directory). */
  truth(): Promise<Truth>;
  view(): Promise<OrgView>;
  /** POST /__sim/mutate: `{ operations: [...] }` or `{ random: { count, seed } }`; anything but 200 throws. */
  mutate(body: unknown): Promise<{ applied: number }>;
  /** POST /__sim/config: the given switches change, the rest stay; anything but 200 throws. */
  configure(patch: Record<string, unknown>): Promise<void>;
  exported(): Promise<DirectoryExport>;
  /** The local directory in the adapter's comparable shape (see SourceSimulator.mirror). */
  mirror(truth?: Truth): Promise<Mirror>;
}

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

/** Harnesses opened by one test file; `closeAll()` (in afterEach) stops their simulators and drops their stores. */
export function sourceHarnesses() {
  let opened: Array<() => Promise<void>> = [];
  return {
    async open<Sim extends RunningSimulator, Truth, Credentials extends string>(
      simulator: SourceSimulator<Sim, Truth, Credentials>,
      seed: number,
      size: { departments: number; users: number },
      config: Record<string, unknown> = {},
    ): Promise<SourceHarness<Sim, Truth, Credentials>> {
      const platform = platformOf(simulator.platform);
      if (!platform) throw new Error(`"${simulator.platform}" is not a platform of connectors/registry.ts`);
      const sim = simulator.start({ seed, ...size, config });
      const url = await sim.listen(0);
      const t = await openTestStore('sqlite');
      opened.push(async () => {
        await sim.close();
        await t.cleanup();
      });
      const tokens = new TokenCache();
      const exported = async () => exportDirectory(await t.store.directory.load());
      const truth = async () => (await (await fetch(`${url}/__sim/directory`)).json()) as Truth;
      return {
        sim,
        url,
        store: t.store,
        async sync(options = {}) {
          const client = simulator.client(sim, url, {
            tokens,
            timeoutMs: options.timeoutMs ?? 2000,
            credentials: options.credentials,
          });
          const source = platform.source(client);
          const report = await executeRun(t.store, {
            kind: 'sync',
            source: platform.id,
            connector: source.connector,
            policy: resolvePolicy({}),
          });
          report.notes.push(...source.notes());
          return {
            ...report,
            apiCalls: source.apiCalls(),
            retries: client.stats().retries,
            connector: source.connector,
          };
        },
        truth,
        view: async () => simulator.view(await truth()),
        mutate: async (body) => (await post(`${url}/__sim/mutate`, body)) as { applied: number },
        async configure(patch) {
          await post(`${url}/__sim/config`, patch);
        },
        exported,
        mirror: async (upstream) => simulator.mirror(await exported(), upstream),
      };
    },
    async closeAll() {
      const closing = opened;
      opened = [];
      for (const close of closing) await close();
    },
  };
}
