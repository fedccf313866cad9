import { describe, expect, it } from 'vitest';
import type { SnapshotUser } from '../../src/directory/snapshot.js';
import { planEnrichment } from '../../src/reconcile/enrich.js';
import { guard } from '../../src/reconcile/guard.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { directory, link, localDept, localUser, snapshot } from '../helpers/builders.js';

/** planEnrichment: a file's rows matched by account to the users linked to a connection, for the fields it fills. */

const SRC = 'wecom-main';

function local() {
  return directory(
    [localDept(10, 1, '总部', [link(SRC, '1')])],
    [
      localUser(100, {
        userid: 'ZhangSan',
        name: '张三',
        position: '工程师',
        mainDepartmentId: 10,
        memberships: [{ departmentId: 10, order: 0, leader: false }],
        attributes: { 工号: 'A1' },
        links: [link(SRC, 'ZhangSan')],
      }),
      localUser(101, { userid: 'lisi', name: '李四', mobile: '+86 13800000002', links: [link(SRC, 'lisi')] }),
      localUser(102, { userid: 'wangwu', name: '王五', status: 'disabled', links: [link(SRC, 'wangwu')] }),
      // Not linked to the connection: a local account, and one of another source.
      localUser(103, { userid: 'zhaoliu', name: '赵六' }),
      localUser(104, { userid: 'sunqi', name: '孙七', links: [link('hr', 'sunqi')] }),
    ],
  );
}

const enrich = (users: SnapshotUser[], p: PolicyInput = {}) =>
  planEnrichment(SRC, snapshot([], users), local(), resolvePolicy(p));

describe('planEnrichment', () => {
  it('fills the enriched fields of linked users only, field by field, and counts the rows', () => {
    const { plan, enrichment } = enrich([
      {
        externalId: 'ZhangSan',
        name: '别名',
        position: '经理',
        status: 'disabled',
        mobile: '+86 13800000001',
        email: 'zs@example.com',
        gender: 'male',
        address: '北京',
        telephone: '010-1',
        attributes: { 工位: 'B2' },
      },
      { externalId: 'lisi', mobile: '+86 13800000002' },
      { externalId: 'wangwu', email: 'ww@example.com' },
      { externalId: 'zhaoliu', mobile: '+86 13800000004' },
      { externalId: 'sunqi', mobile: '+86 13800000005' },
    ]);
    expect(enrichment).toEqual({ matched: 3, enriched: 2, unmatched: 2, unmatchedAccounts: ['zhaoliu', 'sunqi'] });
    expect(plan.departments).toEqual([]);
    expect(plan.users).toEqual([
      {
        action: 'update',
        ref: 100,
        externalId: 'ZhangSan',
        label: '张三',
        set: {
          mobile: '+86 13800000001',
          email: 'zs@example.com',
          gender: 'male',
          address: '北京',
          telephone: '010-1',
          attributes: { 工号: 'A1', 工位: 'B2' },
        },
        fields: {
          mobile: { before: null, after: '+86 13800000001' },
          email: { before: null, after: 'zs@example.com' },
          gender: { before: null, after: 'male' },
          address: { before: null, after: '北京' },
          telephone: { before: null, after: '010-1' },
          'attributes.工位': { before: null, after: 'B2' },
        },
      },
      {
        action: 'update',
        ref: 102,
        externalId: 'wangwu',
        label: '王五',
        set: { email: 'ww@example.com' },
        fields: { email: { before: null, after: 'ww@example.com' } },
      },
    ]);
    expect(plan).toMatchObject({ source: SRC, baseRevision: 7, complete: true, activeLinkedUsers: 2, issues: [] });
    expect(guard(plan, resolvePolicy({})).blocked).toBeNull();
  });

  it('matches an account written in another case; empty clears, absent keeps', () => {
    const { plan, enrichment } = enrich([
      { externalId: 'zhangsan', mobile: '+86 13800000001' },
      { externalId: 'LISI', mobile: '', email: null },
    ]);
    expect(enrichment).toMatchObject({ matched: 2, enriched: 2, unmatched: 0 });
    expect(plan.users.map((c) => [c.ref, c.fields])).toEqual([
      [100, { mobile: { before: null, after: '+86 13800000001' } }],
      [101, { mobile: { before: '+86 13800000002', after: null } }],
    ]);
  });

  it("leaves a field the policy gives 'never', and fills one it gives 'create' only where it is empty", () => {
    const rows: SnapshotUser[] = [
      { externalId: 'ZhangSan', mobile: '+86 13800000001', email: 'zs@example.com', attributes: { 工号: 'X' } },
      { externalId: 'lisi', mobile: '+86 13900000002' },
    ];
    const { plan } = enrich(rows, { ownership: { users: { email: 'never', mobile: 'create', attributes: 'create' } } });
    expect(plan.users.map((c) => [c.ref, c.fields])).toEqual([
      [100, { mobile: { before: null, after: '+86 13800000001' } }],
    ]);
  });

  it('lists at most ten unmatched accounts, in the order of the file, and is deterministic', () => {
    const rows = Array.from({ length: 14 }, (_, i) => ({ externalId: `ghost${14 - i}` }));
    const a = enrich(rows);
    expect(a.enrichment).toEqual({
      matched: 0,
      enriched: 0,
      unmatched: 14,
      unmatchedAccounts: rows.slice(0, 10).map((r) => r.externalId),
    });
    expect(enrich(rows)).toEqual(a);
  });
});
