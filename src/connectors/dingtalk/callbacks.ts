import type { ContactEvent } from '../../store/inbox-repo.js';
import { CallbackRejected, digest, skipSpace, str, type PlatformCallbacks } from '../common/callbacks.js';

/** DingTalk's event subscription (API reference §12): POSTs of JSON `{"encrypt": …}`, answered with "success" sealed. */
export const dingtalkCallbacks: PlatformCallbacks = {
  timestampUnit: 'ms',
  receive(request, channel) {
    if (request.method !== 'POST')
      throw new CallbackRejected(
        405,
        'CALLBACK_METHOD',
        `${request.method} is not used by DingTalk event subscriptions`,
        'DingTalk sends POST requests.',
      );
    const encrypted = scanDingtalkEnvelope(request.body);
    if (encrypted === undefined) {
      throw new CallbackRejected(
        400,
        'CALLBACK_BODY_INVALID',
        'the body is not JSON with an "encrypt" string',
        'Only DingTalk calls this URL, with {"encrypt": "…"}.',
      );
    }
    const plain = channel.open(request.query, encrypted);
    let event: unknown;
    try {
      event = JSON.parse(plain);
    } catch {
      event = undefined;
    }
    // An object, as every DingTalk event is: `null` would throw below (a 500), an array or a string is no event.
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      throw new CallbackRejected(
        400,
        'CALLBACK_BODY_INVALID',
        'the decrypted message is not a JSON object',
        'Only DingTalk calls this URL.',
      );
    }
    // DingTalk wants "success" encrypted and signed back, for check_url as for every event; note "timeStamp".
    const reply = channel.seal('success');
    const body = JSON.stringify({
      msg_signature: reply.signature,
      timeStamp: reply.timestamp,
      nonce: reply.nonce,
      encrypt: reply.encrypted,
    });
    const fields = event as Record<string, unknown>;
    const type = typeof fields.EventType === 'string' ? fields.EventType : '';
    if (type === 'check_url' || type === '') return { status: 200, contentType: 'application/json', body };
    return {
      status: 200,
      contentType: 'application/json',
      body,
      message: { dedupeKey: digest(plain), type, events: dingtalkEvents(type, fields) },
    };
  },
};

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

function dingtalkEvents(type: string, event: Record<string, unknown>): ContactEvent[] {
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.map(str).filter((x): x is string => x !== undefined) : [];
  if (type.startsWith('user_') && type.endsWith('_org'))
    return list(event.UserId).map((externalId) => ({ object: 'user', externalId }));
  if (type.startsWith('org_dept_'))
    return list(event.DeptId).map((externalId) => ({ object: 'department', externalId }));
  return [];
}
