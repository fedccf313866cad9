import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { ValidationError } from '../../../errors.js';
import { cellText } from './cell-text.js';
import type { Sheet, SheetRow } from './table.js';

/**
 * The sheets of an .xlsx workbook, streamed by exceljs's WorkbookReader: rows are read as they are unpacked, never
 * the whole workbook at once.
 */

type Entry = Readable;
/** The WorkbookReader's own steps (not in its type declarations) that this file wraps. */
interface ReaderSteps {
  _parseRels(entry: Entry): Promise<void>;
  _parseWorkbook(entry: Entry): Promise<void>;
  _parseStyles(entry: Entry): Promise<void>;
  _parseSharedStrings(entry: Entry): AsyncGenerator<unknown>;
  _parseWorksheet(iterator: AsyncIterable<Buffer | string>, sheetNo: string): Generator<unknown>;
}
const steps = ExcelJS.stream.xlsx.WorkbookReader.prototype as unknown as ReaderSteps;

async function* utf8(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) yield typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}

/**
 * exceljs 4.4 decodes each unpacked chunk of XML on its own, so a Chinese character split between two chunks comes
 * out as two U+FFFD (exceljs issues #2063, #2084; every few thousand rows of a Chinese export). Here every part's
 * bytes are decoded as one stream before exceljs's XML parser sees them.
 */
class WholeTextWorkbookReader extends ExcelJS.stream.xlsx.WorkbookReader {
  /** Each sheet's reader: the bytes behind it (so a sheet passed over can be closed), its name and tab position. */
  readonly sheets = new WeakMap<object, { source: AsyncIterable<Buffer | string>; name?: string; tab?: number }>();

  _parseRels(entry: Entry): Promise<void> {
    entry.setEncoding('utf8');
    return steps._parseRels.call(this, entry);
  }

  _parseWorkbook(entry: Entry): Promise<void> {
    entry.setEncoding('utf8');
    return steps._parseWorkbook.call(this, entry);
  }

  _parseStyles(entry: Entry): Promise<void> {
    entry.setEncoding('utf8');
    return steps._parseStyles.call(this, entry);
  }

  _parseSharedStrings(entry: Entry): AsyncGenerator<unknown> {
    entry.setEncoding('utf8');
    return steps._parseSharedStrings.call(this, entry);
  }

  *_parseWorksheet(iterator: AsyncIterable<Buffer | string>, sheetNo: string): Generator<unknown> {
    for (const event of steps._parseWorksheet.call(this, utf8(iterator), sheetNo)) {
      const { eventType, value } = event as { eventType: string; value: object };
      if (eventType === 'worksheet') this.sheets.set(value, { source: iterator, ...this.tabOf(sheetNo) });
      yield event;
    }
  }

  /**
   * The sheet's name and tab position, from the workbook's relationships. exceljs matches only relative targets
   * (`worksheets/sheet1.xml`); openpyxl writes absolute ones (`/xl/worksheets/sheet1.xml`), which it leaves unnamed.
   */
  private tabOf(sheetNo: string): { name?: string; tab?: number } {
    const self = this as unknown as {
      workbookRels?: Array<{ Id: string; Target: string }>;
      model?: { sheets?: Array<{ name: string; rId: string }> };
    };
    const target = `worksheets/sheet${sheetNo}.xml`;
    const rel = self.workbookRels?.find((r) => r.Target.replace(/^\/?(xl\/)?/, '') === target);
    const tabs = self.model?.sheets ?? [];
    const tab = rel ? tabs.findIndex((t) => t.rId === rel.Id) : -1;
    return tab < 0 ? {} : { name: (tabs[tab] as { name: string }).name, tab };
  }
}

/** What exceljs sets on a sheet's reader (its declarations leave these out). */
interface SheetReader extends AsyncIterable<{ number: number; values: unknown }> {
  name?: string;
}

function unreadable(name: string, err: unknown): ValidationError {
  return new ValidationError(name, [
    {
      path: name,
      field: '(workbook)',
      message: `the workbook cannot be read: ${(err as Error).message}`,
      hint: 'Open it in Excel or WPS and save it again as an .xlsx workbook (Excel 工作簿).',
    },
  ]);
}

async function* rowsOf(reader: SheetReader, name: string): AsyncGenerator<SheetRow> {
  let last = -1;
  try {
    for await (const row of reader) {
      // A row written without its number (r is optional) follows the one before.
      const index = Number.isInteger(row.number) && row.number > 0 ? row.number - 1 : last + 1;
      last = index;
      const values = row.values as unknown[];
      const cells: string[] = new Array<string>(Math.max(0, values.length - 1));
      for (let c = 1; c < values.length; c++) cells[c - 1] = cellText(values[c]);
      yield { index, cells };
    }
  } catch (err) {
    throw err instanceof ValidationError ? err : unreadable(name, err);
  }
}

/**
 * The workbook's sheets in the order the file holds them (Excel and WPS write them in tab order), each with its
 * 0-based position among the tabs and its name. A sheet must be read, or skipped, before the next one is asked for.
 */
export async function* xlsxSheets(file: string, name: string): AsyncGenerator<Sheet> {
  const input = createReadStream(file);
  const reader = new WholeTextWorkbookReader(input, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    // Styles tell a date from a number.
    styles: 'cache',
    hyperlinks: 'ignore',
    entries: 'ignore',
  });
  let ordinal = 0;
  try {
    for await (const sheet of reader as AsyncIterable<SheetReader>) {
      const known = reader.sheets.get(sheet);
      const sheetName = known?.name ?? sheet.name ?? `Sheet${ordinal + 1}`;
      yield {
        name: sheetName,
        index: known?.tab ?? ordinal,
        rows: rowsOf(sheet, name),
        skip: () => (known?.source as Partial<Readable> | undefined)?.destroy?.(),
      };
      ordinal++;
    }
  } catch (err) {
    throw err instanceof ValidationError ? err : unreadable(name, err);
  } finally {
    input.destroy();
  }
}
