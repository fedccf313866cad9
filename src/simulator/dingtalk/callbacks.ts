import { randomInt } from 'node:crypto';
import { CallbackCrypto } from '../../crypto/callback-crypto.js';
import { CallbackQueue, type CallbackStats } from '../common/callback-queue.js';
import type { DingConfig } from './config.js';
import type { ContactEvent } from './model.js';

/** The decrypted body of a contact event: ID-only, TimeStamp a string of epoch milliseconds (API reference §12). */
export function eventJson(event: ContactEvent, corpId: string, timestamp: number): string {
  const ids = 'userIds' in event ? { UserId: event.userIds } : { DeptId: event.deptIds };
  return JSON.stringify({ EventType: event.type, CorpId: corpId, ...ids, TimeStamp: String(timestamp) });
}

/**
 * Why a receiver's reply is not DingTalk's expected one, or null when it is: JSON {msg_signature, timeStamp, nonce,
 * encrypt} whose signature verifies and whose encrypt decrypts (for this owner key) to "success".
 */
export function replyRefusal(body: string, crypto: CallbackCrypto): string | null {
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    return 'the reply is not JSON (expected the encrypted "success")';
  }
  const r = (reply ?? {}) as Record<string, unknown>;
  const { msg_signature: signature, timeStamp: timestamp, nonce, encrypt } = r;
  if (
    typeof signature !== 'string' ||
    typeof timestamp !== 'string' ||
    typeof nonce !== 'string' ||
    typeof encrypt !== 'string'
  ) {
    return 'the reply lacks msg_signature, timeStamp, nonce or encrypt (strings)';
  }
  try {
    const message = crypto.verifyAndDecrypt({ signature, timestamp, nonce, encrypted: encrypt });
    return message === 'success'
      ? null
      : `the reply decrypts to ${JSON.stringify(message.slice(0, 40))}, not "success"`;
  } catch (err) {
    return `the reply does not verify: ${(err as Error).message}`;
  }
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const nonce16 = (): string =>
  Array.from({ length: 16 }, () => NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)]).join('');

/**
 * Posts contact events to the configured callback URL as DingTalk's 事件订阅 does: `POST url?msg_signature=…&
 * timestamp=…&nonce=…` with `{"encrypt": …}`, encrypted for the AppKey (the owner key of an internal app's
 * subscription), a millisecond timestamp and a 16-character nonce. The receiver must answer the encrypted
 * "success"; anything else counts as a failed attempt. Delivery order and retries: common/callback-queue.ts.
 */
export class DingCallbackSender {
  private readonly queue: CallbackQueue;

  constructor(
    private readonly config: () => DingConfig,
    private readonly corpId: string,
    private readonly appKey: string,
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

  /** Queues one event per change; returns how many were queued (0 when callbacks are not configured). */
  send(events: readonly ContactEvent[]): number {
    const c = this.config();
    if (!c.callbackUrl || !c.callbackToken || !c.callbackAesKey) return 0;
    const target = c.callbackUrl;
    const crypto = new CallbackCrypto({
      token: c.callbackToken,
      encodingAesKey: c.callbackAesKey,
      receiverId: this.appKey,
    });
    for (const event of events) {
      const json = eventJson(event, this.corpId, Date.now());
      this.queue.push({
        request: () => {
          const signed = crypto.encryptAndSign(json, { timestamp: String(Date.now()), nonce: nonce16() });
          // The address configured now: a retry follows a receiver that moved (its admin changed the URL).
          const url = new URL(this.config().callbackUrl ?? target);
          url.searchParams.set('msg_signature', signed.signature);
          url.searchParams.set('timestamp', signed.timestamp);
          url.searchParams.set('nonce', signed.nonce);
          return { url, body: JSON.stringify({ encrypt: signed.encrypted }), contentType: 'application/json' };
        },
        refusal: (body) => replyRefusal(body, crypto),
      });
    }
    return events.length;
  }

  async drain(): Promise<void> {
    await this.queue.drain();
  }

  close(): void {
    this.queue.close();
  }
}
