import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { ValidationError, zodIssues } from '../errors.js';
import { FAULT_KINDS as DINGTALK_FAULT_KINDS, dingConfigSchema } from '../simulator/dingtalk/config.js';
import { DINGTALK_DEFAULT_SIZES, DingtalkSimulator } from '../simulator/dingtalk/server.js';
import { FAULT_KINDS as WECOM_FAULT_KINDS, simConfigSchema } from '../simulator/wecom/config.js';
import { WecomSimulator } from '../simulator/wecom/server.js';
import type { Output } from './output.js';

/** The flag of a switch: latencyMs → latency-ms, ipLimitPer20s → ip-limit-per-20s. */
const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/([a-z])(\d)/g, '$1-$2');

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

/** A switch of a simulator's config as a start flag; the config key is the camelCase form of the flag. */
interface Switch {
  key: string;
  description: string;
  parse?: (v: string) => unknown;
  /** A flag without a value that sets the switch to true. */
  boolean?: boolean;
  /** A flag without a value that sets a switch whose default is true to false (--no-…). */
  negate?: boolean;
  choices?: readonly string[];
}

/** The switches both simulators have (common/config.ts), described once. */
function commonSwitches(faultKinds: readonly string[], sensitive: string): Switch[] {
  return [
    { key: 'latencyMs', description: 'added to every API call', parse: int },
    { key: 'faultRate', description: 'share of API calls that fail (0-1)', parse: number },
    { key: 'faultKinds', description: `which faults to inject, comma-separated (${faultKinds.join(', ')})`, parse: list },
    { key: 'tokenTtlSeconds', description: 'access_token lifetime', parse: int },
    { key: 'sensitiveFields', description: sensitive, choices: ['withheld', 'returned'] },
    { key: 'visibleRange', description: 'departments the app sees, comma-separated ids', parse: intList },
    { key: 'untrustedIp', description: 'every call answers 60020', boolean: true },
    { key: 'failingDepartments', description: 'department ids whose member reads always fail with -1', parse: intList },
    { key: 'trustedDomains', description: 'domains the app trusts for sign-in redirects, comma-separated', parse: list },
    { key: 'callbackUrl', description: 'where contact-change events are posted' },
    { key: 'callbackToken', description: 'callback Token' },
    { key: 'callbackAesKey', description: 'callback EncodingAESKey / aes_key (43 characters)' },
    { key: 'callbackRetryDelayMs', description: 'a failed callback delivery is retried 3 times, the n-th after n × this', parse: int },
    { key: 'callbackConcurrency', description: 'callback deliveries in flight at once (1: strictly in order)', parse: int },
  ];
}

interface Platform {
  name: string;
  description: string;
  defaults: { departments: number; users: number };
  switches: Switch[];
  schema: { parse(value: unknown): unknown };
  /** Starts the simulator on `port`; resolves with its ready line (without the sizes) and how to stop it. */
  start(options: { port: number; seed: number; departments: number; users: number; config: Record<string, unknown> }): Promise<{
    ready: Record<string, unknown>;
    departments: number;
    users: number;
    close(): Promise<void>;
  }>;
}

const PLATFORMS: Platform[] = [
  {
    name: 'wecom',
    description: 'serve one simulated WeCom corp on 127.0.0.1; prints one JSON line when ready, runs until stopped',
    defaults: { departments: 30, users: 200 },
    switches: [
      ...commonSwitches(WECOM_FAULT_KINDS, 'the app is new (withheld) or legacy (returned)'),
      { key: 'rateLimitPerMinute', description: 'calls per API per minute before 45009', parse: int },
      { key: 'concurrencyLimit', description: 'calls of one API at once before 45033', parse: int },
      { key: 'contactsSecretNewIp', description: 'the contacts secret is used from a new IP (48009)', boolean: true },
      { key: 'callbackIdsOnly', description: 'events carry only ids (servers configured after 2022-08-15)', boolean: true },
    ],
    schema: simConfigSchema,
    async start({ port, seed, departments, users, config }) {
      const sim = new WecomSimulator({ seed, departments, users, config });
      const url = await sim.listen(port);
      return { ready: { url, ...sim.identity }, departments: sim.corp.departmentCount, users: sim.corp.userCount, close: () => sim.close() };
    },
  },
  {
    name: 'dingtalk',
    description: 'serve one simulated DingTalk org on 127.0.0.1; prints one JSON line when ready, runs until stopped',
    defaults: DINGTALK_DEFAULT_SIZES,
    switches: [
      ...commonSwitches(DINGTALK_FAULT_KINDS, 'the app lacks (withheld) or has (returned) the 个人手机号信息 / 邮箱 permission'),
      { key: 'tokenReuse', description: 'gettoken issues a new token each time instead of returning and extending the live one', negate: true },
      { key: 'qpsLimit', description: 'calls per second of one API by the app before 90018', parse: int },
      { key: 'globalQpsLimit', description: 'calls per second of one API by everyone before 90002', parse: int },
      { key: 'ipLimitPer20s', description: 'calls from one IP within 20 seconds before it is blocked (a page without errcode)', parse: int },
      { key: 'ipBlockSeconds', description: 'how long a blocked IP stays blocked', parse: int },
      { key: 'deniedApis', description: 'APIs the app has no permission for (errcode 88, sub_code 60011), comma-separated paths such as topapi/v2/user/list', parse: list },
    ],
    schema: dingConfigSchema,
    async start({ port, seed, departments, users, config }) {
      const sim = new DingtalkSimulator({ seed, departments, users, config });
      const url = await sim.listen(port);
      return { ready: { url, ...sim.identity }, departments: sim.corp.departmentCount, users: sim.corp.userCount, close: () => sim.close() };
    },
  },
];

/** `orgsync simulate <platform>`: the sizes and seed, then every switch of the platform's config as a flag. */
function platformCommand(platform: Platform, io: Output, setExitCode: (code: number) => void): Command {
  const command = new Command(platform.name)
    .description(platform.description)
    .option('--port <n>', 'port (0 picks a free one)', int, 0)
    .option('--seed <n>', 'the same seed gives the same org', int, 1)
    .option('--departments <n>', 'departments in the generated org (with the root)', int, platform.defaults.departments)
    .option('--users <n>', 'users in the generated org', int, platform.defaults.users);
  for (const s of platform.switches) {
    const flag = s.negate ? `--no-${kebab(s.key)}` : `--${kebab(s.key)}`;
    const option = s.boolean || s.negate ? new Option(flag, s.description) : new Option(`${flag} <value>`, s.description);
    if (s.parse) option.argParser(s.parse);
    if (s.choices) option.choices(s.choices);
    command.addOption(option);
  }
  command.action(async (opts: Record<string, unknown> & { port: number; seed: number; departments: number; users: number }) => {
    const config: Record<string, unknown> = {};
    for (const s of platform.switches) if (opts[s.key] !== undefined) config[s.key] = opts[s.key];
    try {
      platform.schema.parse(config);
    } catch (err) {
      if (err instanceof z.ZodError) {
        throw new ValidationError(
          'simulator flags',
          zodIssues(err.issues, { keyWord: 'switch', hint: () => `See \`orgsync simulate ${platform.name} --help\`.` }).map((i) => {
            const key = i.path.split('.')[0] ?? '';
            return { ...i, path: `--${kebab(key)}`, field: key };
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
    const sim = await platform.start({ port: opts.port, seed: opts.seed, departments: opts.departments, users: opts.users, config });
    io.out(JSON.stringify({ ...sim.ready, seed: opts.seed, departments: sim.departments, users: sim.users }));
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await sim.close();
    setExitCode(0);
  });
  return command;
}

export function simulateCommand(io: Output, setExitCode: (code: number) => void): Command {
  const simulate = new Command('simulate').description('run a local simulator of a platform (for demos, tests and development)');
  for (const platform of PLATFORMS) simulate.addCommand(platformCommand(platform, io, setExitCode));
  return simulate;
}
