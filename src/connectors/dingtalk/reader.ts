import { DINGTALK_LIMITS } from './limits.js';
import type { SnapshotDepartment, SnapshotUser } from '../../directory/snapshot.js';
import type { DingtalkClient } from './client.js';
import { DingtalkError } from './errors.js';
import { departmentGetSchema, userGetSchema } from './schemas.js';
import { toSnapshotDepartment, toSnapshotUserDetail } from './source.js';
import { callsSince } from '../common/calls.js';
import type { ObjectReader } from '../contract.js';

/** The contact fields an app without the 个人手机号信息 / 邮箱 permission does not get (API reference, DingTalk §10). */
const WITHHELD = ['mobile', 'email'] as const;

/**
 * "No such object" for this app: the member (60121) or department (60003) does not exist, or it lies outside the
 * app's contact scope (60011 on its own), where a full sync would not see it either. 60011 inside errcode 88 is a
 * missing API permission (DINGTALK_API_PERMISSION_DENIED): that throws, a failure of the whole connection
 * (`connectionWide`), and every message waits without counting a try.
 */
const GONE = new Set(['DINGTALK_USER_NOT_FOUND', 'DINGTALK_DEPARTMENT_NOT_FOUND', 'DINGTALK_OUT_OF_SCOPE']);

const gone = (err: unknown): boolean => err instanceof DingtalkError && GONE.has(err.code);

/**
 * Targeted reads for DingTalk events, which carry ids only: `topapi/v2/user/get` and `topapi/v2/department/get`,
 * one call per object, through the connection's client (token cache, QPS limits, retries). The user is converted
 * as the pull converts a listed member, every membership with its leader flag and order, so an event-applied user
 * equals a synced one.
 */
export class DingtalkObjectReader implements ObjectReader {
  readonly kind = 'dingtalk';
  readonly limits = DINGTALK_LIMITS;

  /** The calls of this reader's run. */
  readonly stats: () => Record<string, unknown>;

  constructor(private readonly client: DingtalkClient) {
    this.stats = callsSince(client);
  }

  async readUser(externalId: string): Promise<SnapshotUser | null> {
    try {
      const { result } = await this.client.post('topapi/v2/user/get', { userid: externalId }, userGetSchema);
      const user = toSnapshotUserDetail(result);
      // Every DingTalk member but an exclusive account has a mobile: neither it nor an email means the app may not
      // see them, and a pull would call them unseen rather than empty.
      if (result.mobile === undefined && result.email === undefined) for (const f of WITHHELD) delete user[f];
      return user;
    } catch (err) {
      if (gone(err)) return null;
      throw err;
    }
  }

  async readDepartment(externalId: string): Promise<SnapshotDepartment | null> {
    try {
      const { result } = await this.client.post(
        'topapi/v2/department/get',
        { dept_id: Number(externalId) },
        departmentGetSchema,
      );
      return toSnapshotDepartment(result);
    } catch (err) {
      if (gone(err)) return null;
      throw err;
    }
  }
}
