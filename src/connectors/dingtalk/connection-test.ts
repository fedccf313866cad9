import type { DingtalkConnection } from '../../connections/connections.js';
import { failedCheck, result, type ConnectionCheck, type ConnectionTestResult } from '../common/connection-test.js';
import { TokenCache } from '../common/token-cache.js';
import { DingtalkClient } from './client.js';
import { DINGTALK_SCOPES, DingtalkError } from './errors.js';
import { authScopesSchema, departmentGetSchema, listsubSchema, userListSchema } from './schemas.js';

/** Departments a connection test walks at most (to count what the app sees) before it says "at least". */
const WALK_BUDGET = 20;

const CONSOLE = '钉钉开发者后台 → 应用开发 → 企业内部应用 → (the app)';

const count = (n: number, what: string): string => `${n.toLocaleString('en')} ${what}${n === 1 ? '' : 's'}`;

/**
 * Proves a DingTalk connection without changing anything, each check on its own so one wrong setting does not hide
 * the others: the credentials give a token, the IP whitelist lets orgsync in, the app is published and authorized,
 * the contact scope, read access to the department tree and to members (with counts of what the app sees), and
 * the 个人手机号信息 permission. Secrets never appear in a message (the client's errors are scrubbed of them).
 */
export async function testDingtalkConnection(
  connection: DingtalkConnection,
  options: { tokens?: TokenCache; timeoutMs?: number; qpsLimit?: number } = {},
): Promise<ConnectionTestResult> {
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
      if (e.path !== 'gettoken') checks.push(tokenOk(connection));
      checks.push(failedCheck('ip whitelist', err));
    } else if (e?.code === 'DINGTALK_APP_NOT_AUTHORIZED') {
      checks.push(tokenOk(connection), ipOk(), failedCheck('app', err));
    } else if (e && e.path !== 'gettoken' && e.kind !== 'auth') {
      // The token works; only the scope could not be read.
      checks.push(tokenOk(connection), ipOk(), appOk(), failedCheck('contact scope', err));
    } else {
      checks.push(failedCheck('token', err));
    }
    return result(checks);
  }
  checks.push(tokenOk(connection), ipOk(), appOk());

  const tops = scope.depts.includes(1) ? [1] : scope.depts;
  if (tops.length === 0) {
    checks.push({
      name: 'contact scope',
      ok: false,
      message: 'the contact scope (通讯录权限范围) holds no department',
      hint: `${CONSOLE} → 权限管理 → 通讯录权限范围: choose 全部员工, or the departments orgsync should sync.`,
    });
    return result(checks);
  }
  checks.push({
    name: 'contact scope',
    ok: true,
    message: tops.includes(1) ? 'the contact scope is the whole org (department 1)' : `the contact scope is department${tops.length > 1 ? 's' : ''} ${tops.join(', ')}`,
  });

  // 4. The department tree: the tops, then a walk of at most WALK_BUDGET departments to count what is there.
  const walked: number[] = [];
  let departmentsOk = true;
  try {
    const names = await Promise.all(tops.map(async (id) => (await app.post('topapi/v2/department/get', { dept_id: id }, departmentGetSchema)).result.name));
    const queue = [...tops];
    let found = tops.length;
    while (queue.length > 0 && walked.length < WALK_BUDGET) {
      const batch = queue.splice(0, WALK_BUDGET - walked.length);
      const children = await Promise.all(batch.map(async (id) => (await app.post('topapi/v2/department/listsub', { dept_id: id }, listsubSchema)).result));
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
      message: `the app reads ${tops.map((id, i) => `department ${id} 「${names[i]}」`).join(', ')} and ${all ? '' : 'at least '}${count(found, 'department')} in all`,
    });
  } catch (err) {
    departmentsOk = false;
    checks.push(failedCheck('departments', err));
  }

  // 5-6. Members of the departments walked (one page each), and whether mobiles come with them.
  if (departmentsOk) {
    try {
      const pages = await Promise.all(walked.map(async (id) => (await app.post('topapi/v2/user/list', { dept_id: id, cursor: 0, size: 100 }, userListSchema)).result));
      const people = new Map<string, boolean>();
      for (const page of pages) for (const u of page.list) people.set(u.userid, u.mobile !== undefined);
      const more = pages.some((p) => p.has_more);
      checks.push({ name: 'members', ok: true, message: `the app reads members: ${count(people.size, 'member')} in the first ${count(walked.length, 'department')}${more ? ' (more on further pages)' : ''}` });
      const withMobile = [...people.values()].filter(Boolean).length;
      const fieldSaysNo = scope.fields.length > 0 && !scope.fields.includes('mobile');
      if (people.size > 0 ? withMobile === 0 : fieldSaysNo) {
        checks.push({
          name: 'mobile',
          ok: false,
          message: `mobiles and emails are withheld: the app lacks the ${DINGTALK_SCOPES.mobile} permission`,
          hint: `Grant ${DINGTALK_SCOPES.mobile} at ${CONSOLE} → 权限管理. Until then a sync works without mobiles and emails and keeps those already stored.`,
        });
      } else {
        checks.push({ name: 'mobile', ok: true, message: `the app reads mobiles (${DINGTALK_SCOPES.mobile})` });
      }
    } catch (err) {
      checks.push(failedCheck('members', err));
    }
  }
  return result(checks);
}

function tokenOk(connection: DingtalkConnection): ConnectionCheck {
  return { name: 'token', ok: true, message: `the Client ID ${connection.settings.clientId} and its Client Secret give an access_token` };
}

function ipOk(): ConnectionCheck {
  return { name: 'ip whitelist', ok: true, message: "DingTalk accepts calls from orgsync's outgoing IP (服务器出口IP)" };
}

function appOk(): ConnectionCheck {
  return { name: 'app', ok: true, message: 'the app is published and authorized in its org' };
}
