import { describe, expect, it } from 'vitest';
import type { SnapshotUser } from '../../src/directory/snapshot.js';
import { guard } from '../../src/reconcile/guard.js';
import { plan } from '../../src/reconcile/plan.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { countChanges, type Plan, type UserChange } from '../../src/reconcile/types.js';
import { dept, directory, link, localDept, localUser, snapshot } from '../helpers/builders.js';

const SRC = 'hr';

/** A directory in step with SOURCE_DEPTS / sourceUsers() below. */
function synced() {
  return directory(
    [
      localDept(10, 1, '总部', [link(SRC, '1')]),
      localDept(11, 10, '研发', [link(SRC, '2')], 1),
      localDept(12, 10, '市场', [link(SRC, '3')], 2),
    ],
    [
      localUser(100, {
        userid: 'alice',
        name: '爱丽丝',
        mobile: '+86 13800000001',
        email: 'alice@example.com',
        position: '工程师',
        mainDepartmentId: 11,
        memberships: [{ departmentId: 11, order: 0, leader: false }],
        links: [link(SRC, 'alice')],
      }),
      localUser(101, {
        userid: 'bob',
        name: '鲍勃',
        mainDepartmentId: 11,
        memberships: [
          { departmentId: 11, order: 1, leader: false },
          { departmentId: 12, order: 0, leader: true },
        ],
        links: [link(SRC, 'bob')],
      }),
      localUser(102, {
        userid: 'carol',
        name: '卡罗尔',
        mainDepartmentId: 12,
        memberships: [{ departmentId: 12, order: 1, leader: false }],
        links: [link(SRC, 'carol')],
      }),
    ],
  );
}

const SOURCE_DEPTS = [dept('1', null, '总部'), dept('2', '1', '研发', 1), dept('3', '1', '市场', 2)];

function sourceUsers(): SnapshotUser[] {
  return [
    {
      externalId: 'alice',
      name: '爱丽丝',
      mobile: '+86 13800000001',
      email: 'alice@example.com',
      position: '工程师',
      mainDepartment: '2',
      departments: [{ externalId: '2', order: 0, leader: false }],
    },
    {
      externalId: 'bob',
      name: '鲍勃',
      mainDepartment: '2',
      departments: [
        { externalId: '2', order: 1 },
        { externalId: '3', order: 0, leader: true },
      ],
    },
    { externalId: 'carol', name: '卡罗尔', mainDepartment: '3', departments: [{ externalId: '3', order: 1 }] },
  ];
}

const policy = (p: PolicyInput = {}) => resolvePolicy(p);
const counts = (p: Plan) => countChanges(p.departments, p.users);
const userChange = (p: Plan, externalId: string): UserChange | undefined =>
  p.users.find((c) => c.externalId === externalId);

describe('plan: creating into an empty directory', () => {
  const p = plan(
    SRC,
    snapshot(
      [dept('3', '2', '平台组'), dept('1', null, '总部'), dept('2', '1', '研发')],
      [
        {
          externalId: 'zhangsan',
          name: '张三',
          mobile: '+86 13800000000',
          mainDepartment: '3',
          departments: [
            { externalId: '2', leader: true, order: 3 },
            { externalId: '3', leader: false, order: 1 },
          ],
          attributes: { 工号: 'A1', empty: null },
        },
      ],
    ),
    directory(),
    policy(),
  );

  it('creates parents before children, top departments under the root', () => {
    expect(p.departments.map((c) => [c.action, c.externalId, c.set.parent])).toEqual([
      ['create', '1', 1],
      ['create', '2', 'new:1'],
      ['create', '3', 'new:2'],
    ]);
    expect(p.departments.every((c) => c.addLink)).toBe(true);
  });

  it('creates a multi-department user with every membership, leader flag and the main department', () => {
    const c = userChange(p, 'zhangsan');
    expect(c?.action).toBe('create');
    expect(c?.set).toMatchObject({
      userid: 'zhangsan',
      name: '张三',
      mobile: '+86 13800000000',
      email: null,
      status: 'active',
      mainDepartment: 'new:3',
    });
    expect(c?.memberships?.upsert).toEqual([
      { department: 'new:2', leader: true, order: 3 },
      { department: 'new:3', leader: false, order: 1 },
    ]);
    expect(c?.set.attributes).toEqual({ 工号: 'A1' });
    expect(counts(p)).toMatchObject({ departments: { create: 3 }, users: { create: 1 } });
  });

  it('hangs the source under its mount department when one is configured', () => {
    const withMount = plan(
      SRC,
      snapshot([dept('1', null, 'A')], []),
      directory([localDept(5, 1, 'Corp A')]),
      policy({ mountDepartmentId: 5 }),
    );
    expect(withMount.departments[0]?.set.parent).toBe(5);
  });

  it('refuses a mount department that does not exist, naming the fix', () => {
    expect(() => plan(SRC, snapshot([], []), directory(), policy({ mountDepartmentId: 99 }))).toThrow(
      /mount department 99 does not exist/,
    );
  });
});

describe('plan: a directory already in step', () => {
  it('is empty (idempotence) and deterministic whatever the input order', () => {
    const a = plan(SRC, snapshot(SOURCE_DEPTS, sourceUsers()), synced(), policy());
    expect(a.departments).toEqual([]);
    expect(a.users).toEqual([]);
    expect(a.issues).toEqual([]);
    const shuffled = plan(SRC, snapshot([...SOURCE_DEPTS].reverse(), [...sourceUsers()].reverse()), synced(), policy());
    expect(shuffled).toEqual(a);
  });

  it('gives the same plan twice for the same inputs', () => {
    const users = sourceUsers();
    users[0] = { ...users[0]!, name: '新名字' };
    const s = snapshot([...SOURCE_DEPTS, dept('4', '2', '新组')], users);
    expect(plan(SRC, s, synced(), policy())).toEqual(plan(SRC, s, synced(), policy()));
  });
});

describe('plan: updates, renames and moves', () => {
  it('updates only the fields that differ, with before and after', () => {
    const users = sourceUsers();
    users[0] = { ...users[0]!, position: '高级工程师', email: 'alice@corp.example.com' };
    const p = plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy());
    expect(p.users).toHaveLength(1);
    expect(userChange(p, 'alice')).toMatchObject({
      action: 'update',
      ref: 100,
      set: { position: '高级工程师', email: 'alice@corp.example.com' },
      fields: {
        position: { before: '工程师', after: '高级工程师' },
        email: { before: 'alice@example.com', after: 'alice@corp.example.com' },
      },
    });
  });

  it('renames a department in place: same local id, same link', () => {
    const p = plan(
      SRC,
      snapshot([SOURCE_DEPTS[0]!, dept('2', '1', '研发中心', 1), SOURCE_DEPTS[2]!], sourceUsers()),
      synced(),
      policy(),
    );
    expect(p.departments).toEqual([
      expect.objectContaining({
        action: 'update',
        ref: 11,
        externalId: '2',
        set: { name: '研发中心' },
        fields: { name: { before: '研发', after: '研发中心' } },
      }),
    ]);
  });

  it('moves a department (and renames it in the same change) keeping its identity', () => {
    const p = plan(
      SRC,
      snapshot([SOURCE_DEPTS[0]!, SOURCE_DEPTS[1]!, dept('3', '2', '市场二部', 2)], sourceUsers()),
      synced(),
      policy(),
    );
    expect(p.departments).toEqual([
      expect.objectContaining({
        action: 'move',
        ref: 12,
        set: { name: '市场二部', parent: 11 },
        fields: { name: { before: '市场', after: '市场二部' }, parent: { before: 10, after: 11 } },
      }),
    ]);
    expect(p.users).toEqual([]);
  });

  it('moves a user between departments: removes the old membership, adds the new, follows the main department', () => {
    const users = sourceUsers();
    users[2] = { externalId: 'carol', name: '卡罗尔', departments: [{ externalId: '2', order: 4 }] };
    const c = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()), 'carol');
    expect(c).toMatchObject({
      action: 'update',
      memberships: { remove: [12], upsert: [{ department: 11, order: 4, leader: false }] },
      set: { mainDepartment: 11 },
      fields: {
        departments: {
          before: [{ department: 12, order: 1, leader: false }],
          after: [{ department: 11, order: 4, leader: false }],
        },
        mainDepartment: { before: 12, after: 11 },
      },
    });
  });

  it('changes a leader flag of one membership only', () => {
    const users = sourceUsers();
    users[1] = {
      ...users[1]!,
      departments: [
        { externalId: '2', order: 1, leader: true },
        { externalId: '3', order: 0, leader: true },
      ],
    };
    const c = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()), 'bob');
    expect(c?.memberships).toEqual({ remove: [], upsert: [{ department: 11, order: 1, leader: true }] });
  });

  it('leaves memberships in departments of other sources alone', () => {
    const d = synced();
    d.departments.push(localDept(50, 1, 'Other corp', [link('dingtalk', '1')]));
    d.users[0]!.memberships.push({ departmentId: 50, order: 0, leader: false });
    d.users[0]!.links.push(link('dingtalk', 'alice-dt'));
    const p = plan(SRC, snapshot(SOURCE_DEPTS, sourceUsers()), d, policy());
    expect(p.users).toEqual([]);
    expect(p.departments).toEqual([]);
  });
});

describe('plan: what the source did not send is left alone', () => {
  it('does not touch fields that are absent or declared unseen; an explicit empty value clears', () => {
    const users = sourceUsers();
    // alice: mobile and email unseen (a new WeCom self-built app), position absent.
    users[0] = { externalId: 'alice', name: '爱丽丝', mainDepartment: '2', departments: [{ externalId: '2' }] };
    const unseen = plan(SRC, snapshot(SOURCE_DEPTS, users, { unseenFields: ['mobile', 'email'] }), synced(), policy());
    expect(unseen.users).toEqual([]);

    users[0] = { ...users[0], mobile: null, email: '', position: null };
    const cleared = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()), 'alice');
    expect(cleared?.fields).toEqual({
      position: { before: '工程师', after: null },
      mobile: { before: '+86 13800000001', after: null },
      email: { before: 'alice@example.com', after: null },
    });
  });

  it('even an explicit value is ignored for a field the source declares unseen', () => {
    const users = sourceUsers();
    users[0] = { ...users[0]!, mobile: null };
    const p = plan(SRC, snapshot(SOURCE_DEPTS, users, { unseenFields: ['mobile'] }), synced(), policy());
    expect(p.users).toEqual([]);
  });

  it('leaves memberships alone when the source does not list them', () => {
    const users = sourceUsers().map(({ departments: _d, mainDepartment: _m, ...rest }) => rest);
    expect(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()).users).toEqual([]);
  });

  it('a source that cannot see status neither disables nor re-enables anyone it lists', () => {
    const d = synced();
    d.users[2]!.status = 'disabled';
    const users = sourceUsers();
    users[0] = { ...users[0]!, status: 'disabled' };
    expect(plan(SRC, snapshot(SOURCE_DEPTS, users, { unseenFields: ['status'] }), d, policy()).users).toEqual([]);
    const created = plan(
      SRC,
      snapshot(SOURCE_DEPTS, [{ externalId: 'new', name: 'N', status: 'disabled' }], { unseenFields: ['status'] }),
      directory(),
      policy(),
    );
    expect(created.users[0]?.set.status).toBe('active');
  });

  it('a membership whose leader flag and order the source did not send keeps the local ones', () => {
    const users = sourceUsers().map((u) => ({
      ...u,
      departments: u.departments?.map((m) => ({ externalId: m.externalId })),
    }));
    expect(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()).users).toEqual([]);
    // A new membership without them: not a leader, order 0.
    users[2] = { ...users[2]!, departments: [{ externalId: '3' }, { externalId: '2' }] };
    const c = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()), 'carol');
    expect(c?.memberships).toEqual({ remove: [], upsert: [{ department: 11, order: 0, leader: false }] });
  });

  it('merges attributes key by key: absent keys stay, null removes, new values set', () => {
    const d = synced();
    d.users[0]!.attributes = { 工号: 'A1', 楼层: '3' };
    const users = sourceUsers();
    users[0] = { ...users[0]!, attributes: { 楼层: null, 座位: 'B12' } };
    const c = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), d, policy()), 'alice');
    expect(c?.set.attributes).toEqual({ 工号: 'A1', 座位: 'B12' });
    expect(c?.fields).toEqual({
      'attributes.座位': { before: null, after: 'B12' },
      'attributes.楼层': { before: '3', after: null },
    });
  });
});

describe("plan: data kept on the link (e.g. DingTalk's unionid)", () => {
  const withUnionid = (u: SnapshotUser, unionid: string): SnapshotUser => ({ ...u, linkData: { unionid } });

  it('goes with a new link, and records it', () => {
    const p = plan(
      SRC,
      snapshot([dept('1', null, '总部')], [{ externalId: 'zhangsan', name: '张三', linkData: { unionid: 'u1' } }]),
      directory(),
      policy(),
    );
    const c = userChange(p, 'zhangsan');
    expect(c).toMatchObject({ action: 'create', addLink: true, linkData: { unionid: 'u1' } });
    expect(c?.fields['link.unionid']).toEqual({ before: null, after: 'u1' });
  });

  it('is added to an existing link, changed when it differs, and left alone when the source does not send it', () => {
    const users = sourceUsers();
    const dir = synced();
    (dir.users.find((u) => u.id === 101) as { links: unknown }).links = [
      { source: SRC, externalId: 'bob', data: { unionid: 'old' } },
    ];
    const p = plan(
      SRC,
      snapshot(SOURCE_DEPTS, [withUnionid(users[0]!, 'ua'), withUnionid(users[1]!, 'new'), users[2]!]),
      dir,
      policy(),
    );
    expect(p.users.map((c) => [c.externalId, c.action, c.linkData, Object.keys(c.fields)])).toEqual([
      ['alice', 'update', { unionid: 'ua' }, ['link.unionid']],
      ['bob', 'update', { unionid: 'new' }, ['link.unionid']],
    ]);
    expect(userChange(p, 'bob')?.fields['link.unionid']).toEqual({ before: 'old', after: 'new' });
    // The same data again: nothing to do.
    dir.users.find((u) => u.id === 100)!.links = [{ source: SRC, externalId: 'alice', data: { unionid: 'ua' } }];
    dir.users.find((u) => u.id === 101)!.links = [{ source: SRC, externalId: 'bob', data: { unionid: 'new' } }];
    expect(
      plan(
        SRC,
        snapshot(SOURCE_DEPTS, [withUnionid(users[0]!, 'ua'), withUnionid(users[1]!, 'new'), users[2]!]),
        dir,
        policy(),
      ).users,
    ).toEqual([]);
  });
});

describe('plan: field ownership', () => {
  it('"never" keeps a field out even on create; "create" sets it once and never updates it', () => {
    const pol = policy({ ownership: { users: { position: 'never', email: 'create' } } });
    const created = plan(
      SRC,
      snapshot([dept('1', null, 'A')], [{ externalId: 'x', name: 'X', position: 'P', email: 'x@example.com' }]),
      directory(),
      pol,
    );
    expect(created.users[0]?.set).toMatchObject({ position: null, email: 'x@example.com' });

    const users = sourceUsers();
    users[0] = { ...users[0]!, position: '经理', email: 'new@example.com' };
    expect(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), pol).users).toEqual([]);
  });

  it('a department name owned on create only is not renamed', () => {
    const p = plan(
      SRC,
      snapshot([SOURCE_DEPTS[0]!, dept('2', '1', '改名', 1), SOURCE_DEPTS[2]!], sourceUsers()),
      synced(),
      policy({ ownership: { departments: { name: 'create' } } }),
    );
    expect(p.departments).toEqual([]);
  });
});

describe('plan: people gone from the source', () => {
  const withoutCarol = () => sourceUsers().filter((u) => u.externalId !== 'carol');

  it('disables them by default', () => {
    const p = plan(SRC, snapshot(SOURCE_DEPTS, withoutCarol()), synced(), policy());
    expect(p.users).toEqual([
      expect.objectContaining({
        action: 'disable',
        ref: 102,
        gone: true,
        set: { status: 'disabled' },
        fields: { status: { before: 'active', after: 'disabled' } },
      }),
    ]);
  });

  it('deletes or ignores them when the policy says so', () => {
    expect(plan(SRC, snapshot(SOURCE_DEPTS, withoutCarol()), synced(), policy({ onUserGone: 'delete' })).users).toEqual(
      [expect.objectContaining({ action: 'delete', ref: 102 })],
    );
    expect(plan(SRC, snapshot(SOURCE_DEPTS, withoutCarol()), synced(), policy({ onUserGone: 'ignore' })).users).toEqual(
      [],
    );
  });

  it('does not disable again a user already disabled', () => {
    const d = synced();
    d.users[2]!.status = 'disabled';
    expect(plan(SRC, snapshot(SOURCE_DEPTS, withoutCarol()), d, policy()).users).toEqual([]);
  });

  it('re-enables a user who returns', () => {
    const d = synced();
    d.users[2]!.status = 'disabled';
    const p = plan(SRC, snapshot(SOURCE_DEPTS, sourceUsers()), d, policy());
    expect(p.users).toEqual([expect.objectContaining({ action: 'enable', ref: 102, set: { status: 'active' } })]);
  });

  it('disables a user the source marks disabled, without calling it gone', () => {
    const users = sourceUsers();
    users[0] = { ...users[0]!, status: 'disabled' };
    const c = userChange(plan(SRC, snapshot(SOURCE_DEPTS, users), synced(), policy()), 'alice');
    expect(c).toMatchObject({ action: 'disable', set: { status: 'disabled' } });
    expect(c?.gone).toBeUndefined();
  });

  it('never touches users of another source', () => {
    const d = synced();
    d.users.push(localUser(200, { userid: 'dt1', links: [link('dingtalk', 'dt1')] }));
    d.users.push(localUser(201, { userid: 'local-only' }));
    expect(plan(SRC, snapshot(SOURCE_DEPTS, sourceUsers()), d, policy()).users).toEqual([]);
  });
});

describe('plan: departments gone from the source', () => {
  it('deletes a department once it is empty after the plan (its members moved out in the same plan)', () => {
    const users = sourceUsers();
    users[1] = { ...users[1]!, departments: [{ externalId: '2', order: 1 }] };
    users[2] = { externalId: 'carol', name: '卡罗尔', departments: [{ externalId: '2' }] };
    const p = plan(SRC, snapshot(SOURCE_DEPTS.slice(0, 2), users), synced(), policy());
    expect(p.departments).toEqual([expect.objectContaining({ action: 'delete', ref: 12, externalId: '3' })]);
  });

  it('keeps a department that still has active members, and says why', () => {
    const p = plan(
      SRC,
      snapshot(
        SOURCE_DEPTS.slice(0, 2),
        sourceUsers().filter((u) => u.externalId === 'alice'),
      ),
      synced(),
      policy({ onUserGone: 'ignore' }),
    );
    expect(p.departments).toEqual([]);
    expect(p.notes).toEqual([expect.objectContaining({ code: 'DEPARTMENT_KEPT', object: 'department "3"' })]);
  });

  it('deletes a department whose only members are being disabled, children before parents', () => {
    const d = synced();
    d.departments.push(localDept(13, 12, '市场一组', [link(SRC, '4')]));
    const users = sourceUsers().filter((u) => u.externalId === 'alice');
    const p = plan(SRC, snapshot(SOURCE_DEPTS.slice(0, 2), users), d, policy());
    expect(p.departments.map((c) => [c.action, c.ref])).toEqual([
      ['delete', 13],
      ['delete', 12],
    ]);
    expect(p.users.map((c) => [c.action, c.externalId])).toEqual([
      ['disable', 'bob'],
      ['disable', 'carol'],
    ]);
  });

  it('keeps a parent whose child department is still listed elsewhere in the plan', () => {
    const d = synced();
    d.departments.push(localDept(13, 12, '子部门', [link(SRC, '4')]));
    // "3" is gone but its child "4" is still in the source, now under "2".
    const p = plan(
      SRC,
      snapshot([...SOURCE_DEPTS.slice(0, 2), dept('4', '2', '子部门')], sourceUsers().slice(0, 1)),
      d,
      policy({ onUserGone: 'disable' }),
    );
    expect(p.departments.map((c) => [c.action, c.ref])).toEqual([
      ['move', 13],
      ['delete', 12],
    ]);
  });

  it('never deletes departments of another source or local ones', () => {
    const d = synced();
    d.departments.push(localDept(60, 1, 'Local', []), localDept(61, 1, 'DT', [link('dingtalk', '9')]));
    expect(plan(SRC, snapshot(SOURCE_DEPTS, sourceUsers()), d, policy()).departments).toEqual([]);
  });
});

describe('plan: fallback matching and the no-takeover rule', () => {
  const unlinked = (over: Parameters<typeof localUser>[1]) => directory([], [localUser(300, over)]);

  it('links an unlinked local user with the same userid ignoring case, instead of creating one', () => {
    const p = plan(
      SRC,
      snapshot([], [{ externalId: 'ZhangSan', name: '张三' }]),
      unlinked({ userid: 'zhangsan', name: '张三' }),
      policy(),
    );
    expect(p.users).toEqual([
      expect.objectContaining({
        action: 'update',
        ref: 300,
        addLink: true,
        fields: { userid: { before: 'zhangsan', after: 'ZhangSan' }, link: { before: null, after: 'hr:ZhangSan' } },
      }),
    ]);
  });

  it('falls back to mobile (ignoring formatting), then email, in the policy order', () => {
    const byMobile = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z', mobile: '13800000000' }]),
      unlinked({ userid: 'old', name: 'Z', mobile: '+86 138-0000-0000' }),
      policy(),
    );
    expect(byMobile.users[0]).toMatchObject({ ref: 300, addLink: true });
    const byEmail = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z', email: 'ZS@Example.com' }]),
      unlinked({ userid: 'old', name: 'Z', email: 'zs@example.com' }),
      policy(),
    );
    expect(byEmail.users[0]).toMatchObject({ ref: 300, addLink: true });
    const userIdOnly = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z', email: 'zs@example.com' }]),
      unlinked({ userid: 'old', email: 'zs@example.com' }),
      policy({ matching: { users: ['userid'] } }),
    );
    expect(userIdOnly.users[0]).toMatchObject({ action: 'create' });
  });

  it('never takes over a local account already linked to another identity of the same source', () => {
    const d = unlinked({ userid: 'zs-old', mobile: '13800000000', links: [link(SRC, 'zs-old')] });
    const p = plan(
      SRC,
      snapshot(
        [],
        [
          { externalId: 'zs-new', name: 'Z', mobile: '13800000000' },
          { externalId: 'zs-old', name: 'Z' },
        ],
      ),
      d,
      policy(),
    );
    expect(p.users.find((c) => c.externalId === 'zs-new')).toBeUndefined();
    expect(p.issues).toEqual([expect.objectContaining({ code: 'USER_TAKEOVER_REFUSED', object: 'user "zs-new"' })]);
  });

  it('matches an account linked to a different source (several sources feed one user)', () => {
    const p = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z' }]),
      unlinked({ userid: 'zs', links: [link('dingtalk', 'u1')] }),
      policy(),
    );
    expect(p.users[0]).toMatchObject({ action: 'update', ref: 300, addLink: true });
  });

  it('reports an ambiguous match and leaves the user out', () => {
    const d = directory([], [localUser(300, { mobile: '13800000000' }), localUser(301, { mobile: '+86 13800000000' })]);
    const p = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z', mobile: '13800000000' }]),
      d,
      policy({ matching: { users: ['mobile'] } }),
    );
    expect(p.users).toEqual([]);
    expect(p.issues[0]).toMatchObject({ code: 'USER_MATCH_AMBIGUOUS' });
  });

  it('refuses to create a user whose userid a non-matching local account holds', () => {
    const p = plan(
      SRC,
      snapshot([], [{ externalId: 'zs', name: 'Z' }]),
      unlinked({ userid: 'ZS' }),
      policy({ matching: { users: ['email'] } }),
    );
    expect(p.users).toEqual([]);
    expect(p.issues[0]).toMatchObject({ code: 'USERID_TAKEN', object: 'user "zs"' });
  });

  it('links an unlinked local department with the same name under the same parent', () => {
    const d = directory([localDept(20, 1, '总部')]);
    const p = plan(SRC, snapshot([dept('1', null, '总部'), dept('2', '1', '研发')], []), d, policy());
    expect(p.departments.map((c) => [c.action, c.ref, c.externalId])).toEqual([
      ['update', 20, '1'],
      ['create', 'new:2', '2'],
    ]);
    expect(p.departments[1]?.set.parent).toBe(20);
  });
});

describe('guard', () => {
  it('holds back every disable and delete inside an incomplete subtree, and nothing outside', () => {
    const users = sourceUsers().filter((u) => u.externalId === 'alice');
    // bob (in 2 and 3) and carol (in 3) are not listed, but department "3" could not be read.
    const p = plan(SRC, snapshot(SOURCE_DEPTS, users, { incompleteDepartments: ['3'] }), synced(), policy());
    expect(p.users.map((c) => [c.action, c.externalId, c.incompleteScope])).toEqual([
      ['disable', 'bob', true],
      ['disable', 'carol', true],
    ]);
    const g = guard(p, policy());
    expect(g.plan.users).toEqual([]);
    expect(g.suppressed.users.map((c) => c.externalId)).toEqual(['bob', 'carol']);
    expect(g.blocked).toBeNull();
  });

  it('keeps a gone department while a member held back by the guard is still in it', () => {
    // "2" is gone; bob sits in "2" and in the unreadable "3", so his disable is held back and "2" is not empty.
    const users: SnapshotUser[] = [{ externalId: 'alice', name: '爱丽丝', departments: [{ externalId: '1' }] }];
    const p = plan(
      SRC,
      snapshot([SOURCE_DEPTS[0]!, SOURCE_DEPTS[2]!], users, { incompleteDepartments: ['3'] }),
      synced(),
      policy(),
    );
    expect(p.departments).toEqual([]);
    expect(p.notes).toEqual([expect.objectContaining({ code: 'DEPARTMENT_KEPT', object: 'department "2"' })]);
  });

  it('disables outside the incomplete subtree as usual', () => {
    const d = synced();
    d.departments.push(localDept(14, 10, '销售', [link(SRC, '5')]));
    d.users.push(
      localUser(103, {
        userid: 'dave',
        memberships: [{ departmentId: 14, order: 0, leader: false }],
        links: [link(SRC, 'dave')],
      }),
    );
    const g = guard(
      plan(
        SRC,
        snapshot([...SOURCE_DEPTS, dept('5', '1', '销售')], sourceUsers(), { incompleteDepartments: ['3'] }),
        d,
        policy(),
      ),
      policy(),
    );
    expect(g.plan.users.map((c) => [c.action, c.externalId])).toEqual([['disable', 'dave']]);
  });

  it('holds back all deletions of an incomplete snapshot, departments included', () => {
    const p = plan(SRC, snapshot(SOURCE_DEPTS.slice(0, 1), [], { complete: false }), synced(), policy());
    const g = guard(p, policy());
    expect(g.plan.users).toEqual([]);
    expect(g.plan.departments).toEqual([]);
    expect(g.suppressed.users).toHaveLength(3);
    // 市场 and 研发 still hold (held-back) members, so they are kept rather than planned for deletion.
    expect(p.notes.map((n) => n.code)).toEqual(['DEPARTMENT_KEPT', 'DEPARTMENT_KEPT']);
  });

  function bigOrg(n: number) {
    const users = Array.from({ length: n }, (_, i) =>
      localUser(1000 + i, {
        userid: `u${i}`,
        memberships: [{ departmentId: 11, order: 0, leader: false }],
        links: [link(SRC, `u${i}`)],
      }),
    );
    const d = directory(
      [localDept(10, 1, '总部', [link(SRC, '1')]), localDept(11, 10, '研发', [link(SRC, '2')])],
      users,
    );
    const listed = (keep: number): SnapshotUser[] =>
      users.slice(0, keep).map((u) => ({ externalId: u.userid as string, name: u.name as string }));
    return { d, listed, depts: SOURCE_DEPTS.slice(0, 2) };
  }

  it('blocks a plan that disables more than 50 users and more than 20%', () => {
    const { d, listed, depts } = bigOrg(100);
    const g = guard(plan(SRC, snapshot(depts, listed(40)), d, policy()), policy());
    expect(g.blocked).toMatchObject({ code: 'GUARD_BLOCKED', count: 60, base: 100 });
  });

  it('lets through many removals that are a small share, and a large share that is few users', () => {
    const big = bigOrg(1000);
    expect(guard(plan(SRC, snapshot(big.depts, big.listed(940)), big.d, policy()), policy()).blocked).toBeNull();
    const small = bigOrg(60);
    expect(guard(plan(SRC, snapshot(small.depts, small.listed(10)), small.d, policy()), policy()).blocked).toBeNull();
  });

  it('uses the thresholds the policy sets', () => {
    const { d, listed, depts } = bigOrg(100);
    const strict = policy({ guard: { maxUsers: 5, maxRatio: 0.05 } });
    expect(guard(plan(SRC, snapshot(depts, listed(90)), d, strict), strict).blocked).toMatchObject({ count: 10 });
  });
});
