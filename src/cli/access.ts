import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { AccessService, FIRST_ADMIN, checkPassword, checkUsername } from '../server/auth/access.js';
import type { Store } from '../store/store.js';
import type { Output } from './output.js';

/** What `orgsync serve`, `admin` and `token` need from the program they are part of. */
export interface ServerCommandHelpers {
  withStore<T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>): Promise<T>;
  setJson(json: boolean): void;
  /** Where a password is read; default process.stdin. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

const STDIN_HINT = 'Pipe it in, e.g. `printf \'%s\\n\' "$PASSWORD" | orgsync admin set-password --password-stdin`.';

/** The first line of stdin, without its line break. */
async function readLine(stdin: NodeJS.ReadableStream): Promise<string | undefined> {
  const rl = createInterface({ input: stdin, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of rl) return line;
    return undefined;
  } finally {
    rl.close();
  }
}

/** A line typed on the terminal without echoing it. */
async function readHidden(stdin: NodeJS.ReadableStream, io: Output, question: string): Promise<string> {
  io.err(question);
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: stdin, output: silent, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
  }
}

async function readPassword(
  helpers: ServerCommandHelpers,
  io: Output,
  username: string,
  fromStdin: boolean,
): Promise<string> {
  const stdin = helpers.stdin ?? process.stdin;
  if (!fromStdin && stdin.isTTY) {
    const first = await readHidden(stdin, io, `New password for ${username}:`);
    checkPassword(first);
    const again = await readHidden(stdin, io, 'Again:');
    if (again !== first) {
      throw new ValidationError('password', [
        {
          path: 'password',
          field: 'password',
          message: 'the two entries differ',
          hint: 'Run the command again and type the same password twice.',
        },
      ]);
    }
    return first;
  }
  const line = await readLine(stdin);
  if (line === undefined) {
    throw new ValidationError('password', [
      { path: 'stdin', field: 'password', message: 'stdin ended before a password was read', hint: STDIN_HINT },
    ]);
  }
  return line;
}

export function adminCommand(io: Output, helpers: ServerCommandHelpers): Command {
  const admin = new Command('admin').description('the admins who sign in to the console and API');
  admin
    .command('set-password')
    .description(
      "set an admin's password (creating the admin if there is none of that name); ends its sessions and clears its sign-in limits",
    )
    .option('--username <name>', 'the admin', FIRST_ADMIN)
    .option('--password-stdin', 'read the password from the first line of stdin without a prompt')
    .option('--json', 'print { username, created, sessionsEnded }')
    .action(async (opts: { username: string; passwordStdin?: boolean; json?: boolean }, cmd: Command) => {
      helpers.setJson(opts.json === true);
      checkUsername(opts.username);
      const password = await readPassword(helpers, io, opts.username, opts.passwordStdin === true);
      const result = await helpers.withStore(cmd.optsWithGlobals<{ dataDir?: string }>(), (store) =>
        new AccessService(store).setPassword(opts.username, password),
      );
      if (opts.json) {
        io.out(
          JSON.stringify({ username: opts.username, created: result.created, sessionsEnded: result.sessionsEnded }),
        );
        return;
      }
      const cleared = result.limitsCleared > 0 ? '; cleared its sign-in limits' : '';
      io.out(
        result.created
          ? `Created admin "${opts.username}"${cleared}.`
          : `Set the password of "${opts.username}"${result.sessionsEnded > 0 ? `; ended ${result.sessionsEnded} session${result.sessionsEnded > 1 ? 's' : ''}` : ''}${cleared}.`,
      );
    });
  return admin;
}

export function tokenCommand(io: Output, helpers: ServerCommandHelpers): Command {
  const token = new Command('token').description('API tokens for automation, sent as "Authorization: Bearer <token>"');
  token
    .command('create')
    .description('create a token and print it, once (only its hash is stored)')
    .requiredOption('--name <name>', 'what the token is for, e.g. ci or hr-portal')
    .option('--json', 'print { name, token, prefix, createdAt }')
    .action(async (opts: { name: string; json?: boolean }, cmd: Command) => {
      helpers.setJson(opts.json === true);
      const { token: value, record } = await helpers.withStore(cmd.optsWithGlobals<{ dataDir?: string }>(), (store) =>
        new AccessService(store).createToken(opts.name),
      );
      if (opts.json) {
        io.out(JSON.stringify({ name: record.name, token: value, prefix: record.prefix, createdAt: record.createdAt }));
        return;
      }
      io.out(
        [
          `Created API token "${record.name}". It is shown only this once; store it now:`,
          '',
          `  ${value}`,
          '',
          `Send it as "Authorization: Bearer <token>". Revoke it with \`orgsync token revoke ${record.name}\`.`,
        ].join('\n'),
      );
    });
  token
    .command('list')
    .description('the tokens: names, first characters, when created and last used (never the tokens)')
    .option('--json', 'print { tokens: [...] }')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      helpers.setJson(opts.json === true);
      const tokens = await helpers.withStore(cmd.optsWithGlobals<{ dataDir?: string }>(), (store) =>
        new AccessService(store).listTokens(),
      );
      if (opts.json) {
        io.out(JSON.stringify({ tokens }));
        return;
      }
      if (tokens.length === 0) {
        io.out('No API tokens. Create one with `orgsync token create --name NAME`.');
        return;
      }
      const width = Math.max(4, ...tokens.map((t) => t.name.length));
      io.out(`${'NAME'.padEnd(width)}  TOKEN       CREATED              LAST USED`);
      for (const t of tokens) {
        io.out(
          `${t.name.padEnd(width)}  ${`${t.prefix}…`.padEnd(10)}  ${t.createdAt.slice(0, 19).replace('T', ' ')}  ${t.lastUsedAt ? t.lastUsedAt.slice(0, 19).replace('T', ' ') : 'never'}`,
        );
      }
    });
  token
    .command('revoke')
    .description('revoke a token: requests that send it are refused from now on')
    .argument('<name>', 'the token name')
    .option('--json', 'print { name, revoked }')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      helpers.setJson(opts.json === true);
      await helpers.withStore(cmd.optsWithGlobals<{ dataDir?: string }>(), (store) =>
        new AccessService(store).revokeToken(name),
      );
      io.out(opts.json ? JSON.stringify({ name, revoked: true }) : `Revoked API token "${name}".`);
    });
  return token;
}
