import { readFile } from 'node:fs/promises';
import { parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../../errors.js';
import { fileUnreadable } from '../common/files/read-error.js';
import { WECOM_LIMITS } from '../wecom/limits.js';
import type { PlatformLimits } from '../../directory/limits.js';
import { UNSEEN_FIELDS, type Snapshot } from '../../directory/snapshot.js';
import type { PullContext, SourceConnector } from '../contract.js';

/**
 * The JSON snapshot file: the way any HR system feeds orgsync. Documented in docs/json-snapshot.md.
 * Ids may be strings or integers. For users, a key that is absent means "not known"; null or "" means empty.
 */

const id = z.union([z.string().min(1, 'must not be empty'), z.number().int()]).transform(String);
const text = z.string().nullable().optional();

const departmentSchema = z.strictObject({
  externalId: id,
  parentExternalId: z.union([id, z.null()]),
  name: z.string(),
  order: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
});

const membershipSchema = z.strictObject({
  externalId: id,
  leader: z.boolean().optional(),
  order: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
});

const userSchema = z.strictObject({
  externalId: id,
  userid: z.string().optional(),
  name: z.string().optional(),
  alias: text,
  position: text,
  mobile: text,
  email: text,
  telephone: text,
  gender: z.enum(['male', 'female']).nullable().optional(),
  avatar: text,
  address: text,
  employeeNo: text,
  status: z.enum(['active', 'disabled']).optional(),
  mainDepartment: z.union([id, z.null()]).optional(),
  departments: z.array(membershipSchema).optional(),
  attributes: z
    .record(
      z.string(),
      z.union([z.string(), z.number(), z.boolean(), z.null()]).transform((v) => (v === null ? null : String(v))),
    )
    .optional(),
});

const snapshotSchema = z.strictObject({
  complete: z.boolean().default(true),
  incompleteDepartments: z.array(id).default([]),
  unseenFields: z.array(z.enum(UNSEEN_FIELDS)).default([]),
  departments: z.array(departmentSchema),
  users: z.array(userSchema),
});

export class JsonSnapshotSource implements SourceConnector {
  readonly kind = 'json';
  readonly limits: PlatformLimits = WECOM_LIMITS;

  constructor(private readonly file: string) {}

  async pull(ctx: PullContext): Promise<Snapshot> {
    ctx.onProgress?.({ phase: 'reading file', done: 0 });
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      throw fileUnreadable(this.file, err);
    }
    return parseJsonSnapshot(text, this.file);
  }
}

export function parseJsonSnapshot(text: string, what = 'the snapshot'): Snapshot {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new ValidationError(`${what} is not valid JSON`, [syntaxIssue(body, (err as Error).message)]);
  }
  const parsed = snapshotSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      what,
      parsed.error.issues.slice(0, 50).map((issue) => toValidationIssue(issue, raw)),
    );
  }
  const s = parsed.data;
  return {
    complete: s.complete,
    incompleteDepartments: s.incompleteDepartments,
    unseenFields: s.unseenFields,
    departments: s.departments,
    users: s.users.map((u) => {
      const { attributes, ...rest } = u;
      return attributes === undefined ? rest : { ...rest, attributes: attributes as Record<string, string | null> };
    }),
  };
}

/** Where the JSON breaks, as line and column: JSON.parse does not always say, jsonc-parser does. */
function syntaxIssue(text: string, parseMessage: string): ValidationIssue {
  const errors: ParseError[] = [];
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  const offset = first?.offset ?? Number(/position (\d+)/.exec(parseMessage)?.[1] ?? NaN);
  const before = Number.isNaN(offset) ? '' : text.slice(0, offset);
  const where = Number.isNaN(offset)
    ? ''
    : ` at line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}`;
  return {
    path: `(file)${where}`,
    field: '(syntax)',
    message: first ? `${printParseErrorCode(first.error)} (${parseMessage})` : parseMessage,
    hint: 'Fix the JSON syntax at that place.',
  };
}

function toValidationIssue(issue: z.core.$ZodIssue, raw: unknown): ValidationIssue {
  const segments = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const path =
    segments.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') ||
    '(root)';
  const stringKeys = segments.filter((p): p is string => typeof p === 'string');
  let field = stringKeys.length > 0 ? (stringKeys[stringKeys.length - 1] as string) : '(value)';
  let hint = 'Fix the value in the snapshot; nothing was written.';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    field = issue.keys.join(', ');
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    hint = 'Remove or rename it; docs/json-snapshot.md lists the keys.';
  } else if (issue.code === 'invalid_type' && issue.input === undefined) {
    message = 'missing';
    hint = `Add "${field}"; docs/json-snapshot.md describes it.`;
  }
  let object: string | undefined;
  const [top, index] = segments;
  if ((top === 'users' || top === 'departments') && typeof index === 'number') {
    const item = (raw as Record<string, unknown[]>)[top]?.[index] as { externalId?: unknown } | undefined;
    const ext = item?.externalId;
    object = `${top === 'users' ? 'user' : 'department'} ${typeof ext === 'string' || typeof ext === 'number' ? `"${ext}"` : `#${index}`}`;
  }
  return { path, field, message, hint, ...(object ? { object } : {}) };
}
