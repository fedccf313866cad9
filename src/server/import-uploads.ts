import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from './errors.js';
import { DATA_DIR_MODE, DATA_FILE_MODE } from '../store/data-dir.js';

/**
 * Files sent to POST /api/v1/imports, kept in the data directory until they are applied or expire: each in a
 * folder of its own, `uploads/<id>/<its name>` (so what a reader says about the file names it as the admin chose
 * it), beside `uploads/<id>.json` with what is known of it. The folders are 0700 and the files 0600, as everything
 * else there. A body is written as it arrives and never held whole in memory; one over the bound is cut off, its
 * partial file removed. The record on disk (not only in memory) lets another server on the same data directory, or
 * this one after a restart, find an upload and delete it once expired.
 */

/** How long an upload is kept when nobody applies it. */
export const UPLOAD_TTL_MS = 3600_000;

/** The default bound of an upload; ORGSYNC_IMPORT_MAX_SIZE sets another (a 100,000-row export is about 10 MB). */
export const DEFAULT_UPLOAD_MAX_BYTES = 64 * 1024 * 1024;

const ID = /^[0-9a-f]{32}$/;

export interface UploadInfo {
  uploadId: string;
  /** The file's name as sent (or "upload"), made safe to be a file name. */
  name: string;
  size: number;
  /** When it was received (ms since the epoch, by the server's clock). */
  receivedAt: number;
}

export interface StoredUpload extends UploadInfo {
  /** Where it is on disk. */
  file: string;
}

/** A name the admin gave, made a plain file name: no folders, no control characters, not too long. */
export function safeFileName(name: string | undefined): string {
  const base = (name ?? '')
    .split(/[/\\]/)
    .pop()
    ?.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '')
    .trim();
  if (!base || base === '.' || base === '..') return 'upload';
  // At most 200 characters, cut at a code point, keeping the extension readable.
  const chars = Array.from(base);
  return chars.length > 200 ? chars.slice(chars.length - 200).join('') : base;
}

/** A bound as people write it: 64 MiB, 512 KiB, 1000 bytes. */
function sizeText(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(
    413,
    {
      code: 'UPLOAD_TOO_LARGE',
      message: `the file is larger than this server takes (${sizeText(maxBytes)}); nothing of it was kept`,
      hint: 'Import a smaller file (fewer rows, or one sheet), or raise ORGSYNC_IMPORT_MAX_SIZE on the server (e.g. 128m).',
    },
    // The client may still be sending: the rest of it is not read.
    { headers: { connection: 'close' } },
  );
}

export function uploadNotFound(id: string): ApiError {
  return new ApiError(404, {
    code: 'UPLOAD_NOT_FOUND',
    message: `there is no upload ${id}: it was applied, it expired (uploads are kept ${UPLOAD_TTL_MS / 60_000} minutes), or it was never made`,
    hint: 'Upload the file again with POST /api/v1/imports.',
  });
}

export class ImportUploads {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly options: { maxBytes: number; now: () => number },
  ) {
    this.dir = path.join(dataDir, 'uploads');
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /**
   * Writes `body` to a new upload, counting as it goes. `declaredLength` (Content-Length) over the bound is refused
   * before a byte is read; a body that grows past it is cut off and its file removed.
   */
  async receive(
    body: Readable,
    info: { name: string | undefined; declaredLength: number | undefined },
  ): Promise<UploadInfo> {
    const { maxBytes } = this.options;
    if (info.declaredLength !== undefined && info.declaredLength > maxBytes) throw tooLarge(maxBytes);
    await this.sweep();
    await this.ensureDir(this.dir);
    const uploadId = randomBytes(16).toString('hex');
    const folder = path.join(this.dir, uploadId);
    const name = safeFileName(info.name);
    const file = path.join(folder, name);
    await this.ensureDir(folder);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > maxBytes) callback(tooLarge(maxBytes));
        else callback(null, chunk);
      },
    });
    try {
      // flags wx: a new file, never one planted there; mode 0600 (a umask only narrows it, chmod below makes it exact).
      await pipeline(body, counter, createWriteStream(file, { flags: 'wx', mode: DATA_FILE_MODE }));
      await chmod(file, DATA_FILE_MODE);
    } catch (err) {
      await rm(folder, { recursive: true, force: true });
      if (err instanceof ApiError) throw err;
      // The client went away (or the disk failed) part way: nothing is kept, and the answer, if any, says so.
      throw new ApiError(400, {
        code: 'UPLOAD_INCOMPLETE',
        message: `the file did not arrive whole (${size} bytes came): ${(err as Error).message}`,
        hint: 'Send the file again.',
      });
    }
    if (size === 0) {
      await rm(folder, { recursive: true, force: true });
      throw new ApiError(400, {
        code: 'UPLOAD_EMPTY',
        message: 'the request carried no file (an empty body)',
        hint: 'Send the file itself as the body, with Content-Type: application/octet-stream.',
      });
    }
    const upload: UploadInfo = { uploadId, name, size, receivedAt: this.options.now() };
    await writeFile(this.recordOf(uploadId), JSON.stringify(upload), { mode: DATA_FILE_MODE, flag: 'wx' });
    return upload;
  }

  /** An upload that is still kept; 404 when it is not. */
  async get(uploadId: string): Promise<StoredUpload> {
    await this.sweep();
    const upload = ID.test(uploadId) ? await this.read(uploadId) : undefined;
    if (!upload) throw uploadNotFound(uploadId);
    return upload;
  }

  /**
   * Takes an upload for applying: from now on it is not found, so it is applied once. `remove` deletes the file
   * once the run that reads it is over.
   */
  async take(uploadId: string): Promise<StoredUpload & { remove(): Promise<void>; restore(): Promise<void> }> {
    const upload = await this.get(uploadId);
    const record = this.recordOf(uploadId);
    const text = await readFile(record, 'utf8');
    try {
      await rm(record);
    } catch {
      // Taken meanwhile by another request.
      throw uploadNotFound(uploadId);
    }
    // A folder without a record is swept an hour after its last change: counted from now, not from the upload.
    const now = this.options.now() / 1000;
    await utimes(path.dirname(upload.file), now, now);
    return {
      ...upload,
      remove: () => this.remove(uploadId),
      // Back where it was when the run it was taken for did not start; not when its file is gone meanwhile.
      restore: async () => {
        if (await stat(upload.file).catch(() => undefined)) await writeFile(record, text, { mode: DATA_FILE_MODE });
      },
    };
  }

  /** When an upload nobody applies is deleted. */
  expiresAt(upload: UploadInfo): number {
    return upload.receivedAt + UPLOAD_TTL_MS;
  }

  async remove(uploadId: string): Promise<void> {
    await rm(this.recordOf(uploadId), { force: true });
    await rm(path.join(this.dir, uploadId), { recursive: true, force: true });
  }

  /**
   * Deletes the uploads older than UPLOAD_TTL_MS, and folders left without a record (a server stopped while
   * receiving, or an applied upload whose run ended with the process) once they are as old.
   */
  async sweep(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return [];
    }
    const now = this.options.now();
    const removed: string[] = [];
    for (const entry of entries) {
      const id = entry.endsWith('.json') ? entry.slice(0, -5) : entry;
      if (!ID.test(id)) continue;
      if (entry.endsWith('.json')) {
        const upload = await this.read(id);
        if (upload && now - upload.receivedAt <= UPLOAD_TTL_MS) continue;
      } else {
        if (entries.includes(`${id}.json`)) continue;
        const info = await stat(path.join(this.dir, entry)).catch(() => undefined);
        if (info && now - info.mtimeMs <= UPLOAD_TTL_MS) continue;
      }
      await this.remove(id);
      removed.push(id);
    }
    return removed;
  }

  private recordOf(uploadId: string): string {
    return path.join(this.dir, `${uploadId}.json`);
  }

  private async read(uploadId: string): Promise<StoredUpload | undefined> {
    let upload: UploadInfo;
    try {
      upload = JSON.parse(await readFile(this.recordOf(uploadId), 'utf8')) as UploadInfo;
    } catch {
      return undefined;
    }
    return { ...upload, file: path.join(this.dir, uploadId, safeFileName(upload.name)) };
  }

  /** A folder only this user reads: made 0700 whatever the umask, and tightened if found looser. */
  private async ensureDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE });
    await chmod(dir, DATA_DIR_MODE);
  }
}
