import type { ErrorInfo } from '../errors.js';
import {
  USER_OWNED_FIELDS,
  USER_PROFILE_FIELDS,
  linkOf,
  type DirectoryState,
  type LocalDepartment,
  type LocalUser,
  type UserOwnedField,
  type UserProfileField,
  type UserStatus,
} from '../directory/model.js';
import { emailKey, mobileKey, userIdKey } from '../directory/limits.js';
import {
  effectiveUserId,
  type Snapshot,
  type SnapshotDepartment,
  type SnapshotUser,
  type UnseenField,
} from '../directory/snapshot.js';
import { PolicyError } from './errors.js';
import type { FieldOwnership, Policy } from './policy.js';
import type { DepartmentChange, FieldDiff, MembershipWrite, Plan, Ref, Template, UserChange } from './types.js';

/** The fallback keys as the console's Chinese pages name them. */
const USER_KEY_ZH: Record<string, string> = { userid: '账号', mobile: '手机号', email: '邮箱' };

export interface PlanOptions {
  /**
   * The snapshot lists only these of the source's users (by its ids); users linked to the source outside it are
   * left as they are instead of being gone. Absent: the snapshot lists every user the source has.
   */
  userScope?: ReadonlySet<string>;
  /**
   * Which part of the source's word is taken (default 'full'): 'create-update' creates what is new and updates what
   * differs, and touches nothing the snapshot leaves out; 'delete-only' removes what the snapshot leaves out (per
   * onUserGone and onDepartmentGone) and creates, updates and links nothing.
   */
  template?: Template;
}

/** What each template lets the plan do. */
const TEMPLATE_STEPS: Record<Template, { write: boolean; remove: boolean }> = {
  'create-update': { write: true, remove: false },
  'delete-only': { write: false, remove: true },
  full: { write: true, remove: true },
};

/**
 * plan(snapshot, directory, policy): what must change locally so the directory says what the source says.
 * Pure and deterministic: no I/O, no clock, no randomness; the same inputs give the same plan.
 */
export function plan(
  source: string,
  snapshot: Snapshot,
  directory: DirectoryState,
  policy: Policy,
  options: PlanOptions = {},
): Plan {
  // A directory loaded for a scope lacks the users outside it: planned as a whole org, they would all look gone.
  if (directory.scope && (options.userScope === undefined || directory.scope.source !== source)) {
    throw new Error(
      `a directory loaded for a scope of source "${directory.scope.source}" can only plan that source's scoped users`,
    );
  }
  return new Planner(source, snapshot, directory, policy, options.userScope, options.template ?? 'full').run();
}

export const newKey = (externalId: string): string => `new:${externalId}`;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function normalize(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

interface FinalMembership {
  department: Ref;
  order: number;
  leader: boolean;
}

class Planner {
  private readonly deptById = new Map<number, LocalDepartment>();
  private readonly deptByLink = new Map<string, LocalDepartment>();
  private readonly childrenOf = new Map<number, LocalDepartment[]>();
  private readonly userByLink = new Map<string, LocalUser>();
  /** Built on first use: a re-run where every user is linked never needs them. */
  private fallbackIndex:
    | { userid: Map<string, LocalUser>; mobile: Map<string, LocalUser[]>; email: Map<string, LocalUser[]> }
    | undefined;
  private readonly unseen: ReadonlySet<UnseenField>;
  private readonly userOwnership: Readonly<Record<UserOwnedField, FieldOwnership>>;
  /** The profile fields a new user takes from the source: those it owns and sees (the same for every user). */
  private readonly createdProfileFields: readonly UserProfileField[];
  private readonly attributeFields = new Map<string, string>();

  /** Source externalId → local department (id, or new key). */
  private readonly deptRef = new Map<string, Ref>();
  /** Local departments that belong to this source's part of the tree: linked already or matched now. */
  private readonly sourceScope = new Set<number>();
  private readonly claimedDepts = new Set<number>();
  private readonly claimedUsers = new Set<number>();
  private readonly plannedUserids = new Set<string>();

  private readonly departmentChanges: DepartmentChange[] = [];
  private readonly userChanges: UserChange[] = [];
  private readonly issues: ErrorInfo[] = [];
  private readonly notes: ErrorInfo[] = [];
  private readonly mountId: number;

  constructor(
    private readonly source: string,
    private readonly snapshot: Snapshot,
    private readonly directory: DirectoryState,
    private readonly policy: Policy,
    private readonly userScope: ReadonlySet<string> | undefined,
    private readonly template: Template,
  ) {
    for (const d of directory.departments) {
      this.deptById.set(d.id, d);
      const link = linkOf(d.links, source);
      if (link) {
        this.deptByLink.set(link.externalId, d);
        this.sourceScope.add(d.id);
      }
      if (d.parentId !== null) {
        const siblings = this.childrenOf.get(d.parentId);
        if (siblings) siblings.push(d);
        else this.childrenOf.set(d.parentId, [d]);
      }
    }
    for (const u of directory.users) {
      const link = linkOf(u.links, source);
      if (link) this.userByLink.set(link.externalId, u);
    }
    this.unseen = new Set(snapshot.unseenFields);
    this.userOwnership = Object.fromEntries(
      USER_OWNED_FIELDS.map((f) => [f, policy.ownership.users[f] ?? 'always']),
    ) as Record<UserOwnedField, FieldOwnership>;
    this.createdProfileFields = USER_PROFILE_FIELDS.filter(
      (f) => this.userOwnership[f] !== 'never' && !this.unseen.has(f),
    );
    this.mountId = policy.mountDepartmentId ?? directory.rootId;
    this.checkMount();
  }

  run(): Plan {
    const { write, remove } = TEMPLATE_STEPS[this.template];
    if (write) {
      this.planDepartments();
      this.planUsers();
    } else {
      this.resolveDepartments();
    }
    const snapshotUserIds = new Set(this.snapshot.users.map((u) => u.externalId));
    if (remove) {
      this.planGoneUsers(snapshotUserIds);
      this.planGoneDepartments();
    } else {
      this.noteLeftAsTheyAre(snapshotUserIds);
    }
    if (!write) this.noteNotWritten();
    const activeLinkedUsers =
      this.directory.scope?.activeLinkedUsers ??
      this.directory.users.filter((u) => u.status === 'active' && linkOf(u.links, this.source) !== undefined).length;
    return {
      source: this.source,
      baseRevision: this.directory.revision,
      complete: this.snapshot.complete && this.snapshot.incompleteDepartments.length === 0,
      // Creates and moves are in parents-first order, deletes deepest first.
      departments: this.departmentChanges,
      users: this.userChanges,
      issues: this.issues,
      notes: this.notes,
      activeLinkedUsers,
    };
  }

  private checkMount(): void {
    const mount = this.deptById.get(this.mountId);
    if (!mount) {
      throw new PolicyError(
        `mount department ${this.mountId} does not exist`,
        'Set mountDepartmentId to an existing local department id (see `orgsync directory export`), or leave it out to use the root.',
      );
    }
    for (
      let d: LocalDepartment | undefined = mount;
      d;
      d = d.parentId === null ? undefined : this.deptById.get(d.parentId)
    ) {
      if (linkOf(d.links, this.source)) {
        throw new PolicyError(
          `mount department ${this.mountId} lies inside the part of the tree that source "${this.source}" manages`,
          'Mount the source under a department it does not manage, e.g. the root.',
        );
      }
    }
  }

  private ownUser(field: UserOwnedField): FieldOwnership {
    return this.userOwnership[field];
  }

  private index(): NonNullable<Planner['fallbackIndex']> {
    if (!this.fallbackIndex) {
      const index = {
        userid: new Map<string, LocalUser>(),
        mobile: new Map<string, LocalUser[]>(),
        email: new Map<string, LocalUser[]>(),
      };
      for (const u of this.directory.users) {
        if (u.userid !== null) index.userid.set(userIdKey(u.userid), u);
        if (u.mobile !== null) push(index.mobile, mobileKey(u.mobile), u);
        if (u.email !== null) push(index.email, emailKey(u.email), u);
      }
      this.fallbackIndex = index;
    }
    return this.fallbackIndex;
  }

  private userWithUserid(userid: string): LocalUser | undefined {
    return this.index().userid.get(userIdKey(userid));
  }

  // ---------------------------------------------------------------- departments

  /** Snapshot departments, parents before children, siblings by externalId. */
  private topoDepartments(): SnapshotDepartment[] {
    const children = new Map<string | null, SnapshotDepartment[]>();
    for (const d of this.snapshot.departments) push(children, d.parentExternalId, d);
    for (const list of children.values()) list.sort((a, b) => byString(a.externalId, b.externalId));
    const out: SnapshotDepartment[] = [];
    const queue = [...(children.get(null) ?? [])];
    while (queue.length > 0) {
      const d = queue.shift() as SnapshotDepartment;
      out.push(d);
      queue.push(...(children.get(d.externalId) ?? []));
    }
    return out;
  }

  private planDepartments(): void {
    const ownName = this.policy.ownership.departments.name ?? 'always';
    const ownOrder = this.policy.ownership.departments.order ?? 'always';
    const ownParent = this.policy.ownership.departments.parent ?? 'always';

    for (const sd of this.topoDepartments()) {
      const parent: Ref = sd.parentExternalId === null ? this.mountId : (this.deptRef.get(sd.parentExternalId) as Ref);
      let local = this.deptByLink.get(sd.externalId);
      let addLink = false;
      if (!local) {
        local = this.matchDepartmentByName(sd, parent);
        if (local) {
          addLink = true;
          this.sourceScope.add(local.id);
        }
      }

      if (!local) {
        const key = newKey(sd.externalId);
        this.deptRef.set(sd.externalId, key);
        const name = ownName !== 'never' && sd.name !== undefined ? sd.name : sd.externalId;
        const order = ownOrder !== 'never' ? (sd.order ?? 0) : 0;
        this.departmentChanges.push({
          action: 'create',
          ref: key,
          externalId: sd.externalId,
          label: name,
          set: { name, order, parent },
          fields: {
            name: { before: null, after: name },
            order: { before: null, after: order },
            parent: { before: null, after: parent },
          },
          addLink: true,
        });
        continue;
      }

      this.claimedDepts.add(local.id);
      this.deptRef.set(sd.externalId, local.id);
      const set: DepartmentChange['set'] = {};
      const fields: Record<string, FieldDiff> = {};
      if (ownName === 'always' && sd.name !== undefined && sd.name !== local.name) {
        set.name = sd.name;
        fields.name = { before: local.name, after: sd.name };
      }
      if (ownOrder === 'always' && sd.order !== undefined && sd.order !== local.order) {
        set.order = sd.order;
        fields.order = { before: local.order, after: sd.order };
      }
      const moved = ownParent === 'always' && parent !== local.parentId;
      if (moved) {
        set.parent = parent;
        fields.parent = { before: local.parentId, after: parent };
      }
      if (addLink) fields.link = { before: null, after: `${this.source}:${sd.externalId}` };
      if (Object.keys(fields).length === 0) continue;
      this.departmentChanges.push({
        action: moved ? 'move' : 'update',
        ref: local.id,
        externalId: sd.externalId,
        label: set.name ?? local.name,
        set,
        fields,
        ...(addLink ? { addLink: true } : {}),
      });
    }
  }

  /** Without writes: only which local departments the snapshot's are (for its incomplete subtrees). */
  private resolveDepartments(): void {
    for (const sd of this.snapshot.departments) {
      const local = this.deptByLink.get(sd.externalId);
      if (local) this.deptRef.set(sd.externalId, local.id);
    }
  }

  /** A template that removes nothing says what it left in place, so a missing person is never a surprise. */
  private noteLeftAsTheyAre(snapshotUserIds: ReadonlySet<string>): void {
    if (this.template === 'full') return;
    const snapshotDeptIds = new Set(this.snapshot.departments.map((d) => d.externalId));
    let users = 0;
    for (const u of this.directory.users) {
      const link = linkOf(u.links, this.source);
      if (link && !snapshotUserIds.has(link.externalId)) users++;
    }
    let departments = 0;
    for (const d of this.directory.departments) {
      const link = linkOf(d.links, this.source);
      if (link && !snapshotDeptIds.has(link.externalId)) departments++;
    }
    if (users + departments === 0) return;
    this.notes.push({
      code: 'TEMPLATE_KEPT_MISSING',
      message: `${users} user(s) and ${departments} department(s) of source "${this.source}" are not in the snapshot; the ${this.template} template leaves them as they are`,
      hint: 'To remove them, run the import again with the delete-only or full template.',
      zh: {
        message: `来源「${this.source}」的 ${users} 名成员和 ${departments} 个部门不在本次数据中；「${this.template}」模板保留它们不变`,
        hint: '如需移除它们，请用 delete-only 或 full 模板再导入一次。',
      },
    });
  }

  /** delete-only says how much of the snapshot it did not take, for the same reason. */
  private noteNotWritten(): void {
    const users = this.snapshot.users.filter((u) => !this.userByLink.has(u.externalId)).length;
    const departments = this.snapshot.departments.filter((d) => !this.deptByLink.has(d.externalId)).length;
    if (users + departments === 0) return;
    this.notes.push({
      code: 'TEMPLATE_SKIPPED_NEW',
      message: `${users} user(s) and ${departments} department(s) of the snapshot are not linked to source "${this.source}" here; the ${this.template} template creates, updates and links nothing`,
      hint: 'To add them and bring the others up to date, run the import again with the create-update or full template.',
      zh: {
        message: `本次数据中有 ${users} 名成员和 ${departments} 个部门在本地没有关联到来源「${this.source}」；「${this.template}」模板不新建、不更新、不关联`,
        hint: '如需新增它们并更新其他成员，请用 create-update 或 full 模板再导入一次。',
      },
    });
  }

  private matchDepartmentByName(sd: SnapshotDepartment, parent: Ref): LocalDepartment | undefined {
    if (!this.policy.matching.departments.includes('name') || sd.name === undefined || typeof parent !== 'number') {
      return undefined;
    }
    const candidates = (this.childrenOf.get(parent) ?? []).filter(
      (d) => d.name === sd.name && !this.claimedDepts.has(d.id) && !linkOf(d.links, this.source),
    );
    if (candidates.length === 1) return candidates[0];
    if (candidates.length > 1) {
      this.notes.push({
        code: 'DEPARTMENT_MATCH_AMBIGUOUS',
        message: `${candidates.length} local departments named "${sd.name}" sit under department ${parent}; a new one is created for source department "${sd.externalId}"`,
        hint: 'Rename or merge the local duplicates, then re-run to link the right one.',
        object: `department "${sd.externalId}"`,
        zh: {
          message: `部门 ${parent} 下有 ${candidates.length} 个名为「${sd.name}」的本地部门；已为来源部门 "${sd.externalId}" 新建一个`,
          hint: '重命名或合并这些重名的本地部门，再运行一次即可关联到正确的那个。',
        },
      });
    }
    return undefined;
  }

  // ---------------------------------------------------------------- users

  private planUsers(): void {
    const users = [...this.snapshot.users].sort((a, b) => byString(a.externalId, b.externalId));
    for (const su of users) {
      const linked = this.userByLink.get(su.externalId);
      if (linked) {
        this.claimedUsers.add(linked.id);
        this.planUserUpdate(su, linked, false);
        continue;
      }
      const match = this.matchUser(su);
      if (match === 'skip') continue;
      if (match) {
        this.claimedUsers.add(match.id);
        this.planUserUpdate(su, match, true);
      } else {
        this.planUserCreate(su);
      }
    }
  }

  /** Fallback matching by the policy's keys; never takes over an account linked to another identity of this source. */
  private matchUser(su: SnapshotUser): LocalUser | null | 'skip' {
    for (const key of this.policy.matching.users) {
      let candidates: LocalUser[];
      let value: string;
      // An empty index (a first sync) has nobody to offer: the key is not even worked out.
      const index = this.index();
      if (key === 'userid') {
        if (index.userid.size === 0) continue;
        value = effectiveUserId(su);
        const u = this.userWithUserid(value);
        if (!u || this.claimedUsers.has(u.id)) continue;
        candidates = [u];
      } else if (key === 'mobile') {
        if (typeof su.mobile !== 'string' || su.mobile === '' || this.unseen.has('mobile')) continue;
        if (index.mobile.size === 0) continue;
        value = su.mobile;
        candidates = index.mobile.get(mobileKey(value)) ?? [];
      } else {
        if (typeof su.email !== 'string' || su.email === '' || this.unseen.has('email')) continue;
        if (index.email.size === 0) continue;
        value = su.email;
        candidates = index.email.get(emailKey(value)) ?? [];
      }
      if (candidates.length === 0) continue;
      candidates = candidates.filter((u) => !this.claimedUsers.has(u.id));
      if (candidates.length === 0) continue;
      const object = `user "${su.externalId}"`;
      if (candidates.length > 1) {
        this.issues.push({
          code: 'USER_MATCH_AMBIGUOUS',
          message: `${candidates.length} local users (ids ${candidates.map((u) => u.id).join(', ')}) have ${key} "${value}"; the user was left out`,
          hint: `Make ${key} unique among local users, or link the right one, then re-run.`,
          object,
          zh: {
            message: `有 ${candidates.length} 个本地成员（ID ${candidates.map((u) => u.id).join('、')}）的${USER_KEY_ZH[key]}都是 "${value}"；该成员未处理`,
            hint: `让本地成员的${USER_KEY_ZH[key]}互不相同，或手动关联正确的那个，然后再运行。`,
          },
        });
        return 'skip';
      }
      const candidate = candidates[0] as LocalUser;
      const other = linkOf(candidate.links, this.source);
      if (other) {
        this.issues.push({
          code: 'USER_TAKEOVER_REFUSED',
          message: `local user ${candidate.id} has the same ${key} ("${value}") but is already linked to "${other.externalId}" of source "${this.source}"; it was not taken over and the user was left out`,
          hint: `If both are the same person, fix the ${key} in the source; otherwise change it on one of them.`,
          object,
          zh: {
            message: `本地成员 ${candidate.id} 的${USER_KEY_ZH[key]}相同（"${value}"），但已关联到来源「${this.source}」的 "${other.externalId}"；没有接管它，该成员未处理`,
            hint: `若两者是同一个人，请在来源中修正${USER_KEY_ZH[key]}；否则修改其中一个的${USER_KEY_ZH[key]}。`,
          },
        });
        return 'skip';
      }
      return candidate;
    }
    return null;
  }

  private profileValue(su: SnapshotUser, field: UserProfileField): string | null | undefined {
    if (this.unseen.has(field)) return undefined;
    if (field === 'userid') return effectiveUserId(su);
    const v = su[field];
    return v === undefined ? undefined : normalize(v);
  }

  private planUserCreate(su: SnapshotUser): void {
    const userid = effectiveUserId(su);
    const useridKey = userIdKey(userid);
    const taken = this.index().userid.get(useridKey);
    if (taken || this.plannedUserids.has(useridKey)) {
      this.issues.push({
        code: 'USERID_TAKEN',
        message: `userid "${userid}" already belongs to local user ${taken?.id ?? '(planned)'}, which the matching policy did not take as this user; the user was left out`,
        hint: 'Add "userid" to matching.users to link them, or give one of them another userid.',
        object: `user "${su.externalId}"`,
        zh: {
          message: `账号 "${userid}" 已属于本地成员 ${taken?.id ?? '（计划中）'}，而匹配策略没有把它视为同一人；该成员未处理`,
          hint: '在 matching.users 中加入 "userid" 以关联两者，或给其中一个换个账号。',
        },
      });
      return;
    }
    this.plannedUserids.add(useridKey);
    const key = newKey(su.externalId);
    // Every profile field, in USER_PROFILE_FIELDS order, null unless the source gives it.
    const set: UserChange['set'] = {
      userid: null,
      name: null,
      alias: null,
      position: null,
      mobile: null,
      email: null,
      telephone: null,
      gender: null,
      avatar: null,
      address: null,
      employeeNo: null,
    };
    const fields: Record<string, FieldDiff> = {};
    for (const f of this.createdProfileFields) {
      const value = f === 'userid' ? userid : normalize(su[f]);
      if (value === null) continue;
      set[f] = value;
      fields[f] = { before: null, after: value };
    }
    if (set.name === null || set.name === undefined) {
      set.name = userid;
      fields.name = { before: null, after: userid };
    }
    const status: UserStatus =
      this.ownUser('status') !== 'never' && !this.unseen.has('status') ? (su.status ?? 'active') : 'active';
    set.status = status;
    fields.status = { before: null, after: status };
    const attributes: Record<string, string> = {};
    if (su.attributes && this.ownUser('attributes') !== 'never') {
      const names = Object.keys(su.attributes);
      if (names.length > 1) names.sort(byString);
      for (const k of names) {
        const v = su.attributes[k] as string | null;
        if (v !== null && v !== '') {
          attributes[k] = v;
          fields[this.attributeField(k)] = { before: null, after: v };
        }
      }
    }
    set.attributes = attributes;
    const desired = su.departments && this.ownUser('departments') !== 'never' ? this.desiredMemberships(su) : [];
    let main: Ref | null = desired[0]?.department ?? null;
    if (typeof su.mainDepartment === 'string' && this.ownUser('mainDepartment') !== 'never') {
      main = this.deptRef.get(su.mainDepartment) ?? main;
    }
    set.mainDepartment = main;
    if (desired.length > 0) fields.departments = { before: [], after: desired.map(describeMembership) };
    if (main !== null) fields.mainDepartment = { before: null, after: main };
    if (su.linkData !== undefined) Object.assign(fields, linkDataDiff(undefined, su.linkData));
    const change: UserChange = {
      action: 'create',
      ref: key,
      externalId: su.externalId,
      label: set.name,
      set,
      memberships: { remove: [], upsert: desired },
      fields,
      addLink: true,
    };
    if (su.linkData !== undefined) change.linkData = su.linkData;
    this.userChanges.push(change);
  }

  /** The diff's name of an attribute, made once per attribute name rather than once per user. */
  private attributeField(name: string): string {
    let field = this.attributeFields.get(name);
    if (field === undefined) {
      field = `attributes.${name}`;
      this.attributeFields.set(name, field);
    }
    return field;
  }

  /** What the source says the user's memberships are; a flag or order it did not send stays as it is locally. */
  private desiredMemberships(su: SnapshotUser, local?: LocalUser): MembershipWrite[] {
    return (su.departments ?? [])
      .map((m) => {
        const department = this.deptRef.get(m.externalId) as Ref;
        const current =
          m.leader === undefined || m.order === undefined
            ? local?.memberships.find((x) => x.departmentId === department)
            : undefined;
        return { department, order: m.order ?? current?.order ?? 0, leader: m.leader ?? current?.leader ?? false };
      })
      .sort(byDepartment);
  }

  private planUserUpdate(su: SnapshotUser, local: LocalUser, addLink: boolean): void {
    const set: UserChange['set'] = {};
    const fields: Record<string, FieldDiff> = {};
    for (const f of USER_PROFILE_FIELDS) {
      if (this.ownUser(f) !== 'always') continue;
      const value = this.profileValue(su, f);
      if (value === undefined || value === local[f]) continue;
      if (f === 'userid' && value !== null) {
        const holder = this.userWithUserid(value);
        if ((holder && holder.id !== local.id) || (!holder && this.plannedUserids.has(userIdKey(value)))) {
          this.issues.push({
            code: 'USERID_TAKEN',
            message: `the source renames the user to "${value}", which local user ${holder?.id ?? '(planned)'} already has; the userid was left as "${local.userid}"`,
            hint: 'Give one of them another userid, then re-run.',
            object: `user "${su.externalId}"`,
            zh: {
              message: `来源把该成员的账号改为 "${value}"，但本地成员 ${holder?.id ?? '（计划中）'} 已在使用；账号保持为 "${local.userid}"`,
              hint: '给其中一个换个账号，然后再运行。',
            },
          });
          continue;
        }
        this.plannedUserids.add(userIdKey(value));
      }
      if (f === 'name' && value === null) continue; // a user always keeps a name
      set[f] = value;
      fields[f] = { before: local[f], after: value };
    }

    let status: UserStatus = local.status;
    if (this.ownUser('status') === 'always' && !this.unseen.has('status')) status = su.status ?? 'active';
    if (status !== local.status) {
      set.status = status;
      fields.status = { before: local.status, after: status };
    }

    if (su.attributes && this.ownUser('attributes') === 'always') {
      const merged = { ...local.attributes };
      let changed = false;
      for (const [k, v] of Object.entries(su.attributes).sort(([a], [b]) => byString(a, b))) {
        const before = local.attributes[k] ?? null;
        const after = normalize(v);
        if (before === after) continue;
        changed = true;
        fields[`attributes.${k}`] = { before, after };
        if (after === null) delete merged[k];
        else merged[k] = after;
      }
      if (changed) set.attributes = merged;
    }

    // Memberships: only those in this source's departments are the source's to change.
    let finalMemberships: FinalMembership[] = local.memberships.map((m) => ({
      department: m.departmentId,
      order: m.order,
      leader: m.leader,
    }));
    let memberships: UserChange['memberships'];
    if (su.departments && this.ownUser('departments') === 'always') {
      const current = local.memberships
        .filter((m) => this.sourceScope.has(m.departmentId))
        .map((m) => ({ department: m.departmentId as Ref, order: m.order, leader: m.leader }))
        .sort(byDepartment);
      const desired = this.desiredMemberships(su, local);
      const same =
        current.length === desired.length &&
        current.every((c, i) => {
          const d = desired[i] as MembershipWrite;
          return c.department === d.department && c.order === d.order && c.leader === d.leader;
        });
      const desiredByDept = same ? new Map<Ref, MembershipWrite>() : new Map(desired.map((m) => [m.department, m]));
      const currentByDept = same ? new Map<Ref, MembershipWrite>() : new Map(current.map((m) => [m.department, m]));
      const remove = same
        ? []
        : current.filter((m) => !desiredByDept.has(m.department)).map((m) => m.department as number);
      const upsert = same
        ? []
        : desired.filter((m) => {
            const c = currentByDept.get(m.department);
            return !c || c.order !== m.order || c.leader !== m.leader;
          });
      if (remove.length > 0 || upsert.length > 0) {
        memberships = { remove, upsert };
        fields.departments = { before: current.map(describeMembership), after: desired.map(describeMembership) };
        const removed = new Set<Ref>(remove);
        finalMemberships = [
          ...finalMemberships.filter((m) => !removed.has(m.department) && !desiredByDept.has(m.department)),
          ...desired,
        ];
      }
    }

    if (this.ownUser('mainDepartment') === 'always') {
      const inFinal = (r: Ref | null): boolean => r !== null && finalMemberships.some((m) => m.department === r);
      let main: Ref | null = local.mainDepartmentId;
      if (su.mainDepartment === null) {
        main = null;
      } else if (typeof su.mainDepartment === 'string') {
        main = this.deptRef.get(su.mainDepartment) ?? main;
      } else if (!inFinal(main)) {
        main =
          (su.departments && this.desiredMemberships(su, local)[0]?.department) ??
          finalMemberships[0]?.department ??
          null;
      }
      if (main !== local.mainDepartmentId) {
        set.mainDepartment = main;
        fields.mainDepartment = { before: local.mainDepartmentId, after: main };
      }
    }

    if (addLink) fields.link = { before: null, after: `${this.source}:${su.externalId}` };
    let linkData: Record<string, string> | undefined;
    if (su.linkData !== undefined) {
      const diff = linkDataDiff(addLink ? undefined : linkOf(local.links, this.source)?.data, su.linkData);
      if (Object.keys(diff).length > 0) {
        linkData = su.linkData;
        Object.assign(fields, diff);
      }
    }
    if (Object.keys(fields).length === 0) return;
    const action = set.status === undefined ? 'update' : set.status === 'active' ? 'enable' : 'disable';
    this.userChanges.push({
      action,
      ref: local.id,
      externalId: su.externalId,
      label: set.name ?? local.name ?? su.externalId,
      set,
      ...(memberships ? { memberships } : {}),
      fields,
      ...(addLink ? { addLink: true } : {}),
      ...(linkData ? { linkData } : {}),
    });
  }

  // ---------------------------------------------------------------- what the source no longer lists

  /** Local departments in a subtree the source could not read in full (all of them if the snapshot is incomplete). */
  private incompleteScope(): (deptId: number) => boolean {
    if (!this.snapshot.complete) return () => true;
    const roots = this.snapshot.incompleteDepartments
      .map((ext) => this.deptRef.get(ext))
      .filter((r): r is number => typeof r === 'number');
    const scope = new Set<number>();
    const stack = [...roots];
    while (stack.length > 0) {
      const id = stack.pop() as number;
      if (scope.has(id)) continue;
      scope.add(id);
      for (const c of this.childrenOf.get(id) ?? []) stack.push(c.id);
    }
    return (id) => scope.has(id);
  }

  private planGoneUsers(snapshotUserIds: ReadonlySet<string>): void {
    if (this.policy.onUserGone === 'ignore') return;
    const inIncomplete = this.incompleteScope();
    const gone = this.directory.users
      .filter((u) => {
        const link = linkOf(u.links, this.source);
        return (
          link !== undefined &&
          !snapshotUserIds.has(link.externalId) &&
          (this.userScope === undefined || this.userScope.has(link.externalId))
        );
      })
      .sort((a, b) => a.id - b.id);
    for (const u of gone) {
      const externalId = (linkOf(u.links, this.source) as { externalId: string }).externalId;
      const incompleteScope = u.memberships.some((m) => inIncomplete(m.departmentId)) || !this.snapshot.complete;
      const base = {
        ref: u.id,
        externalId,
        label: u.name ?? u.userid ?? String(u.id),
        gone: true,
        ...(incompleteScope ? { incompleteScope: true } : {}),
      };
      if (this.policy.onUserGone === 'delete') {
        this.userChanges.push({
          ...base,
          action: 'delete',
          set: {},
          fields: { status: { before: u.status, after: null } },
        });
      } else if (u.status === 'active') {
        this.userChanges.push({
          ...base,
          action: 'disable',
          set: { status: 'disabled' },
          fields: { status: { before: 'active', after: 'disabled' } },
        });
      }
    }
  }

  private planGoneDepartments(): void {
    if (this.policy.onDepartmentGone === 'ignore') return;
    const snapshotDeptIds = new Set(this.snapshot.departments.map((d) => d.externalId));
    const candidates = this.directory.departments.filter((d) => {
      const link = linkOf(d.links, this.source);
      return (
        link !== undefined && !snapshotDeptIds.has(link.externalId) && d.parentId !== null && d.id !== this.mountId
      );
    });
    if (candidates.length === 0) return;
    const inIncomplete = this.incompleteScope();
    const candidateIds = new Set(candidates.map((d) => d.id));

    // The tree after the plan: children per department, counting moves and creates.
    const finalParent = new Map<number, Ref | null>();
    for (const d of this.directory.departments) finalParent.set(d.id, d.parentId);
    const childCount = new Map<Ref, number>();
    for (const c of this.departmentChanges) {
      if (c.set.parent !== undefined && typeof c.ref === 'number') finalParent.set(c.ref, c.set.parent);
      if (c.action === 'create' && c.set.parent !== undefined)
        childCount.set(c.set.parent, (childCount.get(c.set.parent) ?? 0) + 1);
    }
    for (const [, parent] of finalParent)
      if (parent !== null) childCount.set(parent, (childCount.get(parent) ?? 0) + 1);

    // Active members after the plan, for candidate departments only.
    // A disable or delete the guard will hold back leaves its user active where they are.
    const changeByUser = new Map<number, UserChange>();
    for (const c of this.userChanges) if (typeof c.ref === 'number' && !c.incompleteScope) changeByUser.set(c.ref, c);
    const activeMembers = new Map<number, number>();
    for (const u of this.directory.users) {
      const change = changeByUser.get(u.id);
      if (change?.action === 'delete') continue;
      if ((change?.set.status ?? u.status) !== 'active') continue;
      const removed = new Set(change?.memberships?.remove ?? []);
      for (const m of u.memberships) {
        if (candidateIds.has(m.departmentId) && !removed.has(m.departmentId)) {
          activeMembers.set(m.departmentId, (activeMembers.get(m.departmentId) ?? 0) + 1);
        }
      }
    }

    const depth = (d: LocalDepartment): number => {
      let n = 0;
      for (let p = d.parentId; p !== null; p = this.deptById.get(p)?.parentId ?? null) n++;
      return n;
    };
    const ordered = [...candidates].sort((a, b) => depth(b) - depth(a) || a.id - b.id);
    for (const d of ordered) {
      const externalId = (linkOf(d.links, this.source) as { externalId: string }).externalId;
      const children = childCount.get(d.id) ?? 0;
      const members = activeMembers.get(d.id) ?? 0;
      if (children > 0 || members > 0) {
        this.notes.push({
          code: 'DEPARTMENT_KEPT',
          message: `department "${d.name}" (${d.id}) is gone from source "${this.source}" but was kept: it still has ${children} sub-department(s) and ${members} active member(s)`,
          hint: 'Move or remove what is left in it; the next run deletes it once it is empty.',
          object: `department "${externalId}"`,
          zh: {
            message: `部门「${d.name}」（${d.id}）已从来源「${this.source}」中移除，但本地保留：其中还有 ${children} 个子部门和 ${members} 名在职成员`,
            hint: '移走或删除其中剩下的部门和成员；部门清空后，下一次运行会删除它。',
          },
        });
        continue;
      }
      const incompleteScope = inIncomplete(d.id);
      this.departmentChanges.push({
        action: 'delete',
        ref: d.id,
        externalId,
        label: d.name,
        set: {},
        fields: { name: { before: d.name, after: null }, parent: { before: d.parentId, after: null } },
        ...(incompleteScope ? { incompleteScope: true } : {}),
      });
      // A delete the guard will hold back leaves the department in place, so its parent is not empty either.
      const parent = finalParent.get(d.id);
      if (!incompleteScope && parent !== null && parent !== undefined)
        childCount.set(parent, (childCount.get(parent) ?? 1) - 1);
    }
  }
}

/** Existing departments (by id) before new ones (by key): a stable order for memberships. */
function byDepartment(a: { department: Ref }, b: { department: Ref }): number {
  const x = a.department;
  const y = b.department;
  if (typeof x === 'number') return typeof y === 'number' ? x - y : -1;
  return typeof y === 'number' ? 1 : byString(x, y);
}

/** The link data that changes, as `link.<key>` diffs (the source's data replaces the stored one). */
function linkDataDiff(
  before: Record<string, string> | undefined,
  after: Record<string, string>,
): Record<string, FieldDiff> {
  const out: Record<string, FieldDiff> = {};
  for (const key of [...new Set([...Object.keys(before ?? {}), ...Object.keys(after)])].sort(byString)) {
    const b = before?.[key] ?? null;
    const a = after[key] ?? null;
    if (a !== b) out[`link.${key}`] = { before: b, after: a };
  }
  return out;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function describeMembership(m: { department: Ref; order: number; leader: boolean }): {
  department: Ref;
  order: number;
  leader: boolean;
} {
  return { department: m.department, order: m.order, leader: m.leader };
}
