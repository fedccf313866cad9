import { WECOM_LIMITS } from './limits.js';
import type { SnapshotDepartment, SnapshotUser } from '../../directory/snapshot.js';
import type { WecomClient } from './client.js';
import { WecomError } from './errors.js';
import { departmentGetSchema, userGetSchema } from './schemas.js';
import { toSnapshotUser } from './source.js';
import { callsSince } from '../common/calls.js';
import type { ObjectReader } from '../contract.js';

/** Fields a self-built app created after 2022-06-20 does not receive (API reference, WeCom §4). */
const WITHHELD = ['mobile', 'email', 'avatar', 'gender', 'address'] as const;

/** Answers that mean "no such object": the member (60111) or department (60003, 60123) is gone. */
const GONE = new Set([60111, 60003, 60123]);

/**
 * "Not visible": the member or department lies outside the app's visible range (60011). A full sync does not list
 * it either, so to the app it is gone, the same for a member as for a department: the plan then treats it as any
 * object gone from the source (a member by the connection's `onUserGone`, under the guard; a department is kept
 * while it still has members or sub-departments). Read with the contacts-sync secret, which sees the whole
 * directory, WeCom does not answer it.
 */
const NOT_VISIBLE = 60011;

const goneOrHidden = (err: unknown): boolean =>
  err instanceof WecomError && err.errcode !== undefined && (GONE.has(err.errcode) || err.errcode === NOT_VISIBLE);

/**
 * Targeted reads for WeCom events: user/get and department/get, one call per object. A member WeCom lists as
 * having left (status 5) or no longer knows is gone; a member or department outside the app's visible range
 * (60011) is not part of what the app sees, as in a full sync.
 */
export class WecomObjectReader implements ObjectReader {
  readonly kind = 'wecom';
  readonly limits = WECOM_LIMITS;

  /** The calls of this reader's run. */
  readonly stats: () => Record<string, unknown>;

  constructor(private readonly client: WecomClient) {
    this.stats = callsSince(client);
  }

  async readUser(externalId: string): Promise<SnapshotUser | null> {
    try {
      const u = await this.client.get('user/get', { userid: externalId }, userGetSchema);
      if (u.status === 5) return null;
      const user = toSnapshotUser(u);
      // Every WeCom member has a mobile or an email: neither means the app may not see them (nor the rest).
      if (u.mobile === undefined && u.email === undefined) for (const f of WITHHELD) delete user[f];
      return user;
    } catch (err) {
      if (goneOrHidden(err)) return null;
      throw err;
    }
  }

  async readDepartment(externalId: string): Promise<SnapshotDepartment | null> {
    try {
      const { department: d } = await this.client.get('department/get', { id: externalId }, departmentGetSchema);
      return {
        externalId: String(d.id),
        // The root's parent (0) and a parent outside the visible range both mean "a top of what the app sees"; the
        // view keeps a parent it knows and hangs the rest at the top.
        parentExternalId: d.parentid === 0 ? null : String(d.parentid),
        ...(d.name !== undefined ? { name: d.name } : {}),
        order: d.order,
      };
    } catch (err) {
      if (goneOrHidden(err)) return null;
      throw err;
    }
  }
}
