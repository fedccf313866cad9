import { CallbackCrypto } from '../../crypto/callback-crypto.js';
import type { SimConfig } from './config.js';
import type { ContactChange } from './corp.js';
import type { WecomUser } from './model.js';

const ATTEMPTS = 4; // the first try and 3 retries
const TIMEOUT_MS = 5000;

export interface CallbackStats {
  queued: number;
  delivered: number;
  failed: number;
  attempts: number;
  lastError: string | null;
}

const cdata = (v: string): string => `<![CDATA[${v.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
const csv = (v: ReadonlyArray<string | number>): string => v.join(',');

/** The XML tag and text of each user field a change_contact event carries. */
const USER_TAGS: Array<[keyof WecomUser, string, (u: Partial<WecomUser>) => string | null]> = [
  ['name', 'Name', (u) => (u.name === undefined ? null : cdata(u.name))],
  ['department', 'Department', (u) => (u.department === undefined ? null : cdata(csv(u.department)))],
  ['main_department', 'MainDepartment', (u) => (u.main_department === undefined ? null : cdata(String(u.main_department)))],
  ['is_leader_in_dept', 'IsLeaderInDept', (u) => (u.is_leader_in_dept === undefined ? null : cdata(csv(u.is_leader_in_dept)))],
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
export function changeContactXml(change: ContactChange, corpId: string, idsOnly: boolean, createTime: number): string | null {
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
 * Posts contact-change events to the configured callback URL, signed and encrypted as WeCom does, one at a time
 * in the order the changes happened; a delivery that fails (network error, timeout, non-2xx) is tried 3 more times.
 */
export class CallbackSender {
  private queue: Promise<void> = Promise.resolve();
  private readonly counters: CallbackStats = { queued: 0, delivered: 0, failed: 0, attempts: 0, lastError: null };
  private closed = false;

  constructor(
    private readonly config: () => SimConfig,
    private readonly corpId: string,
  ) {}

  stats(): CallbackStats {
    return { ...this.counters };
  }

  /** Queues the event for a change; returns false when callbacks are not configured or WeCom would send nothing. */
  send(change: ContactChange): boolean {
    const c = this.config();
    if (!c.callbackUrl || !c.callbackToken || !c.callbackAesKey) return false;
    const xml = changeContactXml(change, this.corpId, c.callbackIdsOnly, Math.floor(Date.now() / 1000));
    if (xml === null) return false;
    const target = { url: c.callbackUrl, crypto: new CallbackCrypto({ token: c.callbackToken, encodingAesKey: c.callbackAesKey, receiverId: this.corpId }) };
    this.counters.queued++;
    this.queue = this.queue.then(() => this.deliver(target, xml));
    return true;
  }

  /** Waits until every queued event was delivered or given up. */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Stops retrying: pending deliveries give up at their next attempt. */
  close(): void {
    this.closed = true;
  }

  private async deliver(target: { url: string; crypto: CallbackCrypto }, xml: string): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS && !this.closed; attempt++) {
      this.counters.attempts++;
      const signed = target.crypto.encryptAndSign(xml);
      const url = new URL(target.url);
      url.searchParams.set('msg_signature', signed.signature);
      url.searchParams.set('timestamp', signed.timestamp);
      url.searchParams.set('nonce', signed.nonce);
      const body = `<xml><ToUserName>${cdata(this.corpId)}</ToUserName><Encrypt>${cdata(signed.encrypted)}</Encrypt></xml>`;
      try {
        const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/xml' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
        await res.arrayBuffer();
        if (res.ok) {
          this.counters.delivered++;
          this.counters.queued--;
          return;
        }
        this.counters.lastError = `HTTP ${res.status}`;
      } catch (err) {
        this.counters.lastError = (err as Error).message;
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 100 * attempt));
    }
    this.counters.failed++;
    this.counters.queued--;
  }
}
