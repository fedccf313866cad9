import type { DirectoryState, LocalUser } from '../directory/model.js';
import { linkOf } from '../directory/model.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser } from '../directory/snapshot.js';

/**
 * A contact-change event run reads only the objects the events name. Its plan still needs the whole org as the
 * source sees it, or everything the events did not mention would look gone. So the source's last known view is
 * rebuilt from the local directory (every object linked to the source, as it is now) and the fresh reads are laid
 * over it. Objects the events did not touch then plan to no change at all.
 */

/** What targeted reads found, keyed by the source's ids. null: the source says it is gone. */
export interface ObjectReads {
  departments: ReadonlyMap<string, SnapshotDepartment | null>;
  users: ReadonlyMap<string, SnapshotUser | null>;
}

/**
 * The source's view of the org as the local directory holds it: every department linked to it, and every user
 * linked to it, or only those `users` (by the source's id) when given.
 */
export function sourceView(state: DirectoryState, source: string, users?: ReadonlySet<string>): Snapshot {
  const deptExternal = new Map<number, string>();
  for (const d of state.departments) {
    const link = linkOf(d.links, source);
    if (link) deptExternal.set(d.id, link.externalId);
  }
  const departments: SnapshotDepartment[] = [];
  for (const d of state.departments) {
    const externalId = deptExternal.get(d.id);
    if (externalId === undefined) continue;
    departments.push({
      externalId,
      parentExternalId: d.parentId === null ? null : (deptExternal.get(d.parentId) ?? null),
      name: d.name,
      order: d.order,
    });
  }
  const viewed: SnapshotUser[] = [];
  for (const u of state.users) {
    const link = linkOf(u.links, source);
    if (link && (users === undefined || users.has(link.externalId)))
      viewed.push(userView(u, link.externalId, deptExternal));
  }
  return { complete: true, incompleteDepartments: [], unseenFields: [], departments, users: viewed };
}

/**
 * The users an event run must plan, by the source's id: those read, and those the directory has in a department
 * the reads say is gone (their membership goes with it). Every other user linked to the source is unchanged by the
 * reads, and the plan leaves them out.
 */
export function touchedUsers(state: DirectoryState, source: string, reads: ObjectReads): Set<string> {
  const touched = new Set(reads.users.keys());
  const removed = new Set<number>();
  const goneIds = new Set([...reads.departments].filter(([, d]) => d === null).map(([id]) => id));
  if (goneIds.size > 0) {
    for (const d of state.departments) {
      const link = linkOf(d.links, source);
      if (link && goneIds.has(link.externalId)) removed.add(d.id);
    }
  }
  if (removed.size === 0) return touched;
  for (const u of state.users) {
    const link = linkOf(u.links, source);
    if (link && u.memberships.some((m) => removed.has(m.departmentId))) touched.add(link.externalId);
  }
  return touched;
}

function userView(u: LocalUser, externalId: string, deptExternal: ReadonlyMap<number, string>): SnapshotUser {
  const memberships: NonNullable<SnapshotUser['departments']> = [];
  for (const m of u.memberships) {
    const d = deptExternal.get(m.departmentId);
    if (d !== undefined) memberships.push({ externalId: d, leader: m.leader, order: m.order });
  }
  // null stays null; a main department the source does not know (a local one) is left out, so it stays too.
  const main = u.mainDepartmentId === null ? null : deptExternal.get(u.mainDepartmentId);
  const user: SnapshotUser = {
    externalId,
    ...(u.userid !== null && u.userid !== externalId ? { userid: u.userid } : {}),
    ...(u.name !== null ? { name: u.name } : {}),
    alias: u.alias,
    position: u.position,
    mobile: u.mobile,
    email: u.email,
    telephone: u.telephone,
    gender: u.gender === 'male' || u.gender === 'female' ? u.gender : null,
    avatar: u.avatar,
    address: u.address,
    employeeNo: u.employeeNo,
    status: u.status,
    departments: memberships,
    attributes: { ...u.attributes },
    ...(main !== undefined ? { mainDepartment: main } : {}),
  };
  return user;
}

/**
 * The view with the reads laid over it: a read department or user replaces the view's, a null removes it. A removed
 * department's memberships go with it; a department whose parent is gone hangs at the top until a read says where
 * it is (the platforms refuse to delete a department that still has children, so this is a passing state).
 */
export function applyReads(view: Snapshot, reads: ObjectReads): Snapshot {
  const departments = new Map(view.departments.map((d) => [d.externalId, d]));
  for (const [id, d] of reads.departments) {
    if (d === null) departments.delete(id);
    else departments.set(id, { ...departments.get(id), ...d });
  }
  for (const [id, d] of departments) {
    if (d.parentExternalId !== null && !departments.has(d.parentExternalId))
      departments.set(id, { ...d, parentExternalId: null });
  }
  const users = new Map(view.users.map((u) => [u.externalId, u]));
  for (const [id, u] of reads.users) {
    if (u === null) users.delete(id);
    else users.set(id, u);
  }
  const kept: SnapshotUser[] = [];
  for (const u of users.values()) {
    const memberships = u.departments?.filter((m) => departments.has(m.externalId));
    if (memberships === undefined || memberships.length === u.departments?.length) {
      kept.push(u);
      continue;
    }
    const main = u.mainDepartment != null && departments.has(u.mainDepartment) ? u.mainDepartment : undefined;
    const { mainDepartment: _dropped, ...rest } = u;
    kept.push({ ...rest, departments: memberships, ...(main !== undefined ? { mainDepartment: main } : {}) });
  }
  return { ...view, departments: [...departments.values()], users: kept };
}
