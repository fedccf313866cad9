import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { OrgsyncError } from '../errors.js';

/**
 * The callback crypto shared by WeCom (回调, "加解密方案") and DingTalk (事件订阅): the same scheme on both platforms.
 *
 * - signature = sha1 hex of the lexically sorted [token, timestamp, nonce, encrypted], joined;
 * - AES-256-CBC with key = base64decode(EncodingAESKey + "=") and IV = key[0:16];
 * - plaintext = random16 ‖ uint32_be(byte length of msg) ‖ msg ‖ receiverId, PKCS#7-padded to 32-byte blocks.
 *
 * The receiver id is the WeCom CorpID / SuiteID (empty for personal-entity apps), or the DingTalk AppKey / CorpId /
 * SuiteKey ("ownerKey"). CBC here has no integrity of its own: only the signature proves a message is authentic, so
 * receivers should use {@link CallbackCrypto.verifyAndDecrypt}.
 */

export const CALLBACK_ERROR_CODES = {
  configInvalid: 'CALLBACK_CONFIG_INVALID',
  signatureInvalid: 'CALLBACK_SIGNATURE_INVALID',
  encodingInvalid: 'CALLBACK_ENCODING_INVALID',
  decryptFailed: 'CALLBACK_DECRYPT_FAILED',
  receiverMismatch: 'CALLBACK_RECEIVER_MISMATCH',
  encryptFailed: 'CALLBACK_ENCRYPT_FAILED',
} as const;

export interface CallbackCryptoOptions {
  /** WeCom 回调配置 "Token" / DingTalk 事件订阅 "签名 token". */
  token: string;
  /** WeCom "EncodingAESKey" / DingTalk "加密 aes_key": 43 letters and digits. */
  encodingAesKey: string;
  /** WeCom CorpID or SuiteID ('' for personal-entity apps); DingTalk AppKey, CorpId or SuiteKey. */
  receiverId: string;
}

export interface SignedMessage {
  encrypted: string;
  signature: string;
  timestamp: string;
  nonce: string;
}

/** PKCS#7 block size used by the official WeCom and DingTalk libraries (not AES's 16). */
export const CALLBACK_PAD_BLOCK = 32;

const RANDOM_PREFIX_BYTES = 16;
const HEADER_BYTES = RANDOM_PREFIX_BYTES + 4;
const AES_BLOCK = 16;
const MAX_TOKEN_LENGTH = 128;
const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const WHERE_TO_COPY =
  'Copy it again from the WeCom admin console (应用管理 → the app → 接收消息 / 回调配置, or 通讯录同步 → 回调配置) ' +
  'or the DingTalk developer console (the app → 事件订阅 / 开发配置 → 事件与回调).';

const KEY_FIX_HINT =
  'Usually the EncodingAESKey (DingTalk: aes_key) configured here differs from the one the platform uses, or the ' +
  'message was altered or cut short on the way. ' +
  WHERE_TO_COPY;

function configError(message: string, hint: string = WHERE_TO_COPY): OrgsyncError {
  return new OrgsyncError({ code: CALLBACK_ERROR_CODES.configInvalid, message, hint });
}

function decryptError(message: string, hint: string = KEY_FIX_HINT): OrgsyncError {
  return new OrgsyncError({
    code: CALLBACK_ERROR_CODES.decryptFailed,
    message: `Cannot decrypt the callback message: ${message}`,
    hint,
  });
}

/** Validates an EncodingAESKey and returns the 32-byte AES key. Error messages never include the key. */
export function decodeEncodingAesKey(encodingAesKey: string): Buffer {
  if (typeof encodingAesKey !== 'string' || encodingAesKey.length === 0) {
    throw configError('EncodingAESKey is missing: it must be exactly 43 letters and digits (A-Z, a-z, 0-9).');
  }
  const bad = /[^A-Za-z0-9]/.exec(encodingAesKey);
  if (bad) {
    const surrounding = /^\s|\s$/.test(encodingAesKey) ? ' (it has leading or trailing whitespace)' : '';
    throw configError(
      `EncodingAESKey must contain only letters and digits (A-Z, a-z, 0-9), but character ${bad.index + 1} of ${encodingAesKey.length} is not one${surrounding}.`,
    );
  }
  if (encodingAesKey.length !== 43) {
    throw configError(`EncodingAESKey must be exactly 43 characters long, but it has ${encodingAesKey.length}.`);
  }
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  // 43 base64 digits + '=' always give 32 bytes; kept as a guard against a future change of the checks above.
  if (key.length !== 32) throw configError('EncodingAESKey does not decode to a 32-byte AES key.');
  return key;
}

function validateToken(token: string): void {
  if (typeof token !== 'string' || token.length === 0) {
    throw configError(
      'The callback token is missing: it must be a non-empty string (WeCom: letters and digits, at most 32).',
    );
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw configError(
      `The callback token is ${token.length} characters long; at most ${MAX_TOKEN_LENGTH} are accepted.`,
    );
  }
  const bad = /[^\x20-\x7e]/.exec(token);
  if (bad) {
    throw configError(
      `The callback token may contain only printable ASCII characters, but character ${bad.index + 1} of ${token.length} is not one.`,
    );
  }
}

/** PKCS#7 to a multiple of `blockSize` (a full block of padding when already aligned). */
function pkcs7Pad(data: Buffer, blockSize: number): Buffer {
  const pad = blockSize - (data.length % blockSize);
  return Buffer.concat([data, Buffer.alloc(pad, pad)]);
}

/** Accepts pads of 1..32, so messages padded to 16-byte blocks (some community senders) decrypt too. */
function pkcs7Unpad(data: Buffer): Buffer {
  const pad = data[data.length - 1];
  if (pad === undefined || pad < 1 || pad > CALLBACK_PAD_BLOCK || pad > data.length) {
    throw decryptError('its padding is invalid.');
  }
  for (let i = data.length - pad; i < data.length; i++) {
    if (data[i] !== pad) throw decryptError('its padding is invalid.');
  }
  return data.subarray(0, data.length - pad);
}

/** AES-256-CBC with IV = key[0:16] and PKCS#7 padding to `blockSize` (32 unless reproducing a 16-byte sender). */
export function aesCbcEncrypt(key: Buffer, plaintext: Buffer, blockSize: 16 | 32 = CALLBACK_PAD_BLOCK): Buffer {
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(pkcs7Pad(plaintext, blockSize)), cipher.final()]);
}

/** The inverse of {@link aesCbcEncrypt}; checks the length and the padding (1..32 bytes, all equal). */
export function aesCbcDecrypt(key: Buffer, ciphertext: Buffer): Buffer {
  if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK !== 0) {
    throw decryptError(
      `the encrypted data is ${ciphertext.length} bytes long, which is not a positive multiple of ${AES_BLOCK}.`,
      'The encrypted value was cut short or is not an encrypted callback message: check that the whole request body ' +
        'or query parameter was read, and URL-decoded exactly once.',
    );
  }
  const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  decipher.setAutoPadding(false);
  return pkcs7Unpad(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(encrypted: string): Buffer {
  if (typeof encrypted !== 'string' || encrypted.length === 0) {
    throw new OrgsyncError({
      code: CALLBACK_ERROR_CODES.encodingInvalid,
      message: 'The encrypted callback value is empty.',
      hint: 'Pass the "Encrypt" / "encrypt" field of the body (or the echostr query parameter) as received.',
    });
  }
  if (!BASE64.test(encrypted)) {
    const spaces = encrypted.includes(' ') ? ' It contains spaces: a "+" may have been URL-decoded to a space.' : '';
    throw new OrgsyncError({
      code: CALLBACK_ERROR_CODES.encodingInvalid,
      message: `The encrypted callback value is not valid base64 (${encrypted.length} characters).${spaces}`,
      hint:
        'Pass the value exactly as received, URL-decoded once: WeCom and DingTalk send standard base64 ' +
        '(A-Z a-z 0-9 + / with = padding), never URL-safe base64 or with line breaks.',
    });
  }
  return Buffer.from(encrypted, 'base64');
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function quoteForMessage(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function randomNonce(): string {
  const length = randomInt(10, 17);
  let nonce = '';
  for (let i = 0; i < length; i++) nonce += NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)];
  return nonce;
}

export class CallbackCrypto {
  readonly receiverId: string;
  // Private fields keep the secrets out of util.inspect, console.log and JSON.stringify.
  readonly #token: string;
  readonly #key: Buffer;

  constructor(options: CallbackCryptoOptions) {
    validateToken(options.token);
    this.#key = decodeEncodingAesKey(options.encodingAesKey);
    if (typeof options.receiverId !== 'string') {
      throw configError(
        'The callback receiverId must be a string (WeCom CorpID or SuiteID, "" for personal-entity apps; DingTalk AppKey, CorpId or SuiteKey).',
      );
    }
    this.#token = options.token;
    this.receiverId = options.receiverId;
  }

  /** sha1 hex (lowercase) of the lexically sorted [token, timestamp, nonce, encrypted], concatenated. */
  signature(timestamp: string, nonce: string, encrypted: string): string {
    return createHash('sha1').update([this.#token, timestamp, nonce, encrypted].sort().join('')).digest('hex');
  }

  /** Constant-time check of a received signature; hex case is ignored. False for anything that is not a match. */
  verify(signature: string, timestamp: string, nonce: string, encrypted: string): boolean {
    if (
      typeof signature !== 'string' ||
      typeof timestamp !== 'string' ||
      typeof nonce !== 'string' ||
      typeof encrypted !== 'string'
    ) {
      return false;
    }
    const expected = Buffer.from(this.signature(timestamp, nonce, encrypted), 'utf8');
    const given = Buffer.from(signature.toLowerCase(), 'utf8');
    if (given.length !== expected.length) return false;
    return timingSafeEqual(given, expected);
  }

  /** Encrypts `message` for this receiver; `random` (16 bytes) reproduces a known ciphertext exactly. */
  encrypt(message: string, options: { random?: Buffer } = {}): string {
    const random = options.random ?? randomBytes(RANDOM_PREFIX_BYTES);
    if (!Buffer.isBuffer(random) || random.length !== RANDOM_PREFIX_BYTES) {
      throw new OrgsyncError({
        code: CALLBACK_ERROR_CODES.encryptFailed,
        message: `The random prefix must be exactly ${RANDOM_PREFIX_BYTES} bytes.`,
        hint: 'Leave `random` out to get a fresh one; pass it only to reproduce a known ciphertext.',
      });
    }
    const body = Buffer.from(message, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length, 0);
    const plaintext = Buffer.concat([random, length, body, Buffer.from(this.receiverId, 'utf8')]);
    return aesCbcEncrypt(this.#key, plaintext).toString('base64');
  }

  /** Decrypts and checks the padding, the length field, UTF-8 and the receiver id. */
  decrypt(encrypted: string): { message: string; receiverId: string } {
    const plaintext = aesCbcDecrypt(this.#key, decodeBase64(encrypted));
    if (plaintext.length < HEADER_BYTES) {
      throw decryptError(
        `the decrypted data is ${plaintext.length} bytes long, shorter than its ${HEADER_BYTES}-byte header.`,
      );
    }
    const length = plaintext.readUInt32BE(RANDOM_PREFIX_BYTES);
    if (length > plaintext.length - HEADER_BYTES) {
      throw decryptError(
        `its length field says ${length} bytes but only ${plaintext.length - HEADER_BYTES} follow the header.`,
      );
    }
    const messageBytes = plaintext.subarray(HEADER_BYTES, HEADER_BYTES + length);
    const receiverBytes = plaintext.subarray(HEADER_BYTES + length);
    const message = decodeUtf8(messageBytes);
    const receiverId = decodeUtf8(receiverBytes);
    if (message === undefined || receiverId === undefined) {
      throw decryptError('the decrypted message is not valid UTF-8.');
    }
    if (!receiverBytes.equals(Buffer.from(this.receiverId, 'utf8'))) {
      throw new OrgsyncError({
        code: CALLBACK_ERROR_CODES.receiverMismatch,
        message:
          `The callback message is addressed to receiver ${quoteForMessage(receiverId)}, ` +
          `but this endpoint is configured for ${quoteForMessage(this.receiverId)}.`,
        hint:
          'Set receiverId to the id the platform encrypts for: in WeCom the CorpID (我的企业 → 企业信息) for corp apps, ' +
          "the SuiteID for third-party apps, empty for personal-entity apps; in DingTalk the AppKey for an app's " +
          '事件订阅, the CorpId for the legacy 注册回调 API, the SuiteKey for third-party apps.',
      });
    }
    return { message, receiverId };
  }

  /** Encrypts and signs, for senders (the simulator, replies such as DingTalk's encrypted "success"). */
  encryptAndSign(
    message: string,
    options: { timestamp?: string; nonce?: string; random?: Buffer } = {},
  ): SignedMessage {
    const encrypted = this.encrypt(message, options.random !== undefined ? { random: options.random } : {});
    const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
    const nonce = options.nonce ?? randomNonce();
    return { encrypted, signature: this.signature(timestamp, nonce, encrypted), timestamp, nonce };
  }

  /** Checks the signature first (nothing unauthenticated is decrypted), then decrypts. Returns the message. */
  verifyAndDecrypt(input: { signature: string; timestamp: string; nonce: string; encrypted: string }): string {
    this.checkSignature(input);
    return this.decrypt(input.encrypted).message;
  }

  /**
   * Throws CALLBACK_SIGNATURE_INVALID unless the signature matches. For receivers that check more (the timestamp)
   * between the signature and the decryption.
   */
  checkSignature(input: { signature: string; timestamp: string; nonce: string; encrypted: string }): void {
    if (!this.verify(input.signature, input.timestamp, input.nonce, input.encrypted)) {
      throw new OrgsyncError({
        code: CALLBACK_ERROR_CODES.signatureInvalid,
        message:
          'The callback signature does not match: the request was not signed with the configured token, or it was altered.',
        hint:
          'Check that the token configured here equals the Token of WeCom 回调配置 / the 签名 token of DingTalk 事件订阅 ' +
          '(no stray spaces), and that msg_signature, timestamp (DingTalk also sends timeStamp), nonce and the ' +
          'encrypted value are used exactly as received, URL-decoded once.',
      });
    }
  }
}
