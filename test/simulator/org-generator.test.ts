import { beforeAll, describe, expect, it } from 'vitest';
import { WECOM_LIMITS } from '../../src/connectors/wecom/limits.js';
import {
  checkDepartmentName,
  checkProfileField,
  checkUserId,
  checkUserName,
  emailKey,
  mobileKey,
  userIdKey,
} from '../../src/directory/limits.js';
import { COMPOUND_SURNAMES, GIVEN_CHARS, SURNAMES } from '../../src/simulator/names.js';
import { generateOrg, randomOperations } from '../../src/simulator/org-generator.js';
import { Random } from '../../src/simulator/random.js';
import type { SimOperation, SimOrg, WecomDepartment } from '../../src/simulator/wecom/model.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

function depthOf(byId: Map<number, WecomDepartment>, id: number): number {
  let level = 0;
  const seen = new Set<number>();
  for (let d = byId.get(id); d; d = byId.get(d.parentid)) {
    if (seen.has(d.id)) throw new Error(`cycle through department ${d.id}`);
    seen.add(d.id);
    level++;
  }
  return level;
}

function maxDepth(org: SimOrg): number {
  const byId = new Map(org.departments.map((d) => [d.id, d]));
  let max = 0;
  for (const d of org.departments) max = Math.max(max, depthOf(byId, d.id));
  return max;
}

function directMembers(org: SimOrg): Map<number, number> {
  const counts = new Map<number, number>();
  for (const u of org.users) for (const d of u.department) counts.set(d, (counts.get(d) ?? 0) + 1);
  return counts;
}

/** Structural problems of an org under WeCom's rules; [] when it is valid. */
function orgProblems(org: SimOrg): string[] {
  const problems: string[] = [];
  const byId = new Map<number, WecomDepartment>();
  for (const d of org.departments) {
    if (!Number.isInteger(d.id) || d.id < 1 || d.id > 2_147_483_647) problems.push(`bad id ${d.id}`);
    if (byId.has(d.id)) problems.push(`duplicate id ${d.id}`);
    byId.set(d.id, d);
  }
  const roots = org.departments.filter((d) => d.parentid === 0);
  if (roots.length !== 1 || roots[0]!.id !== 1) problems.push(`roots: ${roots.map((r) => r.id).join(',')}`);
  const siblings = new Map<number, Set<string>>();
  for (const d of org.departments) {
    const bad = checkDepartmentName(d.name, WECOM_LIMITS);
    if (bad) problems.push(`department ${d.id}: ${bad.message}`);
    if (d.name_en !== '' && checkDepartmentName(d.name_en, WECOM_LIMITS))
      problems.push(`department ${d.id}: bad name_en`);
    if (d.parentid !== 0 && !byId.has(d.parentid)) problems.push(`department ${d.id}: parent ${d.parentid} missing`);
    const names = siblings.get(d.parentid) ?? new Set<string>();
    if (names.has(d.name)) problems.push(`department ${d.id}: name "${d.name}" repeated under ${d.parentid}`);
    names.add(d.name);
    siblings.set(d.parentid, names);
    if (!Number.isInteger(d.order) || d.order < 0 || d.order >= 2 ** 32)
      problems.push(`department ${d.id}: order ${d.order}`);
    try {
      if (depthOf(byId, d.id) > 15) problems.push(`department ${d.id} deeper than 15`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const userKeys = new Set<string>();
  const mobiles = new Set<string>();
  const emails = new Set<string>();
  for (const u of org.users) {
    const bad = checkUserId(u.userid, WECOM_LIMITS);
    if (bad) problems.push(bad.message);
    if (userKeys.has(userIdKey(u.userid))) problems.push(`userid ${u.userid} repeated ignoring case`);
    userKeys.add(userIdKey(u.userid));
    if (checkUserName(u.name, WECOM_LIMITS)) problems.push(`${u.userid}: bad name`);
    if (u.mobile === '' && u.email === '') problems.push(`${u.userid}: neither mobile nor email`);
    if (u.mobile !== '') {
      if (mobiles.has(mobileKey(u.mobile))) problems.push(`${u.userid}: mobile repeated`);
      mobiles.add(mobileKey(u.mobile));
    }
    if (u.email !== '') {
      if (emails.has(emailKey(u.email))) problems.push(`${u.userid}: email repeated`);
      emails.add(emailKey(u.email));
    }
    for (const field of ['alias', 'position', 'mobile', 'email', 'telephone', 'address'] as const) {
      const v = checkProfileField(field, u[field], WECOM_LIMITS);
      if (v) problems.push(`${u.userid}: ${v.message}`);
    }
    if (u.department.length === 0 || u.department.length > 100)
      problems.push(`${u.userid}: ${u.department.length} departments`);
    if (new Set(u.department).size !== u.department.length) problems.push(`${u.userid}: repeated department`);
    if (u.order.length !== u.department.length || u.is_leader_in_dept.length !== u.department.length) {
      problems.push(`${u.userid}: arrays not aligned`);
    }
    for (const d of u.department) if (!byId.has(d)) problems.push(`${u.userid}: department ${d} missing`);
    if (!u.department.includes(u.main_department)) problems.push(`${u.userid}: main_department outside department`);
  }
  return problems;
}

type Kind =
  | 'createUser'
  | 'deleteUser'
  | 'renameUser'
  | 'changePosition'
  | 'moveUser'
  | 'otherUserUpdate'
  | 'createDepartment'
  | 'renameDepartment'
  | 'moveDepartment'
  | 'otherDepartmentUpdate'
  | 'deleteDepartment';

const REQUIRED_KINDS: Kind[] = [
  'createUser',
  'deleteUser',
  'renameUser',
  'changePosition',
  'moveUser',
  'createDepartment',
  'renameDepartment',
  'moveDepartment',
  'deleteDepartment',
];

function kindOf(op: SimOperation): Kind {
  switch (op.op) {
    case 'createUser':
    case 'deleteUser':
    case 'createDepartment':
    case 'deleteDepartment':
      return op.op;
    case 'updateDepartment':
      if (op.department.parentid !== undefined) return 'moveDepartment';
      if (op.department.name !== undefined) return 'renameDepartment';
      return 'otherDepartmentUpdate';
    case 'updateUser':
      if (op.user.department !== undefined) return 'moveUser';
      if (op.user.name !== undefined) return 'renameUser';
      if (op.user.position !== undefined) return 'changePosition';
      return 'otherUserUpdate';
  }
}

/**
 * Applies operations in order to a copy of an org with WeCom's rules, and reports the first problem of each
 * invalid operation ([] when all are valid).
 */
class WecomRules {
  private readonly depts = new Map<number, { id: number; name: string; parentid: number; children: Set<number> }>();
  private readonly users = new Map<
    string,
    { userid: string; department: number[]; main: number; mobile: string; email: string }
  >();
  private readonly members = new Map<number, number>();
  private readonly mobiles = new Map<string, string>();
  private readonly emails = new Map<string, string>();
  private maxId = 0;

  constructor(org: SimOrg) {
    for (const d of org.departments) {
      this.depts.set(d.id, { id: d.id, name: d.name, parentid: d.parentid, children: new Set() });
      this.maxId = Math.max(this.maxId, d.id);
    }
    for (const d of org.departments) this.depts.get(d.parentid)?.children.add(d.id);
    for (const u of org.users) {
      const key = userIdKey(u.userid);
      const user = {
        userid: u.userid,
        department: [...u.department],
        main: u.main_department,
        mobile: mobileKey(u.mobile),
        email: emailKey(u.email),
      };
      this.users.set(key, user);
      this.join(user.department, +1);
      if (u.mobile) this.mobiles.set(user.mobile, key);
      if (u.email) this.emails.set(user.email, key);
    }
  }

  get departmentCount(): number {
    return this.depts.size;
  }

  get userCount(): number {
    return this.users.size;
  }

  maxDepth(): number {
    let max = 0;
    for (const id of this.depts.keys()) max = Math.max(max, this.depth(id));
    return max;
  }

  private join(departments: number[], delta: number): void {
    for (const d of departments) this.members.set(d, (this.members.get(d) ?? 0) + delta);
  }

  private depth(id: number): number {
    let level = 0;
    for (let d = this.depts.get(id); d; d = this.depts.get(d.parentid)) {
      level++;
      if (level > 1000) throw new Error('cycle');
    }
    return level;
  }

  private height(id: number): number {
    const d = this.depts.get(id)!;
    let h = 0;
    for (const c of d.children) h = Math.max(h, this.height(c));
    return h + 1;
  }

  private siblingHas(parentId: number, name: string, except?: number): boolean {
    for (const c of this.depts.get(parentId)?.children ?? [])
      if (c !== except && this.depts.get(c)!.name === name) return true;
    return false;
  }

  private checkMemberships(u: {
    department?: number[];
    order?: number[];
    is_leader_in_dept?: number[];
  }): string | null {
    if (u.department === undefined) {
      if (u.order !== undefined || u.is_leader_in_dept !== undefined)
        return 'order/is_leader_in_dept without department';
      return null;
    }
    if (u.department.length === 0 || u.department.length > 100) return `${u.department.length} departments`;
    if (new Set(u.department).size !== u.department.length) return 'repeated department';
    for (const d of u.department) if (!this.depts.has(d)) return `department ${d} does not exist (60127)`;
    if (u.order !== undefined && u.order.length !== u.department.length) return 'order not aligned';
    if (u.is_leader_in_dept !== undefined && u.is_leader_in_dept.length !== u.department.length)
      return 'is_leader_in_dept not aligned (60132)';
    return null;
  }

  private checkContact(key: string, mobile: string | undefined, email: string | undefined): string | null {
    if (mobile !== undefined && mobile !== '') {
      if (checkProfileField('mobile', mobile, WECOM_LIMITS)) return `bad mobile ${mobile} (60103)`;
      const owner = this.mobiles.get(mobileKey(mobile));
      if (owner !== undefined && owner !== key) return `mobile ${mobile} exists (60104)`;
    }
    if (email !== undefined && email !== '') {
      if (checkProfileField('email', email, WECOM_LIMITS)) return `bad email ${email} (60105)`;
      const owner = this.emails.get(emailKey(email));
      if (owner !== undefined && owner !== key) return `email ${email} exists (60106)`;
    }
    return null;
  }

  /** Applies op when valid; returns the reason when not. */
  apply(op: SimOperation): string | null {
    switch (op.op) {
      case 'createDepartment': {
        const { id, name, parentid } = op.department;
        if (id === undefined || !Number.isInteger(id) || id <= this.maxId || id > 2_147_483_647)
          return `id ${id} not fresh`;
        if (this.depts.has(id)) return `id ${id} exists (60008)`;
        const bad = checkDepartmentName(name, WECOM_LIMITS);
        if (bad) return bad.message;
        if (!this.depts.has(parentid)) return `parent ${parentid} missing (60004)`;
        if (this.siblingHas(parentid, name)) return `name "${name}" exists under ${parentid} (60008)`;
        if (this.depth(parentid) + 1 > 15) return 'deeper than 15 (81002)';
        if (this.depts.size >= 30_000) return 'more than 30,000 departments';
        this.depts.set(id, { id, name, parentid, children: new Set() });
        this.depts.get(parentid)!.children.add(id);
        this.maxId = id;
        return null;
      }
      case 'updateDepartment': {
        const { id, name, parentid } = op.department;
        const d = this.depts.get(id);
        if (!d) return `department ${id} missing (60003)`;
        if (d.parentid === 0) return 'the root was touched';
        const newParent = parentid ?? d.parentid;
        const newName = name ?? d.name;
        if (name !== undefined) {
          const bad = checkDepartmentName(name, WECOM_LIMITS);
          if (bad) return bad.message;
        }
        if (!this.depts.has(newParent)) return `parent ${newParent} missing (60004)`;
        for (let p = this.depts.get(newParent); p; p = this.depts.get(p.parentid))
          if (p.id === id) return 'loop (60010)';
        if (this.siblingHas(newParent, newName, id)) return `name "${newName}" exists under ${newParent} (60008)`;
        if (this.depth(newParent) + this.height(id) > 15) return 'deeper than 15 (81002)';
        this.depts.get(d.parentid)!.children.delete(id);
        this.depts.get(newParent)!.children.add(id);
        d.parentid = newParent;
        d.name = newName;
        return null;
      }
      case 'deleteDepartment': {
        const d = this.depts.get(op.id);
        if (!d) return `department ${op.id} missing (60003)`;
        if (d.parentid === 0) return 'the root cannot be deleted (60007)';
        if (d.children.size > 0) return `department ${op.id} has sub-departments (60006)`;
        if ((this.members.get(op.id) ?? 0) > 0) return `department ${op.id} has members (60005)`;
        this.depts.get(d.parentid)!.children.delete(op.id);
        this.depts.delete(op.id);
        return null;
      }
      case 'createUser': {
        const u = op.user;
        const key = userIdKey(u.userid);
        const bad = checkUserId(u.userid, WECOM_LIMITS);
        if (bad) return bad.message;
        if (this.users.has(key)) return `userid ${u.userid} exists (60102)`;
        if (checkUserName(u.name, WECOM_LIMITS)) return 'bad name (60112)';
        const memberships = this.checkMemberships(u);
        if (memberships) return memberships;
        const main = u.main_department ?? u.department[0]!;
        if (!u.department.includes(main)) return 'main_department outside department';
        if (!u.mobile && !u.email) return 'neither mobile nor email (60129)';
        const contact = this.checkContact(key, u.mobile, u.email);
        if (contact) return contact;
        const user = {
          userid: u.userid,
          department: [...u.department],
          main,
          mobile: u.mobile ? mobileKey(u.mobile) : '',
          email: u.email ? emailKey(u.email) : '',
        };
        this.users.set(key, user);
        this.join(user.department, +1);
        if (user.mobile) this.mobiles.set(user.mobile, key);
        if (user.email) this.emails.set(user.email, key);
        return null;
      }
      case 'updateUser': {
        const u = op.user;
        const key = userIdKey(u.userid);
        const user = this.users.get(key);
        if (!user) return `userid ${u.userid} missing (60111)`;
        if (u.new_userid !== undefined) return 'new_userid is not generated';
        if (u.name !== undefined && checkUserName(u.name, WECOM_LIMITS)) return 'bad name (60112)';
        const memberships = this.checkMemberships(u);
        if (memberships) return memberships;
        const department = u.department ?? user.department;
        const main = u.main_department ?? user.main;
        if (!department.includes(main)) return 'main_department outside department';
        const contact = this.checkContact(key, u.mobile, u.email);
        if (contact) return contact;
        this.join(user.department, -1);
        user.department = [...department];
        this.join(user.department, +1);
        user.main = main;
        if (u.mobile !== undefined) {
          if (user.mobile) this.mobiles.delete(user.mobile);
          user.mobile = u.mobile ? mobileKey(u.mobile) : '';
          if (user.mobile) this.mobiles.set(user.mobile, key);
        }
        if (u.email !== undefined) {
          if (user.email) this.emails.delete(user.email);
          user.email = u.email ? emailKey(u.email) : '';
          if (user.email) this.emails.set(user.email, key);
        }
        return null;
      }
      case 'deleteUser': {
        const key = userIdKey(op.userid);
        const user = this.users.get(key);
        if (!user) return `userid ${op.userid} missing (60111)`;
        this.join(user.department, -1);
        if (user.mobile) this.mobiles.delete(user.mobile);
        if (user.email) this.emails.delete(user.email);
        this.users.delete(key);
        return null;
      }
    }
  }
}

function invalidOperations(org: SimOrg, ops: SimOperation[]): string[] {
  const rules = new WecomRules(org);
  const problems: string[] = [];
  ops.forEach((op, i) => {
    const problem = rules.apply(op);
    if (problem) problems.push(`#${i} ${JSON.stringify(op)}: ${problem}`);
  });
  return problems;
}

function kindCounts(ops: SimOperation[]): Map<Kind, number> {
  const counts = new Map<Kind, number>();
  for (const op of ops) counts.set(kindOf(op), (counts.get(kindOf(op)) ?? 0) + 1);
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Random
// ---------------------------------------------------------------------------------------------------------------

describe('Random', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new Random(123);
    const b = new Random(123);
    const c = new Random(124);
    const sa = Array.from({ length: 20 }, () => a.uint32());
    expect(Array.from({ length: 20 }, () => b.uint32())).toEqual(sa);
    expect(Array.from({ length: 20 }, () => c.uint32())).not.toEqual(sa);
  });

  it('keeps int() inside its inclusive range and reaches both ends', () => {
    const r = new Random(5);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = r.int(3, 7);
      expect(x).toBeGreaterThanOrEqual(3);
      expect(x).toBeLessThanOrEqual(7);
      seen.add(x);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
    expect(() => r.int(2, 1)).toThrow();
    expect(() => r.pick([])).toThrow();
  });

  it('shuffles to a permutation and draws weighted indexes in proportion', () => {
    const r = new Random(9);
    const arr = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = r.shuffle([...arr]);
    expect(shuffled).not.toEqual(arr);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(arr);
    const hits = [0, 0, 0];
    // weights 1, 1, 4 given as running totals
    for (let i = 0; i < 10_000; i++) hits[r.weightedIndex([1, 2, 6])]!++;
    expect(hits[2]! / 10_000).toBeGreaterThan(0.62);
    expect(hits[2]! / 10_000).toBeLessThan(0.71);
    expect(hits[0]! / 10_000).toBeGreaterThan(0.13);
    expect(hits[0]! / 10_000).toBeLessThan(0.2);
    expect(r.digits(11)).toMatch(/^\d{11}$/);
    expect(r.hex(19)).toMatch(/^[0-9a-f]{19}$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// generateOrg
// ---------------------------------------------------------------------------------------------------------------

describe('generateOrg', () => {
  let big: SimOrg;
  let medium: SimOrg;

  // How fast this is belongs to the simulator benchmark (its start-up figure), not to a timed test.
  beforeAll(() => {
    big = generateOrg({ seed: 20240601, departments: 3000, users: 100_000 });
    medium = generateOrg({ seed: 11, departments: 200, users: 3000 });
  });

  it('generates exactly 100,000 users in 3,000 departments', () => {
    expect(big.users).toHaveLength(100_000);
    expect(big.departments).toHaveLength(3000);
  });

  it('is deterministic: same seed and sizes, byte-identical JSON; another seed, another org', () => {
    const a = JSON.stringify(generateOrg({ seed: 11, departments: 200, users: 3000 }));
    expect(a).toBe(JSON.stringify(medium));
    const other = JSON.stringify(generateOrg({ seed: 12, departments: 200, users: 3000 }));
    expect(other).not.toBe(a);
    const tiny1 = JSON.stringify(generateOrg({ seed: 1, departments: 3, users: 4 }));
    const tiny2 = JSON.stringify(generateOrg({ seed: 2, departments: 3, users: 4 }));
    expect(tiny1).not.toBe(tiny2);
  });

  it.each([
    [1, 0],
    [1, 7],
    [2, 10],
    [3, 1],
    [14, 100],
    [15, 30],
    [16, 0],
    [200, 3000],
    [1000, 25_000],
  ])('makes exactly %i departments and %i users, all valid', (departments, users) => {
    const org = generateOrg({ seed: departments * 31 + users, departments, users });
    expect(org.departments).toHaveLength(departments);
    expect(org.users).toHaveLength(users);
    expect(orgProblems(org)).toEqual([]);
    const depth = maxDepth(org);
    expect(depth).toBeLessThanOrEqual(15);
    if (departments >= 15) expect(depth).toBe(15);
    else expect(depth).toBeLessThanOrEqual(departments);
  });

  it('refuses invalid sizes with a clear error', () => {
    expect(() => generateOrg({ seed: 1, departments: 0, users: 0 })).toThrow(/departments must be an integer ≥ 1/);
    expect(() => generateOrg({ seed: 1, departments: 30_001, users: 0 })).toThrow(/at most 30000/);
    expect(() => generateOrg({ seed: 1, departments: 2.5, users: 0 })).toThrow(/departments/);
    expect(() => generateOrg({ seed: 1, departments: 5, users: -1 })).toThrow(/users must be an integer ≥ 0/);
    expect(() => generateOrg({ seed: 1, departments: 5, users: Number.NaN })).toThrow(/users/);
    expect(() => generateOrg({ seed: Number.POSITIVE_INFINITY, departments: 5, users: 1 })).toThrow(/seed/);
    expect(generateOrg({ seed: 1, departments: 30_000, users: 0 }).departments).toHaveLength(30_000);
  });

  it('makes a valid big org: exact sizes, names, parents, no cycles, unique ids, contacts', () => {
    expect(big.departments).toHaveLength(3000);
    expect(big.users).toHaveLength(100_000);
    expect(orgProblems(big)).toEqual([]);
  });

  it('has a root with id 1 named like a company, and reaches exactly 15 levels, never more', () => {
    const root = big.departments.find((d) => d.parentid === 0)!;
    expect(root.id).toBe(1);
    expect(root.name).toMatch(/有限公司$/);
    expect(maxDepth(big)).toBe(15);
    expect(maxDepth(medium)).toBe(15);
  });

  it('has a realistic shape: a few top divisions, widening then narrowing', () => {
    const byId = new Map(big.departments.map((d) => [d.id, d]));
    const perLevel = new Array<number>(16).fill(0);
    for (const d of big.departments) perLevel[depthOf(byId, d.id)]!++;
    expect(perLevel[2]).toBeGreaterThanOrEqual(3);
    expect(perLevel[2]).toBeLessThanOrEqual(12);
    const peak = perLevel.indexOf(Math.max(...perLevel));
    expect(peak).toBeGreaterThanOrEqual(3);
    expect(peak).toBeLessThanOrEqual(6);
    expect(perLevel[15]!).toBeGreaterThanOrEqual(1);
    expect(perLevel[15]!).toBeLessThan(perLevel[peak]! / 5);
    // ids are not simply parent-before-child: some children carry smaller ids than their parents
    expect(big.departments.some((d) => d.parentid > d.id)).toBe(true);
    // some departments have an English name, some do not
    expect(big.departments.some((d) => d.name_en !== '')).toBe(true);
    expect(big.departments.some((d) => d.name_en === '')).toBe(true);
  });

  it('keeps department names valid and unique among siblings (including odd characters)', () => {
    const seen = new Map<number, Set<string>>();
    const bad: string[] = [];
    for (const d of big.departments) {
      if (checkDepartmentName(d.name, WECOM_LIMITS) !== null) bad.push(d.name);
      const names = seen.get(d.parentid) ?? new Set();
      if (names.has(d.name)) bad.push(`${d.parentid}/${d.name}`);
      names.add(d.name);
      seen.set(d.parentid, names);
    }
    expect(bad).toEqual([]);
    expect(big.departments.some((d) => /[ A-Za-z]/.test(d.name))).toBe(true);
  });

  it('has exactly one department with more than 10,000 direct members in a 100,000-user org', () => {
    const counts = [...directMembers(big).values()];
    expect(counts.filter((c) => c > 10_000)).toHaveLength(1);
  });

  it('gives the widest department of a smaller org roughly 10-20% of the users', () => {
    const widest = Math.max(...directMembers(medium).values());
    expect(widest / medium.users.length).toBeGreaterThanOrEqual(0.1);
    expect(widest / medium.users.length).toBeLessThanOrEqual(0.2);
    expect([...directMembers(medium).values()].filter((c) => c > 10_000)).toHaveLength(0);
  });

  it('uses valid userids, unique ignoring case, in mixed styles', () => {
    const keys = new Set<string>();
    const invalid = big.users.filter((u) => checkUserId(u.userid, WECOM_LIMITS) !== null).map((u) => u.userid);
    expect(invalid).toEqual([]);
    for (const u of big.users) keys.add(userIdKey(u.userid));
    expect(keys.size).toBe(big.users.length);
    expect(big.users.some((u) => /[A-Z]/.test(u.userid) && /[a-z]/.test(u.userid))).toBe(true);
    expect(big.users.some((u) => /^[a-z0-9]+$/.test(u.userid))).toBe(true);
    expect(big.users.some((u) => u.userid.includes('.'))).toBe(true);
    expect(big.users.some((u) => u.userid.includes('_'))).toBe(true);
    // a clash ignoring case got a suffix rather than a duplicate
    expect(big.users.some((u) => /[A-Z]/.test(u.userid) && /\d$/.test(u.userid))).toBe(true);
  });

  it('uses unique +86 mobiles and unique lowercase emails', () => {
    const mobiles = new Set<string>();
    const emails = new Set<string>();
    const bad: string[] = [];
    for (const u of big.users) {
      if (!/^\+86 1\d{10}$/.test(u.mobile)) bad.push(u.mobile);
      mobiles.add(mobileKey(u.mobile));
      if (u.email !== '') {
        if (u.email !== u.email.toLowerCase()) bad.push(u.email);
        emails.add(emailKey(u.email));
      }
    }
    expect(bad).toEqual([]);
    expect(mobiles.size).toBe(big.users.length);
    const withEmail = big.users.filter((u) => u.email !== '').length;
    expect(emails.size).toBe(withEmail);
    expect(withEmail / big.users.length).toBeGreaterThan(0.8);
    const biz = big.users.filter((u) => u.biz_mail !== '').map((u) => u.biz_mail);
    expect(biz.length).toBeGreaterThan(0);
    expect(new Set(biz).size).toBe(biz.length);
  });

  it('aligns department, order and is_leader_in_dept, with main_department among the departments', () => {
    const bad = big.users.filter(
      (u) =>
        u.department.length === 0 ||
        u.order.length !== u.department.length ||
        u.is_leader_in_dept.length !== u.department.length ||
        !u.department.includes(u.main_department) ||
        u.is_leader_in_dept.some((f) => f !== 0 && f !== 1) ||
        u.order.some((o) => !Number.isInteger(o) || o < 0 || o >= 2 ** 32),
    );
    expect(bad.map((u) => u.userid)).toEqual([]);
    expect(big.users.some((u) => u.is_leader_in_dept.includes(1))).toBe(true);
  });

  it('puts about 10% of users in 2-3 departments', () => {
    const multi = big.users.filter((u) => u.department.length > 1);
    expect(multi.length / big.users.length).toBeGreaterThanOrEqual(0.07);
    expect(multi.length / big.users.length).toBeLessThanOrEqual(0.13);
    expect(Math.max(...big.users.map((u) => u.department.length))).toBe(3);
    // the main department is not always the first one listed
    expect(multi.some((u) => u.main_department !== u.department[0])).toBe(true);
  });

  it('keeps department_leader consistent with is_leader_in_dept', () => {
    const flagged = new Map<number, Set<string>>();
    for (const u of big.users) {
      u.department.forEach((d, i) => {
        if (u.is_leader_in_dept[i] === 1) flagged.set(d, (flagged.get(d) ?? new Set()).add(u.userid));
      });
    }
    let withLeaders = 0;
    for (const d of big.departments) {
      expect(new Set(d.department_leader)).toEqual(flagged.get(d.id) ?? new Set());
      expect(new Set(d.department_leader).size).toBe(d.department_leader.length);
      if (d.department_leader.length > 0) withLeaders++;
    }
    expect(withLeaders / big.departments.length).toBeGreaterThan(0.5);
  });

  it('sets direct_leader to at most one leader of the main department', () => {
    const leaders = new Map(big.departments.map((d) => [d.id, new Set(d.department_leader)]));
    let withDirect = 0;
    const bad: string[] = [];
    for (const u of big.users) {
      if (u.direct_leader.length > 1) bad.push(u.userid);
      for (const l of u.direct_leader) {
        if (l === u.userid || !leaders.get(u.main_department)!.has(l)) bad.push(u.userid);
        withDirect++;
      }
    }
    expect(bad).toEqual([]);
    expect(withDirect / big.users.length).toBeGreaterThan(0.5);
  });

  it('uses statuses 1, 2 and 4 in realistic shares, never 5', () => {
    const counts = new Map<number, number>();
    for (const u of big.users) counts.set(u.status, (counts.get(u.status) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([1, 2, 4]);
    expect(counts.get(5)).toBeUndefined();
    expect(counts.get(1)! / big.users.length).toBeGreaterThan(0.9);
    expect(counts.get(2)! / big.users.length).toBeGreaterThan(0.01);
    expect(counts.get(2)! / big.users.length).toBeLessThan(0.03);
    expect(counts.get(4)! / big.users.length).toBeGreaterThan(0.02);
    expect(counts.get(4)! / big.users.length).toBeLessThan(0.04);
  });

  it('uses 2-3 character names, some with rare and some with supplementary-plane characters', () => {
    const common = new Set([...SURNAMES, ...GIVEN_CHARS].map(([c]) => c));
    const compound = new Set(COMPOUND_SURNAMES.map(([c]) => c));
    let rare = 0;
    let supplementary = 0;
    const badLength: string[] = [];
    for (const u of big.users) {
      const chars = [...u.name];
      if (chars.length < 2 || chars.length > 3) badLength.push(u.name);
      const given = compound.has(chars.slice(0, 2).join('')) ? chars.slice(2) : chars;
      if (given.some((c) => !common.has(c))) rare++;
      // surrogate pairs: more UTF-16 units than characters
      if (chars.some((c) => c.codePointAt(0)! > 0xffff) && u.name.length > chars.length) supplementary++;
    }
    expect(badLength).toEqual([]);
    expect(rare).toBeGreaterThan(0);
    expect(supplementary).toBeGreaterThan(0);
  });

  it('fills the remaining profile fields in WeCom shapes', () => {
    const genders = new Set(big.users.map((u) => u.gender));
    expect([...genders].sort()).toEqual(['0', '1', '2']);
    expect(big.users.some((u) => u.alias !== '')).toBe(true);
    expect(big.users.some((u) => u.telephone !== '')).toBe(true);
    expect(big.users.some((u) => u.address !== '')).toBe(true);
    expect(big.users.some((u) => u.position !== '')).toBe(true);
    expect(big.users.some((u) => u.external_position !== '')).toBe(true);
    expect(big.users.some((u) => u.extattr.attrs.some((a) => a.type === 1))).toBe(true);
    for (const u of big.users.slice(0, 5000)) {
      expect(u.extattr.attrs.length).toBeGreaterThanOrEqual(1);
      expect(u.extattr.attrs.length).toBeLessThanOrEqual(2);
      for (const a of u.extattr.attrs) {
        if (a.type === 0) expect(typeof a.text?.value).toBe('string');
        else expect(a.web?.url).toMatch(/^https:\/\//);
      }
      expect(u.qr_code).toMatch(/^https:\/\//);
      if (u.avatar !== '') expect(u.thumb_avatar).toMatch(/^https:\/\//);
      expect([...u.external_position].length).toBeLessThanOrEqual(12);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// randomOperations
// ---------------------------------------------------------------------------------------------------------------

describe('randomOperations', () => {
  let org: SimOrg;
  let big: SimOrg;

  beforeAll(() => {
    org = generateOrg({ seed: 3, departments: 150, users: 2000 });
    big = generateOrg({ seed: 4, departments: 3000, users: 30_000 });
  });

  it('produces exactly count operations', () => {
    for (const count of [0, 1, 2, 9, 200, 1000]) {
      expect(randomOperations(org, { count, seed: count })).toHaveLength(count);
    }
    expect(() => randomOperations(org, { count: -1, seed: 1 })).toThrow(/count/);
  });

  it('is deterministic for the same org, count and seed, and differs for another seed', () => {
    const a = JSON.stringify(randomOperations(org, { count: 300, seed: 99 }));
    expect(JSON.stringify(randomOperations(org, { count: 300, seed: 99 }))).toBe(a);
    expect(JSON.stringify(randomOperations(org, { count: 300, seed: 100 }))).not.toBe(a);
  });

  it('does not modify the org it is given', () => {
    const before = JSON.stringify(org);
    randomOperations(org, { count: 500, seed: 5 });
    expect(JSON.stringify(org)).toBe(before);
  });

  it.each([1, 2, 3])('gives a realistic mix with every kind present (seed %i)', (seed) => {
    const ops = randomOperations(org, { count: 200, seed });
    const counts = kindCounts(ops);
    for (const kind of REQUIRED_KINDS) expect(counts.get(kind) ?? 0, kind).toBeGreaterThan(0);
    for (const [, n] of counts) expect(n / ops.length).toBeLessThan(0.4);
  });

  it('the rule checker catches invalid operations', () => {
    const root = org.departments.find((d) => d.parentid === 0)!;
    const leafWithMembers = org.departments.find(
      (d) =>
        d.parentid !== 0 &&
        !org.departments.some((c) => c.parentid === d.id) &&
        org.users.some((u) => u.department.includes(d.id)),
    )!;
    const someParent = org.departments.find(
      (d) => d.parentid === root.id && org.departments.some((c) => c.parentid === d.id),
    )!;
    const child = org.departments.find((c) => c.parentid === someParent.id)!;
    const sibling = org.departments.find((c) => c.parentid === root.id && c.id !== someParent.id)!;
    const u0 = org.users[0]!;
    const u1 = org.users[1]!;
    const bad: SimOperation[] = [
      { op: 'deleteDepartment', id: root.id },
      { op: 'deleteDepartment', id: leafWithMembers.id },
      { op: 'deleteDepartment', id: someParent.id },
      { op: 'updateDepartment', department: { id: someParent.id, parentid: child.id } },
      { op: 'updateDepartment', department: { id: sibling.id, name: someParent.name } },
      { op: 'createDepartment', department: { id: 9_999_999, name: 'a|b', parentid: root.id } },
      { op: 'createDepartment', department: { id: 1, name: 'x', parentid: root.id } },
      {
        op: 'createUser',
        user: { userid: u0.userid.toUpperCase(), name: '新人', department: [root.id], mobile: '+86 13900000000' },
      },
      { op: 'createUser', user: { userid: '_bad', name: '新人', department: [root.id], mobile: '+86 13900000001' } },
      { op: 'createUser', user: { userid: 'fresh.one', name: '新人', department: [root.id], mobile: u0.mobile } },
      { op: 'updateUser', user: { userid: u1.userid, department: [root.id], is_leader_in_dept: [0, 1] } },
      { op: 'updateUser', user: { userid: u1.userid, main_department: 987_654_321 } },
      { op: 'deleteUser', userid: 'nobody-here' },
    ];
    const problems = invalidOperations(org, bad);
    expect(problems).toHaveLength(bad.length);
  });

  it('produces only operations valid under WeCom rules when applied in order', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const ops = randomOperations(org, { count: 1000, seed });
      expect(invalidOperations(org, ops)).toEqual([]);
    }
  });

  it('stays valid on a big org, a tiny org and a long run, and keeps depth ≤ 15', () => {
    const bigOps = randomOperations(big, { count: 2000, seed: 8 });
    expect(invalidOperations(big, bigOps)).toEqual([]);
    const counts = kindCounts(bigOps);
    for (const kind of REQUIRED_KINDS) expect(counts.get(kind) ?? 0, kind).toBeGreaterThan(0);

    const tiny = generateOrg({ seed: 6, departments: 1, users: 0 });
    const tinyOps = randomOperations(tiny, { count: 300, seed: 6 });
    expect(invalidOperations(tiny, tinyOps)).toEqual([]);
    const tinyCounts = kindCounts(tinyOps);
    for (const kind of REQUIRED_KINDS) expect(tinyCounts.get(kind) ?? 0, kind).toBeGreaterThan(0);

    const deep = generateOrg({ seed: 7, departments: 15, users: 20 });
    const longOps = randomOperations(deep, { count: 5000, seed: 7 });
    const rules = new WecomRules(deep);
    for (const op of longOps) expect(rules.apply(op)).toBeNull();
    expect(rules.maxDepth()).toBeLessThanOrEqual(15);
    expect(rules.departmentCount).toBeGreaterThan(1);
    expect(rules.userCount).toBeGreaterThan(0);
  });

  it('deletes departments that still had members only after moving or removing them in the same list', () => {
    const ops = randomOperations(org, { count: 1000, seed: 21 });
    const populated = new Set(org.users.flatMap((u) => u.department));
    const deletedPopulated = ops.filter((op) => op.op === 'deleteDepartment' && populated.has(op.id));
    expect(deletedPopulated.length).toBeGreaterThan(0);
    expect(invalidOperations(org, ops)).toEqual([]);
  });
});
