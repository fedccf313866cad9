import { createHash } from 'node:crypto';
import type { SignedMessage } from '../../crypto/callback-crypto.js';
import { OrgsyncError } from '../../errors.js';
import type { ContactEvent } from '../../store/inbox-repo.js';

/**
 * What every platform's callback handling shares: the request and its outcome, the refusal, the query's parameters
 * and the pieces of the envelope scans. Each platform's part (its envelope, reply and events) is in its folder's
 * callbacks.ts; events/callbacks.ts checks the size and opens the channel.
 */

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

/**
 * The connection's callback keys as a platform's handling uses them. `open` checks the signature first, then the
 * timestamp, then decrypts: nothing unauthenticated is decrypted or parsed, and a stale but authentic request is
 * told apart from a forged one.
 */
export interface CallbackChannel {
  /** The decrypted message of `encrypted`, signed by the query's signature, timestamp and nonce. */
  open(query: Record<string, unknown>, encrypted: string): string;
  /** `text` encrypted and signed for a reply, stamped with now in the platform's timestamp unit. */
  seal(text: string): SignedMessage;
}

/** One platform's callbacks: what it sends to a connection's callback URL, and what it wants back. */
export interface PlatformCallbacks {
  /** The unit of the request's timestamp (and of a sealed reply's). */
  readonly timestampUnit: 'seconds' | 'ms';
  /** Reads one request whose size was checked; throws CallbackRejected (or the crypto's OrgsyncError) for bad ones. */
  receive(request: CallbackRequest, channel: CallbackChannel): CallbackOutcome;
}

function param(query: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = query[name];
    if (typeof v === 'string' && v !== '') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

/** The first of `names` the query holds, or a 400 naming them. */
export function required(query: Record<string, unknown>, names: string[]): string {
  const v = param(query, ...names);
  if (v === undefined) {
    throw new CallbackRejected(
      400,
      'CALLBACK_PARAMETER_MISSING',
      `the query parameter ${names.join(' / ')} is missing`,
      'Only the platform calls this URL; check that the URL configured there is exactly this one.',
    );
  }
  return v;
}

// The body of a callback is read before anything in it is authenticated, so it is never given to an XML or JSON
// parser: each platform's linear scan takes the encrypted value out of exactly the envelope the platform sends and
// refuses every other shape at the first unexpected character. Each step moves forward only, so a 64 KiB body costs
// one pass however it nests or repeats.

export function skipSpace(text: string, i: number): number {
  let at = i;
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return at;
    at++;
  }
}

export const isLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
export const isNameChar = (c: number): boolean => isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

export const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

export const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
