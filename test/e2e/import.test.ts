import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileOrg, jsonSnapshotFormat, type FileOrg } from '../helpers/import-files.js';
import {
  ADMIN_PASSWORD,
  ensureConsoleBuilt,
  failOnPageErrors,
  launchBrowser,
  newPage,
  ROOT,
  screenshot,
  startOrgsync,
  type Orgsync,
} from './harness.js';

/**
 * 组织架构 → 更多 → 导入通讯录 in real Chromium against the real server: a file with bad rows is refused with the
 * rows named, a generated file is previewed (counts, changes field by field, the directory untouched), confirmed,
 * the tree shows it, and the run is in 运行日志 with its template. Fails on any CSP violation or console error.
 */

const PEOPLE = 40;
/** The server's upload bound in this test (ORGSYNC_IMPORT_MAX_SIZE). */
const MAX_KIB = 256;
const pageErrors = failOnPageErrors();
let orgsync: Orgsync;
let browser: Browser;
let page: Page;
let files: string;
let org: FileOrg;

const byTestId = (id: string) => page.getByTestId(id);

beforeAll(async () => {
  const [o, b] = await Promise.all([
    ensureConsoleBuilt().then(() => startOrgsync(undefined, { env: { ORGSYNC_IMPORT_MAX_SIZE: `${MAX_KIB}k` } })),
    launchBrowser(),
  ]);
  orgsync = o;
  browser = b;
  files = path.join(ROOT, '.bench-data', `e2e-import-files-${process.pid}`);
  mkdirSync(files, { recursive: true });
  org = fileOrg(PEOPLE);
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

describe('导入通讯录', () => {
  it("a file over the server's bound: the dialog says so, with the setting to raise", async () => {
    const file = path.join(files, 'too-big.json');
    writeFileSync(file, Buffer.alloc((MAX_KIB + 1) * 1024, 0x20));
    await openImport();
    await byTestId('import-file').setInputFiles(file);
    const error = byTestId('error-box');
    await error.waitFor();
    expect(await error.textContent()).toContain(`${MAX_KIB} KiB`);
    expect(await error.textContent()).toContain('ORGSYNC_IMPORT_MAX_SIZE');
    expect(await error.textContent()).toContain('UPLOAD_TOO_LARGE');
    expect(await byTestId('import-preview').isDisabled()).toBe(true);
    await byTestId('import-dialog').getByRole('button', { name: '取消' }).click();
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
  });

  it('a file with bad rows: the preview lists each problem by where it is, and 确认导入 stays off', async () => {
    const bad: FileOrg = {
      ...org,
      people: org.people.map((p, i) =>
        i === 3 ? { ...p, mobile: 'not a phone' } : i === 7 ? { ...p, email: 'nobody-at-example' } : p,
      ),
    };
    const file = jsonSnapshotFormat.write(bad, files, '坏的通讯录');
    await openImport();
    await chooseFile(file);
    await byTestId('import-preview').click();
    await expect.poll(() => byTestId('import-issue').count()).toBe(2);
    const issues = await byTestId('import-issue').allTextContents();
    expect(issues[0]).toContain('users[3]');
    expect(issues[0]).toContain('mobile');
    expect(issues[1]).toContain('users[7]');
    expect(await byTestId('error-box').first().textContent()).toContain('坏的通讯录.json');
    expect(await byTestId('import-apply').isDisabled()).toBe(true);
    await byTestId('import-dialog').getByRole('button', { name: '取消' }).click();
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    expect(await byTestId('org-empty').count()).toBe(1);
  });

  it('preview shows the counts and the first changes field by field, and writes nothing', async () => {
    const file = jsonSnapshotFormat.write(org, files, '通讯录');
    await openImport();
    await chooseFile(file);
    expect(await byTestId('import-upload').getAttribute('data-format')).toBe('snapshot');
    // A snapshot is taken whole by default; an export file would default to create-update.
    expect(await byTestId('import-template').inputValue()).toBe('full');
    await byTestId('import-template').selectOption('create-update');
    await byTestId('import-source').fill('hr');
    await byTestId('import-preview').click();
    const result = byTestId('import-preview-result');
    await result.waitFor();
    expect(await byTestId('count-user-create').textContent()).toBe(String(PEOPLE));
    expect(await byTestId('count-department-create').textContent()).toBe(String(org.departments.length));
    const person = page.locator('[data-testid=import-change][data-kind=user]').first();
    const diffs = await person.getByTestId('field-diffs').textContent();
    expect(diffs).toContain('手机');
    expect(diffs).toContain(org.people[0]?.mobile);
    expect(await byTestId('import-change').count()).toBe(20);
    await screenshot(page, 'import-preview');
    // Nothing was written: the tree behind the dialog is still empty.
    expect(await byTestId('org-empty').count()).toBe(1);
  });

  it('确认导入 closes the dialog, the import runs, and the tree shows the file', async () => {
    await byTestId('import-apply').click();
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    const progress = byTestId('sync-progress');
    await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
    expect(await progress.getAttribute('data-status')).toBe('succeeded');
    expect(await progress.textContent()).toContain('导入通讯录（hr）');
    await byTestId('department-tree').waitFor();
    const names = await page.locator('[data-testid=tree-row] .tree-name').allTextContents();
    expect(names).toEqual(expect.arrayContaining(['公司', '研发', '市场']));
    await page.locator('[data-testid=tree-row]', { hasText: '财务' }).click();
    const inFinance = org.people.filter((p) => p.departments.includes('公司/财务'));
    await expect.poll(() => byTestId('member-row').count()).toBe(inFinance.length);
  });

  it('the run is in 运行日志 beside its preview, and its page shows the template', async () => {
    await byTestId('nav-runs').click();
    const rows = byTestId('run-row');
    await expect.poll(() => rows.count()).toBe(3);
    const texts = await rows.allTextContents();
    expect(texts[0]).toMatch(/导入.*hr.*成功/);
    expect(texts[1]).toMatch(/导入.*hr.*预览/);
    expect(texts[2]).toMatch(/导入.*json.*失败/);
    await rows.first().click();
    await byTestId('run-detail').waitFor();
    expect(await byTestId('run-template').getAttribute('data-template')).toBe('create-update');
    expect(await byTestId('run-template').textContent()).toBe('新增和更新');
  });

  it('in English too', async () => {
    await byTestId('lang-switch').selectOption('en');
    expect(await byTestId('run-template').textContent()).toBe('Create and update');
    await openImport();
    expect(await byTestId('import-dialog').locator('h2').textContent()).toBe('Import contacts');
    const file = path.join(files, 'empty.json');
    writeFileSync(file, '{"departments":[],"users":[]}');
    await chooseFile(file);
    expect(await byTestId('import-template').locator('option:checked').textContent()).toBe(
      'Full (create, update and delete)',
    );
    await page.keyboard.press('Escape');
    await expect.poll(() => byTestId('import-dialog').count()).toBe(0);
    await byTestId('lang-switch').selectOption('zh-CN');
  });
});
