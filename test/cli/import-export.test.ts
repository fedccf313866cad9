import { execFile } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { viewOfDirectory, viewOfRows } from '../helpers/export-expect.js';
import { decodeCsv, readXlsx, writeCsv, writeXlsx, type PyCell, type PyEncoding } from '../helpers/export-files.js';
import { tempDir } from '../helpers/stores.js';

/**
 * `orgsync import` of export files, through the built command: the directory after the import equals the file
 * (read by Python, not by orgsync), the sheet and row options select exactly the rows asked, and every bad input
 * exits 2 naming where it is, with the directory unchanged.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/orgsync.js');
const execFileAsync = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function orgsync(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const json = (r: Result): any => JSON.parse(r.stdout.trim());
const work = tempDir('orgsync-import-export-');
let n = 0;
const dataDir = (): string => path.join(work, `data-${++n}`);
const at = (name: string): string => path.join(work, name);

async function directory(data: string): Promise<any> {
  const r = await orgsync(['--data-dir', data, 'directory', 'export', '--json']);
  expect(r.code).toBe(0);
  return json(r);
}

let sim: WecomSimulator;
const simFiles: Record<string, string> = {};

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 41, departments: 50, users: 400 });
  await sim.listen(0);
  for (const [name, query] of [
    ['sim.xlsx', ''],
    ['sim-utf8.csv', '?format=csv&encoding=utf8'],
    ['sim-utf8-bom.csv', '?format=csv&encoding=utf8-bom'],
    ['sim-gb18030.csv', '?format=csv&encoding=gb18030'],
  ] as const) {
    const res = await fetch(`${sim.url}/__sim/export.xlsx${query}`);
    expect(res.status).toBe(200);
    simFiles[name] = at(name);
    writeFileSync(simFiles[name], Buffer.from(await res.arrayBuffer()));
  }
  await sim.close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('orgsync import of an export file: the directory equals the file', () => {
  it("the simulator's workbook, then the same file again changes nothing", async () => {
    const data = dataDir();
    const first = await orgsync(['--data-dir', data, 'import', simFiles['sim.xlsx'] as string, '--json']);
    expect(first.code).toBe(0);
    const report = json(first);
    expect(report).toMatchObject({ kind: 'import', source: 'wecom-export', status: 'succeeded' });
    expect(report.changes.users.create).toBe(400);
    const rows = readXlsx(simFiles['sim.xlsx'] as string)[0]?.rows ?? [];
    const expected = viewOfRows(rows);
    expect(Object.keys(expected.people)).toHaveLength(400);
    // The file holds what the comparison is about: several departments, leaders, disabled people, attributes.
    const people = Object.values(expected.people);
    expect(people.some((p) => p.memberships.length > 1)).toBe(true);
    expect(people.some((p) => p.memberships.some(([, leader]) => leader))).toBe(true);
    expect(people.some((p) => p.status === 'disabled')).toBe(true);
    expect(people.some((p) => Object.keys(p.attributes).length > 1)).toBe(true);
    expect(viewOfDirectory(await directory(data), 'wecom-export')).toEqual(expected);

    const again = await orgsync(['--data-dir', data, 'import', simFiles['sim.xlsx'] as string, '--json']);
    expect(again.code).toBe(0);
    const counts = json(again).changes;
    expect([...Object.values(counts.departments), ...Object.values(counts.users)].every((c) => c === 0)).toBe(true);
  });

  for (const encoding of ['utf8', 'utf8-bom', 'gb18030'] as PyEncoding[]) {
    it(`the simulator's CSV in ${encoding}`, async () => {
      const file = simFiles[`sim-${encoding}.csv`] as string;
      const data = dataDir();
      const r = await orgsync(['--data-dir', data, 'import', file, '--json']);
      expect(r.code).toBe(0);
      expect(viewOfDirectory(await directory(data), 'wecom-export')).toEqual(viewOfRows(decodeCsv(file, encoding)));
    });
  }

  it('a mojibake CSV written by Python: repaired, reported on stderr, and equal to the file it came from', async () => {
    const rows = decodeCsv(simFiles['sim-utf8.csv'] as string, 'utf8');
    const file = writeCsv(at('mojibake.csv'), rows, { mojibake: true });
    const data = dataDir();
    const r = await orgsync(['--data-dir', data, 'import', file, '--source', 'hr-file']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/orgsync: warning: MOJIBAKE_REPAIRED: 400 row\(s\) held UTF-8 text/);
    expect(viewOfDirectory(await directory(data), 'hr-file')).toEqual(viewOfRows(rows));
  });

  it('a workbook written by openpyxl: numbers, synonyms, custom columns', async () => {
    const rows: PyCell[][] = [
      ['员工通讯录'],
      ['姓名', '帐号', '部门', '手机', '邮箱', '部门负责人', '激活状态', '工号'],
      ['张三', 'zhangsan', '示例公司;示例公司/研发部', 13800138000, 'zs@example.com', '是;否', '已激活', 1001],
      ['李四', 'lisi', '示例公司/研发部/后端组', 13900139000, '', '否', '已禁用', 1002],
    ];
    const file = writeXlsx(at('py.xlsx'), [{ name: '通讯录', rows }]);
    const data = dataDir();
    expect((await orgsync(['--data-dir', data, 'import', file])).code).toBe(0);
    const view = viewOfDirectory(await directory(data), 'wecom-export');
    expect(view).toEqual(viewOfRows(readXlsx(file)[0]?.rows ?? []));
    expect(view.people.zhangsan).toMatchObject({ mobile: '13800138000', attributes: { 工号: '1001' } });
  });
});

describe('--sheet, --start-row, --end-row on a two-sheet workbook', () => {
  const sheetA = [
    ['名单 A'],
    ['姓名', '账号', '部门'],
    ...Array.from({ length: 8 }, (_, i) => [`甲${i}`, `a${i}`, '公司/甲部']),
  ];
  const sheetB = [['姓名', '账号', '部门'], ...Array.from({ length: 6 }, (_, i) => [`乙${i}`, `b${i}`, '公司/乙部'])];
  let book: string;
  beforeAll(() => {
    book = writeXlsx(at('two.xlsx'), [
      { name: '正式员工', rows: sheetA },
      { name: '外包', rows: sheetB },
    ]);
  });
  const imported = async (args: string[]): Promise<string[]> => {
    const data = dataDir();
    const r = await orgsync(['--data-dir', data, 'import', book, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return (await directory(data)).users.map((u: { userid: string }) => u.userid).sort();
  };

  it('selects exactly the rows asked for', async () => {
    expect(await imported([])).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7']);
    expect(await imported(['--sheet', '1'])).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
    // Rows count from 0: row 0 of 外包 is its header, rows 2..4 are b1..b3.
    expect(await imported(['--sheet', '外包', '--start-row', '0', '--end-row', '4'])).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(await imported(['--sheet', '0', '--start-row', '1', '--end-row', '3'])).toEqual(['a0', 'a1']);
    expect(await imported(['--sheet', '正式员工', '--end-row', '-1'])).toHaveLength(8);
  });
});

describe('--format auto tells files apart by content', () => {
  it('a CSV named .xlsx, a workbook named .csv and a snapshot named .xlsx are each read as what they are', async () => {
    const csvNamedXlsx = at('members-csv.xlsx');
    copyFileSync(simFiles['sim-utf8.csv'] as string, csvNamedXlsx);
    const xlsxNamedCsv = at('members-xlsx.csv');
    copyFileSync(simFiles['sim.xlsx'] as string, xlsxNamedCsv);
    const snapshot = at('org.xlsx');
    copyFileSync(path.join(ROOT, 'examples/acme-org.json'), snapshot);
    for (const [file, source] of [
      [csvNamedXlsx, 'wecom-export'],
      [xlsxNamedCsv, 'wecom-export'],
      [snapshot, 'json'],
    ] as const) {
      const r = await orgsync(['--data-dir', dataDir(), 'import', file, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r)).toMatchObject({ status: 'succeeded', source });
    }
  });
});

describe('bad input: exit 2, where it is named, the directory unchanged', () => {
  let data: string;
  let before: string;
  const header = ['姓名', '账号', '部门', '手机', '邮箱'];
  const good = (i: number): PyCell[] => [`人${i}`, `p${i}`, '公司/部门', `1380000000${i}`, `p${i}@example.com`];
  beforeAll(async () => {
    data = dataDir();
    expect((await orgsync(['--data-dir', data, 'import', simFiles['sim.xlsx'] as string])).code).toBe(0);
    before = (await orgsync(['--data-dir', data, 'directory', 'export', '--json'])).stdout;
  });

  const cases: Array<[string, () => string, string[], RegExp]> = [
    [
      'a header row without the header (--start-row on a member row)',
      () => writeXlsx(at('bad-header.xlsx'), [{ name: '成员', rows: [header, good(1), good(2)] }]),
      ['--start-row', '1'],
      /sheet "成员", row 2, field "\(header\)": the header row holds no 姓名 and 账号/,
    ],
    [
      'a duplicate account',
      () => writeXlsx(at('bad-dup.xlsx'), [{ name: '成员', rows: [header, good(1), good(2), good(1)] }]),
      [],
      /sheet "成员", row 4 \(user "p1"\), field "账号": the account "p1" is already on row 2/,
    ],
    [
      'an invalid mobile',
      () =>
        writeXlsx(at('bad-mobile.xlsx'), [
          { name: '成员', rows: [header, good(1), ['人2', 'p2', '公司', '138x', '']] },
        ]),
      [],
      /sheet "成员", row 3 \(user "p2"\), field "手机": "138x" is not a mobile number/,
    ],
    [
      'an invalid email',
      () => writeCsv(at('bad-email.csv'), [header, ['人2', 'p2', '公司', '', 'p2@']]),
      [],
      /bad-email\.csv, row 2 \(user "p2"\), field "邮箱": "p2@" is not an email address/,
    ],
    [
      'a department path deeper than 15 levels',
      () =>
        writeXlsx(at('bad-deep.xlsx'), [
          {
            name: '成员',
            rows: [header, ['人2', 'p2', Array.from({ length: 16 }, (_, i) => `L${i}`).join('/'), '', '']],
          },
        ]),
      [],
      /sheet "成员", row 2 \(user "p2"\), field "部门": the path "L0\/.*" is 16 levels deep; WeCom allows at most 15/,
    ],
    [
      'an end row before the start row',
      () => writeXlsx(at('bad-range.xlsx'), [{ name: '成员', rows: [header, good(1)] }]),
      ['--start-row', '3', '--end-row', '1'],
      /--end-row.*the end row 1 is before the start row 3/,
    ],
    [
      'a sheet that does not exist',
      () => writeXlsx(at('bad-sheet.xlsx'), [{ name: '成员', rows: [header, good(1)] }]),
      ['--sheet', '外包'],
      /there is no sheet named "外包"; the sheets are 0: "成员"/,
    ],
    [
      'a file named .xlsx that is not a workbook, given as --format wecom-export',
      () => writeCsv(at('not-excel.xlsx'), [header, good(1)]),
      ['--format', 'wecom-export'],
      /not-excel\.xlsx, field "\(format\)": the file is not an Excel workbook \(\.xlsx\), whatever its name says: it is a text \(CSV\) file/,
    ],
    [
      'a text file that is neither UTF-8 nor GB18030',
      () => {
        const f = at('bad-bytes.csv');
        writeFileSync(f, Buffer.concat([Buffer.from('姓名,账号\n', 'utf8'), Buffer.from([0xff, 0x41, 0x0a])]));
        return f;
      },
      [],
      /neither UTF-8 \(byte 0xFF at offset 14 is not\) nor GB18030/,
    ],
    [
      '--enrich with a connection that does not exist',
      () => simFiles['sim.xlsx'] as string,
      ['--enrich', 'nope'],
      /there is no connection named "nope"/,
    ],
    [
      '--sheet for a CSV file',
      () => simFiles['sim-utf8.csv'] as string,
      ['--sheet', '0'],
      /is a CSV file, which has no sheets/,
    ],
  ];

  for (const [what, make, args, expected] of cases) {
    it(what, async () => {
      const file = make();
      const r = await orgsync(['--data-dir', data, 'import', file, ...args]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout + r.stderr).toMatch(expected);
      const withJson = await orgsync(['--data-dir', data, 'import', file, ...args, '--json']);
      expect(withJson.code).toBe(2);
      const doc = json(withJson);
      const issues = doc.issues ?? doc.errors;
      expect(issues.length).toBeGreaterThan(0);
      for (const issue of issues) expect(issue.hint).toBeTruthy();
      expect((await orgsync(['--data-dir', data, 'directory', 'export', '--json'])).stdout).toBe(before);
    });
  }

  it('lists every bad row at once, up to 100', async () => {
    const rows: PyCell[][] = [header];
    for (let i = 0; i < 120; i++) rows.push([`人${i}`, `q${i}`, '公司', `bad-${i}`, '']);
    const file = writeXlsx(at('bad-many.xlsx'), [{ name: '成员', rows }]);
    const r = await orgsync(['--data-dir', data, 'import', file, '--json']);
    expect(r.code).toBe(2);
    const report = json(r);
    expect(report.status).toBe('failed');
    expect(report.errors).toHaveLength(100);
    expect(report.errors[0].message).toMatch(/^sheet "成员", row 2 \(user "q0"\), field "手机"/);
    expect(report.errors[99].message).toMatch(/21 more problem\(s\) are not listed/);
    expect((await orgsync(['--data-dir', data, 'directory', 'export', '--json'])).stdout).toBe(before);
  });
});
