import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { ConnectionService, type ConnectionInput } from '../connections/connections.js';
import { SecretBox } from '../connections/secret-box.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { testConnection } from '../connectors/connection-test.js';
import { definitionOf, PLATFORM_IDS, type PlatformId } from '../connectors/registry.js';
import { exportDirectory } from '../directory/export.js';
import { syncConnection, type SyncReport } from '../runs/sync.js';
import { DEMO_PLATFORMS, type DemoPlatform } from '../simulator/demo.js';
import { describeFix } from '../store/data-dir.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { startServer } from '../server/start.js';
import { positiveInt } from './arguments.js';
import { formatReport, type Output } from './output.js';
import { kebab } from './connection.js';

export interface SyncCommandHelpers {
  withStore<T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>): Promise<T>;
  setJson(json: boolean): void;
  emitReport(report: SyncReport, extra: string): void;
}

export function syncCommand(io: Output, helpers: SyncCommandHelpers): Command {
  return new Command('sync')
    .description("pull a connection's org chart and bring the directory in line: read → plan → guard → apply")
    .argument('<name>', 'the connection name')
    .option('--dry-run', 'plan and record the run, write nothing to the directory')
    .option('--json', 'print the run report (with apiCalls) as one JSON document')
    .action(async (name: string, opts: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
      helpers.setJson(opts.json === true);
      const global = cmd.optsWithGlobals<{ dataDir?: string }>();
      const { dataDir } = loadConfig(process.env, { dataDir: global.dataDir }).store;
      const box = SecretBox.fromEnvironment({ env: process.env, dataDir });
      const report = await helpers.withStore(
        global.dataDir !== undefined ? { dataDir: global.dataDir } : {},
        async (store) => {
          const connection = await new ConnectionService(store, box).get(name);
          return syncConnection(store, connection, {
            dryRun: opts.dryRun === true,
            ...(io.progress ? { onProgress: io.progress } : {}),
          });
        },
      );
      helpers.emitReport(report, `  API calls:   ${report.apiCalls.toLocaleString('en')}`);
    });
}

/** The platform's simulated org; the command offers only platforms with one. */
function startDemoPlatform(
  platform: PlatformId,
  size: { seed: number; users: number; departments: number },
): Promise<DemoPlatform> {
  const start = DEMO_PLATFORMS[platform];
  if (!start) throw new Error(`no simulated org for platform "${platform}"`);
  return start({ seed: size.seed, users: size.users, departments: size.departments });
}

/**
 * The five-minute tour with no corp at all: a simulated WeCom corp or DingTalk org, a connection to it in a fresh
 * data directory, a connection test, a full sync, changes upstream and an incremental sync.
 */
export function demoCommand(io: Output): Command {
  return new Command('demo')
    .description('sync a simulated WeCom corp (or DingTalk org) into a fresh data directory, and show what to try next')
    .addOption(
      new Option('--platform <platform>', 'the simulated platform')
        .choices(PLATFORM_IDS.filter((id) => id in DEMO_PLATFORMS))
        .default(PLATFORM_IDS[0]),
    )
    .option('--users <n>', 'people in the simulated org', positiveInt, 2000)
    .option('--departments <n>', 'departments in the simulated org', positiveInt, 120)
    .option('--seed <n>', 'the simulated org (the same seed gives the same org)', positiveInt, 2026)
    .option(
      '--port <n>',
      'port of the console and API (0 picks a free one)',
      (v: string) => (v === '0' ? 0 : positiveInt(v)),
      8080,
    )
    .option('--no-serve', 'end after the tour instead of serving the console')
    .action(
      async (
        opts: { platform: PlatformId; users: number; departments: number; seed: number; port: number; serve: boolean },
        cmd: Command,
      ) => {
        const global = cmd.optsWithGlobals<{ dataDir?: string }>();
        const dataDir = path.resolve(global.dataDir ?? mkdtempSync(path.join(tmpdir(), 'orgsync-demo-')));
        const env = { ...process.env, ORGSYNC_DATA_DIR: dataDir, ORGSYNC_DATABASE_URL: '' };
        const sim = await startDemoPlatform(opts.platform, opts);
        const url = sim.url;
        const store = await openStore(loadConfig(env).store, {
          onModeFix: (fix) => io.err(`orgsync: warning: ${describeFix(fix)}`),
        });
        try {
          const say = (text = '') => io.out(text);
          say(
            `orgsync demo — ${sim.label} with ${opts.users.toLocaleString('en')} people in ${opts.departments} departments at ${url}`,
          );
          if (sim.qpsLimit !== undefined)
            say(
              `(The simulated org allows ${sim.qpsLimit} calls per API per second and orgsync keeps to it; DingTalk allows an internal app 20.)`,
            );
          say(`Data directory: ${dataDir}`);
          say();

          const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir }));
          const name = `demo-${opts.platform}`;
          await connections.add({ platform: opts.platform, name, ...sim.connection } as ConnectionInput);
          say(
            `1. Added connection "${name}"; its secrets are encrypted under the key in ${path.join(dataDir, 'master.key')}.`,
          );

          const tokens = new TokenCache();
          const connection = await connections.get(name);
          const limits = sim.qpsLimit !== undefined ? { qpsLimit: sim.qpsLimit } : {};
          const test = await testConnection(connection, { tokens, ...limits });
          say(`2. Tested it: ${test.ok ? 'all checks passed' : 'some checks failed'}`);
          for (const c of test.checks) say(`     ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(16)} ${c.message}`);

          const first = await syncConnection(store, connection, {
            tokens,
            ...limits,
            ...(io.progress ? { onProgress: io.progress } : {}),
          });
          io.endProgress?.();
          say(
            `3. First sync (run ${first.runId}): ${first.status}, ${first.changes.departments.create} departments and ${first.changes.users.create} people created, ${first.apiCalls} API calls.`,
          );

          const mutated = await fetch(`${url}/__sim/mutate`, {
            method: 'POST',
            body: JSON.stringify({ random: { count: 25, seed: opts.seed } }),
          });
          if (!mutated.ok)
            throw new Error(`the simulator refused the demo's changes: HTTP ${mutated.status} ${await mutated.text()}`);
          const second = await syncConnection(store, connection, {
            tokens,
            ...limits,
            ...(io.progress ? { onProgress: io.progress } : {}),
          });
          io.endProgress?.();
          say('4. 25 changes happened upstream (hires, leavers, renames, moves). Second sync:');
          say(
            formatReport(second)
              .split('\n')
              .map((l) => `     ${l}`)
              .join('\n'),
          );
          say(`     API calls:   ${second.apiCalls}`);

          const doc = exportDirectory(await store.directory.load());
          const active = doc.users.filter((u) => u.status === 'active').length;
          say();
          say(
            `The directory now holds ${doc.departments.length} departments and ${doc.users.length} people (${active} active).`,
          );
          say();
          const o = `npx --no-install orgsync --data-dir ${dataDir}`;
          say('Try next:');
          say(`  ${o} directory export | head -30        # the tree`);
          say(`  ${o} runs list                          # every run`);
          say(`  ${o} runs show ${second.runId}                        # the second sync, field by field`);
          say(`  ${o} connection show ${name}           # secrets are masked`);
          say(
            `  npx --no-install orgsync simulate ${opts.platform} --seed ${opts.seed} --users ${opts.users} --departments ${opts.departments}`,
          );
          say(`      # the same org again, on a new port: point the connection at it and sync`);
          // A new apiBaseUrl takes the secrets again (they go only to the host they were saved with): the simulator's
          // ready line prints them.
          const stored = connection.secrets as Record<string, unknown>;
          const secretFlags = definitionOf({ platform: opts.platform })
            .binding.secrets.filter((key) => stored[key] !== undefined)
            .map((key) => ` --${kebab(key)} <${key}>`)
            .join('');
          say(
            `  ${o} connection update ${name} --api-base-url <url>${secretFlags}   # url and secrets from the line above`,
          );
          say(`  ${o} sync ${name} --dry-run`);
          if (opts.serve) await serveDemo({ io, store, env, dataDir, sim, name, connections, port: opts.port });
        } finally {
          await store.close();
          await sim.close();
        }
      },
    );
}

/**
 * The console on the demo's data: the server in this process (its log in server.log), the first admin's password
 * printed here, and the simulator's contact-change callbacks pointed at it, so a change upstream shows up by itself.
 * Runs until Ctrl-C.
 */
async function serveDemo(d: {
  io: Output;
  store: Store;
  env: NodeJS.ProcessEnv;
  dataDir: string;
  sim: DemoPlatform;
  name: string;
  connections: ConnectionService;
  port: number;
}): Promise<void> {
  const log = createWriteStream(path.join(d.dataDir, 'server.log'), { flags: 'a', mode: 0o600 });
  // The demo shows its generated password to the person who started it (below), on a server only this machine
  // reaches, over the demo's own data: no forced change stands between them and the tour.
  const start = (port: number) =>
    startServer({
      env: d.env,
      store: d.store,
      dataDir: d.dataDir,
      port,
      host: '127.0.0.1',
      logStream: log,
      firstPasswordChange: false,
    });
  // The default port may be taken on this machine: then any free one.
  const server = await start(d.port).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'EADDRINUSE' && d.port !== 0) return start(0);
    throw err;
  });
  try {
    if (d.sim.callbacks) {
      const token = randomBytes(12).toString('hex');
      const aesKey = randomBytes(22).toString('hex').slice(0, 43);
      await d.connections.update(d.name, { secrets: { callbackToken: token, callbackAesKey: aesKey } });
      d.sim.callbacks(`${server.url}/callbacks/${d.name}`, token, aesKey);
    }
    await d.connections.update(d.name, { syncEnabled: true });
    const say = (text = ''): void => d.io.out(text);
    say();
    say(`Console: ${server.url}/   (API: ${server.url}/api/v1, OpenAPI: ${server.url}/api/docs)`);
    say(
      server.admin
        ? `Sign in as ${server.admin.username} / ${server.admin.password}`
        : 'Sign in with the admin password set before for this data directory.',
    );
    if (d.sim.callbacks) {
      say(`Changes upstream now show up by themselves (callbacks): try`);
      say(`  curl -X POST ${d.sim.url}/__sim/mutate -d '{"random":{"count":10,"seed":7}}'`);
    }
    say(`Server log: ${path.join(d.dataDir, 'server.log')}. Ctrl-C stops the demo.`);
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  } finally {
    await server.close();
    log.end();
  }
}
