import { WECOM_LIMITS } from './limits.js';
import type { Gender } from '../../directory/model.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser, UnseenField } from '../../directory/snapshot.js';
import { SnapshotCollector, stopsThePull } from '../common/pull.js';
import type { PullContext, SourceConnector } from '../contract.js';
import type { WecomClient } from './client.js';
import { WecomError } from './errors.js';
import {
  departmentIdSchema,
  departmentListPageSchema,
  departmentSchema,
  departmentSimpleListSchema,
  isPlainUserRecord,
  userListIdSchema,
  userListPageSchema,
  userSchema,
  type WecomDepartmentRecord,
  type WecomUserRecord,
} from './schemas.js';

/** Fields a self-built app created after 2022-06-20 no longer receives (API reference, WeCom §4). */
const WITHHELD: readonly UnseenField[] = ['mobile', 'email', 'avatar', 'gender', 'address'];

export interface WecomPullNotes {
  /** The detail reads were refused (48009) and only ids were read. */
  idsOnly: boolean;
  /** Departments whose members could not be read. */
  failedDepartments: number[];
  withheldFields: boolean;
}

/**
 * Reads a WeCom corp into a Snapshot with the fewest calls the platform allows: the department tree in one call,
 * then the members of every department concurrently (the client bounds concurrency and rate). The tree is mounted
 * from the visible tops, so an app whose visible range starts below department 1 still yields its tree.
 */
export class WecomSource implements SourceConnector {
  readonly kind = 'wecom';
  readonly limits = WECOM_LIMITS;
  readonly skipsInvalidRecords = true;
  readonly notes: WecomPullNotes = { idsOnly: false, failedDepartments: [], withheldFields: false };

  constructor(private readonly client: WecomClient) {}

  stats = (): Record<string, unknown> => ({ apiCalls: this.client.stats().calls, ...this.notes });

  async pull(ctx: PullContext): Promise<Snapshot> {
    ctx.onProgress?.({ phase: 'departments', done: 0 });
    let rawDepartments: unknown[];
    try {
      rawDepartments = (await this.client.get('department/list', {}, departmentListPageSchema)).department;
    } catch (err) {
      if (err instanceof WecomError && err.errcode === 48009) return this.pullIds(ctx);
      throw err;
    }

    // Each member is converted as its page arrives (while other pages are still in flight), so the raw records are
    // short-lived; a user in several departments comes once per department and is kept once.
    const collector = new SnapshotCollector({
      isFatal: stopsThePull,
      withheld: WITHHELD,
      total: () => departments.length,
      ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    // A department whose name or order does not parse keeps its place in the tree without them (a run error, the
    // department incomplete); one without a usable id or parent cannot be placed, and the answer is refused whole.
    const departments: WecomDepartmentRecord[] = [];
    const unnamed = new Set<number>();
    for (const raw of rawDepartments) {
      const full = departmentSchema.safeParse(raw);
      if (full.success) {
        departments.push(full.data);
        continue;
      }
      const placed = departmentIdSchema.pick({ id: true, parentid: true }).safeParse(raw);
      if (!placed.success) {
        const issue = placed.error.issues[0];
        const field = `department[${rawDepartments.indexOf(raw)}].${issue?.path.map(String).join('.') ?? ''}`;
        throw new WecomError({
          code: 'WECOM_BAD_RESPONSE',
          kind: 'unknown',
          message: `WeCom department/list answered a department orgsync cannot place in the tree: field "${field}": ${issue?.message ?? 'invalid'}`,
          hint: "Check that baseUrl points at WeCom's server API. If it does, report it with this message: without its id and parent the tree cannot be read.",
          path: 'department/list',
          object: `department/list response, field ${field}`,
        });
      }
      collector.skipped(`department "${placed.data.id}"`, full.error, 'WeCom');
      collector.markIncomplete(String(placed.data.id));
      unnamed.add(placed.data.id);
      departments.push({ id: placed.data.id, parentid: placed.data.parentid, order: 0 });
    }
    const ids = new Set(departments.map((d) => d.id));
    const snapshotDepartments: SnapshotDepartment[] = departments.map((d) => ({
      externalId: String(d.id),
      parentExternalId: ids.has(d.parentid) ? String(d.parentid) : null,
      ...(unnamed.has(d.id) ? {} : { name: d.name, order: d.order }),
    }));
    const convert = (u: WecomUserRecord): SnapshotUser | null => {
      // Status 5: left the corp, still listed for a while. Gone, as if absent.
      if (u.status === 5) return null;
      if (u.mobile !== undefined || u.email !== undefined) collector.contactSeen();
      return toSnapshotUser(u);
    };
    try {
      await Promise.all(
        departments.map((d) =>
          collector.department(String(d.id), async () => {
            const list = await this.client.get('user/list', { department_id: String(d.id) }, userListPageSchema, {
              signal: collector.signal,
            });
            for (const raw of list.userlist) {
              const u = isPlainUserRecord(raw) ? raw : collector.record(userSchema, raw, String(d.id), 'WeCom');
              if (u) collector.member(u.userid, u, convert);
            }
          }),
        ),
      );
    } finally {
      collector.close();
    }
    const { snapshot, incomplete, withheld } = collector.finish(snapshotDepartments);
    this.notes.failedDepartments = incomplete.map(Number);
    this.notes.withheldFields = withheld;
    return snapshot;
  }

  /**
   * The contacts secret from a new IP may read only ids (48009): the tree without names, and (user, department)
   * pairs. Memberships and leavers follow; names and details stay as they are until the offline export is imported.
   */
  private async pullIds(ctx: PullContext): Promise<Snapshot> {
    this.notes.idsOnly = true;
    const tree = (await this.client.get('department/simplelist', {}, departmentSimpleListSchema)).department_id;
    const ids = new Set(tree.map((d) => d.id));
    const memberships = new Map<string, number[]>();
    let cursor = '';
    let pages = 0;
    do {
      const page = await this.client.post(
        'user/list_id',
        cursor ? { cursor, limit: 10_000 } : { limit: 10_000 },
        userListIdSchema,
      );
      for (const row of page.dept_user) {
        const list = memberships.get(row.userid);
        if (list) list.push(row.department);
        else memberships.set(row.userid, [row.department]);
      }
      cursor = page.next_cursor ?? '';
      ctx.onProgress?.({ phase: 'member ids', done: ++pages });
    } while (cursor !== '');
    return {
      complete: true,
      incompleteDepartments: [],
      unseenFields: [
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
        'status',
      ],
      departments: tree.map((d) => ({
        externalId: String(d.id),
        parentExternalId: ids.has(d.parentid) ? String(d.parentid) : null,
        order: d.order,
      })),
      users: [...memberships.entries()].map(([userid, depts]) => ({
        externalId: userid,
        departments: depts.filter((d) => ids.has(d)).map((d) => ({ externalId: String(d) })),
      })),
    };
  }
}

function gender(v: string): Gender | null {
  return v === '1' ? 'male' : v === '2' ? 'female' : null;
}

/**
 * A member as a snapshot user: every field WeCom sent, unsent ones left out (the collector drops withheld ones and
 * memberships outside the visible range).
 */
export function toSnapshotUser(u: WecomUserRecord): SnapshotUser {
  const memberships: NonNullable<SnapshotUser['departments']> = u.department.map((d, i) => ({
    externalId: String(d),
    leader: (u.is_leader_in_dept?.[i] ?? 0) === 1,
    order: u.order?.[i] ?? 0,
  }));
  const user: SnapshotUser = {
    externalId: u.userid,
    name: u.name,
    status: u.status === 2 ? 'disabled' : 'active',
    departments: memberships,
  };
  const set = (
    field: 'alias' | 'position' | 'telephone' | 'mobile' | 'email' | 'avatar' | 'address',
    v: string | undefined,
  ): void => {
    if (v !== undefined) user[field] = v === '' ? null : v;
  };
  set('alias', u.alias);
  set('position', u.position);
  set('telephone', u.telephone);
  set('mobile', u.mobile);
  set('email', u.email);
  set('avatar', u.avatar);
  set('address', u.address);
  if (u.gender !== undefined) user.gender = gender(u.gender);
  if (u.main_department !== undefined) user.mainDepartment = String(u.main_department);
  if (u.extattr !== undefined) {
    const attributes: Record<string, string | null> = {};
    for (const a of u.extattr.attrs) {
      const value = a.type === 1 ? (a.web?.url ?? '') : (a.text?.value ?? a.value ?? '');
      attributes[a.name] = value === '' ? null : value;
    }
    user.attributes = attributes;
  }
  return user;
}
