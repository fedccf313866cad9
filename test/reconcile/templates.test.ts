import { describe, expect, it } from 'vitest';
import type { SnapshotUser } from '../../src/directory/snapshot.js';
import { guard } from '../../src/reconcile/guard.js';
import { plan } from '../../src/reconcile/plan.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { countChanges, type Plan, type Template } from '../../src/reconcile/types.js';
import { dept, directory, link, localDept, localUser, snapshot } from '../helpers/builders.js';

/** The import templates in the pure planner: what each takes of the same snapshot. */

const SRC = 'hr';

/** Local: 总部 / 研发, 市场, 销售; alice and bob in 研发 (bob in 市场 too), carol in 市场, dave alone in 销售. */
function local() {
  return directory(
    [
      localDept(10, 1, '总部', [link(SRC, '1')]),
      localDept(11, 10, '研发', [link(SRC, '2')]),
      localDept(12, 10, '市场', [link(SRC, '3')]),
      localDept(13, 10, '销售', [link(SRC, '4')]),
    ],
    [
      localUser(100, {
        userid: 'alice',
        name: '爱丽丝',
        mobile: '+86 13800000001',
        mainDepartmentId: 11,
        memberships: [{ departmentId: 11, order: 0, leader: false }],
        links: [link(SRC, 'alice')],
      }),
      localUser(101, {
        userid: 'bob',
        name: '鲍勃',
        mainDepartmentId: 11,
        memberships: [
          { departmentId: 11, order: 0, leader: false },
          { departmentId: 12, order: 0, leader: false },
        ],
        links: [link(SRC, 'bob')],
      }),
      localUser(102, {
        userid: 'carol',
        name: '卡罗尔',
        mainDepartmentId: 12,
        memberships: [{ departmentId: 12, order: 0, leader: false }],
        links: [link(SRC, 'carol')],
      }),
      localUser(103, {
        userid: 'dave',
        name: '戴夫',
        mainDepartmentId: 13,
        memberships: [{ departmentId: 13, order: 0, leader: false }],
        links: [link(SRC, 'dave')],
      }),
    ],
  );
}

const member = (d: string) => ({ externalId: d, order: 0, leader: false });

/** The source as the local directory has it. */
function unchangedUsers(): SnapshotUser[] {
  return [
    { externalId: 'alice', name: '爱丽丝', mobile: '+86 13800000001', mainDepartment: '2', departments: [member('2')] },
    { externalId: 'bob', name: '鲍勃', mainDepartment: '2', departments: [member('2'), member('3')] },
    { externalId: 'carol', name: '卡罗尔', mainDepartment: '3', departments: [member('3')] },
    { externalId: 'dave', name: '戴夫', mainDepartment: '4', departments: [member('4')] },
  ];
}
const UNCHANGED_DEPTS = [
  dept('1', null, '总部'),
  dept('2', '1', '研发'),
  dept('3', '1', '市场'),
  dept('4', '1', '销售'),
];

/** dave and 销售 gone, alice's mobile changed, frank new in the new 新部门. */
function changed() {
  const users = unchangedUsers().filter((u) => u.externalId !== 'dave');
  users[0] = { ...(users[0] as SnapshotUser), mobile: '+86 13900000001' };
  users.push({ externalId: 'frank', name: '弗兰克', mainDepartment: '5', departments: [member('5')] });
  return snapshot(
    [dept('1', null, '总部'), dept('2', '1', '研发'), dept('3', '1', '市场'), dept('5', '1', '新部门')],
    users,
  );
}

const policy = (p: PolicyInput = {}) => resolvePolicy(p);
const planned = (template: Template | undefined, s = changed(), p: PolicyInput = {}, dir = local()): Plan =>
  plan(SRC, s, dir, policy(p), template === undefined ? {} : { template });
/** Every change as "kind action externalId", sorted: what a plan does, without how. */
const actions = (p: Plan): string[] =>
  [
    ...p.departments.map((c) => `department ${c.action} ${c.externalId}`),
    ...p.users.map((c) => `user ${c.action} ${c.externalId}`),
  ].sort();

describe('templates: create-update', () => {
  const p = planned('create-update');

  it('creates what is new and updates what differs, field by field', () => {
    expect(actions(p)).toEqual(['department create 5', 'user create frank', 'user update alice']);
    expect(p.users.find((c) => c.externalId === 'alice')).toMatchObject({
      ref: 100,
      set: { mobile: '+86 13900000001' },
      fields: { mobile: { before: '+86 13800000001', after: '+86 13900000001' } },
    });
  });

  it('touches nobody and nothing the snapshot leaves out, and says so in a note', () => {
    expect(p.users.some((c) => c.gone || c.action === 'disable' || c.action === 'delete')).toBe(false);
    expect(p.departments.some((c) => c.action === 'delete')).toBe(false);
    expect(p.notes).toEqual([
      expect.objectContaining({
        code: 'TEMPLATE_KEPT_MISSING',
        message: expect.stringContaining('1 user(s) and 1 department(s) of source "hr" are not in the snapshot'),
      }),
    ]);
    expect(p.issues).toEqual([]);
    expect(p.complete).toBe(true);
  });

  it('still moves a person the snapshot moved, and leaves the department they left in place', () => {
    const s = changed();
    const carol = s.users.find((u) => u.externalId === 'carol') as SnapshotUser;
    carol.departments = [member('2')];
    carol.mainDepartment = '2';
    const bob = s.users.find((u) => u.externalId === 'bob') as SnapshotUser;
    bob.departments = [member('2')];
    s.departments = s.departments.filter((d) => d.externalId !== '3');
    const q = planned('create-update', s);
    expect(actions(q)).toEqual([
      'department create 5',
      'user create frank',
      'user update alice',
      'user update bob',
      'user update carol',
    ]);
    expect(q.users.find((c) => c.externalId === 'carol')?.memberships).toEqual({
      remove: [12],
      upsert: [{ department: 11, order: 0, leader: false }],
    });
  });

  it('links an unlinked local person it matches, as full does', () => {
    const dir = local();
    dir.users.push(localUser(104, { userid: 'frank', name: '弗兰克' }));
    const q = planned('create-update', changed(), {}, dir);
    expect(q.users.find((c) => c.externalId === 'frank')).toMatchObject({ action: 'update', ref: 104, addLink: true });
  });
});

describe('templates: delete-only', () => {
  const p = planned('delete-only');

  it('disables whoever the snapshot leaves out and deletes the department that emptied, nothing else', () => {
    expect(actions(p)).toEqual(['department delete 4', 'user disable dave']);
    expect(p.users[0]).toMatchObject({ ref: 103, gone: true, set: { status: 'disabled' } });
    expect(p.notes).toEqual([
      expect.objectContaining({
        code: 'TEMPLATE_SKIPPED_NEW',
        message: expect.stringContaining('1 user(s) and 1 department(s) of the snapshot are not linked'),
      }),
    ]);
  });

  it("deletes people when the policy's onUserGone asks for it", () => {
    expect(actions(planned('delete-only', changed(), { onUserGone: 'delete' }))).toEqual([
      'department delete 4',
      'user delete dave',
    ]);
    expect(actions(planned('delete-only', changed(), { onUserGone: 'ignore', onDepartmentGone: 'ignore' }))).toEqual(
      [],
    );
  });

  it('keeps a department the snapshot leaves out while people it lists are still in it here (it moves nobody)', () => {
    const s = changed();
    const carol = s.users.find((u) => u.externalId === 'carol') as SnapshotUser;
    carol.departments = [member('2')];
    s.departments = s.departments.filter((d) => d.externalId !== '3');
    const q = planned('delete-only', s);
    expect(actions(q)).toEqual(['department delete 4', 'user disable dave']);
    expect(q.notes.map((n) => n.code)).toEqual(['DEPARTMENT_KEPT', 'TEMPLATE_SKIPPED_NEW']);
    // full moves carol and bob out first, and so deletes it.
    const bob = s.users.find((u) => u.externalId === 'bob') as SnapshotUser;
    bob.departments = [member('2')];
    expect(actions(planned('full', s))).toContain('department delete 3');
  });

  it('links nobody: an unlinked local person with the same userid stays unlinked', () => {
    const dir = local();
    dir.users.push(localUser(104, { userid: 'frank', name: '弗兰克' }));
    expect(actions(planned('delete-only', changed(), {}, dir))).toEqual(['department delete 4', 'user disable dave']);
  });

  it('holds back removals in a subtree the snapshot could not read in full, through the guard', () => {
    const s = changed();
    s.incompleteDepartments = ['1'];
    const q = planned('delete-only', s);
    const g = guard(q, policy());
    expect(actions(g.plan)).toEqual([]);
    expect(countChanges(g.suppressed.departments, g.suppressed.users)).toMatchObject({ users: { disable: 1 } });
    // dave stays active there, so 销售 is not empty either.
    expect(q.notes.map((n) => n.code)).toEqual(['DEPARTMENT_KEPT', 'TEMPLATE_SKIPPED_NEW']);
  });

  it('blocks at the guard when a truncated snapshot would remove too many', () => {
    const s = snapshot(UNCHANGED_DEPTS, unchangedUsers().slice(0, 1));
    const q = planned('delete-only', s);
    expect(actions(q)).toEqual(['user disable bob', 'user disable carol', 'user disable dave']);
    const g = guard(q, policy({ guard: { maxUsers: 2, maxRatio: 0.5 } }));
    expect(g.blocked).toMatchObject({ code: 'GUARD_BLOCKED', count: 3, base: 4 });
    expect(guard(q, policy()).blocked).toBeNull();
  });
});

describe('templates: full and the three together', () => {
  it('full is the default and does exactly what create-update and delete-only do, together', () => {
    const full = planned('full');
    expect(planned(undefined)).toEqual(full);
    expect(actions(full)).toEqual([...actions(planned('create-update')), ...actions(planned('delete-only'))].sort());
    expect(full.notes).toEqual([]);
  });

  it('an unchanged snapshot plans nothing and notes nothing under every template', () => {
    for (const template of ['create-update', 'delete-only', 'full'] as const) {
      const q = planned(template, snapshot(UNCHANGED_DEPTS, unchangedUsers()));
      expect({ template, departments: q.departments, users: q.users, notes: q.notes, issues: q.issues }).toEqual({
        template,
        departments: [],
        users: [],
        notes: [],
        issues: [],
      });
    }
  });

  it('each template gives the same plan for the same inputs, whatever their order', () => {
    for (const template of ['create-update', 'delete-only', 'full'] as const) {
      const s = changed();
      const reversed = snapshot([...s.departments].reverse(), [...s.users].reverse());
      expect(planned(template, reversed)).toEqual(planned(template, s));
    }
  });
});
