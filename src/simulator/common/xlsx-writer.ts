import { zipFile } from './zip-writer.js';

/**
 * A minimal SpreadsheetML (.xlsx) writer: sheets of text and number cells, rows generated as the file is written;
 * text in a shared-string table after the sheets, as Excel writes it, or inline in each cell. The simulators serve
 * their orgs as the platforms' admin-console exports with it.
 */

export type CellValue = string | number;

export interface SheetSource {
  name: string;
  rows: Iterable<readonly CellValue[]>;
}

const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const RELS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PACKAGE_RELS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
/** Rows are deflated in pieces of about this many characters. */
const PIECE = 256 * 1024;

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/_x[0-9A-Fa-f]{4}_/g, (m) => `_x005F${m.slice(1)}`)
    .replace(
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g,
      (c) => `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`,
    );
}

function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

const textXml = (value: string): string =>
  `<t${value.trim() === value ? '' : ' xml:space="preserve"'}>${escapeXml(value)}</t>`;

/** The shared strings met so far, each with its index. */
type SharedStrings = Map<string, number>;

function cellXml(value: CellValue, ref: string, shared: SharedStrings | null): string {
  if (typeof value === 'number') return `<c r="${ref}"><v>${value}</v></c>`;
  if (value === '') return '';
  if (!shared) return `<c r="${ref}" t="inlineStr"><is>${textXml(value)}</is></c>`;
  let index = shared.get(value);
  if (index === undefined) shared.set(value, (index = shared.size));
  return `<c r="${ref}" t="s"><v>${index}</v></c>`;
}

function* sharedStringsXml(shared: SharedStrings): Generator<Buffer> {
  let text = `${XML}<sst xmlns="${MAIN}" uniqueCount="${shared.size}">`;
  for (const value of shared.keys()) {
    text += `<si>${textXml(value)}</si>`;
    if (text.length >= PIECE) {
      yield Buffer.from(text, 'utf8');
      text = '';
    }
  }
  yield Buffer.from(`${text}</sst>`, 'utf8');
}

function* sheetXml(rows: Iterable<readonly CellValue[]>, shared: SharedStrings | null): Generator<Buffer> {
  let text = `${XML}<worksheet xmlns="${MAIN}" xmlns:r="${RELS}"><sheetData>`;
  let r = 0;
  for (const row of rows) {
    r++;
    let cells = '';
    row.forEach((value, c) => {
      cells += cellXml(value, `${columnName(c)}${r}`, shared);
    });
    text += `<row r="${r}">${cells}</row>`;
    if (text.length >= PIECE) {
      yield Buffer.from(text, 'utf8');
      text = '';
    }
  }
  yield Buffer.from(`${text}</sheetData></worksheet>`, 'utf8');
}

const part = (text: string): Buffer[] => [Buffer.from(text, 'utf8')];

/**
 * The workbook's bytes, piece by piece: one sheet's rows are read while it is written. `sharedStrings` (default):
 * text goes to a shared-string table, as Excel and WPS write it; false: inline in the cells.
 */
export async function* xlsxFile(
  sheets: readonly SheetSource[],
  options: { sharedStrings?: boolean } = {},
): AsyncGenerator<Buffer> {
  const shared: SharedStrings | null = options.sharedStrings === false ? null : new Map();
  const overrides =
    sheets
      .map(
        (_, i) =>
          `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`,
      )
      .join('') +
    (shared
      ? '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
      : '');
  const sharedRel = shared
    ? `<Relationship Id="rId${sheets.length + 2}" Type="${RELS}/sharedStrings" Target="sharedStrings.xml"/>`
    : '';
  yield* zipFile([
    {
      name: '[Content_Types].xml',
      data: part(
        `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>${overrides}</Types>`,
      ),
    },
    {
      name: '_rels/.rels',
      data: part(
        `${XML}<Relationships xmlns="${PACKAGE_RELS}"><Relationship Id="rId1" Type="${RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
      ),
    },
    {
      name: 'xl/workbook.xml',
      data: part(
        `${XML}<workbook xmlns="${MAIN}" xmlns:r="${RELS}"><sheets>${sheets.map((s, i) => `<sheet name="${escapeXml(s.name)}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('')}</sheets></workbook>`,
      ),
    },
    {
      name: 'xl/_rels/workbook.xml.rels',
      data: part(
        `${XML}<Relationships xmlns="${PACKAGE_RELS}">${sheets.map((_, i) => `<Relationship Id="rId${i + 1}" Type="${RELS}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`).join('')}<Relationship Id="rId${sheets.length + 1}" Type="${RELS}/styles" Target="styles.xml"/>${sharedRel}</Relationships>`,
      ),
    },
    {
      name: 'xl/styles.xml',
      data: part(
        `${XML}<styleSheet xmlns="${MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`,
      ),
    },
    ...sheets.map((s, i) => ({ name: `xl/worksheets/sheet${i + 1}.xml`, data: sheetXml(s.rows, shared) })),
    // After the sheets, as Excel stores it: the table is complete once they are written.
    ...(shared ? [{ name: 'xl/sharedStrings.xml', data: sharedStringsXml(shared) }] : []),
  ]);
}
