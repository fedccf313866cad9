import { open } from 'node:fs/promises';
import { ValidationError } from '../../../errors.js';
import { fileUnreadable } from './read-error.js';
import { zipDirectory } from './zip-directory.js';

/** What an import file holds, told by its bytes, never by its name. */
export type FileContent = 'snapshot' | 'xlsx' | 'csv';

/** What the first bytes (and, for a zip, its directory) say a file is. */
type Sniffed = 'empty' | 'json' | 'xlsx' | 'zip' | 'ole' | 'text';

const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** The compound-file header of .xls (Excel 97-2003) and of password-protected .xlsx. */
const OLE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

async function sniff(file: string): Promise<Sniffed> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw fileUnreadable(file, err);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return 'empty';
    const head = Buffer.alloc(Math.min(size, 512));
    await handle.read(head, 0, head.length, 0);
    if (head.subarray(0, 4).equals(ZIP) || head.subarray(0, 4).equals(EMPTY_ZIP)) {
      const entries = await zipDirectory(handle, size);
      // No readable directory (zip64, or cut short): let the workbook reader try, and say what it finds.
      return entries === null || entries.some((e) => e.name === 'xl/workbook.xml') ? 'xlsx' : 'zip';
    }
    if (head.subarray(0, 8).equals(OLE)) return 'ole';
    const start = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
    const first = head.subarray(start).toString('latin1').trimStart()[0];
    return first === '{' ? 'json' : 'text';
  } catch (err) {
    throw fileUnreadable(file, err);
  } finally {
    await handle.close();
  }
}

const WHAT: Record<Sniffed, string> = {
  empty: 'an empty file',
  json: 'a JSON document',
  xlsx: 'an Excel workbook (.xlsx)',
  zip: 'a zip archive without a workbook (no xl/workbook.xml)',
  ole: 'an Excel 97-2003 (.xls) or password-protected workbook',
  text: 'a text (CSV) file',
};

function refuse(file: string, message: string, hint: string): ValidationError {
  return new ValidationError('the import file', [{ path: file, field: '(format)', message, hint }]);
}

const SAVE_AS_XLSX = 'Open it in Excel or WPS and save it as an .xlsx workbook (Excel 工作簿), without a password.';

/**
 * The content to read `file` as, for `--format`: `auto` tells a snapshot, a workbook and a CSV apart by content;
 * `xlsx` and `csv` check the content is what was asked for. A file none of them can read is refused here, before
 * anything is read from it.
 */
export async function contentOf(file: string, format: 'auto' | 'xlsx' | 'csv'): Promise<FileContent> {
  const found = await sniff(file);
  if (found === 'empty') throw refuse(file, 'the file is empty', 'Export the file again.');
  if (found === 'ole' || found === 'zip') {
    throw refuse(file, `the file is ${WHAT[found]}, which orgsync cannot read`, SAVE_AS_XLSX);
  }
  if (format === 'xlsx' && found !== 'xlsx') {
    throw refuse(
      file,
      `the file is not an Excel workbook (.xlsx), whatever its name says: it is ${WHAT[found]}`,
      found === 'text'
        ? 'Import it with --format csv (or --format auto), or export the contacts again as .xlsx.'
        : 'Import it with --format auto, or export the contacts again as .xlsx.',
    );
  }
  if (format === 'csv' && found === 'xlsx') {
    throw refuse(
      file,
      `the file is ${WHAT.xlsx}, not a CSV file`,
      'Import it with --format auto (or the export format).',
    );
  }
  if (format !== 'auto') return format;
  return found === 'json' ? 'snapshot' : found === 'xlsx' ? 'xlsx' : 'csv';
}
