import type { DirectoryState, Link, UserStatus } from './model.js';

/** The `directory export --json` document: a contract other tools rely on. */
export interface DirectoryExport {
  revision: number;
  departments: ExportedDepartment[];
  users: ExportedUser[];
}

export interface ExportedDepartment {
  id: number;
  name: string;
  parentId: number | null;
  order: number;
  links: Link[];
}

export interface ExportedUser {
  id: number;
  userid: string | null;
  name: string | null;
  alias: string | null;
  status: UserStatus;
  position: string | null;
  mobile: string | null;
  email: string | null;
  telephone: string | null;
  gender: string | null;
  avatar: string | null;
  address: string | null;
  employeeNo: string | null;
  mainDepartment: number | null;
  departments: Array<{ id: number; leader: boolean; order: number }>;
  attributes: Record<string, string>;
  links: Link[];
}

export function exportDirectory(state: DirectoryState): DirectoryExport {
  return {
    revision: state.revision,
    departments: state.departments.map((d) => ({
      id: d.id,
      name: d.name,
      parentId: d.parentId,
      order: d.order,
      links: d.links,
    })),
    users: state.users.map((u) => ({
      id: u.id,
      userid: u.userid,
      name: u.name,
      alias: u.alias,
      status: u.status,
      position: u.position,
      mobile: u.mobile,
      email: u.email,
      telephone: u.telephone,
      gender: u.gender,
      avatar: u.avatar,
      address: u.address,
      employeeNo: u.employeeNo,
      mainDepartment: u.mainDepartmentId,
      departments: u.memberships.map((m) => ({ id: m.departmentId, leader: m.leader, order: m.order })),
      attributes: u.attributes,
      links: u.links,
    })),
  };
}
