import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { decodeCsv, readXlsx, type PyEncoding } from '../helpers/export-files.js';
import { tempDir } from '../helpers/stores.js';
import { startSimulator } from './wecom-client.js';

/**
 * GET /__sim/export.xlsx: the corp as the admin console's export, read back by Python (openpyxl; csv + codecs) and
 * compared with the corp itself.
 */

let sim: WecomSimulator;
const dir = tempDir('orgsync-sim-export-');

beforeAll(async () => {
  ({ sim } = await startSimulator({ seed: 17, departments: 60, users: 600 }));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function download(query: string, name: string): Promise<{ file: string; type: string | null }> {
  const res = await fetch(`${sim.url}/__sim/export.xlsx${query}`);
  expect(res.status).toBe(200);
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return { file, type: res.headers.get('content-type') };
}

/** The export as the corp says it must read, cell by cell, trailing empty cells left off. */
function expectedRows(org: SimOrg): string[][] {
  const byId = new Map(org.departments.map((d) => [d.id, d]));
  const pathOf = (id: number): string => {
    const d = byId.get(id);
    if (!d) throw new Error(`no department ${id}`);
    return d.parentid === 0 ? d.name : `${pathOf(d.parentid)}/${d.name}`;
  };
  const users = org.users.filter((u) => u.status !== 5);
  const attributes = [...new Set(users.flatMap((u) => u.extattr.attrs.map((a) => a.name)))];
  const rows: string[][] = [
    [`${byId.get(1)?.name}通讯录`],
    [
      '填写说明：部门填写从企业开始的完整路径，以“/”分隔；多个部门以“;”分隔，第一个为主部门；部门负责人与部门一一对应。',
    ],
    [
      ...['姓名', '账号', '别名', '职务', '部门', '性别', '手机', '座机', '个人邮箱', '企业邮箱', '地址', '直属上级'],
      ...['部门负责人', '激活状态', ...attributes],
    ],
  ];
  for (const u of users) {
    const main = u.department.indexOf(u.main_department);
    const order = [main, ...u.department.map((_, i) => i).filter((i) => i !== main)];
    const attr = (name: string): string => {
      const a = u.extattr.attrs.find((x) => x.name === name);
      return a === undefined ? '' : a.type === 1 ? (a.web?.url ?? '') : (a.text?.value ?? '');
    };
    rows.push([
      u.name,
      u.userid,
      u.alias,
      u.position,
      order.map((i) => pathOf(u.department[i] as number)).join(';'),
      { '0': '', '1': '男', '2': '女' }[u.gender],
      u.mobile,
      u.telephone,
      u.email,
      u.biz_mail,
      u.address,
      u.direct_leader.join(';'),
      order.map((i) => (u.is_leader_in_dept[i] === 1 ? '是' : '否')).join(';'),
      { 1: '已激活', 2: '已禁用', 4: '未激活', 5: '' }[u.status],
      ...attributes.map(attr),
    ]);
  }
  return rows.map(trimEnd);
}

function trimEnd(row: string[]): string[] {
  let n = row.length;
  while (n > 0 && row[n - 1] === '') n--;
  return row.slice(0, n);
}

describe('the WeCom simulator serves its corp as the admin export', () => {
  it('as an xlsx that openpyxl reads: title and instruction rows, the header, a member per row', async () => {
    const { file, type } = await download('', 'corp.xlsx');
    expect(type).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const sheets = readXlsx(file);
    expect(sheets.map((s) => s.name)).toEqual(['成员']);
    const org = sim.corp.snapshot();
    const expected = expectedRows(org);
    // The corp has what the layout is meant to show: several departments, leaders, custom attributes, statuses.
    expect(org.users.some((u) => u.department.length > 1 && u.main_department !== u.department[0])).toBe(true);
    expect(new Set(org.users.map((u) => u.status))).toEqual(new Set([1, 2, 4]));
    expect((expected[2] ?? []).length).toBeGreaterThan(14);
    expect(sheets[0]?.rows.map(trimEnd)).toEqual(expected);
  });

  for (const encoding of ['utf8', 'utf8-bom', 'gb18030'] as PyEncoding[]) {
    it(`as a CSV in ${encoding}, the same rows`, async () => {
      const { file, type } = await download(`?format=csv&encoding=${encoding}`, `corp-${encoding}.csv`);
      expect(type).toBe(`text/csv; charset=${encoding === 'gb18030' ? 'gb18030' : 'utf-8'}`);
      expect(decodeCsv(file, encoding).map(trimEnd)).toEqual(expectedRows(sim.corp.snapshot()));
    });
  }

  it('follows changes to the corp', async () => {
    const [user] = sim.corp.snapshot().users;
    if (!user) throw new Error('no users');
    const res = await fetch(`${sim.url}/__sim/mutate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operations: [{ op: 'updateUser', user: { userid: user.userid, name: '改名后' } }] }),
    });
    expect(res.status).toBe(200);
    const { file } = await download('?format=csv', 'changed.csv');
    const rows = decodeCsv(file, 'utf8');
    expect(rows.find((r) => r[1] === user.userid)?.[0]).toBe('改名后');
  });

  it('refuses an unknown format or encoding with 400', async () => {
    for (const query of ['?format=xls', '?format=csv&encoding=latin1', '?other=1']) {
      const res = await fetch(`${sim.url}/__sim/export.xlsx${query}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/format=xlsx\|csv/);
    }
  });
});
