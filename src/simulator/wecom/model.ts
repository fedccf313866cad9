/**
 * A simulated WeCom corp, kept in the shapes WeCom's API returns (department/list, user/get), so the simulator
 * serves its state as it is. See the API reference, WeCom §2-§4.
 */

export interface WecomDepartment {
  id: number;
  name: string;
  name_en: string;
  /** 0 for the root (id 1). */
  parentid: number;
  /** Larger sorts first. */
  order: number;
  department_leader: string[];
}

export interface WecomExtAttr {
  type: 0 | 1;
  name: string;
  text?: { value: string };
  web?: { url: string; title: string };
}

/** 1 activated, 2 disabled, 4 not activated, 5 left the corp. */
export type WecomUserStatus = 1 | 2 | 4 | 5;

export interface WecomUser {
  userid: string;
  name: string;
  /** Departments, each aligned by index with order and is_leader_in_dept. */
  department: number[];
  order: number[];
  is_leader_in_dept: number[];
  main_department: number;
  position: string;
  mobile: string;
  /** "0" unknown, "1" male, "2" female. */
  gender: '0' | '1' | '2';
  email: string;
  biz_mail: string;
  direct_leader: string[];
  avatar: string;
  thumb_avatar: string;
  telephone: string;
  alias: string;
  address: string;
  extattr: { attrs: WecomExtAttr[] };
  status: WecomUserStatus;
  qr_code: string;
  external_position: string;
}

export interface SimOrg {
  departments: WecomDepartment[];
  users: WecomUser[];
}

/** Changes to a simulated corp, as `/__sim/mutate` takes them; the random mutation generator produces them too. */
export type SimOperation =
  | { op: 'createDepartment'; department: { id?: number; name: string; parentid: number; order?: number } }
  | { op: 'updateDepartment'; department: { id: number; name?: string; parentid?: number; order?: number } }
  | { op: 'deleteDepartment'; id: number }
  | {
      op: 'createUser';
      user: Partial<Omit<WecomUser, 'userid' | 'name' | 'department'>> & {
        userid: string;
        name: string;
        department: number[];
      };
    }
  | { op: 'updateUser'; user: Partial<Omit<WecomUser, 'userid'>> & { userid: string; new_userid?: string } }
  | { op: 'deleteUser'; userid: string };
