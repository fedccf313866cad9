import { createHash } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CallbackCrypto } from '../crypto/callback-crypto.js';
import { OrgsyncError } from '../errors.js';
import type { ContactEvent } from './processor.js';

/**
 * What the platforms POST (and WeCom GETs) to a connection's callback URL, checked and turned into contact events.
 * Nothing here touches storage: the endpoint stores what `receive` returns before it sends the reply, so a crash
 * after the reply loses nothing. API reference: WeCom §7, DingTalk §12.
 */

/** Largest body accepted: the platforms' contact events are well under a few KiB. */
export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

/** Default window for a request's timestamp, either side of now. */
export const DEFAULT_TIMESTAMP_WINDOW_MS = 10 * 60_000;

export interface CallbackConfig {
  platform: 'wecom' | 'dingtalk';
  token: string;
  encodingAesKey: string;
  /** WeCom: the CorpID. DingTalk: the AppKey (Client ID) of the app whose 事件订阅 this is. */
  receiverId: string;
  timestampWindowMs?: number;
  now?: () => number;
}

export interface CallbackRequest {
  method: string;
  query: Record<string, unknown>;
  /** The raw body ('' for GET). */
  body: string;
}

export interface ReceivedMessage {
  /** Identical for a platform's retries of the same message (sha256 of the decrypted message). */
  dedupeKey: string;
  /** The platform's event type, e.g. "change_contact/update_user" or "user_modify_org". */
  type: string;
  events: ContactEvent[];
}

export interface CallbackOutcome {
  status: number;
  contentType: string;
  body: string;
  /** The message to store before replying; absent for URL checks. */
  message?: ReceivedMessage;
}

/** A request refused with a plain 4xx; `code` names the reason for the log. */
export class CallbackRejected extends OrgsyncError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    hint: string,
  ) {
    super({ code, message, hint });
  }
}

function param(query: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = query[name];
    if (typeof v === 'string' && v !== '') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

function required(query: Record<string, unknown>, names: string[]): string {
  const v = param(query, ...names);
  if (v === undefined) {
    throw new CallbackRejected(400, 'CALLBACK_PARAMETER_MISSING', `the query parameter ${names.join(' / ')} is missing`, 'Only the platform calls this URL; check that the URL configured there is exactly this one.');
  }
  return v;
}

export class CallbackReceiver {
  readonly #crypto: CallbackCrypto;
  readonly #platform: 'wecom' | 'dingtalk';
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(config: CallbackConfig) {
    this.#crypto = new CallbackCrypto({ token: config.token, encodingAesKey: config.encodingAesKey, receiverId: config.receiverId });
    this.#platform = config.platform;
    this.#windowMs = config.timestampWindowMs ?? DEFAULT_TIMESTAMP_WINDOW_MS;
    this.#now = config.now ?? Date.now;
  }

  /** Checks, decrypts and parses one request. Throws CallbackRejected (or the crypto's OrgsyncError) for bad ones. */
  receive(request: CallbackRequest): CallbackOutcome {
    if (Buffer.byteLength(request.body, 'utf8') > MAX_CALLBACK_BODY_BYTES) {
      throw new CallbackRejected(413, 'CALLBACK_TOO_LARGE', `the body is larger than ${MAX_CALLBACK_BODY_BYTES} bytes`, 'Contact events are small; this request did not come from the platform.');
    }
    return this.#platform === 'wecom' ? this.#wecom(request) : this.#dingtalk(request);
  }

  #checkTimestamp(raw: string, unit: 'seconds' | 'ms'): void {
    // Decimal digits only, as both platforms send it: Number() would also take "0x…", "1e3", "+1", " 1" or "1.5".
    const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
    const ms = unit === 'seconds' ? n * 1000 : n;
    if (!Number.isFinite(n) || Math.abs(this.#now() - ms) > this.#windowMs) {
      throw new CallbackRejected(
        400,
        'CALLBACK_TIMESTAMP_OUT_OF_WINDOW',
        `the request's timestamp ${JSON.stringify(raw)} is more than ${Math.round(this.#windowMs / 1000)} s from this server's clock`,
        "Check this server's clock (NTP). A replayed old request is refused on purpose.",
      );
    }
  }

  #decrypt(query: Record<string, unknown>, encrypted: string, unit: 'seconds' | 'ms'): string {
    const signature = required(query, ['msg_signature', 'signature']);
    const timestamp = required(query, ['timestamp', 'timeStamp']);
    const nonce = required(query, ['nonce']);
    // The signature first: nothing unauthenticated is decrypted, and a stale but authentic request is told apart.
    const message = this.#crypto.verifyAndDecrypt({ signature, timestamp, nonce, encrypted });
    this.#checkTimestamp(timestamp, unit);
    return message;
  }

  #wecom(request: CallbackRequest): CallbackOutcome {
    if (request.method === 'GET') {
      const echo = this.#decrypt(request.query, required(request.query, ['echostr']), 'seconds');
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: echo };
    }
    if (request.method !== 'POST') throw new CallbackRejected(405, 'CALLBACK_METHOD', `${request.method} is not used by WeCom callbacks`, 'WeCom sends GET (URL check) and POST (events).');
    const outer = parseXml(request.body, 'the request body');
    const encrypted = typeof outer.Encrypt === 'string' ? outer.Encrypt : undefined;
    if (encrypted === undefined) throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', 'the XML body has no <Encrypt> element', 'Only WeCom calls this URL with its encrypted XML body.');
    const plain = this.#decrypt(request.query, encrypted, 'seconds');
    const xml = parseXml(plain, 'the decrypted message');
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: 'success', message: wecomMessage(plain, xml) };
  }

  #dingtalk(request: CallbackRequest): CallbackOutcome {
    if (request.method !== 'POST') throw new CallbackRejected(405, 'CALLBACK_METHOD', `${request.method} is not used by DingTalk event subscriptions`, 'DingTalk sends POST requests.');
    let encrypted: unknown;
    try {
      encrypted = (JSON.parse(request.body) as { encrypt?: unknown }).encrypt;
    } catch {
      encrypted = undefined;
    }
    if (typeof encrypted !== 'string' || encrypted === '') {
      throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', 'the body is not JSON with an "encrypt" string', 'Only DingTalk calls this URL, with {"encrypt": "…"}.');
    }
    const plain = this.#decrypt(request.query, encrypted, 'ms');
    let event: unknown;
    try {
      event = JSON.parse(plain);
    } catch {
      event = undefined;
    }
    // An object, as every DingTalk event is: `null` would throw below (a 500), an array or a string is no event.
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', 'the decrypted message is not a JSON object', 'Only DingTalk calls this URL.');
    }
    // DingTalk wants "success" encrypted and signed back, for check_url as for every event; note "timeStamp".
    const reply = this.#crypto.encryptAndSign('success', { timestamp: String(this.#now()) });
    const body = JSON.stringify({ msg_signature: reply.signature, timeStamp: reply.timestamp, nonce: reply.nonce, encrypt: reply.encrypted });
    const fields = event as Record<string, unknown>;
    const type = typeof fields.EventType === 'string' ? fields.EventType : '';
    if (type === 'check_url' || type === '') return { status: 200, contentType: 'application/json', body };
    return { status: 200, contentType: 'application/json', body, message: { dedupeKey: digest(plain), type, events: dingtalkEvents(type, fields) } };
  }
}

const parser = new XMLParser({
  // No entity expansion at all (billion laughs), no attributes needed, every value a string.
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
});

function parseXml(text: string, what: string): Record<string, unknown> {
  if (/<!DOCTYPE|<!ENTITY/i.test(text) || XMLValidator.validate(text) !== true) {
    throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', `${what} is not the XML WeCom sends`, 'Only WeCom calls this URL; check the URL configured in the WeCom admin console.');
  }
  const root = (parser.parse(text) as { xml?: unknown }).xml;
  if (root === null || typeof root !== 'object') {
    throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', `${what} has no <xml> root`, 'Only WeCom calls this URL.');
  }
  return root as Record<string, unknown>;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

function wecomMessage(plain: string, xml: Record<string, unknown>): ReceivedMessage {
  const event = str(xml.Event) ?? '';
  const change = str(xml.ChangeType) ?? '';
  const type = change ? `${event}/${change}` : event || (str(xml.MsgType) ?? 'unknown');
  const events: ContactEvent[] = [];
  if (event === 'change_contact') {
    const userid = str(xml.UserID);
    const id = str(xml.Id);
    if (change.endsWith('_user') && userid !== undefined) {
      const renamed = str(xml.NewUserID);
      events.push({ object: 'user', externalId: userid, ...(renamed !== undefined && renamed !== userid ? { newExternalId: renamed } : {}) });
    } else if (change.endsWith('_party') && id !== undefined) {
      events.push({ object: 'department', externalId: id });
    }
  }
  return { dedupeKey: digest(plain), type, events };
}

function dingtalkEvents(type: string, event: Record<string, unknown>): ContactEvent[] {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(str).filter((x): x is string => x !== undefined) : []);
  if (type.startsWith('user_') && type.endsWith('_org')) return list(event.UserId).map((externalId) => ({ object: 'user', externalId }));
  if (type.startsWith('org_dept_')) return list(event.DeptId).map((externalId) => ({ object: 'department', externalId }));
  return [];
}
