import type { DirectoryExport } from '../../src/directory/export.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { linkedDepartments, linkedUsers, withoutLeavers } from './linked-directory.js';

/** The local directory and the WeCom simulator's ground truth, in one comparable shape (no test runner needed: the benchmarks use it too). */

/**
 * The local directory, as WeCom would describe it: only what is linked to the WeCom source. People who left
 * upstream stay locally, disabled: they are checked to be disabled and left out of the comparison.
 */
export function local(doc: DirectoryExport, truth?: SimOrg, SOURCE = 'wecom', options: ViewOptions = {}) {
  if (truth) doc = withoutLeavers(doc, SOURCE, truth.users);
  const { ext, departments } = linkedDepartments(doc, SOURCE);
  const users = linkedUsers(doc, SOURCE, ext, (u, link, memberships) => ({
    userid: link.externalId,
    name: u.name,
    ...(options.positions ? { position: u.position ?? '' } : {}),
    status: u.status,
    memberships,
  }));
  return { departments, users };
}

/** What the views compare besides the tree, names, status and memberships. */
export interface ViewOptions {
  /** Each user's position ('' when none). */
  positions?: boolean;
}

/** The simulator's ground truth in the same shape, for what an app sees from the given visible tops. */
export function expected(org: SimOrg, visibleTops: number[] = [1], options: ViewOptions = {}) {
  const byId = new Map(org.departments.map((d) => [d.id, d]));
  const visible = new Set<number>();
  for (const d of org.departments) {
    for (let p: number | undefined = d.id; p !== undefined && p !== 0; p = byId.get(p)?.parentid) {
      if (visibleTops.includes(p)) {
        visible.add(d.id);
        break;
      }
    }
  }
  const departments = org.departments
    .filter((d) => visible.has(d.id))
    .map((d) => ({ id: d.id, name: d.name, parent: visible.has(d.parentid) ? d.parentid : null }))
    .sort((a, b) => a.id - b.id);
  const users = org.users
    .filter((u) => u.status !== 5 && u.department.some((d) => visible.has(d)))
    .map((u) => ({
      userid: u.userid,
      name: u.name,
      ...(options.positions ? { position: u.position ?? '' } : {}),
      status: u.status === 2 ? 'disabled' : 'active',
      memberships: u.department
        .map((d, i) => ({ d, leader: u.is_leader_in_dept[i] === 1, order: u.order[i] as number }))
        .filter((m) => visible.has(m.d))
        .sort((a, b) => a.d - b.d),
    }))
    .sort((a, b) => (a.userid < b.userid ? -1 : 1));
  return { departments, users };
}
