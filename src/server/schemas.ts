import { z } from 'zod';
import { CONNECTION_NAME_PATTERN, PLATFORMS } from '../connections/connections.js';
import type { PlatformDefinition } from '../connectors/contract.js';
import { PLATFORMS as PLATFORM_DEFINITIONS } from '../connectors/registry.js';
import { RUN_KINDS, RUN_STATUSES, TEMPLATES } from '../runs/types.js';

/** The shapes of the API: requests are validated with these, and the OpenAPI document is built from them. */

// ------------------------------------------------------------------ common

export const errorInfoSchema = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  object: z.string().optional(),
});

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('Stable, machine-readable, e.g. INVALID_INPUT, CONNECTION_NOT_FOUND'),
    message: z.string(),
    hint: z.string().optional().describe('What to change, and where'),
    field: z.string().optional().describe('The request field at fault, e.g. settings.corpId'),
  }),
});

export const runInProgressSchema = errorBodySchema.extend({
  runId: z.number().int().describe('The run already going for this connection'),
});

const idParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const runIdParams = z.strictObject({ id: idParam.describe('Run id') });
export const connectionParams = z.strictObject({
  name: z
    .string()
    .regex(CONNECTION_NAME_PATTERN, 'must be a connection name: 1-64 letters, digits, "_", "." or "-"')
    .describe('Connection name'),
});

const limit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).describe(`Page size, 1-${max} (default ${fallback})`);
const cursor = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a cursor returned as nextCursor')
  .optional()
  .describe('nextCursor of the previous page');

export const runIdBody = z.object({ runId: z.number().int() });

/** For actions that take no input: nothing, or {}. */
export const emptyBody = z.strictObject({}).optional();

// ------------------------------------------------------------------ session

export const loginBody = z.strictObject({
  username: z.string().min(1, 'must not be empty').max(64, 'is too long'),
  password: z.string().min(1, 'must not be empty').max(1024, 'is too long'),
});

export const sessionSchema = z.object({
  user: z.object({ username: z.string().describe('The admin; for an API token, "token:NAME"') }),
  csrfToken: z
    .string()
    .nullable()
    .describe('Send it as x-csrf-token on every POST, PUT, PATCH and DELETE of this session (null for an API token)'),
});

// ------------------------------------------------------------------ connections

const platform = z.enum(PLATFORMS);

/**
 * A platform field as the API takes it: the API checks its type only (a number where the platform takes one), the
 * connection service checks the value and names the field with a hint, e.g. settings.corpId. Described by the hint.
 */
function fieldInput(d: PlatformDefinition, key: string, schema: z.ZodType): z.ZodType {
  const takesNumber = schema.safeParse(1).success;
  const base = takesNumber ? z.union([z.number().int(), z.string()]) : z.string();
  return base.describe(`${d.names.en}: ${d.fields[key]?.label.en ?? key}. ${d.fields[key]?.hint ?? ''}`.trim());
}

/** A platform's settings or secrets: its keys, each optional where its schema allows (or everywhere, `partial`). */
function partInput(d: PlatformDefinition, part: 'settings' | 'secrets', partial: boolean): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, schema] of Object.entries(d[part].shape as Record<string, z.ZodType>)) {
    const input = fieldInput(d, key, schema);
    const optional = partial || part === 'secrets' || schema.safeParse(undefined).success;
    // null removes an optional secret (and apiBaseUrl goes back to the default).
    shape[key] = optional
      ? schema.safeParse(undefined).success
        ? input.nullable().optional()
        : input.optional()
      : input;
  }
  return z.strictObject(shape);
}

/** Every platform's keys of a part together: a saved connection's change names no platform (the stored one applies). */
function anyPlatformInput(part: 'settings' | 'secrets'): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const d of PLATFORM_DEFINITIONS) {
    for (const [key, schema] of Object.entries(partInput(d, part, true).shape)) shape[key] ??= schema;
  }
  return z.strictObject(shape);
}

/** One object per platform of the registry, told apart by `platform`. */
function perPlatform<T extends z.ZodObject<{ platform: z.ZodLiteral<string> }>>(
  build: (d: PlatformDefinition) => T,
): z.ZodDiscriminatedUnion<[T, ...T[]]> {
  const [first, ...rest] = PLATFORM_DEFINITIONS.map(build);
  if (!first) throw new Error('the registry lists no platform');
  return z.discriminatedUnion('platform', [first, ...rest]);
}

const policyInput = z.record(z.string(), z.unknown()).describe('See docs/policy.md');

const reconcileCronInput = z
  .string()
  .nullable()
  .optional()
  .describe(
    '定时全量同步: a cron expression in the server\'s time zone, 5 fields or 6 with seconds first (default "0 2 * * *", daily at 02:00); null or "off" turns it off',
  );

const scheduleInput = z
  .strictObject({ reconcileCron: reconcileCronInput })
  .optional()
  .describe('When the scheduled full sync runs; a 400 about it names schedule.reconcileCron');

/** reconcileCron at the top of a body: where the schedule was given before `schedule`, still read. */
const topReconcileCronInput = reconcileCronInput.describe(
  'The same as schedule.reconcileCron (its older place); giving both with different values is a 400',
);

export const createConnectionBody = perPlatform((d) =>
  z.strictObject({
    platform: z.literal(d.id).describe(`${d.names.en} (${d.names.zh})`),
    name: z.string().describe('1-64 letters, digits, "_", "." or "-"; also the source name on links and runs'),
    settings: partInput(d, 'settings', false),
    secrets: partInput(d, 'secrets', false),
    policy: policyInput.optional(),
    syncEnabled: z.boolean().optional().describe('开启同步; default false'),
    schedule: scheduleInput,
    reconcileCron: topReconcileCronInput,
  }),
);

export const updateConnectionBody = z.strictObject({
  settings: anyPlatformInput('settings')
    .optional()
    .describe('The keys of the connection\'s platform; null or "" apiBaseUrl goes back to the default'),
  secrets: anyPlatformInput('secrets')
    .optional()
    .describe('An omitted or empty secret keeps the stored one; null removes an optional one'),
  policy: policyInput
    .optional()
    .describe('Merged into the stored policy key by key (JSON merge patch: null removes a key)'),
  syncEnabled: z.boolean().optional(),
  schedule: scheduleInput,
  reconcileCron: topReconcileCronInput,
});

export const testConnectionBody = z
  .strictObject({
    settings: anyPlatformInput('settings').optional().describe('Unsaved values to test instead of the saved ones'),
    secrets: anyPlatformInput('secrets')
      .optional()
      .describe('Unsaved secrets; an omitted or empty one uses the saved one'),
  })
  .optional();

export const unsavedTestBody = perPlatform((d) =>
  z.strictObject({
    platform: z.literal(d.id),
    settings: partInput(d, 'settings', false),
    secrets: partInput(d, 'secrets', false),
  }),
);

/** A setting as the API shows it: the stored value (a number where the platform takes one). */
const settingsOutput = z
  .record(z.string(), z.union([z.string(), z.number()]))
  .describe(
    `The platform's settings: ${PLATFORM_DEFINITIONS.map((d) => `${d.id}: ${Object.keys(d.settings.shape).join(', ')}`).join('; ')}`,
  );

export const connectionSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  platform,
  settings: settingsOutput,
  secrets: z
    .record(
      z.string(),
      z.object({ set: z.boolean(), masked: z.string().describe('"••••••" when set, "" when not; never the value') }),
    )
    .describe('One entry per secret of the platform'),
  syncEnabled: z.boolean(),
  reconcileCron: z
    .string()
    .nullable()
    .describe(
      '定时全量同步: the cron expression of the scheduled full sync; null when it is off (as schedule.reconcileCron)',
    ),
  reconcileTimezone: z.string().describe("The time zone reconcileCron is read in (ORGSYNC_TZ, else the server's)"),
  nextReconcileAt: z
    .string()
    .nullable()
    .describe('When the scheduled full sync runs next (ISO 8601); null when reconcileCron or 开启同步 is off'),
  schedule: z
    .object({
      reconcileCron: z
        .string()
        .nullable()
        .describe('定时全量同步: the cron expression of the scheduled full sync; null when it is off'),
    })
    .describe('The schedule as a request gives it'),
  policy: z.record(z.string(), z.unknown()),
  callbackUrl: z
    .string()
    .optional()
    .describe('Where the platform posts contact changes (ORGSYNC_PUBLIC_URL, else the address the server listens on)'),
  secretsError: errorInfoSchema
    .optional()
    .describe('The stored secrets cannot be opened (e.g. the master key changed)'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const textsSchema = z.object({ zh: z.string(), en: z.string() });

/** What a console needs to build a platform's card: its fields, their labels, help and which are secret. */
export const platformListSchema = z.object({
  items: z.array(
    z.object({
      id: z.string().describe('The value of `platform` in a connection'),
      names: textsSchema,
      mark: z.string().describe('One character for a badge'),
      departmentOrder: z
        .enum(['descending', 'ascending'])
        .describe('How the platform sorts sibling departments by `order`'),
      defaultApiBaseUrl: z.string(),
      fields: z
        .array(
          z.object({
            key: z.string(),
            part: z.enum(['settings', 'secrets']).describe('Where the field goes in a connection body'),
            secret: z.boolean().describe('Stored encrypted, never returned: a form shows it empty'),
            required: z.boolean(),
            number: z.boolean().describe('Takes a whole number (given as digits or a number)'),
            default: z.string().optional().describe('What an omitted value becomes'),
            label: textsSchema,
            help: textsSchema.optional(),
            hint: z.string().describe('Where to find the value; also the hint of an error about it'),
            placeholder: z.string().optional(),
            place: z
              .enum(['main', 'advanced', 'callback'])
              .describe('Where a card shows it: with the others, folded away, or with the callback'),
          }),
        )
        .describe('Settings first, then secrets, in the order a form shows them'),
    }),
  ),
});

export const connectionListSchema = z.object({ items: z.array(connectionSchema) });

export const testResultSchema = z.object({
  ok: z.boolean().describe('No check failed; warnings leave it true'),
  checks: z.array(
    z.object({
      name: z.string(),
      ok: z.boolean(),
      level: z
        .literal('warning')
        .optional()
        .describe(
          'A limit on what is read while a sync still works (e.g. mobiles withheld): ok stays true, the hint says what to grant',
        ),
      code: z
        .string()
        .optional()
        .describe(
          "The error code of a failed check, e.g. WECOM_UNREACHABLE, or *_NO_ANSWER on a host that is not the platform's",
        ),
      message: z.string(),
      hint: z.string().optional(),
    }),
  ),
});

export const syncBody = z
  .strictObject({ dryRun: z.boolean().optional().describe('Plan and record only (status planned)') })
  .optional();

// ------------------------------------------------------------------ runs

const counts = z.object({ departments: z.record(z.string(), z.number()), users: z.record(z.string(), z.number()) });

export const progressSchema = z.object({
  phase: z.enum(['read', 'plan', 'guard', 'apply']),
  done: z.number(),
  total: z.number().optional(),
  message: z.string().optional(),
});

const stepSchema = z.object({
  seq: z.number().int(),
  name: z.string(),
  status: z.enum(['ok', 'failed', 'skipped']),
  startedAt: z.string(),
  durationMs: z.number(),
  detail: z.record(z.string(), z.unknown()),
});

export const runSummarySchema = z.object({
  runId: z.number().int(),
  kind: z.enum(RUN_KINDS),
  source: z.string(),
  status: z.enum(RUN_STATUSES),
  dryRun: z.boolean(),
  template: z
    .enum(TEMPLATES)
    .optional()
    .describe('What the run took of the source: create-update, delete-only or full (absent for enrichment runs)'),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  changes: counts.describe('Applied; for planned and blocked runs, planned'),
  suppressed: counts.optional(),
  blocked: errorInfoSchema.extend({ count: z.number(), base: z.number() }).optional(),
  errors: z.array(errorInfoSchema),
  notes: z.array(errorInfoSchema),
  warnings: z
    .array(
      errorInfoSchema.extend({
        rows: z.number().int().optional().describe('How many rows of the source it concerns'),
        example: z.object({ before: z.string(), after: z.string() }).optional(),
      }),
    )
    .describe('What the source reported about its data, e.g. MOJIBAKE_REPAIRED; localized as errors and notes are'),
  enrichment: z
    .object({
      matched: z.number().int(),
      enriched: z.number().int(),
      unmatched: z.number().int(),
      unmatchedAccounts: z.array(z.string()).describe('The first 10 at most'),
    })
    .optional()
    .describe("An enrichment run's rows: matched to a linked user by account, of those changed, and not matched"),
  read: z
    .object({
      departments: z.number(),
      users: z.number(),
      complete: z.boolean(),
      incompleteDepartments: z.number(),
      unseenFields: z.array(z.string()),
    })
    .optional(),
  progress: progressSchema.optional().describe('Only while the run is running in this server'),
});

export const changeSchema = z.object({
  seq: z.number().int(),
  objectKind: z.enum(['department', 'user']),
  action: z.string(),
  objectId: z.number().int().nullable(),
  externalId: z.string(),
  label: z.string(),
  fields: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })).describe('Field-level diffs'),
});

export const runDetailSchema = runSummarySchema.extend({
  steps: z.array(stepSchema),
  changedObjects: z.object({ total: z.number().int(), items: z.array(changeSchema).describe('The first 100') }),
});

export const runListQuery = z.strictObject({
  source: z.string().max(64).optional().describe('Connection or source name'),
  status: z.enum(RUN_STATUSES).optional(),
  kind: z.enum(RUN_KINDS).optional(),
  limit: limit(200, 50),
  cursor,
});

export const runListSchema = z.object({ items: z.array(runSummarySchema), nextCursor: z.string().nullable() });

export const changesQuery = z.strictObject({
  limit: limit(1000, 100),
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).describe('Changes to skip'),
});

export const changesSchema = z.object({ items: z.array(changeSchema), total: z.number().int() });

// ------------------------------------------------------------------ directory

const linkSchema = z.object({ source: z.string(), externalId: z.string() });

export const departmentListSchema = z.object({
  items: z.array(
    z.object({
      id: z.number().int(),
      parentId: z.number().int().nullable(),
      name: z.string(),
      order: z.number(),
      memberCount: z.number().int().describe('Direct members, active and disabled'),
      links: z.array(linkSchema),
    }),
  ),
  revision: z.number().int().describe('Changes whenever the directory does'),
});

export const departmentParams = z.strictObject({ id: idParam.describe('Local department id') });
export const userParams = z.strictObject({ id: idParam.describe('Local user id') });

export const membersQuery = z.strictObject({
  q: z.string().max(100).optional().describe('Part of the name, userid (ignoring case) or mobile'),
  cursor,
  limit: limit(200, 50),
});

const status = z.enum(['active', 'disabled']);

export const membersSchema = z.object({
  items: z.array(
    z.object({
      id: z.number().int(),
      userid: z.string().nullable(),
      name: z.string().nullable(),
      position: z.string().nullable(),
      mobile: z.string().nullable(),
      email: z.string().nullable(),
      status,
      leader: z.boolean().describe('Leader of this department'),
    }),
  ),
  nextCursor: z.string().nullable(),
  total: z.number().int().describe('Members matching q, in all pages'),
});

const nullableText = z.string().nullable();

export const userDetailSchema = z.object({
  user: z.object({
    id: z.number().int(),
    userid: nullableText,
    name: nullableText,
    alias: nullableText,
    position: nullableText,
    mobile: nullableText,
    email: nullableText,
    telephone: nullableText,
    gender: nullableText,
    avatar: nullableText,
    address: nullableText,
    employeeNo: nullableText,
    status,
    mainDepartmentId: z.number().int().nullable(),
    attributes: z.record(z.string(), z.string()),
  }),
  memberships: z.array(
    z.object({ departmentId: z.number().int(), departmentName: z.string(), leader: z.boolean(), order: z.number() }),
  ),
  links: z.array(linkSchema),
  history: z
    .array(
      changeSchema.omit({ objectKind: true, objectId: true }).extend({
        runId: z.number().int(),
        runKind: z.enum(RUN_KINDS),
        runStatus: z.enum(RUN_STATUSES),
        source: z.string(),
        at: z.string().nullable().describe('When the run started'),
      }),
    )
    .describe('Changes of this user recorded by applied runs, newest first (at most 100)'),
});

// ------------------------------------------------------------------ real time: dead letters

const contactEventSchema = z.object({
  object: z.enum(['user', 'department']),
  externalId: z.string().describe("The platform's id of the object"),
  newExternalId: z.string().optional().describe("The object's new id, for a renamed WeCom userid"),
});

export const deadLetterQuery = z.strictObject({
  connection: connectionParams.shape.name.optional().describe('Only this connection’s'),
  limit: limit(1000, 100),
});

export const deadLetterSchema = z.object({
  id: z.number().int().describe('The stored message'),
  connection: z.string(),
  type: z.string().describe('The platform’s event type, e.g. change_contact/update_user'),
  events: z.array(contactEventSchema).describe('The objects the message names'),
  receivedAt: z.string(),
  attempts: z.number().int().describe('Failed attempts before it became a dead letter'),
  deadAt: z.string().nullable(),
  error: errorInfoSchema.nullable().describe('The last failure: code, message, hint and the object at fault'),
});

export const deadLetterListSchema = z.object({ items: z.array(deadLetterSchema) });

export const retryDeadLettersBody = z
  .strictObject({
    connection: connectionParams.shape.name.optional().describe('Only this connection’s dead letters'),
    ids: z
      .array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER))
      .min(1, 'must name at least one message')
      .max(1000, 'at most 1000 at once')
      .optional()
      .describe('Only these messages'),
  })
  .optional();

export const retryDeadLettersSchema = z.object({
  retried: z.number().int().describe('Messages put back to pending'),
  ids: z.array(z.number().int()),
});

// ------------------------------------------------------------------ imports

export const uploadQuery = z.strictObject({
  name: z
    .string()
    .max(1000)
    .optional()
    .describe("The file's name, e.g. 通讯录.xlsx: named so in what the reader reports"),
});

export const uploadSchema = z.object({
  uploadId: z.string().describe('Give it to preview and apply'),
  name: z.string(),
  size: z.number().int().describe('Bytes'),
  format: z
    .enum(['snapshot', 'xlsx', 'csv'])
    .describe('What the file is, told by its content: a JSON snapshot, or the contacts export as xlsx or csv'),
  expiresAt: z.string().describe('When it is deleted unless applied before'),
});

export const uploadParams = z.strictObject({
  uploadId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, 'must be an uploadId from POST /api/v1/imports')
    .describe('From POST /api/v1/imports'),
});

const sourceName = z
  .string()
  .regex(
    CONNECTION_NAME_PATTERN,
    'must be a source name: 1-64 letters, digits, "_", "." or "-", starting with a letter or digit',
  );

export const importBody = z
  .strictObject({
    source: sourceName
      .optional()
      .describe(
        'The source the file stands for; links are kept per source (default: json for a snapshot, wecom-export for an export file)',
      ),
    template: z
      .enum(TEMPLATES)
      .optional()
      .describe(
        'create-update (touch nobody the file leaves out; the default for an export file), delete-only (only remove them), full (both; the default for a snapshot)',
      ),
    enrich: z
      .string()
      .regex(CONNECTION_NAME_PATTERN, 'must be a connection name')
      .optional()
      .describe(
        "Instead of a source: fill what this connection's API cannot see for its linked users, matched by account",
      ),
    sheet: z
      .union([z.number().int().min(0), z.string().min(1).max(100)])
      .optional()
      .describe('Export workbooks: the sheet, by position from 0 or by name (default: the first with a member header)'),
    startRow: z.number().int().min(0).optional().describe('Export files: the header row, counted from 0'),
    endRow: z
      .number()
      .int()
      .min(-1)
      .optional()
      .describe('Export files: the last row read, counted from 0; -1 is the last'),
    encoding: z.enum(['auto', 'utf8', 'gb18030']).optional().describe('CSV files: the text encoding (default auto)'),
  })
  .optional();

export const importErrorSchema = errorBodySchema.extend({
  issues: z
    .array(
      z.object({
        path: z.string().describe('Where in the file, e.g. the sheet and row'),
        object: z.string().optional(),
        field: z.string().describe('The column or key'),
        message: z.string(),
        hint: z.string().optional(),
      }),
    )
    .describe('Every problem the reader found, up to its limit'),
  runId: z.number().int().optional().describe('The failed preview run, which records the same issues'),
});
