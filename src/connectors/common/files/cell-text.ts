/**
 * A workbook cell's value as the text an admin sees in it (not yet trimmed: see table.ts): numbers in full (a mobile stored as the number
 * 13800000000 is "13800000000", never "1.38e10"), rich text joined, formulas by their result, dates as
 * YYYY-MM-DD (and the time when there is one), TRUE/FALSE as Excel shows them, errors and blanks as "".
 */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return unescapeText(value);
  if (typeof value === 'number') return numberText(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return dateText(value);
  if (typeof value === 'object') {
    const v = value as { richText?: Array<{ text?: unknown }>; result?: unknown; text?: unknown; error?: unknown };
    if (Array.isArray(v.richText)) return cellText(v.richText.map((run) => String(run.text ?? '')).join(''));
    if ('formula' in v || 'sharedFormula' in v) return cellText(v.result);
    if (v.text !== undefined) return cellText(v.text);
  }
  return '';
}

function numberText(n: number): string {
  if (!Number.isFinite(n)) return '';
  // Integers in full however large (String gives "1e+21" from 10^21 on); fractions as JavaScript writes them.
  return Number.isInteger(n) ? BigInt(n).toString() : String(n);
}

const two = (n: number): string => String(n).padStart(2, '0');

/** exceljs gives a date cell as the UTC instant of its serial number: its UTC fields are the fields written. */
function dateText(d: Date): string {
  if (Number.isNaN(d.getTime())) return '';
  const date = `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  const h = d.getUTCHours();
  const m = d.getUTCMinutes();
  const s = d.getUTCSeconds();
  if (h === 0 && m === 0 && s === 0) return date;
  return `${date} ${two(h)}:${two(m)}${s === 0 ? '' : `:${two(s)}`}`;
}

/** SpreadsheetML escapes characters XML cannot hold as _xHHHH_ (and a literal "_x" as _x005F_). */
function unescapeText(s: string): string {
  return s.includes('_x')
    ? s.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    : s;
}
