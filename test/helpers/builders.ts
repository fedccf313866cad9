import {
  USER_PROFILE_FIELDS,
  type DirectoryState,
  type LocalDepartment,
  type LocalUser,
  type Link,
  type UserProfile,
} from '../../src/directory/model.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser } from '../../src/directory/snapshot.js';

/** In-memory directory states and snapshots for the pure planner tests. */

export function localDept(
  id: number,
  parentId: number | null,
  name: string,
  links: Link[] = [],
  order = 0,
): LocalDepartment {
  return { id, parentId, name, order, links };
}

/** Every profile field null. */
export function blankProfile(): UserProfile {
  return Object.fromEntries(USER_PROFILE_FIELDS.map((f) => [f, null])) as UserProfile;
}

export function localUser(id: number, over: Partial<LocalUser> = {}): LocalUser {
  return {
    id,
    ...blankProfile(),
    userid: `user${id}`,
    name: `User ${id}`,
    status: 'active',
    mainDepartmentId: null,
    attributes: {},
    memberships: [],
    links: [],
    ...over,
  };
}

export function directory(departments: LocalDepartment[] = [], users: LocalUser[] = [], revision = 7): DirectoryState {
  return { revision, rootId: 1, departments: [localDept(1, null, 'Organization'), ...departments], users };
}

export function snapshot(
  departments: SnapshotDepartment[],
  users: SnapshotUser[],
  over: Partial<Snapshot> = {},
): Snapshot {
  return { complete: true, incompleteDepartments: [], unseenFields: [], departments, users, ...over };
}

export const dept = (
  externalId: string,
  parentExternalId: string | null,
  name: string,
  order?: number,
): SnapshotDepartment => ({
  externalId,
  parentExternalId,
  name,
  ...(order !== undefined ? { order } : {}),
});

export const link = (source: string, externalId: string): Link => ({ source, externalId });
