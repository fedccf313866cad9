import { CallbackCrypto } from '../crypto/callback-crypto.js';
import {
  CallbackRejected,
  required,
  type CallbackChannel,
  type CallbackOutcome,
  type CallbackRequest,
  type PlatformCallbacks,
} from '../connectors/common/callbacks.js';
import { definitionOf } from '../connectors/registry.js';

/**
 * What the platforms POST (and WeCom GETs) to a connection's callback URL, checked and turned into contact events.
 * Nothing here touches storage: the endpoint stores what `receive` returns before it sends the reply, so a crash
 * after the reply loses nothing. Each platform's envelope, reply and events are its definition's `callbacks`
 * (connectors/<platform>/callbacks.ts); the size, the signature, the timestamp and the decryption are checked here
 * alike for all. API reference: WeCom §7, DingTalk §12.
 */

export { CallbackRejected };
export type { CallbackOutcome, CallbackRequest } from '../connectors/common/callbacks.js';
// The envelope scans are tested beside the receiver that runs them.
export { scanDingtalkEnvelope } from '../connectors/dingtalk/callbacks.js';
export { scanWecomEnvelope } from '../connectors/wecom/callbacks.js';

/** Largest body accepted: the platforms' contact events are well under a few KiB. */
export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

/** Default window for a request's timestamp, either side of now. */
export const DEFAULT_TIMESTAMP_WINDOW_MS = 10 * 60_000;

export interface CallbackConfig {
  /** A platform id of the registry (connectors/registry.ts). */
  platform: string;
  token: string;
  encodingAesKey: string;
  /** Whom the callbacks are encrypted for: the definition's `callbackReceiverId` (WeCom: the CorpID; DingTalk: the Client ID). */
  receiverId: string;
  timestampWindowMs?: number;
  now?: () => number;
}

export class CallbackReceiver {
  readonly #crypto: CallbackCrypto;
  readonly #callbacks: PlatformCallbacks;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(config: CallbackConfig) {
    this.#crypto = new CallbackCrypto({
      token: config.token,
      encodingAesKey: config.encodingAesKey,
      receiverId: config.receiverId,
    });
    this.#callbacks = definitionOf(config).callbacks;
    this.#windowMs = config.timestampWindowMs ?? DEFAULT_TIMESTAMP_WINDOW_MS;
    this.#now = config.now ?? Date.now;
  }

  /** Checks, decrypts and parses one request. Throws CallbackRejected (or the crypto's OrgsyncError) for bad ones. */
  receive(request: CallbackRequest): CallbackOutcome {
    if (Buffer.byteLength(request.body, 'utf8') > MAX_CALLBACK_BODY_BYTES) {
      throw new CallbackRejected(
        413,
        'CALLBACK_TOO_LARGE',
        `the body is larger than ${MAX_CALLBACK_BODY_BYTES} bytes`,
        'Contact events are small; this request did not come from the platform.',
      );
    }
    const unit = this.#callbacks.timestampUnit;
    const channel: CallbackChannel = {
      open: (query, encrypted) => this.#open(query, encrypted, unit),
      seal: (text) =>
        this.#crypto.encryptAndSign(text, {
          timestamp: String(unit === 'ms' ? this.#now() : Math.floor(this.#now() / 1000)),
        }),
    };
    return this.#callbacks.receive(request, channel);
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
  #open(query: Record<string, unknown>, encrypted: string, unit: 'seconds' | 'ms'): string {
    const signature = required(query, ['msg_signature', 'signature']);
    const timestamp = required(query, ['timestamp', 'timeStamp']);
    const nonce = required(query, ['nonce']);
    this.#crypto.checkSignature({ signature, timestamp, nonce, encrypted });
    this.#checkTimestamp(timestamp, unit);
    return this.#crypto.decrypt(encrypted).message;
  }
}
