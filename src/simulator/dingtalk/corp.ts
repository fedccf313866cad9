import { newDepartment, unionidFor } from './convert.js';
import { DingtalkApiError } from './errors.js';
import type {
  ContactEvent,
  CreateDepartmentInput,
  CreateUserInput,
  DingDepartment,
  DingOperation,
  DingOrg,
  DingUser,
  DingUserFields,
  UpdateDepartmentInput,
  UpdateUserInput,
} from './model.js';

const MAX_INT32 = 2 ** 31 - 1;
const MAX_DEPARTMENTS_PER_USER = 100;
const FORBIDDEN_IN_NAMES = /[-,，]/;
const MOBILE = /^[0-9]{5,20}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const chars = (s: string): number => [...s].length;
const key = (userid: string): string => userid.toLowerCase();
const mobileKey = (u: Pick<DingUser, 'state_code' | 'mobile'>): string | undefined =>
  u.mobile === undefined ? undefined : `${u.state_code ?? '86'}-${u.mobile}`;

/** Text fields and their longest accepted length (API reference, DingTalk §10, v2/user/create). */
const TEXT_LIMITS = {
  title: 200,
  job_number: 50,
  telephone: 50,
  work_place: 100,
  remark: 2000,
  org_email: 100,
  extension: 2000,
} as const;

/**
 * One simulated DingTalk org: departments and users with DingTalk's write rules, and the indexes reads need.
 * Every write replaces the user objects it changes (readers cache a user's JSON by object) and returns the contact
 * events DingTalk would post. Every rule violation throws DingtalkApiError with the errcode DingTalk gives.
 */
export class DingCorp {
  private readonly departments = new Map<number, DingDepartment>();
  private readonly children = new Map<number, Set<number>>();
  private readonly users = new Map<string, DingUser>();
  /** Lower-cased userid → userid: userids are unique ignoring case. */
  private readonly userKeys = new Map<string, string>();
  private readonly byUnionid = new Map<string, string>();
  private readonly members = new Map<number, Set<string>>();
  private readonly byMobile = new Map<string, string>();
  private readonly byEmail = new Map<string, string>();
  private memberLists = new Map<number, DingUser[]>();
  private memberListsVersion = -1;
  private nextDepartmentId = 2;
  private nextUserNumber = 1;
  private changes = 0;

  /** Takes ownership of `org` (the objects are kept as they are). */
  constructor(
    org: DingOrg,
    private readonly corpId: string,
  ) {
    for (const d of org.departments) this.addDepartment(d);
    if (!this.departments.has(1)) throw new Error('the org has no root department (dept_id 1)');
    for (const u of org.users) this.addUser(u);
  }

  // ------------------------------------------------------------------ reads

  /** Moves on every write: lets readers cache what they derive from the org. */
  get version(): number {
    return this.changes;
  }

  get departmentCount(): number {
    return this.departments.size;
  }

  get userCount(): number {
    return this.users.size;
  }

  department(id: number): DingDepartment | undefined {
    return this.departments.get(id);
  }

  user(userid: string): DingUser | undefined {
    return this.users.get(userid);
  }

  userByUnionid(unionid: string): DingUser | undefined {
    const userid = this.byUnionid.get(unionid);
    return userid === undefined ? undefined : this.users.get(userid);
  }

  /** Direct sub-departments, smaller order first, then by id. */
  childrenOf(id: number): DingDepartment[] {
    return [...(this.children.get(id) ?? [])]
      .map((c) => this.departments.get(c) as DingDepartment)
      .sort((a, b) => a.order - b.order || a.dept_id - b.dept_id);
  }

  /** The department and all its descendants, parents before children. */
  subtree(id: number): number[] {
    if (!this.departments.has(id)) return [];
    const out = [id];
    for (let i = 0; i < out.length; i++) for (const c of this.children.get(out[i] as number) ?? []) out.push(c);
    return out;
  }

  /** Direct members of a department, in the order they joined; the array is shared until the next write. */
  membersOf(id: number): readonly DingUser[] {
    if (this.memberListsVersion !== this.changes) {
      this.memberLists = new Map();
      this.memberListsVersion = this.changes;
    }
    let list = this.memberLists.get(id);
    if (!list) {
      list = [...(this.members.get(id) ?? [])].map((u) => this.users.get(u) as DingUser);
      this.memberLists.set(id, list);
    }
    return list;
  }

  allUsers(): IterableIterator<DingUser> {
    return this.users.values();
  }

  isDescendant(id: number, ancestor: number): boolean {
    for (
      let d = this.departments.get(id);
      d;
      d = d.parent_id === undefined ? undefined : this.departments.get(d.parent_id)
    ) {
      if (d.dept_id === ancestor) return true;
    }
    return false;
  }

  /** Every department by id: the stored objects, to read and not to change. */
  allDepartments(): DingDepartment[] {
    return [...this.departments.values()].sort((a, b) => a.dept_id - b.dept_id);
  }

  // ------------------------------------------------------------------ department writes

  createDepartment(input: CreateDepartmentInput): { deptId: number; events: ContactEvent[] } {
    this.checkDepartmentName(input.name);
    const parent = this.departments.get(input.parent_id);
    if (!parent) throw new DingtalkApiError(60004, `parent_id ${input.parent_id}`);
    let id = input.dept_id;
    if (id !== undefined) {
      if (!Number.isInteger(id) || id <= 1 || id > MAX_INT32) throw new DingtalkApiError(400002, `dept_id ${id}`);
      if (this.departments.has(id)) throw new DingtalkApiError(400002, `dept_id ${id} exists`);
    } else {
      while (this.departments.has(this.nextDepartmentId)) this.nextDepartmentId++;
      id = this.nextDepartmentId;
    }
    this.checkSiblingName(parent.dept_id, input.name, undefined);
    const siblings = this.childrenOf(parent.dept_id);
    const order = input.order ?? (siblings.length === 0 ? 0 : Math.max(...siblings.map((s) => s.order)) + 1);
    this.addDepartment(
      newDepartment({ dept_id: id, name: input.name, parent_id: parent.dept_id, order: this.checkOrder(order) }),
    );
    return { deptId: id, events: [{ type: 'org_dept_create', deptIds: [id] }] };
  }

  updateDepartment(input: UpdateDepartmentInput): ContactEvent[] {
    const d = this.departments.get(input.dept_id);
    if (!d) throw new DingtalkApiError(60003, `dept_id ${input.dept_id}`);
    let parentId = d.parent_id;
    if (input.parent_id !== undefined && input.parent_id !== d.parent_id) {
      if (d.dept_id === 1) throw new DingtalkApiError(400002, 'the root department has no parent');
      const parent = this.departments.get(input.parent_id);
      if (!parent) throw new DingtalkApiError(60004, `parent_id ${input.parent_id}`);
      if (this.isDescendant(parent.dept_id, d.dept_id))
        throw new DingtalkApiError(60010, `${parent.dept_id} is ${d.dept_id} or below it`);
      parentId = parent.dept_id;
    }
    const name = input.name ?? d.name;
    if (input.name !== undefined) this.checkDepartmentName(input.name);
    if (parentId !== undefined && (name !== d.name || parentId !== d.parent_id))
      this.checkSiblingName(parentId, name, d.dept_id);
    const order = input.order === undefined ? d.order : this.checkOrder(input.order);
    const managers = input.dept_manager_userid_list;
    if (managers) {
      for (const userid of managers) {
        const u = this.users.get(userid);
        if (!u) throw new DingtalkApiError(60121, `dept_manager_userid_list: ${userid}`);
        if (!u.dept_id_list.includes(d.dept_id))
          throw new DingtalkApiError(400002, `dept_manager_userid_list: ${userid} is not a member of ${d.dept_id}`);
      }
    }

    this.changes++;
    if (parentId !== d.parent_id && parentId !== undefined) {
      if (d.parent_id !== undefined) this.children.get(d.parent_id)?.delete(d.dept_id);
      this.childSet(parentId).add(d.dept_id);
      d.parent_id = parentId;
    }
    d.name = name;
    d.order = order;
    const events: ContactEvent[] = [{ type: 'org_dept_modify', deptIds: [d.dept_id] }];
    if (managers) {
      const wanted = new Set(managers);
      const changed: string[] = [];
      for (const u of [...this.membersOf(d.dept_id)]) {
        const leader = wanted.has(u.userid);
        if (u.leader_in_dept.some((l) => l.dept_id === d.dept_id && l.leader !== leader)) {
          this.replaceUser(u, {
            ...u,
            leader_in_dept: u.leader_in_dept.map((l) => (l.dept_id === d.dept_id ? { dept_id: l.dept_id, leader } : l)),
          });
          changed.push(u.userid);
        }
      }
      if (changed.length > 0) events.push({ type: 'user_modify_org', userIds: changed });
    }
    return events;
  }

  /** Deletes the department with its sub-departments, refused while any of them has a member. */
  deleteDepartment(id: number): ContactEvent[] {
    const d = this.departments.get(id);
    if (!d) throw new DingtalkApiError(60003, `dept_id ${id}`);
    if (id === 1) throw new DingtalkApiError(60007);
    const removed = this.subtree(id);
    const occupied = removed.find((x) => (this.members.get(x)?.size ?? 0) > 0);
    if (occupied !== undefined) {
      throw new DingtalkApiError(
        60005,
        occupied === id ? `dept_id ${id} has members` : `its sub-department ${occupied} has members`,
      );
    }
    this.changes++;
    if (d.parent_id !== undefined) this.children.get(d.parent_id)?.delete(id);
    for (const x of removed) {
      this.departments.delete(x);
      this.children.delete(x);
      this.members.delete(x);
    }
    return [{ type: 'org_dept_remove', deptIds: removed.reverse() }];
  }

  // ------------------------------------------------------------------ user writes

  createUser(input: CreateUserInput): { user: DingUser; events: ContactEvent[] } {
    let userid = input.userid;
    if (userid === undefined) {
      do userid = `${String(this.nextUserNumber++).padStart(6, '0')}${this.corpId.slice(-6)}`;
      while (this.userKeys.has(key(userid)));
    }
    if (chars(userid) < 1 || chars(userid) > 64 || /\s/.test(userid))
      throw new DingtalkApiError(400002, `userid must be 1-64 characters without spaces`);
    if (this.userKeys.has(key(userid))) throw new DingtalkApiError(60102, `userid ${userid}`);
    const user = this.build(
      {
        userid,
        unionid: unionidFor(this.corpId, userid),
        name: '',
        avatar: '',
        hide_mobile: false,
        dept_id_list: [],
        dept_order_list: [],
        leader_in_dept: [],
        active: false,
        real_authed: false,
        senior: false,
        admin: false,
        boss: false,
        exclusive_account: false,
        role_list: [],
      },
      input,
      undefined,
    );
    this.addUser(user);
    return { user, events: [{ type: 'user_add_org', userIds: [userid] }] };
  }

  updateUser(input: UpdateUserInput): ContactEvent[] {
    const user = this.users.get(input.userid);
    if (!user) throw new DingtalkApiError(60121, `userid ${input.userid}`);
    const next = this.build(structuredClone(user), input, user);
    this.replaceUser(user, next);
    const activated = !user.active && next.active;
    const others = Object.keys(input).some((k) => k !== 'userid' && k !== 'active');
    const events: ContactEvent[] = [];
    if (activated) events.push({ type: 'user_active_org', userIds: [user.userid] });
    if (!activated || others) events.push({ type: 'user_modify_org', userIds: [user.userid] });
    return events;
  }

  deleteUser(userid: string): ContactEvent[] {
    const user = this.users.get(userid);
    if (!user) throw new DingtalkApiError(60121, `userid ${userid}`);
    this.removeUser(user);
    return [{ type: 'user_leave_org', userIds: [user.userid] }];
  }

  /** Applies a control-API operation. */
  apply(op: DingOperation): ContactEvent[] {
    switch (op.op) {
      case 'createDepartment':
        return this.createDepartment(op.department).events;
      case 'updateDepartment':
        return this.updateDepartment(op.department);
      case 'deleteDepartment':
        return this.deleteDepartment(op.dept_id);
      case 'createUser':
        return this.createUser(op.user).events;
      case 'updateUser':
        return this.updateUser(op.user);
      case 'deleteUser':
        return this.deleteUser(op.userid);
    }
  }

  // ------------------------------------------------------------------ internals

  /**
   * `base` with `fields` written over it, checked against DingTalk's rules. Departments keep their order and
   * leader flag when they stay; new ones start at 0 / false unless given.
   */
  private build(base: DingUser, fields: DingUserFields, previous: DingUser | undefined): DingUser {
    const next = base;
    const { dept_id_list, dept_order_list, leader_in_dept, ...scalars } = fields;
    for (const [k, v] of Object.entries(scalars)) {
      if (k === 'userid' || v === undefined) continue;
      // An empty text clears the field: DingTalk leaves out what is not set.
      if (v === '') delete (next as unknown as Record<string, unknown>)[k];
      else (next as unknown as Record<string, unknown>)[k] = v;
    }
    if (fields.mobile === '') delete next.state_code;
    if (
      fields.mobile !== undefined &&
      fields.mobile !== '' &&
      fields.state_code === undefined &&
      next.state_code === undefined
    )
      next.state_code = '86';
    if (scalars.active !== undefined) next.real_authed = next.real_authed || scalars.active;

    if (dept_id_list !== undefined) {
      if (dept_id_list.length === 0) throw new DingtalkApiError(400002, 'dept_id_list is empty');
      if (dept_id_list.length > MAX_DEPARTMENTS_PER_USER)
        throw new DingtalkApiError(400002, `dept_id_list: at most ${MAX_DEPARTMENTS_PER_USER} departments`);
      if (new Set(dept_id_list).size !== dept_id_list.length)
        throw new DingtalkApiError(400002, 'dept_id_list has a department twice');
      for (const d of dept_id_list)
        if (!this.departments.has(d)) throw new DingtalkApiError(60003, `dept_id_list: ${d}`);
      const order = new Map(next.dept_order_list.map((o) => [o.dept_id, o.order]));
      const leader = new Map(next.leader_in_dept.map((l) => [l.dept_id, l.leader]));
      next.dept_id_list = [...dept_id_list];
      next.dept_order_list = dept_id_list.map((d) => ({ dept_id: d, order: order.get(d) ?? 0 }));
      next.leader_in_dept = dept_id_list.map((d) => ({ dept_id: d, leader: leader.get(d) ?? false }));
    }
    for (const o of dept_order_list ?? []) {
      const slot = next.dept_order_list.find((x) => x.dept_id === o.dept_id);
      if (!slot) throw new DingtalkApiError(400002, `dept_order_list: ${o.dept_id} is not in dept_id_list`);
      if (!Number.isInteger(o.order)) throw new DingtalkApiError(400002, `dept_order_list: order of ${o.dept_id}`);
      slot.order = o.order;
    }
    for (const l of leader_in_dept ?? []) {
      const slot = next.leader_in_dept.find((x) => x.dept_id === l.dept_id);
      if (!slot) throw new DingtalkApiError(400002, `leader_in_dept: ${l.dept_id} is not in dept_id_list`);
      slot.leader = l.leader;
    }
    this.checkUser(next, previous);
    return next;
  }

  private checkUser(u: DingUser, previous: DingUser | undefined): void {
    if (typeof u.name !== 'string' || u.name.trim() === '' || chars(u.name) > 80)
      throw new DingtalkApiError(60112, 'name must be 1-80 characters');
    if (u.dept_id_list.length === 0) throw new DingtalkApiError(400002, 'dept_id_list is required');
    const self = previous ? key(previous.userid) : undefined;
    if (u.mobile === undefined) {
      if (!u.exclusive_account) throw new DingtalkApiError(400002, 'mobile is required');
    } else {
      if (!MOBILE.test(u.mobile) || !/^[0-9]{1,4}$/.test(u.state_code ?? '86'))
        throw new DingtalkApiError(60103, u.mobile);
      const holder = this.byMobile.get(mobileKey(u) as string);
      if (holder !== undefined && holder !== self) throw new DingtalkApiError(60104, u.mobile);
    }
    if (u.email !== undefined) {
      if (!EMAIL.test(u.email) || chars(u.email) > 50) throw new DingtalkApiError(60105, u.email);
      const holder = this.byEmail.get(u.email.toLowerCase());
      if (holder !== undefined && holder !== self) throw new DingtalkApiError(60106, u.email);
    }
    for (const [field, max] of Object.entries(TEXT_LIMITS)) {
      const v = (u as unknown as Record<string, unknown>)[field];
      if (v !== undefined && (typeof v !== 'string' || chars(v) > max))
        throw new DingtalkApiError(400002, `${field}: at most ${max} characters`);
    }
    if (u.extension !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(u.extension);
      } catch {
        parsed = null;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new DingtalkApiError(400002, 'extension must be a JSON object');
    }
    if (u.hired_date !== undefined && (!Number.isInteger(u.hired_date) || u.hired_date < 0))
      throw new DingtalkApiError(400002, 'hired_date must be epoch milliseconds');
    if (
      u.manager_userid !== undefined &&
      u.manager_userid !== previous?.manager_userid &&
      !this.users.has(u.manager_userid)
    ) {
      throw new DingtalkApiError(60121, `manager_userid ${u.manager_userid}`);
    }
  }

  private childSet(id: number): Set<number> {
    let set = this.children.get(id);
    if (!set) {
      set = new Set();
      this.children.set(id, set);
    }
    return set;
  }

  private addDepartment(d: DingDepartment): void {
    this.changes++;
    this.departments.set(d.dept_id, d);
    if (d.parent_id !== undefined) this.childSet(d.parent_id).add(d.dept_id);
    if (d.dept_id >= this.nextDepartmentId) this.nextDepartmentId = d.dept_id + 1;
  }

  private addUser(u: DingUser): void {
    this.changes++;
    this.users.set(u.userid, u);
    this.userKeys.set(key(u.userid), u.userid);
    this.byUnionid.set(u.unionid, u.userid);
    for (const d of u.dept_id_list) {
      let set = this.members.get(d);
      if (!set) {
        set = new Set();
        this.members.set(d, set);
      }
      set.add(u.userid);
    }
    const mobile = mobileKey(u);
    if (mobile !== undefined) this.byMobile.set(mobile, key(u.userid));
    if (u.email !== undefined) this.byEmail.set(u.email.toLowerCase(), key(u.userid));
    this.syncManagers(undefined, u);
  }

  private removeUser(u: DingUser): void {
    this.changes++;
    this.users.delete(u.userid);
    this.userKeys.delete(key(u.userid));
    this.byUnionid.delete(u.unionid);
    for (const d of u.dept_id_list) this.members.get(d)?.delete(u.userid);
    const mobile = mobileKey(u);
    if (mobile !== undefined && this.byMobile.get(mobile) === key(u.userid)) this.byMobile.delete(mobile);
    if (u.email !== undefined && this.byEmail.get(u.email.toLowerCase()) === key(u.userid))
      this.byEmail.delete(u.email.toLowerCase());
    this.syncManagers(u, undefined);
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
    this.departments.set(id, { ...d, ...fields } as DingDepartment);
    return true;
  }

  plantUserFields(userid: string, fields: Record<string, unknown>): boolean {
    const user = this.users.get(userid);
    if (!user) return false;
    this.changes++;
    // A new object: cached JSON of the old one is not reused.
    this.users.set(userid, { ...user, ...fields } as DingUser);
    return true;
  }

  /**
   * Swaps a user for its changed copy (a new object, so cached JSON of the old one is not reused), in place: the
   * user keeps its position in every department it stays in, so a reader paging through one is not thrown off.
   */
  private replaceUser(old: DingUser, next: DingUser): void {
    this.changes++;
    const k = key(old.userid);
    this.users.set(old.userid, next);
    for (const d of old.dept_id_list) if (!next.dept_id_list.includes(d)) this.members.get(d)?.delete(old.userid);
    for (const d of next.dept_id_list) {
      let set = this.members.get(d);
      if (!set) {
        set = new Set();
        this.members.set(d, set);
      }
      set.add(old.userid);
    }
    const oldMobile = mobileKey(old);
    if (oldMobile !== undefined && this.byMobile.get(oldMobile) === k) this.byMobile.delete(oldMobile);
    const newMobile = mobileKey(next);
    if (newMobile !== undefined) this.byMobile.set(newMobile, k);
    if (old.email !== undefined && this.byEmail.get(old.email.toLowerCase()) === k)
      this.byEmail.delete(old.email.toLowerCase());
    if (next.email !== undefined) this.byEmail.set(next.email.toLowerCase(), k);
    this.syncManagers(old, next);
  }

  /** dept_manager_userid_list follows the members' leader_in_dept flags (a manager who stays keeps their place). */
  private syncManagers(previous: DingUser | undefined, next: DingUser | undefined): void {
    const was = new Set(previous?.leader_in_dept.filter((l) => l.leader).map((l) => l.dept_id));
    const now = new Set(next?.leader_in_dept.filter((l) => l.leader).map((l) => l.dept_id));
    const userid = (previous ?? next)?.userid as string;
    for (const d of was) {
      const dept = this.departments.get(d);
      if (dept && !now.has(d))
        dept.dept_manager_userid_list = dept.dept_manager_userid_list.filter((x) => x !== userid);
    }
    for (const d of now) {
      const dept = this.departments.get(d);
      if (dept && !was.has(d) && !dept.dept_manager_userid_list.includes(userid))
        dept.dept_manager_userid_list.push(userid);
    }
  }

  private checkDepartmentName(name: string): void {
    if (typeof name !== 'string' || name.trim() === '' || chars(name) > 64)
      throw new DingtalkApiError(60001, 'name must be 1-64 characters');
    if (FORBIDDEN_IN_NAMES.test(name)) throw new DingtalkApiError(60009, `"${name}" has '-', ',' or '，'`);
  }

  private checkSiblingName(parentId: number, name: string, self: number | undefined): void {
    for (const c of this.children.get(parentId) ?? []) {
      if (c !== self && this.departments.get(c)?.name === name) throw new DingtalkApiError(60008, name);
    }
  }

  private checkOrder(order: number): number {
    if (!Number.isInteger(order) || order < 0 || order > MAX_INT32)
      throw new DingtalkApiError(400002, 'order must be 0-2147483647');
    return order;
  }
}
