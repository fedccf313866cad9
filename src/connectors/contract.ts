import type { z } from 'zod';
import type { PlatformLimits } from '../directory/limits.js';
import type { DirectoryState, UserScope } from '../directory/model.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser } from '../directory/snapshot.js';
import type { ErrorInfo } from '../errors.js';
import type { Policy, PolicyInput } from '../reconcile/policy.js';
import type { PlatformCallbacks } from './common/callbacks.js';
import type { ConnectionTestOptions, ConnectionTestResult } from './common/connection-test.js';
import type { EncodingChoice } from './common/files/encoding.js';
import type { TokenCache } from './common/token-cache.js';

/** The only shapes the core knows of a source: everything platform-specific stays behind them. */

export interface PullProgress {
  phase: string;
  done: number;
  total?: number;
}

export interface PullContext {
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface SourceConnector {
  /** What kind of source this is, e.g. "json", "wecom". */
  readonly kind: string;
  /** The limits its data is checked against before planning. */
  readonly limits: PlatformLimits;
  /**
   * A platform's read: a record that fails the limits is skipped (a run error naming it, its departments marked
   * incomplete, the run partial) instead of failing the run, so one bad record does not stop the corp's sync. A file
   * the operator hands in is refused whole instead (absent or false).
   */
  readonly skipsInvalidRecords?: boolean;
  /** Reads the whole org as the source sees it, declaring what it could not read or cannot see. */
  pull(ctx: PullContext): Promise<Snapshot>;
  /** Facts about the read for the run's log (e.g. API calls made). */
  readonly stats?: () => Record<string, unknown>;
  /**
   * What the last `pull` found worth knowing about the data that changed nothing by itself (e.g. a file's text
   * repaired from a wrong encoding: `MOJIBAKE_REPAIRED` with the rows and one example). Asked once after `pull`;
   * the run keeps them and its report shows them.
   */
  readonly warnings?: () => SourceWarning[];
  /**
   * For a source that reads only some objects (contact-change events): turns what `pull` returned into the org as
   * the source sees it, from the directory loaded under the run's lock. The result is what is validated and planned.
   */
  readonly rebase?: (pulled: Snapshot, directory: DirectoryState) => Rebased;
  /**
   * With `rebase`: the users the rebase and its plan need, asked after `pull`; the run then loads only those users
   * (and every department) instead of the whole directory.
   */
  readonly scope?: () => UserScope;
}

/**
 * Something a read noticed and dealt with, reported beside the run's errors and notes: e.g. `MOJIBAKE_REPAIRED`
 * with the rows repaired and one example. A JSON contract of the run report: keep the shape.
 */
export interface SourceWarning {
  code: string;
  message: string;
  /** How many rows of a file it concerns. */
  rows?: number;
  /** One case, as it was and as it was taken. */
  example?: { before: string; after: string };
}

/**
 * Which part of an export file to read, and how. Rows are 0-based rows of the sheet; the first row read is the header.
 */
export interface ExportReadOptions {
  /** What the file holds, told by its content (common/files/detect.ts). */
  content: 'xlsx' | 'csv';
  /** A sheet by its 0-based position or its name; default: the first with a header the reader knows. */
  sheet?: number | string;
  /** The header row; default: found by scanning the first rows for the header the reader knows. */
  startRow?: number;
  /** The last row read; -1 or absent: the sheet's last. */
  endRow?: number;
  /** A CSV file's encoding (default auto). */
  encoding?: EncodingChoice;
}

/** Reads the platform's admin-console export (a workbook or a CSV of it) as a source: `orgsync import --format <id>-export`. */
export interface ExportReader {
  source(file: string, options: ExportReadOptions): SourceConnector;
}

/**
 * A rebased snapshot: every department of the source, and of its users only those in `users` (by the source's id):
 * the ones the run touched. The plan leaves every other user linked to the source as it is, neither changed nor
 * gone, so a run of a few events costs what those users cost, not the whole directory.
 */
export interface Rebased {
  snapshot: Snapshot;
  users: ReadonlySet<string>;
}

/**
 * Targeted reads of single objects, by the platform's connector. null: the platform says the object does not exist
 * (after a leave or a remove that means gone), or that it lies outside what the app may see. Any other failure
 * throws: the object is left out of the run and the messages naming it stay to be tried again on their own (see
 * `ObjectFailure` in events/processor.ts), unless the failure is the whole connection's (`connectionWide`).
 */
export interface ObjectReader {
  readonly kind: string;
  readonly limits: PlatformLimits;
  readUser(externalId: string): Promise<SnapshotUser | null>;
  readDepartment(externalId: string): Promise<SnapshotDepartment | null>;
  readonly stats?: () => Record<string, unknown>;
}

/** When a connection's scheduled full sync runs. */
export interface ConnectionSchedule {
  /** A cron expression, read in the server's time zone; null: no scheduled full sync. */
  reconcileCron: string | null;
}

/** A connection with its secrets in the clear, as a platform's factories receive it. */
export interface PlatformConnection<
  P extends string = string,
  S = Record<string, unknown>,
  K = Record<string, unknown>,
> {
  id: number;
  /** Also the source name on links and runs. */
  name: string;
  platform: P;
  settings: S;
  secrets: K;
  policy: Policy;
  schedule: ConnectionSchedule;
  createdAt: string;
  updatedAt: string;
}

/** The texts of one setting or secret: the console's label and hint, the CLI flag's help, the fix named in an error. */
export interface FieldText {
  label: { zh: string; en: string };
  /** Where to find the value: the hint of every error about the field, and the console's help. */
  hint: string;
  /** The console's short help under the field, when it has one. */
  help?: { zh: string; en: string };
  /** The CLI flag's help after `connection add <platform>`. */
  flag: string;
  /** The CLI flag's value name, e.g. "<id>". */
  flagValue: string;
  /** The console's placeholder. */
  placeholder?: string;
  /** Where the console's card shows it: with the others (default), folded under the API address, or with the callback. */
  place?: 'advanced' | 'callback';
  /** An optional value: the name of the `connection update --no-<name>` flag that removes it (with the others it names). */
  removedBy?: string;
}

/** A platform's pull for one run: the source, and what the run's report adds once it ran. */
export interface PlatformSource {
  connector: SourceConnector;
  apiCalls(): number;
  notes(): ErrorInfo[];
}

/** What a platform's client is built with: the tokens shared by its users, and its limits. */
export interface PlatformClientOptions {
  tokens: TokenCache;
  concurrency?: number;
  /** Calls per API per second, where the platform counts them so (DingTalk; default its limit for an internal app). */
  qpsLimit?: number;
}

/**
 * One platform, whole: everything outside its folder (CLI, API, console, sync, events) is derived from this object
 * and chooses nothing by the platform's name. Methods (not function properties) keep each platform's own types
 * usable where the registry holds them all.
 */
export interface PlatformDefinition<
  P extends string = string,
  SS extends z.ZodObject = z.ZodObject,
  KS extends z.ZodObject = z.ZodObject,
  C = unknown,
> {
  readonly id: P;
  readonly names: { zh: string; en: string };
  /** One character for the console's badge, e.g. 企. */
  readonly mark: string;
  /** How the platform sorts siblings by their `order`: WeCom larger first, DingTalk smaller first. */
  readonly departmentOrder: 'descending' | 'ascending';
  /**
   * What the platform's user links hold. 'account': the user's account (userid), as admins see it and exports list it
   * (账号), so a file can be matched to the users linked to a connection by it (`orgsync import --enrich`).
   * 'opaque': an id no file shows (e.g. an open_id), so enrichment is refused.
   */
  readonly userLinks: 'account' | 'opaque';
  /** The platform's own API, the default of the apiBaseUrl setting. */
  readonly defaultApiBaseUrl: string;
  /** Where the secrets go and whose they are (validated on every use), in the order the CLI and console show them. */
  readonly settings: SS;
  /** Sealed at rest, masked in every output; in the order the CLI and console show them. */
  readonly secrets: KS;
  readonly fields: Readonly<Record<string, FieldText>>;
  /**
   * The settings that say where the secrets go and whose they are (the host, and the account gettoken names beside
   * the secret), and the secrets orgsync sends there. Changing the first needs the second typed again, so nobody
   * who can edit a connection can send its stored secrets to a host of their choosing. The callback Token and
   * EncodingAESKey are never sent anywhere: they stay.
   */
  readonly binding: { settings: readonly string[]; secrets: readonly string[] };
  /** The secret shown in `connection list` (the one every connection of the platform has). */
  readonly listedSecret: string;
  client(connection: PlatformConnection<P, z.output<SS>, z.output<KS>>, options: PlatformClientOptions): C;
  source(client: C): PlatformSource;
  /** Event runs' reads; one reader per run, over a client kept for the connection. */
  objectReader(client: C): ObjectReader;
  /** Whom the platform's callbacks are encrypted for (WeCom: the CorpID; DingTalk: the app's Client ID). */
  callbackReceiverId(connection: PlatformConnection<P, z.output<SS>, z.output<KS>>): string;
  /** What the platform sends to a connection's callback URL (its envelope, events and reply); events/callbacks.ts runs it. */
  readonly callbacks: PlatformCallbacks;
  testConnection(
    connection: PlatformConnection<P, z.output<SS>, z.output<KS>>,
    options: ConnectionTestOptions & { tokens?: TokenCache; qpsLimit?: number },
  ): Promise<ConnectionTestResult>;
  /** Reads the admin console's contacts export, when the platform has one orgsync knows. */
  readonly exportReader?: ExportReader;
  /** Slots the next capabilities fill: pushing into the platform, sign-in. */
  readonly target?: unknown;
  readonly signIn?: unknown;
}

/** Each key may be left out; null removes an optional one (a setting with a default goes back to it). */
type Removable<T> = { [K in keyof T]?: T[K] | (undefined extends T[K] ? null : never) };

/**
 * What `add` takes for a platform: the connection's one shape, `{ platform, name, settings, secrets, policy?,
 * schedule?, syncEnabled? }`, its settings and secrets typed by the platform's schemas. The service checks every value
 * again (the CLI and the API build it from the registry) and names a bad one by its path, e.g. `settings.corpId`.
 */
export type ConnectionInputOf<D> =
  D extends PlatformDefinition<infer P, infer SS, infer KS, unknown>
    ? {
        platform: P;
        name: string;
        settings: z.input<SS>;
        secrets: z.input<KS>;
        policy?: PolicyInput | undefined;
        /** Default: a full sync daily at 02:00. reconcileCron null or "off": none. */
        schedule?: { reconcileCron?: string | null | undefined } | undefined;
        /** 开启同步; default off. */
        syncEnabled?: boolean | undefined;
      }
    : never;

/** A change to a platform's connection: only what is given changes. */
export type ConnectionPatchOf<D> =
  D extends PlatformDefinition<string, infer SS, infer KS, unknown>
    ? {
        /** null puts apiBaseUrl back to the platform's own API. */
        settings?: Removable<z.input<SS>> | undefined;
        /** Secrets given anew; null removes an optional one. */
        secrets?: Removable<z.input<KS>> | undefined;
        /** A JSON merge patch (RFC 7396) over the current policy: objects merge, null removes a key, anything else replaces. */
        policy?: Record<string, unknown> | undefined;
        /** reconcileCron null or "off" turns the scheduled full sync off. */
        schedule?: { reconcileCron?: string | null | undefined } | undefined;
        syncEnabled?: boolean | undefined;
      }
    : never;

/**
 * What may be shown of a platform's connection: the same shape with every secret it holds masked (a secret it does
 * not hold is absent), and the row's id, 开启同步 switch and times.
 */
export type ConnectionViewOf<D> =
  D extends PlatformDefinition<infer P, infer SS, infer KS, unknown>
    ? {
        id: number;
        name: string;
        platform: P;
        settings: z.output<SS>;
        secrets: { [K in keyof z.output<KS>]: undefined extends z.output<KS>[K] ? string | undefined : string };
        policy: Policy;
        schedule: ConnectionSchedule;
        /** 开启同步: runs started from the API, and the scheduled full sync, need it. */
        syncEnabled: boolean;
        createdAt: string;
        updatedAt: string;
        /** Why the secrets could not be opened (then they show as a bare mask). */
        secretsError?: ErrorInfo;
      }
    : never;
