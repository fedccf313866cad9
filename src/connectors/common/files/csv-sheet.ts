import { ValidationError } from '../../../errors.js';
import { parseCsv, UnclosedQuoteError } from './csv.js';
import { openText, type EncodingChoice, type TextEncodingName } from './encoding.js';
import type { Sheet, SheetRow } from './table.js';

async function* rows(records: AsyncIterable<string[]>, name: string): AsyncGenerator<SheetRow> {
  let index = 0;
  try {
    for await (const record of records) yield { index: index++, cells: record };
  } catch (err) {
    if (!(err instanceof UnclosedQuoteError)) throw err;
    throw new ValidationError(name, [
      {
        path: `${name}, row ${err.record + 1}`,
        field: '(quotes)',
        message: 'a cell opens a double quote that is never closed, so the rest of the file would be one cell',
        hint: 'Close the quote (a quote inside a quoted cell is written twice: "").',
      },
    ]);
  }
}

/** A CSV file as the one sheet it is, named by the file, in the encoding asked for or found (see openText). */
export async function csvSheets(
  file: string,
  encoding: EncodingChoice,
  name: string,
): Promise<{ encoding: TextEncodingName; sheets: AsyncIterable<Sheet> }> {
  const text = await openText(file, encoding, name);
  async function* one(): AsyncGenerator<Sheet> {
    yield { name, index: 0, rows: rows(parseCsv(text.chunks), name), skip: () => {} };
  }
  return { encoding: text.encoding, sheets: one() };
}
