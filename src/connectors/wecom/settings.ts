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
import { WECOM_BASE_URL } from './client.js';

/** What a WeCom connection holds: checked on every use, the secrets sealed at rest. */
export const wecomSettingsSchema = z.strictObject({
  corpId: text('text')
    .trim()
    .regex(
      /^[wW][wWxX][A-Za-z0-9]{2,62}$/,
      'must be "ww" or "wx" followed by letters and digits, 4-64 characters in all',
    ),
  agentId: agentIdSchema,
  apiBaseUrl: apiBaseUrlSchema(WECOM_BASE_URL),
});

export const wecomSecretsSchema = z.strictObject({
  /** The self-built app's Secret. */
  secret: secretSchema,
  /** The 通讯录同步 (contacts sync) Secret: needed to list every userid and to write contacts. */
  contactsSecret: secretSchema.optional(),
  callbackToken: callbackTokenSchema.optional(),
  callbackAesKey: callbackAesKeySchema.optional(),
});

export type WecomSettings = z.output<typeof wecomSettingsSchema>;
export type WecomSecrets = z.output<typeof wecomSecretsSchema>;
export type WecomConnection = PlatformConnection<'wecom', WecomSettings, WecomSecrets>;
