import { DINGTALK_LIMITS } from './limits.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser, UnseenField } from '../../directory/snapshot.js';
import { SnapshotCollector, stopsThePull } from '../common/pull.js';
import type { PullContext, SourceConnector } from '../contract.js';
import type { DingtalkClient } from './client.js';
import { DingtalkError } from './errors.js';
import {
  authScopesSchema,
  departmentGetSchema,
  departmentListItemSchema,
  listsubPageSchema,
  userListItemSchema,
  userListPageSchema,
  type DingtalkDepartmentRecord,
  type DingtalkUserDetail,
  type DingtalkUserItem,
} from './schemas.js';

/** What an app without the 个人手机号信息 / 邮箱 permission does not get (API reference, DingTalk §10). */
const WITHHELD: readonly UnseenField[] = ['mobile', 'email'];

/** v2/user/list's largest page. */
const PAGE_SIZE = 100;

export interface DingtalkPullNotes {
  /** The departments the tree was walked from: 1, or the tops of the contact scope. */
  tops: number[];
  /** Departments whose members or sub-departments could not be read. */
  failedDepartments: number[];
  /** Top departments of the contact scope that could not be read at all (the snapshot is then incomplete). */
  unreadableTops: number[];
  withheldFields: boolean;
}

interface Visit {
  id: number;
  /** Absent: the answer's name did not parse (the department is kept without it). */
  name?: string;
  parent: number | null;
  order?: number;
}

/**
 * Reads a DingTalk org into a Snapshot with the fewest calls the platform allows: the visible tops (department 1,
 * or the contact scope's departments from auth/scopes when 1 is outside it), then the tree by walking
 * `v2/department/listsub` concurrently from them, and from each department as soon as it is found, its members
 * with `v2/user/list`, 100 at a time, following the cursor until `has_more` is false. A user in several departments
 * comes once per department: kept once, with every membership and each department's leader flag and order.
 * Department `order` is not in listsub's answer and would cost a call per department: it is left unsaid (the local
 * order stays) except on the tops.
 */
export class DingtalkSource implements SourceConnector {
  readonly kind = 'dingtalk';
  readonly limits = DINGTALK_LIMITS;
  readonly skipsInvalidRecords = true;
  readonly notes: DingtalkPullNotes = { tops: [], failedDepartments: [], unreadableTops: [], withheldFields: false };

  constructor(private readonly client: DingtalkClient) {}

  stats = (): Record<string, unknown> => ({ apiCalls: this.client.stats().calls, ...this.notes });

  async pull(ctx: PullContext): Promise<Snapshot> {
    const departments = new Map<number, SnapshotDepartment>();
    const collector = new SnapshotCollector({
      // A blocked IP stays blocked for minutes: every other call would wait out its retries for nothing.
      isFatal: (err) => stopsThePull(err) || (err instanceof DingtalkError && err.code === 'DINGTALK_IP_BLOCKED'),
      withheld: WITHHELD,
      total: () => departments.size,
      ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const signal = collector.signal;
    try {
      ctx.onProgress?.({ phase: 'departments', done: 0 });
      const tops = await this.tops(collector);
      this.notes.tops = tops.map((t) => t.id);
      let treeComplete = true;

      const visit = async (d: Visit): Promise<void> => {
        const known = departments.get(d.id);
        if (known) {
          // A top of the contact scope that lies inside another top's subtree: the walk knows its parent.
          if (known.parentExternalId === null && d.parent !== null) known.parentExternalId = String(d.parent);
          return;
        }
        departments.set(d.id, {
          externalId: String(d.id),
          parentExternalId: d.parent === null ? null : String(d.parent),
          ...(d.name !== undefined ? { name: d.name } : {}),
          ...(d.order !== undefined ? { order: d.order } : {}),
        });
        const subtree = (async () => {
          let children: unknown[];
          try {
            children = (
              await this.client.post('topapi/v2/department/listsub', { dept_id: d.id }, listsubPageSchema, {
                signal,
                urgent: true,
              })
            ).result;
          } catch (err) {
            if (collector.fatal(err)) throw err;
            treeComplete = false;
            collector.markIncomplete(String(d.id));
            return;
          }
          const visits: Visit[] = [];
          for (const raw of children) {
            const child = departmentListItemSchema.safeParse(raw);
            if (child.success) {
              visits.push({ id: child.data.dept_id, name: child.data.name, parent: d.id });
              continue;
            }
            // Kept by its id without the rest (a run error, the department incomplete); without an id it cannot be
            // walked: its parent's subtree is incomplete.
            const id = departmentListItemSchema.shape.dept_id.safeParse(
              raw !== null && typeof raw === 'object' ? (raw as { dept_id?: unknown }).dept_id : undefined,
            );
            collector.skipped(
              id.success ? `department "${id.data}"` : `a sub-department of department "${d.id}"`,
              child.error,
              'DingTalk',
            );
            if (id.success) {
              collector.markIncomplete(String(id.data));
              visits.push({ id: id.data, parent: d.id });
            } else {
              treeComplete = false;
              collector.markIncomplete(String(d.id));
            }
          }
          await Promise.all(visits.map((c) => visit(c)));
        })();
        const members = collector.department(String(d.id), () => this.readMembers(d.id, collector));
        await Promise.all([subtree, members]);
      };
      await Promise.all(tops.map((t) => visit(t)));

      const { snapshot, incomplete, withheld } = collector.finish([...departments.values()], { treeComplete });
      this.notes.failedDepartments = incomplete.map(Number);
      this.notes.withheldFields = withheld;
      // A top that could not be read hides a whole subtree: nobody may be taken as gone on this read.
      return this.notes.unreadableTops.length > 0 ? { ...snapshot, complete: false } : snapshot;
    } finally {
      collector.close();
    }
  }

  /**
   * Where the walk starts. Department 1 when the app may read it (the whole org: one call, which also gives the
   * root's name); otherwise the departments of the contact scope (auth/scopes), each read for its name.
   */
  private async tops(collector: SnapshotCollector): Promise<Visit[]> {
    const signal = collector.signal;
    const top = (d: DingtalkDepartmentRecord): Visit => ({
      id: d.dept_id,
      name: d.name,
      parent: null,
      ...(d.order !== undefined ? { order: d.order } : {}),
    });
    try {
      return [
        top(
          (
            await this.client.post('topapi/v2/department/get', { dept_id: 1 }, departmentGetSchema, {
              signal,
              urgent: true,
            })
          ).result,
        ),
      ];
    } catch (err) {
      if (!(err instanceof DingtalkError && err.code === 'DINGTALK_OUT_OF_SCOPE')) throw err;
    }
    const scope = await this.client.get('auth/scopes', {}, authScopesSchema, { signal, urgent: true });
    const ids = [...new Set(scope.auth_org_scopes.authed_dept)].filter((id) => id !== 1);
    const read = await Promise.all(
      ids.map(async (id) => {
        try {
          return top(
            (
              await this.client.post('topapi/v2/department/get', { dept_id: id }, departmentGetSchema, {
                signal,
                urgent: true,
              })
            ).result,
          );
        } catch (err) {
          if (collector.fatal(err)) throw err;
          this.notes.unreadableTops.push(id);
          return undefined;
        }
      }),
    );
    this.notes.unreadableTops.sort((a, b) => a - b);
    return read.filter((t): t is Visit => t !== undefined);
  }

  /** Every page of a department's members, following the cursor until has_more is false. */
  private async readMembers(deptId: number, collector: SnapshotCollector): Promise<void> {
    const dept = String(deptId);
    const signal = collector.signal;
    const convert = (u: DingtalkUserItem): SnapshotUser => {
      if (u.mobile !== undefined || u.email !== undefined) collector.contactSeen();
      return toSnapshotUser(u);
    };
    let cursor = 0;
    for (let page = 0; ; page++) {
      // After the first page, the next one is what holds this department up: it goes ahead of first pages.
      const { result } = await this.client.post(
        'topapi/v2/user/list',
        { dept_id: deptId, cursor, size: PAGE_SIZE },
        userListPageSchema,
        { signal, urgent: page > 0 },
      );
      for (const raw of result.list) {
        const u = collector.record(userListItemSchema, raw, dept, 'DingTalk');
        if (u)
          collector.member(u.userid, u, convert, {
            externalId: dept,
            leader: u.leader ?? false,
            order: u.dept_order ?? 0,
          });
      }
      if (!result.has_more) return;
      const next = result.next_cursor ?? cursor + result.list.length;
      if (next <= cursor) {
        throw new DingtalkError({
          code: 'DINGTALK_BAD_RESPONSE',
          kind: 'unknown',
          message: `DingTalk topapi/v2/user/list of department ${deptId} said has_more but gave no cursor beyond ${cursor}`,
          hint: 'Run the sync again; if it persists, report it with this message (the department was marked incomplete).',
          path: 'topapi/v2/user/list',
        });
      }
      cursor = next;
    }
  }
}

/**
 * A member as a snapshot user: the one conversion of the pull (v2/user/list) and of event reads (v2/user/get).
 * DingTalk leaves text fields out when they are not set, so an absent one is empty (null); whether the withheld
 * contact fields are unseen is the caller's to decide. Every department of the user is a membership; the pull adds
 * each department's leader flag and order from that department's list, `toSnapshotUserDetail` from the user's own.
 */
export function toSnapshotUser(u: DingtalkUserItem): SnapshotUser {
  const user: SnapshotUser = {
    externalId: u.userid,
    name: u.name,
    // DingTalk has no disabled state: a member who has not activated DingTalk cannot use it yet.
    status: u.active === false ? 'disabled' : 'active',
    departments: u.dept_id_list.map((d) => ({ externalId: String(d) })),
    position: u.title || null,
    telephone: u.telephone || null,
    employeeNo: u.job_number || null,
    address: u.work_place || null,
    avatar: u.avatar || null,
    mobile: u.mobile ? (u.state_code && u.state_code !== '86' ? `+${u.state_code}-${u.mobile}` : u.mobile) : null,
    email: u.email || null,
  };
  if (u.unionid) user.linkData = { unionid: u.unionid };
  if (u.extension !== undefined) {
    const attributes = extensionAttributes(u.extension);
    if (attributes) user.attributes = attributes;
  }
  return user;
}

/**
 * A member as v2/user/get gives them: the same user as the pull makes of their list entries, every membership with
 * the leader flag (leader_in_dept) and order (dept_order_list) each department's list would give.
 */
export function toSnapshotUserDetail(u: DingtalkUserDetail): SnapshotUser {
  const user = toSnapshotUser(u);
  const leader = new Map((u.leader_in_dept ?? []).map((l) => [l.dept_id, l.leader]));
  const order = new Map((u.dept_order_list ?? []).map((o) => [o.dept_id, o.order]));
  user.departments = u.dept_id_list.map((d) => ({
    externalId: String(d),
    leader: leader.get(d) ?? false,
    order: order.get(d) ?? 0,
  }));
  return user;
}

/**
 * A department as v2/department/get gives it, for event reads. The root has no parent (none given, or 0); a parent
 * outside the contact scope is kept, and the event run hangs the department at the top when it cannot read it.
 */
export function toSnapshotDepartment(d: DingtalkDepartmentRecord): SnapshotDepartment {
  const parent = d.parent_id === undefined || d.parent_id === 0 ? null : String(d.parent_id);
  return {
    externalId: String(d.dept_id),
    parentExternalId: parent,
    name: d.name,
    ...(d.order !== undefined ? { order: d.order } : {}),
  };
}

/** `extension` is a JSON object as a string ({"爱好":"旅游"}); anything else is not said. */
function extensionAttributes(extension: string): Record<string, string | null> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(extension);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v === undefined || v === '') out[k] = null;
    else out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}
