import { WECOM_LIMITS } from '../../connectors/wecom/limits.js';
import { checkDepartmentName, checkUserId, mobileKey } from '../../directory/limits.js';
import { WecomApiError } from './errors.js';
import type { SimOperation, SimOrg, WecomDepartment, WecomUser } from './model.js';

/** What a change did, for the callbacks WeCom sends (change_contact ChangeType). */
export type ContactChange =
  | { type: 'create_user'; user: WecomUser }
  | { type: 'update_user'; userid: string; newUserid?: string; changed: Partial<WecomUser>; user: WecomUser }
  | { type: 'delete_user'; userid: string }
  | { type: 'create_party'; department: WecomDepartment }
  | { type: 'update_party'; id: number; changed: Partial<WecomDepartment>; department: WecomDepartment }
  | { type: 'delete_party'; id: number };

const MAX_DEPARTMENTS = 30_000;
const MAX_INT32 = 2 ** 31 - 1;
const MOBILE = /^\+?[0-9][0-9 -]{0,31}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const key = (userid: string): string => userid.toLowerCase();
const chars = (s: string): number => [...s].length;

export interface CreateDepartmentInput {
  id?: number;
  name: string;
  name_en?: string;
  parentid: number;
  order?: number;
}

export type CreateUserInput = Partial<Omit<WecomUser, 'userid' | 'name' | 'department'>> & {
  userid: string;
  name: string;
  department?: number[];
};

export type UpdateUserInput = Partial<Omit<WecomUser, 'userid'>> & { userid: string; new_userid?: string };

/**
 * One simulated corp: departments and users with WeCom's write rules, and the indexes reads need.
 * Every rule violation throws WecomApiError with the errcode WeCom gives.
 */
export class SimCorp {
  private readonly departments = new Map<number, WecomDepartment>();
  private readonly children = new Map<number, Set<number>>();
  private readonly users = new Map<string, WecomUser>();
  private readonly members = new Map<number, Set<string>>();
  /** By mobileKey: "+86 138…" and "138…" are one number, as WeCom lets mainland numbers omit +86. */
  private readonly byMobile = new Map<string, string>();
  private readonly byEmail = new Map<string, string>();
  private nextDepartmentId = 2;
  private changes = 0;

  constructor(org: SimOrg) {
    for (const d of org.departments) this.addDepartment(structuredClone(d));
    if (!this.departments.has(1)) throw new Error('the org has no root department (id 1)');
    for (const u of org.users) this.addUser(structuredClone(u));
  }

  // ------------------------------------------------------------------ reads

  /** Moves on every write: lets readers cache what they derive from the corp. */
  get version(): number {
    return this.changes;
  }

  get departmentCount(): number {
    return this.departments.size;
  }

  get userCount(): number {
    return this.users.size;
  }

  department(id: number): WecomDepartment | undefined {
    return this.departments.get(id);
  }

  user(userid: string): WecomUser | undefined {
    return this.users.get(key(userid));
  }

  /** The department and all its descendants, parents before children, siblings by id. */
  subtree(id: number): WecomDepartment[] {
    const out: WecomDepartment[] = [];
    const root = this.departments.get(id);
    if (!root) return out;
    const queue = [root];
    for (let i = 0; i < queue.length; i++) {
      const d = queue[i] as WecomDepartment;
      out.push(d);
      const kids = [...(this.children.get(d.id) ?? [])].sort((a, b) => a - b);
      for (const k of kids) queue.push(this.departments.get(k) as WecomDepartment);
    }
    return out;
  }

  /** Direct members of a department, in the order they joined. */
  membersOf(id: number): WecomUser[] {
    return [...(this.members.get(id) ?? [])].map((k) => this.users.get(k) as WecomUser);
  }

  allUsers(): IterableIterator<WecomUser> {
    return this.users.values();
  }

  depth(id: number): number {
    let n = 0;
    for (let d = this.departments.get(id); d; d = d.parentid === 0 ? undefined : this.departments.get(d.parentid)) n++;
    return n;
  }

  isDescendant(id: number, ancestor: number): boolean {
    for (let d = this.departments.get(id); d; d = d.parentid === 0 ? undefined : this.departments.get(d.parentid)) {
      if (d.id === ancestor) return true;
    }
    return false;
  }

  snapshot(): SimOrg {
    return {
      departments: [...this.departments.values()].sort((a, b) => a.id - b.id).map((d) => structuredClone(d)),
      users: [...this.users.values()].map((u) => structuredClone(u)),
    };
  }

  // ------------------------------------------------------------------ department writes

  createDepartment(input: CreateDepartmentInput): { id: number; change: ContactChange } {
    this.checkDepartmentName(input.name);
    const parent = this.departments.get(input.parentid);
    if (!parent) throw new WecomApiError(60004, `parentid ${input.parentid}`);
    if (this.departments.size >= MAX_DEPARTMENTS) throw new WecomApiError(40058, 'at most 30000 departments');
    if (this.depth(parent.id) + 1 > WECOM_LIMITS.maxDepth!) throw new WecomApiError(81002);
    let id = input.id;
    if (id !== undefined) {
      if (!Number.isInteger(id) || id <= 1 || id > MAX_INT32) throw new WecomApiError(60123, `id ${id}`);
      if (this.departments.has(id)) throw new WecomApiError(60008, `id ${id}`);
    } else {
      while (this.departments.has(this.nextDepartmentId)) this.nextDepartmentId++;
      id = this.nextDepartmentId;
    }
    this.checkSiblingName(parent.id, input.name, undefined);
    const department: WecomDepartment = {
      id,
      name: input.name,
      name_en: input.name_en ?? '',
      parentid: parent.id,
      order: this.checkOrder(input.order ?? 0),
      department_leader: [],
    };
    this.addDepartment(department);
    return { id, change: { type: 'create_party', department: structuredClone(department) } };
  }

  updateDepartment(input: {
    id: number;
    name?: string;
    name_en?: string;
    parentid?: number;
    order?: number;
  }): ContactChange {
    const d = this.departments.get(input.id);
    if (!d) throw new WecomApiError(60003, `id ${input.id}`);
    const changed: Partial<WecomDepartment> = {};
    if (input.parentid !== undefined && input.parentid !== d.parentid) {
      if (d.id === 1) throw new WecomApiError(60010, 'the root has no parent');
      const parent = this.departments.get(input.parentid);
      if (!parent) throw new WecomApiError(60004, `parentid ${input.parentid}`);
      if (this.isDescendant(parent.id, d.id)) throw new WecomApiError(60010);
      const height = this.height(d.id);
      if (this.depth(parent.id) + height > WECOM_LIMITS.maxDepth!) throw new WecomApiError(81002);
      changed.parentid = parent.id;
    }
    if (input.name !== undefined && input.name !== d.name) {
      this.checkDepartmentName(input.name);
      changed.name = input.name;
    }
    const finalParent = changed.parentid ?? d.parentid;
    if (changed.name !== undefined || changed.parentid !== undefined)
      this.checkSiblingName(finalParent, changed.name ?? d.name, d.id);
    if (input.order !== undefined && input.order !== d.order) changed.order = this.checkOrder(input.order);
    if (input.name_en !== undefined && input.name_en !== d.name_en) changed.name_en = input.name_en;

    if (changed.parentid !== undefined) {
      this.children.get(d.parentid)?.delete(d.id);
      this.childSet(changed.parentid).add(d.id);
    }
    Object.assign(d, changed);
    this.changes++;
    return { type: 'update_party', id: d.id, changed, department: structuredClone(d) };
  }

  deleteDepartment(id: number): ContactChange {
    const d = this.departments.get(id);
    if (!d) throw new WecomApiError(60003, `id ${id}`);
    if (id === 1) throw new WecomApiError(60007);
    if ((this.children.get(id)?.size ?? 0) > 0) throw new WecomApiError(60006);
    if ((this.members.get(id)?.size ?? 0) > 0) throw new WecomApiError(60005);
    this.changes++;
    this.departments.delete(id);
    this.children.get(d.parentid)?.delete(id);
    this.children.delete(id);
    this.members.delete(id);
    return { type: 'delete_party', id };
  }

  // ------------------------------------------------------------------ user writes

  createUser(input: CreateUserInput): { user: WecomUser; change: ContactChange } {
    const check = checkUserId(input.userid, WECOM_LIMITS);
    if (check) throw new WecomApiError(40003, check.message);
    if (this.users.has(key(input.userid))) throw new WecomApiError(60102, `userid ${input.userid}`);
    this.checkName(input.name);
    const mobile = input.mobile ?? '';
    const email = input.email ?? '';
    if (mobile === '' && email === '') throw new WecomApiError(60129);
    const department = input.department && input.department.length > 0 ? input.department : [1];
    const user: WecomUser = {
      userid: input.userid,
      name: input.name,
      department,
      order: input.order ?? department.map(() => 0),
      is_leader_in_dept: input.is_leader_in_dept ?? department.map(() => 0),
      main_department: input.main_department ?? (department[0] as number),
      position: input.position ?? '',
      mobile,
      gender: input.gender ?? '0',
      email,
      biz_mail: input.biz_mail ?? '',
      direct_leader: input.direct_leader ?? [],
      avatar: input.avatar ?? '',
      thumb_avatar: input.thumb_avatar ?? '',
      telephone: input.telephone ?? '',
      alias: input.alias ?? '',
      address: input.address ?? '',
      extattr: input.extattr ?? { attrs: [] },
      status: input.status ?? 4,
      qr_code: input.qr_code ?? '',
      external_position: input.external_position ?? '',
    };
    this.checkUser(user, undefined);
    this.addUser(user);
    return { user: structuredClone(user), change: { type: 'create_user', user: structuredClone(user) } };
  }

  updateUser(input: UpdateUserInput): ContactChange {
    const user = this.users.get(key(input.userid));
    if (!user) throw new WecomApiError(60111, `userid ${input.userid}`);
    const next: WecomUser = structuredClone(user);
    const { userid: _userid, new_userid, ...fields } = input;
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    }
    if (fields.department !== undefined) {
      if (fields.order === undefined)
        next.order = next.department.map((d) => user.order[user.department.indexOf(d)] ?? 0);
      if (fields.is_leader_in_dept === undefined) {
        next.is_leader_in_dept = next.department.map((d) => user.is_leader_in_dept[user.department.indexOf(d)] ?? 0);
      }
      if (fields.main_department === undefined && !next.department.includes(next.main_department)) {
        next.main_department = next.department[0] ?? 1;
      }
    }
    if (new_userid !== undefined && new_userid !== user.userid) {
      const check = checkUserId(new_userid, WECOM_LIMITS);
      if (check) throw new WecomApiError(40003, check.message);
      const holder = this.users.get(key(new_userid));
      if (holder && holder !== user) throw new WecomApiError(60102, `userid ${new_userid}`);
      next.userid = new_userid;
    }
    if (fields.name !== undefined) this.checkName(next.name);
    if (next.mobile === '' && next.email === '') throw new WecomApiError(60129);
    this.checkUser(next, user);

    const changed: Partial<WecomUser> = {};
    for (const k of Object.keys(next) as Array<keyof WecomUser>) {
      if (k !== 'userid' && JSON.stringify(next[k]) !== JSON.stringify(user[k]))
        (changed as Record<string, unknown>)[k] = next[k];
    }
    this.removeUser(user);
    this.addUser(next);
    return {
      type: 'update_user',
      userid: user.userid,
      ...(next.userid !== user.userid ? { newUserid: next.userid } : {}),
      changed,
      user: structuredClone(next),
    };
  }

  /**
   * Control API only: overwrites fields of a user with any JSON values, unchecked and without a callback, to stand
   * for a record the real platform sends malformed (a client must survive it). Memberships and the userid stay.
   */
  /** Control API only: as plantUserFields, for a department (its id and parent stay). */
  plantDepartmentFields(id: number, fields: Record<string, unknown>): boolean {
    const d = this.departments.get(id);
    if (!d) return false;
    this.changes++;
    this.departments.set(id, { ...d, ...fields } as WecomDepartment);
    return true;
  }

  plantUserFields(userid: string, fields: Record<string, unknown>): boolean {
    const k = key(userid);
    const user = this.users.get(k);
    if (!user) return false;
    this.changes++;
    // A new object: cached JSON of the old one is not reused.
    this.users.set(k, { ...user, ...fields } as WecomUser);
    return true;
  }

  deleteUser(userid: string): ContactChange {
    const user = this.users.get(key(userid));
    if (!user) throw new WecomApiError(60111, `userid ${userid}`);
    this.removeUser(user);
    return { type: 'delete_user', userid: user.userid };
  }

  /** Applies a control-API operation. */
  apply(op: SimOperation): ContactChange {
    switch (op.op) {
      case 'createDepartment':
        return this.createDepartment(op.department).change;
      case 'updateDepartment':
        return this.updateDepartment(op.department);
      case 'deleteDepartment':
        return this.deleteDepartment(op.id);
      case 'createUser':
        return this.createUser(op.user).change;
      case 'updateUser':
        return this.updateUser(op.user);
      case 'deleteUser':
        return this.deleteUser(op.userid);
    }
  }

  // ------------------------------------------------------------------ internals

  private childSet(id: number): Set<number> {
    let set = this.children.get(id);
    if (!set) {
      set = new Set();
      this.children.set(id, set);
    }
    return set;
  }

  private addDepartment(d: WecomDepartment): void {
    this.changes++;
    this.departments.set(d.id, d);
    if (d.parentid !== 0) this.childSet(d.parentid).add(d.id);
    if (d.id >= this.nextDepartmentId) this.nextDepartmentId = d.id + 1;
  }

  private addUser(u: WecomUser): void {
    this.changes++;
    const k = key(u.userid);
    this.users.set(k, u);
    for (const d of u.department) {
      let set = this.members.get(d);
      if (!set) {
        set = new Set();
        this.members.set(d, set);
      }
      set.add(k);
    }
    if (u.mobile) this.byMobile.set(mobileKey(u.mobile), k);
    if (u.email) this.byEmail.set(u.email.toLowerCase(), k);
    this.syncLeaders(u, true);
  }

  private removeUser(u: WecomUser): void {
    this.changes++;
    const k = key(u.userid);
    this.users.delete(k);
    for (const d of u.department) this.members.get(d)?.delete(k);
    if (u.mobile && this.byMobile.get(mobileKey(u.mobile)) === k) this.byMobile.delete(mobileKey(u.mobile));
    if (u.email && this.byEmail.get(u.email.toLowerCase()) === k) this.byEmail.delete(u.email.toLowerCase());
    this.syncLeaders(u, false);
  }

  /** department_leader follows the members' is_leader_in_dept flags. */
  private syncLeaders(u: WecomUser, add: boolean): void {
    u.department.forEach((d, i) => {
      const dept = this.departments.get(d);
      if (!dept) return;
      const has = dept.department_leader.includes(u.userid);
      if (add && u.is_leader_in_dept[i] === 1 && !has) dept.department_leader.push(u.userid);
      if (!add && has) dept.department_leader = dept.department_leader.filter((x) => x !== u.userid);
    });
  }

  private height(id: number): number {
    let max = 0;
    for (const c of this.children.get(id) ?? []) max = Math.max(max, this.height(c));
    return max + 1;
  }

  private checkDepartmentName(name: string): void {
    if (typeof name !== 'string' || name.trim() === '' || chars(name) > 64) throw new WecomApiError(60001);
    if (checkDepartmentName(name, WECOM_LIMITS)) throw new WecomApiError(60009);
  }

  private checkSiblingName(parentid: number, name: string, self: number | undefined): void {
    for (const c of this.children.get(parentid) ?? []) {
      if (c !== self && this.departments.get(c)?.name === name) throw new WecomApiError(60008, `name ${name}`);
    }
  }

  private checkOrder(order: number): number {
    if (!Number.isInteger(order) || order < 0 || order >= 2 ** 32) throw new WecomApiError(40058, 'order');
    return order;
  }

  private checkName(name: string): void {
    if (typeof name !== 'string' || name.trim() === '' || chars(name) > 64) throw new WecomApiError(60112);
  }

  private checkUser(u: WecomUser, previous: WecomUser | undefined): void {
    if (u.department.length > WECOM_LIMITS.maxDepartmentsPerUser) throw new WecomApiError(60110);
    if (new Set(u.department).size !== u.department.length) throw new WecomApiError(40066, 'duplicate department');
    for (const d of u.department) if (!this.departments.has(d)) throw new WecomApiError(60127, `department ${d}`);
    if (u.is_leader_in_dept.length !== u.department.length) throw new WecomApiError(60132);
    if (u.order.length !== u.department.length) throw new WecomApiError(40058, 'order size not match department size');
    if (!u.department.includes(u.main_department)) throw new WecomApiError(40058, 'main_department not in department');
    if (chars(u.position) > 128) throw new WecomApiError(40058, 'position too long');
    if (u.mobile !== '') {
      if (!MOBILE.test(u.mobile)) throw new WecomApiError(60103);
      const holder = this.byMobile.get(mobileKey(u.mobile));
      if (holder !== undefined && holder !== (previous ? key(previous.userid) : undefined))
        throw new WecomApiError(60104);
    }
    if (u.email !== '') {
      if (!EMAIL.test(u.email) || Buffer.byteLength(u.email) > 64 || Buffer.byteLength(u.email) < 6)
        throw new WecomApiError(60105);
      const holder = this.byEmail.get(u.email.toLowerCase());
      if (holder !== undefined && holder !== (previous ? key(previous.userid) : undefined))
        throw new WecomApiError(60106);
    }
  }
}
