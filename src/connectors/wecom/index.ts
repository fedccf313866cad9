import type { ConnectionInputOf, PlatformDefinition } from '../contract.js';
import { SECRET_RULES, apiBaseUrlHint } from '../common/settings.js';
import { wecomCallbacks } from './callbacks.js';
import { WECOM_BASE_URL, WecomClient } from './client.js';
import { testWecomConnection } from './connection-test.js';
import { WecomExportSource } from './export-source.js';
import { WecomObjectReader } from './reader.js';
import { WecomSource } from './source.js';
import { wecomSecretsSchema, wecomSettingsSchema } from './settings.js';

export type { WecomConnection } from './settings.js';
export { wecomSecretsSchema, wecomSettingsSchema };
export type WecomConnectionInput = ConnectionInputOf<typeof wecom>;

const CONSOLE = 'WeCom admin console (work.weixin.qq.com)';

/** WeCom (企业微信): a self-built app, read with its Secret or the contacts-sync Secret. */
export const wecom: PlatformDefinition<'wecom', typeof wecomSettingsSchema, typeof wecomSecretsSchema, WecomClient> = {
  id: 'wecom',
  names: { zh: '企业微信', en: 'WeCom' },
  mark: '企',
  departmentOrder: 'descending',
  // Links hold the userid (renames move the link), the 账号 of the admin console's export.
  userLinks: 'account',
  defaultApiBaseUrl: WECOM_BASE_URL,
  settings: wecomSettingsSchema,
  secrets: wecomSecretsSchema,
  fields: {
    corpId: {
      label: { zh: '企业ID', en: 'Corp ID' },
      help: {
        zh: '企业微信管理后台 → 我的企业 → 企业信息 → 企业ID',
        en: 'WeCom admin console → My company → Company info → Corp ID',
      },
      hint: `Copy the 企业ID from the ${CONSOLE} → 我的企业 → 企业信息 → 企业ID (it starts with "ww").`,
      flag: '企业ID, starts with "ww" (required)',
      flagValue: '<id>',
      placeholder: 'ww…',
    },
    agentId: {
      label: { zh: '应用ID (AgentId)', en: 'AgentId' },
      help: { zh: '应用管理 → 自建应用 → AgentId', en: 'App management → Self-built app → AgentId' },
      hint: `Copy the AgentId of the self-built app: ${CONSOLE} → 应用管理 → 应用 → (the app) → AgentId.`,
      flag: "the self-built app's AgentId (required)",
      flagValue: '<n>',
      placeholder: '1000002',
    },
    apiBaseUrl: {
      label: { zh: 'API 地址', en: 'API base URL' },
      help: {
        zh: '留空使用官方地址；须为 https，或本机上的模拟器。修改后须重新填写秘钥',
        en: 'Leave empty for the official host; https, or a simulator on this machine. Changing it needs the secret typed again',
      },
      place: 'advanced',
      hint: apiBaseUrlHint(WECOM_BASE_URL),
      flag: `the WeCom API, e.g. a proxy or the simulator (default ${WECOM_BASE_URL})`,
      flagValue: '<url>',
    },
    secret: {
      label: { zh: '应用秘钥 (Secret)', en: 'App Secret' },
      hint: `Copy the app's Secret: ${CONSOLE} → 应用管理 → 应用 → (the app) → Secret (查看). ${SECRET_RULES}`,
      flag: "the app's Secret; - reads it from stdin (required)",
      flagValue: '<secret>',
    },
    contactsSecret: {
      label: { zh: '通讯录同步秘钥', en: 'Contacts sync Secret' },
      help: { zh: '可选：管理工具 → 通讯录同步 → Secret', en: 'Optional: Management tools → Contacts sync → Secret' },
      hint: `Copy the contacts-sync Secret: ${CONSOLE} → 管理工具 → 通讯录同步 → Secret. ${SECRET_RULES}`,
      flag: 'the 通讯录同步 Secret; - reads it from stdin',
      flagValue: '<secret>',
      removedBy: 'contacts-secret',
    },
    callbackToken: {
      label: { zh: 'Token', en: 'Token' },
      hint: `Copy the Token from ${CONSOLE} → 管理工具 → 通讯录同步 → 设置接收事件服务器 (or the app's 接收消息 → API接收), or let it generate one there.`,
      flag: 'the 接收事件服务器 Token (callbacks); - reads it from stdin',
      flagValue: '<token>',
      place: 'callback',
      removedBy: 'callback',
    },
    callbackAesKey: {
      label: { zh: 'EncodingAESKey', en: 'EncodingAESKey' },
      hint: `Copy the EncodingAESKey (43 letters and digits) from the same page of the ${CONSOLE}.`,
      flag: 'the 接收事件服务器 EncodingAESKey, 43 letters and digits; - reads it from stdin',
      flagValue: '<key>',
      place: 'callback',
      removedBy: 'callback',
    },
  },
  binding: { settings: ['apiBaseUrl', 'corpId'], secrets: ['secret', 'contactsSecret'] },
  listedSecret: 'secret',

  // The contacts-sync secret reads when it is configured (it sees every department and field); otherwise the app
  // secret, within the app's visible range.
  client: (c, options) =>
    new WecomClient({
      corpId: c.settings.corpId,
      secret: c.secrets.contactsSecret ?? c.secrets.secret,
      baseUrl: c.settings.apiBaseUrl,
      tokens: options.tokens,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    }),

  source(client) {
    const source = new WecomSource(client);
    return {
      connector: source,
      apiCalls: () => client.stats().calls,
      notes: () =>
        source.notes.idsOnly
          ? [
              {
                code: 'WECOM_IDS_ONLY',
                message:
                  'the contacts secret may read only ids from this IP (48009): memberships and leavers were synced, names and details were not',
                hint: 'Import the contacts export from the WeCom admin console for details, or sync with the app secret.',
                zh: {
                  message: '从这个 IP，通讯录同步秘钥只能读取 ID（48009）：已同步部门归属和离职，姓名等详情未同步',
                  hint: '导入企业微信管理后台导出的通讯录以获取详情，或改用应用秘钥同步。',
                },
              },
            ]
          : [],
    };
  },

  objectReader: (client) => new WecomObjectReader(client),
  // WeCom encrypts callbacks for the CorpID.
  callbackReceiverId: (c) => c.settings.corpId,
  callbacks: wecomCallbacks,
  testConnection: (c, options) => testWecomConnection(c, options),
  // 通讯录 → 批量导入/导出 → 导出通讯录: the file that holds what the API no longer gives new apps.
  exportReader: { source: (file, options) => new WecomExportSource(file, options) },
};
