import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { childrenOf, membersOf, startDingtalk, type DingtalkClient, type Directory } from './dingtalk-client.js';

/** The write APIs and DingTalk's rules for them, over HTTP. */

let sim: DingtalkSimulator;
let client: DingtalkClient;
let org: Directory;
let mobiles = 0;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
  org = await client.directory();
});

afterAll(async () => {
  await sim.close();
});

/** A mobile number no one in the org has. */
const newMobile = (): string => `1990000${String(++mobiles).padStart(4, '0')}`;

async function createDept(name: string, parentId = 1): Promise<number> {
  const reply = await client.oapi('topapi/v2/department/create', { name, parent_id: parentId });
  expect(reply.errcode, JSON.stringify(reply)).toBe(0);
  return reply.result.dept_id as number;
}

// ---------------------------------------------------------------------------------------------------------------

describe('department create', () => {
  it('creates under the parent and answers its dept_id; get and listsub show it', async () => {
    const reply = await client.oapi('topapi/v2/department/create', { name: '新建部门', parent_id: 1, order: 5 });
    expect(reply).toMatchObject({ errcode: 0, result: { dept_id: expect.any(Number) } });
    const id = reply.result.dept_id as number;
    expect((await client.oapi('topapi/v2/department/get', { dept_id: id })).result).toMatchObject({
      dept_id: id,
      name: '新建部门',
      parent_id: 1,
      order: 5,
      dept_manager_userid_list: [],
    });
    expect((await client.oapi('topapi/v2/department/listsubid', { dept_id: 1 })).result.dept_id_list).toContain(id);
  });

  it.each([
    ['with a hyphen', 'Team-A', 60009],
    ['with a comma', 'A,B', 60009],
    ['with a full-width comma', '甲，乙', 60009],
    ['that is empty', '', 60001],
    ['that is blank', '   ', 60001],
    ['of 65 characters', '部'.repeat(65), 60001],
  ])('a name %s is refused', async (_what, name, errcode) => {
    expect((await client.oapi('topapi/v2/department/create', { name, parent_id: 1 })).errcode).toBe(errcode);
  });

  it('64 characters and other punctuation are fine; a sibling with the same name → 60008; another parent may reuse it', async () => {
    await createDept('部'.repeat(64));
    const a = await createDept('R&D / 平台 (2024)·一组');
    expect(
      (await client.oapi('topapi/v2/department/create', { name: 'R&D / 平台 (2024)·一组', parent_id: 1 })).errcode,
    ).toBe(60008);
    await createDept('R&D / 平台 (2024)·一组', a);
  });

  it('an unknown parent → 60004; no parent_id → 400002', async () => {
    expect((await client.oapi('topapi/v2/department/create', { name: '孤儿', parent_id: 987654 })).errcode).toBe(60004);
    expect((await client.oapi('topapi/v2/department/create', { name: '孤儿' })).errcode).toBe(400002);
  });
});

describe('department update', () => {
  it('renames, moves and reorders; fields left out stay', async () => {
    const a = await createDept('更新甲');
    const b = await createDept('更新乙');
    expect(
      (await client.oapi('topapi/v2/department/update', { dept_id: a, name: '更新丙', parent_id: b, order: 3 }))
        .errcode,
    ).toBe(0);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: a })).result).toMatchObject({
      name: '更新丙',
      parent_id: b,
      order: 3,
    });
    expect((await client.oapi('topapi/v2/department/update', { dept_id: a, order: 9 })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: a })).result).toMatchObject({
      name: '更新丙',
      parent_id: b,
      order: 9,
    });
  });

  it('refuses: unknown (60003), a loop (60010), a bad name (60009), a sibling name (60008), a parent for the root (400002)', async () => {
    const a = await createDept('环甲');
    const child = await createDept('环乙', a);
    await createDept('撞名', 1);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: 987654, name: 'x' })).errcode).toBe(60003);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: a, parent_id: child })).errcode).toBe(60010);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: a, parent_id: a })).errcode).toBe(60010);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: a, name: 'a-b' })).errcode).toBe(60009);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: a, name: '撞名' })).errcode).toBe(60008);
    expect((await client.oapi('topapi/v2/department/update', { dept_id: 1, parent_id: a })).errcode).toBe(400002);
  });

  it('dept_manager_userid_list (comma-separated) sets the managers among the members, and their leader flags', async () => {
    const d = org.departments.find((x) => x.dept_id !== 1 && membersOf(org.users, x.dept_id).length >= 3)!;
    const [m1, m2] = membersOf(org.users, d.dept_id).filter(
      (u) => !u.leader_in_dept.find((l) => l.dept_id === d.dept_id)!.leader,
    );
    expect(
      (
        await client.oapi('topapi/v2/department/update', {
          dept_id: d.dept_id,
          dept_manager_userid_list: `${m1!.userid},${m2!.userid}`,
        })
      ).errcode,
    ).toBe(0);
    expect(
      (await client.oapi('topapi/v2/department/get', { dept_id: d.dept_id })).result.dept_manager_userid_list,
    ).toEqual([m1!.userid, m2!.userid]);
    const got = (await client.oapi('topapi/v2/user/get', { userid: m1!.userid })).result;
    expect(got.leader_in_dept.find((l: { dept_id: number }) => l.dept_id === d.dept_id).leader).toBe(true);
    const outsider = org.users.find((u) => !u.dept_id_list.includes(d.dept_id))!;
    expect(
      (
        await client.oapi('topapi/v2/department/update', {
          dept_id: d.dept_id,
          dept_manager_userid_list: outsider.userid,
        })
      ).errcode,
    ).toBe(400002);
    expect(
      (
        await client.oapi('topapi/v2/department/update', {
          dept_id: d.dept_id,
          dept_manager_userid_list: 'nobody-here',
        })
      ).errcode,
    ).toBe(60121);
  });
});

describe('department delete', () => {
  it('deletes an empty department with its empty sub-departments', async () => {
    const a = await createDept('删甲');
    const b = await createDept('删乙', a);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: a })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: a })).errcode).toBe(60003);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: b })).errcode).toBe(60003);
  });

  it('refuses while it or a sub-department has members (60005), the root (60007), an unknown one (60003)', async () => {
    const a = await createDept('有人甲');
    const b = await createDept('有人乙', a);
    const created = await client.oapi('topapi/v2/user/create', {
      name: '占位',
      mobile: newMobile(),
      dept_id_list: String(b),
    });
    expect(created.errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: a })).errcode).toBe(60005);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: b })).errcode).toBe(60005);
    const withMembers = org.departments.find((d) => d.dept_id !== 1 && membersOf(org.users, d.dept_id).length > 0)!;
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: withMembers.dept_id })).errcode).toBe(60005);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: 1 })).errcode).toBe(60007);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: 987654 })).errcode).toBe(60003);
    expect((await client.oapi('topapi/v2/user/delete', { userid: created.result.userid })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/delete', { dept_id: a })).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('user create', () => {
  it('dept_id_list is a comma-separated string; the reply has userid and unionId; get shows the user', async () => {
    const [d1, d2] = childrenOf(org.departments, 1);
    const reply = await client.oapi('topapi/v2/user/create', {
      userid: 'new.person',
      name: '新同事',
      mobile: newMobile(),
      dept_id_list: `${d1!.dept_id},${d2!.dept_id}`,
      dept_order_list: [{ dept_id: d2!.dept_id, order: 7 }],
      title: '工程师',
      email: 'new.person@example.com',
      job_number: 'E9001',
      hired_date: 1_700_000_000_000,
    });
    expect(reply).toMatchObject({ errcode: 0, result: { userid: 'new.person', unionId: expect.any(String) } });
    const got = (await client.oapi('topapi/v2/user/get', { userid: 'new.person' })).result;
    expect(got).toMatchObject({
      userid: 'new.person',
      unionid: reply.result.unionId,
      name: '新同事',
      dept_id_list: [d1!.dept_id, d2!.dept_id],
      dept_order_list: [
        { dept_id: d1!.dept_id, order: 0 },
        { dept_id: d2!.dept_id, order: 7 },
      ],
      leader_in_dept: [
        { dept_id: d1!.dept_id, leader: false },
        { dept_id: d2!.dept_id, leader: false },
      ],
      title: '工程师',
      job_number: 'E9001',
      hired_date: 1_700_000_000_000,
      active: false,
    });
    expect((await client.oapi('topapi/user/listid', { dept_id: d2!.dept_id })).result.userid_list).toContain(
      'new.person',
    );
    expect((await client.oapi('topapi/user/getbyunionid', { unionid: reply.result.unionId })).result.userid).toBe(
      'new.person',
    );
  });

  it('without a userid, one is generated', async () => {
    const reply = await client.oapi('topapi/v2/user/create', { name: '无号', mobile: newMobile(), dept_id_list: '1' });
    expect(reply.errcode).toBe(0);
    expect(reply.result.userid).toMatch(/^\S{1,64}$/);
    expect((await client.oapi('topapi/v2/user/get', { userid: reply.result.userid })).result.name).toBe('无号');
  });

  it('dept_id_list as a JSON array → 400002; an unknown department → 60003; none → 400002', async () => {
    expect(
      (await client.oapi('topapi/v2/user/create', { name: '数组', mobile: newMobile(), dept_id_list: [1] })).errcode,
    ).toBe(400002);
    expect(
      (await client.oapi('topapi/v2/user/create', { name: '未知', mobile: newMobile(), dept_id_list: '1,987654' }))
        .errcode,
    ).toBe(60003);
    expect((await client.oapi('topapi/v2/user/create', { name: '无部门', mobile: newMobile() })).errcode).toBe(400002);
    expect(
      (await client.oapi('topapi/v2/user/create', { name: '坏部门', mobile: newMobile(), dept_id_list: '1,x' }))
        .errcode,
    ).toBe(400002);
  });

  it('refuses: an existing userid, also in another case (60102); a taken mobile (60104) or email (60106); a bad one (60103 / 60105); no name or mobile (400002)', async () => {
    const someone = org.users.find((u) => u.email !== undefined)!;
    const base = { name: '重复', dept_id_list: '1' };
    expect(
      (await client.oapi('topapi/v2/user/create', { ...base, userid: someone.userid, mobile: newMobile() })).errcode,
    ).toBe(60102);
    expect(
      (
        await client.oapi('topapi/v2/user/create', {
          ...base,
          userid:
            someone.userid.toUpperCase() === someone.userid
              ? someone.userid.toLowerCase()
              : someone.userid.toUpperCase(),
          mobile: newMobile(),
        })
      ).errcode,
    ).toBe(60102);
    const withMobile = org.users.find((u) => u.mobile !== undefined)!;
    expect((await client.oapi('topapi/v2/user/create', { ...base, mobile: withMobile.mobile })).errcode).toBe(60104);
    expect((await client.oapi('topapi/v2/user/create', { ...base, mobile: `+86-${withMobile.mobile}` })).errcode).toBe(
      60104,
    );
    expect(
      (await client.oapi('topapi/v2/user/create', { ...base, mobile: newMobile(), email: someone.email })).errcode,
    ).toBe(60106);
    expect((await client.oapi('topapi/v2/user/create', { ...base, mobile: 'call me' })).errcode).toBe(60103);
    expect(
      (await client.oapi('topapi/v2/user/create', { ...base, mobile: newMobile(), email: 'not-an-email' })).errcode,
    ).toBe(60105);
    expect((await client.oapi('topapi/v2/user/create', { dept_id_list: '1', mobile: newMobile() })).errcode).toBe(
      400002,
    );
    expect((await client.oapi('topapi/v2/user/create', { name: '没手机', dept_id_list: '1' })).errcode).toBe(400002);
    expect(
      (await client.oapi('topapi/v2/user/create', { ...base, mobile: newMobile(), extension: 'not json' })).errcode,
    ).toBe(400002);
  });
});

describe('user update and delete', () => {
  it('changes only the fields sent; a new dept_id_list keeps the order and leader flag of departments that stay', async () => {
    const u = org.users.find(
      (x) => x.dept_id_list.length === 1 && x.leader_in_dept[0]!.leader && x.dept_id_list[0] !== 1,
    )!;
    const stay = u.dept_id_list[0]!;
    const other = org.departments.find((d) => d.dept_id !== stay && d.dept_id !== 1)!;
    expect(
      (
        await client.oapi('topapi/v2/user/update', {
          userid: u.userid,
          title: '新职位',
          dept_id_list: `${stay},${other.dept_id}`,
        })
      ).errcode,
    ).toBe(0);
    const got = (await client.oapi('topapi/v2/user/get', { userid: u.userid })).result;
    expect(got).toMatchObject({ name: u.name, title: '新职位', dept_id_list: [stay, other.dept_id] });
    expect(got.leader_in_dept).toEqual([
      { dept_id: stay, leader: true },
      { dept_id: other.dept_id, leader: false },
    ]);
    expect(got.dept_order_list[0]).toEqual(u.dept_order_list[0]);
    expect(
      (await client.oapi('topapi/v2/department/get', { dept_id: stay })).result.dept_manager_userid_list,
    ).toContain(u.userid);
    // Leaving a department takes the manager flag with it.
    expect(
      (await client.oapi('topapi/v2/user/update', { userid: u.userid, dept_id_list: String(other.dept_id) })).errcode,
    ).toBe(0);
    expect(
      (await client.oapi('topapi/v2/department/get', { dept_id: stay })).result.dept_manager_userid_list,
    ).not.toContain(u.userid);
  });

  it('refuses: an unknown user (60121), an unknown department (60003), a taken mobile (60104), an empty name (60112)', async () => {
    const [a, b] = org.users.filter((u) => u.mobile !== undefined);
    expect((await client.oapi('topapi/v2/user/update', { userid: 'nobody-here', title: 'x' })).errcode).toBe(60121);
    expect((await client.oapi('topapi/v2/user/update', { userid: a!.userid, dept_id_list: '987654' })).errcode).toBe(
      60003,
    );
    expect((await client.oapi('topapi/v2/user/update', { userid: a!.userid, mobile: b!.mobile })).errcode).toBe(60104);
    expect((await client.oapi('topapi/v2/user/update', { userid: a!.userid, name: ' ' })).errcode).toBe(60112);
    expect((await client.oapi('topapi/v2/user/update', { title: 'x' })).errcode).toBe(400002);
  });

  it('delete removes the user everywhere; again → 60121', async () => {
    const u = org.users.find((x) => x.dept_id_list.length > 1 && !x.leader_in_dept.some((l) => l.leader))!;
    expect((await client.oapi('topapi/v2/user/delete', { userid: u.userid })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/user/get', { userid: u.userid })).errcode).toBe(60121);
    expect((await client.oapi('topapi/user/getbyunionid', { unionid: u.unionid })).errcode).toBe(60121);
    for (const d of u.dept_id_list)
      expect((await client.oapi('topapi/user/listid', { dept_id: d })).result.userid_list).not.toContain(u.userid);
    expect((await client.oapi('topapi/v2/user/delete', { userid: u.userid })).errcode).toBe(60121);
    // Its mobile is free again.
    expect(
      (await client.oapi('topapi/v2/user/create', { name: '接班', mobile: u.mobile, dept_id_list: '1' })).errcode,
    ).toBe(0);
  });
});
