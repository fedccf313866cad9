import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { testConnection } from '../connectors/connection-test.js';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { ConnectionService, mergePatch, type ConnectionPatch, type ConnectionView } from '../connections/connections.js';
import { SecretBox } from '../connections/secret-box.js';
import { OrgsyncError, ValidationError } from '../errors.js';
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

interface CallbackFlags {
  callbackToken?: string;
  callbackAesKey?: string;
}

const STDIN_HINT = 'Pipe the values in, one per line in the order of the flags, e.g. `printf \'%s\\n\' "$SECRET" | orgsync connection add wecom … --secret -`.';

/** Replaces each "-" value by the next line of stdin, so secrets need not appear in the process list. */
async function secretsFromStdin(
  values: Array<{ flag: string; field: string; value: string | undefined }>,
  stdin: NodeJS.ReadableStream,
  io: Output,
): Promise<Array<string | undefined>> {
  const wanted = values.filter((v) => v.value === '-');
  if (wanted.length === 0) return values.map((v) => v.value);
  if ((stdin as { isTTY?: boolean }).isTTY) io.err(`Enter the value${wanted.length > 1 ? 's' : ''} for ${wanted.map((v) => v.flag).join(', ')}, one per line:`);
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
      throw new ValidationError(`${v.flag} -`, [{ path: v.flag, field: v.field, message: `stdin ended before a line for ${v.flag} was read`, hint: STDIN_HINT }]);
    }
    return line;
  });
}

async function readPolicyFile(file: string): Promise<Record<string, unknown>> {
  let textValue: string;
  try {
    textValue = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrgsyncError({ code: 'FILE_UNREADABLE', message: `cannot read policy file ${file}: ${(err as Error).message}`, hint: 'Check the path.' });
  }
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch (err) {
    throw new ValidationError(`policy file ${file}`, [{ path: '(file)', field: '(syntax)', message: (err as Error).message, hint: 'Fix the JSON syntax.' }]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(`policy file ${file}`, [{ path: '(file)', field: '(root)', message: 'must be a JSON object', hint: 'See docs/policy.md for the policy keys.' }]);
  }
  return value as Record<string, unknown>;
}

/** The policy file, then the flags over it; undefined when neither was given. */
async function policyPatch(opts: PolicyFlags): Promise<Record<string, unknown> | undefined> {
  const flags: Record<string, unknown> = {};
  if (opts.onUserGone !== undefined) flags.onUserGone = opts.onUserGone;
  // Left as text when it is not a number, so the policy check names the field.
  if (opts.mount !== undefined) flags.mountDepartmentId = /^\s*\d+\s*$/.test(opts.mount) ? Number(opts.mount) : opts.mount;
  if (opts.match !== undefined) flags.matching = { users: opts.match.split(',').map((s) => s.trim()).filter(Boolean) };
  const file = opts.policy !== undefined ? await readPolicyFile(opts.policy) : undefined;
  if (file === undefined && Object.keys(flags).length === 0) return undefined;
  return mergePatch(file ?? {}, flags) as Record<string, unknown>;
}

const FIELDS: Record<ConnectionView['platform'], string[]> = {
  wecom: ['corpId', 'agentId', 'apiBaseUrl', 'secret', 'contactsSecret', 'callbackToken', 'callbackAesKey'],
  dingtalk: ['corpId', 'agentId', 'clientId', 'apiBaseUrl', 'clientSecret', 'callbackToken', 'callbackAesKey'],
};

/** The flag that sets each connection field, so an error names what to type again. */
const FLAGS: Record<string, string> = {
  name: '--name',
  corpId: '--corp-id',
  agentId: '--agent-id',
  apiBaseUrl: '--api-base-url',
  secret: '--secret',
  contactsSecret: '--contacts-secret',
  clientId: '--client-id',
  clientSecret: '--client-secret',
  callbackToken: '--callback-token',
  callbackAesKey: '--callback-aes-key',
  reconcileCron: '--reconcile-cron',
};

/** A connection's invalid fields named by their flags (policy keys keep their paths: they may come from a file). */
function byFlag(err: unknown): unknown {
  if (!(err instanceof ValidationError)) return err;
  const issues = err.issues.map((issue) => (FLAGS[issue.path] ? { ...issue, path: FLAGS[issue.path] as string } : issue));
  return issues.some((issue, i) => issue !== err.issues[i]) ? new ValidationError(err.what, issues) : err;
}

/** A connection as the CLI prints it: the view, and where the platform posts contact changes. */
type CliConnection = ConnectionView & { callbackUrl: string };

function withCallbackUrl(view: ConnectionView, publicUrl: string): CliConnection {
  const { policy, createdAt, updatedAt, secretsError, ...rest } = view;
  return {
    ...rest,
    callbackUrl: `${publicUrl}${callbackPath(view.name)}`,
    policy,
    createdAt,
    updatedAt,
    ...(secretsError ? { secretsError } : {}),
  } as CliConnection;
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

export function formatConnection(v: ConnectionView | CliConnection): string {
  const fields = v as unknown as Record<string, unknown>;
  const lines = [`Connection "${v.name}" (${v.platform})`];
  for (const key of FIELDS[v.platform]) {
    const value = fields[key];
    lines.push(`  ${`${key}:`.padEnd(16)} ${value === undefined ? '(not set)' : String(value)}`);
  }
  if ('callbackUrl' in v) {
    const served = v.callbackToken !== undefined && v.callbackAesKey !== undefined;
    lines.push(`  ${'callbackUrl:'.padEnd(16)} ${v.callbackUrl}${served ? '' : ' (answers once --callback-token and --callback-aes-key are set)'}`);
  }
  lines.push(`  ${'reconcileCron:'.padEnd(16)} ${v.reconcileCron === null ? 'off' : `${v.reconcileCron} (a full sync, in the server's time zone, while sync is on in orgsync serve)`}`);
  if (v.secretsError) lines.push(`  ${'secrets:'.padEnd(16)} cannot be shown (${v.secretsError.code})`);
  lines.push('  policy:', ...policyLines(v.policy));
  lines.push(`  ${'created:'.padEnd(16)} ${v.createdAt}`, `  ${'updated:'.padEnd(16)} ${v.updatedAt}`);
  return lines.join('\n');
}

function formatTable(views: readonly ConnectionView[]): string {
  const rows = [
    ['NAME', 'PLATFORM', 'CORP ID', 'AGENT ID', 'SECRET', 'FULL SYNC', 'UPDATED'],
    ...views.map((v) => [
      v.name,
      v.platform,
      v.corpId,
      String(v.agentId),
      v.secretsError ? `(${v.secretsError.code})` : v.platform === 'wecom' ? v.secret : v.clientSecret,
      v.reconcileCron ?? 'off',
      v.updatedAt.slice(0, 19).replace('T', ' '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

export function connectionCommand(io: Output, helpers: ConnectionCommandHelpers): Command {
  const env = helpers.env ?? process.env;
  const stdin = helpers.stdin ?? process.stdin;

  const withService = async <T>(cmd: Command, fn: (service: ConnectionService) => Promise<T>): Promise<T> => {
    const global = cmd.optsWithGlobals<{ dataDir?: string }>();
    const { dataDir } = loadConfig(env, { dataDir: global.dataDir }).store;
    const box = SecretBox.fromEnvironment({ env, dataDir });
    const allowedApiHosts = allowedApiHostsFromEnvironment(env);
    try {
      return await helpers.withStore(global.dataDir !== undefined ? { dataDir: global.dataDir } : {}, (store) => fn(new ConnectionService(store, box, { allowedApiHosts })));
    } catch (err) {
      throw byFlag(err);
    }
  };

  /** The callback URL is the server's: ORGSYNC_PUBLIC_URL, else where `orgsync serve` listens by default. */
  const shown = (view: ConnectionView): CliConnection => withCallbackUrl(view, publicUrlFromEnvironment(env));

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

  const connection = new Command('connection').description('the WeCom / DingTalk connections: settings, secrets (encrypted at rest) and policy');

  const addPolicyOptions = (cmd: Command): Command =>
    cmd
      .option('--policy <file>', 'a JSON policy file (see docs/policy.md)')
      .addOption(new Option('--on-user-gone <action>', 'what happens to users the source no longer lists').choices(['disable', 'delete', 'ignore']))
      .option('--mount <departmentId>', "local department the source's top departments hang under")
      .option('--match <keys>', 'fallback keys for unlinked users, in order, e.g. userid,mobile,email');

  const add = connection.command('add').description('add a connection');
  addPolicyOptions(
    add
      .command('wecom')
      .description('add a WeCom connection (a self-built app); "-" as a secret reads it from stdin')
      .option('--name <name>', 'the connection name, also the source name on links and runs (required)')
      .option('--corp-id <id>', '企业ID, starts with "ww" (required)')
      .option('--agent-id <n>', "the self-built app's AgentId (required)")
      .option('--secret <secret>', "the app's Secret; - reads it from stdin (required)")
      .option('--contacts-secret <secret>', 'the 通讯录同步 Secret; - reads it from stdin')
      .option('--api-base-url <url>', 'the WeCom API, e.g. a proxy or the simulator (default https://qyapi.weixin.qq.com)'),
  )
    .option('--callback-token <token>', 'the 接收事件服务器 Token (callbacks); - reads it from stdin')
    .option('--callback-aes-key <key>', 'the 接收事件服务器 EncodingAESKey, 43 letters and digits; - reads it from stdin')
    .option('--reconcile-cron <expr>', 'when orgsync serve runs a full sync: a cron expression (default "0 2 * * *", daily at 02:00) or "off"')
    .option('--json', 'print the connection as one JSON document')
    .action(
      async (
        opts: PolicyFlags &
          JsonFlag &
          CallbackFlags & { name?: string; corpId?: string; agentId?: string; secret?: string; contactsSecret?: string; apiBaseUrl?: string; reconcileCron?: string },
        cmd: Command,
      ) => {
        const json = opts.json === true;
        helpers.setJson(json);
        const [secret, contactsSecret, callbackToken, callbackAesKey] = await secretsFromStdin(
          [
            { flag: '--secret', field: 'secret', value: opts.secret },
            { flag: '--contacts-secret', field: 'contactsSecret', value: opts.contactsSecret },
            { flag: '--callback-token', field: 'callbackToken', value: opts.callbackToken },
            { flag: '--callback-aes-key', field: 'callbackAesKey', value: opts.callbackAesKey },
          ],
          stdin,
          io,
        );
        const policy = await policyPatch(opts);
        const view = await withService(cmd, (service) =>
          service.add({
            platform: 'wecom',
            name: opts.name as string,
            corpId: opts.corpId as string,
            agentId: opts.agentId as string,
            secret: secret as string,
            contactsSecret,
            callbackToken,
            callbackAesKey,
            apiBaseUrl: opts.apiBaseUrl,
            reconcileCron: opts.reconcileCron,
            ...(policy !== undefined ? { policy } : {}),
          }),
        );
        emit(view, json, `Added connection "${view.name}". Test it with \`orgsync connection test ${view.name}\`.`);
      },
    );

  addPolicyOptions(
    add
      .command('dingtalk')
      .description('add a DingTalk connection (an internal app); "-" as the Client Secret reads it from stdin')
      .option('--name <name>', 'the connection name, also the source name on links and runs (required)')
      .option('--corp-id <id>', 'the CorpId, starts with "ding" (required)')
      .option('--agent-id <n>', "the app's AgentId (required)")
      .option('--client-id <key>', "the app's Client ID (AppKey) (required)")
      .option('--client-secret <secret>', "the app's Client Secret (AppSecret); - reads it from stdin (required)")
      .option('--api-base-url <url>', 'the DingTalk API, e.g. a proxy or the simulator (default https://oapi.dingtalk.com)'),
  )
    .option('--callback-token <token>', 'the 事件订阅 签名 token (callbacks); - reads it from stdin')
    .option('--callback-aes-key <key>', 'the 事件订阅 加密 aes_key, 43 letters and digits; - reads it from stdin')
    .option('--reconcile-cron <expr>', 'when orgsync serve runs a full sync: a cron expression (default "0 2 * * *", daily at 02:00) or "off"')
    .option('--json', 'print the connection as one JSON document')
    .action(
      async (
        opts: PolicyFlags &
          JsonFlag &
          CallbackFlags & { name?: string; corpId?: string; agentId?: string; clientId?: string; clientSecret?: string; apiBaseUrl?: string; reconcileCron?: string },
        cmd: Command,
      ) => {
        const json = opts.json === true;
        helpers.setJson(json);
        const [clientSecret, callbackToken, callbackAesKey] = await secretsFromStdin(
          [
            { flag: '--client-secret', field: 'clientSecret', value: opts.clientSecret },
            { flag: '--callback-token', field: 'callbackToken', value: opts.callbackToken },
            { flag: '--callback-aes-key', field: 'callbackAesKey', value: opts.callbackAesKey },
          ],
          stdin,
          io,
        );
        const policy = await policyPatch(opts);
        const view = await withService(cmd, (service) =>
          service.add({
            platform: 'dingtalk',
            name: opts.name as string,
            corpId: opts.corpId as string,
            agentId: opts.agentId as string,
            clientId: opts.clientId as string,
            clientSecret: clientSecret as string,
            callbackToken,
            callbackAesKey,
            apiBaseUrl: opts.apiBaseUrl,
            reconcileCron: opts.reconcileCron,
            ...(policy !== undefined ? { policy } : {}),
          }),
        );
        emit(view, json, `Added connection "${view.name}". Test it with \`orgsync connection test ${view.name}\`.`);
      },
    );

  connection
    .command('list')
    .description('every connection, secrets masked')
    .option('--json', 'print { connections: [...] } as one JSON document')
    .action(async (opts: JsonFlag, cmd: Command) => {
      const json = opts.json === true;
      helpers.setJson(json);
      const views = await withService(cmd, (service) => service.views());
      if (json) io.out(JSON.stringify({ connections: views.map(shown) }));
      else if (views.length === 0) io.out('No connections yet. Add one with `orgsync connection add wecom --name NAME --corp-id ID --agent-id N --secret -`.');
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

  addPolicyOptions(
    connection
      .command('update')
      .description('change settings, secrets or policy keys; what is not given stays')
      .argument('<name>', 'the connection name')
      .option('--corp-id <id>', 'the corp id')
      .option('--agent-id <n>', "the app's AgentId")
      .option('--api-base-url <url>', 'the platform API base URL')
      .option('--secret <secret>', "the WeCom app's Secret; - reads it from stdin")
      .option('--contacts-secret <secret>', 'the WeCom 通讯录同步 Secret; - reads it from stdin')
      .option('--no-contacts-secret', 'remove the WeCom 通讯录同步 Secret')
      .option('--client-id <key>', "the DingTalk app's Client ID (AppKey)")
      .option('--client-secret <secret>', "the DingTalk app's Client Secret; - reads it from stdin")
      .option('--callback-token <token>', 'the callback Token (WeCom 回调 / DingTalk 事件订阅); - reads it from stdin')
      .option('--callback-aes-key <key>', 'the callback EncodingAESKey / aes_key (43 characters); - reads it from stdin')
      .option('--no-callback', 'remove the callback Token and EncodingAESKey')
      .option('--reconcile-cron <expr>', 'when orgsync serve runs a full sync: a cron expression, e.g. "0 2 * * *" (daily at 02:00), or "off"'),
  )
    .option('--json', 'print the connection as one JSON document')
    .action(
      async (
        name: string,
        opts: PolicyFlags &
          JsonFlag & {
            corpId?: string;
            agentId?: string;
            apiBaseUrl?: string;
            secret?: string;
            contactsSecret?: string | false;
            clientId?: string;
            clientSecret?: string;
            callbackToken?: string;
            callbackAesKey?: string;
            callback?: boolean;
            reconcileCron?: string;
          },
        cmd: Command,
      ) => {
        const json = opts.json === true;
        helpers.setJson(json);
        const [secret, contactsSecret, clientSecret, callbackToken, callbackAesKey] = await secretsFromStdin(
          [
            { flag: '--secret', field: 'secret', value: opts.secret },
            { flag: '--contacts-secret', field: 'contactsSecret', value: opts.contactsSecret === false ? undefined : opts.contactsSecret },
            { flag: '--client-secret', field: 'clientSecret', value: opts.clientSecret },
            { flag: '--callback-token', field: 'callbackToken', value: opts.callbackToken },
            { flag: '--callback-aes-key', field: 'callbackAesKey', value: opts.callbackAesKey },
          ],
          stdin,
          io,
        );
        const policy = await policyPatch(opts);
        const patch: ConnectionPatch = {
          ...(opts.corpId !== undefined ? { corpId: opts.corpId } : {}),
          ...(opts.agentId !== undefined ? { agentId: opts.agentId } : {}),
          ...(opts.apiBaseUrl !== undefined ? { apiBaseUrl: opts.apiBaseUrl } : {}),
          ...(secret !== undefined ? { secret } : {}),
          ...(opts.clientId !== undefined ? { clientId: opts.clientId } : {}),
          ...(clientSecret !== undefined ? { clientSecret } : {}),
          ...(opts.contactsSecret === false ? { contactsSecret: null } : contactsSecret !== undefined ? { contactsSecret } : {}),
          ...(opts.callback === false ? { callbackToken: null, callbackAesKey: null } : {}),
          ...(callbackToken !== undefined ? { callbackToken } : {}),
          ...(callbackAesKey !== undefined ? { callbackAesKey } : {}),
          ...(opts.reconcileCron !== undefined ? { reconcileCron: opts.reconcileCron } : {}),
          ...(policy !== undefined ? { policy } : {}),
        };
        const changed = Object.keys(patch);
        if (changed.length === 0) {
          throw new ValidationError(`connection update ${name}`, [
            {
              path: '(flags)',
              field: '(none)',
              message: 'nothing to change',
              hint: 'Give at least one of --corp-id, --agent-id, --api-base-url, --secret, --contacts-secret, --no-contacts-secret (WeCom), --client-id, --client-secret (DingTalk), --callback-token, --callback-aes-key, --no-callback, --reconcile-cron, --policy, --on-user-gone, --mount, --match.',
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
    .description('prove the credentials, permissions and trusted-IP setting; changes nothing (warnings, e.g. withheld mobiles, leave the exit code 0)')
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
        const summary = !result.ok ? 'some checks failed' : warnings > 0 ? `passed, with ${warnings} warning${warnings > 1 ? 's' : ''}` : 'all checks passed';
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
