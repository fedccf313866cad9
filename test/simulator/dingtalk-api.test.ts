import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DingUser } from '../../src/simulator/dingtalk/model.js';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import {
  childrenOf,
  membersOf,
  sorted,
  startDingtalk,
  widest,
  type DingtalkClient,
  type Directory,
} from './dingtalk-client.js';

/** The oapi host's token and read APIs: shapes, paging and errors, over HTTP. */

let sim: DingtalkSimulator;
let client: DingtalkClient;
let org: Directory;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
  org = await client.directory();
});

afterAll(async () => {
  await sim.close();
});

// ---------------------------------------------------------------------------------------------------------------

describe('gettoken', () => {
  it('answers access_token and expires_in 7200; within its life the same token comes back, its expiry extended', async () => {
    const first = await client.gettoken();
    expect(first).toMatchObject({ errcode: 0, errmsg: 'ok', expires_in: 7200 });
    expect(typeof first.access_token).toBe('string');
    // An hour later the same token comes back, and lives a full 7200 s from now.
    sim.ageTokens(3600_000);
    const again = await client.gettoken();
    expect(again.access_token).toBe(first.access_token);
    expect(again.expires_in).toBe(7200);
    sim.ageTokens(7000_000); // 7000 s after the extension: still alive only because it was extended
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: first.access_token })).errcode).toBe(
      0,
    );
  });

  it('after expiry: the old token answers 88 / sub_code 42001 on topapi and 42001 elsewhere; gettoken gives a new one', async () => {
    const old = (await client.gettoken()).access_token as string;
    sim.ageTokens(7201_000);
    const expired = await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: old });
    expect(expired).toMatchObject({ errcode: 88, sub_code: '42001' });
    expect(typeof expired.sub_msg).toBe('string');
    expect(typeof expired.request_id).toBe('string');
    expect((await client.get('auth/scopes', {}, { token: old })).errcode).toBe(42001);
    const fresh = await client.gettoken();
    expect(fresh.errcode).toBe(0);
    expect(fresh.access_token).not.toBe(old);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: fresh.access_token })).errcode).toBe(
      0,
    );
    client.forget();
  });

  it('an unknown token → 88 / sub_code 40014 on topapi, 40014 elsewhere; none → sub_code 40000 / 41001', async () => {
    expect(await client.oapi('topapi/v2/user/get', { userid: 'x' }, { token: 'not-a-token' })).toMatchObject({
      errcode: 88,
      sub_code: '40014',
    });
    expect((await client.get('auth/scopes', {}, { token: 'not-a-token' })).errcode).toBe(40014);
    expect(await client.oapi('topapi/v2/user/get', { userid: 'x' }, { token: null })).toMatchObject({
      errcode: 88,
      sub_code: '40000',
    });
    expect((await client.get('auth/scopes', {}, { token: null })).errcode).toBe(41001);
  });

  it('a wrong key or secret → 40096 (not wrapped in 88); a missing one → 40035', async () => {
    expect((await client.gettoken(sim.identity.clientId, 'wrong')).errcode).toBe(40096);
    expect((await client.gettoken('dingwrong', sim.identity.clientSecret)).errcode).toBe(40096);
    expect((await client.gettoken(null, sim.identity.clientSecret)).errcode).toBe(40035);
    expect((await client.gettoken(sim.identity.clientId, null)).errcode).toBe(40035);
  });

  it('tokenReuse off: every gettoken is a new token, and the earlier ones stay valid', async () => {
    await client.configure({ tokenReuse: false });
    try {
      const a = (await client.gettoken()).access_token as string;
      const b = (await client.gettoken()).access_token as string;
      expect(a).not.toBe(b);
      expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: a })).errcode).toBe(0);
    } finally {
      await client.configure({ tokenReuse: true });
    }
  });

  it('POST /__sim/tokens/revoke ends every token: 88 / 40014', async () => {
    const token = await client.token(true);
    const res = await client.control('POST', 'tokens/revoke');
    expect(res.status).toBe(200);
    expect(res.body.revoked).toBeGreaterThanOrEqual(1);
    expect(await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token })).toMatchObject({
      errcode: 88,
      sub_code: '40014',
    });
    expect((await client.token(true)) === token).toBe(false);
  });

  it('auth/scopes names the contact scope', async () => {
    const scopes = await client.get('auth/scopes');
    expect(scopes.errcode).toBe(0);
    expect(scopes.auth_org_scopes).toEqual({ authed_dept: [1], authed_user: [] });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('departments', () => {
  it('listsub: the direct children only, without order; the default is the root', async () => {
    const parent = org.departments.find((d) => childrenOf(org.departments, d.dept_id).length >= 2 && d.dept_id !== 1)!;
    const reply = await client.oapi('topapi/v2/department/listsub', { dept_id: parent.dept_id });
    expect(reply.errcode).toBe(0);
    const kids = childrenOf(org.departments, parent.dept_id);
    expect(sorted(reply.result.map((d: { dept_id: number }) => d.dept_id))).toEqual(sorted(kids.map((d) => d.dept_id)));
    for (const d of reply.result) {
      expect(d.parent_id).toBe(parent.dept_id);
      expect(d).not.toHaveProperty('order');
      expect(d).toMatchObject({ name: kids.find((k) => k.dept_id === d.dept_id)!.name });
      expect(Object.keys(d)).toEqual(
        expect.arrayContaining(['dept_id', 'name', 'parent_id', 'create_dept_group', 'auto_add_user']),
      );
    }
    // Smaller order first.
    const orders = reply.result.map((d: { dept_id: number }) => kids.find((k) => k.dept_id === d.dept_id)!.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    const root = await client.oapi('topapi/v2/department/listsub', {});
    expect(sorted(root.result.map((d: { dept_id: number }) => d.dept_id))).toEqual(
      sorted(childrenOf(org.departments, 1).map((d) => d.dept_id)),
    );
  });

  it('listsubid: the direct children ids; a leaf has none', async () => {
    const reply = await client.oapi('topapi/v2/department/listsubid', { dept_id: 1 });
    expect(sorted(reply.result.dept_id_list)).toEqual(sorted(childrenOf(org.departments, 1).map((d) => d.dept_id)));
    const leaf = org.departments.find((d) => childrenOf(org.departments, d.dept_id).length === 0)!;
    expect((await client.oapi('topapi/v2/department/listsubid', { dept_id: leaf.dept_id })).result).toEqual({
      dept_id_list: [],
    });
  });

  it('get: every field with order and dept_manager_userid_list; the root has no parent_id', async () => {
    const withManager = org.departments.find((d) => d.dept_id !== 1 && d.dept_manager_userid_list.length > 0)!;
    const reply = await client.oapi('topapi/v2/department/get', { dept_id: withManager.dept_id });
    expect(reply).toMatchObject({ errcode: 0, errmsg: 'ok', result: withManager });
    expect(reply.result).toEqual(withManager);
    expect(typeof reply.result.order).toBe('number');
    const root = (await client.oapi('topapi/v2/department/get', { dept_id: 1 })).result;
    expect(root).not.toHaveProperty('parent_id');
    // dept_id as a numeric string is taken too.
    expect(
      (await client.oapi('topapi/v2/department/get', { dept_id: String(withManager.dept_id) })).result.dept_id,
    ).toBe(withManager.dept_id);
  });

  it('an unknown department → 60003; a missing or bad dept_id → 400002', async () => {
    for (const path of [
      'topapi/v2/department/get',
      'topapi/v2/department/listsub',
      'topapi/v2/department/listsubid',
      'topapi/user/listid',
    ]) {
      expect((await client.oapi(path, { dept_id: 987654 })).errcode).toBe(60003);
    }
    expect((await client.oapi('topapi/v2/department/get', {})).errcode).toBe(400002);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 'two' })).errcode).toBe(400002);
    expect((await client.oapi('topapi/v2/department/get', '{not json')).errcode).toBe(400002);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('members', () => {
  it('the generated org has a department of more than 100 direct members to page through', () => {
    expect(widest(org).members.length).toBeGreaterThan(100);
  });

  it('user/listid: every direct member id, no recursion', async () => {
    const { dept, members } = widest(org);
    const reply = await client.oapi('topapi/user/listid', { dept_id: dept.dept_id });
    expect(reply.errcode).toBe(0);
    expect(reply.result.userid_list).toEqual(members.map((u) => u.userid));
    const root = await client.oapi('topapi/user/listid', { dept_id: 1 });
    expect(sorted(root.result.userid_list)).toEqual(sorted(membersOf(org.users, 1).map((u) => u.userid)));
  });

  it('user/listsimple pages with a numeric cursor and has_more, {userid, name} only', async () => {
    const { dept, members } = widest(org);
    const seen: Array<{ userid: string; name: string }> = [];
    let cursor = 0;
    let pages = 0;
    for (;;) {
      const reply = await client.oapi('topapi/user/listsimple', { dept_id: dept.dept_id, cursor, size: 100 });
      expect(reply.errcode).toBe(0);
      pages++;
      seen.push(...reply.result.list);
      if (!reply.result.has_more) {
        expect(reply.result).not.toHaveProperty('next_cursor');
        break;
      }
      expect(typeof reply.result.next_cursor).toBe('number');
      cursor = reply.result.next_cursor;
    }
    expect(pages).toBe(Math.ceil(members.length / 100));
    expect(seen).toEqual(members.map((u) => ({ userid: u.userid, name: u.name })));
  });

  it('v2/user/list pages across a >100-member department; each item is the user as a member of THIS department', async () => {
    const { dept, members } = widest(org);
    const list: any[] = [];
    let cursor = 0;
    let hasMore = true;
    while (hasMore) {
      const reply = await client.oapi('topapi/v2/user/list', { dept_id: dept.dept_id, cursor, size: 100 });
      expect(reply.errcode).toBe(0);
      expect(reply.result.list.length).toBeLessThanOrEqual(100);
      list.push(...reply.result.list);
      hasMore = reply.result.has_more;
      if (hasMore) cursor = reply.result.next_cursor;
    }
    expect(list.map((u) => u.userid)).toEqual(members.map((u) => u.userid));
    for (const item of list) {
      const truth = members.find((u) => u.userid === item.userid)!;
      expect(item).toMatchObject({
        unionid: truth.unionid,
        name: truth.name,
        dept_id_list: truth.dept_id_list,
        active: truth.active,
      });
      expect(item.leader).toBe(truth.leader_in_dept.find((l) => l.dept_id === dept.dept_id)!.leader);
      expect(item.dept_order).toBe(truth.dept_order_list.find((o) => o.dept_id === dept.dept_id)!.order);
      expect(item).not.toHaveProperty('leader_in_dept');
      expect(item).not.toHaveProperty('dept_order_list');
      // The default app lacks the mobile / email permission.
      expect(item).not.toHaveProperty('mobile');
      expect(item).not.toHaveProperty('email');
    }
  });

  it('a leader of one of several departments is leader only in that one', async () => {
    const u = org.users.find(
      (x) =>
        x.dept_id_list.length > 1 && x.leader_in_dept.some((l) => l.leader) && x.leader_in_dept.some((l) => !l.leader),
    )!;
    expect(u).toBeDefined();
    for (const { dept_id, leader } of u.leader_in_dept) {
      const ids = await client.oapi('topapi/user/listid', { dept_id });
      const all = ids.result.userid_list as string[];
      const index = all.indexOf(u.userid);
      const cursor = Math.floor(index / 100) * 100;
      const page = await client.oapi('topapi/v2/user/list', { dept_id, cursor, size: 100 });
      expect(page.result.list.find((x: { userid: string }) => x.userid === u.userid).leader).toBe(leader);
    }
  });

  it('size over 100 → 400002; size 0, a negative or missing cursor → 400002; a cursor past the end → an empty last page', async () => {
    const { dept, members } = widest(org);
    for (const path of ['topapi/v2/user/list', 'topapi/user/listsimple']) {
      expect((await client.oapi(path, { dept_id: dept.dept_id, cursor: 0, size: 101 })).errcode).toBe(400002);
      expect((await client.oapi(path, { dept_id: dept.dept_id, cursor: 0, size: 0 })).errcode).toBe(400002);
      expect((await client.oapi(path, { dept_id: dept.dept_id, cursor: -1, size: 10 })).errcode).toBe(400002);
      expect((await client.oapi(path, { dept_id: dept.dept_id, size: 10 })).errcode).toBe(400002);
      expect((await client.oapi(path, { dept_id: 987654, cursor: 0, size: 10 })).errcode).toBe(60003);
      const end = await client.oapi(path, { dept_id: dept.dept_id, cursor: members.length + 5, size: 10 });
      expect(end.result).toEqual({ has_more: false, list: [] });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('users', () => {
  it('v2/user/get: the list fields plus leader_in_dept and dept_order_list, exactly the directory', async () => {
    await client.configure({ sensitiveFields: 'returned' });
    try {
      const u = org.users.find((x) => x.dept_id_list.length > 1)!;
      const reply = await client.oapi('topapi/v2/user/get', { userid: u.userid });
      expect(reply.errcode).toBe(0);
      expect(reply.result).toEqual(u);
      expect(reply.result.leader_in_dept).toEqual(
        u.dept_id_list.map((d) => ({ dept_id: d, leader: expect.any(Boolean) })),
      );
      expect(reply.result.dept_order_list.map((o: { dept_id: number }) => o.dept_id)).toEqual(u.dept_id_list);
    } finally {
      await client.configure({ sensitiveFields: 'withheld' });
    }
  });

  it('an unknown userid → 60121; a missing one → 400002', async () => {
    expect((await client.oapi('topapi/v2/user/get', { userid: 'nobody-here' })).errcode).toBe(60121);
    expect((await client.oapi('topapi/v2/user/get', {})).errcode).toBe(400002);
  });

  it('getbyunionid: the userid and contact_type 0; a unionid of no member → 60121', async () => {
    const u = org.users[3] as DingUser;
    const reply = await client.oapi('topapi/user/getbyunionid', { unionid: u.unionid });
    expect(reply).toMatchObject({ errcode: 0, result: { userid: u.userid, contact_type: 0 } });
    expect((await client.oapi('topapi/user/getbyunionid', { unionid: 'zzzzNotAMemberiE' })).errcode).toBe(60121);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the protocol', () => {
  it('success is HTTP 200 {errcode 0, errmsg "ok", result, request_id}; so is every error', async () => {
    const ok = await client.oapiResponse('topapi/v2/department/get', { dept_id: 1 });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['errcode', 'errmsg', 'result', 'request_id']);
    const failed = await client.oapiResponse('topapi/v2/user/get', { userid: 'nobody-here' });
    expect(failed.status).toBe(200);
    expect(await failed.json()).toMatchObject({
      errcode: 60121,
      errmsg: expect.stringContaining('找不到该用户'),
      request_id: expect.any(String),
    });
  });

  it('a GET to a POST API → 43002; an unknown topapi path → errcode 22 naming the ApiName; another unknown path → 404', async () => {
    const token = await client.token();
    expect((await client.get('topapi/v2/user/get', { userid: 'x' }, { token })).errcode).toBe(43002);
    expect(await client.oapi('topapi/v2/user/nothing', {})).toMatchObject({
      errcode: 22,
      sub_msg: expect.stringContaining('dingtalk.oapi.v2.user.nothing'),
    });
    const res = await fetch(new URL('/nowhere', client.url));
    expect(res.status).toBe(404);
    expect(((await res.json()) as Record<string, unknown>).errcode).toBe(404);
  });
});
