import { z } from 'zod';
import { commonSwitches } from '../common/config.js';

/** WeCom's fault kinds, plus 'block': the per-IP block page (no errcode) answered once. */
export const FAULT_KINDS = ['errcode', 'ratelimit', 'http502', 'reset', 'hang', 'revoke', 'block'] as const;

/** The oapi paths whose permission the app can lack (deniedApis): the contact and sign-in APIs the simulator serves. */
export const PERMISSIONED_APIS = [
  'topapi/v2/department/listsub',
  'topapi/v2/department/listsubid',
  'topapi/v2/department/get',
  'topapi/v2/department/create',
  'topapi/v2/department/update',
  'topapi/v2/department/delete',
  'topapi/user/listid',
  'topapi/user/listsimple',
  'topapi/v2/user/list',
  'topapi/v2/user/get',
  'topapi/v2/user/create',
  'topapi/v2/user/update',
  'topapi/v2/user/delete',
  'topapi/user/getbyunionid',
  'topapi/v2/user/getuserinfo',
  'v1.0/contact/users/me',
] as const;

/**
 * The DingTalk simulator's switches: the ones both simulators share (common/config.ts, with WeCom's keys and
 * meanings) and DingTalk's own. Each is a start flag (kebab-case: --qps-limit) and a key of /__sim/config.
 */
export const dingConfigSchema = z.strictObject({
  ...commonSwitches(FAULT_KINDS),
  /** gettoken and v1.0/oauth2/accessToken return the live token and extend its life, rather than a new one. */
  tokenReuse: z.boolean().default(true),
  /** Calls per second of one API by this app before 90018 (api host: 403 QpsLimitForAppkeyAndApi). */
  qpsLimit: z.number().int().positive().default(20),
  /** Calls per second of one API by everyone before 90002 (api host: 403 QpsLimitForApi). */
  globalQpsLimit: z.number().int().positive().default(1000),
  /** Calls of any API from one IP within 20 seconds before the IP is blocked. */
  ipLimitPer20s: z.number().int().positive().default(10_000),
  /** How long a blocked IP gets the block page (no errcode) for every call. */
  ipBlockSeconds: z.number().int().positive().default(300),
  /** APIs the app has no permission for: errcode 88 with sub_code "60011" (api host: 403 AccessTokenPermissionDenied). */
  deniedApis: z.array(z.enum(PERMISSIONED_APIS)).default([]),
});

export type DingConfig = z.output<typeof dingConfigSchema>;
export type DingConfigInput = z.input<typeof dingConfigSchema>;
