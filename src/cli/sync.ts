import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { ConnectionService } from '../connections/connections.js';
import { SecretBox } from '../connections/secret-box.js';
import { testWecomConnection } from '../connectors/wecom/connection-test.js';
import { TokenCache } from '../connectors/wecom/client.js';
import { exportDirectory } from '../directory/export.js';
import { syncConnection, type SyncReport } from '../runs/sync.js';
import { WecomSimulator } from '../simulator/wecom/server.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { formatReport, type Output } from './output.js';

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
      const report = await helpers.withStore(global.dataDir !== undefined ? { dataDir: global.dataDir } : {}, async (store) => {
        const connection = await new ConnectionService(store, box).get(name);
        return syncConnection(store, connection, { dryRun: opts.dryRun === true, ...(io.progress ? { onProgress: io.progress } : {}) });
      });
      helpers.emitReport(report, `  API calls:   ${report.apiCalls.toLocaleString('en')}`);
    });
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

/**
 * The five-minute tour with no corp at all: a simulated WeCom corp, a connection to it in a fresh data directory,
 * a connection test, a full sync, changes upstream and an incremental sync.
 */
export function demoCommand(io: Output): Command {
  return new Command('demo')
    .description('sync a simulated WeCom corp into a fresh data directory, and show what to try next')
    .option('--users <n>', 'people in the simulated corp', positive, 2000)
    .option('--departments <n>', 'departments in the simulated corp', positive, 120)
    .option('--seed <n>', 'the simulated corp (the same seed gives the same corp)', positive, 2026)
    .action(async (opts: { users: number; departments: number; seed: number }, cmd: Command) => {
      const global = cmd.optsWithGlobals<{ dataDir?: string }>();
      const dataDir = path.resolve(global.dataDir ?? mkdtempSync(path.join(tmpdir(), 'orgsync-demo-')));
      const env = { ...process.env, ORGSYNC_DATA_DIR: dataDir, ORGSYNC_DATABASE_URL: '' };
      const sim = new WecomSimulator({ seed: opts.seed, users: opts.users, departments: opts.departments, config: { sensitiveFields: 'withheld' } });
      const url = await sim.listen(0);
      const store = await openStore(loadConfig(env).store);
      try {
        const say = (text = '') => io.out(text);
        say(`orgsync demo — a simulated WeCom corp (${sim.identity.corpId}) with ${opts.users.toLocaleString('en')} people in ${opts.departments} departments at ${url}`);
        say(`Data directory: ${dataDir}`);
        say();

        const connections = new ConnectionService(store, SecretBox.fromEnvironment({ env, dataDir }));
        const name = 'demo-wecom';
        await connections.add({
          platform: 'wecom',
          name,
          corpId: sim.identity.corpId,
          agentId: sim.identity.agentId,
          secret: sim.identity.secret,
          contactsSecret: sim.identity.contactsSecret,
          apiBaseUrl: url,
        });
        say(`1. Added connection "${name}"; its secrets are encrypted under the key in ${path.join(dataDir, 'master.key')}.`);

        const tokens = new TokenCache();
        const connection = await connections.get(name);
        if (connection.platform !== 'wecom') throw new Error('unreachable');
        const test = await testWecomConnection(connection, { tokens });
        say(`2. Tested it: ${test.ok ? 'all checks passed' : 'some checks failed'}`);
        for (const c of test.checks) say(`     ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(16)} ${c.message}`);

        const first = await syncConnection(store, connection, { tokens, ...(io.progress ? { onProgress: io.progress } : {}) });
        io.endProgress?.();
        say(`3. First sync (run ${first.runId}): ${first.status}, ${first.changes.departments.create} departments and ${first.changes.users.create} people created, ${first.apiCalls} API calls.`);

        const changed = sim.corp.snapshot();
        const { randomOperations } = await import('../simulator/org-generator.js');
        for (const op of randomOperations(changed, { count: 25, seed: opts.seed })) sim.callbacks.send(sim.corp.apply(op));
        const second = await syncConnection(store, connection, { tokens, ...(io.progress ? { onProgress: io.progress } : {}) });
        io.endProgress?.();
        say('4. 25 changes happened upstream (hires, leavers, renames, moves). Second sync:');
        say(formatReport(second).split('\n').map((l) => `     ${l}`).join('\n'));
        say(`     API calls:   ${second.apiCalls}`);

        const doc = exportDirectory(await store.directory.load());
        const active = doc.users.filter((u) => u.status === 'active').length;
        say();
        say(`The directory now holds ${doc.departments.length} departments and ${doc.users.length} people (${active} active).`);
        say();
        const o = `npx --no-install orgsync --data-dir ${dataDir}`;
        say('Try next:');
        say(`  ${o} directory export | head -30        # the tree`);
        say(`  ${o} runs list                          # every run`);
        say(`  ${o} runs show ${second.runId}                        # the second sync, field by field`);
        say(`  ${o} connection show ${name}           # secrets are masked`);
        say(`  npx --no-install orgsync simulate wecom --seed ${opts.seed} --users ${opts.users} --departments ${opts.departments}`);
        say(`      # the same corp again, on a new port: point the connection at it and sync`);
        say(`  ${o} connection update ${name} --api-base-url <url from the line above>`);
        say(`  ${o} sync ${name} --dry-run`);
      } finally {
        await store.close();
        await sim.close();
      }
    });
}
