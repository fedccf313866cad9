import { createCipheriv } from 'node:crypto';
import { inspect } from 'node:util';
import { decrypt as wecomDecrypt, encrypt as wecomEncrypt, getSignature as wecomSignature } from '@wecom/crypto';
import { describe, expect, test } from 'vitest';
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  CallbackCrypto,
  decodeEncodingAesKey,
  type CallbackCryptoOptions,
} from '../../src/crypto/callback-crypto.js';
import { OrgsyncError } from '../../src/errors.js';
import { Random } from '../../src/simulator/random.js';

// Official vectors: /work/shared/reference/wecom-dingtalk-api.md §7 (WeCom) and §12 (DingTalk).
const WECOM: CallbackCryptoOptions = {
  token: 'QDG6eK',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  receiverId: 'wx5823bf96d3bd56c7',
};
const WECOM_A = {
  signature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  timestamp: '1409659589',
  nonce: '263014780',
  encrypted: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
};
const WECOM_B = {
  signature: '477715d11cdb4164915debcba66cb864d751f3e6',
  timestamp: '1409659813',
  nonce: '1372623149',
  encrypted:
    'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==',
};
const WECOM_B_XML =
  '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n' +
  '<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n' +
  '<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>';

const DING: CallbackCryptoOptions = {
  token: '123456',
  encodingAesKey: '4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij',
  receiverId: 'suite4xxxxxxxxxxxxxxx',
};
const DING_VECTOR = {
  signature: '5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0',
  timestamp: '1445827045067',
  nonce: 'nEXhMP4r',
  encrypted:
    '1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==',
};
const DING_JSON = '{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}';

/** The random prefixes in the vectors are 16 ASCII characters (16 bytes), not hex. */
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Secrets used in the failure tests: distinctive, so a leak cannot go unnoticed. */
const SECRET: CallbackCryptoOptions = {
  token: 'tok3nV3ryS3cretZZ',
  encodingAesKey: 'Kq8ZzP0a9mWvX2rT5yLbN7cD4eF6gH1iJ3kM8nQ0sU2',
  receiverId: 'ww0123456789abcdef',
};

/** Runs `fn`, expects an OrgsyncError with `code`, and checks the error leaks none of `secrets`. */
function expectError(
  fn: () => unknown,
  code: string,
  secrets: string[] = [SECRET.token, SECRET.encodingAesKey],
): OrgsyncError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(OrgsyncError);
  const err = caught as OrgsyncError;
  expect(err.code).toBe(code);
  expect(err.message.length).toBeGreaterThan(10);
  expect(err.hint?.length ?? 0).toBeGreaterThan(10);
  const text = `${err.message}\n${err.hint ?? ''}\n${JSON.stringify(err.toInfo())}`;
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    // A prefix of a key is a leak too.
    if (secret.length >= 20) expect(text).not.toContain(secret.slice(0, 10));
  }
  return err;
}

function rawEncrypt(encodingAesKey: string, paddedPlaintext: Buffer): string {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(paddedPlaintext), cipher.final()]).toString('base64');
}

function frame(random: Buffer, message: string, receiverId: string, lengthField?: number): Buffer {
  const body = Buffer.from(message, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(lengthField ?? body.length, 0);
  return Buffer.concat([random, len, body, Buffer.from(receiverId, 'utf8')]);
}

function pad(data: Buffer, block: number): Buffer {
  const n = block - (data.length % block);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

function flipByte(encrypted: string, index: number, mask: number): string {
  const buf = Buffer.from(encrypted, 'base64');
  buf[index] = (buf[index] ?? 0) ^ mask;
  return buf.toString('base64');
}

describe('WeCom official vector (a): URL verification', () => {
  const c = new CallbackCrypto(WECOM);

  test('the signature of the echostr matches', () => {
    expect(c.signature(WECOM_A.timestamp, WECOM_A.nonce, WECOM_A.encrypted)).toBe(WECOM_A.signature);
    expect(c.verify(WECOM_A.signature, WECOM_A.timestamp, WECOM_A.nonce, WECOM_A.encrypted)).toBe(true);
  });

  test('decrypts to the echo plaintext and the corpid', () => {
    expect(c.decrypt(WECOM_A.encrypted)).toEqual({ message: '1616140317555161061', receiverId: 'wx5823bf96d3bd56c7' });
    expect(c.verifyAndDecrypt(WECOM_A)).toBe('1616140317555161061');
  });

  test("re-encrypting with the vector's random prefix reproduces the echostr", () => {
    expect(c.encrypt('1616140317555161061', { random: ascii('c41b64491c2468d0') })).toBe(WECOM_A.encrypted);
  });

  test('the echostr survives the URL-encoded query string it arrives in', () => {
    const query = new URLSearchParams(
      `msg_signature=${WECOM_A.signature}&echostr=${encodeURIComponent(WECOM_A.encrypted)}`,
    );
    expect(c.decrypt(query.get('echostr') ?? '').message).toBe('1616140317555161061');
    // Not URL-encoded by a careless sender: '+' turns into ' ', and the error says so.
    const broken = new URLSearchParams(`echostr=${WECOM_A.encrypted}`).get('echostr') ?? '';
    expect(broken).toContain(' ');
    const err = expectError(() => c.decrypt(broken), 'CALLBACK_ENCODING_INVALID', [WECOM.token, WECOM.encodingAesKey]);
    expect(err.message).toContain('"+"');
  });
});

describe('WeCom official vector (b): POST message', () => {
  const c = new CallbackCrypto(WECOM);

  test('the signature over Encrypt matches', () => {
    expect(c.signature(WECOM_B.timestamp, WECOM_B.nonce, WECOM_B.encrypted)).toBe(WECOM_B.signature);
    expect(c.verify(WECOM_B.signature, WECOM_B.timestamp, WECOM_B.nonce, WECOM_B.encrypted)).toBe(true);
  });

  test('decrypts to the exact 284-byte XML', () => {
    expect(Buffer.byteLength(WECOM_B_XML)).toBe(284);
    const { message, receiverId } = c.decrypt(WECOM_B.encrypted);
    expect(message).toBe(WECOM_B_XML);
    expect(Buffer.byteLength(message)).toBe(284);
    expect(receiverId).toBe('wx5823bf96d3bd56c7');
    expect(c.verifyAndDecrypt(WECOM_B)).toBe(WECOM_B_XML);
  });

  test("re-encrypting with the vector's random prefix reproduces Encrypt byte for byte", () => {
    const again = c.encrypt(WECOM_B_XML, { random: ascii('0960688932c47ef1') });
    expect(again).toBe(WECOM_B.encrypted);
    // 16 + 4 + 284 + 18 = 322 bytes, padded to 352 (pad byte 30): 32-byte blocks, not 16 (which would give 336).
    expect(Buffer.from(again, 'base64').length).toBe(352);
  });

  test('encryptAndSign reproduces the whole signed vector', () => {
    expect(
      c.encryptAndSign(WECOM_B_XML, {
        timestamp: WECOM_B.timestamp,
        nonce: WECOM_B.nonce,
        random: ascii('0960688932c47ef1'),
      }),
    ).toEqual(WECOM_B);
  });
});

describe('DingTalk official vector', () => {
  const c = new CallbackCrypto(DING);

  test('the signature matches (millisecond timestamp)', () => {
    expect(c.signature(DING_VECTOR.timestamp, DING_VECTOR.nonce, DING_VECTOR.encrypted)).toBe(DING_VECTOR.signature);
    expect(c.verify(DING_VECTOR.signature, DING_VECTOR.timestamp, DING_VECTOR.nonce, DING_VECTOR.encrypted)).toBe(true);
  });

  test('decrypts to the exact JSON and the suite key', () => {
    expect(c.decrypt(DING_VECTOR.encrypted)).toEqual({ message: DING_JSON, receiverId: 'suite4xxxxxxxxxxxxxxx' });
    expect(Buffer.byteLength(DING_JSON)).toBe(97);
    expect(c.verifyAndDecrypt(DING_VECTOR)).toBe(DING_JSON);
  });

  test('re-encrypting with random hU3bEfGZZewzhG5a reproduces the ciphertext', () => {
    const again = c.encrypt(DING_JSON, { random: ascii('hU3bEfGZZewzhG5a') });
    expect(again).toBe(DING_VECTOR.encrypted);
    expect(Buffer.from(again, 'base64').length).toBe(160); // 138 bytes + pad 22
  });

  test('the raw-AES check from the reference', () => {
    const key = decodeEncodingAesKey(DING.encodingAesKey);
    const plain = Buffer.from('5p7b4jXMWUshiBCosucc111esssuite4xxxxxxxxxxxxxxx221', 'utf8');
    const expected = 'DwCJ9BMxu4r+VTe9TD+AWc1yfxqs7d2YgepFe4XruMgh1+6pTjCCq4nqAM6StRcafOx5a1OfwmX3ckSBifatlA==';
    expect(aesCbcEncrypt(key, plain).toString('base64')).toBe(expected);
    expect(aesCbcEncrypt(key, plain, 16).toString('base64')).toBe(expected); // 50 bytes: both pad to 64
    expect(aesCbcDecrypt(key, Buffer.from(expected, 'base64')).toString('utf8')).toBe(plain.toString('utf8'));
    // It is raw AES, not a framed message ("succ" lands in the length field), so the framed decrypt refuses it.
    expectError(() => c.decrypt(expected), 'CALLBACK_DECRYPT_FAILED', [DING.encodingAesKey]);
  });

  test('the vector re-padded to 16-byte blocks (some community senders) decrypts too', () => {
    const framed = frame(ascii('hU3bEfGZZewzhG5a'), DING_JSON, DING.receiverId);
    const sixteen = rawEncrypt(DING.encodingAesKey, pad(framed, 16));
    expect(Buffer.from(sixteen, 'base64').length).toBe(144);
    expect(sixteen).not.toBe(DING_VECTOR.encrypted);
    expect(c.decrypt(sixteen)).toEqual({ message: DING_JSON, receiverId: DING.receiverId });
  });

  test('the encrypted "success" reply round-trips with a millisecond timestamp', () => {
    const reply = c.encryptAndSign('success', { timestamp: '1445827045067', nonce: 'abcdefghijklmnop' });
    expect(reply.signature).toBe(wecomSignature(DING.token, reply.timestamp, reply.nonce, reply.encrypted));
    expect(c.verifyAndDecrypt(reply)).toBe('success');
    expect(wecomDecrypt(DING.encodingAesKey, reply.encrypted)).toMatchObject({
      message: 'success',
      id: DING.receiverId,
    });
  });
});

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function generators(seed: number) {
  // Deterministic, so a failing case can be replayed.
  const random = new Random(seed);
  const rnd = (): number => random.next();
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const alnum = (n: number): string => Array.from({ length: n }, () => ALNUM[int(0, ALNUM.length - 1)]).join('');
  const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[int(0, 15)]).join('');
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(0, 255)));
  const codePoint = (): number => {
    switch (int(0, 5)) {
      case 0:
        return int(0x20, 0x7e);
      case 1:
        return [0x0a, 0x09, 0x00, 0x3c, 0x3e, 0x26, 0x22][int(0, 6)] ?? 0x0a; // \n \t NUL < > & "
      case 2:
      case 3:
        return int(0x4e00, 0x9fff); // CJK
      case 4:
        return int(0xa0, 0xd7ff); // other BMP, below the surrogates
      default:
        return int(0x1f300, 0x1faff); // astral (emoji): 4 UTF-8 bytes, a surrogate pair in JS
    }
  };
  /** A string of exactly `byteLength` UTF-8 bytes. */
  const text = (byteLength: number): string => {
    let s = '';
    let used = 0;
    for (;;) {
      const ch = String.fromCodePoint(codePoint());
      const size = Buffer.byteLength(ch);
      if (used + size > byteLength) break;
      s += ch;
      used += size;
    }
    return s + 'x'.repeat(byteLength - used);
  };
  const receiverId = (): string =>
    [() => `ww${hex(16)}`, () => `wx${hex(16)}`, () => `ding${alnum(int(8, 20))}`, () => `suite${alnum(15)}`, () => ''][
      int(0, 4)
    ]?.() ?? '';
  return { int, alnum, bytes, text, receiverId };
}

describe('interoperability with @wecom/crypto', () => {
  test('250 random messages, keys and receivers, both directions, byte-identical ciphertexts and equal signatures', () => {
    const g = generators(20240917);
    let chinese = 0;
    let astral = 0;
    let maxBytes = 0;
    let emptyMessages = 0;
    for (let i = 0; i < 250; i++) {
      const encodingAesKey = g.alnum(43);
      const receiverId = g.receiverId();
      const token = g.alnum(g.int(1, 32));
      const byteLength = i === 0 ? 0 : i === 1 ? 5000 : g.int(0, 5000);
      const message = g.text(byteLength);
      expect(Buffer.byteLength(message), `case ${i}`).toBe(byteLength);
      if (/[\u4e00-\u9fff]/.test(message)) chinese++;
      if (/[\u{1f300}-\u{1faff}]/u.test(message)) astral++;
      if (byteLength === 0) emptyMessages++;
      maxBytes = Math.max(maxBytes, byteLength);

      const ours = new CallbackCrypto({ token, encodingAesKey, receiverId });
      const random = g.bytes(16);

      // Ours encrypts → theirs decrypts; with the same random prefix the ciphertexts are identical.
      const mine = ours.encrypt(message, { random });
      expect(mine, `case ${i}`).toBe(wecomEncrypt(encodingAesKey, message, receiverId, random));
      const theirView = wecomDecrypt(encodingAesKey, mine);
      expect(theirView.message, `case ${i}`).toBe(message);
      expect(theirView.id, `case ${i}`).toBe(receiverId);
      expect(theirView.random.equals(random), `case ${i}`).toBe(true);

      // Theirs encrypts (their own random prefix) → ours decrypts.
      const theirs = wecomEncrypt(encodingAesKey, message, receiverId);
      expect(ours.decrypt(theirs), `case ${i}`).toEqual({ message, receiverId });

      // Signatures agree, and ours accepts theirs.
      const timestamp = String(g.int(1_400_000_000, 1_900_000_000) * (i % 2 === 0 ? 1 : 1000));
      const nonce = g.alnum(g.int(1, 16));
      const signature = wecomSignature(token, timestamp, nonce, theirs);
      expect(ours.signature(timestamp, nonce, theirs), `case ${i}`).toBe(signature);
      expect(ours.verifyAndDecrypt({ signature, timestamp, nonce, encrypted: theirs }), `case ${i}`).toBe(message);
      const signed = ours.encryptAndSign(message, { timestamp, nonce });
      expect(signed.signature, `case ${i}`).toBe(wecomSignature(token, timestamp, nonce, signed.encrypted));
    }
    // The generator really produced what the brief asks for.
    expect(chinese).toBeGreaterThan(200);
    expect(astral).toBeGreaterThan(200);
    expect(emptyMessages).toBeGreaterThanOrEqual(1);
    expect(maxBytes).toBe(5000);
  });

  test('every content length around the block boundaries pads to 32 like the reference library', () => {
    const encodingAesKey = SECRET.encodingAesKey;
    const c = new CallbackCrypto({ ...SECRET, receiverId: 'wx5823bf96d3bd56c7' });
    const random = ascii('0123456789abcdef');
    for (let n = 0; n <= 100; n++) {
      const message = 'm'.repeat(n);
      const encrypted = c.encrypt(message, { random });
      const content = 16 + 4 + n + 18;
      // A full block of padding when the content is already aligned.
      expect(Buffer.from(encrypted, 'base64').length, `length ${n}`).toBe((Math.floor(content / 32) + 1) * 32);
      expect(encrypted, `length ${n}`).toBe(wecomEncrypt(encodingAesKey, message, 'wx5823bf96d3bd56c7', random));
      expect(c.decrypt(encrypted).message, `length ${n}`).toBe(message);
    }
  });
  test('a leading byte-order mark is kept, byte for byte', () => {
    const c = new CallbackCrypto(SECRET);
    const message = '\uFEFF<xml>中文</xml>';
    expect(c.decrypt(wecomEncrypt(SECRET.encodingAesKey, message, SECRET.receiverId)).message).toBe(message);
    expect(wecomDecrypt(SECRET.encodingAesKey, c.encrypt(message)).message).toBe(message);
  });
});

describe('encryptAndSign defaults', () => {
  test('timestamp is now in seconds, nonce is 10-16 alphanumerics, each call differs', () => {
    const c = new CallbackCrypto(SECRET);
    const before = Math.floor(Date.now() / 1000);
    const one = c.encryptAndSign('hello');
    const two = c.encryptAndSign('hello');
    const after = Math.floor(Date.now() / 1000);
    for (const m of [one, two]) {
      expect(m.timestamp).toMatch(/^\d{10}$/);
      expect(Number(m.timestamp)).toBeGreaterThanOrEqual(before);
      expect(Number(m.timestamp)).toBeLessThanOrEqual(after);
      expect(m.nonce).toMatch(/^[A-Za-z0-9]{10,16}$/);
      expect(c.verify(m.signature, m.timestamp, m.nonce, m.encrypted)).toBe(true);
      expect(c.verifyAndDecrypt(m)).toBe('hello');
    }
    expect(one.nonce).not.toBe(two.nonce);
    expect(one.encrypted).not.toBe(two.encrypted); // fresh random prefix each time
  });

  test('nonce lengths cover 10..16 and nothing else', () => {
    const c = new CallbackCrypto(SECRET);
    const lengths = new Set<number>();
    for (let i = 0; i < 400; i++) lengths.add(c.encryptAndSign('').nonce.length);
    expect([...lengths].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16]);
  });
});

describe('configuration checks', () => {
  const KEY_HINT_PLACES = ['回调配置', '事件订阅'];

  test.each([
    ['42 characters', SECRET.encodingAesKey.slice(0, 42), '42'],
    ['44 characters', `${SECRET.encodingAesKey}A`, '44'],
    ['a trailing "="', `${SECRET.encodingAesKey}=`, 'letters and digits'],
    ['a "+"', `+${SECRET.encodingAesKey.slice(1)}`, 'letters and digits'],
    ['a "/"', `${SECRET.encodingAesKey.slice(0, 42)}/`, 'letters and digits'],
    ['a "-"', `${SECRET.encodingAesKey.slice(0, 20)}-${SECRET.encodingAesKey.slice(21)}`, 'letters and digits'],
    ['a leading space', ` ${SECRET.encodingAesKey.slice(1)}`, 'whitespace'],
    ['a Chinese character', `${SECRET.encodingAesKey.slice(0, 42)}钥`, 'letters and digits'],
    ['nothing', '', 'missing'],
  ])('EncodingAESKey with %s is refused', (_what, encodingAesKey, says) => {
    const err = expectError(() => new CallbackCrypto({ ...SECRET, encodingAesKey }), 'CALLBACK_CONFIG_INVALID', [
      SECRET.token,
      SECRET.encodingAesKey,
      ...(encodingAesKey.length > 20 ? [encodingAesKey] : []),
    ]);
    expect(err.message).toContain('EncodingAESKey');
    expect(err.message).toContain(says);
    for (const place of KEY_HINT_PLACES) expect(err.hint).toContain(place);
  });

  test.each([
    ['empty', '', 'missing'],
    ['129 characters', 'a'.repeat(129), '129'],
    ['a Chinese character', 'token令牌', 'printable ASCII'],
    ['a tab', 'tok\ten', 'printable ASCII'],
  ])('a token that is %s is refused', (_what, token, says) => {
    const err = expectError(() => new CallbackCrypto({ ...SECRET, token }), 'CALLBACK_CONFIG_INVALID', [
      SECRET.encodingAesKey,
      ...(token.length > 5 ? [token] : []),
    ]);
    expect(err.message).toContain('token');
    expect(err.message).toContain(says);
    for (const place of KEY_HINT_PLACES) expect(err.hint).toContain(place);
  });

  test('tolerant: 128-character and punctuated tokens, an empty receiverId', () => {
    const long = new CallbackCrypto({ ...SECRET, token: 'A'.repeat(128) });
    expect(long.signature('1', '2', '3')).toMatch(/^[0-9a-f]{40}$/);
    const punctuated = new CallbackCrypto({ ...SECRET, token: 'a-b_c.d!~ e' });
    expect(punctuated.signature('1', '2', '3')).toBe(wecomSignature('a-b_c.d!~ e', '1', '2', '3'));
    const personal = new CallbackCrypto({ ...SECRET, receiverId: '' });
    const encrypted = personal.encrypt('hi');
    expect(personal.decrypt(encrypted)).toEqual({ message: 'hi', receiverId: '' });
    expect(wecomDecrypt(SECRET.encodingAesKey, encrypted).id).toBe('');
  });

  test('the token and key do not show in inspect() or JSON', () => {
    const c = new CallbackCrypto(SECRET);
    const shown = `${inspect(c, { depth: 5, showHidden: true })}\n${JSON.stringify(c)}`;
    expect(shown).toContain(SECRET.receiverId);
    expect(shown).not.toContain(SECRET.token);
    expect(shown).not.toContain(SECRET.encodingAesKey.slice(0, 10));
  });
});

describe('failures', () => {
  const c = new CallbackCrypto(SECRET);
  const message =
    '<xml><ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName><Event><![CDATA[change_contact]]></Event></xml>';
  const signed = c.encryptAndSign(message, {
    timestamp: '1700000000',
    nonce: 'n0nce12345',
    random: ascii('ABCDEFGHIJKLMNOP'),
  });

  test('a wrong signature is refused before anything is decrypted', () => {
    expect(c.verifyAndDecrypt(signed)).toBe(message);
    const wrong = `${signed.signature.slice(0, 39)}${signed.signature.endsWith('0') ? '1' : '0'}`;
    expectError(() => c.verifyAndDecrypt({ ...signed, signature: wrong }), 'CALLBACK_SIGNATURE_INVALID');
    expectError(() => c.verifyAndDecrypt({ ...signed, timestamp: '1700000001' }), 'CALLBACK_SIGNATURE_INVALID');
    expectError(() => c.verifyAndDecrypt({ ...signed, nonce: 'n0nce12346' }), 'CALLBACK_SIGNATURE_INVALID');
    const otherToken = new CallbackCrypto({ ...SECRET, token: 'another-token' });
    expectError(() => otherToken.verifyAndDecrypt(signed), 'CALLBACK_SIGNATURE_INVALID');
    // Garbage with a wrong signature reports the signature, proving the order of the checks…
    expectError(() => c.verifyAndDecrypt({ ...signed, encrypted: 'not base64!!' }), 'CALLBACK_SIGNATURE_INVALID');
    // …and the same garbage correctly signed reaches the decoder.
    const garbage = {
      ...signed,
      encrypted: 'not base64!!',
      signature: c.signature(signed.timestamp, signed.nonce, 'not base64!!'),
    };
    expectError(() => c.verifyAndDecrypt(garbage), 'CALLBACK_ENCODING_INVALID');
  });

  test('flipping any byte of the ciphertext is caught by the signature', () => {
    const length = Buffer.from(signed.encrypted, 'base64').length;
    for (let i = 0; i < length; i++) {
      const encrypted = flipByte(signed.encrypted, i, 0x01);
      expectError(() => c.verifyAndDecrypt({ ...signed, encrypted }), 'CALLBACK_SIGNATURE_INVALID');
    }
  });

  test('flipping any byte after the first block makes decrypt fail rather than return garbage', () => {
    const w = new CallbackCrypto(WECOM);
    const length = Buffer.from(WECOM_B.encrypted, 'base64').length;
    let checked = 0;
    for (const mask of [0x01, 0x80, 0xff]) {
      for (let i = 16; i < length; i++) {
        const err = expectError(() => w.decrypt(flipByte(WECOM_B.encrypted, i, mask)), 'CALLBACK_DECRYPT_FAILED', [
          WECOM.token,
          WECOM.encodingAesKey,
        ]);
        expect(err.message).toMatch(/padding|length field|UTF-8/);
        checked++;
      }
    }
    expect(checked).toBe(3 * 336);
  });

  test('CBC is malleable in the first block: decrypt alone cannot tell, the signature can', () => {
    // Ciphertext byte 5 XORs into plaintext byte 21, the second byte of the message ("x" of "<xml>").
    const w = new CallbackCrypto(WECOM);
    const tampered = flipByte(WECOM_B.encrypted, 5, 0x01);
    expect(w.decrypt(tampered).message).toBe(`<yml>${WECOM_B_XML.slice(5)}`);
    expectError(() => w.verifyAndDecrypt({ ...WECOM_B, encrypted: tampered }), 'CALLBACK_SIGNATURE_INVALID', [
      WECOM.token,
      WECOM.encodingAesKey,
    ]);
  });

  test('a message for another receiver is refused, naming both ids', () => {
    for (const receiverId of [
      'wx5823bf96d3bd56c8',
      'wx5823bf96d3bd56c',
      'wx5823bf96d3bd56c7x',
      '',
      'WX5823BF96D3BD56C7',
    ]) {
      const w = new CallbackCrypto({ ...WECOM, receiverId });
      const err = expectError(() => w.decrypt(WECOM_B.encrypted), 'CALLBACK_RECEIVER_MISMATCH', [
        WECOM.token,
        WECOM.encodingAesKey,
      ]);
      expect(err.message).toContain('"wx5823bf96d3bd56c7"');
      expect(err.message).toContain(JSON.stringify(receiverId));
      expect(err.hint).toContain('CorpID');
      expectError(() => w.verifyAndDecrypt(WECOM_B), 'CALLBACK_RECEIVER_MISMATCH', [WECOM.token, WECOM.encodingAesKey]);
    }
  });

  test('another EncodingAESKey cannot decrypt', () => {
    const other = new CallbackCrypto({ ...WECOM, encodingAesKey: SECRET.encodingAesKey });
    expectError(() => other.decrypt(WECOM_B.encrypted), 'CALLBACK_DECRYPT_FAILED', [
      WECOM.token,
      WECOM.encodingAesKey,
      SECRET.encodingAesKey,
    ]);
    expectError(() => other.decrypt(WECOM_A.encrypted), 'CALLBACK_DECRYPT_FAILED', [
      WECOM.token,
      WECOM.encodingAesKey,
      SECRET.encodingAesKey,
    ]);
  });

  test.each([
    ['empty', ''],
    ['punctuation', '!!!!'],
    ['a length that is not a multiple of 4', 'abc'],
    ['"=" in the middle', 'ab=cabcd'],
    ['a line break', `${signed.encrypted.slice(0, 20)}\n${signed.encrypted.slice(20)}`],
    ['URL-safe base64', `${signed.encrypted.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}-_`],
    ['a JSON envelope instead of its field', JSON.stringify({ encrypt: signed.encrypted })],
  ])('input that is not base64 (%s) is refused', (_what, encrypted) => {
    expectError(() => c.decrypt(encrypted), 'CALLBACK_ENCODING_INVALID');
  });

  test('truncated input is refused', () => {
    const bytes = Buffer.from(signed.encrypted, 'base64');
    // Cut inside a block: the length is no longer a multiple of 16.
    const err = expectError(
      () => c.decrypt(bytes.subarray(0, bytes.length - 3).toString('base64')),
      'CALLBACK_DECRYPT_FAILED',
    );
    expect(err.message).toContain('multiple of 16');
    // Cut at block boundaries: the padding is gone.
    for (let blocks = 1; blocks < bytes.length / 16; blocks++) {
      expectError(
        () => c.decrypt(bytes.subarray(0, bytes.length - 16 * blocks).toString('base64')),
        'CALLBACK_DECRYPT_FAILED',
      );
    }
    // Cut mid-character: not base64 any more.
    expectError(() => c.decrypt(signed.encrypted.slice(0, -1)), 'CALLBACK_ENCODING_INVALID');
  });

  test('padding is checked: 0, 33, and unequal pad bytes are refused; 1..32 accepted', () => {
    const framed = frame(ascii('ABCDEFGHIJKLMNOP'), 'hello', SECRET.receiverId); // 16+4+5+18 = 43 bytes
    const withPad = (bytes: number[]): string =>
      rawEncrypt(SECRET.encodingAesKey, Buffer.concat([framed, Buffer.from(bytes)]));
    // 43 + 21 = 64: a correct pad of 21 decrypts.
    expect(c.decrypt(withPad(Array(21).fill(21))).message).toBe('hello');
    // 43 + 5 = 48: the 16-byte-block pad of 5 decrypts.
    expect(c.decrypt(withPad(Array(5).fill(5))).message).toBe('hello');
    const zero = expectError(() => c.decrypt(withPad([...Array(20).fill(21), 0])), 'CALLBACK_DECRYPT_FAILED');
    expect(zero.message).toContain('padding');
    // 33 equal bytes of 33 (43 + 20 + 33 = 96): over the 32-byte maximum even though the bytes agree.
    expect(
      expectError(() => c.decrypt(withPad([...Array(20).fill(0), ...Array(33).fill(33)])), 'CALLBACK_DECRYPT_FAILED')
        .message,
    ).toContain('padding');
    expect(
      expectError(() => c.decrypt(withPad([...Array(20).fill(20), 21])), 'CALLBACK_DECRYPT_FAILED').message,
    ).toContain('padding');
    expect(
      expectError(
        () => c.decrypt(withPad([...Array(20).fill(21), 21].map((b, i) => (i === 3 ? 22 : b)))),
        'CALLBACK_DECRYPT_FAILED',
      ).message,
    ).toContain('padding');
    // A full block of 32 pad bytes (aligned content) decrypts.
    const aligned = frame(ascii('ABCDEFGHIJKLMNOP'), 'x'.repeat(26), SECRET.receiverId); // 64 bytes
    expect(c.decrypt(rawEncrypt(SECRET.encodingAesKey, pad(aligned, 32))).message).toBe('x'.repeat(26));
    expect(Buffer.from(c.encrypt('x'.repeat(26)), 'base64').length).toBe(96);
  });

  test('the length field is checked against the data', () => {
    const tooLong = frame(ascii('ABCDEFGHIJKLMNOP'), 'hello', SECRET.receiverId, 5 + 18 + 1);
    const err = expectError(
      () => c.decrypt(rawEncrypt(SECRET.encodingAesKey, pad(tooLong, 32))),
      'CALLBACK_DECRYPT_FAILED',
    );
    expect(err.message).toContain('length field says 24');
    // Just fits: the receiver part is then empty, which is a receiver mismatch, not a crash.
    const allMessage = frame(ascii('ABCDEFGHIJKLMNOP'), 'hello', SECRET.receiverId, 5 + 18);
    expectError(() => c.decrypt(rawEncrypt(SECRET.encodingAesKey, pad(allMessage, 32))), 'CALLBACK_RECEIVER_MISMATCH');
    // Shorter than the 20-byte header.
    const short = Buffer.from('ABCDEFGHIJKLMNO', 'latin1'); // 15 bytes, padded to 32 with 17
    expect(
      expectError(() => c.decrypt(rawEncrypt(SECRET.encodingAesKey, pad(short, 32))), 'CALLBACK_DECRYPT_FAILED')
        .message,
    ).toContain('header');
  });

  test('a decrypted message that is not UTF-8 is refused', () => {
    const body = Buffer.from([0x3c, 0xff, 0xfe, 0x3e]);
    const framed = Buffer.concat([
      ascii('ABCDEFGHIJKLMNOP'),
      Buffer.from([0, 0, 0, 4]),
      body,
      Buffer.from(SECRET.receiverId),
    ]);
    const err = expectError(
      () => c.decrypt(rawEncrypt(SECRET.encodingAesKey, pad(framed, 32))),
      'CALLBACK_DECRYPT_FAILED',
    );
    expect(err.message).toContain('UTF-8');
  });

  test('a random prefix that is not 16 bytes is refused', () => {
    expectError(() => c.encrypt('hi', { random: Buffer.alloc(15) }), 'CALLBACK_ENCRYPT_FAILED');
    expectError(() => c.encrypt('hi', { random: Buffer.alloc(17) }), 'CALLBACK_ENCRYPT_FAILED');
    expectError(() => c.encryptAndSign('hi', { random: Buffer.alloc(0) }), 'CALLBACK_ENCRYPT_FAILED');
  });
});

describe('verify', () => {
  const c = new CallbackCrypto(WECOM);
  const { signature, timestamp, nonce, encrypted } = WECOM_B;

  test('false for a signature of a different length', () => {
    expect(c.verify(signature, timestamp, nonce, encrypted)).toBe(true);
    expect(c.verify(signature.slice(0, 39), timestamp, nonce, encrypted)).toBe(false);
    expect(c.verify(`${signature}0`, timestamp, nonce, encrypted)).toBe(false);
    expect(c.verify('', timestamp, nonce, encrypted)).toBe(false);
    expect(c.verify(` ${signature}`, timestamp, nonce, encrypted)).toBe(false);
  });

  test('false for a one-character change at any position', () => {
    for (let i = 0; i < signature.length; i++) {
      const ch = signature[i] ?? '';
      const other = ch === 'f' ? '0' : ch === '9' ? 'a' : String.fromCharCode(ch.charCodeAt(0) + 1);
      const changed = `${signature.slice(0, i)}${other}${signature.slice(i + 1)}`;
      expect(changed).not.toBe(signature);
      expect(changed).toHaveLength(40);
      expect(c.verify(changed, timestamp, nonce, encrypted), `position ${i}`).toBe(false);
    }
  });

  test('false when any signed field changes; hex case is ignored; non-strings are false', () => {
    expect(c.verify(signature, `${timestamp}0`, nonce, encrypted)).toBe(false);
    expect(c.verify(signature, timestamp, `${nonce}0`, encrypted)).toBe(false);
    expect(c.verify(signature, timestamp, nonce, `${encrypted}A`)).toBe(false);
    expect(c.verify(signature.toUpperCase(), timestamp, nonce, encrypted)).toBe(true);
    expect(c.verify([signature] as unknown as string, timestamp, nonce, encrypted)).toBe(false);
    expect(c.verify(undefined as unknown as string, timestamp, nonce, encrypted)).toBe(false);
  });
});
