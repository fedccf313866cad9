import type { FileHandle } from 'node:fs/promises';

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
/** The end record is 22 bytes, followed by a comment of at most 65,535. */
const TAIL = 22 + 0xffff;

/**
 * The names of a zip file's entries, from its central directory at the end of the file: what an xlsx holds can be
 * told without unpacking it. null when the file has no readable central directory (not a zip, cut short, or a
 * zip64 archive, whose directory this does not follow).
 */
export async function zipEntryNames(handle: FileHandle, size: number): Promise<string[] | null> {
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
  if (offset === 0xffffffff || length === 0xffffffff || offset + length > size) return null;
  const directory = Buffer.alloc(length);
  await handle.read(directory, 0, length, offset);
  const names: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > length || directory.readUInt32LE(at) !== DIRECTORY_ENTRY) return null;
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    names.push(directory.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}
