import { z } from 'zod';
import type { WecomConnection } from './settings.js';
import {
  checkTexts,
  result,
  type ConnectionCheck,
  type ConnectionTestOptions,
  type ConnectionTestResult,
} from '../common/connection-test.js';
import { TokenCache, WECOM_BASE_URL, WecomClient } from './client.js';
import { WecomError } from './errors.js';
import { agentGetSchema, departmentListSchema, userGetSchema, userSimpleListSchema } from './schemas.js';

export type { ConnectionTestResult };

const anyBody = z.object({}).loose();

/**
 * Proves a WeCom connection without changing anything: each check reports on its own, so one wrong setting does
 * not hide the others. Secrets never appear in a message (the client's errors are scrubbed of them).
 */
export async function testWecomConnection(
  connection: WecomConnection,
  options: ConnectionTestOptions & { tokens?: TokenCache } = {},
): Promise<ConnectionTestResult> {
  const { say, failed, tokenFailed } = checkTexts(
    {
      name: 'WeCom',
      nameZh: '企业微信',
      codePrefix: 'WECOM',
      defaultBaseUrl: WECOM_BASE_URL,
      tokenPath: '/cgi-bin/gettoken',
    },
    connection.settings.apiBaseUrl,
    options,
  );
  const corp = connection.settings.corpId;
  const tokenMessage = say(
    `the app secret of corp ${corp} gives an access_token`,
    `企业 ${corp} 的应用秘钥可以换取 access_token`,
  );
  const tokens = options.tokens ?? new TokenCache();
  const client = (secret: string) =>
    new WecomClient({
      corpId: connection.settings.corpId,
      secret,
      baseUrl: connection.settings.apiBaseUrl,
      tokens,
      maxRetries: 1,
      timeoutMs: options.timeoutMs ?? 8000,
    });
  const checks: ConnectionCheck[] = [];
  const app = client(connection.secrets.secret);

  // 1. The app secret gives a token.
  let tokenOk = false;
  try {
    await app.get('getcallbackip', {}, anyBody);
    tokenOk = true;
    checks.push({ name: 'token', ok: true, message: tokenMessage });
  } catch (err) {
    // getcallbackip may be refused while the token itself works, but only after gettoken gave a real token: an
    // error of gettoken itself (no answer, a page that is not WeCom's, a refusal) fails this check.
    if (
      err instanceof WecomError &&
      err.path !== 'gettoken' &&
      err.kind !== 'auth' &&
      err.kind !== 'config' &&
      err.errcode !== 60020
    ) {
      tokenOk = true;
      checks.push({ name: 'token', ok: true, message: tokenMessage });
    } else {
      checks.push(tokenFailed(err));
    }
  }

  if (tokenOk) {
    // 2. The app: its AgentId and visible range.
    let range: number[] = [];
    try {
      const agent = await app.get('agent/get', { agentid: connection.settings.agentId }, agentGetSchema);
      range = agent.allow_partys?.partyid ?? [];
      checks.push({
        name: 'app',
        ok: true,
        message: say(
          `app "${agent.name}" (AgentId ${agent.agentid}) is enabled; its visible range lists ${range.length === 0 ? 'no departments' : `department${range.length > 1 ? 's' : ''} ${range.join(', ')}`}`,
          `应用「${agent.name}」（AgentId ${agent.agentid}）已启用；可见范围${range.length === 0 ? '内没有部门' : `包含部门 ${range.join('、')}`}`,
        ),
      });
    } catch (err) {
      checks.push(failed('app', err));
    }

    // 3. Read access to the department tree.
    let tops: number[] = [];
    let departments = 0;
    try {
      const list = (await app.get('department/list', {}, departmentListSchema)).department;
      const ids = new Set(list.map((d) => d.id));
      tops = list.filter((d) => !ids.has(d.parentid)).map((d) => d.id);
      departments = list.length;
      checks.push(
        departments === 0
          ? {
              name: 'departments',
              ok: false,
              message: say('the app sees no department', '应用看不到任何部门'),
              hint: say(
                '企业微信管理后台 → 应用管理 → 应用 → 可见范围: add the departments orgsync should sync.',
                '企业微信管理后台 → 应用管理 → 应用 → 可见范围：加入 orgsync 要同步的部门。',
              ),
            }
          : {
              name: 'departments',
              ok: true,
              message: say(
                `the app reads ${departments.toLocaleString('en')} departments`,
                `应用可读取 ${departments.toLocaleString('en')} 个部门`,
              ),
            },
      );
    } catch (err) {
      checks.push(failed('departments', err));
    }

    // 4. Read access to members, and what the visible range holds.
    if (tops.length > 0) {
      try {
        const members = new Set<string>();
        for (const top of tops) {
          const list = await app.get('user/simplelist', { department_id: top, fetch_child: 1 }, userSimpleListSchema);
          for (const u of list.userlist) members.add(u.userid);
        }
        checks.push({
          name: 'members',
          ok: true,
          message: say(
            `app sees department${tops.length > 1 ? 's' : ''} ${tops.join(tops.length > 2 ? ', ' : ' and ')}, ${members.size.toLocaleString('en')} members`,
            `应用可见部门 ${tops.join('、')}，共 ${members.size.toLocaleString('en')} 名成员`,
          ),
        });
        // 4b. Without a contacts secret the sync reads with the app's, which WeCom gives no mobile or email when
        // the app was created after 2022-06-20: a limit on what is read (the sync keeps what is stored), a warning.
        const first = members.values().next();
        if (!connection.secrets.contactsSecret && !first.done) {
          try {
            const user = await app.get('user/get', { userid: first.value }, userGetSchema);
            checks.push(
              user.mobile === undefined && user.email === undefined
                ? {
                    name: 'fields',
                    ok: true,
                    level: 'warning',
                    message: say(
                      'mobiles and emails are withheld from this app (WeCom hides them from self-built apps created after 2022-06-20)',
                      '该应用读取不到手机号和邮箱（2022-06-20 之后创建的自建应用，企业微信不再返回这些字段）',
                    ),
                    hint: say(
                      "A sync works without them and keeps those already stored. To read them, add the 通讯录同步 Secret (contactsSecret) where the corp allows it to read from this IP, or import the admin console's member export.",
                      '同步照常进行，只是不带手机号和邮箱，已存的不会被清空。若要读取，可在企业允许该 IP 读取时配置通讯录同步秘钥（contactsSecret），或导入管理后台导出的成员表。',
                    ),
                  }
                : {
                    name: 'fields',
                    ok: true,
                    message: say('the app reads mobiles and emails', '应用可读取手机号和邮箱'),
                  },
            );
          } catch (err) {
            checks.push(failed('fields', err));
          }
        }
      } catch (err) {
        checks.push(failed('members', err));
      }
    }
  }

  // 5. The contacts-sync secret, if configured: a token, and whether writes are allowed (without writing).
  if (connection.secrets.contactsSecret) {
    const contacts = client(connection.secrets.contactsSecret);
    try {
      // An update of a department that cannot exist: allowed writes answer 60003, forbidden ones 48002 / 60011.
      await contacts.post('department/update', { id: 2_147_483_646 }, anyBody);
      checks.push({
        name: 'contacts secret',
        ok: true,
        message: say('the contacts sync secret may write contacts', '通讯录同步秘钥可以写入通讯录'),
      });
    } catch (err) {
      if (err instanceof WecomError && (err.errcode === 60003 || err.errcode === 60123)) {
        checks.push({
          name: 'contacts secret',
          ok: true,
          message: say(
            'the contacts sync secret gives a token and may write contacts',
            '通讯录同步秘钥可以换取 token，并可写入通讯录',
          ),
        });
      } else {
        checks.push(failed('contacts secret', err));
      }
    }
    try {
      await contacts.get('department/get', { id: 1 }, anyBody);
    } catch (err) {
      // From a new IP the contacts secret reads ids only: the sync still runs, without names and details (a limit).
      if (err instanceof WecomError && err.errcode === 48009)
        checks.push({ ...failed('contacts secret reads', err), ok: true, level: 'warning' });
    }
  }

  return result(checks);
}
