import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimOrg, WecomUser } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { childrenOf, membersOf, startSimulator, type Reply, type WecomClient } from './wecom-client.js';

/** The write side of the WeCom contract (contacts secret only), with the platform's rules and errcodes. */

let sim: WecomSimulator;
let client: WecomClient;
let org: SimOrg;

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
  org = await client.directory();
});

afterAll(async () => {
  await sim.close();
});

const write = (path: string, body: unknown): Promise<Reply> => client.post(path, body, { as: 'contacts' });
const read = (path: string, query: Record<string, string | number>): Promise<Reply> =>
  client.get(path, query, { as: 'contacts' });

let serial = 0;
/** A fresh, valid user to create. */
function newUser(extra: Record<string, unknown> = {}): Record<string, unknown> {
  serial++;
  return {
    userid: `w.user${serial}`,
    name: `测试${serial}`,
    mobile: `+86 1990000${String(serial).padStart(4, '0')}`,
    department: [1],
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe('department writes', () => {
  it('department/create makes a department; department/get and /__sim/directory show it', async () => {
    const parent = org.departments.find((d) => d.id !== 1) as { id: number };
    const reply = await write('department/create', {
      name: '新建部门A',
      name_en: 'New A',
      parentid: parent.id,
      order: 42,
    });
    expect(reply).toEqual({ errcode: 0, errmsg: 'created', id: expect.any(Number) });
    const id = reply.id as number;
    expect(org.departments.some((d) => d.id === id)).toBe(false);
    const got = await read('department/get', { id });
    expect(got.department).toEqual({
      id,
      name: '新建部门A',
      name_en: 'New A',
      parentid: parent.id,
      order: 42,
      department_leader: [],
    });
    expect((await client.directory()).departments.find((d) => d.id === id)).toEqual(got.department);
  });

  it('an explicit unused id is kept; one in use is 60008; an id ≤ 1 is 60123', async () => {
    const created = await write('department/create', { name: '指定编号', parentid: 1, id: 5000 });
    expect(created).toEqual({ errcode: 0, errmsg: 'created', id: 5000 });
    expect((await write('department/create', { name: '编号已用', parentid: 1, id: 2 })).errcode).toBe(60008);
    expect((await write('department/create', { name: '编号一', parentid: 1, id: 1 })).errcode).toBe(60123);
    expect((await write('department/create', { name: '编号零', parentid: 1, id: 0 })).errcode).toBe(60123);
    expect((await write('department/create', { name: '编号负', parentid: 1, id: -4 })).errcode).toBe(60123);
  });

  it('the parent must exist → 60004', async () => {
    const reply = await write('department/create', { name: '孤儿部门', parentid: 999_999 });
    expect(reply.errcode).toBe(60004);
    expect(reply.id).toBeUndefined();
  });

  it('sibling names are unique → 60008; the same name under another parent is fine', async () => {
    const sibling = childrenOf(org.departments, 1)[0]!;
    expect((await write('department/create', { name: sibling.name, parentid: 1 })).errcode).toBe(60008);
    const elsewhere = childrenOf(org.departments, 1)[1]!;
    expect(childrenOf(org.departments, elsewhere.id).some((d) => d.name === sibling.name)).toBe(false);
    expect((await write('department/create', { name: sibling.name, parentid: elsewhere.id })).errcode).toBe(0);
  });

  it('at most 15 levels → 81002', async () => {
    // The root is level 1: 14 more make a chain 15 deep.
    let parent = 1;
    for (let level = 2; level <= 15; level++) {
      const reply = await write('department/create', { name: `层级${level}`, parentid: parent });
      expect(reply.errcode).toBe(0);
      parent = reply.id as number;
    }
    const deep = await write('department/create', { name: '第十六层', parentid: parent });
    expect(deep.errcode).toBe(81002);
    // Moving a two-level subtree under level 14 would make 16 levels, too.
    const top = await write('department/create', { name: '两层顶', parentid: 1 });
    expect((await write('department/create', { name: '两层底', parentid: top.id })).errcode).toBe(0);
    const level14 = (await client.directory()).departments.find((d) => d.name === '层级14')!;
    expect((await write('department/update', { id: top.id, parentid: level14.id })).errcode).toBe(81002);
    expect((await write('department/update', { id: top.id, parentid: parent })).errcode).toBe(81002);
  });

  it.each(['\\', ':', '*', '?', '"', '<', '>', '|', '｜'])('a name with %s → 60009', async (c) => {
    expect((await write('department/create', { name: `坏${c}名`, parentid: 1 })).errcode).toBe(60009);
  });

  it('a name over 64 characters → 60001; 64 are fine', async () => {
    expect((await write('department/create', { name: '长'.repeat(65), parentid: 1 })).errcode).toBe(60001);
    expect((await write('department/create', { name: '长'.repeat(64), parentid: 1 })).errcode).toBe(0);
    expect((await write('department/create', { name: '', parentid: 1 })).errcode).not.toBe(0);
  });

  it('department/update renames and moves; moving into its own subtree → 60010', async () => {
    const a = await write('department/create', { name: '移动甲', parentid: 1 });
    const b = await write('department/create', { name: '移动乙', parentid: a.id });
    const c = await write('department/create', { name: '移动丙', parentid: b.id });
    expect([a.errcode, b.errcode, c.errcode]).toEqual([0, 0, 0]);

    expect((await write('department/update', { id: a.id, parentid: c.id })).errcode).toBe(60010);
    expect((await write('department/update', { id: a.id, parentid: b.id })).errcode).toBe(60010);
    expect((await write('department/update', { id: a.id, parentid: a.id })).errcode).toBe(60010);
    expect((await read('department/get', { id: a.id })).department.parentid).toBe(1);

    expect(await write('department/update', { id: a.id, name: '移动甲改' })).toEqual({ errcode: 0, errmsg: 'updated' });
    expect((await read('department/get', { id: a.id })).department.name).toBe('移动甲改');

    expect((await write('department/update', { id: c.id, parentid: a.id })).errcode).toBe(0);
    expect((await read('department/get', { id: c.id })).department.parentid).toBe(a.id);

    const existing = childrenOf(org.departments, 1)[0]!;
    expect((await write('department/update', { id: a.id, name: existing.name })).errcode).toBe(60008);
    expect((await write('department/update', { id: a.id, parentid: 999_999 })).errcode).toBe(60004);
    expect((await write('department/update', { id: 999_999, name: 'x' })).errcode).toBe(60003);
    expect((await write('department/update', { name: 'x' })).errcode).toBe(41016);
  });

  it('department/delete refuses the root (60007), children (60006), members (60005); deletes an empty leaf', async () => {
    expect((await read('department/delete', { id: 1 })).errcode).toBe(60007);
    const now = await client.directory();
    const withChildren = now.departments.find((d) => d.id !== 1 && childrenOf(now.departments, d.id).length > 0)!;
    expect((await read('department/delete', { id: withChildren.id })).errcode).toBe(60006);
    const withMembers = now.departments.find(
      (d) => childrenOf(now.departments, d.id).length === 0 && membersOf(now.users, d.id).length > 0,
    )!;
    expect((await read('department/delete', { id: withMembers.id })).errcode).toBe(60005);
    expect((await read('department/get', { id: withMembers.id })).errcode).toBe(0);

    const leaf = await write('department/create', { name: '待删除', parentid: 1 });
    expect(await read('department/delete', { id: leaf.id })).toEqual({ errcode: 0, errmsg: 'deleted' });
    expect((await read('department/get', { id: leaf.id })).errcode).toBe(60003);
    expect((await read('department/delete', { id: leaf.id })).errcode).toBe(60003);
    expect((await client.get('department/delete', {}, { as: 'contacts' })).errcode).toBe(41016);
  });

  it('the app secret may not write → 48002, and nothing changes', async () => {
    expect((await client.post('department/create', { name: '应用写入', parentid: 1 }, { as: 'app' })).errcode).toBe(
      48002,
    );
    const some = org.departments.find((d) => d.id !== 1)!;
    expect((await client.post('department/update', { id: some.id, name: '应用改名' }, { as: 'app' })).errcode).toBe(
      48002,
    );
    const leaf = await write('department/create', { name: '应用删', parentid: 1 });
    expect((await client.get('department/delete', { id: leaf.id }, { as: 'app' })).errcode).toBe(48002);
    const after = await client.directory();
    expect(after.departments.some((d) => d.name === '应用写入')).toBe(false);
    expect(after.departments.find((d) => d.id === some.id)?.name).toBe(some.name);
    expect(after.departments.some((d) => d.id === leaf.id)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('user writes', () => {
  const existing = (): WecomUser => org.users.find((u) => /[a-z]/.test(u.userid) && u.mobile !== '' && u.email !== '')!;

  it('user/create makes a user; user/get returns what was sent', async () => {
    const dept = org.departments
      .filter((d) => d.id !== 1)
      .slice(0, 2)
      .map((d) => d.id);
    const body = newUser({
      department: dept,
      is_leader_in_dept: [1, 0],
      order: [5, 9],
      position: '测试工程师',
      email: 'created.one@example.com',
      gender: '2',
      alias: 'Tess',
      telephone: '020-1234567',
      main_department: dept[1],
    });
    expect(await write('user/create', body)).toEqual({ errcode: 0, errmsg: 'created' });
    const got = await read('user/get', { userid: body.userid as string });
    expect(got).toMatchObject({
      errcode: 0,
      userid: body.userid,
      name: body.name,
      department: dept,
      is_leader_in_dept: [1, 0],
      order: [5, 9],
      position: '测试工程师',
      mobile: body.mobile,
      email: 'created.one@example.com',
      gender: '2',
      alias: 'Tess',
      telephone: '020-1234567',
      main_department: dept[1],
    });
    // The leader flag shows on the department.
    expect((await read('department/get', { id: dept[0]! })).department.department_leader).toContain(body.userid);
    expect((await read('department/get', { id: dept[1]! })).department.department_leader).not.toContain(body.userid);
  });

  it.each([
    ['starts with a symbol', '-abc'],
    ['starts with a dot', '.abc'],
    ['has a space', 'a b'],
    ['has Chinese', '张三'],
    ['has a slash', 'a/b'],
    ['is 65 characters', 'a'.repeat(65)],
  ])('a userid that %s → 40003', async (_what, userid) => {
    expect((await write('user/create', newUser({ userid }))).errcode).toBe(40003);
    expect((await read('user/get', { userid })).errcode).toBe(60111);
  });

  it('a userid that differs only in case from an existing one → 60102', async () => {
    const u = existing();
    const twin = u.userid === u.userid.toUpperCase() ? u.userid.toLowerCase() : u.userid.toUpperCase();
    expect(twin).not.toBe(u.userid);
    expect((await write('user/create', newUser({ userid: twin }))).errcode).toBe(60102);
    expect((await write('user/create', newUser({ userid: u.userid }))).errcode).toBe(60102);
  });

  it('a mobile in use → 60104 (also written without +86); an email in use → 60106 (ignoring case)', async () => {
    const u = existing();
    expect((await write('user/create', newUser({ mobile: u.mobile }))).errcode).toBe(60104);
    expect(u.mobile.startsWith('+86 ')).toBe(true);
    expect((await write('user/create', newUser({ mobile: u.mobile.slice(4) }))).errcode).toBe(60104);
    expect((await write('user/create', newUser({ mobile: '', email: u.email }))).errcode).toBe(60106);
    expect((await write('user/create', newUser({ mobile: '', email: u.email.toUpperCase() }))).errcode).toBe(60106);
  });

  it('mobile and email both empty → 60129', async () => {
    expect((await write('user/create', newUser({ mobile: '' }))).errcode).toBe(60129);
    const { mobile: _m, ...noContact } = newUser();
    expect((await write('user/create', noContact)).errcode).toBe(60129);
    expect((await write('user/create', newUser({ mobile: '', email: 'only.email@example.com' }))).errcode).toBe(0);
  });

  it('is_leader_in_dept of another length than department → 60132', async () => {
    expect((await write('user/create', newUser({ department: [1], is_leader_in_dept: [1, 0] }))).errcode).toBe(60132);
  });

  it('an unknown department → 60127', async () => {
    expect((await write('user/create', newUser({ department: [1, 999_999] }))).errcode).toBe(60127);
  });

  it('a name over 64 characters → 60112; a missing name too', async () => {
    expect((await write('user/create', newUser({ name: '名'.repeat(65) }))).errcode).toBe(60112);
    const { name: _n, ...nameless } = newUser();
    expect((await write('user/create', nameless)).errcode).toBe(60112);
    expect((await write('user/create', newUser({ name: '名'.repeat(64) }))).errcode).toBe(0);
  });

  it('a bad mobile → 60103, a bad email → 60105, no userid → 41009', async () => {
    expect((await write('user/create', newUser({ mobile: 'call me' }))).errcode).toBe(60103);
    expect((await write('user/create', newUser({ email: 'not-an-email' }))).errcode).toBe(60105);
    const { userid: _u, ...anonymous } = newUser();
    expect((await write('user/create', anonymous)).errcode).toBe(41009);
  });

  it('user/update changes the fields sent and keeps the rest', async () => {
    const body = newUser({ position: '旧职位', alias: 'Old' });
    expect((await write('user/create', body)).errcode).toBe(0);
    const before = await read('user/get', { userid: body.userid as string });
    const target = org.departments.filter((d) => d.id !== 1)[3]!.id;
    const reply = await write('user/update', {
      userid: body.userid,
      position: '新职位',
      name: '新名字',
      department: [target],
    });
    expect(reply).toEqual({ errcode: 0, errmsg: 'updated' });
    const after = await read('user/get', { userid: body.userid as string });
    expect(after).toEqual({
      ...before,
      position: '新职位',
      name: '新名字',
      department: [target],
      order: [0],
      is_leader_in_dept: [0],
      main_department: target,
    });
    expect((await read('user/list', { department_id: target })).userlist.map((u: WecomUser) => u.userid)).toContain(
      body.userid,
    );
    expect((await read('user/list', { department_id: 1 })).userlist.map((u: WecomUser) => u.userid)).not.toContain(
      body.userid,
    );
  });

  it('user/update with new_userid renames the user', async () => {
    const body = newUser();
    expect((await write('user/create', body)).errcode).toBe(0);
    const renamed = `renamed.${serial}`;
    expect((await write('user/update', { userid: body.userid, new_userid: renamed })).errcode).toBe(0);
    expect((await read('user/get', { userid: body.userid as string })).errcode).toBe(60111);
    const got = await read('user/get', { userid: renamed });
    expect(got.errcode).toBe(0);
    expect(got.userid).toBe(renamed);
    expect(got.name).toBe(body.name);
    expect((await write('user/update', { userid: renamed, new_userid: existing().userid })).errcode).toBe(60102);
    expect((await write('user/update', { userid: renamed, new_userid: '-bad' })).errcode).toBe(40003);
  });

  it('user/update: a mobile in use → 60104; an unknown user → 60111', async () => {
    const body = newUser();
    expect((await write('user/create', body)).errcode).toBe(0);
    expect((await write('user/update', { userid: body.userid, mobile: existing().mobile })).errcode).toBe(60104);
    expect((await read('user/get', { userid: body.userid as string })).mobile).toBe(body.mobile);
    expect((await write('user/update', { userid: 'nobody.here', name: 'x' })).errcode).toBe(60111);
    expect((await write('user/update', { name: 'x' })).errcode).toBe(41009);
  });

  it('user/delete deletes; a second time is 60111', async () => {
    const body = newUser();
    expect((await write('user/create', body)).errcode).toBe(0);
    expect(await read('user/delete', { userid: body.userid as string })).toEqual({ errcode: 0, errmsg: 'deleted' });
    expect((await read('user/get', { userid: body.userid as string })).errcode).toBe(60111);
    expect((await read('user/delete', { userid: body.userid as string })).errcode).toBe(60111);
    expect((await client.get('user/delete', {}, { as: 'contacts' })).errcode).toBe(41009);
  });

  it('user/batchdelete is all or nothing: one unknown id → 40031 and nobody is deleted', async () => {
    const a = newUser();
    const b = newUser();
    expect((await write('user/create', a)).errcode).toBe(0);
    expect((await write('user/create', b)).errcode).toBe(0);
    expect((await write('user/batchdelete', { useridlist: [a.userid, 'no.such.user', b.userid] })).errcode).toBe(40031);
    expect((await read('user/get', { userid: a.userid as string })).errcode).toBe(0);
    expect((await read('user/get', { userid: b.userid as string })).errcode).toBe(0);
    expect(await write('user/batchdelete', { useridlist: [a.userid, b.userid] })).toEqual({
      errcode: 0,
      errmsg: 'deleted',
    });
    expect((await read('user/get', { userid: a.userid as string })).errcode).toBe(60111);
    expect((await read('user/get', { userid: b.userid as string })).errcode).toBe(60111);
  });

  it('user/batchdelete of more than 200 ids → 40031', async () => {
    const ids = org.users.slice(0, 201).map((u) => u.userid);
    expect(ids.length).toBe(201);
    expect((await write('user/batchdelete', { useridlist: ids })).errcode).toBe(40031);
    expect((await read('user/get', { userid: ids[0]! })).errcode).toBe(0);
    expect((await write('user/batchdelete', { useridlist: [] })).errcode).not.toBe(0);
  });

  it('the app secret may not write users → 48002', async () => {
    const body = newUser();
    expect((await client.post('user/create', body, { as: 'app' })).errcode).toBe(48002);
    expect((await read('user/get', { userid: body.userid as string })).errcode).toBe(60111);
    const u = existing();
    expect((await client.post('user/update', { userid: u.userid, name: 'x' }, { as: 'app' })).errcode).toBe(48002);
    expect((await client.get('user/delete', { userid: u.userid }, { as: 'app' })).errcode).toBe(48002);
    expect((await client.post('user/batchdelete', { useridlist: [u.userid] }, { as: 'app' })).errcode).toBe(48002);
    expect((await read('user/get', { userid: u.userid })).name).toBe(u.name);
  });
});
