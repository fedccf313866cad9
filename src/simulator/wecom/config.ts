import { z } from 'zod';
import { commonSwitches } from '../common/config.js';
import { WECOM_ERRORS } from './errors.js';

export const FAULT_KINDS = ['errcode', 'ratelimit', 'http502', 'reset', 'hang', 'revoke'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The WeCom simulator's switches: the ones both simulators share (common/config.ts) and WeCom's own. Each is a
 * start flag (kebab-case: --latency-ms) and a key of /__sim/config (latencyMs), and can be changed while it runs.
 */
export const simConfigSchema = z.strictObject({
  ...commonSwitches(FAULT_KINDS),
  /** Calls per API per minute before 45009. */
  rateLimitPerMinute: z.number().int().positive().default(10_000),
  /** Calls of one API in flight at once before 45033. */
  concurrencyLimit: z.number().int().positive().default(200),
  /** The contacts secret is used from a new IP: detail reads answer 48009. */
  contactsSecretNewIp: z.boolean().default(false),
  /** Events carry only ids, as for callback servers configured after 2022-08-15. */
  callbackIdsOnly: z.boolean().default(false),
  /**
   * A targeted fault: every read of these departments (department/get, and department/list of one) and users
   * (user/get) answers `errcode` (default -1, system busy), whoever asks, until the switch is changed.
   */
  failReads: z
    .strictObject({
      departments: z.array(z.number().int().positive()).default([]),
      users: z.array(z.string().min(1)).default([]),
      errcode: z
        .number()
        .int()
        .refine(
          (c) => String(c) in WECOM_ERRORS,
          'must be an errcode the simulator knows (see src/simulator/wecom/errors.ts)',
        )
        .default(-1),
    })
    .default({ departments: [], users: [], errcode: -1 }),
});

export type SimConfig = z.output<typeof simConfigSchema>;
export type SimConfigInput = z.input<typeof simConfigSchema>;
