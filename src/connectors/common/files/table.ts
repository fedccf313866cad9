import { ValidationError, type ValidationIssue } from '../../../errors.js';
import type { MojibakeRepairs } from './mojibake.js';

/**
 * One row of a sheet: its 0-based position in the sheet (Excel shows index + 1) and its cells as text (trimmed once
 * the table has repaired them: a trailing byte of mojibake can look like a space).
 */
export interface SheetRow {
  index: number;
  cells: string[];
}

/** A sheet of a workbook, or the one sheet a CSV file is. */
export interface Sheet {
  name: string;
  /** 0-based position among the workbook's tabs. */
  index: number;
  rows: AsyncIterable<SheetRow>;
  /** Passes over the sheet without reading (the rest of) it. */
  skip(): void;
}

/** Which rows to read: `--sheet`, `--start-row`, `--end-row`. */
export interface TableRange {
  sheet?: number | string;
  startRow?: number;
  /** -1 or absent: to the sheet's last row. */
  endRow?: number;
}

/** The header a reader knows, e.g. one holding 姓名 and 账号. */
export interface HeaderRule {
  recognises(cells: readonly string[]): boolean;
  /** What it must hold, in words, for the errors. */
  describe: string;
}

/** The sheet chosen, its header row and the rows after it (up to the end row), blank rows left out. */
export interface Table {
  sheet: string;
  header: SheetRow;
  rows: AsyncIterable<SheetRow>;
  /** Where a row is, as an admin finds it: `sheet "成员", row 12` (Excel's 1-based number). */
  locate(index: number): string;
}

/** How far down a sheet the header is looked for when no --start-row names it. */
export const HEADER_SCAN_ROWS = 200;

const blank = (cells: readonly string[]): boolean => cells.every((c) => c.trim() === '');

/** Repairs mojibake, then trims: U+00A0, the last character of a repairable cell, is also a space to trim. */
function normalise(cells: string[], repairs: MojibakeRepairs, member: boolean): void {
  repairs.repairRow(cells, member);
  for (let i = 0; i < cells.length; i++) cells[i] = (cells[i] as string).trim();
}

export interface OpenTableOptions {
  range: TableRange;
  header: HeaderRule;
  repairs: MojibakeRepairs;
  /** The file, as messages name it. */
  file: string;
  /** A CSV is one sheet whose rows the messages number without a sheet name. */
  csv: boolean;
}

function refuse(file: string, issue: Omit<ValidationIssue, 'path'> & { path?: string }): ValidationError {
  return new ValidationError(file, [{ path: file, ...issue }]);
}

/**
 * Picks the sheet and finds its header row: `--sheet` by position or name, else the first sheet whose header is
 * recognised; the header is the first row read from `--start-row`, or else found among the first HEADER_SCAN_ROWS
 * rows. Text repaired for mojibake before it is looked at, so a repaired header is found too.
 */
export async function openTable(sheets: AsyncIterable<Sheet>, options: OpenTableOptions): Promise<Table> {
  const { range, header: rule, repairs, file } = options;
  const start = range.startRow ?? 0;
  const end = range.endRow === undefined || range.endRow < 0 ? Number.POSITIVE_INFINITY : range.endRow;
  if (end < start) {
    throw refuse(file, {
      field: '--end-row',
      message: `the end row ${range.endRow} is before the start row ${start}`,
      hint: 'Give an --end-row at or after --start-row (rows count from 0; -1 is the last row).',
    });
  }
  const sheetIterator = sheets[Symbol.asyncIterator]();
  const seen: Sheet[] = [];
  const misses: ValidationIssue[] = [];
  const where = (sheet: string, index: number): string =>
    options.csv ? `${sheet}, row ${index + 1}` : `sheet "${sheet}", row ${index + 1}`;

  for (let next = await sheetIterator.next(); !next.done; next = await sheetIterator.next()) {
    const sheet = next.value;
    seen.push(sheet);
    const wanted =
      range.sheet === undefined ||
      (typeof range.sheet === 'number' ? sheet.index === range.sheet : sheet.name === range.sheet);
    if (!wanted) {
      sheet.skip();
      continue;
    }
    const rows = sheet.rows[Symbol.asyncIterator]();
    let header: SheetRow | undefined;
    let firstRead: SheetRow | undefined;
    for (let r = await rows.next(); !r.done; r = await rows.next()) {
      const row = r.value;
      if (row.index < start || blank(row.cells)) continue;
      if (row.index > end) break;
      normalise(row.cells, repairs, false);
      firstRead ??= row;
      if (rule.recognises(row.cells)) header = row;
      if (header || range.startRow !== undefined || row.index >= start + HEADER_SCAN_ROWS) break;
    }
    if (header) {
      return {
        sheet: sheet.name,
        header,
        rows: dataRows(rows, header.index, end, repairs, sheetIterator),
        locate: (index) => where(sheet.name, index),
      };
    }
    await rows.return?.();
    sheet.skip();
    misses.push({
      path: firstRead ? where(sheet.name, firstRead.index) : options.csv ? sheet.name : `sheet "${sheet.name}"`,
      field: '(header)',
      message: firstRead
        ? range.startRow !== undefined
          ? `the header row holds no ${rule.describe}; it holds: ${shown(firstRead.cells)}`
          : `no row among the first ${HEADER_SCAN_ROWS} holds ${rule.describe}`
        : 'there are no rows to read here',
      hint:
        range.startRow !== undefined
          ? `Give --start-row the 0-based row of the header (Excel's row number minus 1), whose cells hold ${rule.describe}.`
          : `Add a header row with ${rule.describe}, or give --start-row the 0-based row of the header.`,
    });
    // A sheet named by --sheet is the one to read: its header is missing.
    if (range.sheet !== undefined) break;
  }
  await drain(sheetIterator);
  const [miss] = misses;
  if (miss && (range.sheet !== undefined || misses.length === 1)) throw new ValidationError(file, [miss]);
  if (range.sheet !== undefined) {
    throw refuse(file, {
      field: '--sheet',
      message: `there is no sheet ${typeof range.sheet === 'number' ? `at position ${range.sheet}` : `named "${range.sheet}"`}; the sheets are ${seen.map((s) => `${s.index}: "${s.name}"`).join(', ') || 'none'}`,
      hint: 'Give --sheet a position from 0 or a name from that list.',
    });
  }
  throw refuse(file, {
    field: '(header)',
    message: `no sheet has a row holding ${rule.describe}${range.startRow === undefined ? ` among its first ${HEADER_SCAN_ROWS} rows` : ` at row ${start + 1}`} (sheets: ${seen.map((s) => `"${s.name}"`).join(', ') || 'none'})`,
    hint: 'Check that this is the contacts export; give --sheet and --start-row to point at the header (rows from 0).',
  });
}

function shown(cells: readonly string[]): string {
  const filled = cells.filter((c) => c !== '');
  const text = filled.slice(0, 12).map((c) => `"${c.length > 20 ? `${c.slice(0, 20)}…` : c}"`);
  return `${text.join(', ')}${filled.length > 12 ? ', …' : ''}`;
}

async function drain(sheets: AsyncIterator<Sheet>): Promise<void> {
  for (let next = await sheets.next(); !next.done; next = await sheets.next()) next.value.skip();
}

async function* dataRows(
  rows: AsyncIterator<SheetRow>,
  headerIndex: number,
  end: number,
  repairs: MojibakeRepairs,
  rest: AsyncIterator<Sheet>,
): AsyncGenerator<SheetRow> {
  for (let r = await rows.next(); !r.done; r = await rows.next()) {
    const row = r.value;
    if (row.index <= headerIndex || blank(row.cells)) continue;
    if (row.index > end) break;
    normalise(row.cells, repairs, true);
    yield row;
  }
  await rows.return?.();
  // Let the workbook reader finish the file (and remove what it unpacked to disk).
  await drain(rest);
}
