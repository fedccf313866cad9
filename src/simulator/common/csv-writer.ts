import iconv from 'iconv-lite';
import type { CellValue } from './xlsx-writer.js';

/** The encodings the simulators write CSV in: as Excel saves "CSV UTF-8", plain UTF-8, and as a Chinese Windows does. */
export const CSV_ENCODINGS = ['utf8', 'utf8-bom', 'gb18030'] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

const ROWS_PER_PIECE = 2000;

function csvField(value: CellValue): string {
  const s = String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV (CRLF between records, quotes where needed), encoded piece by piece. */
export function* csvFile(rows: Iterable<readonly CellValue[]>, encoding: CsvEncoding): Generator<Buffer> {
  const encode = (text: string): Buffer =>
    encoding === 'gb18030' ? iconv.encode(text, 'gb18030') : Buffer.from(text, 'utf8');
  if (encoding === 'utf8-bom') yield Buffer.from([0xef, 0xbb, 0xbf]);
  let text = '';
  let n = 0;
  for (const row of rows) {
    text += `${row.map(csvField).join(',')}\r\n`;
    if (++n % ROWS_PER_PIECE === 0) {
      yield encode(text);
      text = '';
    }
  }
  if (text !== '') yield encode(text);
}
