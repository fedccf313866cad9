import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ValidationError, zodIssues, OrgsyncError } from '../errors.js';
import type { SourceConnector } from '../connectors/contract.js';
import { ENCODING_CHOICES, type EncodingChoice } from '../connectors/common/files/encoding.js';
import { policySchema, type Policy, type PolicyInput } from '../reconcile/policy.js';
import { EXPORT_READERS, exportFormat, fileSource, type FileSource, type OptionNames } from '../runs/import-file.js';
import { executeRun, type RunReport } from '../runs/run-service.js';
import { TEMPLATES, type Template } from '../runs/types.js';
import type { Store } from '../store/store.js';
import { positiveInt } from './arguments.js';
import type { Output } from './output.js';

export interface ImportCommandHelpers {
  withStore<T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>): Promise<T>;
  setJson(json: boolean): void;
  /** Prints the report and sets the exit code; `refused`: the run failed on the input itself (exit 2). */
  emitReport(report: RunReport, options?: { refused?: boolean }): void;
  /** `--enrich CONNECTION`: the file's rows fill what the connection cannot read (runs/enrich.ts). */
  enrich(
    connector: SourceConnector,
    connection: string,
    opts: { dryRun?: boolean; batchSize?: number },
    cmd: Command,
  ): Promise<RunReport>;
}

const FORMATS = ['auto', 'snapshot', ...EXPORT_READERS.map(exportFormat), 'csv'] as const;

interface ImportOptions {
  source?: string;
  format: string;
  template?: Template;
  enrich?: string;
  sheet?: number | string;
  startRow?: number;
  endRow?: number;
  encoding: EncodingChoice;
  dryRun?: boolean;
  json?: boolean;
  policy?: string;
  onUserGone?: string;
  mount?: number;
  match?: string;
  batchSize?: number;
}

function flagIssue(flag: string, message: string, hint: string): ValidationError {
  return new ValidationError('import flags', [{ path: flag, field: flag.replace(/^--/, ''), message, hint }]);
}

function rowNumber(lowest: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isInteger(n) || n < lowest) {
      throw new InvalidArgumentError(
        lowest < 0
          ? 'expected a row from 0, or -1 for the last row'
          : 'expected a row from 0 (Excel row number minus 1)',
      );
    }
    return n;
  };
}

function sheetOption(value: string): number | string {
  const v = value.trim();
  if (v === '') throw new InvalidArgumentError('expected a sheet position from 0 or a sheet name');
  return /^\d+$/.test(v) ? Number(v) : v;
}

export async function loadPolicy(
  file: string | undefined,
  flags: { onUserGone?: string; mount?: number; match?: string },
): Promise<Policy> {
  let input: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new OrgsyncError({
        code: 'FILE_UNREADABLE',
        message: `cannot read policy file ${file}: ${(err as Error).message}`,
        hint: 'Check the path.',
      });
    }
    try {
      input = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ValidationError(`policy file ${file}`, [
        { path: '(file)', field: '(syntax)', message: (err as Error).message, hint: 'Fix the JSON syntax.' },
      ]);
    }
  }
  const merged: PolicyInput = {
    ...(input as PolicyInput),
    ...(flags.onUserGone !== undefined ? { onUserGone: flags.onUserGone as Policy['onUserGone'] } : {}),
    ...(flags.mount !== undefined ? { mountDepartmentId: flags.mount } : {}),
    ...(flags.match !== undefined
      ? {
          matching: {
            ...((input.matching as object) ?? {}),
            users: flags.match
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean) as Policy['matching']['users'],
          },
        }
      : {}),
  };
  const parsed = policySchema.safeParse(merged);
  if (!parsed.success) {
    throw new ValidationError(
      file ? `policy (${file} and flags)` : 'policy flags',
      zodIssues(parsed.error.issues, {
        keyWord: 'key',
        hint: () => 'See docs/policy.md for the policy keys and their values.',
      }),
    );
  }
  return parsed.data;
}

/** The export options as the command line names them, in what the import refuses. */
const FLAG_NAMES: OptionNames = {
  sheet: '--sheet',
  startRow: '--start-row',
  endRow: '--end-row',
  encoding: '--encoding',
};

/** The file's source as the flags ask (`runs/import-file.ts`, shared with the API). */
function sourceFor(file: string, opts: ImportOptions): Promise<FileSource> {
  return fileSource(file, opts, { names: FLAG_NAMES, what: 'import flags' });
}

export function importCommand(io: Output, helpers: ImportCommandHelpers): Command {
  return new Command('import')
    .description(
      "import a JSON snapshot of the org or a platform's contacts export, xlsx or csv (see docs/json-snapshot.md, docs/import.md)",
    )
    .argument('<file>', 'the snapshot or export file')
    .option(
      '--source <name>',
      `name of the source the file comes from; links are kept per source (default: json for a snapshot, ${EXPORT_READERS.map(exportFormat).join(', ')} for an export)`,
    )
    .addOption(
      new Option('--format <format>', 'what the file is; auto tells them apart by content, not by name')
        .choices(FORMATS)
        .default('auto'),
    )
    .addOption(
      new Option(
        '--template <template>',
        'how the file is applied (docs/import.md): create-update (touch nobody it leaves out; the default for an export file), delete-only (only remove what it leaves out), full (both; the default for a snapshot)',
      ).choices(TEMPLATES),
    )
    .option(
      '--enrich <connection>',
      "fill the mobile, email, gender, address, telephone and attributes of the connection's linked users, matched by account; nothing else changes",
    )
    .option(
      '--sheet <sheet>',
      'xlsx: the sheet, by position from 0 or by name (default: the first with a member header)',
      sheetOption,
    )
    .option(
      '--start-row <n>',
      'export: the header row, counted from 0 (default: found among the first 200 rows)',
      rowNumber(0),
    )
    .option('--end-row <n>', 'export: the last row read, counted from 0; -1 is the last row (default)', rowNumber(-1))
    .addOption(
      new Option('--encoding <encoding>', 'csv: the text encoding; auto finds UTF-8 (with or without BOM) or GB18030')
        .choices(ENCODING_CHOICES)
        .default('auto'),
    )
    .option('--dry-run', 'plan and record the run, write nothing to the directory')
    .option('--json', 'print the run report as one JSON document')
    .option('--policy <file>', 'a JSON policy file (see docs/policy.md)')
    .addOption(
      new Option('--on-user-gone <action>', 'what happens to users the source no longer lists').choices([
        'disable',
        'delete',
        'ignore',
      ]),
    )
    .option('--mount <departmentId>', "local department the source's top departments hang under", positiveInt)
    .option('--match <keys>', 'fallback keys for unlinked users, in order, e.g. userid,mobile,email')
    .option('--batch-size <n>', 'user changes per transaction', positiveInt)
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      helpers.setJson(opts.json === true);
      if (opts.source !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(opts.source)) {
        throw flagIssue(
          '--source',
          `"${opts.source}" is not a valid source name`,
          'Use 1-64 letters, digits, _ . - starting with a letter or digit.',
        );
      }
      if (opts.enrich !== undefined) {
        const { connector } = await sourceFor(file, opts);
        const report = await helpers.enrich(connector, opts.enrich, opts, cmd);
        return finish(report);
      }
      const policy = await loadPolicy(opts.policy, opts);
      const { connector, defaultSource, defaultTemplate } = await sourceFor(file, opts);
      const report = await helpers.withStore(cmd.optsWithGlobals<{ dataDir?: string }>(), (store) =>
        executeRun(store, {
          kind: 'import',
          source: opts.source ?? defaultSource,
          connector,
          policy,
          template: opts.template ?? defaultTemplate,
          dryRun: opts.dryRun === true,
          onProgress: io.progress,
          ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
        }),
      );
      finish(report);
    });

  function finish(report: RunReport): void {
    io.endProgress?.();
    for (const w of report.warnings) io.err(`orgsync: warning: ${w.code}: ${w.message}`);
    // A run that failed on the file itself is bad input, as a bad flag is: nothing was written.
    const refused =
      report.status === 'failed' && report.errors.length > 0 && report.errors.every((e) => e.code === 'INVALID_INPUT');
    helpers.emitReport(report, { refused });
  }
}
