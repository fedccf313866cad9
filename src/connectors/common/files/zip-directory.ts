import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';

/**
 * A zip file read through its central directory, the index at its end: what a workbook holds is known before
 * anything is unpacked, and each entry is streamed from its place in the file on its own.
 */

export interface ZipEntryInfo {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  localOffset: number;
}

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_ENTRY = 0x04034b50;
/** The end record is 22 bytes, followed by a comment of at most 65,535. */
const TAIL = 22 + 0xffff;

/**
 * The entries of the zip file open in `handle`; null when it has no readable central directory (not a zip, cut
 * short, or a zip64 archive, whose larger directory this does not follow).
 */
export async function zipDirectory(handle: FileHandle, size: number): Promise<ZipEntryInfo[] | null> {
  const tailLength = Math.min(size, TAIL);
  const tail = Buffer.alloc(tailLength);
  await handle.read(tail, 0, tailLength, size - tailLength);
  let end = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END_OF_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) return null;
  const count = tail.readUInt16LE(end + 10);
  const length = tail.readUInt32LE(end + 12);
  const offset = tail.readUInt32LE(end + 16);
  if (count === 0xffff || offset === 0xffffffff || length === 0xffffffff || offset + length > size) return null;
  const directory = Buffer.alloc(length);
  await handle.read(directory, 0, length, offset);
  const entries: ZipEntryInfo[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > length || directory.readUInt32LE(at) !== DIRECTORY_ENTRY) return null;
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const compressedSize = directory.readUInt32LE(at + 20);
    const localOffset = directory.readUInt32LE(at + 42);
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) return null;
    entries.push({
      name: directory.toString('utf8', at + 46, at + 46 + nameLength),
      method: directory.readUInt16LE(at + 10),
      compressedSize,
      localOffset,
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The entries of a zip file, by name; null as for zipDirectory. */
export async function readZipDirectory(file: string): Promise<Map<string, ZipEntryInfo> | null> {
  const handle = await open(file, 'r');
  try {
    const entries = await zipDirectory(handle, (await handle.stat()).size);
    return entries && new Map(entries.map((e) => [e.name, e]));
  } finally {
    await handle.close();
  }
}

/** One entry's unpacked bytes, streamed from the file. */
export async function openZipEntry(file: string, entry: ZipEntryInfo): Promise<Readable> {
  const handle = await open(file, 'r');
  const header = Buffer.alloc(30);
  try {
    await handle.read(header, 0, 30, entry.localOffset);
  } finally {
    await handle.close();
  }
  if (header.readUInt32LE(0) !== LOCAL_ENTRY) throw new Error(`the entry ${entry.name} is not where the zip says`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new Error(
      `the entry ${entry.name} is compressed with method ${entry.method}, which only deflate is read for`,
    );
  }
  const start = entry.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (entry.compressedSize === 0) {
    const empty = new PassThrough();
    empty.end();
    return empty;
  }
  const raw = createReadStream(file, { start, end: start + entry.compressedSize - 1 });
  if (entry.method === 0) return raw;
  const inflate = createInflateRaw();
  raw.on('error', (err) => inflate.destroy(err));
  inflate.on('close', () => raw.destroy());
  return raw.pipe(inflate);
}
