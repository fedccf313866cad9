import type { DingtalkConnection } from './settings.js';
import {
  checkTexts,
  result,
  type ConnectionCheck,
  type ConnectionTestOptions,
  type ConnectionTestResult,
} from '../common/connection-test.js';
import { TokenCache } from '../common/token-cache.js';
import { DINGTALK_BASE_URL, DingtalkClient } from './client.js';
import { DINGTALK_SCOPES, DingtalkError } from './errors.js';
import { authScopesSchema, departmentGetSchema, listsubSchema, userListSchema } from './schemas.js';

/** Departments a connection test walks at most (to count what the app sees) before it says "at least". */
const WALK_BUDGET = 20;

const CONSOLE = '钉钉开发者后台 → 应用开发 → 企业内部应用 → (the app)';
const CONSOLE_ZH = '钉钉开发者后台 → 应用开发 → 企业内部应用 →（该应用）';

const count = (n: number, what: string): string => `${n.toLocaleString('en')} ${what}${n === 1 ? '' : 's'}`;

/**
 * Proves a DingTalk connection without changing anything, each check on its own so one wrong setting does not hide
 * the others: the credentials give a token, the IP whitelist lets orgsync in, the app is published and authorized,
 * the contact scope, read access to the department tree and to members (with counts of what the app sees), and
 * the 个人手机号信息 permission. Secrets never appear in a message (the client's errors are scrubbed of them).
 */
export async function testDingtalkConnection(
  connection: DingtalkConnection,
  options: ConnectionTestOptions & { tokens?: TokenCache; qpsLimit?: number } = {},
): Promise<ConnectionTestResult> {
  const { say, failed, tokenFailed } = checkTexts(
    {
      name: 'DingTalk',
      nameZh: '钉钉',
      codePrefix: 'DINGTALK',
      defaultBaseUrl: DINGTALK_BASE_URL,
      tokenPath: '/gettoken',
    },
    connection.settings.apiBaseUrl,
    options,
  );
  const tokenOk = (): ConnectionCheck => ({
    name: 'token',
    ok: true,
    message: say(
      `the Client ID ${settings.clientId} and its Client Secret give an access_token`,
      `Client ID ${settings.clientId} 及其 Client Secret 可以换取 access_token`,
    ),
  });
  const ipOk = (): ConnectionCheck => ({
    name: 'ip whitelist',
    ok: true,
    message: say(
      "DingTalk accepts calls from orgsync's outgoing IP (服务器出口IP)",
      '钉钉接受来自 orgsync 出口 IP 的调用（服务器出口IP）',
    ),
  });
  const appOk = (): ConnectionCheck => ({
    name: 'app',
    ok: true,
    message: say('the app is published and authorized in its org', '应用已发布，并已在所属组织授权'),
  });
  const { settings } = connection;
  const app = new DingtalkClient({
    clientId: settings.clientId,
    clientSecret: connection.secrets.clientSecret,
    baseUrl: settings.apiBaseUrl,
    tokens: options.tokens ?? new TokenCache(),
    maxRetries: 1,
    timeoutMs: options.timeoutMs ?? 8000,
    ...(options.qpsLimit !== undefined ? { qpsLimit: options.qpsLimit } : {}),
  });
  const checks: ConnectionCheck[] = [];

  // 1-3. A token, through the IP whitelist, for a published app: auth/scopes needs all three and reads the scope.
  let scope: { depts: number[]; fields: string[] } | undefined;
  try {
    const s = await app.get('auth/scopes', {}, authScopesSchema);
    scope = { depts: [...new Set(s.auth_org_scopes.authed_dept)], fields: s.auth_user_field };
  } catch (err) {
    const e = err instanceof DingtalkError ? err : undefined;
    if (e?.code === 'DINGTALK_UNTRUSTED_IP') {
      if (e.path !== 'gettoken') checks.push(tokenOk());
      checks.push(failed('ip whitelist', err));
    } else if (e?.code === 'DINGTALK_APP_NOT_AUTHORIZED') {
      checks.push(tokenOk(), ipOk(), failed('app', err));
    } else if (e && e.path !== 'gettoken' && e.kind !== 'auth') {
      // The token works; only the scope could not be read.
      checks.push(tokenOk(), ipOk(), appOk(), failed('contact scope', err));
    } else {
      checks.push(tokenFailed(err));
    }
    return result(checks);
  }
  checks.push(tokenOk(), ipOk(), appOk());

  const tops = scope.depts.includes(1) ? [1] : scope.depts;
  if (tops.length === 0) {
    checks.push({
      name: 'contact scope',
      ok: false,
      message: say('the contact scope (通讯录权限范围) holds no department', '通讯录权限范围内没有任何部门'),
      hint: say(
        `${CONSOLE} → 权限管理 → 通讯录权限范围: choose 全部员工, or the departments orgsync should sync.`,
        `${CONSOLE_ZH} → 权限管理 → 通讯录权限范围：选择「全部员工」，或 orgsync 要同步的部门。`,
      ),
    });
    return result(checks);
  }
  checks.push({
    name: 'contact scope',
    ok: true,
    message: tops.includes(1)
      ? say('the contact scope is the whole org (department 1)', '通讯录权限范围是整个组织（部门 1）')
      : say(
          `the contact scope is department${tops.length > 1 ? 's' : ''} ${tops.join(', ')}`,
          `通讯录权限范围是部门 ${tops.join('、')}`,
        ),
  });

  // 4. The department tree: the tops, then a walk of at most WALK_BUDGET departments to count what is there.
  const walked: number[] = [];
  let departmentsOk = true;
  try {
    const names = await Promise.all(
      tops.map(
        async (id) => (await app.post('topapi/v2/department/get', { dept_id: id }, departmentGetSchema)).result.name,
      ),
    );
    const queue = [...tops];
    let found = tops.length;
    while (queue.length > 0 && walked.length < WALK_BUDGET) {
      const batch = queue.splice(0, WALK_BUDGET - walked.length);
      const children = await Promise.all(
        batch.map(
          async (id) => (await app.post('topapi/v2/department/listsub', { dept_id: id }, listsubSchema)).result,
        ),
      );
      walked.push(...batch);
      for (const list of children) {
        found += list.length;
        queue.push(...list.map((c) => c.dept_id));
      }
    }
    const all = queue.length === 0;
    checks.push({
      name: 'departments',
      ok: true,
      message: say(
        `the app reads ${tops.map((id, i) => `department ${id} 「${names[i]}」`).join(', ')} and ${all ? '' : 'at least '}${count(found, 'department')} in all`,
        `应用可读取${tops.map((id, i) => `部门 ${id}「${names[i]}」`).join('、')}，共${all ? ' ' : '至少 '}${found.toLocaleString('en')} 个部门`,
      ),
    });
  } catch (err) {
    departmentsOk = false;
    checks.push(failed('departments', err));
  }

  // 5-6. Members of the departments walked (one page each), and whether mobiles come with them.
  if (departmentsOk) {
    try {
      const pages = await Promise.all(
        walked.map(
          async (id) =>
            (await app.post('topapi/v2/user/list', { dept_id: id, cursor: 0, size: 100 }, userListSchema)).result,
        ),
      );
      const people = new Map<string, boolean>();
      for (const page of pages) for (const u of page.list) people.set(u.userid, u.mobile !== undefined);
      const more = pages.some((p) => p.has_more);
      checks.push({
        name: 'members',
        ok: true,
        message: say(
          `the app reads members: ${count(people.size, 'member')} in the first ${count(walked.length, 'department')}${more ? ' (more on further pages)' : ''}`,
          `应用可读取成员：前 ${walked.length.toLocaleString('en')} 个部门中有 ${people.size.toLocaleString('en')} 名${more ? '（后续分页还有更多）' : ''}`,
        ),
      });
      const withMobile = [...people.values()].filter(Boolean).length;
      const fieldSaysNo = scope.fields.length > 0 && !scope.fields.includes('mobile');
      if (people.size > 0 ? withMobile === 0 : fieldSaysNo) {
        // A limit, not a failure: a sync works, without mobiles and emails.
        checks.push({
          name: 'mobile',
          ok: true,
          level: 'warning',
          message: say(
            `mobiles and emails are withheld: the app lacks the ${DINGTALK_SCOPES.mobile} permission`,
            `手机号和邮箱未返回：应用缺少「${DINGTALK_SCOPES.mobile}」权限`,
          ),
          hint: say(
            `Grant ${DINGTALK_SCOPES.mobile} at ${CONSOLE} → 权限管理. Until then a sync works without mobiles and emails and keeps those already stored.`,
            `在 ${CONSOLE_ZH} → 权限管理 中开通「${DINGTALK_SCOPES.mobile}」。在此之前同步照常进行，只是不带手机号和邮箱，已存的不会被清空。`,
          ),
        });
      } else {
        checks.push({
          name: 'mobile',
          ok: true,
          message: say(
            `the app reads mobiles (${DINGTALK_SCOPES.mobile})`,
            `应用可读取手机号（${DINGTALK_SCOPES.mobile}）`,
          ),
        });
      }
    } catch (err) {
      checks.push(failed('members', err));
    }
  }
  return result(checks);
}
