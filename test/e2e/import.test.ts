import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { viewOfRows, type OrgView } from '../helpers/export-expect.js';
import { readXlsx, writeCsv, writeXlsx } from '../helpers/export-files.js';
import {
  ADMIN_PASSWORD,
  ensureConsoleBuilt,
  failOnPageErrors,
  launchBrowser,
  newPage,
  ROOT,
  screenshot,
  startOrgsync,
  startSimulator,
  type Orgsync,
  type Simulator,
} from './harness.js';

/**
 * 组织架构 → 更多 → 导入通讯录 in real Chromium against the real server, with the contacts export the WeCom simulator
 * writes (GET /__sim/export.xlsx): a file over the bound and one with bad rows are refused with what to fix, the
 * export is previewed (counts, changes field by field, the directory untouched), confirmed, the tree shows it, and
 * the run is in 运行日志 with its template; the same export as a CSV with mojibake shows its warning, before and
 * after. Fails on any CSP violation or console error.
 */

/** The server's upload bound in this test (ORGSYNC_IMPORT_MAX_SIZE). */
const MAX_KIB = 256;
const pageErrors = failOnPageErrors();
let sim: Simulator;
let orgsync: Orgsync;
let browser: Browser;
let page: Page;
let files: string;
let truth: SimOrg;
/** The simulator's export, and what it holds as openpyxl reads it. */
let exportFile: string;
let exported: OrgView;
let exportRows: string[][];

const byTestId = (id: string) => page.getByTestId(id);

beforeAll(async () => {
  const [s, o, b] = await Promise.all([
    startSimulator({ seed: 31, departments: 12, users: 60 }),
    ensureConsoleBuilt().then(() => startOrgsync(undefined, { env: { ORGSYNC_IMPORT_MAX_SIZE: `${MAX_KIB}k` } })),
    launchBrowser(),
  ]);
  sim = s;
  orgsync = o;
  browser = b;
  truth = await sim.truth();
  files = path.join(ROOT, '.bench-data', `e2e-import-files-${process.pid}`);
  mkdirSync(files, { recursive: true });
  const res = await fetch(`${sim.url}/__sim/export.xlsx`);
  if (!res.ok) throw new Error(`the simulator's export: ${res.status}`);
  exportFile = path.join(files, '通讯录.xlsx');
  writeFileSync(exportFile, Buffer.from(await res.arrayBuffer()));
  exportRows = readXlsx(exportFile)[0]?.rows ?? [];
  exported = viewOfRows(exportRows);
  page = await newPage(browser, pageErrors);
  await page.goto(orgsync.url);
  await byTestId('sign-in-form').waitFor();
  await page.locator('input[name=password]').fill(ADMIN_PASSWORD);
  await byTestId('sign-in-submit').click();
  await byTestId('current-user').waitFor();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await orgsync?.close();
  await sim?.sim.close();
  if (files) rmSync(files, { recursive: true, force: true });
});

async function openImport(): Promise<void> {
  await byTestId('nav-org').click();
  await byTestId('more-menu').click();
  await byTestId('import-open').click();
  await byTestId('import-dialog').waitFor();
}

/** Chooses the file in the dialog and waits for the server to have it. */
async function chooseFile(file: string): Promise<void> {
  await byTestId('import-file').setInputFiles(file);
  await byTestId('import-upload').waitFor();
}

async function cancel(): Promise<void> {
  await byTestId('import-dialog').getByRole('button', { name: '取消' }).click();
  await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
}

/** The department with the most direct members among those whose name is unique in the org, and its members. */
function busiestDepartment(org: SimOrg) {
  const names = new Map<string, number>();
  for (const d of org.departments) names.set(d.name, (names.get(d.name) ?? 0) + 1);
  const counts = new Map<number, number>();
  for (const u of org.users) for (const d of u.department) counts.set(d, (counts.get(d) ?? 0) + 1);
  const unique = (id: number) => names.get(org.departments.find((d) => d.id === id)?.name ?? '') === 1;
  const [id, members] = [...counts.entries()].filter(([d]) => unique(d)).sort((a, b) => b[1] - a[1])[0] as [
    number,
    number,
  ];
  const dept = org.departments.find((d) => d.id === id);
  if (!dept) throw new Error(`department ${id} missing`);
  return { dept, members };
}

describe('导入通讯录', () => {
  it("a file over the server's bound: the dialog says so, with the setting to raise", async () => {
    const file = path.join(files, 'too-big.xlsx');
    writeFileSync(file, Buffer.alloc((MAX_KIB + 1) * 1024, 0x20));
    await openImport();
    await byTestId('import-file').setInputFiles(file);
    const error = byTestId('error-box');
    await error.waitFor();
    expect(await error.textContent()).toContain(`${MAX_KIB} KiB`);
    expect(await error.textContent()).toContain('ORGSYNC_IMPORT_MAX_SIZE');
    expect(await error.textContent()).toContain('UPLOAD_TOO_LARGE');
    expect(await byTestId('import-preview').isDisabled()).toBe(true);
    await cancel();
  });

  it('a workbook with bad rows: the preview lists each problem by sheet, row and column, and 确认导入 stays off', async () => {
    const at = exportRows.findIndex((r) => r.includes('姓名') && r.includes('账号'));
    const header = exportRows[at] ?? [];
    const members = exportRows.slice(at + 1);
    const mobile = header.indexOf('手机');
    const account = header.indexOf('账号');
    expect(at).toBeGreaterThan(0);
    const rows = [
      ...exportRows.slice(0, at + 1),
      ...members.map((r, i) =>
        i === 2
          ? r.map((c, k) => (k === mobile ? 'not a phone' : c))
          : i === 5
            ? r.map((c, k) => (k === account ? (members[0]?.[account] ?? '') : c))
            : r,
      ),
    ];
    const file = writeXlsx(path.join(files, '坏的通讯录.xlsx'), [{ name: '成员', rows }]);
    await openImport();
    await chooseFile(file);
    await byTestId('import-preview').click();
    await expect.poll(() => byTestId('import-issue').count()).toBe(2);
    const issues = await byTestId('import-issue').allTextContents();
    // Excel numbers rows from 1, and the members start right after the header: the third, the sixth.
    expect(issues[0]).toContain(`sheet "成员", row ${at + 1 + 3}`);
    expect(issues[0]).toContain('手机');
    expect(issues[1]).toContain(`sheet "成员", row ${at + 1 + 6}`);
    expect(issues[1]).toContain('账号');
    expect(await byTestId('error-box').first().textContent()).toContain('坏的通讯录.xlsx');
    expect(await byTestId('import-apply').isDisabled()).toBe(true);
    await screenshot(page, 'import-issues');
    await cancel();
    expect(await byTestId('org-empty').count()).toBe(1);
  });

  it('the export: its options, a preview with the counts and the first changes field by field, nothing written', async () => {
    await openImport();
    await chooseFile(exportFile);
    expect(await byTestId('import-upload').getAttribute('data-format')).toBe('xlsx');
    // An export file is taken as create-update by default: nobody it leaves out is touched.
    expect(await byTestId('import-template').inputValue()).toBe('create-update');
    expect(await byTestId('import-source').inputValue()).toBe('wecom-export');
    for (const option of ['import-sheet', 'import-start-row', 'import-end-row'])
      expect(await byTestId(option).count(), option).toBe(1);
    expect(await byTestId('import-encoding').count()).toBe(0);
    await byTestId('import-sheet').fill('成员');
    await byTestId('import-preview').click();
    await byTestId('import-preview-result').waitFor();
    const people = Object.keys(exported.people).length;
    expect(await byTestId('count-user-create').textContent()).toBe(String(people));
    expect(await byTestId('count-department-create').textContent()).toBe(
      String(Object.keys(exported.departments).length),
    );
    const person = page.locator('[data-testid=import-change][data-kind=user]').first();
    const account = (await person.locator('.mono').textContent()) ?? '';
    const diffs = (await person.getByTestId('field-diffs').textContent()) ?? '';
    expect(diffs).toContain('姓名');
    expect(diffs).toContain(exported.people[account]?.name);
    expect(diffs).toContain(exported.people[account]?.mobile ?? '');
    expect(await byTestId('import-change').count()).toBe(20);
    await screenshot(page, 'import-preview');
    // Nothing was written: the tree behind the dialog is still empty.
    expect(await byTestId('org-empty').count()).toBe(1);
  });

  it('确认导入 closes the dialog, the import runs, and the tree shows the corp', async () => {
    await byTestId('import-apply').click();
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    const progress = byTestId('sync-progress');
    await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
    expect(await progress.getAttribute('data-status')).toBe('succeeded');
    expect(await progress.textContent()).toContain('导入通讯录（wecom-export）');
    await byTestId('department-tree').waitFor();
    const { dept, members } = busiestDepartment(truth);
    await byTestId('department-filter').fill(dept.name);
    await page.locator(`[data-testid=department-match][data-name="${dept.name}"]`).click();
    await expect.poll(() => byTestId('members-title').textContent()).toContain(dept.name);
    await expect.poll(() => byTestId('member-row').count()).toBe(Math.min(50, members));
  });

  it('the same export as a CSV with mojibake: the preview warns and finds nothing to change; the run keeps the warning', async () => {
    const file = writeCsv(path.join(files, '通讯录.csv'), exportRows, { mojibake: true });
    await openImport();
    await chooseFile(file);
    expect(await byTestId('import-upload').getAttribute('data-format')).toBe('csv');
    expect(await byTestId('import-sheet').count()).toBe(0);
    expect(await byTestId('import-encoding').inputValue()).toBe('auto');
    await byTestId('import-preview').click();
    await byTestId('import-preview-result').waitFor();
    await byTestId('import-no-changes').waitFor();
    const warning = byTestId('import-warnings').locator('li');
    expect(await warning.getAttribute('data-code')).toBe('MOJIBAKE_REPAIRED');
    expect(await warning.textContent()).toContain(String(exportRows[0]?.[0]));
    await byTestId('import-apply').click();
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    await page.locator('[data-testid=sync-progress][data-status=succeeded]').nth(1).waitFor();
  });

  it('运行日志 lists each import beside its preview; a run page shows the template and the warnings', async () => {
    await byTestId('nav-runs').click();
    const rows = byTestId('run-row');
    await expect.poll(() => rows.count()).toBe(5);
    const texts = await rows.allTextContents();
    expect(texts[0]).toMatch(/导入.*wecom-export.*成功/);
    expect(texts[1]).toMatch(/导入.*wecom-export.*预览/);
    expect(texts[2]).toMatch(/导入.*wecom-export.*成功/);
    expect(texts[3]).toMatch(/导入.*wecom-export.*预览/);
    expect(texts[4]).toMatch(/导入.*wecom-export.*失败/);
    await rows.first().click();
    await byTestId('run-detail').waitFor();
    expect(await byTestId('run-template').getAttribute('data-template')).toBe('create-update');
    expect(await byTestId('run-template').textContent()).toBe('新增和更新');
    expect(await byTestId('run-warnings').locator('li').getAttribute('data-code')).toBe('MOJIBAKE_REPAIRED');
    await screenshot(page, 'import-run');
  });

  it('in English too', async () => {
    await byTestId('lang-switch').selectOption('en');
    expect(await byTestId('run-template').textContent()).toBe('Create and update');
    expect(await byTestId('run-warnings').textContent()).toContain('Warnings');
    await openImport();
    expect(await byTestId('import-dialog').locator('h2').textContent()).toBe('Import contacts');
    const file = path.join(files, 'empty.json');
    writeFileSync(file, '{"departments":[],"users":[]}');
    await chooseFile(file);
    expect(await byTestId('import-template').locator('option:checked').textContent()).toBe(
      'Full (create, update and delete)',
    );
    expect(await byTestId('import-sheet').count()).toBe(0);
    await page.keyboard.press('Escape');
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    await byTestId('lang-switch').selectOption('zh-CN');
  });
});
