import { z } from 'zod';

export const FAULT_KINDS = ['errcode', 'ratelimit', 'http502', 'reset', 'hang', 'revoke'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The simulator's switches. Each is a start flag (kebab-case: --latency-ms) and a key of /__sim/config
 * (latencyMs), and can be changed while it runs.
 */
export const simConfigSchema = z.strictObject({
  /** Added to every API call. */
  latencyMs: z.number().int().min(0).max(60_000).default(0),
  /** Share of API calls that fail with one of faultKinds, decided by a generator seeded from `seed`. */
  faultRate: z.number().min(0).max(1).default(0),
  faultKinds: z.array(z.enum(FAULT_KINDS)).min(1).default([...FAULT_KINDS]),
  /** Calls per API per minute before 45009. */
  rateLimitPerMinute: z.number().int().positive().default(10_000),
  /** Calls of one API in flight at once before 45033. */
  concurrencyLimit: z.number().int().positive().default(200),
  tokenTtlSeconds: z.number().int().positive().default(7200),
  /** The self-built app: "withheld" = created after 2022-06-20 (no mobile, email, avatar, gender, biz_mail, address); "returned" = a legacy app. */
  sensitiveFields: z.enum(['withheld', 'returned']).default('withheld'),
  /** Departments the app can see (with their subtrees); [] = none, then reads of the tree answer 60011. */
  visibleRange: z.array(z.number().int().positive()).default([1]),
  /** Every call answers 60020. */
  untrustedIp: z.boolean().default(false),
  /** The contacts secret is used from a new IP: detail reads answer 48009. */
  contactsSecretNewIp: z.boolean().default(false),
  /** Departments whose member reads always fail with -1. */
  failingDepartments: z.array(z.number().int().positive()).default([]),
  /** Domains the app trusts for OAuth redirects (50001 otherwise). */
  trustedDomains: z.array(z.string().min(1)).default(['127.0.0.1', 'localhost']),
  callbackUrl: z.string().url().nullable().default(null),
  callbackToken: z.string().nullable().default(null),
  callbackAesKey: z
    .string()
    .regex(/^[A-Za-z0-9]{43}$/, 'must be 43 letters and digits')
    .nullable()
    .default(null),
  /** Events carry only ids, as for callback servers configured after 2022-08-15. */
  callbackIdsOnly: z.boolean().default(false),
});

export type SimConfig = z.output<typeof simConfigSchema>;
export type SimConfigInput = z.input<typeof simConfigSchema>;

/** A partial update of a running simulator's config. */
export const simConfigPatchSchema = simConfigSchema.partial();
