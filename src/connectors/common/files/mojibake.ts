import { isUtf8 } from 'node:buffer';
import type { SourceWarning } from '../../contract.js';

/**
 * Mojibake of the common kind: UTF-8 bytes that went through a program reading them as Latin-1 or Windows-1252 and
 * saving the characters it saw (`ä¼ä¸å¾®ä¿¡` for `企业微信`). Taking each character back to its byte gives the UTF-8
 * again. Text is repaired only when that succeeds and yields Chinese, so a real `é` or `Ã` is left alone.
 */

/** Windows-1252's characters at 0x80-0x9F; the five bytes it leaves undefined come back as U+0081 etc., as Latin-1. */
const CP1252: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80],
  [0x201a, 0x82],
  [0x0192, 0x83],
  [0x201e, 0x84],
  [0x2026, 0x85],
  [0x2020, 0x86],
  [0x2021, 0x87],
  [0x02c6, 0x88],
  [0x2030, 0x89],
  [0x0160, 0x8a],
  [0x2039, 0x8b],
  [0x0152, 0x8c],
  [0x017d, 0x8e],
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95],
  [0x2013, 0x96],
  [0x2014, 0x97],
  [0x02dc, 0x98],
  [0x2122, 0x99],
  [0x0161, 0x9a],
  [0x203a, 0x9b],
  [0x0153, 0x9c],
  [0x017e, 0x9e],
  [0x0178, 0x9f],
]);

/** A lead byte of a multi-byte UTF-8 sequence, read as Latin-1: every mojibake of Chinese holds one. */
const SUSPECT = /[\u00c2-\u00f4]/;
const CHINESE = /[\p{Script=Han}\u3000-\u303f\uff00-\uffef]/u;

/** The text repaired, or null when it is not mojibake of Chinese. */
export function repairMojibake(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  const bytes = Buffer.allocUnsafe(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c <= 0xff ? c : CP1252.get(c);
    if (b === undefined) return null;
    bytes[i] = b;
  }
  if (!isUtf8(bytes)) return null;
  const repaired = bytes.toString('utf8');
  return CHINESE.test(repaired) ? repaired : null;
}

/** The repairs of one read: every cell is tried, the rows that had one counted, the first kept as the example. */
export class MojibakeRepairs {
  private rows = 0;
  private example: { before: string; after: string } | undefined;

  /** Repairs the cells in place; `count`: whether the row counts (a member's row, not the header). */
  repairRow(cells: string[], count: boolean): void {
    let repaired = false;
    for (let i = 0; i < cells.length; i++) {
      const before = cells[i] as string;
      const after = repairMojibake(before);
      if (after === null) continue;
      cells[i] = after;
      repaired = true;
      this.example ??= { before, after };
    }
    if (repaired && count) this.rows++;
  }

  warning(): SourceWarning | null {
    if (!this.example) return null;
    const { before, after } = this.example;
    return {
      code: 'MOJIBAKE_REPAIRED',
      message: `${this.rows} row(s) held UTF-8 text that had been read as Latin-1/Windows-1252 (mojibake), e.g. "${before}"; it was read as "${after}"`,
      rows: this.rows,
      example: { before, after },
    };
  }
}
