import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { FAULT_KINDS, simConfigSchema, type SimConfigInput } from '../simulator/wecom/config.js';
import { WecomSimulator } from '../simulator/wecom/server.js';
import type { Output } from './output.js';

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected a whole number');
  return n;
}

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

function intList(value: string): number[] {
  return value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${v}" is not a whole number`);
    return n;
  });
}

const list = (value: string): string[] => value.split(',').map((v) => v.trim()).filter(Boolean);

/** Every switch of SimConfig as a start flag; the key is the camelCase form of the flag. */
const SWITCHES: Array<{ key: keyof SimConfigInput; description: string; parse?: (v: string) => unknown; boolean?: boolean; choices?: readonly string[] }> = [
  { key: 'latencyMs', description: 'added to every API call', parse: int },
  { key: 'faultRate', description: 'share of API calls that fail (0-1)', parse: number },
  { key: 'faultKinds', description: `which faults to inject, comma-separated (${FAULT_KINDS.join(', ')})`, parse: list },
  { key: 'rateLimitPerMinute', description: 'calls per API per minute before 45009', parse: int },
  { key: 'concurrencyLimit', description: 'calls of one API at once before 45033', parse: int },
  { key: 'tokenTtlSeconds', description: 'access_token lifetime', parse: int },
  { key: 'sensitiveFields', description: 'the app is new (withheld) or legacy (returned)', choices: ['withheld', 'returned'] },
  { key: 'visibleRange', description: 'departments the app sees, comma-separated ids', parse: intList },
  { key: 'untrustedIp', description: 'every call answers 60020', boolean: true },
  { key: 'contactsSecretNewIp', description: 'the contacts secret is used from a new IP (48009)', boolean: true },
  { key: 'failingDepartments', description: 'department ids whose member reads always fail with -1', parse: intList },
  { key: 'trustedDomains', description: 'domains the app trusts for sign-in redirects, comma-separated', parse: list },
  { key: 'callbackUrl', description: 'where contact-change events are posted' },
  { key: 'callbackToken', description: 'callback Token' },
  { key: 'callbackAesKey', description: 'callback EncodingAESKey (43 characters)' },
  { key: 'callbackIdsOnly', description: 'events carry only ids (servers configured after 2022-08-15)', boolean: true },
];

export function simulateCommand(io: Output, setExitCode: (code: number) => void): Command {
  const simulate = new Command('simulate').description('run a local simulator of a platform (for demos, tests and development)');
  const wecom = simulate
    .command('wecom')
    .description('serve one simulated WeCom corp on 127.0.0.1; prints one JSON line when ready, runs until stopped')
    .option('--port <n>', 'port (0 picks a free one)', int, 0)
    .option('--seed <n>', 'the same seed gives the same org', int, 1)
    .option('--departments <n>', 'departments in the generated org (with the root)', int, 30)
    .option('--users <n>', 'users in the generated org', int, 200);
  for (const s of SWITCHES) {
    const flag = `--${kebab(s.key)}`;
    const option = s.boolean ? new Option(flag, s.description) : new Option(`${flag} <value>`, s.description);
    if (s.parse) option.argParser(s.parse);
    if (s.choices) option.choices(s.choices);
    wecom.addOption(option);
  }
  wecom.action(async (opts: Record<string, unknown> & { port: number; seed: number; departments: number; users: number }) => {
    const input: Record<string, unknown> = {};
    for (const s of SWITCHES) if (opts[s.key] !== undefined) input[s.key] = opts[s.key];
    let config: SimConfigInput;
    try {
      config = simConfigSchema.parse(input);
    } catch (err) {
      if (err instanceof z.ZodError) {
        throw new ValidationError(
          'simulator flags',
          err.issues.map((i) => {
            const key = String(i.path[0] ?? '');
            return { path: `--${kebab(key)}`, field: key, message: i.message, hint: 'See `orgsync simulate wecom --help`.' };
          }),
        );
      }
      throw err;
    }
    if (opts.departments < 1 || opts.departments > 30_000 || opts.users < 0) {
      throw new ValidationError('simulator flags', [
        { path: '--departments/--users', field: 'size', message: `${opts.departments} departments and ${opts.users} users`, hint: 'Use 1-30000 departments and 0 or more users.' },
      ]);
    }
    const sim = new WecomSimulator({ seed: opts.seed, departments: opts.departments, users: opts.users, config });
    const url = await sim.listen(opts.port);
    io.out(JSON.stringify({ url, ...sim.identity, seed: opts.seed, departments: sim.corp.departmentCount, users: sim.corp.userCount }));
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await sim.close();
    setExitCode(0);
  });
  return simulate;
}
