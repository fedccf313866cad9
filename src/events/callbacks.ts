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

  /**
   * The signature first, then the timestamp, then the decryption: nothing unauthenticated is decrypted or parsed, and
   * a stale but authentic request is told apart from a forged one.
   */
  #decrypt(query: Record<string, unknown>, encrypted: string, unit: 'seconds' | 'ms'): string {
    const signature = required(query, ['msg_signature', 'signature']);
    const timestamp = required(query, ['timestamp', 'timeStamp']);
    const nonce = required(query, ['nonce']);
    this.#crypto.checkSignature({ signature, timestamp, nonce, encrypted });
    this.#checkTimestamp(timestamp, unit);
    return this.#crypto.decrypt(encrypted).message;
  }

  #wecom(request: CallbackRequest): CallbackOutcome {
    if (request.method === 'GET') {
      const echo = this.#decrypt(request.query, required(request.query, ['echostr']), 'seconds');
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: echo };
    }
    if (request.method !== 'POST') throw new CallbackRejected(405, 'CALLBACK_METHOD', `${request.method} is not used by WeCom callbacks`, 'WeCom sends GET (URL check) and POST (events).');
    const encrypted = scanWecomEnvelope(request.body);
    if (encrypted === undefined) {
      throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', 'the body is not the XML envelope WeCom sends (<xml>…<Encrypt>…</Encrypt></xml>)', 'Only WeCom calls this URL with its encrypted XML body.');
    }
    const plain = this.#decrypt(request.query, encrypted, 'seconds');
    const xml = parseXml(plain, 'the decrypted message');
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: 'success', message: wecomMessage(plain, xml) };
  }

  #dingtalk(request: CallbackRequest): CallbackOutcome {
    if (request.method !== 'POST') throw new CallbackRejected(405, 'CALLBACK_METHOD', `${request.method} is not used by DingTalk event subscriptions`, 'DingTalk sends POST requests.');
    const encrypted = scanDingtalkEnvelope(request.body);
    if (encrypted === undefined) {
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

/** Parses an authenticated, decrypted message. Whatever the parser throws (even a RangeError) is a plain 400. */
function parseXml(text: string, what: string): Record<string, unknown> {
  const refused = (): CallbackRejected =>
    new CallbackRejected(400, 'CALLBACK_BODY_INVALID', `${what} is not the XML WeCom sends`, 'Only WeCom calls this URL; check the URL configured in the WeCom admin console.');
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw refused();
  let root: unknown;
  try {
    if (XMLValidator.validate(text) !== true) throw refused();
    root = (parser.parse(text) as { xml?: unknown }).xml;
  } catch {
    throw refused();
  }
  if (root === null || typeof root !== 'object') {
    throw new CallbackRejected(400, 'CALLBACK_BODY_INVALID', `${what} has no <xml> root`, 'Only WeCom calls this URL.');
  }
  return root as Record<string, unknown>;
}

// ------------------------------------------------------------------------------------- the envelope scans
//
// The body of a callback is read before anything in it is authenticated, so it is never given to an XML or JSON
// parser: a linear scan takes the encrypted value out of exactly the envelope the platform sends and refuses every
// other shape at the first unexpected character. Each step moves forward only, so a 64 KiB body costs one pass
// however it nests or repeats.

/** Elements an envelope may hold (WeCom sends ToUserName, AgentID and Encrypt); more is not an envelope. */
const MAX_ENVELOPE_ELEMENTS = 8;
/** Longest element name accepted in an envelope. */
const MAX_NAME_LENGTH = 32;
/** Longest `<?xml …?>` declaration accepted before the envelope. */
const MAX_DECLARATION_LENGTH = 100;

function skipSpace(text: string, i: number): number {
  let at = i;
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return at;
    at++;
  }
}

const isLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isNameChar = (c: number): boolean => isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

/**
 * The `Encrypt` value of WeCom's envelope, or undefined when the body is anything else:
 * `[<?xml …?>] <xml> (<Name>text or one CDATA section</Name>)* </xml>`, whitespace between elements, each name once,
 * at most {@link MAX_ENVELOPE_ELEMENTS} elements, no nesting, no entity or character references, no DOCTYPE,
 * comments or processing instructions, nothing after `</xml>`, and a non-empty `Encrypt`.
 */
export function scanWecomEnvelope(body: string): string | undefined {
  let i = skipSpace(body, 0);
  if (body.startsWith('<?xml', i)) {
    const end = body.indexOf('?>', i);
    if (end < 0 || end - i > MAX_DECLARATION_LENGTH) return undefined;
    for (let k = i + 5; k < end; k++) if (body.charCodeAt(k) === 0x3c || body.charCodeAt(k) === 0x3e) return undefined;
    i = skipSpace(body, end + 2);
  }
  if (!body.startsWith('<xml>', i)) return undefined;
  i = skipSpace(body, i + 5);
  const names: string[] = [];
  let encrypted: string | undefined;
  for (;;) {
    if (body.startsWith('</xml>', i)) {
      return skipSpace(body, i + 6) === body.length && encrypted !== undefined && encrypted !== '' ? encrypted : undefined;
    }
    if (names.length >= MAX_ENVELOPE_ELEMENTS || body.charCodeAt(i) !== 0x3c || !isLetter(body.charCodeAt(i + 1))) return undefined;
    let end = i + 2;
    while (end - i - 1 < MAX_NAME_LENGTH && isNameChar(body.charCodeAt(end))) end++;
    if (body.charCodeAt(end) !== 0x3e) return undefined;
    const name = body.slice(i + 1, end);
    if (names.includes(name)) return undefined;
    names.push(name);
    let value: string;
    let after: number;
    const start = end + 1;
    if (body.startsWith('<![CDATA[', start)) {
      const close = body.indexOf(']]>', start + 9);
      if (close < 0) return undefined;
      value = body.slice(start + 9, close);
      after = close + 3;
    } else {
      after = body.indexOf('<', start);
      if (after < 0) return undefined;
      value = body.slice(start, after);
      // No references: the platform sends none in its envelope, and none is expanded here.
      if (value.includes('&')) return undefined;
    }
    if (!body.startsWith(`</${name}>`, after)) return undefined;
    if (name === 'Encrypt') encrypted = value;
    i = skipSpace(body, after + name.length + 3);
  }
}

/**
 * The `encrypt` value of DingTalk's envelope, or undefined when the body is anything else: exactly
 * `{"encrypt": "<string>"}` with whitespace around the tokens, a non-empty string of printable characters, no
 * escapes but `\/`, and nothing before or after.
 */
export function scanDingtalkEnvelope(body: string): string | undefined {
  let i = skipSpace(body, 0);
  if (body.charCodeAt(i) !== 0x7b) return undefined; // {
  i = skipSpace(body, i + 1);
  if (!body.startsWith('"encrypt"', i)) return undefined;
  i = skipSpace(body, i + 9);
  if (body.charCodeAt(i) !== 0x3a) return undefined; // :
  i = skipSpace(body, i + 1);
  if (body.charCodeAt(i) !== 0x22) return undefined; // "
  let value = '';
  let from = i + 1;
  let at = from;
  for (;;) {
    const c = body.charCodeAt(at);
    if (Number.isNaN(c) || c < 0x20) return undefined;
    if (c === 0x22) break;
    if (c === 0x5c) {
      // Only "\/" (some JSON writers escape every slash); any other escape is not what DingTalk sends.
      if (body.charCodeAt(at + 1) !== 0x2f) return undefined;
      value += body.slice(from, at);
      from = at + 1;
      at += 2;
      continue;
    }
    at++;
  }
  value += body.slice(from, at);
  i = skipSpace(body, at + 1);
  if (body.charCodeAt(i) !== 0x7d) return undefined; // }
  return skipSpace(body, i + 1) === body.length && value !== '' ? value : undefined;
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
