import type { PlatformDefinition } from '../contract.js';
import { SECRET_RULES, apiBaseUrlHint } from '../common/settings.js';
import { dingtalkCallbacks } from './callbacks.js';
import { DINGTALK_BASE_URL, DingtalkClient } from './client.js';
import { testDingtalkConnection } from './connection-test.js';
import { DingtalkObjectReader } from './reader.js';
import { DingtalkSource } from './source.js';
import { dingtalkSecretsSchema, dingtalkSettingsSchema } from './settings.js';

export type { DingtalkConnection } from './settings.js';
export { dingtalkSecretsSchema, dingtalkSettingsSchema };

const CONSOLE = 'DingTalk developer console (open-dev.dingtalk.com)';

/** DingTalk (钉钉): an internal app, read with its Client ID and Client Secret within its contact scope. */
export const dingtalk: PlatformDefinition<
  'dingtalk',
  typeof dingtalkSettingsSchema,
  typeof dingtalkSecretsSchema,
  DingtalkClient
> = {
  id: 'dingtalk',
  names: { zh: '钉钉', en: 'DingTalk' },
  mark: '钉',
  departmentOrder: 'ascending',
  // Links hold the userid (not the unionid, which stays on the link's data).
  userLinks: 'account',
  defaultApiBaseUrl: DINGTALK_BASE_URL,
  settings: dingtalkSettingsSchema,
  secrets: dingtalkSecretsSchema,
  fields: {
    corpId: {
      label: { zh: 'CorpID', en: 'CorpID' },
      hint: `Copy the CorpId from the ${CONSOLE} (it starts with "ding").`,
      flag: 'the CorpId, starts with "ding" (required)',
      flagValue: '<id>',
      placeholder: 'ding…',
    },
    agentId: {
      label: { zh: 'AgentId', en: 'AgentId' },
      hint: `Copy the AgentId from the ${CONSOLE} → (the app) → 基础信息 → 应用信息.`,
      flag: "the app's AgentId (required)",
      flagValue: '<n>',
    },
    clientId: {
      label: { zh: 'Client ID', en: 'Client ID' },
      help: { zh: '即原 AppKey', en: 'Formerly AppKey' },
      hint: `Copy the Client ID (AppKey) from the ${CONSOLE} → (the app) → 基础信息 → 凭证与基础信息.`,
      flag: "the app's Client ID (AppKey) (required)",
      flagValue: '<key>',
    },
    apiBaseUrl: {
      label: { zh: 'API 地址', en: 'API base URL' },
      help: {
        zh: '留空使用官方地址；须为 https，或本机上的模拟器。修改后须重新填写秘钥',
        en: 'Leave empty for the official host; https, or a simulator on this machine. Changing it needs the secret typed again',
      },
      place: 'advanced',
      hint: apiBaseUrlHint(DINGTALK_BASE_URL),
      flag: `the DingTalk API, e.g. a proxy or the simulator (default ${DINGTALK_BASE_URL})`,
      flagValue: '<url>',
    },
    clientSecret: {
      label: { zh: 'Client Secret', en: 'Client Secret' },
      hint: `Copy the Client Secret (AppSecret) from the ${CONSOLE} → (the app) → 基础信息 → 凭证与基础信息. ${SECRET_RULES}`,
      flag: "the app's Client Secret (AppSecret); - reads it from stdin (required)",
      flagValue: '<secret>',
    },
    callbackToken: {
      label: { zh: 'Token', en: 'Token' },
      hint: `Copy the 签名 Token from the ${CONSOLE} → (the app) → 开发配置 → 事件与回调.`,
      flag: 'the 事件订阅 签名 token (callbacks); - reads it from stdin',
      flagValue: '<token>',
      place: 'callback',
      removedBy: 'callback',
    },
    callbackAesKey: {
      label: { zh: '加密 aes_key', en: 'aes_key' },
      hint: `Copy the 加密 aes_key (43 letters and digits) from the ${CONSOLE} → (the app) → 开发配置 → 事件与回调.`,
      flag: 'the 事件订阅 加密 aes_key, 43 letters and digits; - reads it from stdin',
      flagValue: '<key>',
      place: 'callback',
      removedBy: 'callback',
    },
  },
  binding: { settings: ['apiBaseUrl', 'clientId'], secrets: ['clientSecret'] },
  listedSecret: 'clientSecret',

  client: (c, options) =>
    new DingtalkClient({
      clientId: c.settings.clientId,
      clientSecret: c.secrets.clientSecret,
      baseUrl: c.settings.apiBaseUrl,
      tokens: options.tokens,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.qpsLimit !== undefined ? { qpsLimit: options.qpsLimit } : {}),
    }),

  source(client) {
    const source = new DingtalkSource(client);
    return {
      connector: source,
      apiCalls: () => client.stats().calls,
      notes: () => {
        const tops = source.notes.unreadableTops;
        return tops.length > 0
          ? [
              {
                code: 'DINGTALK_TOPS_UNREADABLE',
                message: `department${tops.length > 1 ? 's' : ''} ${tops.join(', ')} of the contact scope could not be read: nobody was disabled or deleted`,
                hint: 'Check the contact scope (通讯录权限范围) in the DingTalk developer console, then sync again.',
                zh: {
                  message: `通讯录权限范围内的部门 ${tops.join('、')} 读取失败：没有停用或删除任何人`,
                  hint: '在钉钉开发者后台检查通讯录权限范围，然后重新同步。',
                },
              },
            ]
          : [];
      },
    };
  },

  objectReader: (client) => new DingtalkObjectReader(client),
  // DingTalk's event subscription encrypts for the app's AppKey (Client ID).
  callbackReceiverId: (c) => c.settings.clientId,
  callbacks: dingtalkCallbacks,
  testConnection: (c, options) => testDingtalkConnection(c, options),
};
