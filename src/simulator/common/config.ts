import { z } from 'zod';
import { zodIssues } from '../../errors.js';

/**
 * The switches both simulators have, with the same keys and meanings. Each is a start flag (kebab-case:
 * --latency-ms) and a key of /__sim/config (latencyMs), and can be changed while the simulator runs.
 */
export function commonSwitches<const K extends readonly [string, ...string[]]>(faultKinds: K) {
  return {
    /** Added to every API call. */
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    /** Share of API calls that fail with one of faultKinds, decided by a generator seeded from `seed`. */
    faultRate: z.number().min(0).max(1).default(0),
    faultKinds: z
      .array(z.enum(faultKinds))
      .min(1)
      .default([...faultKinds]),
    tokenTtlSeconds: z.number().int().positive().default(7200),
    /**
     * "withheld": the app lacks the permission for personal details (WeCom: a self-built app created after
     * 2022-06-20; DingTalk: no 个人手机号信息 / 邮箱 permission); "returned": it has it.
     */
    sensitiveFields: z.enum(['withheld', 'returned']).default('withheld'),
    /** Departments the app can see (with their subtrees); [] = none, then reads of the tree answer 60011. */
    visibleRange: z.array(z.number().int().positive()).default([1]),
    /** Every call answers 60020. */
    untrustedIp: z.boolean().default(false),
    /** Departments whose member reads always fail with -1. */
    failingDepartments: z.array(z.number().int().positive()).default([]),
    /** Domains the app trusts for sign-in redirects. */
    trustedDomains: z.array(z.string().min(1)).default(['127.0.0.1', 'localhost']),
    callbackUrl: z.string().url().nullable().default(null),
    callbackToken: z.string().nullable().default(null),
    callbackAesKey: z
      .string()
      .regex(/^[A-Za-z0-9]{43}$/, 'must be 43 letters and digits')
      .nullable()
      .default(null),
    /**
     * A failed delivery's n-th retry waits n × this long. The platforms do not say how long they wait; a test that
     * restarts the receiver needs the retries to outlast the restart.
     */
    callbackRetryDelayMs: z.number().int().min(0).max(600_000).default(100),
    /**
     * Deliveries in flight at once. The platforms post from several servers and promise no order, so a receiver
     * must not depend on one; 1 delivers strictly in order. A renamed WeCom userid is always delivered alone.
     */
    callbackConcurrency: z.number().int().min(1).max(64).default(4),
  };
}

/** What both simulators' pipelines read from their config. */
export interface CommonConfig {
  latencyMs: number;
  faultRate: number;
  faultKinds: readonly string[];
  tokenTtlSeconds: number;
}

export interface ConfigIssue {
  /** The switch, dotted for nested values (faultKinds.1). */
  key: string;
  message: string;
}

/** A zod error on a config as one issue per switch; an unknown switch is reported under its own name. */
export function configIssues(err: z.ZodError): ConfigIssue[] {
  return zodIssues(err.issues, { keyWord: 'switch' }).map((i) => ({ key: i.path, message: i.message }));
}
