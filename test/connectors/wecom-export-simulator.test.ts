import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wecom } from '../../src/connectors/wecom/index.js';
import type { Snapshot, SnapshotUser } from '../../src/directory/snapshot.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { xlsxFile } from '../../src/simulator/common/xlsx-writer.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { tempDir } from '../helpers/stores.js';

/**
 * The export reader on the files the WeCom simulator writes with its own writer (not exceljs): what it reads is the
 * corp, exactly, from the workbook and from the CSV in every encoding.
 */

let sim: WecomSimulator;
const dir = tempDir('orgsync-sim-read-');
const files: Record<string, string> = {};

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 29, departments: 120, users: 3000 });
  await sim.listen(0);
  for (const [name, query] of [
    ['corp.xlsx', ''],
    ['corp-utf8.csv', '?format=csv&encoding=utf8'],
    ['corp-bom.csv', '?format=csv&encoding=utf8-bom'],
    ['corp-gb.csv', '?format=csv&encoding=gb18030'],
  ] as const) {
    const res = await fetch(`${sim.url}/__sim/export.xlsx${query}`);
    expect(res.status).toBe(200);
    files[name] = path.join(dir, name);
    writeFileSync(files[name], Buffer.from(await res.arrayBuffer()));
  }
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The snapshot the corp must read as, built from the corp's own records. */
function expectedSnapshot(org: SimOrg): Pick<Snapshot, 'departments' | 'users'> {
  const byId = new Map(org.departments.map((d) => [d.id, d]));
  const pathOf = (id: number): string => {
    const d = byId.get(id);
    if (!d) throw new Error(`no department ${id}`);
    return d.parentid === 0 ? d.name : `${pathOf(d.parentid)}/${d.name}`;
  };
  const users = org.users.filter((u) => u.status !== 5);
  const attributes = [...new Set(users.flatMap((u) => u.extattr.attrs.map((a) => a.name)))];
  const text = (v: string): string | null => (v === '' ? null : v);
  // Departments with members at or below them: the file knows no other.
  const used = new Set<number>();
  for (const u of users) {
    for (let id: number | undefined = u.main_department; id !== undefined && id !== 0; id = byId.get(id)?.parentid)
      used.add(id);
    for (const d of u.department) {
      for (let id: number | undefined = d; id !== undefined && id !== 0; id = byId.get(id)?.parentid) used.add(id);
    }
  }
  return {
    departments: org.departments
      .filter((d) => used.has(d.id))
      .map((d) => ({
        externalId: pathOf(d.id),
        parentExternalId: d.parentid === 0 ? null : pathOf(d.parentid),
        name: d.name,
      })),
    users: users.map((u): SnapshotUser => {
      const main = u.department.indexOf(u.main_department);
      const order = [main, ...u.department.map((_, i) => i).filter((i) => i !== main)];
      const attr = (name: string): string | null => {
        const a = u.extattr.attrs.find((x) => x.name === name);
        return a === undefined ? null : text(a.type === 1 ? (a.web?.url ?? '') : (a.text?.value ?? ''));
      };
      return {
        externalId: u.userid,
        name: u.name,
        alias: text(u.alias),
        position: text(u.position),
        mobile: text(u.mobile),
        email: text(u.email),
        telephone: text(u.telephone),
        gender: u.gender === '1' ? 'male' : u.gender === '2' ? 'female' : null,
        address: text(u.address),
        status: u.status === 2 ? 'disabled' : 'active',
        departments: order.map((i) => ({
          externalId: pathOf(u.department[i] as number),
          leader: u.is_leader_in_dept[i] === 1,
        })),
        mainDepartment: pathOf(u.main_department),
        attributes: {
          企业邮箱: text(u.biz_mail),
          直属上级: text(u.direct_leader.join(';')),
          ...Object.fromEntries(attributes.map((a) => [a, attr(a)])),
        },
      };
    }),
  };
}

const sortById = <T extends { externalId: string }>(list: T[]): T[] =>
  [...list].sort((a, b) => (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0));

describe("the export reader on the simulator's files", () => {
  for (const [name, content] of [
    ['corp.xlsx', 'xlsx'],
    ['corp-utf8.csv', 'csv'],
    ['corp-bom.csv', 'csv'],
    ['corp-gb.csv', 'csv'],
  ] as const) {
    it(`reads ${name} as exactly the corp`, async () => {
      const source = wecom.exportReader?.source(files[name] as string, { content });
      const snapshot = await source?.pull({});
      const expected = expectedSnapshot(sim.corp.snapshot());
      expect(snapshot?.users).toHaveLength(3000);
      expect(JSON.stringify(snapshot)).not.toContain('\uFFFD');
      expect(sortById(snapshot?.departments ?? [])).toEqual(sortById(expected.departments));
      expect(snapshot?.users).toEqual(expected.users);
      expect(source?.stats?.()).toMatchObject({ headerRow: 3, rows: 3000 });
      expect(source?.warnings?.()).toEqual([]);
    });
  }

  it('reads a workbook dense with Chinese exactly, where characters fall across chunk boundaries', async () => {
    const rows: string[][] = [['姓名', '账号', '部门']];
    for (let i = 0; i < 3000; i++) {
      rows.push([`张三丰${'龘'.repeat(i % 5)}${i}`, `u${i}`, `示例科技有限公司/研发中心/第${i % 9}组`]);
    }
    for (const sharedStrings of [false, true]) {
      const file = path.join(dir, `dense-${sharedStrings}.xlsx`);
      const parts: Buffer[] = [];
      for await (const part of xlsxFile([{ name: '成员', rows }], { sharedStrings })) parts.push(part);
      writeFileSync(file, Buffer.concat(parts));
      const snapshot = await wecom.exportReader?.source(file, { content: 'xlsx' }).pull({});
      expect(snapshot?.users.map((u) => u.name)).toEqual(rows.slice(1).map((r) => r[0]));
      expect(JSON.stringify(snapshot)).not.toContain('\uFFFD');
      // Why xlsx.ts reads the parts itself: exceljs 4.4 by itself splits Chinese characters at chunk boundaries
      // into U+FFFD, and loses zip entries now and then. Either way it gets rows wrong on this file; should a
      // later exceljs read it right, the work-arounds in xlsx.ts can go.
      expect(await rowsExceljsGetsWrong(file, new Set(rows.slice(1).map((r) => r.join('\t'))))).toBeGreaterThan(0);
    }
  });
});

async function rowsExceljsGetsWrong(file: string, rows: ReadonlySet<string>): Promise<number> {
  let wrong = 0;
  let seen = 0;
  try {
    for await (const sheet of new ExcelJS.stream.xlsx.WorkbookReader(file, {})) {
      for await (const row of sheet) {
        if (row.number === 1) continue;
        seen++;
        if (!rows.has((row.values as unknown[]).slice(1).join('\t'))) wrong++;
      }
    }
  } catch {
    return rows.size; // it lost the sheet list
  }
  return wrong + (rows.size - seen);
}
