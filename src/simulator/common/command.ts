/**
 * What `orgsync simulate <platform>` needs of a simulator: its sizes, its config's switches as flags, and how to
 * start it. Each simulator folder declares its own (command.ts); simulator/registry.ts lists them.
 */

/** A switch of a simulator's config as a start flag; the flag is the kebab-case form of the config key. */
export interface SimulatorSwitch {
  key: string;
  description: string;
  /** How the flag's value reads: a whole number, a number, a comma-separated list of text or of whole numbers; absent: text. */
  value?: 'int' | 'number' | 'list' | 'intList';
  /** A flag without a value that sets the switch to true. */
  boolean?: boolean;
  /** A flag without a value that sets a switch whose default is true to false (--no-…). */
  negate?: boolean;
  choices?: readonly string[];
}

export interface SimulatorCommand {
  /** The platform id of the registry, also the subcommand's name. */
  name: string;
  description: string;
  defaults: { departments: number; users: number };
  switches: SimulatorSwitch[];
  schema: { parse(value: unknown): unknown };
  /** Starts the simulator on `port`; resolves with its ready line (without the sizes) and how to stop it. */
  start(options: {
    port: number;
    seed: number;
    departments: number;
    users: number;
    config: Record<string, unknown>;
  }): Promise<{
    ready: Record<string, unknown>;
    departments: number;
    users: number;
    close(): Promise<void>;
  }>;
}

/** The switches both simulators have (common/config.ts), described once. */
export function commonSwitches(faultKinds: readonly string[], sensitive: string): SimulatorSwitch[] {
  return [
    { key: 'latencyMs', description: 'added to every API call', value: 'int' },
    { key: 'faultRate', description: 'share of API calls that fail (0-1)', value: 'number' },
    {
      key: 'faultKinds',
      description: `which faults to inject, comma-separated (${faultKinds.join(', ')})`,
      value: 'list',
    },
    { key: 'tokenTtlSeconds', description: 'access_token lifetime', value: 'int' },
    { key: 'sensitiveFields', description: sensitive, choices: ['withheld', 'returned'] },
    { key: 'visibleRange', description: 'departments the app sees, comma-separated ids', value: 'intList' },
    { key: 'untrustedIp', description: 'every call answers 60020', boolean: true },
    {
      key: 'failingDepartments',
      description: 'department ids whose member reads always fail with -1',
      value: 'intList',
    },
    {
      key: 'trustedDomains',
      description: 'domains the app trusts for sign-in redirects, comma-separated',
      value: 'list',
    },
    { key: 'callbackUrl', description: 'where contact-change events are posted' },
    { key: 'callbackToken', description: 'callback Token' },
    { key: 'callbackAesKey', description: 'callback EncodingAESKey / aes_key (43 characters)' },
    {
      key: 'callbackRetryDelayMs',
      description: 'a failed callback delivery is retried 3 times, the n-th after n × this',
      value: 'int',
    },
    {
      key: 'callbackConcurrency',
      description: 'callback deliveries in flight at once (1: strictly in order)',
      value: 'int',
    },
  ];
}
