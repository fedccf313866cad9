import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { cellText } from '../../src/connectors/common/files/cell-text.js';
import { parseCsv } from '../../src/connectors/common/files/csv.js';
import { contentOf } from '../../src/connectors/common/files/detect.js';
import { repairMojibake } from '../../src/connectors/common/files/mojibake.js';
import { ValidationError } from '../../src/errors.js';
import { writeCsv, writeXlsx } from '../helpers/export-files.js';
import { tempDir } from '../helpers/stores.js';

/** The file layer under every export reader: content detection, CSV records, cell text, mojibake. */

const dir = tempDir('orgsync-files-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function* chunks(...parts: string[]): AsyncGenerator<string> {
  yield* parts;
}

async function records(...parts: string[]): Promise<string[][]> {
  const out: string[][] = [];
  for await (const r of parseCsv(chunks(...parts))) out.push(r);
  return out;
}

describe('CSV records', () => {
  it('reads RFC 4180: quotes, doubled quotes, commas and line breaks in quotes, CRLF and LF', async () => {
    expect(await records('a,"b,c","d""e"\r\n"x\r\ny",,z\nlast')).toEqual([
      ['a', 'b,c', 'd"e'],
      ['x\r\ny', '', 'z'],
      ['last'],
    ]);
  });

  it('gives the same records however the text is cut into chunks', async () => {
    const text = '姓名,账号\r\n"张,三","zhang""san"\r\n李四,lisi\r\n';
    const whole = await records(text);
    for (let cut = 1; cut < text.length; cut++) {
      expect(await records(text.slice(0, cut), text.slice(cut))).toEqual(whole);
    }
    expect(whole).toEqual([
      ['姓名', '账号'],
      ['张,三', 'zhang"san'],
      ['李四', 'lisi'],
    ]);
  });

  it("keeps a blank line as a record (so row numbers stay Excel's) and is lenient where Excel is", async () => {
    expect(await records('a\r\n\r\nb"c,"d"e\r\n')).toEqual([['a'], [''], ['b"c', 'de']]);
  });

  it('refuses a quote that never closes, naming the record it opened in', async () => {
    await expect(records('a,b\r\nc,"d\r\ne,f')).rejects.toMatchObject({ record: 1 });
  });
});

describe('cell text', () => {
  it('gives numbers in full, rich text joined, formulas by result, dates as written, text as it is', () => {
    expect(cellText(13800138000)).toBe('13800138000');
    expect(cellText(1e21)).toBe('1000000000000000000000');
    expect(cellText(3.25)).toBe('3.25');
    expect(cellText('  张三 ')).toBe('  张三 '); // trimmed by the table, after mojibake repair
    expect(cellText({ richText: [{ text: '张' }, { text: '三' }] })).toBe('张三');
    expect(cellText({ formula: 'A1&B1', result: 'ab' })).toBe('ab');
    expect(cellText({ sharedFormula: 'A1', result: 7 })).toBe('7');
    expect(cellText({ text: 'link', hyperlink: 'https://example.com' })).toBe('link');
    expect(cellText({ error: '#N/A' })).toBe('');
    expect(cellText(true)).toBe('TRUE');
    expect(cellText(new Date(Date.UTC(2024, 2, 1)))).toBe('2024-03-01');
    expect(cellText(new Date(Date.UTC(2024, 2, 1, 9, 30)))).toBe('2024-03-01 09:30');
    expect(cellText('a_x000D_b')).toBe('a\rb');
    expect(cellText(null)).toBe('');
  });
});

describe('mojibake', () => {
  it('repairs UTF-8 read as Windows-1252 or Latin-1 when that gives Chinese, and nothing else', () => {
    // 企业微信 read as Latin-1 shows as ä¼ä¸å¾®ä¿¡: the bytes 0x81 and 0x9A became the invisible U+0081 and U+009A.
    expect(repairMojibake('ä¼\u0081ä¸\u009aå¾®ä¿¡')).toBe('企业微信');
    // Read as Windows-1252, 0x9A is š; 0x81, which 1252 leaves undefined, stays U+0081.
    expect(repairMojibake('ä¼\u0081ä¸šå¾®ä¿¡')).toBe('企业微信');
    // 楠 is E6 A5 A0: its last byte reads as U+00A0, a space to trim, which the table trims only after repair.
    expect(repairMojibake('æ¥\u00a0')).toBe('楠');
    // Bytes that were dropped cannot come back: left as it is.
    expect(repairMojibake('ä¼ä¸å¾®ä¿¡')).toBeNull();
    expect(repairMojibake('José')).toBeNull();
    expect(repairMojibake('Ã©')).toBeNull(); // é: valid UTF-8 again, but not Chinese
    expect(repairMojibake('企业微信')).toBeNull();
    expect(repairMojibake('plain')).toBeNull();
  });
});

describe('content detection', () => {
  const at = (name: string): string => path.join(dir, name);
  const refused = async (file: string, format: 'auto' | 'xlsx' | 'csv'): Promise<ValidationError> => {
    const err = await contentOf(file, format).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  };

  it('tells a workbook, a CSV and a snapshot apart by content, whatever their names say', async () => {
    const csvNamedXlsx = writeCsv(at('members.xlsx'), [['姓名', '账号']]);
    const xlsxNamedCsv = writeXlsx(at('members.csv'), [{ name: 'S', rows: [['姓名', '账号']] }]);
    const snapshot = at('org.xlsx');
    writeFileSync(snapshot, `\uFEFF  {"departments": [], "users": []}`);
    expect(await contentOf(csvNamedXlsx, 'auto')).toBe('csv');
    expect(await contentOf(xlsxNamedCsv, 'auto')).toBe('xlsx');
    expect(await contentOf(snapshot, 'auto')).toBe('snapshot');
    expect(await contentOf(xlsxNamedCsv, 'xlsx')).toBe('xlsx');
    expect(await contentOf(csvNamedXlsx, 'csv')).toBe('csv');
  });

  it('refuses a non-workbook asked for as one, and what no reader takes', async () => {
    const csv = writeCsv(at('fake.xlsx'), [['姓名', '账号']]);
    const notExcel = await refused(csv, 'xlsx');
    expect(notExcel.issues[0]?.message).toBe(
      'the file is not an Excel workbook (.xlsx), whatever its name says: it is a text (CSV) file',
    );
    expect(notExcel.issues[0]?.hint).toMatch(/--format csv/);
    const xls = at('old.xls');
    writeFileSync(xls, Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0, 0, 0]));
    expect((await refused(xls, 'auto')).issues[0]?.message).toMatch(/Excel 97-2003 \(\.xls\) or password-protected/);
    const empty = at('empty.csv');
    writeFileSync(empty, '');
    expect((await refused(empty, 'auto')).issues[0]?.message).toBe('the file is empty');
    const workbook = writeXlsx(at('real.xlsx'), [{ name: 'S', rows: [['x']] }]);
    expect((await refused(workbook, 'csv')).issues[0]?.message).toMatch(/is an Excel workbook/);
  });

  it('refuses a zip that holds no workbook', async () => {
    // One stored entry, its central directory and end record, written by hand.
    const name = Buffer.from('word/document.xml');
    const data = deflateRawSync(Buffer.from('<w/>'));
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt16LE(name.length, 28);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(central.length + name.length, 12);
    end.writeUInt32LE(local.length + name.length + data.length, 16);
    const file = at('doc.xlsx');
    writeFileSync(file, Buffer.concat([local, name, data, central, name, end]));
    expect((await refused(file, 'auto')).issues[0]?.message).toMatch(/a zip archive without a workbook/);
  });
});
