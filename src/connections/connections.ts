import type { z } from 'zod';
import type {
  ConnectionInputOf,
  ConnectionPatchOf,
  ConnectionViewOf,
  PlatformConnection,
  PlatformDefinition,
} from '../connectors/contract.js';
import {
  PLATFORMS as DEFINITIONS,
  PLATFORM_IDS,
  platformOf,
  type AnyPlatformConnection,
  type PlatformId,
  type RegisteredPlatform,
} from '../connectors/registry.js';
import { text } from '../connectors/common/settings.js';
import { OrgsyncError, ValidationError, zodIssues, type ErrorInfo, type ValidationIssue } from '../errors.js';
import { policySchema, type Policy } from '../reconcile/policy.js';
import type { ConnectionRow, ConnectionRowPatch, Store } from '../store/store.js';
import { checkMasterKey, prepareToSeal, type MasterKeyCheck } from './master-key.js';
import { DEFAULT_RECONCILE_CRON, RECONCILE_CRON_HINT, parseReconcileCron } from './reconcile-cron.js';
import type { SecretBox } from './secret-box.js';

/**
 * Connections: a named source on one of the registry's platforms (connectors/registry.ts) with its settings, its
 * secrets (sealed by a SecretBox before they reach the store) and its policy. What a platform's settings and secrets
 * are, their hints and which settings bind which secrets all come from its definition. `get`/`list` give the secrets
 * in the clear for internal use; `view`/`views` give what may be shown, every secret masked.
 *
 * Every input, view and connection has one shape, `{ name, platform, settings, secrets, policy, schedule }` (with
 * `syncEnabled`, the 开启同步 switch), the API's too: a validation issue names its path in it (`settings.corpId`,
 * `secrets.secret`, `schedule.reconcileCron`, `policy.guard.maxRatio`) with the field's hint, so the API passes it on
 * as it is and the CLI turns it into the flag.
 */

export const PLATFORMS = PLATFORM_IDS;

export const CONNECTION_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const DEFAULT_API_BASE_URLS = Object.fromEntries(
  DEFINITIONS.map((d) => [d.id, d.defaultApiBaseUrl]),
) as Readonly<Record<PlatformId, string>>;

/** Stands for a secret in every output. */
export const MASK = '••••••';

/** Secrets shorter than this show no character at all: a few characters of a short secret are much of it. */
export const MASK_SHOWS_FROM = 16;

/** The mask, then the last 4 characters of a secret of at least 16 characters (enough to tell two apart), else nothing. */
export function maskSecret(secret: string): string {
  const chars = Array.from(secret);
  return chars.length < MASK_SHOWS_FROM ? MASK : MASK + chars.slice(chars.length - 4).join('');
}

/** The operator's list of hosts (ORGSYNC_ALLOWED_API_HOSTS) that may be reached over plain http besides this machine. */
export interface ConnectionServiceOptions {
  /** Lower-case host names or addresses, each alone (any port) or as host:port ([v6]:port). */
  allowedApiHosts?: readonly string[];
}

/** 127.0.0.0/8, ::1 and localhost: this machine, where plain http does not cross a network. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** host:port as an entry of ORGSYNC_ALLOWED_API_HOSTS names it, with the scheme's port filled in. */
export function hostPortOf(url: URL): string {
  return `${url.hostname.toLowerCase()}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/**
 * Why an apiBaseUrl (already of a valid shape) may not be reached: plain http to a host that is neither this machine
 * nor listed by the operator. https reaches any host: TLS proves the host, and a stored secret goes only to the host
 * it was saved with, so a new host needs the secrets typed again.
 */
export function apiBaseUrlHostProblem(
  value: string,
  allowedHosts: readonly string[] = [],
): { message: string; hint: string } | undefined {
  const url = new URL(value);
  if (url.protocol === 'https:' || isLoopbackHost(url.hostname)) return undefined;
  const hostPort = hostPortOf(url);
  if (allowedHosts.some((entry) => entry === hostPort || entry === url.hostname.toLowerCase())) return undefined;
  return {
    message: `uses plain http:// to ${hostPort}, which is neither this machine nor listed in ORGSYNC_ALLOWED_API_HOSTS`,
    hint: `Use https://, or have the operator add "${hostPort}" to ORGSYNC_ALLOWED_API_HOSTS (comma-separated host or host:port) where orgsync runs, for the server and the CLI alike.`,
  };
}

/** The same setting: a URL however it is spelled (case of the host, default port, trailing slash), else the same text. */
function sameSetting(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return a === b;
  try {
    return new URL(a).href.replace(/\/+$/, '') === new URL(b).href.replace(/\/+$/, '');
  } catch {
    return a === b;
  }
}

const nameSchema = text('text').regex(
  CONNECTION_NAME_PATTERN,
  'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit',
);

export type { WecomConnection, WecomConnectionInput } from '../connectors/wecom/index.js';
export type { DingtalkConnection } from '../connectors/dingtalk/index.js';

/** A connection with its secrets in the clear: for the code that talks to the platform, never for output. */
export type Connection = AnyPlatformConnection;

/** A new connection: `{ platform, name, settings, secrets, policy?, schedule?, syncEnabled? }` of one platform. */
export type ConnectionInput = ConnectionInputOf<RegisteredPlatform>;
/** What may be shown of a connection: the same shape, every secret masked. */
export type ConnectionView = ConnectionViewOf<RegisteredPlatform>;

/**
 * A change to a connection: only what is given changes. The settings and secrets keys are its platform's (a key of
 * another platform is refused, naming it); null removes an optional one (apiBaseUrl: back to the default).
 */
export type ConnectionPatch = ConnectionPatchOf<RegisteredPlatform>;

/** Unsaved settings and secrets laid over a saved connection, for a test. */
export type ConnectionOverride = Pick<ConnectionPatch, 'settings' | 'secrets'>;

/** A connection that is not saved (a card being filled in), for a test. */
export type ConnectionDraft = Pick<ConnectionInput, 'platform' | 'settings' | 'secrets'>;

const NAME_HINT =
  'Use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit. The name is also the source name on links and runs.';
const POLICY_HINT = 'See docs/policy.md for the policy keys and their values.';

/** The parts of a connection that hold its platform's keys, and what one key of each is called in a message. */
const PARTS = { settings: 'setting', secrets: 'secret' } as const;
type Part = keyof typeof PARTS;

/** The top-level keys each kind of input takes, in the order a hint lists them. */
const INPUT_KEYS = {
  'a new connection': ['platform', 'name', 'settings', 'secrets', 'policy', 'schedule', 'syncEnabled'],
  'a change': ['settings', 'secrets', 'policy', 'schedule', 'syncEnabled'],
  'a test': ['settings', 'secrets'],
  'an unsaved test': ['platform', 'settings', 'secrets'],
} as const;
type InputKind = keyof typeof INPUT_KEYS;

const SCHEDULE_KEYS = ['reconcileCron'];

/** A platform as the service checks its connections: the schemas, a hint per field, the binding. */
type PlatformSpec = Pick<PlatformDefinition, 'id' | 'settings' | 'secrets' | 'binding'> & {
  hints: Record<string, string>;
};

function specOfPlatform(platform: string): PlatformSpec | undefined {
  const d = platformOf(platform);
  if (!d) return undefined;
  return {
    id: d.id,
    settings: d.settings,
    secrets: d.secrets,
    binding: d.binding,
    hints: Object.fromEntries(Object.entries(d.fields).map(([key, f]) => [key, f.hint])),
  };
}

/** The platform an input names, or the ValidationError (of `what`) naming `platform`. */
function specOfInput(platform: unknown, what: string): PlatformSpec {
  const spec = typeof platform === 'string' ? specOfPlatform(platform) : undefined;
  if (spec) return spec;
  throw new ValidationError(what, [
    {
      path: 'platform',
      field: 'platform',
      message: `must be one of ${PLATFORMS.join(', ')}`,
      hint: 'Say which platform the connection is for.',
    },
  ]);
}

const keysOf = (schema: z.ZodObject): string[] => Object.keys(schema.shape);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7396: objects merge key by key, null removes a key, anything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function definedOnly(input: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (input[key] !== undefined) out[key] = input[key];
  return out;
}

/** Whether anything is given: a value other than undefined, not counting settings, secrets or schedule with none. */
function givesAnything(input: Record<string, unknown>): boolean {
  return Object.entries(input).some(
    ([key, value]) =>
      value !== undefined &&
      !(key !== 'policy' && isPlainObject(value) && Object.values(value).every((v) => v === undefined)),
  );
}

/** The hint of an issue at a path of the connection's shape: the field's own, or its part's. */
function hintOf(spec: PlatformSpec): (path: readonly string[]) => string | undefined {
  return ([head, key]) => {
    if (head === 'name') return NAME_HINT;
    if (head === 'policy') return POLICY_HINT;
    if (head === 'schedule') return RECONCILE_CRON_HINT;
    return (head === 'settings' || head === 'secrets') && key !== undefined ? spec.hints[key] : undefined;
  };
}

/** What zod found in the part at `prefix`, as issues at their paths in the connection's shape, each with its hint. */
function issuesAt(error: z.ZodError, prefix: readonly string[], spec: PlatformSpec): ValidationIssue[] {
  return zodIssues(error.issues, { prefix, hint: hintOf(spec), keyWord: 'key' });
}

/** Where a key of the platform's belongs, when it was given in the wrong place. */
function partHolding(key: string, spec: PlatformSpec): Part | undefined {
  return (Object.keys(PARTS) as Part[]).find((part) => keysOf(spec[part]).includes(key));
}

/** Every top-level key of the input that `kind` does not take, named with the keys it takes. */
function unknownKeyIssues(input: Record<string, unknown>, kind: InputKind, spec: PlatformSpec): ValidationIssue[] {
  const known: readonly string[] = INPUT_KEYS[kind];
  return Object.keys(input)
    .filter((key) => input[key] !== undefined && !known.includes(key))
    .map((key) => {
      const part = partHolding(key, spec);
      return {
        path: key,
        field: key,
        message: `is not a part of ${kind}`,
        hint: `${kind[0]?.toUpperCase()}${kind.slice(1)} takes: ${known.join(', ')}.${part && known.includes(part) ? ` ${key} goes under ${part}.` : ''}`,
      };
    });
}

/**
 * The keys of one part as given (an object of the platform's keys), the rest as issues: a part that is not an
 * object, and each key the platform does not have there, named with the keys it has.
 */
function partOf(
  input: Record<string, unknown>,
  part: Part,
  spec: PlatformSpec,
  issues: ValidationIssue[],
): Record<string, unknown> {
  const value = input[part];
  if (value === undefined) return {};
  const keys = keysOf(spec[part]);
  if (!isPlainObject(value)) {
    issues.push({
      path: part,
      field: part,
      message: `must be an object of ${PARTS[part]}s`,
      hint: `A ${spec.id} connection's ${part} are: ${keys.join(', ')}.`,
    });
    return {};
  }
  for (const key of Object.keys(value)) {
    if (value[key] === undefined || keys.includes(key)) continue;
    const other = partHolding(key, spec);
    issues.push({
      path: `${part}.${key}`,
      field: key,
      message: `is not a ${PARTS[part]} of a ${spec.id} connection`,
      hint: `A ${spec.id} connection's ${part} are: ${keys.join(', ')}.${other ? ` ${key} is one of its ${other}.` : ''}`,
    });
  }
  return definedOnly(value, keys);
}

/** The schedule's cron as given, to its stored form: undefined when not given (or wrong: then an issue names it). */
function reconcileCronOf(value: unknown, issues: ValidationIssue[]): { value: string | null } | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    issues.push({
      path: 'schedule',
      field: 'schedule',
      message: 'must be an object: { reconcileCron }',
      hint: RECONCILE_CRON_HINT,
    });
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (value[key] !== undefined && !SCHEDULE_KEYS.includes(key))
      issues.push({
        path: `schedule.${key}`,
        field: key,
        message: 'is not a part of the schedule',
        hint: `The schedule takes: ${SCHEDULE_KEYS.join(', ')}.`,
      });
  }
  if (value.reconcileCron === undefined) return undefined;
  const parsed = parseReconcileCron(value.reconcileCron);
  if (parsed.ok) return { value: parsed.value };
  issues.push({
    path: 'schedule.reconcileCron',
    field: 'reconcileCron',
    message: parsed.message,
    hint: RECONCILE_CRON_HINT,
  });
  return undefined;
}

/** 开启同步 as given: undefined when not given (or not a boolean: then an issue names it). */
function syncEnabledOf(value: unknown, issues: ValidationIssue[]): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  issues.push({
    path: 'syncEnabled',
    field: 'syncEnabled',
    message: 'must be true or false',
    hint: 'syncEnabled is the 开启同步 switch: true lets syncs run, false stops them.',
  });
  return undefined;
}

function notFound(name: string): OrgsyncError {
  return new OrgsyncError({
    code: 'CONNECTION_NOT_FOUND',
    message: `there is no connection named "${name}"`,
    hint: 'See `orgsync connection list` for the names, or add one with `orgsync connection add wecom …`.',
  });
}

/** What zod found in a stored value, in one line. The issue messages never quote the value, so they are safe to show. */
function storedProblems(error: z.ZodError): string {
  return zodIssues(error.issues)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
}

function invalidStored(row: ConnectionRow, part: string, detail: string): OrgsyncError {
  return new OrgsyncError({
    code: 'CONNECTION_INVALID',
    message: `the stored ${part} of connection "${row.name}" are not valid: ${detail}`,
    hint: `Set them again with \`orgsync connection update ${row.name} …\`, or remove and add the connection.`,
    object: `connection "${row.name}"`,
  });
}

/**
 * A connection as its platform's type: its settings and secrets were parsed by the schemas of the platform it names
 * (`specOf`), which is what the union tells apart by `platform`.
 */
function asConnection(connection: PlatformConnection): Connection {
  return connection as Connection;
}

export class ConnectionService {
  /** The master key check passed once: secrets in the clear are given out only after it. */
  private keyChecked: Promise<MasterKeyCheck> | undefined;

  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    private readonly options: ConnectionServiceOptions = {},
  ) {}

  /**
   * Refuses (MASTER_KEY_MISMATCH / MASTER_KEY_MISSING) a master key other than the one the stored secrets are sealed
   * with; see master-key.ts. Done once per service before secrets are opened; `orgsync serve` calls it at start.
   */
  checkMasterKey(): Promise<MasterKeyCheck> {
    this.keyChecked ??= checkMasterKey(this.store, this.box).catch((err: unknown) => {
      this.keyChecked = undefined;
      throw err;
    });
    return this.keyChecked;
  }

  /** Validates everything, seals the secrets under the name, and stores the connection. */
  add<I extends ConnectionInput>(input: I): Promise<Extract<ConnectionView, { platform: I['platform'] }>>;
  async add(input: ConnectionInput): Promise<ConnectionView> {
    const given: Record<string, unknown> = input;
    const spec = specOfInput(given.platform, 'new connection');
    const name = nameSchema.safeParse(given.name);
    const what = name.success ? `connection "${name.data}"` : 'new connection';
    const issues: ValidationIssue[] = name.success ? [] : issuesAt(name.error, ['name'], spec);
    issues.push(...unknownKeyIssues(given, 'a new connection', spec));
    const { settings, secrets } = this.partsOf(given, spec, issues);
    const policy = policySchema.safeParse(given.policy ?? {});
    if (!policy.success) issues.push(...issuesAt(policy.error, ['policy'], spec));
    const schedule = reconcileCronOf(given.schedule, issues);
    const syncEnabled = syncEnabledOf(given.syncEnabled, issues);
    if (issues.length > 0 || !name.success || !settings || !secrets || !policy.success)
      throw new ValidationError(what, issues);

    // One transaction: the key is checked (or made, for the first secret) and its fingerprint recorded with the row.
    const row = await this.store.transaction(async (tx) => {
      if (await tx.connections.get(name.data)) {
        throw new OrgsyncError({
          code: 'CONNECTION_EXISTS',
          message: `a connection named "${name.data}" exists already`,
          hint: `Choose another name, or change that one with \`orgsync connection update ${name.data}\`.`,
        });
      }
      await prepareToSeal(tx, this.box);
      return tx.connections.create({
        name: name.data,
        // The store's column holds what the registry lists.
        platform: spec.id,
        settings,
        secrets: this.box.seal(JSON.stringify(secrets), name.data),
        policy: policy.data,
        reconcileCron: schedule ? schedule.value : DEFAULT_RECONCILE_CRON,
        syncEnabled: syncEnabled ?? false,
      });
    });
    return this.toView(row, settings, secrets);
  }

  /** The connection with its secrets in the clear. */
  async get(name: string): Promise<Connection> {
    await this.checkMasterKey();
    const row = await this.store.connections.get(name);
    if (!row) throw notFound(name);
    return this.decode(row);
  }

  /** Every connection with its secrets in the clear, by name. */
  async list(): Promise<Connection[]> {
    await this.checkMasterKey();
    return (await this.store.connections.list()).map((row) => this.decode(row));
  }

  async view(name: string): Promise<ConnectionView> {
    const row = await this.store.connections.get(name);
    if (!row) throw notFound(name);
    return this.viewOf(row);
  }

  /** By name. A connection whose secrets cannot be opened is still listed, with `secretsError`. */
  async views(): Promise<ConnectionView[]> {
    return (await this.store.connections.list()).map((row) => this.viewOf(row));
  }

  /**
   * Changes the given settings, secrets, policy keys, schedule and 开启同步; the rest stays. The stored secrets are
   * opened only when some of them stay; new secrets are sealed only under the key the store's fingerprint names
   * (master-key.ts). A change of where the secrets go (apiBaseUrl, the corp id / client id) must carry them again:
   * nothing is written otherwise.
   */
  async update(name: string, patch: ConnectionPatch): Promise<ConnectionView> {
    const given: Record<string, unknown> = patch;
    if (!givesAnything(given)) {
      throw new ValidationError(`connection "${name}"`, [
        {
          path: '(change)',
          field: '(none)',
          message: 'nothing to change',
          hint: 'Give at least one setting, secret, policy key, schedule or syncEnabled to change.',
        },
      ]);
    }
    return this.store.transaction(async (tx) => {
      const row = await tx.connections.get(name, { forUpdate: true });
      if (!row) throw notFound(name);
      const spec = this.specOf(row);
      // Secrets are sealed only under the key the stored ones were sealed with: checked before any stored one is opened.
      const secretsGiven = isPlainObject(given.secrets) ? given.secrets : {};
      if (keysOf(spec.secrets).some((key) => secretsGiven[key] !== undefined)) await prepareToSeal(tx, this.box);
      const change = this.changeOf(row, given, 'a change');
      const rowPatch: ConnectionRowPatch = {
        ...(change.settingsChanged ? { settings: change.settings } : {}),
        ...(change.secrets ? { secrets: this.box.seal(JSON.stringify(change.secrets), name) } : {}),
        ...(change.policy ? { policy: change.policy } : {}),
        ...(change.schedule ? { reconcileCron: change.schedule.value } : {}),
        ...(change.syncEnabled !== undefined && change.syncEnabled !== row.syncEnabled
          ? { syncEnabled: change.syncEnabled }
          : {}),
      };
      // Switching sync to what it is already changes nothing, not even the time of the last change.
      if (Object.keys(rowPatch).length === 0) return this.viewOf(row);
      const updated = await tx.connections.update(name, rowPatch);
      if (!updated) throw notFound(name);
      return change.secrets ? this.toView(updated, change.settings, change.secrets) : this.viewOf(updated);
    });
  }

  /**
   * The saved connection with unsaved settings and secrets laid over it, for a test: checked as `update` checks a
   * change (a new host or account needs the secrets again), and nothing is written.
   */
  async preview(name: string, override: ConnectionOverride): Promise<Connection> {
    const row = await this.store.connections.get(name);
    if (!row) throw notFound(name);
    const change = this.changeOf(row, override, 'a test');
    return this.connectionOf(row, change.settings, change.secrets ?? this.secretsOf(row, this.specOf(row)));
  }

  /** A connection that is not saved (a card being filled in), checked as `add` checks one; for a test only. */
  draft(input: ConnectionDraft): Connection {
    const given: Record<string, unknown> = input;
    const spec = specOfInput(given.platform, 'unsaved connection');
    const issues = unknownKeyIssues(given, 'an unsaved test', spec);
    const { settings, secrets } = this.partsOf(given, spec, issues);
    if (issues.length > 0 || !settings || !secrets) throw new ValidationError('unsaved connection', issues);
    return asConnection({
      id: 0,
      name: 'unsaved',
      platform: spec.id,
      settings,
      secrets,
      policy: policySchema.parse({}),
      schedule: { reconcileCron: DEFAULT_RECONCILE_CRON },
      createdAt: '',
      updatedAt: '',
    });
  }

  /** A new connection's settings and secrets checked in full; undefined where there are issues (pushed). */
  private partsOf(
    given: Record<string, unknown>,
    spec: PlatformSpec,
    issues: ValidationIssue[],
  ): { settings: Record<string, unknown> | undefined; secrets: Record<string, unknown> | undefined } {
    const settings = spec.settings.safeParse(partOf(given, 'settings', spec, issues));
    if (!settings.success) issues.push(...issuesAt(settings.error, ['settings'], spec));
    else issues.push(...this.hostIssues(settings.data));
    const secrets = spec.secrets.safeParse(partOf(given, 'secrets', spec, issues));
    if (!secrets.success) issues.push(...issuesAt(secrets.error, ['secrets'], spec));
    return { settings: settings.data, secrets: secrets.data };
  }

  /** The issue of an apiBaseUrl the operator does not let orgsync reach (plain http off this machine). */
  private hostIssues(settings: Record<string, unknown>): ValidationIssue[] {
    const url = settings.apiBaseUrl;
    if (typeof url !== 'string') return [];
    const problem = apiBaseUrlHostProblem(url, this.options.allowedApiHosts);
    return problem ? [{ path: 'settings.apiBaseUrl', field: 'apiBaseUrl', ...problem }] : [];
  }

  /**
   * A change checked in full against the stored row, or a ValidationError naming every field at fault. When the
   * host or the account changes, every stored secret sent there must be in the change (given anew, or removed when
   * it is optional), or the stored secret would go to a host it was not saved with.
   */
  private changeOf(
    row: ConnectionRow,
    given: Record<string, unknown>,
    kind: 'a change' | 'a test',
  ): {
    settings: Record<string, unknown>;
    settingsChanged: boolean;
    secrets: Record<string, unknown> | undefined;
    policy: Policy | undefined;
    schedule: { value: string | null } | undefined;
    syncEnabled: boolean | undefined;
  } {
    const spec = this.specOf(row);
    const secretKeys = keysOf(spec.secrets);
    const issues = unknownKeyIssues(given, kind, spec);

    const before = this.settingsOf(row, spec);
    const settingsPatch = partOf(given, 'settings', spec, issues);
    const settings = spec.settings.safeParse(mergePatch(before, settingsPatch));
    if (!settings.success) issues.push(...issuesAt(settings.error, ['settings'], spec));
    else if ('apiBaseUrl' in settingsPatch) issues.push(...this.hostIssues(settings.data));

    const secretsPatch = partOf(given, 'secrets', spec, issues);
    if (settings.success) {
      const moved = spec.binding.settings.filter((key) => !sameSetting(before[key], settings.data[key]));
      const missing =
        moved.length === 0
          ? []
          : spec.binding.secrets.filter((key) => !(key in secretsPatch) && this.isStored(row, spec, key));
      const what = moved.join(' and ');
      const word = kind === 'a change' ? 'change' : 'test';
      for (const key of missing) {
        issues.push({
          path: `secrets.${key}`,
          field: key,
          message: `must be given again: ${what} ${moved.length > 1 ? 'change' : 'changes'}, and a stored secret goes only to the host and account it was saved with`,
          hint:
            `Give ${key} again in the same ${word}` +
            (spec.secrets.shape[key]?.safeParse(undefined).success ? ' (or remove it)' : '') +
            `, or leave ${what} as saved. Nothing was ${kind === 'a change' ? 'changed' : 'sent'}.`,
        });
      }
    }

    let secrets: Record<string, unknown> | undefined;
    if (Object.keys(secretsPatch).length > 0 && issues.length === 0) {
      const keepsSome = secretKeys.some((key) => !(key in secretsPatch));
      const parsed = spec.secrets.safeParse(mergePatch(keepsSome ? this.secretsOf(row, spec) : {}, secretsPatch));
      if (parsed.success) secrets = parsed.data;
      else issues.push(...issuesAt(parsed.error, ['secrets'], spec));
    } else if (Object.keys(secretsPatch).length > 0) {
      // Report the secrets' own faults too, without opening the stored ones.
      const parsed = spec.secrets
        .partial()
        .safeParse(Object.fromEntries(Object.entries(secretsPatch).filter(([, v]) => v !== null)));
      if (!parsed.success) issues.push(...issuesAt(parsed.error, ['secrets'], spec));
    }

    // A test takes no other key: unknownKeyIssues named any.
    let policy: Policy | undefined;
    if (given.policy !== undefined && kind === 'a change') {
      if (!isPlainObject(given.policy)) {
        issues.push({
          path: 'policy',
          field: 'policy',
          message: 'must be an object of policy keys',
          hint: POLICY_HINT,
        });
      } else {
        const parsed = policySchema.safeParse(mergePatch(row.policy, given.policy));
        if (parsed.success) policy = parsed.data;
        else issues.push(...issuesAt(parsed.error, ['policy'], spec));
      }
    }
    const schedule = kind === 'a change' ? reconcileCronOf(given.schedule, issues) : undefined;
    const syncEnabled = kind === 'a change' ? syncEnabledOf(given.syncEnabled, issues) : undefined;
    if (issues.length > 0 || !settings.success) throw new ValidationError(`connection "${row.name}"`, issues);
    return {
      settings: settings.data,
      settingsChanged: Object.keys(settingsPatch).length > 0,
      secrets,
      policy,
      schedule,
      syncEnabled,
    };
  }

  /** Whether the row holds this secret. A row whose secrets cannot be opened counts as holding every one. */
  private isStored(row: ConnectionRow, spec: PlatformSpec, key: string): boolean {
    if (!spec.secrets.shape[key]?.safeParse(undefined).success) return true;
    try {
      return this.secretsOf(row, spec)[key] !== undefined;
    } catch {
      return true;
    }
  }

  /** Removes the connection and its secrets. Links and runs under its name stay: re-adding it picks them up again. */
  async remove(name: string): Promise<void> {
    if (!(await this.store.connections.remove(name))) throw notFound(name);
  }

  private specOf(row: ConnectionRow): PlatformSpec {
    const spec = specOfPlatform(row.platform);
    if (!spec) throw invalidStored(row, 'platform', `"${row.platform}" is not one of ${PLATFORMS.join(', ')}`);
    return spec;
  }

  private settingsOf(row: ConnectionRow, spec: PlatformSpec): Record<string, unknown> {
    const parsed = spec.settings.safeParse(row.settings);
    if (!parsed.success) throw invalidStored(row, 'settings', storedProblems(parsed.error));
    return parsed.data;
  }

  private secretsOf(row: ConnectionRow, spec: PlatformSpec): Record<string, unknown> {
    let json: string;
    try {
      json = this.box.open(row.secrets, row.name);
    } catch (err) {
      if (!(err instanceof OrgsyncError)) throw err;
      throw new OrgsyncError({ ...err.toInfo(), object: `connection "${row.name}"` }, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      throw invalidStored(row, 'secrets', 'not JSON');
    }
    const parsed = spec.secrets.safeParse(value);
    if (!parsed.success) throw invalidStored(row, 'secrets', storedProblems(parsed.error));
    return parsed.data;
  }

  private policyOf(row: ConnectionRow): Policy {
    const parsed = policySchema.safeParse(row.policy);
    if (!parsed.success) throw invalidStored(row, 'policy', storedProblems(parsed.error));
    return parsed.data;
  }

  private decode(row: ConnectionRow): Connection {
    const spec = this.specOf(row);
    return this.connectionOf(row, this.settingsOf(row, spec), this.secretsOf(row, spec));
  }

  private connectionOf(
    row: ConnectionRow,
    settings: Record<string, unknown>,
    secrets: Record<string, unknown>,
  ): Connection {
    return asConnection({
      id: row.id,
      name: row.name,
      platform: row.platform,
      settings,
      secrets,
      policy: this.policyOf(row),
      schedule: { reconcileCron: row.reconcileCron },
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    });
  }

  private viewOf(row: ConnectionRow): ConnectionView {
    const spec = this.specOf(row);
    const settings = this.settingsOf(row, spec);
    try {
      return this.toView(row, settings, this.secretsOf(row, spec));
    } catch (err) {
      if (!(err instanceof OrgsyncError)) throw err;
      return this.toView(row, settings, undefined, err.toInfo());
    }
  }

  private toView(
    row: ConnectionRow,
    settings: Record<string, unknown>,
    secrets: Record<string, unknown> | undefined,
    secretsError?: ErrorInfo,
  ): ConnectionView {
    const spec = this.specOf(row);
    const masked: Record<string, string> = {};
    for (const key of keysOf(spec.secrets)) {
      const value = secrets?.[key];
      if (typeof value === 'string') masked[key] = maskSecret(value);
      else if (!secrets && !spec.secrets.shape[key]?.safeParse(undefined).success) masked[key] = MASK;
    }
    const view: ConnectionViewOf<PlatformDefinition> = {
      id: row.id,
      name: row.name,
      platform: row.platform,
      settings,
      secrets: masked,
      policy: this.policyOf(row),
      schedule: { reconcileCron: row.reconcileCron },
      syncEnabled: row.syncEnabled,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      ...(secretsError ? { secretsError } : {}),
    };
    // As in `asConnection`: the settings and secrets are those of the platform the row names.
    return view as ConnectionView;
  }
}
