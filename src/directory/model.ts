/** The local directory as orgsync keeps it. Ids are local integers; a source's ids live on links. */

export type UserStatus = 'active' | 'disabled';
export type Gender = 'male' | 'female';

/** Profile fields every user has. All are nullable: null means "known to be empty". */
export const USER_PROFILE_FIELDS = [
  'userid',
  'name',
  'alias',
  'position',
  'mobile',
  'email',
  'telephone',
  'gender',
  'avatar',
  'address',
  'employeeNo',
] as const;
export type UserProfileField = (typeof USER_PROFILE_FIELDS)[number];

/** Everything on a user a source may own: the profile plus status, memberships, main department, attributes. */
export const USER_OWNED_FIELDS = [
  ...USER_PROFILE_FIELDS,
  'status',
  'departments',
  'mainDepartment',
  'attributes',
] as const;
export type UserOwnedField = (typeof USER_OWNED_FIELDS)[number];

export const DEPARTMENT_OWNED_FIELDS = ['name', 'order', 'parent'] as const;

export interface Link {
  source: string;
  externalId: string;
  /** What the source keeps on the link besides the id (e.g. DingTalk's unionid, which sign-in maps back). */
  data?: Record<string, string>;
}

export interface LocalDepartment {
  id: number;
  /** null only for the local root. */
  parentId: number | null;
  name: string;
  order: number;
  links: Link[];
}

export interface Membership {
  departmentId: number;
  order: number;
  leader: boolean;
}

export type UserProfile = { [K in UserProfileField]: string | null };

export interface LocalUser extends UserProfile {
  id: number;
  status: UserStatus;
  mainDepartmentId: number | null;
  attributes: Record<string, string>;
  memberships: Membership[];
  links: Link[];
}

/** Everything `plan` needs to know about the local side, loaded in one read. */
export interface DirectoryState {
  /** Bumped by every write; a stored plan applies only to the revision it was made from. */
  revision: number;
  rootId: number;
  departments: LocalDepartment[];
  users: LocalUser[];
  /**
   * Set when `users` holds only the users a scope asked for (see UserScope), not the whole directory: then the count
   * of the source's active users, which a whole load gives by counting, comes from the database.
   */
  scope?: { source: string; activeLinkedUsers: number };
}

/**
 * The users a run needs when it touches only some of a source's users (a batch of contact-change events): every
 * user who could take part in its plan. Departments are always loaded whole.
 */
export interface UserScope {
  source: string;
  /** Users linked to `source` under these ids. */
  externalIds: readonly string[];
  /** Users, linked or not, who are members of these departments of `source` (by its ids). */
  memberOf: readonly string[];
  /**
   * Users the fallback matching or a userid check could find for the source's users read: the same userid key, and
   * for one not linked yet (`externalId` not among the links) the same mobile or email key.
   */
  candidates: ReadonlyArray<{
    externalId: string;
    userid?: string | undefined;
    mobile?: string | null | undefined;
    email?: string | null | undefined;
  }>;
}

export function linkKey(source: string, externalId: string): string {
  return `${source}\u0000${externalId}`;
}

export function linkOf(links: readonly Link[], source: string): Link | undefined {
  return links.find((l) => l.source === source);
}
