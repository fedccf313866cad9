import { describe, expect, it } from 'vitest';
import { coalesce } from '../../src/events/processor.js';
import { applyReads, sourceView, touchedUsers, type ObjectReads } from '../../src/events/view.js';
import { plan } from '../../src/reconcile/plan.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { countChanges } from '../../src/reconcile/types.js';
import { directory, link, localDept, localUser } from '../helpers/builders.js';

/** A directory synced from source "wx": departments 10 > 11, two users, one of them also from another source. */
function synced() {
  return directory(
    [
      localDept(2, 1, '研发部', [link('wx', '10')], 5),
      localDept(3, 2, '平台组', [link('wx', '11')], 1),
      localDept(4, 1, '本地部门'),
    ],
    [
      localUser(1, {
        userid: 'zhangsan',
        name: '张三',
        mobile: '+86 13800000001',
        gender: 'male',
        mainDepartmentId: 3,
        attributes: { 工号: 'A1' },
        memberships: [
          { departmentId: 2, order: 3, leader: true },
          { departmentId: 3, order: 0, leader: false },
          { departmentId: 4, order: 0, leader: false },
        ],
        links: [link('wx', 'zhangsan')],
      }),
      localUser(2, {
        userid: 'lisi',
        name: '李四',
        status: 'disabled',
        memberships: [{ departmentId: 3, order: 0, leader: false }],
        links: [link('wx', 'lisi'), link('hr', 'E2')],
      }),
      localUser(3, { userid: 'local', name: 'Local only' }),
    ],
  );
}

const counts = (p: ReturnType<typeof plan>) => countChanges(p.departments, p.users);
const none = {
  departments: { create: 0, update: 0, move: 0, delete: 0 },
  users: { create: 0, update: 0, disable: 0, delete: 0 },
};

describe('the source view rebuilt from the directory', () => {
  it('holds exactly the objects linked to the source, and plans to no change at all', () => {
    const state = synced();
    const view = sourceView(state, 'wx');
    expect(view.departments.map((d) => [d.externalId, d.parentExternalId, d.name, d.order])).toStrictEqual([
      ['10', null, '研发部', 5],
      ['11', '10', '平台组', 1],
    ]);
    expect(view.users.map((u) => u.externalId)).toStrictEqual(['zhangsan', 'lisi']);
    const zhang = view.users[0];
    // Memberships only in the source's departments; the local-only department is not the source's business.
    expect(zhang?.departments).toStrictEqual([
      { externalId: '10', leader: true, order: 3 },
      { externalId: '11', leader: false, order: 0 },
    ]);
    expect(zhang?.mainDepartment).toBe('11');
    expect(view.users[1]?.status).toBe('disabled');
    const p = plan('wx', view, state, resolvePolicy({}));
    expect(counts(p)).toMatchObject(none);
    expect(p.issues).toStrictEqual([]);
  });

  it('lays reads over it: a read user replaces, null removes, departments come and go', () => {
    const state = synced();
    const reads = {
      users: new Map([
        [
          'zhangsan',
          { externalId: 'zhangsan', name: '张三丰', departments: [{ externalId: '12', leader: false, order: 0 }] },
        ],
        ['lisi', null],
        ['wangwu', { externalId: 'wangwu', name: '王五', departments: [{ externalId: '10' }] }],
      ]),
      departments: new Map([
        ['12', { externalId: '12', parentExternalId: '10', name: '新部门' }],
        ['10', null],
      ]),
    };
    const view = applyReads(sourceView(state, 'wx'), reads);
    // 10 is gone: 11 and 12 hang at the top until a read says where they are.
    expect(view.departments.map((d) => [d.externalId, d.parentExternalId])).toStrictEqual([
      ['11', null],
      ['12', null],
    ]);
    expect(view.users.map((u) => u.externalId).sort()).toStrictEqual(['wangwu', 'zhangsan']);
    // Memberships in a removed department go with it.
    expect(view.users.find((u) => u.externalId === 'wangwu')?.departments).toStrictEqual([]);
    expect(view.users.find((u) => u.externalId === 'zhangsan')?.name).toBe('张三丰');
  });

  it('an unseen field (absent in the read) is kept, not wiped', () => {
    const state = synced();
    const view = applyReads(sourceView(state, 'wx'), {
      departments: new Map(),
      users: new Map([
        [
          'zhangsan',
          {
            externalId: 'zhangsan',
            name: '张三',
            departments: [
              { externalId: '10', leader: true, order: 3 },
              { externalId: '11', leader: false, order: 0 },
            ],
            mainDepartment: '11',
          },
        ],
      ]),
    });
    const p = plan('wx', view, state, resolvePolicy({}));
    // The read has no mobile, gender or attributes (a new self-built app): nothing changes.
    expect(counts(p)).toMatchObject(none);
  });
});

describe('coalescing a burst of events', () => {
  it('reads each touched object once and follows renames', () => {
    const c = coalesce([
      { object: 'user', externalId: 'a' },
      { object: 'user', externalId: 'a' },
      { object: 'department', externalId: '5' },
      { object: 'user', externalId: 'b', newExternalId: 'b2' },
      { object: 'user', externalId: 'b' },
      { object: 'department', externalId: '5' },
    ]);
    expect(c.users.sort()).toStrictEqual(['a', 'b', 'b2']);
    expect(c.departments).toStrictEqual(['5']);
    expect(c.renames).toStrictEqual([{ from: 'b', to: 'b2' }]);
  });

  it('an event run plans only the touched users, and the plan is the one the whole view gives', () => {
    const state = synced();
    const policy = resolvePolicy({});
    const cases: ObjectReads[] = [
      // A user read with a new name and one membership fewer; nobody else touched.
      {
        departments: new Map(),
        users: new Map([
          [
            'zhangsan',
            { externalId: 'zhangsan', name: '张三丰', departments: [{ externalId: '10', leader: true, order: 3 }] },
          ],
        ]),
      },
      // A department gone: lisi, untouched by the reads, is a member of it, so lisi is planned too.
      { departments: new Map([['11', null]]), users: new Map() },
      // A user gone and a new one.
      {
        departments: new Map(),
        users: new Map([
          ['lisi', null],
          [
            'wangwu',
            { externalId: 'wangwu', name: '王五', departments: [{ externalId: '10', leader: false, order: 0 }] },
          ],
        ]),
      },
    ];
    const planned: string[][] = [];
    for (const reads of cases) {
      const users = touchedUsers(state, 'wx', reads);
      const scoped = plan('wx', applyReads(sourceView(state, 'wx', users), reads), state, policy, { userScope: users });
      const whole = plan('wx', applyReads(sourceView(state, 'wx'), reads), state, policy);
      expect(scoped.users).toStrictEqual(whole.users);
      expect(scoped.departments).toStrictEqual(whole.departments);
      expect(scoped.issues).toStrictEqual(whole.issues);
      planned.push([...users].sort());
    }
    expect(planned).toStrictEqual([['zhangsan'], ['lisi', 'zhangsan'], ['lisi', 'wangwu']]);
    // The cases change something, so the comparison is not of two empty plans.
    expect(counts(plan('wx', applyReads(sourceView(state, 'wx'), cases[2]!), state, policy)).users).toMatchObject({
      create: 1,
      disable: 0,
    });
  });

  it('a directory loaded for a scope of users plans only that scope, of that source, with the counted base for the guard', () => {
    const state = { ...synced(), scope: { source: 'wx', activeLinkedUsers: 40 } };
    const view = sourceView(state, 'wx', new Set(['zhangsan']));
    // Planned as a whole org, every user it did not load would look gone: refused.
    expect(() => plan('wx', view, state, resolvePolicy({}))).toThrow(/scope/);
    expect(() => plan('hr', view, state, resolvePolicy({}), { userScope: new Set(['zhangsan']) })).toThrow(/scope/);
    const p = plan('wx', view, state, resolvePolicy({}), { userScope: new Set(['zhangsan']) });
    expect(counts(p)).toMatchObject(none);
    expect(p.activeLinkedUsers).toBe(40);
  });
});
