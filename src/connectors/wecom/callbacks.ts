import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ContactEvent } from '../../store/inbox-repo.js';
import {
  CallbackRejected,
  digest,
  isLetter,
  isNameChar,
  required,
  skipSpace,
  str,
  type PlatformCallbacks,
  type ReceivedMessage,
} from '../common/callbacks.js';

/** WeCom's callbacks (API reference §7): GET checks the URL, POST carries an event in an encrypted XML envelope. */
export const wecomCallbacks: PlatformCallbacks = {
  timestampUnit: 'seconds',
  receive(request, channel) {
    if (request.method === 'GET') {
      const echo = channel.open(request.query, required(request.query, ['echostr']));
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: echo };
    }
    if (request.method !== 'POST')
      throw new CallbackRejected(
        405,
        'CALLBACK_METHOD',
        `${request.method} is not used by WeCom callbacks`,
        'WeCom sends GET (URL check) and POST (events).',
      );
    const encrypted = scanWecomEnvelope(request.body);
    if (encrypted === undefined) {
      throw new CallbackRejected(
        400,
        'CALLBACK_BODY_INVALID',
        'the body is not the XML envelope WeCom sends (<xml>…<Encrypt>…</Encrypt></xml>)',
        'Only WeCom calls this URL with its encrypted XML body.',
      );
    }
    const plain = channel.open(request.query, encrypted);
    const xml = parseXml(plain, 'the decrypted message');
    return {
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: 'success',
      message: wecomMessage(plain, xml),
    };
  },
};

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
    new CallbackRejected(
      400,
      'CALLBACK_BODY_INVALID',
      `${what} is not the XML WeCom sends`,
      'Only WeCom calls this URL; check the URL configured in the WeCom admin console.',
    );
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

/** Elements an envelope may hold (WeCom sends ToUserName, AgentID and Encrypt); more is not an envelope. */
const MAX_ENVELOPE_ELEMENTS = 8;
/** Longest element name accepted in an envelope. */
const MAX_NAME_LENGTH = 32;
/** Longest `<?xml …?>` declaration accepted before the envelope. */
const MAX_DECLARATION_LENGTH = 100;

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
      return skipSpace(body, i + 6) === body.length && encrypted !== undefined && encrypted !== ''
        ? encrypted
        : undefined;
    }
    if (names.length >= MAX_ENVELOPE_ELEMENTS || body.charCodeAt(i) !== 0x3c || !isLetter(body.charCodeAt(i + 1)))
      return undefined;
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
      events.push({
        object: 'user',
        externalId: userid,
        ...(renamed !== undefined && renamed !== userid ? { newExternalId: renamed } : {}),
      });
    } else if (change.endsWith('_party') && id !== undefined) {
      events.push({ object: 'department', externalId: id });
    }
  }
  return { dedupeKey: digest(plain), type, events };
}
