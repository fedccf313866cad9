import { describe, expect, it } from 'vitest';
import {
  dingDepartmentName,
  dingOperation,
  dingOrg,
  dingOrder,
  uniqueSiblingName,
  wecomView,
} from '../../src/simulator/dingtalk/convert.js';
import { DingCorp } from '../../src/simulator/dingtalk/corp.js';
import type { DingOrg } from '../../src/simulator/dingtalk/model.js';
import { DINGTALK_DEFAULT_SIZES } from '../../src/simulator/dingtalk/server.js';
import { generateOrg, randomOperations } from '../../src/simulator/org-generator.js';

/** The generated org in DingTalk's shapes: deterministic, valid under DingTalk's rules, and realistic. */

const CORP = 'dingtestcorp';

function build(seed: number, departments: number, users: number): DingOrg {
  return dingOrg(generateOrg({ seed, departments, users }), { corpId: CORP, seed });
}

/** Direct members per department. */
function memberCounts(org: DingOrg): Map<number, number> {
  const counts = new Map<number, number>();
  for (const u of org.users) for (const d of u.dept_id_list) counts.set(d, (counts.get(d) ?? 0) + 1);
  return counts;
}

/** Every rule DingTalk sets on the org; returns the broken ones (empty when valid). Plain checks: orgs are large. */
function problems(org: DingOrg): string[] {
  const out: string[] = [];
  const ids = new Set(org.departments.map((d) => d.dept_id));
  const root = org.departments.find((d) => d.dept_id === 1);
  if (!root) out.push('no root');
  if (root && root.parent_id !== undefined) out.push('the root has a parent_id');
  const siblings = new Map<number, Set<string>>();
  for (const d of org.departments) {
    if (/[-,，]/.test(d.name) || [...d.name].length < 1 || [...d.name].length > 64) out.push(`bad name ${d.name}`);
    if (!Number.isInteger(d.order) || d.order < 0) out.push(`bad order ${d.dept_id}`);
    if (d.dept_id === 1) continue;
    if (!ids.has(d.parent_id!)) out.push(`no parent for ${d.dept_id}`);
    const names = siblings.get(d.parent_id!) ?? new Set();
    if (names.has(d.name)) out.push(`sibling name ${d.name} twice`);
    names.add(d.name);
    siblings.set(d.parent_id!, names);
  }
  const unionids = new Set<string>();
  for (const u of org.users) {
    if (!/^[A-Za-z0-9]{20,32}$/.test(u.unionid)) out.push(`bad unionid ${u.unionid}`);
    unionids.add(u.unionid);
    if (u.dept_order_list.map((o) => o.dept_id).join() !== u.dept_id_list.join())
      out.push(`dept_order_list of ${u.userid}`);
    if (u.leader_in_dept.map((l) => l.dept_id).join() !== u.dept_id_list.join())
      out.push(`leader_in_dept of ${u.userid}`);
    for (const d of u.dept_id_list) if (!ids.has(d)) out.push(`${u.userid} in unknown ${d}`);
  }
  if (unionids.size !== org.users.length) out.push('unionids repeat');
  return out;
}

describe('dingOrg', () => {
  it('at the default sizes: valid, a department of more than 1,000 direct members, users in several departments', () => {
    const org = build(1, DINGTALK_DEFAULT_SIZES.departments, DINGTALK_DEFAULT_SIZES.users);
    expect(org.departments.length).toBe(DINGTALK_DEFAULT_SIZES.departments);
    expect(org.users.length).toBe(DINGTALK_DEFAULT_SIZES.users);
    expect(problems(org)).toEqual([]);
    expect(Math.max(...memberCounts(org).values())).toBeGreaterThan(1000);
    const multi = org.users.filter((u) => u.dept_id_list.length > 1);
    expect(multi.length).toBeGreaterThan(org.users.length * 0.05);
    // Per-department leader flags: someone leads one of their departments and not another.
    expect(multi.some((u) => u.leader_in_dept.some((l) => l.leader) && u.leader_in_dept.some((l) => !l.leader))).toBe(
      true,
    );
    const inactive = org.users.filter((u) => !u.active).length;
    expect(inactive).toBeGreaterThan(org.users.length * 0.02);
    expect(inactive).toBeLessThan(org.users.length * 0.1);
    expect(org.users.filter((u) => u.boss)).toHaveLength(1);
    expect(org.users.filter((u) => u.admin).length).toBeGreaterThanOrEqual(1);
    expect(org.users.filter((u) => u.hide_mobile).length).toBeGreaterThan(0);
    expect(org.users.some((u) => u.email === undefined)).toBe(true);
  });

  it('at 50,000 users and 2,000 departments: the same, and the org loads into the corp', () => {
    const org = build(5, 2000, 50_000);
    expect(problems(org)).toEqual([]);
    expect(Math.max(...memberCounts(org).values())).toBeGreaterThan(1000);
    expect(org.users.filter((u) => u.dept_id_list.length > 1).length).toBeGreaterThan(2500);
    const corp = new DingCorp(org, CORP);
    expect(corp.userCount).toBe(50_000);
    expect(corp.departmentCount).toBe(2000);
  });

  it('is deterministic in the seed', () => {
    expect(JSON.stringify(build(9, 30, 300))).toBe(JSON.stringify(build(9, 30, 300)));
    expect(JSON.stringify(build(10, 30, 300))).not.toBe(JSON.stringify(build(9, 30, 300)));
  });

  it('keeps the sibling order: WeCom larger-first becomes DingTalk smaller-first', () => {
    const wecom = generateOrg({ seed: 4, departments: 60, users: 0 });
    const ding = dingOrg(wecom, { corpId: CORP, seed: 4 });
    const order = new Map(ding.departments.map((d) => [d.dept_id, d.order]));
    // Every pair of siblings WeCom orders (larger first), compared: there must be pairs, or nothing was checked.
    const pairs = wecom.departments.flatMap((d) =>
      wecom.departments.filter((e) => d.parentid === e.parentid && d.order > e.order).map((e) => [d.id, e.id] as const),
    );
    expect(pairs.length).toBeGreaterThan(20);
    expect(pairs.filter(([d, e]) => !((order.get(d) ?? Infinity) < (order.get(e) ?? -Infinity)))).toEqual([]);
    expect(dingOrder(100_000_000)).toBe(0);
    expect(dingOrder(2 ** 32 - 1)).toBe(0);
  });
});

describe('names', () => {
  it('hyphens become full-width, commas 、, and the result is at most 64 characters', () => {
    expect(dingDepartmentName('Team A-1')).toBe('Team A－1');
    expect(dingDepartmentName('甲,乙，丙')).toBe('甲、乙、丙');
    expect([...dingDepartmentName('部'.repeat(80))].length).toBe(64);
    expect(dingDepartmentName(' - ')).toBe('－');
  });

  it('a clash among siblings gets a number, within 64 characters', () => {
    expect(uniqueSiblingName('研发部', new Set(['研发部']))).toBe('研发部2');
    expect(uniqueSiblingName('研发部', new Set(['研发部', '研发部2']))).toBe('研发部3');
    expect([...uniqueSiblingName('部'.repeat(64), new Set(['部'.repeat(64)]))].length).toBe(64);
  });
});

describe('random operations in DingTalk terms', () => {
  it.each([1, 2, 3, 4, 5, 6])("seed %i: 400 changes apply in order under DingTalk's rules", (seed) => {
    const org = build(seed, 25, 200);
    const corp = new DingCorp(org, CORP);
    const ops = randomOperations(wecomView({ departments: corp.allDepartments(), users: [...corp.allUsers()] }), {
      count: 400,
      seed,
    }).map(dingOperation);
    for (const op of ops) corp.apply(op);
    expect(ops.length).toBe(400);
    const kinds = new Set(ops.map((o) => o.op));
    expect(kinds).toEqual(
      new Set(['createDepartment', 'updateDepartment', 'deleteDepartment', 'createUser', 'updateUser', 'deleteUser']),
    );
    const after = { departments: corp.allDepartments(), users: [...corp.allUsers()] };
    expect(problems(after)).toEqual([]);
  });
});
