import { z } from 'zod';
import type { PlatformConnection } from '../contract.js';
import {
  agentIdSchema,
  apiBaseUrlSchema,
  callbackAesKeySchema,
  callbackTokenSchema,
  secretSchema,
  text,
} from '../common/settings.js';
import { DINGTALK_BASE_URL } from './client.js';

/** What a DingTalk connection holds: checked on every use, the secrets sealed at rest. */
export const dingtalkSettingsSchema = z.strictObject({
  corpId: text('text')
    .trim()
    .regex(/^ding[A-Za-z0-9]{2,60}$/, 'must be "ding" followed by letters and digits, up to 64 characters in all'),
  agentId: agentIdSchema,
  /** The app's Client ID (AppKey). */
  clientId: text('text')
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, "_" or "-"'),
  apiBaseUrl: apiBaseUrlSchema(DINGTALK_BASE_URL),
});

export const dingtalkSecretsSchema = z.strictObject({
  /** The app's Client Secret (AppSecret). */
  clientSecret: secretSchema,
  callbackToken: callbackTokenSchema.optional(),
  callbackAesKey: callbackAesKeySchema.optional(),
});

export type DingtalkSettings = z.output<typeof dingtalkSettingsSchema>;
export type DingtalkSecrets = z.output<typeof dingtalkSecretsSchema>;
export type DingtalkConnection = PlatformConnection<'dingtalk', DingtalkSettings, DingtalkSecrets>;
