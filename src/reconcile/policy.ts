import { z } from 'zod';
import { DEPARTMENT_OWNED_FIELDS, USER_OWNED_FIELDS } from '../directory/model.js';

/** How a source's word is taken: how objects match, which fields it owns, what happens to what it no longer lists. */

export const FIELD_OWNERSHIP = ['always', 'create', 'never'] as const;
export type FieldOwnership = (typeof FIELD_OWNERSHIP)[number];

export const USER_MATCH_KEYS = ['userid', 'mobile', 'email'] as const;

const ownership = z.enum(FIELD_OWNERSHIP);

export const policySchema = z.strictObject({
  /** Local department the source's top departments hang under; default: the local root. */
  mountDepartmentId: z.number().int().positive().optional(),
  matching: z
    .strictObject({
      /** Fallback keys, in order, tried when a user has no link yet. */
      users: z.array(z.enum(USER_MATCH_KEYS)).default(['userid', 'mobile', 'email']),
      /** 'name': an unlinked local department with the same name under the same parent is taken as the same one. */
      departments: z.array(z.enum(['name'])).default(['name']),
    })
    .prefault({}),
  ownership: z
    .strictObject({
      users: z.partialRecord(z.enum(USER_OWNED_FIELDS), ownership).default({}),
      departments: z.partialRecord(z.enum(DEPARTMENT_OWNED_FIELDS), ownership).default({}),
    })
    .prefault({}),
  /** A user the source no longer lists. */
  onUserGone: z.enum(['disable', 'delete', 'ignore']).default('disable'),
  /** A department the source no longer lists; it is deleted only once empty. */
  onDepartmentGone: z.enum(['delete', 'ignore']).default('delete'),
  /** A plan that disables or deletes more than maxUsers users AND more than maxRatio of the source's users is blocked. */
  guard: z
    .strictObject({
      maxUsers: z.number().int().nonnegative().default(50),
      maxRatio: z.number().min(0).max(1).default(0.2),
    })
    .prefault({}),
});

export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;

export function resolvePolicy(input: PolicyInput = {}): Policy {
  return policySchema.parse(input);
}
