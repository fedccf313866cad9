import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import iconv from 'iconv-lite';
import { ValidationError } from '../../../errors.js';
import { fileUnreadable } from './read-error.js';

/** `--encoding`: what a text file's bytes are; `auto` finds out. */
export const ENCODING_CHOICES = ['auto', 'utf8', 'gb18030'] as const;
export type EncodingChoice = (typeof ENCODING_CHOICES)[number];
export type TextEncodingName = 'utf8' | 'gb18030';

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const GB18030_BOM = Buffer.from([0x84, 0x31, 0x95, 0x33]);
const RESAVE = 'Save the file again as "CSV UTF-8 (逗号分隔)" in Excel or WPS';

/** The file's text, decoded chunk by chunk, with the encoding it was read in. */
export interface DecodedText {
  encoding: TextEncodingName;
  chunks: AsyncIterable<string>;
}

async function* bytes(file: string, start: number): AsyncGenerator<Buffer> {
  const stream = createReadStream(file, { start, highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    throw fileUnreadable(file, err);
  }
}

/** How many bytes at the end of `buf` start a UTF-8 sequence that the next chunk completes. */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** The offset of the first byte that breaks UTF-8 in `buf`, for the message; -1 when none does. */
function firstInvalidUtf8(buf: Buffer): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i] as number;
    const need = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (need === 0) return i;
    if (!isUtf8(buf.subarray(i, i + need))) return i;
    i += need;
  }
  return -1;
}

/** Where the file stops being UTF-8 (an offset into the file); -1 when all of it is. */
async function utf8Breaks(file: string, start: number): Promise<number> {
  let carry = Buffer.alloc(0);
  let offset = start;
  for await (const chunk of bytes(file, start)) {
    const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const keep = incompleteTail(buf);
    const body = buf.subarray(0, buf.length - keep);
    if (!isUtf8(body)) return offset + Math.max(0, firstInvalidUtf8(body));
    offset += body.length;
    carry = Buffer.from(buf.subarray(buf.length - keep));
  }
  return carry.length > 0 ? offset : -1;
}

/** Whether all of the file decodes as GB18030 (iconv-lite puts U+FFFD where bytes do not). */
async function isGb18030(file: string, start: number): Promise<boolean> {
  const decoder = iconv.getDecoder('gb18030');
  for await (const chunk of bytes(file, start)) if (decoder.write(chunk).includes('\uFFFD')) return false;
  return !(decoder.end() ?? '').includes('\uFFFD');
}

async function head(file: string): Promise<Buffer> {
  for await (const chunk of bytes(file, 0)) return chunk.subarray(0, 4);
  return Buffer.alloc(0);
}

function refuse(name: string, message: string, hint: string): ValidationError {
  return new ValidationError(name, [{ path: name, field: '(encoding)', message, hint }]);
}

const byteAt = async (file: string, offset: number): Promise<string> => {
  for await (const chunk of bytes(file, offset))
    return `0x${(chunk[0] ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;
  return 'the end';
};

/**
 * Opens a text file in the encoding asked for, or with `auto` the one its bytes show: a byte-order mark says UTF-8
 * (or GB18030), else all of it valid UTF-8 is UTF-8, else GB18030 (GBK's superset, what Excel on a Chinese Windows
 * saves); a file that is none of them is refused, naming what was tried. The whole file is checked before any row is
 * read, so a bad byte near the end refuses the file instead of a half-read one.
 */
export async function openText(file: string, choice: EncodingChoice, name: string): Promise<DecodedText> {
  const first = await head(file);
  if ((first[0] === 0xff && first[1] === 0xfe) || (first[0] === 0xfe && first[1] === 0xff)) {
    throw refuse(name, 'the file is UTF-16 text, which orgsync does not read', `${RESAVE}, then import it.`);
  }
  const bom = first.subarray(0, 3).equals(UTF8_BOM) ? 'utf8' : first.equals(GB18030_BOM) ? 'gb18030' : null;
  let encoding: TextEncodingName;
  let checked = false;
  if (choice !== 'auto') encoding = choice;
  else if (bom) encoding = bom;
  else {
    const at = await utf8Breaks(file, 0);
    checked = true;
    if (at < 0) encoding = 'utf8';
    else if (await isGb18030(file, 0)) encoding = 'gb18030';
    else {
      throw refuse(
        name,
        `the file is neither UTF-8 (byte ${await byteAt(file, at)} at offset ${at} is not) nor GB18030 text`,
        `${RESAVE}; --encoding utf8 or gb18030 reads it as that encoding.`,
      );
    }
  }
  const start = bom === encoding ? (bom === 'utf8' ? 3 : 4) : 0;
  if (!checked) {
    const at = encoding === 'utf8' ? await utf8Breaks(file, start) : (await isGb18030(file, start)) ? -1 : 0;
    if (at >= 0) {
      throw refuse(
        name,
        encoding === 'utf8'
          ? `the file is not UTF-8 text: byte ${await byteAt(file, at)} at offset ${at} is not`
          : 'the file is not GB18030 text: some of its bytes are not',
        `${RESAVE}, or pass --encoding with the encoding it was saved in (--encoding auto finds UTF-8 and GB18030).`,
      );
    }
  }
  return { encoding, chunks: decode(file, start, encoding) };
}

async function* decode(file: string, start: number, encoding: TextEncodingName): AsyncGenerator<string> {
  if (encoding === 'utf8') {
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    for await (const chunk of bytes(file, start)) yield decoder.decode(chunk, { stream: true });
    const rest = decoder.decode();
    if (rest) yield rest;
    return;
  }
  const decoder = iconv.getDecoder('gb18030', { stripBOM: false });
  for await (const chunk of bytes(file, start)) yield decoder.write(chunk);
  const rest = decoder.end();
  if (rest) yield rest;
}
