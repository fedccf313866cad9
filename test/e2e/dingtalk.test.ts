import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import {
  ADMIN_PASSWORD,
  ensureConsoleBuilt,
  failOnPageErrors,
  launchBrowser,
  newPage,
  startOrgsync,
  type Orgsync,
} from './harness.js';

/** The DingTalk card, a previewed (dry-run) 钉钉同步 approved from its run, and a plain one: in English, against the DingTalk simulator. */

/** Each test fails on a CSP violation or console error in the page. */
const pageErrors = failOnPageErrors();
let sim: DingtalkSimulator;
let simUrl: string;
let orgsync: Orgsync;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  sim = new DingtalkSimulator({ seed: 5, departments: 20, users: 120 });
  [simUrl, orgsync, browser] = await Promise.all([
    sim.listen(0),
    ensureConsoleBuilt().then(() => startOrgsync()),
    launchBrowser(),
  ]);
  page = await newPage(browser, pageErrors);
  await page.addInitScript(`localStorage.setItem('orgsync.lang', 'en')`);
  await page.goto(orgsync.url);
  await page.locator('input[name=password]').fill(ADMIN_PASSWORD);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('current-user').waitFor();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await orgsync?.close();
  await sim?.close();
});

describe('the DingTalk card', () => {
  it('tests (each check with its verdict and hint), saves and enables a DingTalk connection; a preview is approved, then a sync changes nothing', async () => {
    const by = (id: string) => page.getByTestId(id);
    await by('nav-settings').click();
    expect(await by('nav-settings').textContent()).toBe('Settings');
    await by('dingtalk-corpId').fill(sim.identity.corpId);
    await by('dingtalk-agentId').fill(String(sim.identity.agentId));
    await by('dingtalk-clientId').fill(sim.identity.clientId);
    await by('dingtalk-clientSecret').fill(sim.identity.clientSecret);
    await by('card-dingtalk').locator('summary').click();
    await by('dingtalk-apiBaseUrl').fill(simUrl);

    await by('dingtalk-test').click();
    const result = by('dingtalk-test-result');
    await result.waitFor();
    // The simulated app lacks the 个人手机号信息 permission: a warning with its hint (a sync works), the rest pass.
    expect(await result.getAttribute('data-ok')).toBe('true');
    expect(await result.locator('.test-summary').textContent()).toContain('Passed, with warnings');
    expect(await result.locator('[data-testid=check][data-name=token]').getAttribute('data-ok')).toBe('true');
    expect(await result.locator('[data-testid=check][data-ok=true]').count()).toBeGreaterThanOrEqual(4);
    expect(await result.locator('[data-testid=check][data-ok=false]').count()).toBe(0);
    const warned = result.locator('[data-testid=check][data-level=warning]');
    expect(await warned.count()).toBe(1);
    expect(await warned.getAttribute('data-name')).toBe('mobile');
    expect(await warned.getByTestId('check-hint').textContent()).toContain('个人手机号信息');
    expect(await warned.textContent()).toContain('Mobile and email permission');
    expect(await warned.textContent()).toContain('Warning');

    await by('dingtalk-sync-switch').click();
    await by('dingtalk-save').click();
    await by('dingtalk-saved').waitFor();
    expect(await by('dingtalk-sync-switch').getAttribute('aria-checked')).toBe('true');
    expect(await by('dingtalk-clientSecret').inputValue()).toBe('');

    // A preview (dry run) first: planned, nothing written; approving it applies exactly that plan.
    await by('nav-org').click();
    await by('more-menu').click();
    // The label names the platform once GET /api/v1/platforms has answered (the page asks for it when it opens).
    await expect.poll(() => by('sync-dingtalk').textContent()).toContain('DingTalk sync');
    await by('preview-dingtalk').click();
    await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
    expect(await by('sync-progress').getAttribute('data-status')).toBe('planned');
    expect(Number(await by('department-tree').getAttribute('data-rows'))).toBe(1);

    await by('sync-run-link').click();
    const detail = by('run-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-status')).toBe('planned');
    expect(await by('approve').textContent()).toBe('Approve and apply');
    expect(Number(await by('count-user-create').textContent())).toBe(120);
    page.once('dialog', (d) => void d.accept());
    await by('approve').click();
    await expect.poll(() => detail.getAttribute('data-status'), { timeout: 20_000 }).toBe('succeeded');

    await by('nav-org').click();
    await expect.poll(async () => Number(await by('department-tree').getAttribute('data-rows'))).toBeGreaterThan(1);

    // Then a real sync: nothing left to change.
    await by('more-menu').click();
    await by('sync-dingtalk').click();
    await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
    expect(await by('sync-progress').getAttribute('data-status')).toBe('succeeded');
    expect(await by('sync-progress').textContent()).toContain('No changes');
  });
});
