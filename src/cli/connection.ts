import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { testConnection } from '../connectors/connection-test.js';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import {
  ConnectionService,
  mergePatch,
  type ConnectionInput,
  type ConnectionPatch,
  type ConnectionView,
} from '../connections/connections.js';
import type { PlatformDefinition } from '../connectors/contract.js';
import { PLATFORMS, platformOf } from '../connectors/registry.js';
import { SecretBox } from '../connections/secret-box.js';
import { OrgsyncError, ValidationError, type ErrorInfo } from '../errors.js';
import { callbackPath } from '../events/routes.js';
import { allowedApiHostsFromEnvironment, publicUrlFromEnvironment } from '../server/config.js';
import type { Policy } from '../reconcile/policy.js';
import type { Store } from '../store/store.js';
import { formatError, type Output } from './output.js';

/** What `orgsync connection …` needs from the program it is part of. */
export interface ConnectionCommandHelpers {
  /** Opens the store for one command and closes it afterwards. */
  withStore<T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>): Promise<T>;
  setExitCode(code: number): void;
  /** The command prints JSON: a failure is then reported as a JSON document too. */
  setJson(json: boolean): void;
  /** Where ORGSYNC_MASTER_KEY and ORGSYNC_DATA_DIR are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where a secret given as "-" is read, one per line; default process.stdin. */
  stdin?: NodeJS.ReadableStream;
}

const EXIT_FAILED = 1;

interface PolicyFlags {
  policy?: string;
  onUserGone?: string;
  mount?: string;
  match?: string;
}

interface JsonFlag {
  json?: boolean;
}

const STDIN_HINT =
  'Pipe the values in, one per line in the order of the flags, e.g. `printf \'%s\\n\' "$SECRET" | orgsync connection add wecom … --secret -`.';

/** Replaces each "-" value by the next line of stdin, so secrets need not appear in the process list. */
async function secretsFromStdin(
  values: Array<{ flag: string; field: string; value: string | undefined }>,
  stdin: NodeJS.ReadableStream,
  io: Output,
): Promise<Array<string | undefined>> {
  const wanted = values.filter((v) => v.value === '-');
  if (wanted.length === 0) return values.map((v) => v.value);
  if ((stdin as { isTTY?: boolean }).isTTY)
    io.err(`Enter the value${wanted.length > 1 ? 's' : ''} for ${wanted.map((v) => v.flag).join(', ')}, one per line:`);
  const lines: string[] = [];
  const rl = createInterface({ input: stdin, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of rl) {
      lines.push(line);
      if (lines.length === wanted.length) break;
    }
  } finally {
    rl.close();
  }
  let next = 0;
  return values.map((v) => {
    if (v.value !== '-') return v.value;
    const line = lines[next++];
    if (line === undefined) {
      throw new ValidationError(`${v.flag} -`, [
        { path: v.flag, field: v.field, message: `stdin ended before a line for ${v.flag} was read`, hint: STDIN_HINT },
      ]);
    }
    return line;
  });
}

async function readPolicyFile(file: string): Promise<Record<string, unknown>> {
  let textValue: string;
  try {
    textValue = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrgsyncError({
      code: 'FILE_UNREADABLE',
      message: `cannot read policy file ${file}: ${(err as Error).message}`,
      hint: 'Check the path.',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch (err) {
    throw new ValidationError(`policy file ${file}`, [
      { path: '(file)', field: '(syntax)', message: (err as Error).message, hint: 'Fix the JSON syntax.' },
    ]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(`policy file ${file}`, [
      {
        path: '(file)',
        field: '(root)',
        message: 'must be a JSON object',
        hint: 'See docs/policy.md for the policy keys.',
      },
    ]);
  }
  return value as Record<string, unknown>;
}

/** The policy file, then the flags over it; undefined when neither was given. */
async function policyPatch(opts: PolicyFlags): Promise<Record<string, unknown> | undefined> {
  const flags: Record<string, unknown> = {};
  if (opts.onUserGone !== undefined) flags.onUserGone = opts.onUserGone;
  // Left as text when it is not a number, so the policy check names the field.
  if (opts.mount !== undefined)
    flags.mountDepartmentId = /^\s*\d+\s*$/.test(opts.mount) ? Number(opts.mount) : opts.mount;
  if (opts.match !== undefined)
    flags.matching = {
      users: opts.match
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    };
  const file = opts.policy !== undefined ? await readPolicyFile(opts.policy) : undefined;
  if (file === undefined && Object.keys(flags).length === 0) return undefined;
  return mergePatch(file ?? {}, flags) as Record<string, unknown>;
}

/** A connection's fields in the order they are shown: its platform's settings, then its secrets. */
function fieldsOf(platform: string): string[] {
  const d = platformOf(platform);
  return d ? [...Object.keys(d.settings.shape), ...Object.keys(d.secrets.shape)] : [];
}

/** `corpId` → `corp-id`: every platform field's flag is its key in kebab case. */
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The part of a connection a field of some platform goes in (no field is a setting of one platform and a secret of another). */
const partOf = (key: string): 'settings' | 'secrets' =>
  PLATFORMS.some((d) => key in d.secrets.shape) ? 'secrets' : 'settings';

/** The flag that sets each path of a connection, so an error names what to type again. */
const FLAGS: Record<string, string> = {
  name: '--name',
  'schedule.reconcileCron': '--reconcile-cron',
  ...Object.fromEntries(
    PLATFORMS.flatMap((d) => Object.keys(d.fields)).map((key) => [`${partOf(key)}.${key}`, `--${kebab(key)}`]),
  ),
};

/** A connection's invalid fields named by their flags (policy keys keep their paths: they may come from a file). */
function byFlag(err: unknown): unknown {
  if (!(err instanceof ValidationError)) return err;
  const issues = err.issues.map((issue) =>
    FLAGS[issue.path] ? { ...issue, path: FLAGS[issue.path] as string } : issue,
  );
  return issues.some((issue, i) => issue !== err.issues[i]) ? new ValidationError(err.what, issues) : err;
}

/**
 * A connection as the CLI prints it (`--json`, docs/cli.md): its settings and masked secrets side by side, the
 * schedule's cron, and where the platform posts contact changes.
 */
interface CliConnection {
  name: string;
  platform: string;
  [field: string]: unknown;
  reconcileCron: string | null;
  callbackUrl: string;
  policy: Policy;
  createdAt: string;
  updatedAt: string;
  secretsError?: ErrorInfo;
}

function cliConnection(view: ConnectionView, publicUrl: string): CliConnection {
  return {
    name: view.name,
    platform: view.platform,
    ...view.settings,
    ...view.secrets,
    reconcileCron: view.schedule.reconcileCron,
    callbackUrl: `${publicUrl}${callbackPath(view.name)}`,
    policy: view.policy,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    ...(view.secretsError ? { secretsError: view.secretsError } : {}),
  };
}

function policyLines(p: Policy): string[] {
  const owned = [
    ...Object.entries(p.ownership.users).map(([f, o]) => `users.${f}=${o}`),
    ...Object.entries(p.ownership.departments).map(([f, o]) => `departments.${f}=${o}`),
  ];
  return [
    `    onUserGone        ${p.onUserGone}`,
    `    onDepartmentGone  ${p.onDepartmentGone}`,
    `    matching          users by ${p.matching.users.join(', ') || '(links only)'}; departments by ${p.matching.departments.join(', ') || '(links only)'}`,
    `    mount             ${p.mountDepartmentId === undefined ? 'the local root' : `department ${p.mountDepartmentId}`}`,
    `    guard             maxUsers ${p.guard.maxUsers}, maxRatio ${p.guard.maxRatio}`,
    ...(owned.length > 0 ? [`    ownership         ${owned.join(', ')}`] : []),
  ];
}

export function formatConnection(v: CliConnection): string {
  const lines = [`Connection "${v.name}" (${v.platform})`];
  for (const key of fieldsOf(v.platform)) {
    const value = v[key];
    lines.push(`  ${`${key}:`.padEnd(16)} ${value === undefined ? '(not set)' : String(value)}`);
  }
  const served = v.callbackToken !== undefined && v.callbackAesKey !== undefined;
  lines.push(
    `  ${'callbackUrl:'.padEnd(16)} ${v.callbackUrl}${served ? '' : ' (answers once --callback-token and --callback-aes-key are set)'}`,
  );
  lines.push(
    `  ${'reconcileCron:'.padEnd(16)} ${v.reconcileCron === null ? 'off' : `${v.reconcileCron} (a full sync, in the server's time zone, while sync is on in orgsync serve)`}`,
  );
  if (v.secretsError) lines.push(`  ${'secrets:'.padEnd(16)} cannot be shown (${v.secretsError.code})`);
  lines.push('  policy:', ...policyLines(v.policy));
  lines.push(`  ${'created:'.padEnd(16)} ${v.createdAt}`, `  ${'updated:'.padEnd(16)} ${v.updatedAt}`);
  return lines.join('\n');
}

/** A view's masked secrets by key. */
const secretsOf = (v: ConnectionView): Record<string, string | undefined> => v.secrets;

function formatTable(views: readonly ConnectionView[]): string {
  const rows = [
    ['NAME', 'PLATFORM', 'CORP ID', 'AGENT ID', 'SECRET', 'FULL SYNC', 'UPDATED'],
    ...views.map((v) => [
      v.name,
      v.platform,
      v.settings.corpId,
      String(v.settings.agentId),
      v.secretsError ? `(${v.secretsError.code})` : (secretsOf(v)[platformOf(v.platform)?.listedSecret ?? ''] ?? ''),
      v.schedule.reconcileCron ?? 'off',
      v.updatedAt.slice(0, 19).replace('T', ' '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

/** `corp-id` → `corpId`: where commander keeps a flag's value. */
const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function connectionCommand(io: Output, helpers: ConnectionCommandHelpers): Command {
  const env = helpers.env ?? process.env;
  const stdin = helpers.stdin ?? process.stdin;

  const withService = async <T>(cmd: Command, fn: (service: ConnectionService) => Promise<T>): Promise<T> => {
    const global = cmd.optsWithGlobals<{ dataDir?: string }>();
    const { dataDir } = loadConfig(env, { dataDir: global.dataDir }).store;
    const box = SecretBox.fromEnvironment({ env, dataDir });
    const allowedApiHosts = allowedApiHostsFromEnvironment(env);
    try {
      return await helpers.withStore(global.dataDir !== undefined ? { dataDir: global.dataDir } : {}, (store) =>
        fn(new ConnectionService(store, box, { allowedApiHosts })),
      );
    } catch (err) {
      throw byFlag(err);
    }
  };

  /** The callback URL is the server's: ORGSYNC_PUBLIC_URL, else where `orgsync serve` listens by default. */
  const shown = (view: ConnectionView): CliConnection => cliConnection(view, publicUrlFromEnvironment(env));

  /** A view that could not open its secrets is still shown, and the command fails with the reason. */
  const reportSecretsErrors = (views: readonly ConnectionView[]): void => {
    for (const v of views) {
      if (!v.secretsError) continue;
      io.err(`orgsync: ${formatError({ ...v.secretsError, object: `connection "${v.name}"` })}`);
      helpers.setExitCode(EXIT_FAILED);
    }
  };

  const emit = (view: ConnectionView, json: boolean, headline?: string): void => {
    const full = shown(view);
    io.out(json ? JSON.stringify(full) : [...(headline ? [headline] : []), formatConnection(full)].join('\n'));
    reportSecretsErrors([view]);
  };

  const connection = new Command('connection').description(
    `the ${PLATFORMS.map((d) => d.names.en).join(' / ')} connections: settings, secrets (encrypted at rest) and policy`,
  );

  /** `connection add <platform>`: one implementation, its flags and their help from the platform's definition. */
  const addCommand = (add: Command, platform: PlatformDefinition): void => {
    const settingKeys = Object.keys(platform.settings.shape);
    const secretKeys = Object.keys(platform.secrets.shape);
    const cmd = add
      .command(platform.id)
      .description(`add a ${platform.names.en} (${platform.names.zh}) connection; "-" as a secret reads it from stdin`)
      .option('--name <name>', 'the connection name, also the source name on links and runs (required)');
    for (const key of [...settingKeys, ...secretKeys]) {
      const f = platform.fields[key];
      cmd.option(`--${kebab(key)} ${f?.flagValue ?? '<value>'}`, f?.flag ?? key);
    }
    addPolicyOptions(cmd)
      .option(
        '--reconcile-cron <expr>',
        'when orgsync serve runs a full sync: a cron expression (default "0 2 * * *", daily at 02:00) or "off"',
      )
      .option('--json', 'print the connection as one JSON document')
      .action(
        async (
          opts: PolicyFlags & JsonFlag & { name?: string; reconcileCron?: string } & Record<string, unknown>,
          command: Command,
        ) => {
          const json = opts.json === true;
          helpers.setJson(json);
          const flagged = (key: string): string | undefined => {
            const value = opts[key];
            return typeof value === 'string' ? value : undefined;
          };
          const secrets = await secretsFromStdin(
            secretKeys.map((key) => ({ flag: `--${kebab(key)}`, field: key, value: flagged(key) })),
            stdin,
            io,
          );
          const policy = await policyPatch(opts);
          // The flags are the platform's own (from the registry); the service checks every value and names a bad one
          // by its path, which `byFlag` turns back into the flag.
          const input = {
            platform: platform.id,
            name: opts.name,
            settings: Object.fromEntries(settingKeys.map((key) => [key, flagged(key)])),
            secrets: Object.fromEntries(secretKeys.map((key, i) => [key, secrets[i]])),
            ...(policy !== undefined ? { policy } : {}),
            schedule: { reconcileCron: opts.reconcileCron },
          } as ConnectionInput;
          const view = await withService(command, (service) => service.add(input));
          emit(view, json, `Added connection "${view.name}". Test it with \`orgsync connection test ${view.name}\`.`);
        },
      );
  };

  const addPolicyOptions = (cmd: Command): Command =>
    cmd
      .option('--policy <file>', 'a JSON policy file (see docs/policy.md)')
      .addOption(
        new Option('--on-user-gone <action>', 'what happens to users the source no longer lists').choices([
          'disable',
          'delete',
          'ignore',
        ]),
      )
      .option('--mount <departmentId>', "local department the source's top departments hang under")
      .option('--match <keys>', 'fallback keys for unlinked users, in order, e.g. userid,mobile,email');

  const add = connection
    .command('add')
    .description(`add a connection: ${PLATFORMS.map((d) => `${d.id} (${d.names.en})`).join(', ')}`)
    .addHelpText(
      'after',
      `\nPlatforms:\n${PLATFORMS.map((d) => `  ${d.id.padEnd(10)} ${d.names.en} (${d.names.zh})`).join('\n')}`,
    );
  for (const platform of PLATFORMS) addCommand(add, platform);

  connection
    .command('list')
    .description('every connection, secrets masked')
    .option('--json', 'print { connections: [...] } as one JSON document')
    .action(async (opts: JsonFlag, cmd: Command) => {
      const json = opts.json === true;
      helpers.setJson(json);
      const views = await withService(cmd, (service) => service.views());
      if (json) io.out(JSON.stringify({ connections: views.map(shown) }));
      else if (views.length === 0)
        io.out(
          'No connections yet. Add one with `orgsync connection add wecom --name NAME --corp-id ID --agent-id N --secret -`.',
        );
      else io.out(formatTable(views));
      reportSecretsErrors(views);
    });

  connection
    .command('show')
    .description('one connection, secrets masked')
    .argument('<name>', 'the connection name')
    .option('--json', 'print the connection as one JSON document')
    .action(async (name: string, opts: JsonFlag, cmd: Command) => {
      const json = opts.json === true;
      helpers.setJson(json);
      emit(await withService(cmd, (service) => service.view(name)), json);
    });

  const update = connection
    .command('update')
    .description('change settings, secrets or policy keys; what is not given stays')
    .argument('<name>', 'the connection name');
  const updateFields = [...new Set(PLATFORMS.flatMap((d) => Object.keys(d.fields)))];
  /** A field as every platform that has it calls it, e.g. "EncodingAESKey / aes_key". */
  const labelOf = (key: string): string =>
    [...new Set(PLATFORMS.flatMap((d) => (d.fields[key] ? [d.fields[key].label.en] : [])))].join(' / ');
  const removals = new Map<string, string[]>();
  for (const key of updateFields) {
    const owners = PLATFORMS.filter((d) => key in d.fields);
    const secret = owners.some((d) => key in d.secrets.shape);
    const first = owners[0]?.fields[key];
    const help =
      owners.length === PLATFORMS.length
        ? `the ${labelOf(key)}`
        : owners
            .map(
              (d) =>
                `${d.names.en}: ${(d.fields[key]?.flag ?? key).replace(/ \(required\)$/, '').replace(/; - reads it from stdin$/, '')}`,
            )
            .join('; ');
    update.option(
      `--${kebab(key)} ${first?.flagValue ?? '<value>'}`,
      `${help}${secret ? '; - reads it from stdin' : ''}`,
    );
    const removedBy = first?.removedBy;
    if (removedBy !== undefined) removals.set(removedBy, [...(removals.get(removedBy) ?? []), key]);
  }
  for (const [flag, keys] of removals) update.option(`--no-${flag}`, `remove the ${keys.map(labelOf).join(' and ')}`);
  addPolicyOptions(
    update.option(
      '--reconcile-cron <expr>',
      'when orgsync serve runs a full sync: a cron expression, e.g. "0 2 * * *" (daily at 02:00), or "off"',
    ),
  )
    .option('--json', 'print the connection as one JSON document')
    .action(
      async (
        name: string,
        opts: PolicyFlags & JsonFlag & { reconcileCron?: string } & Record<string, unknown>,
        cmd: Command,
      ) => {
        const json = opts.json === true;
        helpers.setJson(json);
        const flagged = (key: string): string | undefined => {
          const value = opts[key];
          return typeof value === 'string' ? value : undefined;
        };
        const secretKeys = updateFields.filter((key) => PLATFORMS.some((d) => key in d.secrets.shape));
        const fromStdin = await secretsFromStdin(
          secretKeys.map((key) => ({ flag: `--${kebab(key)}`, field: key, value: flagged(key) })),
          stdin,
          io,
        );
        const secrets = new Map(secretKeys.map((key, i) => [key, fromStdin[i]]));
        const policy = await policyPatch(opts);
        const fields: Record<string, string | null> = {};
        for (const key of updateFields) {
          const value = secrets.has(key) ? secrets.get(key) : flagged(key);
          if (value !== undefined) fields[key] = value;
        }
        // `--no-x` removes the secrets it names, unless one of them is given anew in the same command.
        for (const [flag, keys] of removals) {
          if (opts[camel(flag)] !== false) continue;
          for (const key of keys) if (fields[key] === undefined) fields[key] = null;
        }
        const part = (name: 'settings' | 'secrets'): Record<string, string | null> =>
          Object.fromEntries(Object.entries(fields).filter(([key]) => partOf(key) === name));
        const patch: ConnectionPatch = {
          settings: part('settings'),
          secrets: part('secrets'),
          ...(opts.reconcileCron !== undefined ? { schedule: { reconcileCron: opts.reconcileCron } } : {}),
          ...(policy !== undefined ? { policy } : {}),
        };
        const changed = [
          ...Object.keys(fields),
          ...(opts.reconcileCron !== undefined ? ['reconcileCron'] : []),
          ...(policy !== undefined ? ['policy'] : []),
        ];
        if (changed.length === 0) {
          throw new ValidationError(`connection update ${name}`, [
            {
              path: '(flags)',
              field: '(none)',
              message: 'nothing to change',
              hint: `Give at least one of ${[
                ...updateFields.map((key) => {
                  const owners = PLATFORMS.filter((d) => key in d.fields);
                  return `--${kebab(key)}${owners.length < PLATFORMS.length ? ` (${owners.map((d) => d.names.en).join(', ')})` : ''}`;
                }),
                ...[...removals.keys()].map((flag) => `--no-${flag}`),
                '--reconcile-cron',
                '--policy',
                '--on-user-gone',
                '--mount',
                '--match',
              ].join(', ')}.`,
            },
          ]);
        }
        const view = await withService(cmd, (service) => service.update(name, patch));
        emit(view, json, `Updated connection "${view.name}" (${changed.join(', ')}).`);
      },
    );

  connection
    .command('remove')
    .description('remove a connection and its stored secrets; links and runs under its name are kept')
    .argument('<name>', 'the connection name')
    .option('--json', 'print { name, removed: true } as one JSON document')
    .action(async (name: string, opts: JsonFlag, cmd: Command) => {
      const json = opts.json === true;
      helpers.setJson(json);
      await withService(cmd, (service) => service.remove(name));
      io.out(
        json
          ? JSON.stringify({ name, removed: true })
          : `Removed connection "${name}". Links and runs recorded under source "${name}" are kept; adding a connection of that name picks them up again.`,
      );
    });

  connection
    .command('test')
    .description(
      'prove the credentials, permissions and trusted-IP setting; changes nothing (warnings, e.g. withheld mobiles, leave the exit code 0)',
    )
    .argument('<name>', 'the connection name')
    .option('--json', 'print { ok, checks: [{ name, ok, level?, code?, message, hint? }] } as one JSON document')
    .action(async (name: string, opts: JsonFlag, cmd: Command) => {
      const json = opts.json === true;
      helpers.setJson(json);
      const conn = await withService(cmd, (service) => service.get(name));
      const result = await testConnection(conn);
      if (json) {
        io.out(JSON.stringify(result));
      } else {
        const warnings = result.checks.filter((c) => c.level === 'warning').length;
        const summary = !result.ok
          ? 'some checks failed'
          : warnings > 0
            ? `passed, with ${warnings} warning${warnings > 1 ? 's' : ''}`
            : 'all checks passed';
        const lines = [`Connection "${name}": ${summary}`];
        for (const c of result.checks) {
          lines.push(`  ${c.level === 'warning' ? 'warn' : c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(16)} ${c.message}`);
          if (c.hint) lines.push(`       ${''.padEnd(16)} hint: ${c.hint}`);
        }
        io.out(lines.join('\n'));
      }
      if (!result.ok) helpers.setExitCode(EXIT_FAILED);
    });

  return connection;
}
