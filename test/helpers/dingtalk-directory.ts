import type { DirectoryExport } from '../../src/directory/export.js';
import type { DingDepartment, DingUser } from '../../src/simulator/dingtalk/model.js';
import { linkedDepartments, linkedUsers, withoutLeavers } from './linked-directory.js';

/** The local directory and the DingTalk simulator's ground truth (/__sim/directory), in one comparable shape. */

export interface DingTruth {
  departments: DingDepartment[];
  users: DingUser[];
}

/** What a DingTalk user's profile becomes locally (only compared when asked for). */
export interface MirrorProfile {
  position: string | null;
  mobile: string | null;
  email: string | null;
  telephone: string | null;
  employeeNo: string | null;
  address: string | null;
  avatar: string | null;
  attributes: Record<string, string>;
}

export interface DingMirror {
  departments: Array<{ id: number; name: string; parent: number | null }>;
  users: Array<{
    userid: string;
    unionid: string | undefined;
    name: string | null;
    status: string;
    memberships: Array<{ d: number; leader: boolean; order: number }>;
    profile?: MirrorProfile;
  }>;
}

export interface MirrorOptions {
  /** The connection's name: the source of the links. Default "dingtalk". */
  source?: string;
  /** Compare the profile too (title, contact fields, job number, work place, avatar, extension). */
  profile?: boolean;
}

/**
 * The local directory, as DingTalk would describe it: only what is linked to the DingTalk source. People who left
 * upstream stay locally, disabled: they are checked to be disabled and left out of the comparison.
 */
export function local(doc: DirectoryExport, truth?: DingTruth, options: MirrorOptions = {}): DingMirror {
  const source = options.source ?? 'dingtalk';
  if (truth) doc = withoutLeavers(doc, source, truth.users);
  const { ext, departments } = linkedDepartments(doc, source);
  const users = linkedUsers(doc, source, ext, (u, link, memberships) => ({
    userid: link.externalId,
    unionid: link.data?.unionid,
    name: u.name,
    status: u.status,
    memberships,
    ...(options.profile
      ? {
          profile: {
            position: u.position,
            mobile: u.mobile,
            email: u.email,
            telephone: u.telephone,
            employeeNo: u.employeeNo,
            address: u.address,
            avatar: u.avatar,
            attributes: u.attributes,
          },
        }
      : {}),
  }));
  return { departments, users };
}

/** A DingTalk user's profile as orgsync keeps it: a field absent or '' is empty; a mobile outside +86 with its country code. */
function profileOf(u: DingUser): MirrorProfile {
  let attributes: Record<string, string> = {};
  if (u.extension !== undefined) {
    const parsed = JSON.parse(u.extension) as Record<string, unknown>;
    attributes = Object.fromEntries(
      Object.entries(parsed).filter(([, v]) => typeof v === 'string' && v !== ''),
    ) as Record<string, string>;
  }
  return {
    position: u.title || null,
    mobile: u.mobile ? (u.state_code && u.state_code !== '86' ? `+${u.state_code}-${u.mobile}` : u.mobile) : null,
    email: u.email || null,
    telephone: u.telephone || null,
    employeeNo: u.job_number || null,
    address: u.work_place || null,
    avatar: u.avatar || null,
    attributes,
  };
}

/** The simulator's ground truth in the same shape, for what an app sees from the given tops of its contact scope. */
export function expected(org: DingTruth, tops: number[] = [1], options: MirrorOptions = {}): DingMirror {
  const byId = new Map(org.departments.map((d) => [d.dept_id, d]));
  const visible = new Set<number>();
  for (const d of org.departments) {
    for (let p: number | undefined = d.dept_id; p !== undefined; p = byId.get(p)?.parent_id) {
      if (tops.includes(p)) {
        visible.add(d.dept_id);
        break;
      }
    }
  }
  const departments = org.departments
    .filter((d) => visible.has(d.dept_id))
    .map((d) => ({
      id: d.dept_id,
      name: d.name,
      parent: d.parent_id !== undefined && visible.has(d.parent_id) ? d.parent_id : null,
    }))
    .sort((a, b) => a.id - b.id);
  const users = org.users
    .filter((u) => u.dept_id_list.some((d) => visible.has(d)))
    .map((u) => ({
      userid: u.userid,
      unionid: u.unionid,
      name: u.name,
      status: u.active ? 'active' : 'disabled',
      memberships: u.dept_id_list
        .filter((d) => visible.has(d))
        .map((d) => ({
          d,
          leader: u.leader_in_dept.find((l) => l.dept_id === d)?.leader ?? false,
          order: u.dept_order_list.find((o) => o.dept_id === d)?.order ?? 0,
        }))
        .sort((a, b) => a.d - b.d),
      ...(options.profile ? { profile: profileOf(u) } : {}),
    }))
    .sort((a, b) => (a.userid < b.userid ? -1 : 1));
  return { departments, users };
}
