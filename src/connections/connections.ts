import type { z } from 'zod';
import type { ConnectionInputOf, ConnectionViewOf, PlatformDefinition } from '../connectors/contract.js';
import {
  PLATFORMS as DEFINITIONS,
  PLATFORM_IDS,
  platformOf,
  type AnyPlatformConnection,
  type PlatformId,
  type RegisteredPlatform,
} from '../connectors/registry.js';
import { text } from '../connectors/common/settings.js';
import { OrgsyncError, ValidationError, type ErrorInfo, type ValidationIssue } from '../errors.js';
import { policySchema, type Policy } from '../reconcile/policy.js';
import type { ConnectionRow, Store } from '../store/store.js';
import { checkMasterKey, prepareToSeal, type MasterKeyCheck } from './master-key.js';
import { DEFAULT_RECONCILE_CRON, RECONCILE_CRON_HINT, parseReconcileCron } from './reconcile-cron.js';
import type { SecretBox } from './secret-box.js';

/**
 * Connections: a named source on one of the registry's platforms (connectors/registry.ts) with its settings, its
 * secrets (sealed by a SecretBox before they reach the store) and its policy. What a platform's settings and secrets
 * are, their hints and which settings bind which secrets all come from its definition. `get`/`list` give the secrets
 * in the clear for internal use; `view`/`views` give what may be shown, every secret masked.
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

export type ConnectionInput = ConnectionInputOf<RegisteredPlatform>;
export type ConnectionView = ConnectionViewOf<RegisteredPlatform>;

/**
 * A change to a connection: only the keys given change. The settings and secrets keys are its platform's (a key of
 * another platform is refused, naming it); null removes an optional one (apiBaseUrl: back to the default).
 */
export interface ConnectionPatch {
  [key: string]: unknown;
  /** A JSON merge patch (RFC 7396) over the current policy: objects merge, null removes a key, anything else replaces. */
  policy?: Record<string, unknown> | undefined;
  /** A cron expression; null or "off" turns the scheduled full sync off. */
  reconcileCron?: string | null | undefined;
}

const NAME_HINT =
  'Use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit. The name is also the source name on links and runs.';
const POLICY_HINT = 'See docs/policy.md for the policy keys and their values.';

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

function issuesOf(error: z.ZodError, prefix: readonly string[], hints: Record<string, string>): ValidationIssue[] {
  const hintFor = (path: readonly string[]): string | undefined =>
    path[0] === 'policy' ? POLICY_HINT : hints[path[0] ?? ''];
  return error.issues.flatMap((issue): ValidationIssue[] => {
    const path = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: [...path, key].join('.'),
        field: key,
        message: 'is not a known key',
        hint: hintFor([...path, key]) ?? POLICY_HINT,
      }));
    }
    const hint = hintFor(path);
    return [
      {
        path: path.join('.') || '(root)',
        field: path[path.length - 1] ?? '(value)',
        message: issue.message,
        ...(hint ? { hint } : {}),
      },
    ];
  });
}

function unknownKeyIssue(key: string, spec: PlatformSpec): ValidationIssue {
  const platform = spec.id;
  return {
    path: key,
    field: key,
    message: `is not a setting of a ${platform} connection`,
    hint: `A ${platform} connection takes: ${[...keysOf(spec.settings), ...keysOf(spec.secrets), 'reconcileCron', 'policy'].join(', ')}.`,
  };
}

/** The schedule as given (undefined: not given) to its stored form, or the issue naming the field. */
function reconcileCronOf(value: unknown): { value: string | null } | { issue: ValidationIssue } {
  const parsed = parseReconcileCron(value);
  if (parsed.ok) return { value: parsed.value };
  return {
    issue: { path: 'reconcileCron', field: 'reconcileCron', message: parsed.message, hint: RECONCILE_CRON_HINT },
  };
}

function notFound(name: string): OrgsyncError {
  return new OrgsyncError({
    code: 'CONNECTION_NOT_FOUND',
    message: `there is no connection named "${name}"`,
    hint: 'See `orgsync connection list` for the names, or add one with `orgsync connection add wecom …`.',
  });
}

function invalidStored(row: ConnectionRow, part: string, detail: string): OrgsyncError {
  return new OrgsyncError({
    code: 'CONNECTION_INVALID',
    message: `the stored ${part} of connection "${row.name}" are not valid: ${detail}`,
    hint: `Set them again with \`orgsync connection update ${row.name} …\`, or remove and add the connection.`,
    object: `connection "${row.name}"`,
  });
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
    const raw = input as unknown as Record<string, unknown>;
    const platform = raw.platform;
    const spec = typeof platform === 'string' ? specOfPlatform(platform) : undefined;
    if (!spec) {
      throw new ValidationError('new connection', [
        {
          path: 'platform',
          field: 'platform',
          message: `must be one of ${PLATFORMS.join(', ')}`,
          hint: 'Say which platform the connection is for.',
        },
      ]);
    }
    const name = nameSchema.safeParse(raw.name);
    const what = name.success ? `connection "${name.data}"` : 'new connection';
    const issues: ValidationIssue[] = name.success ? [] : issuesOf(name.error, ['name'], { name: NAME_HINT });
    const known = new Set([
      'platform',
      'name',
      'policy',
      'reconcileCron',
      ...keysOf(spec.settings),
      ...keysOf(spec.secrets),
    ]);
    for (const key of Object.keys(raw))
      if (!known.has(key) && raw[key] !== undefined) issues.push(unknownKeyIssue(key, spec));
    const settings = spec.settings.safeParse(definedOnly(raw, keysOf(spec.settings)));
    if (!settings.success) issues.push(...issuesOf(settings.error, [], spec.hints));
    else issues.push(...this.hostIssues(settings.data));
    const secrets = spec.secrets.safeParse(definedOnly(raw, keysOf(spec.secrets)));
    if (!secrets.success) issues.push(...issuesOf(secrets.error, [], spec.hints));
    const policy = policySchema.safeParse(raw.policy ?? {});
    if (!policy.success) issues.push(...issuesOf(policy.error, ['policy'], spec.hints));
    const schedule =
      raw.reconcileCron === undefined ? { value: DEFAULT_RECONCILE_CRON } : reconcileCronOf(raw.reconcileCron);
    if ('issue' in schedule) issues.push(schedule.issue);
    if (
      issues.length > 0 ||
      !name.success ||
      !settings.success ||
      !secrets.success ||
      !policy.success ||
      'issue' in schedule
    )
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
        settings: settings.data,
        secrets: this.box.seal(JSON.stringify(secrets.data), name.data),
        policy: policy.data,
        reconcileCron: schedule.value,
      });
    });
    return this.toView(row, settings.data, secrets.data);
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
   * Changes the given settings, secrets and policy keys; the rest stays. The stored secrets are opened only when some
   * of them stay; new secrets are sealed only under the key the store's fingerprint names (master-key.ts). A change of where
   * the secrets go (apiBaseUrl, the corp id / client id) must carry them again: nothing is written otherwise.
   */
  async update(name: string, patch: ConnectionPatch): Promise<ConnectionView> {
    const given = definedOnly(patch as Record<string, unknown>, Object.keys(patch));
    if (Object.keys(given).length === 0) {
      throw new ValidationError(`connection "${name}"`, [
        {
          path: '(change)',
          field: '(none)',
          message: 'nothing to change',
          hint: 'Give at least one setting, secret or policy key to change.',
        },
      ]);
    }
    return this.store.transaction(async (tx) => {
      const row = await tx.connections.get(name, { forUpdate: true });
      if (!row) throw notFound(name);
      // Secrets are sealed only under the key the stored ones were sealed with: checked before any stored one is opened.
      if (keysOf(this.specOf(row).secrets).some((key) => key in given)) await prepareToSeal(tx, this.box);
      const change = this.changeOf(row, given, 'change');
      const updated = await tx.connections.update(name, {
        ...(change.settingsChanged ? { settings: change.settings } : {}),
        ...(change.secrets ? { secrets: this.box.seal(JSON.stringify(change.secrets), name) } : {}),
        ...(change.policy ? { policy: change.policy } : {}),
        ...(change.schedule && 'value' in change.schedule ? { reconcileCron: change.schedule.value } : {}),
      });
      if (!updated) throw notFound(name);
      return change.secrets ? this.toView(updated, change.settings, change.secrets) : this.viewOf(updated);
    });
  }

  /**
   * The saved connection with unsaved settings and secrets laid over it, for a test: checked as `update` checks a
   * change (a new host or account needs the secrets again), and nothing is written.
   */
  async preview(name: string, patch: ConnectionPatch): Promise<Connection> {
    const row = await this.store.connections.get(name);
    if (!row) throw notFound(name);
    const given = definedOnly(patch as Record<string, unknown>, Object.keys(patch));
    const change = this.changeOf(row, given, 'test');
    return {
      id: row.id,
      name: row.name,
      platform: row.platform,
      settings: change.settings,
      secrets: change.secrets ?? this.secretsOf(row, this.specOf(row)),
      policy: this.policyOf(row),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    } as Connection;
  }

  /** A connection that is not saved (a card being filled in), checked as `add` checks one; for a test only. */
  draft(input: Omit<ConnectionInput, 'name' | 'policy' | 'reconcileCron'>): Connection {
    const raw = input as unknown as Record<string, unknown>;
    const platform = raw.platform;
    const spec = typeof platform === 'string' ? specOfPlatform(platform) : undefined;
    if (!spec) {
      throw new ValidationError('unsaved connection', [
        {
          path: 'platform',
          field: 'platform',
          message: `must be one of ${PLATFORMS.join(', ')}`,
          hint: 'Say which platform the connection is for.',
        },
      ]);
    }
    const issues: ValidationIssue[] = [];
    for (const key of Object.keys(raw)) {
      if (
        key !== 'platform' &&
        raw[key] !== undefined &&
        !keysOf(spec.settings).includes(key) &&
        !keysOf(spec.secrets).includes(key)
      )
        issues.push(unknownKeyIssue(key, spec));
    }
    const settings = spec.settings.safeParse(definedOnly(raw, keysOf(spec.settings)));
    if (!settings.success) issues.push(...issuesOf(settings.error, [], spec.hints));
    else issues.push(...this.hostIssues(settings.data));
    const secrets = spec.secrets.safeParse(definedOnly(raw, keysOf(spec.secrets)));
    if (!secrets.success) issues.push(...issuesOf(secrets.error, [], spec.hints));
    if (issues.length > 0 || !settings.success || !secrets.success)
      throw new ValidationError('unsaved connection', issues);
    return {
      id: 0,
      name: 'unsaved',
      platform,
      settings: settings.data,
      secrets: secrets.data,
      policy: policySchema.parse({}),
      createdAt: '',
      updatedAt: '',
    } as Connection;
  }

  /** The issue of an apiBaseUrl the operator does not let orgsync reach (plain http off this machine). */
  private hostIssues(settings: Record<string, unknown>): ValidationIssue[] {
    const url = settings.apiBaseUrl;
    if (typeof url !== 'string') return [];
    const problem = apiBaseUrlHostProblem(url, this.options.allowedApiHosts);
    return problem ? [{ path: 'apiBaseUrl', field: 'apiBaseUrl', ...problem }] : [];
  }

  /**
   * A change checked in full against the stored row, or a ValidationError naming every field at fault. When the
   * host or the account changes, every stored secret sent there must be in the change (given anew, or removed when
   * it is optional), or the stored secret would go to a host it was not saved with.
   */
  private changeOf(
    row: ConnectionRow,
    given: Record<string, unknown>,
    purpose: 'change' | 'test',
  ): {
    settings: Record<string, unknown>;
    settingsChanged: boolean;
    secrets: Record<string, unknown> | undefined;
    policy: Policy | undefined;
    schedule: { value: string | null } | { issue: ValidationIssue } | undefined;
  } {
    const spec = this.specOf(row);
    const settingKeys = keysOf(spec.settings);
    const secretKeys = keysOf(spec.secrets);
    const issues: ValidationIssue[] = [];
    for (const key of Object.keys(given)) {
      const allowed = purpose === 'change' ? ['policy', 'reconcileCron'] : [];
      if (!allowed.includes(key) && !settingKeys.includes(key) && !secretKeys.includes(key))
        issues.push(unknownKeyIssue(key, spec));
    }

    const before = this.settingsOf(row, spec);
    const settingsPatch = definedOnly(given, settingKeys);
    const settings = spec.settings.safeParse(mergePatch(before, settingsPatch));
    if (!settings.success) issues.push(...issuesOf(settings.error, [], spec.hints));
    else if ('apiBaseUrl' in settingsPatch) issues.push(...this.hostIssues(settings.data));

    const secretsPatch = definedOnly(given, secretKeys);
    if (settings.success) {
      const moved = spec.binding.settings.filter((key) => !sameSetting(before[key], settings.data[key]));
      const missing =
        moved.length === 0
          ? []
          : spec.binding.secrets.filter((key) => !(key in secretsPatch) && this.isStored(row, spec, key));
      const what = moved.join(' and ');
      for (const key of missing) {
        issues.push({
          path: key,
          field: key,
          message: `must be given again: ${what} ${moved.length > 1 ? 'change' : 'changes'}, and a stored secret goes only to the host and account it was saved with`,
          hint:
            `Give ${key} again in the same ${purpose === 'change' ? 'change' : 'test'}` +
            (spec.secrets.shape[key]?.safeParse(undefined).success ? ' (or remove it)' : '') +
            `, or leave ${what} as saved. Nothing was ${purpose === 'change' ? 'changed' : 'sent'}.`,
        });
      }
    }

    let secrets: Record<string, unknown> | undefined;
    if (Object.keys(secretsPatch).length > 0 && issues.length === 0) {
      const keepsSome = secretKeys.some((key) => !(key in secretsPatch));
      const parsed = spec.secrets.safeParse(mergePatch(keepsSome ? this.secretsOf(row, spec) : {}, secretsPatch));
      if (parsed.success) secrets = parsed.data;
      else issues.push(...issuesOf(parsed.error, [], spec.hints));
    } else if (Object.keys(secretsPatch).length > 0) {
      // Report the secrets' own faults too, without opening the stored ones.
      const parsed = spec.secrets
        .partial()
        .safeParse(Object.fromEntries(Object.entries(secretsPatch).filter(([, v]) => v !== null)));
      if (!parsed.success) issues.push(...issuesOf(parsed.error, [], spec.hints));
    }

    let policy: Policy | undefined;
    if (given.policy !== undefined && purpose === 'change') {
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
        else issues.push(...issuesOf(parsed.error, ['policy'], spec.hints));
      }
    }
    const schedule =
      purpose === 'change' && 'reconcileCron' in given ? reconcileCronOf(given.reconcileCron) : undefined;
    if (schedule && 'issue' in schedule) issues.push(schedule.issue);
    if (issues.length > 0 || !settings.success) throw new ValidationError(`connection "${row.name}"`, issues);
    return {
      settings: settings.data,
      settingsChanged: Object.keys(settingsPatch).length > 0,
      secrets,
      policy,
      schedule,
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
    if (!parsed.success)
      throw invalidStored(
        row,
        'settings',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
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
    // The issue messages never quote the value, so they are safe to show.
    if (!parsed.success)
      throw invalidStored(
        row,
        'secrets',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    return parsed.data;
  }

  private policyOf(row: ConnectionRow): Policy {
    const parsed = policySchema.safeParse(row.policy);
    if (!parsed.success)
      throw invalidStored(
        row,
        'policy',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    return parsed.data;
  }

  private decode(row: ConnectionRow): Connection {
    const spec = this.specOf(row);
    return {
      id: row.id,
      name: row.name,
      platform: row.platform,
      settings: this.settingsOf(row, spec),
      secrets: this.secretsOf(row, spec),
      policy: this.policyOf(row),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    } as Connection;
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
    return {
      name: row.name,
      platform: row.platform,
      ...settings,
      ...masked,
      reconcileCron: row.reconcileCron,
      policy: this.policyOf(row),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      ...(secretsError ? { secretsError } : {}),
    } as ConnectionView;
  }
}
