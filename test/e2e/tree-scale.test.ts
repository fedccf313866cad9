import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { JsonSnapshotSource } from '../../src/connectors/json-snapshot/source.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { executeRun } from '../../src/runs/run-service.js';
import { openStore } from '../../src/store/open.js';
import {
  ADMIN_PASSWORD,
  ensureConsoleBuilt,
  failOnPageErrors,
  launchBrowser,
  newPage,
  prepareDataDir,
  startOrgsync,
  type Orgsync,
} from './harness.js';

/**
 * 30,000 departments (WeCom's limit) in the 组织架构 tree: it appears, opens completely, and scrolls, with
 * only the rows on screen in the DOM. The directory is imported as a JSON snapshot before the server starts.
 */

const DEPARTMENTS = 30_000;
const FANOUT = 6;

/** Each test fails on a CSP violation or console error in the page. */
const pageErrors = failOnPageErrors();
let orgsync: Orgsync;
let browser: Browser;
let page: Page;

/** A tree as wide as it is deep: department i hangs under (i - 1) / FANOUT; about 6 levels for 30,000. */
function snapshot() {
  const names = [
    '研发中心',
    '产品部',
    '市场部',
    '销售部',
    '华东大区',
    '财务部',
    '人力资源部',
    '客服中心',
    '平台组',
    '数据组',
  ];
  const departments = Array.from({ length: DEPARTMENTS }, (_, i) => ({
    externalId: String(i + 1),
    parentExternalId: i === 0 ? null : String(Math.floor((i - 1) / FANOUT) + 1),
    name: i === 0 ? '示例集团' : `${names[i % names.length]}${i + 1}`,
    order: i,
  }));
  const users = Array.from({ length: 200 }, (_, i) => ({
    externalId: `user${i + 1}`,
    userid: `user${i + 1}`,
    name: `成员${i + 1}`,
    departments: [{ externalId: String((i % 50) + 1) }],
  }));
  return { complete: true, departments, users };
}

beforeAll(async () => {
  const [dataDir] = await Promise.all([prepareDataDir('scale'), ensureConsoleBuilt()]);
  const file = path.join(dataDir, 'snapshot.json');
  writeFileSync(file, JSON.stringify(snapshot()));
  const store = await openStore({ dataDir });
  try {
    const report = await executeRun(store, {
      kind: 'import',
      source: 'json',
      connector: new JsonSnapshotSource(file),
      policy: resolvePolicy({}),
    });
    expect(report.status).toBe('succeeded');
  } finally {
    await store.close();
  }
  [orgsync, browser] = await Promise.all([startOrgsync(dataDir), launchBrowser()]);
  page = await newPage(browser, pageErrors);
  const res = await page.request.post(`${orgsync.url}/api/v1/session`, {
    data: { username: 'admin', password: ADMIN_PASSWORD },
  });
  expect(res.status()).toBe(200);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await orgsync?.close();
});

describe('the department tree at 30,000 departments', () => {
  it('appears, opens completely and scrolls, with only the visible rows in the DOM', async () => {
    // How fast is the benchmark's business (npm run bench:console: time to interactive, expand all, long tasks while
    // scrolling); this test checks what the tree does, whatever the machine's speed.
    await page.goto(`${orgsync.url}/org`);
    await page.getByTestId('tree-row').first().waitFor();

    await page.getByTestId('expand-all').click();
    await expect
      .poll(async () => Number(await page.getByTestId('department-tree').getAttribute('data-rows')))
      .toBe(DEPARTMENTS + 1);
    expect(await page.getByTestId('tree-row').count()).toBeLessThan(100);
    const rowIds = () =>
      page.locator('[data-testid=tree-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
    const atTop = await rowIds();

    await page.getByTestId('department-tree').hover();
    for (let i = 0; i < 30; i++) await page.mouse.wheel(0, 2400);
    await expect
      .poll(() => page.evaluate("document.querySelector('[data-testid=department-tree]').scrollTop"))
      .toBeGreaterThan(30 * 1000);
    // Still only the rows on screen: other rows than at the top, and no more of them.
    await expect.poll(async () => (await rowIds()).filter((id) => atTop.includes(id)).length).toBe(0);
    expect(await page.getByTestId('tree-row').count()).toBeLessThan(100);

    // Finding a department deep in the tree and jumping to it.
    await page.getByTestId('department-filter').fill('平台组29999');
    await page.getByTestId('department-match').first().click();
    await expect.poll(() => page.getByTestId('members-title').textContent()).toContain('平台组29999');
    await expect
      .poll(() => page.locator('[data-testid=tree-row][aria-selected=true]').textContent())
      .toContain('平台组29999');
  });
});
