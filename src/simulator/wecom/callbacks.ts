import { CallbackCrypto } from '../../crypto/callback-crypto.js';
import { CallbackQueue, type CallbackStats } from '../common/callback-queue.js';
import type { SimConfig } from './config.js';
import type { ContactChange } from './corp.js';
import type { WecomUser } from './model.js';

const cdata = (v: string): string => `<![CDATA[${v.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
const csv = (v: ReadonlyArray<string | number>): string => v.join(',');

/** The XML tag and text of each user field a change_contact event carries. */
const USER_TAGS: Array<[keyof WecomUser, string, (u: Partial<WecomUser>) => string | null]> = [
  ['name', 'Name', (u) => (u.name === undefined ? null : cdata(u.name))],
  ['department', 'Department', (u) => (u.department === undefined ? null : cdata(csv(u.department)))],
  [
    'main_department',
    'MainDepartment',
    (u) => (u.main_department === undefined ? null : cdata(String(u.main_department))),
  ],
  [
    'is_leader_in_dept',
    'IsLeaderInDept',
    (u) => (u.is_leader_in_dept === undefined ? null : cdata(csv(u.is_leader_in_dept))),
  ],
  ['direct_leader', 'DirectLeader', (u) => (u.direct_leader === undefined ? null : cdata(csv(u.direct_leader)))],
  ['position', 'Position', (u) => (u.position === undefined ? null : cdata(u.position))],
  ['mobile', 'Mobile', (u) => (u.mobile === undefined ? null : cdata(u.mobile))],
  ['gender', 'Gender', (u) => (u.gender === undefined ? null : cdata(u.gender))],
  ['email', 'Email', (u) => (u.email === undefined ? null : cdata(u.email))],
  ['biz_mail', 'BizMail', (u) => (u.biz_mail === undefined ? null : cdata(u.biz_mail))],
  ['status', 'Status', (u) => (u.status === undefined ? null : String(u.status))],
  ['avatar', 'Avatar', (u) => (u.avatar === undefined ? null : cdata(u.avatar))],
  ['alias', 'Alias', (u) => (u.alias === undefined ? null : cdata(u.alias))],
  ['telephone', 'Telephone', (u) => (u.telephone === undefined ? null : cdata(u.telephone))],
  ['address', 'Address', (u) => (u.address === undefined ? null : cdata(u.address))],
  [
    'extattr',
    'ExtAttr',
    (u) =>
      u.extattr === undefined
        ? null
        : u.extattr.attrs
            .map((a) =>
              a.type === 1
                ? `<Item><Name>${cdata(a.name)}</Name><Type>1</Type><Web><Title>${cdata(a.web?.title ?? '')}</Title><Url>${cdata(a.web?.url ?? '')}</Url></Web></Item>`
                : `<Item><Name>${cdata(a.name)}</Name><Type>0</Type><Text><Value>${cdata(a.text?.value ?? '')}</Value></Text></Item>`,
            )
            .join(''),
  ],
];

/**
 * The decrypted change_contact event for a change, full or ID-only (callback servers configured after 2022-08-15).
 * null when WeCom would send nothing (ID-only update_user without a department or userid change, update_party
 * without a parent change).
 */
export function changeContactXml(
  change: ContactChange,
  corpId: string,
  idsOnly: boolean,
  createTime: number,
): string | null {
  const tags: string[] = [];
  const add = (tag: string, text: string | null): void => {
    if (text !== null) tags.push(`<${tag}>${text}</${tag}>`);
  };
  switch (change.type) {
    case 'create_user':
      add('UserID', cdata(change.user.userid));
      for (const [field, tag, text] of USER_TAGS) if (!idsOnly || field === 'department') add(tag, text(change.user));
      break;
    case 'update_user': {
      const deptChanged = change.changed.department !== undefined;
      if (idsOnly && !deptChanged && change.newUserid === undefined) return null;
      add('UserID', cdata(change.userid));
      if (change.newUserid !== undefined) add('NewUserID', cdata(change.newUserid));
      if (idsOnly) add('Department', cdata(csv(change.user.department)));
      else for (const [field, tag, text] of USER_TAGS) if (field in change.changed) add(tag, text(change.changed));
      break;
    }
    case 'delete_user':
      add('UserID', cdata(change.userid));
      break;
    case 'create_party':
      add('Id', String(change.department.id));
      if (!idsOnly) add('Name', cdata(change.department.name));
      add('ParentId', cdata(String(change.department.parentid)));
      if (!idsOnly) add('Order', String(change.department.order));
      break;
    case 'update_party':
      if (idsOnly && change.changed.parentid === undefined) return null;
      add('Id', String(change.id));
      if (!idsOnly && change.changed.name !== undefined) add('Name', cdata(change.changed.name));
      if (change.changed.parentid !== undefined) add('ParentId', cdata(String(change.changed.parentid)));
      break;
    case 'delete_party':
      add('Id', String(change.id));
      break;
  }
  return (
    `<xml><ToUserName>${cdata(corpId)}</ToUserName><FromUserName>${cdata('sys')}</FromUserName>` +
    `<CreateTime>${createTime}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata('change_contact')}</Event>` +
    `<ChangeType>${cdata(change.type)}</ChangeType>${tags.join('')}</xml>`
  );
}

/**
 * Posts contact-change events to the configured callback URL, signed and encrypted as WeCom does, through the
 * shared queue (common/callback-queue.ts): `callbackConcurrency` at a time, each failed delivery tried 3 more times.
 */
export class CallbackSender {
  private readonly queue: CallbackQueue;

  constructor(
    private readonly config: () => SimConfig,
    private readonly corpId: string,
  ) {
    this.queue = new CallbackQueue(
      () => this.config().callbackRetryDelayMs,
      () => this.config().callbackConcurrency,
    );
  }

  stats(): CallbackStats {
    return this.queue.stats();
  }

  /** Lets `after` more delivery attempts start, then holds the rest until `release()` (a test's control). */
  hold(after = 0): CallbackStats {
    return this.queue.hold(after);
  }

  release(): CallbackStats {
    return this.queue.release();
  }

  /** Queues the event for a change; returns false when callbacks are not configured or WeCom would send nothing. */
  send(change: ContactChange): boolean {
    const c = this.config();
    if (!c.callbackUrl || !c.callbackToken || !c.callbackAesKey) return false;
    const xml = changeContactXml(change, this.corpId, c.callbackIdsOnly, Math.floor(Date.now() / 1000));
    if (xml === null) return false;
    const target = c.callbackUrl;
    const crypto = new CallbackCrypto({
      token: c.callbackToken,
      encodingAesKey: c.callbackAesKey,
      receiverId: this.corpId,
    });
    this.queue.push({
      request: () => {
        const signed = crypto.encryptAndSign(xml);
        // The address configured now: a retry follows a receiver that moved (its admin changed the URL).
        const url = new URL(this.config().callbackUrl ?? target);
        url.searchParams.set('msg_signature', signed.signature);
        url.searchParams.set('timestamp', signed.timestamp);
        url.searchParams.set('nonce', signed.nonce);
        const body = `<xml><ToUserName>${cdata(this.corpId)}</ToUserName><Encrypt>${cdata(signed.encrypted)}</Encrypt></xml>`;
        return { url, body, contentType: 'text/xml' };
      },
      // The events after a rename name the new userid: one arriving before the rename would name nobody known.
      ...(change.type === 'update_user' && change.newUserid !== undefined ? { alone: true } : {}),
    });
    return true;
  }

  /** Waits until every queued event was delivered or given up. */
  async drain(): Promise<void> {
    await this.queue.drain();
  }

  /** Stops retrying: pending deliveries give up at their next attempt. */
  close(): void {
    this.queue.close();
  }
}
