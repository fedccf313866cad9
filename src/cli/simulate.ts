import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { ValidationError, zodIssues } from '../errors.js';
import type { SimulatorCommand, SimulatorSwitch } from '../simulator/common/command.js';
import { SIMULATORS } from '../simulator/registry.js';
import type { Output } from './output.js';

/** The flag of a switch: latencyMs → latency-ms, ipLimitPer20s → ip-limit-per-20s. */
const kebab = (key: string): string =>
  key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/([a-z])(\d)/g, '$1-$2');

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

const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** How each kind of switch value reads from its flag. */
const PARSERS: Record<NonNullable<SimulatorSwitch['value']>, (v: string) => unknown> = { int, number, list, intList };

/** `orgsync simulate <platform>`: the sizes and seed, then every switch of the platform's config as a flag. */
function platformCommand(platform: SimulatorCommand, io: Output, setExitCode: (code: number) => void): Command {
  const command = new Command(platform.name)
    .description(platform.description)
    .option('--port <n>', 'port (0 picks a free one)', int, 0)
    .option('--seed <n>', 'the same seed gives the same org', int, 1)
    .option('--departments <n>', 'departments in the generated org (with the root)', int, platform.defaults.departments)
    .option('--users <n>', 'users in the generated org', int, platform.defaults.users);
  for (const s of platform.switches) {
    const flag = s.negate ? `--no-${kebab(s.key)}` : `--${kebab(s.key)}`;
    const option =
      s.boolean || s.negate ? new Option(flag, s.description) : new Option(`${flag} <value>`, s.description);
    if (s.value) option.argParser(PARSERS[s.value]);
    if (s.choices) option.choices(s.choices);
    command.addOption(option);
  }
  command.action(
    async (opts: Record<string, unknown> & { port: number; seed: number; departments: number; users: number }) => {
      const config: Record<string, unknown> = {};
      for (const s of platform.switches) if (opts[s.key] !== undefined) config[s.key] = opts[s.key];
      try {
        platform.schema.parse(config);
      } catch (err) {
        if (err instanceof z.ZodError) {
          throw new ValidationError(
            'simulator flags',
            zodIssues(err.issues, {
              keyWord: 'switch',
              hint: () => `See \`orgsync simulate ${platform.name} --help\`.`,
            }).map((i) => {
              const key = i.path.split('.')[0] ?? '';
              return { ...i, path: `--${kebab(key)}`, field: key };
            }),
          );
        }
        throw err;
      }
      if (opts.departments < 1 || opts.departments > 30_000 || opts.users < 0) {
        throw new ValidationError('simulator flags', [
          {
            path: '--departments/--users',
            field: 'size',
            message: `${opts.departments} departments and ${opts.users} users`,
            hint: 'Use 1-30000 departments and 0 or more users.',
          },
        ]);
      }
      const sim = await platform.start({
        port: opts.port,
        seed: opts.seed,
        departments: opts.departments,
        users: opts.users,
        config,
      });
      io.out(JSON.stringify({ ...sim.ready, seed: opts.seed, departments: sim.departments, users: sim.users }));
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await sim.close();
      setExitCode(0);
    },
  );
  return command;
}

export function simulateCommand(io: Output, setExitCode: (code: number) => void): Command {
  const simulate = new Command('simulate').description(
    'run a local simulator of a platform (for demos, tests and development)',
  );
  for (const platform of SIMULATORS) simulate.addCommand(platformCommand(platform, io, setExitCode));
  return simulate;
}
