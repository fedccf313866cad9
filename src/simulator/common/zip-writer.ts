import { setImmediate as turn } from 'node:timers/promises';
import { constants, crc32, deflateRawSync } from 'node:zlib';

/**
 * A small zip writer (deflate, no zip64): what the simulators serve workbooks in. Written here rather than taken
 * from a library so the files orgsync's reader is tested with come from another writer than the one it parses with.
 */

export interface ZipEntry {
  name: string;
  /** The entry's bytes, in pieces of any size: each is compressed as it comes. */
  data: Iterable<Buffer>;
}

/** 1980-01-01 00:00, the first date DOS time can hold: the same bytes for the same content. */
const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1;
/** Bit 11: the names are UTF-8. */
const UTF8_NAMES = 0x0800;

interface Written {
  name: Buffer;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
}

/**
 * Deflates an entry piece by piece: each piece is its own deflate run ended by a sync flush (its back-references stay
 * inside it, so the runs join into one valid stream), and an empty final block closes the stream. Only the
 * compressed pieces are held, since the local header before them must give their length.
 */
async function deflateEntry(
  data: Iterable<Buffer>,
): Promise<{ pieces: Buffer[]; crc: number; size: number; compressed: number }> {
  const pieces: Buffer[] = [];
  let crc = 0;
  let size = 0;
  let compressed = 0;
  for (const piece of data) {
    if (piece.length === 0) continue;
    crc = crc32(piece, crc);
    size += piece.length;
    const out = deflateRawSync(piece, { finishFlush: constants.Z_SYNC_FLUSH });
    pieces.push(out);
    compressed += out.length;
    // A large sheet takes a while: let the server answer other requests meanwhile.
    await turn();
  }
  const end = deflateRawSync(Buffer.alloc(0));
  pieces.push(end);
  compressed += end.length;
  return { pieces, crc, size, compressed };
}

function localHeader(name: Buffer, crc: number, compressed: number, size: number): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(UTF8_NAMES, 6);
  h.writeUInt16LE(8, 8);
  h.writeUInt16LE(DOS_TIME, 10);
  h.writeUInt16LE(DOS_DATE, 12);
  h.writeUInt32LE(crc >>> 0, 14);
  h.writeUInt32LE(compressed, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, name]);
}

function directoryEntry(w: Written): Buffer {
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(UTF8_NAMES, 8);
  h.writeUInt16LE(8, 10);
  h.writeUInt16LE(DOS_TIME, 12);
  h.writeUInt16LE(DOS_DATE, 14);
  h.writeUInt32LE(w.crc >>> 0, 16);
  h.writeUInt32LE(w.compressed, 20);
  h.writeUInt32LE(w.size, 24);
  h.writeUInt16LE(w.name.length, 28);
  h.writeUInt32LE(w.offset, 42);
  return Buffer.concat([h, w.name]);
}

/** The zip file's bytes, entry by entry, then the central directory. */
export async function* zipFile(entries: Iterable<ZipEntry>): AsyncGenerator<Buffer> {
  const written: Written[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const { pieces, crc, size, compressed } = await deflateEntry(entry.data);
    if (offset + compressed > 0xffffffff || size > 0xffffffff) throw new Error('the zip would need zip64');
    const header = localHeader(name, crc, compressed, size);
    written.push({ name, crc, compressed, size, offset });
    yield header;
    yield* pieces;
    offset += header.length + compressed;
  }
  const directory = Buffer.concat(written.map(directoryEntry));
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(written.length, 8);
  end.writeUInt16LE(written.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  yield directory;
  yield end;
}
