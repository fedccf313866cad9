import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportReadOptions, SourceConnector } from '../../src/connectors/contract.js';
import { wecom } from '../../src/connectors/wecom/index.js';
import type { Snapshot } from '../../src/directory/snapshot.js';
import { ValidationError } from '../../src/errors.js';
import { writeCsv, writeXlsx, type PyCell, type PyEncoding } from '../helpers/export-files.js';
import { tempDir } from '../helpers/stores.js';
import { rmSync } from 'node:fs';

/**
 * The WeCom export reader on files written by Python (openpyxl, csv, codecs): columns by header name, departments as
 * paths, leader flags, statuses, encodings and mojibake, and every problem named by sheet, Excel row and column.
 */

const dir = tempDir('orgsync-export-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (ext: string): string => path.join(dir, `f${++n}.${ext}`);

function reader(f: string, options: Partial<ExportReadOptions> & { content: 'xlsx' | 'csv' }): SourceConnector {
  const exportReader = wecom.exportReader;
  if (!exportReader) throw new Error('WeCom has no export reader');
  return exportReader.source(f, options);
}

async function pull(f: string, options: Partial<ExportReadOptions> & { content: 'xlsx' | 'csv' }): Promise<Snapshot> {
  return reader(f, options).pull({});
}

async function refusal(
  f: string,
  options: Partial<ExportReadOptions> & { content: 'xlsx' | 'csv' },
): Promise<ValidationError> {
  const err = await reader(f, options)
    .pull({})
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

const CO = '示例科技有限公司';
const HEADER = [
  '姓名',
  '账号',
  '别名',
  '职务',
  '部门',
  '性别',
  '手机',
  '座机',
  '个人邮箱',
  '企业邮箱',
  '地址',
  '直属上级',
  '部门负责人',
  '激活状态',
  '工号',
];
const MEMBERS: PyCell[][] = [
  [
    '张三',
    'zhangsan',
    'San',
    '总经理',
    CO,
    '男',
    13800000001,
    '010-12345678',
    'zs@example.com',
    'zs@corp.example.com',
    '北京市海淀区',
    '',
    '是',
    '已激活',
    'E001',
  ],
  [
    '李四',
    'lisi',
    '',
    '工程师',
    `${CO}/研发部/后端组;${CO}/产品部`,
    '女',
    '+86 13800000002',
    '',
    'lisi@example.com',
    '',
    '',
    'zhangsan',
    '是;否',
    '未激活',
    'E002',
  ],
  ['王五', 'wangwu', '', '', `${CO}/研发部`, '', '13800000003', '', '', '', '', 'zhangsan', '否', '已禁用', ''],
  [
    '赵六',
    'ZhaoLiu',
    '',
    '设计师',
    `${CO}/产品部；${CO}/研发部/前端组`,
    '男',
    '13800000004',
    '',
    'zl@example.com',
    '',
    '',
    '',
    '否；是',
    '已激活',
    'E004',
  ],
];
const TITLE: PyCell[][] = [[`${CO}通讯录`], ['填写说明：部门填写完整路径，多个部门以;分隔']];

/** What the reader must make of MEMBERS. */
const EXPECTED: Snapshot = {
  complete: true,
  incompleteDepartments: [],
  unseenFields: ['avatar', 'employeeNo'],
  departments: [
    { externalId: CO, parentExternalId: null, name: CO },
    { externalId: `${CO}/研发部`, parentExternalId: CO, name: '研发部' },
    { externalId: `${CO}/研发部/后端组`, parentExternalId: `${CO}/研发部`, name: '后端组' },
    { externalId: `${CO}/产品部`, parentExternalId: CO, name: '产品部' },
    { externalId: `${CO}/研发部/前端组`, parentExternalId: `${CO}/研发部`, name: '前端组' },
  ],
  users: [
    {
      externalId: 'zhangsan',
      name: '张三',
      alias: 'San',
      position: '总经理',
      mobile: '13800000001',
      email: 'zs@example.com',
      telephone: '010-12345678',
      gender: 'male',
      address: '北京市海淀区',
      status: 'active',
      departments: [{ externalId: CO, leader: true }],
      mainDepartment: CO,
      attributes: { 企业邮箱: 'zs@corp.example.com', 直属上级: null, 工号: 'E001' },
    },
    {
      externalId: 'lisi',
      name: '李四',
      alias: null,
      position: '工程师',
      mobile: '+86 13800000002',
      email: 'lisi@example.com',
      telephone: null,
      gender: 'female',
      address: null,
      status: 'active',
      departments: [
        { externalId: `${CO}/研发部/后端组`, leader: true },
        { externalId: `${CO}/产品部`, leader: false },
      ],
      mainDepartment: `${CO}/研发部/后端组`,
      attributes: { 企业邮箱: null, 直属上级: 'zhangsan', 工号: 'E002' },
    },
    {
      externalId: 'wangwu',
      name: '王五',
      alias: null,
      position: null,
      mobile: '13800000003',
      email: null,
      telephone: null,
      gender: null,
      address: null,
      status: 'disabled',
      departments: [{ externalId: `${CO}/研发部`, leader: false }],
      mainDepartment: `${CO}/研发部`,
      attributes: { 企业邮箱: null, 直属上级: 'zhangsan', 工号: null },
    },
    {
      externalId: 'ZhaoLiu',
      name: '赵六',
      alias: null,
      position: '设计师',
      mobile: '13800000004',
      email: 'zl@example.com',
      telephone: null,
      gender: 'male',
      address: null,
      status: 'active',
      departments: [
        { externalId: `${CO}/产品部`, leader: false },
        { externalId: `${CO}/研发部/前端组`, leader: true },
      ],
      mainDepartment: `${CO}/产品部`,
      attributes: { 企业邮箱: null, 直属上级: null, 工号: 'E004' },
    },
  ],
};

describe('the WeCom export reader', () => {
  it('finds the header below the title rows and reads every column by its name', async () => {
    const f = writeXlsx(file('xlsx'), [{ name: '成员', rows: [...TITLE, HEADER, ...MEMBERS] }]);
    const source = reader(f, { content: 'xlsx' });
    expect(await source.pull({})).toEqual(EXPECTED);
    expect(source.stats?.()).toEqual({ file: path.basename(f), content: 'xlsx', sheet: '成员', headerRow: 3, rows: 4 });
    expect(source.warnings?.()).toEqual([]);
  });

  it('does not depend on the order of the columns', async () => {
    const order = HEADER.map((_, i) => i).reverse();
    const shuffle = (row: PyCell[]): PyCell[] => order.map((i) => row[i] ?? '');
    const f = writeXlsx(file('xlsx'), [
      { name: 'S', rows: [HEADER.map((h, i) => HEADER[order[i] as number] ?? h), ...MEMBERS.map(shuffle)] },
    ]);
    const s = await pull(f, { content: 'xlsx' });
    expect(s.users).toEqual(EXPECTED.users);
  });

  it('takes the synonyms: 帐号, 职位, 所在部门, 手机号, 电话, 邮箱, 是否部门内领导, 状态, and marks what the file cannot see', async () => {
    const f = writeXlsx(file('xlsx'), [
      {
        name: 'S',
        rows: [
          ['*姓名', '帐号', '职位', '所在部门（多个用;分隔）', '手机号', '电话', '邮箱', '是否部门内领导', '状态'],
          ['张三', 'zhangsan', '总经理', CO, 13800000001, '010-1', 'zs@example.com', 1, '启用'],
          ['李四', 'lisi', '', `${CO}/研发部;${CO}/产品部`, '', '', '', '0;1', '禁用'],
        ],
      },
    ]);
    const s = await pull(f, { content: 'xlsx' });
    expect(s.unseenFields.sort()).toEqual(['address', 'alias', 'avatar', 'employeeNo', 'gender'].sort());
    expect(s.users).toEqual([
      {
        externalId: 'zhangsan',
        name: '张三',
        position: '总经理',
        mobile: '13800000001',
        telephone: '010-1',
        email: 'zs@example.com',
        status: 'active',
        departments: [{ externalId: CO, leader: true }],
        mainDepartment: CO,
      },
      {
        externalId: 'lisi',
        name: '李四',
        position: null,
        mobile: null,
        telephone: null,
        email: null,
        status: 'disabled',
        departments: [
          { externalId: `${CO}/研发部`, leader: false },
          { externalId: `${CO}/产品部`, leader: true },
        ],
        mainDepartment: `${CO}/研发部`,
      },
    ]);
  });

  it("reads the API's batch CSV header, whose 所在部门 holds department ids, with 排序 and 禁用 (0/1)", async () => {
    const f = writeCsv(file('csv'), [
      [
        '姓名',
        '帐号',
        '手机号',
        '邮箱',
        '所在部门',
        '职位',
        '性别',
        '是否部门内领导',
        '排序',
        '别名',
        '地址',
        '座机',
        '禁用',
        '禁用项说明：(0-启用;1-禁用)',
      ],
      ['张三', 'zhangsan', '13800000001', '', '1', 'CEO', '男', '1', '100', '', '', '', '0', ''],
      ['李四', 'lisi', '13800000002', '', '2;3', '', '女', '0;1', '5;7', '', '', '', '1', ''],
    ]);
    const source = reader(f, { content: 'csv' });
    const s = await source.pull({});
    expect(s.departments).toEqual([
      { externalId: '1', parentExternalId: null },
      { externalId: '2', parentExternalId: null },
      { externalId: '3', parentExternalId: null },
    ]);
    expect(s.users.map((u) => [u.externalId, u.status, u.departments, u.attributes])).toEqual([
      ['zhangsan', 'active', [{ externalId: '1', leader: true, order: 100 }], undefined],
      [
        'lisi',
        'disabled',
        [
          { externalId: '2', leader: false, order: 5 },
          { externalId: '3', leader: true, order: 7 },
        ],
        undefined,
      ],
    ]);
    expect(source.warnings?.()).toEqual([
      {
        code: 'DEPARTMENT_IDS',
        message:
          'the 所在部门 column holds department ids, not paths: those departments were taken as top departments named by their id',
        rows: 2,
      },
    ]);
  });

  it('keeps mobiles stored as numbers whole, dates as written, and any other column as a custom attribute', async () => {
    const f = writeXlsx(file('xlsx'), [
      {
        name: 'S',
        rows: [
          ['姓名', '账号', '手机', '入职日期', '工位', 'Level'],
          ['张三', 'zhangsan', 13800138000, { date: '2024-03-01' }, 'A-3-12', 7],
          ['李四', 'lisi', 8613912345678, { date: '1999-12-31' }, '', 3.5],
        ],
        dates: ['D2', 'D3'],
      },
    ]);
    const s = await pull(f, { content: 'xlsx' });
    expect(s.users.map((u) => [u.mobile, u.attributes])).toEqual([
      ['13800138000', { 入职日期: '2024-03-01', 工位: 'A-3-12', Level: '7' }],
      ['8613912345678', { 入职日期: '1999-12-31', 工位: null, Level: '3.5' }],
    ]);
  });

  it('takes a "/" with a space beside it as part of a department name (WeCom allows "/" in names)', async () => {
    const f = writeCsv(file('csv'), [
      ['姓名', '账号', '部门'],
      ['张三', 'zhangsan', `${CO}/R&D / 平台/一组`],
    ]);
    const s = await pull(f, { content: 'csv' });
    expect(s.departments).toEqual([
      { externalId: CO, parentExternalId: null, name: CO },
      { externalId: `${CO}/R&D / 平台`, parentExternalId: CO, name: 'R&D / 平台' },
      { externalId: `${CO}/R&D / 平台/一组`, parentExternalId: `${CO}/R&D / 平台`, name: '一组' },
    ]);
  });

  it('keeps text that looks like XML entities as it is written (exceljs decodes inline strings twice)', async () => {
    const tricky = ['a&lt;b', 'x&amp;y', '<b> & "q" \'s', '&#38;', 'R&D'];
    const f = writeXlsx(file('xlsx'), [
      {
        name: 'S',
        rows: [
          ['姓名', '账号', ...tricky.map((_, i) => `备注${i}`)],
          ['张三', 'zhangsan', ...tricky],
        ],
      },
    ]);
    const s = await pull(f, { content: 'xlsx' });
    expect(s.users[0]?.attributes).toEqual(Object.fromEntries(tricky.map((t, i) => [`备注${i}`, t])));
  });

  it('with a single 部门负责人 value for several departments, sets it on the main one only', async () => {
    const f = writeCsv(file('csv'), [
      ['姓名', '账号', '部门', '部门负责人'],
      ['张三', 'zhangsan', `${CO}/A;${CO}/B`, '是'],
    ]);
    const s = await pull(f, { content: 'csv' });
    expect(s.users[0]?.departments).toEqual([{ externalId: `${CO}/A`, leader: true }, { externalId: `${CO}/B` }]);
  });
});

describe('text encodings and mojibake', () => {
  const rows = [...TITLE, HEADER, ...MEMBERS];
  for (const encoding of ['utf8', 'utf8-bom', 'gb18030'] as PyEncoding[]) {
    it(`reads a CSV in ${encoding} as the workbook (auto finds the encoding)`, async () => {
      const f = writeCsv(file('csv'), rows, { encoding });
      const source = reader(f, { content: 'csv' });
      expect(await source.pull({})).toEqual(EXPECTED);
      expect(source.stats?.()).toMatchObject({ encoding: encoding === 'gb18030' ? 'gb18030' : 'utf8', headerRow: 3 });
      expect(source.warnings?.()).toEqual([]);
    });
  }

  it('reads LF line ends and cells with quotes, commas and line breaks (a one-line field reads a break as a space)', async () => {
    const f = writeCsv(
      file('csv'),
      [
        ['姓名', '账号', '地址', '职务', '备注'],
        ['张三', 'zhangsan', '北京市, 海淀区\n中关村 "一号"', '经理', '第一行\r\n第二行'],
      ],
      { newline: '\n' },
    );
    const s = await pull(f, { content: 'csv' });
    expect(s.users[0]).toMatchObject({
      address: '北京市, 海淀区 中关村 "一号"',
      position: '经理',
      attributes: { 备注: '第一行\r\n第二行' },
    });
  });

  it('repairs mojibake (UTF-8 read as Windows-1252), header included, and reports it with the rows and an example', async () => {
    const f = writeCsv(file('csv'), rows, { mojibake: true });
    const source = reader(f, { content: 'csv' });
    expect(await source.pull({})).toEqual(EXPECTED);
    const warnings = source.warnings?.() ?? [];
    expect(warnings).toHaveLength(1);
    const [w] = warnings;
    expect(Object.keys(w ?? {}).sort()).toEqual(['code', 'example', 'message', 'rows']);
    expect(w).toMatchObject({ code: 'MOJIBAKE_REPAIRED', rows: 4 });
    expect(w?.example?.after).toBe(`${CO}通讯录`);
    // 示例 is E7 A4 BA E4 BE 8B in UTF-8: ç ¤ º ä ¾ and Windows-1252's ‹ for 0x8B.
    expect(w?.example?.before.startsWith('ç¤ºä¾‹')).toBe(true);
    expect(w?.message).toContain('4 row(s)');
  });

  it('repairs mojibake in a workbook too, and leaves real Latin text alone', async () => {
    const f = writeXlsx(file('xlsx'), [{ name: 'S', rows: [HEADER, ...MEMBERS] }], { mojibake: true });
    const s = await pull(f, { content: 'xlsx' });
    expect(s.users).toEqual(EXPECTED.users);
    // 杜楠 ends in the byte 0xA0, which reads as a no-break space: repaired before the cell is trimmed.
    const nbsp = writeCsv(
      file('csv'),
      [
        ['姓名', '账号'],
        ['杜楠', 'nan.du'],
      ],
      { mojibake: true },
    );
    expect((await pull(nbsp, { content: 'csv' })).users[0]?.name).toBe('杜楠');
    const latin = writeCsv(file('csv'), [
      ['姓名', '账号', '地址'],
      ['José Müller', 'jose', 'Ã la carte'],
    ]);
    const source = reader(latin, { content: 'csv' });
    expect((await source.pull({})).users[0]).toMatchObject({ name: 'José Müller', address: 'Ã la carte' });
    expect(source.warnings?.()).toEqual([]);
  });

  it('refuses a file that is neither UTF-8 nor GB18030, naming both', async () => {
    const f = file('csv');
    writeFileSync(f, Buffer.concat([Buffer.from('姓名,账号\n', 'utf8'), Buffer.from([0xff, 0xfe, 0x41, 0x0a])]));
    const err = await refusal(f, { content: 'csv' });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ field: '(encoding)' });
    expect(err.issues[0]?.message).toMatch(/neither UTF-8 \(byte 0xFF at offset 14 is not\) nor GB18030/);
    expect(err.issues[0]?.hint).toMatch(/CSV UTF-8/);
  });

  it('with --encoding utf8, refuses a GB18030 file; with gb18030 reads it', async () => {
    const f = writeCsv(file('csv'), [HEADER, ...MEMBERS], { encoding: 'gb18030' });
    const err = await refusal(f, { content: 'csv', encoding: 'utf8' });
    expect(err.issues[0]?.message).toMatch(/not UTF-8 text: byte 0x[0-9A-F]{2} at offset \d+/);
    expect((await pull(f, { content: 'csv', encoding: 'gb18030' })).users).toEqual(EXPECTED.users);
  });
});

describe('sheets and rows', () => {
  // Sheet 0 explains; sheet 1 ("成员") has members from row 3 (0-based 2) to row 12; sheet 2 another list.
  const people = (prefix: string, count: number): PyCell[][] =>
    Array.from({ length: count }, (_, i) => [`人${i}`, `${prefix}${i}`, `${CO}/部门${i % 3}`]);
  let workbook: string;
  const workbookFile = (): string =>
    (workbook ??= writeXlsx(file('xlsx'), [
      { name: '说明', rows: [['本文件为通讯录导出'], ['请勿修改表头']] },
      { name: '成员', rows: [['通讯录'], ['说明'], ['姓名', '账号', '部门'], ...people('a', 10)] },
      { name: '外包', rows: [['姓名', '账号', '部门'], ...people('b', 5)] },
    ]));
  const ids = (s: Snapshot): string[] => s.users.map((u) => u.externalId);

  it('by default reads the first sheet whose header it knows', async () => {
    const source = reader(workbookFile(), { content: 'xlsx' });
    expect(ids(await source.pull({}))).toEqual(people('a', 10).map((r) => r[1]));
    expect(source.stats?.()).toMatchObject({ sheet: '成员', headerRow: 3, rows: 10 });
  });

  it('--sheet by position or name, --start-row and --end-row select exactly the rows asked', async () => {
    expect(ids(await pull(workbookFile(), { content: 'xlsx', sheet: 2 }))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(ids(await pull(workbookFile(), { content: 'xlsx', sheet: '外包', startRow: 0, endRow: 2 }))).toEqual([
      'b0',
      'b1',
    ]);
    // Row 2 (0-based) is the header; rows 3..7 are a0..a4.
    expect(ids(await pull(workbookFile(), { content: 'xlsx', sheet: 1, startRow: 2, endRow: 7 }))).toEqual([
      'a0',
      'a1',
      'a2',
      'a3',
      'a4',
    ]);
    expect(ids(await pull(workbookFile(), { content: 'xlsx', sheet: '成员', endRow: -1 }))).toHaveLength(10);
    // Without --sheet, --start-row picks the first sheet with a header at that row.
    expect(ids(await pull(workbookFile(), { content: 'xlsx', startRow: 0, endRow: 1 }))).toEqual(['b0']);
  });

  it('a sheet that does not exist is refused, listing the sheets', async () => {
    for (const sheet of [3, '成员列表'] as const) {
      const err = await refusal(workbookFile(), { content: 'xlsx', sheet });
      expect(err.issues[0]).toMatchObject({ field: '--sheet' });
      expect(err.issues[0]?.message).toContain('the sheets are 0: "说明", 1: "成员", 2: "外包"');
    }
  });

  it('a header row that is not one, and an end row before the start row, are refused', async () => {
    const err = await refusal(workbookFile(), { content: 'xlsx', sheet: '成员', startRow: 3 });
    expect(err.issues[0]).toMatchObject({ path: 'sheet "成员", row 4', field: '(header)' });
    expect(err.issues[0]?.message).toContain('holds no 姓名 and 账号');
    const none = await refusal(workbookFile(), { content: 'xlsx', sheet: 0 });
    expect(none.issues[0]?.message).toContain('no row among the first 200');
    const back = await refusal(workbookFile(), { content: 'xlsx', startRow: 5, endRow: 4 });
    expect(back.issues[0]).toMatchObject({ field: '--end-row' });
  });
});

describe('bad rows: every problem by sheet, Excel row and column', () => {
  it('names a duplicate account, a bad mobile and email, a path deeper than 15 levels, and an empty account', async () => {
    const deep = Array.from({ length: 16 }, (_, i) => `层${i + 1}`).join('/');
    const f = writeXlsx(file('xlsx'), [
      {
        name: '成员',
        rows: [
          ['通讯录'],
          ['姓名', '账号', '部门', '手机', '邮箱'],
          ['张三', 'zhangsan', CO, '138-abc', 'zs@example.com'],
          ['李四', 'lisi', CO, '13800000002', 'not-an-email'],
          ['张三', 'ZhangSan', CO, '13800000003', ''],
          ['王五', 'wangwu', deep, '13800000004', ''],
          ['赵六', '', CO, '13800000005', ''],
        ],
      },
    ]);
    const err = await refusal(f, { content: 'xlsx' });
    expect(err.issues.map((i) => [i.path, i.field, i.object])).toEqual([
      ['sheet "成员", row 3', '手机', 'user "zhangsan"'],
      ['sheet "成员", row 4', '邮箱', 'user "lisi"'],
      ['sheet "成员", row 5', '账号', 'user "ZhangSan"'],
      ['sheet "成员", row 6', '部门', 'user "wangwu"'],
      ['sheet "成员", row 7', '账号', undefined],
    ]);
    expect(err.issues[2]?.message).toContain('already on row 3');
    expect(err.issues[3]?.message).toContain('16 levels deep; WeCom allows at most 15');
    for (const issue of err.issues) expect(issue.hint).toBeTruthy();
  });

  it('reports at most 100 problems at once, counting the rest', async () => {
    const rows: PyCell[][] = [['姓名', '账号', '手机']];
    for (let i = 0; i < 150; i++) rows.push([`人${i}`, `u${i}`, `bad${i}`]);
    const f = writeCsv(file('csv'), rows);
    const err = await refusal(f, { content: 'csv' });
    expect(err.issues).toHaveLength(100);
    expect(err.issues[0]).toMatchObject({ path: `${path.basename(f)}, row 2`, field: '手机', object: 'user "u0"' });
    expect(err.issues[98]?.path).toBe(`${path.basename(f)}, row 100`);
    expect(err.issues[99]).toMatchObject({ field: '(more)', message: '51 more problem(s) are not listed' });
  });

  it('a header without members, and an unclosed quote, are refused', async () => {
    const empty = await refusal(writeCsv(file('csv'), [['姓名', '账号']]), { content: 'csv' });
    expect(empty.issues[0]).toMatchObject({ field: '(rows)' });
    const f = file('csv');
    writeFileSync(f, '姓名,账号\r\n张三,"zhangsan\r\n李四,lisi\r\n');
    const quote = await refusal(f, { content: 'csv' });
    expect(quote.issues[0]).toMatchObject({ path: `${path.basename(f)}, row 2`, field: '(quotes)' });
  });

  it('a workbook that is not one is refused as unreadable', async () => {
    const f = file('xlsx');
    // A zip that claims a workbook but holds garbage where the sheet should be.
    writeFileSync(f, Buffer.from('PK\u0003\u0004 not really a zip', 'latin1'));
    const err = await refusal(f, { content: 'xlsx' });
    expect(err.issues[0]?.field).toBe('(workbook)');
  });
});
