import type { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { ValidationError } from '../../../errors.js';
import { cellText } from './cell-text.js';
import type { Sheet, SheetRow } from './table.js';
import { openZipEntry, readZipDirectory, type ZipEntryInfo } from './zip-directory.js';

/**
 * The sheets of an .xlsx workbook, each streamed row by row by exceljs's streaming WorkbookReader (never the whole
 * workbook at once), its parts taken from the zip by the zip's central directory.
 *
 * Two exceljs 4.4 faults are worked around here:
 * - its own single pass over the zip (unzipper's Parse, paused between entries) loses entries now and then: the
 *   workbook's relationships, its sheet list, even its shared strings, so sheets come out unnamed or blank
 *   (exceljs#3064, unzipper#234). The parts are opened here by name instead, the workbook's lists first.
 * - it decodes each unpacked chunk of XML on its own, so a Chinese character split between two chunks becomes two
 *   U+FFFD (exceljs#2063): each part is decoded here as one stream before its XML parser sees it.
 * - it decodes entities twice in a sheet's inline strings (text `a&lt;b` reads as `a<b`): an `&` written before
 *   what would read as an entity is escaped once more before its parser sees it.
 */

/** The WorkbookReader's own steps (not in its type declarations) that are called here. */
interface ReaderSteps {
  _parseRels(entry: Readable): Promise<void>;
  _parseWorkbook(entry: Readable): Promise<void>;
  _parseStyles(entry: Readable): Promise<void>;
  _parseSharedStrings(entry: Readable): AsyncIterable<unknown>;
  _parseWorksheet(iterator: AsyncIterable<string>, sheetNo: string): Iterable<{ eventType: string; value: unknown }>;
}

interface ReaderState {
  workbookRels?: Array<{ Id: string; Type: string; Target: string }>;
  model?: { sheets?: Array<{ name: string; id: number; rId: string }> };
}

/** What exceljs's sheet reader gives, row by row (its declarations leave the row's number and values loose). */
type SheetReader = AsyncIterable<{ number: number; values: unknown }>;

async function* utf8(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) yield typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** An "&" in the XML (however written) that exceljs would decode a second time along with the text after it. */
const DECODED_TWICE = /&(?:amp|#38|#x26);(?=(?:lt|gt|amp|apos|quot);)/g;
/** The longest tail that may hold the start of such an "&": held back until the next chunk. */
const HELD = 16;

async function* escapeTwiceDecoded(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let held = '';
  for await (const chunk of chunks) {
    const text = held + chunk;
    const amp = text.lastIndexOf('&');
    const cut = amp >= 0 && amp >= text.length - HELD ? amp : text.length;
    held = text.slice(cut);
    yield text.slice(0, cut).replace(DECODED_TWICE, '&amp;amp;');
  }
  if (held) yield held.replace(DECODED_TWICE, '&amp;amp;');
}

function unreadable(name: string, why: string): ValidationError {
  return new ValidationError(name, [
    {
      path: name,
      field: '(workbook)',
      message: `the workbook cannot be read: ${why}`,
      hint: 'Open it in Excel or WPS and save it again as an .xlsx workbook (Excel 工作簿).',
    },
  ]);
}

/** A part's path in the zip from a relationship's target: relative to xl/, or absolute from the package root. */
function partPath(target: string): string {
  return target.startsWith('/') ? target.slice(1) : `xl/${target}`;
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
    throw err instanceof ValidationError ? err : unreadable(name, (err as Error).message);
  }
}

/**
 * The workbook's sheets in tab order, each with its 0-based tab position and name. A sheet must be read, or
 * skipped, before the next one is asked for.
 */
export async function* xlsxSheets(file: string, name: string): AsyncGenerator<Sheet> {
  let parts: Map<string, ZipEntryInfo> | null;
  try {
    parts = await readZipDirectory(file);
  } catch (err) {
    throw unreadable(name, (err as Error).message);
  }
  if (!parts) throw unreadable(name, 'it is not a zip archive, or it is cut short');
  const zip = parts;
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    // Styles tell a date from a number.
    styles: 'cache',
    hyperlinks: 'ignore',
    entries: 'ignore',
  });
  const steps = reader as unknown as ReaderSteps & ReaderState;
  const open = async (path: string): Promise<Readable> => {
    const entry = zip.get(path);
    if (!entry) throw unreadable(name, `it has no ${path}`);
    return openZipEntry(file, entry);
  };
  const text = async (path: string): Promise<Readable> => (await open(path)).setEncoding('utf8');

  try {
    await steps._parseRels(await text('xl/_rels/workbook.xml.rels'));
    await steps._parseWorkbook(await text('xl/workbook.xml'));
    const rels = steps.workbookRels ?? [];
    const target = (type: string, fallback: string): string => {
      const rel = rels.find((r) => r.Type.endsWith(`/${type}`));
      return rel ? partPath(rel.Target) : fallback;
    };
    const sharedStrings = target('sharedStrings', 'xl/sharedStrings.xml');
    if (zip.has(sharedStrings)) for await (const _ of steps._parseSharedStrings(await text(sharedStrings)));
    const styles = target('styles', 'xl/styles.xml');
    if (zip.has(styles)) await steps._parseStyles(await text(styles));
  } catch (err) {
    throw err instanceof ValidationError ? err : unreadable(name, (err as Error).message);
  }

  const tabs = steps.model?.sheets ?? [];
  for (let tab = 0; tab < tabs.length; tab++) {
    const sheet = tabs[tab] as { name: string; id: number; rId: string };
    const rel = steps.workbookRels?.find((r) => r.Id === sheet.rId);
    if (!rel) throw unreadable(name, `the sheet "${sheet.name}" has no part`);
    const path = partPath(rel.Target);
    let source: Readable;
    let reader: SheetReader | undefined;
    try {
      source = await open(path);
      const sheetNo = /sheet(\d+)\.xml$/.exec(path)?.[1] ?? String(sheet.id);
      for (const event of steps._parseWorksheet(escapeTwiceDecoded(utf8(source)), sheetNo)) {
        if (event.eventType === 'worksheet') reader = event.value as SheetReader;
      }
    } catch (err) {
      throw err instanceof ValidationError ? err : unreadable(name, (err as Error).message);
    }
    if (!reader) throw unreadable(name, `the sheet "${sheet.name}" cannot be opened`);
    yield { name: sheet.name, index: tab, rows: rowsOf(reader, name), skip: () => source.destroy() };
  }
}
