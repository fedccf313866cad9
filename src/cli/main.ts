import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config.js';
import { OrgsyncError, ValidationError, describeIssue, errorInfo } from '../errors.js';
import { exportDirectory } from '../directory/export.js';
import type { Policy } from '../reconcile/policy.js';
import { enrichConnection } from '../runs/enrich.js';
import { approveRun, report, toReport, type RunReport } from '../runs/run-service.js';
import { RUN_STATUSES, type RunStatus } from '../runs/types.js';
import { ConnectionService } from '../connections/connections.js';
import { SecretBox } from '../connections/secret-box.js';
import type { SourceConnector } from '../connectors/contract.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { deadLetter } from '../server/api/events.js';
import { positiveInt } from './arguments.js';
import { connectionCommand } from './connection.js';
import { importCommand } from './import.js';
import { rotateMasterKeyCommand } from './master-key.js';
import { serverCommands } from './serve.js';
import { simulateCommand } from './simulate.js';
import { demoCommand, syncCommand } from './sync.js';
import { describeFix } from '../store/data-dir.js';
import {
  escapedOutput,
  formatChange,
  formatError,
  formatReport,
  formatSteps,
  oneLine,
  terminalOutput,
  type Output,
} from './output.js';

/** Exit codes: 0 succeeded or planned; 1 failed; 2 bad usage or input; 3 blocked for approval; 4 partial. */
export const EXIT = { ok: 0, failed: 1, usage: 2, blocked: 3, partial: 4 } as const;

interface GlobalOptions {
  dataDir?: string;
}

function runExitCode(r: RunReport): number {
  switch (r.status) {
    case 'succeeded':
    case 'planned':
      return EXIT.ok;
    case 'blocked':
      return EXIT.blocked;
    case 'partial':
      return EXIT.partial;
    default:
      return EXIT.failed;
  }
}

export async function main(
  argv: string[],
  terminal: Output = terminalOutput(process.stdout, process.stderr),
): Promise<number> {
  // Every command writes through this: control characters in names, messages and errors from outside arrive escaped.
  const io = escapedOutput(terminal);
  let exitCode: number = EXIT.ok;
  let json = false;

  const withStore = async <T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> => {
    const config = loadConfig(process.env, { dataDir: opts.dataDir });
    const store = await openStore(config.store, {
      onModeFix: (fix) => io.err(`orgsync: warning: ${describeFix(fix)}`),
    });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  };

  const emitReport = (r: RunReport, options: { refused?: boolean } = {}): void => {
    io.endProgress?.();
    if (json) io.out(JSON.stringify(r));
    else io.out(formatReport(r));
    exitCode = options.refused ? EXIT.usage : runExitCode(r);
    if (exitCode !== EXIT.ok) {
      const reason = r.errors[0];
      io.err(
        `orgsync: run ${r.runId} ${r.status}${reason ? `: ${reason.message}${reason.hint ? `\n  hint: ${reason.hint}` : ''}` : ''}`,
      );
    }
  };

  /** `import FILE --enrich CONNECTION`: the connection's own name and policy; the flags that set others are refused. */
  const enrichImport = async (
    connector: SourceConnector,
    name: string,
    opts: { dryRun?: boolean; batchSize?: number },
    cmd: Command,
  ): Promise<RunReport> => {
    const clashing = ['source', 'template', 'policy', 'onUserGone', 'mount', 'match']
      .filter((key) => cmd.getOptionValueSource(key) === 'cli')
      .map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    if (clashing.length > 0) {
      throw new ValidationError('--enrich', [
        {
          path: '--enrich',
          field: clashing.join(', '),
          message: `${clashing.join(' and ')} cannot be combined with --enrich: enrichment runs under the connection's name and policy, and only fills fields of people it already has`,
          hint: `Leave out ${clashing.join(' and ')}, or import the file as its own source without --enrich.`,
        },
      ]);
    }
    const global = cmd.optsWithGlobals<GlobalOptions>();
    const { dataDir } = loadConfig(process.env, { dataDir: global.dataDir }).store;
    const box = SecretBox.fromEnvironment({ env: process.env, dataDir });
    return withStore(global, async (store) => {
      let connection: { name: string; platform: string; policy: Policy };
      try {
        connection = await new ConnectionService(store, box).view(name);
      } catch (err) {
        if (!(err instanceof OrgsyncError) || err.code !== 'CONNECTION_NOT_FOUND') throw err;
        throw new ValidationError('--enrich', [
          { path: '--enrich', field: 'connection', message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
        ]);
      }
      return enrichConnection(store, connection, connector, {
        dryRun: opts.dryRun === true,
        ...(io.progress ? { onProgress: io.progress } : {}),
        ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      });
    });
  };

  const program = new Command()
    .name('orgsync')
    .description('Keeps your directory in step with WeCom, DingTalk or an HR export: plan, guard, apply.')
    .option(
      '--data-dir <dir>',
      'data directory for the embedded SQLite database (default: $ORGSYNC_DATA_DIR or ./data)',
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const importFile = importCommand(io, {
    withStore,
    setJson: (value) => {
      json = value;
    },
    emitReport,
    enrich: enrichImport,
  });
  importFile.copyInheritedSettings(program);
  program.addCommand(importFile);

  const directory = program.command('directory').description('the local directory');
  directory
    .command('export')
    .description('print the whole directory')
    .option('--json', 'print { departments, users } as one JSON document')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      json = opts.json === true;
      const doc = await withStore(cmd.optsWithGlobals<GlobalOptions>(), async (store) =>
        exportDirectory(await store.directory.load()),
      );
      if (json) {
        io.out(JSON.stringify(doc));
        return;
      }
      const children = new Map<number | null, typeof doc.departments>();
      for (const d of doc.departments) children.set(d.parentId, [...(children.get(d.parentId) ?? []), d]);
      const members = new Map<number, number>();
      for (const u of doc.users) for (const m of u.departments) members.set(m.id, (members.get(m.id) ?? 0) + 1);
      const lines: string[] = [];
      const walk = (parent: number | null, depth: number): void => {
        for (const d of children.get(parent) ?? []) {
          const links = d.links.map((l) => oneLine(`${l.source}:${l.externalId}`)).join(' ');
          lines.push(
            `${'  '.repeat(depth)}${oneLine(d.name)} (#${d.id}, ${members.get(d.id) ?? 0} members)${links ? ` [${links}]` : ''}`,
          );
          walk(d.id, depth + 1);
        }
      };
      walk(null, 0);
      const active = doc.users.filter((u) => u.status === 'active').length;
      lines.push(
        '',
        `${doc.departments.length} departments, ${doc.users.length} users (${active} active, ${doc.users.length - active} disabled).`,
      );
      io.out(lines.join('\n'));
    });

  const runs = program.command('runs').description('the record of every import, sync, push and event');
  runs
    .command('list')
    .description('recent runs, newest first')
    .option('--json', 'print { runs: [...] } as one JSON document')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--source <name>', 'only this source')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(RUN_STATUSES))
    .action(async (opts: { json?: boolean; limit: number; source?: string; status?: RunStatus }, cmd: Command) => {
      json = opts.json === true;
      const list = await withStore(cmd.optsWithGlobals<GlobalOptions>(), (store) =>
        store.runs.list({
          limit: opts.limit,
          ...(opts.source ? { source: opts.source } : {}),
          ...(opts.status ? { status: opts.status } : {}),
        }),
      );
      const reports = list.map((r) => toReport(r, []));
      if (json) {
        io.out(JSON.stringify({ runs: reports.map(({ steps: _steps, ...rest }) => rest) }));
        return;
      }
      if (reports.length === 0) {
        io.out('No runs yet. Start one with `orgsync import FILE`.');
        return;
      }
      for (const r of reports) {
        const c = r.changes;
        const total =
          Object.values(c.departments).reduce((a, b) => a + b, 0) + Object.values(c.users).reduce((a, b) => a + b, 0);
        io.out(
          `${String(r.runId).padStart(5)}  ${(r.startedAt ?? '').slice(0, 19).replace('T', ' ')}  ${r.kind.padEnd(6)} ${oneLine(r.source).padEnd(12)} ${r.status.padEnd(9)} ${total} change(s)${r.dryRun ? ' (dry run)' : ''}`,
        );
      }
    });

  runs
    .command('show')
    .description('one run: its report, steps and changes')
    .argument('<runId>', 'the run id', positiveInt)
    .option('--json', 'print the report with steps and changes as one JSON document')
    .option('--changes <n>', 'how many changed objects to include', positiveInt, 100)
    .action(async (runId: number, opts: { json?: boolean; changes: number }, cmd: Command) => {
      json = opts.json === true;
      const { r, changes, total } = await withStore(cmd.optsWithGlobals<GlobalOptions>(), async (store) => {
        if (!(await store.runs.get(runId))) {
          throw new OrgsyncError({
            code: 'RUN_NOT_FOUND',
            message: `there is no run ${runId}`,
            hint: 'See `orgsync runs list` for run ids.',
          });
        }
        return {
          r: await report(store, runId),
          changes: await store.runs.changes(runId, { limit: opts.changes }),
          total: await store.runs.countChanges(runId),
        };
      });
      if (json) {
        io.out(JSON.stringify({ ...r, changedObjects: { total, items: changes } }));
        return;
      }
      io.out(
        [
          formatReport(r),
          '  steps:',
          formatSteps(r),
          `  changed objects (${changes.length} of ${total}):`,
          ...changes.map(formatChange),
        ].join('\n'),
      );
    });

  runs
    .command('approve')
    .description('apply exactly the plan of a blocked (or dry-run) run')
    .argument('<runId>', 'the run id', positiveInt)
    .option('--json', 'print the run report as one JSON document')
    .action(async (runId: number, opts: { json?: boolean }, cmd: Command) => {
      json = opts.json === true;
      const r = await withStore(cmd.optsWithGlobals<GlobalOptions>(), (store) => approveRun(store, runId));
      emitReport(r);
    });

  runs
    .command('dead-letters')
    .description('contact-change messages that stopped being tried (dead letters), oldest first, with their last error')
    .option('--connection <name>', 'only this connection')
    .option('--limit <n>', 'how many', positiveInt, 100)
    .option('--json', 'print { deadLetters: [...] } as one JSON document')
    .action(async (opts: { connection?: string; limit: number; json?: boolean }, cmd: Command) => {
      json = opts.json === true;
      const list = await withStore(cmd.optsWithGlobals<GlobalOptions>(), (store) =>
        store.inbox.deadLetters({
          limit: opts.limit,
          ...(opts.connection !== undefined ? { connection: opts.connection } : {}),
        }),
      );
      const items = list.map((m) => deadLetter(m, 'en'));
      if (json) {
        io.out(JSON.stringify({ deadLetters: items }));
        return;
      }
      if (items.length === 0) {
        io.out(
          `No dead letters${opts.connection !== undefined ? ` for connection "${opts.connection}"` : ''}: every contact-change message was applied or is still being tried.`,
        );
        return;
      }
      for (const m of items) {
        const objects = m.events.map((e) => `${e.object} "${e.externalId}"`).join(', ');
        io.out(
          `${String(m.id).padStart(6)}  ${(m.deadAt ?? '').slice(0, 19).replace('T', ' ')}  ${m.connection.padEnd(12)} ${m.type}  ${objects}  after ${m.attempts} tries`,
        );
        if (m.error) io.out(formatError(m.error, '        '));
      }
      io.out(
        `${items.length} dead letter(s). Fix the cause, then \`orgsync runs retry-dead-letters${opts.connection !== undefined ? ` --connection ${opts.connection}` : ''}\` (or 重试 in the console).`,
      );
    });

  runs
    .command('retry-dead-letters')
    .description(
      "put dead letters back to pending, each with its tries counted afresh: all, a connection's, or some by id",
    )
    .option('--connection <name>', "only this connection's")
    .option(
      '--id <id...>',
      'only these messages (ids from `orgsync runs dead-letters`)',
      (v: string, prev: number[] | undefined) => [...(prev ?? []), positiveInt(v)],
    )
    .option('--json', 'print { retried, ids } as one JSON document')
    .action(async (opts: { connection?: string; id?: number[]; json?: boolean }, cmd: Command) => {
      json = opts.json === true;
      const ids = opts.id;
      const retried = await withStore(cmd.optsWithGlobals<GlobalOptions>(), (store) =>
        store.inbox.retryDeadLetters({
          ...(opts.connection !== undefined ? { connection: opts.connection } : {}),
          ...(ids !== undefined ? { ids } : {}),
        }),
      );
      if (json) {
        io.out(JSON.stringify({ retried: retried.length, ids: retried.map((m) => m.id) }));
        return;
      }
      io.out(
        retried.length === 0
          ? 'No dead letters to retry.'
          : `Put ${retried.length} message(s) back to pending. A running \`orgsync serve\` takes them up within a minute (the console's 重试 and the API start at once).`,
      );
    });

  const simulate = simulateCommand(io, (code) => {
    exitCode = code;
  });
  const connection = connectionCommand(io, {
    withStore,
    setExitCode: (code) => {
      exitCode = code;
    },
    setJson: (value) => {
      json = value;
    },
  });
  // A command built apart does not inherit exitOverride and output settings: copy them all the way down.
  const adopt = (cmd: Command, parent: Command): void => {
    cmd.copyInheritedSettings(parent);
    for (const sub of cmd.commands) adopt(sub, cmd);
  };
  const sync = syncCommand(io, {
    withStore,
    setJson: (value) => {
      json = value;
    },
    emitReport: (report, extra) => {
      emitReport(report);
      if (!json) io.out(extra);
    },
  });
  const demo = demoCommand(io);
  const server = serverCommands(io, {
    withStore,
    setJson: (value) => {
      json = value;
    },
  });
  server
    .find((cmd) => cmd.name() === 'admin')
    ?.addCommand(rotateMasterKeyCommand(io, withStore, (value) => (json = value)));
  for (const cmd of [simulate, connection, sync, demo, ...server]) {
    adopt(cmd, program);
    program.addCommand(cmd);
  }

  try {
    await program.parseAsync(argv);
  } catch (err) {
    io.endProgress?.();
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const info = errorInfo(err);
    if (json)
      io.out(JSON.stringify(err instanceof ValidationError ? { error: info, issues: err.issues } : { error: info }));
    io.err(`orgsync: ${formatError(info)}`);
    if (err instanceof ValidationError && err.issues.length > 1) {
      for (const issue of err.issues.slice(1, 20)) io.err(`  - ${describeIssue(issue)}`);
      if (err.issues.length > 20) io.err(`  … and ${err.issues.length - 20} more`);
    }
    return err instanceof ValidationError ? EXIT.usage : EXIT.failed;
  }
  return exitCode;
}
