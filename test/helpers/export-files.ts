import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Export files written and read by Python (Debian's /usr/bin/python3 with python3-openpyxl; `.ci/run` installs it),
 * an independent writer and reader for orgsync's own.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'export-files.py');

export type PyCell = string | number | boolean | null | { date: string };

export interface PySheet {
  name: string;
  rows: PyCell[][];
  /** Cells (e.g. "G4") shown as dates. */
  dates?: string[];
}

function python(request: Record<string, unknown>): any {
  const out = execFileSync(PYTHON, [SCRIPT], { input: JSON.stringify(request), maxBuffer: 512 * 1024 * 1024 });
  return JSON.parse(out.toString('utf8'));
}

/** An .xlsx written by openpyxl. `mojibake`: every text cell as UTF-8 read as Windows-1252. */
export function writeXlsx(file: string, sheets: PySheet[], options: { mojibake?: boolean } = {}): string {
  python({ op: 'write', kind: 'xlsx', path: file, sheets, mojibake: options.mojibake === true });
  return file;
}

export type PyEncoding = 'utf8' | 'utf8-bom' | 'gb18030';

/** A CSV written by Python's csv module and codecs. */
export function writeCsv(
  file: string,
  rows: PyCell[][],
  options: { encoding?: PyEncoding; mojibake?: boolean; newline?: '\r\n' | '\n' } = {},
): string {
  python({
    op: 'write',
    kind: 'csv',
    path: file,
    sheets: [{ name: 'csv', rows }],
    encoding: options.encoding ?? 'utf8',
    mojibake: options.mojibake === true,
    newline: options.newline ?? '\r\n',
  });
  return file;
}

/** Every sheet of a workbook as openpyxl reads it: cells as text, empty as "". */
export function readXlsx(file: string): Array<{ name: string; rows: string[][] }> {
  return python({ op: 'read', path: file }).sheets;
}

/** A CSV file's rows as Python decodes them (failing when the encoding, or its BOM, is not the one given). */
export function decodeCsv(file: string, encoding: PyEncoding): string[][] {
  return python({ op: 'decode', path: file, encoding }).rows;
}
