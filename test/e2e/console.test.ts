import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { PLATFORMS } from '../../src/connectors/registry.js';
import { openStore } from '../../src/store/open.js';
import {
  ADMIN_PASSWORD,
  ensureConsoleBuilt,
  failOnPageErrors,
  launchBrowser,
  newPage,
  screenshot,
  startOrgsync,
  startSimulator,
  type Orgsync,
  type Simulator,
} from './harness.js';

/**
 * The admin console in real Chromium against the real server and the WeCom simulator: sign in, connect and test,
 * sync from 组织架构, read the run, and approve a run the deletion guard stopped. Each step leaves a screenshot in
 * docs/screenshots/. The steps build on each other and run in order.
 */

const USERS = 300;
/** More than the guard's 50 users and 20% of them: the sync after these leave must wait for approval. */
const LEAVERS = 100;

/** Each test fails on a CSP violation or console error in the page. */
const pageErrors = failOnPageErrors();
let sim: Simulator;
let orgsync: Orgsync;
let browser: Browser;
let page: Page;
let truth: SimOrg;
/** Every /api response body the console received, to prove no secret ever reached the browser. */
const apiBodies: string[] = [];

beforeAll(async () => {
  const [s, o, b] = await Promise.all([
    startSimulator({ seed: 11, departments: 40, users: USERS }),
    ensureConsoleBuilt().then(() => startOrgsync()),
    launchBrowser(),
  ]);
  sim = s;
  orgsync = o;
  browser = b;
  truth = await sim.truth();
  page = await newPage(browser, pageErrors);
  page.on('dialog', (d) => void d.accept());
  page.on('response', (res) => {
    if (new URL(res.url()).pathname.startsWith('/api/')) {
      res.text().then(
        (t) => apiBodies.push(t),
        () => {},
      );
    }
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await orgsync?.close();
  await sim?.sim.close();
});

const byTestId = (id: string) => page.getByTestId(id);

/** The department with the most direct members among those whose name is unique (so a name search finds it), and its members. */
function busiestDepartment(org: SimOrg) {
  const names = new Map<string, number>();
  for (const d of org.departments) names.set(d.name, (names.get(d.name) ?? 0) + 1);
  const counts = new Map<number, number>();
  for (const u of org.users) for (const d of u.department) counts.set(d, (counts.get(d) ?? 0) + 1);
  const unique = (id: number) => names.get(org.departments.find((d) => d.id === id)?.name ?? '') === 1;
  const [id] = [...counts.entries()].filter(([d]) => unique(d)).sort((a, b) => b[1] - a[1])[0] as [number, number];
  const dept = org.departments.find((d) => d.id === id);
  if (!dept) throw new Error(`department ${id} missing`);
  return { dept, members: org.users.filter((u) => u.department.includes(id)) };
}

async function fillWecomCard(secret: string) {
  await byTestId('wecom-corpId').fill(sim.sim.identity.corpId);
  await byTestId('wecom-agentId').fill(String(sim.sim.identity.agentId));
  await byTestId('wecom-secret').fill(secret);
  const details = byTestId('card-wecom').locator('details');
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  await byTestId('wecom-apiBaseUrl').fill(sim.url);
}

async function testConnection() {
  await byTestId('wecom-test').click();
  const result = byTestId('wecom-test-result');
  await result.waitFor();
  return result;
}

async function syncFromOrgPage(): Promise<string> {
  await byTestId('nav-org').click();
  await byTestId('more-menu').click();
  await byTestId('sync-wecom').click();
  const progress = byTestId('sync-progress');
  await progress.waitFor();
  await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
  return (await progress.getAttribute('data-status')) ?? '';
}

describe('the admin console', () => {
  it('signs in (a wrong password is refused with the API message)', async () => {
    await page.goto(orgsync.url);
    await byTestId('sign-in-form').waitFor();
    await screenshot(page, 'sign-in');

    await page.locator('input[name=password]').fill('not-the-password');
    await byTestId('sign-in-submit').click();
    await expect.poll(() => byTestId('error-box').textContent()).toBeTruthy();

    await page.locator('input[name=password]').fill(ADMIN_PASSWORD);
    await byTestId('sign-in-submit').click();
    await expect.poll(() => byTestId('current-user').textContent()).toBe('admin');
    expect(await byTestId('nav-settings').textContent()).toBe('企业设置');
  });

  it('switches to English and back, and remembers the choice', async () => {
    await byTestId('lang-switch').selectOption('en');
    expect(await byTestId('nav-settings').textContent()).toBe('Settings');
    await page.reload();
    await expect.poll(() => byTestId('nav-settings').textContent()).toBe('Settings');
    await byTestId('lang-switch').selectOption('zh-CN');
    expect(await byTestId('nav-org').textContent()).toBe('组织架构');
  });

  it('企业设置: a card per platform of the registry, its fields labelled as the registry says, in both languages', async () => {
    await byTestId('nav-settings').click();
    await byTestId('card-wecom').waitFor();
    for (const lang of ['en', 'zh-CN'] as const) {
      await byTestId('lang-switch').selectOption(lang);
      for (const d of PLATFORMS) {
        const card = byTestId(`card-${d.id}`);
        expect(await card.locator('h2').textContent()).toBe(lang === 'en' ? d.names.en : d.names.zh);
        for (const key of [...Object.keys(d.settings.shape), ...Object.keys(d.secrets.shape)]) {
          const text = d.fields[key];
          // Callback secrets show once a saved connection lists them: none is saved yet.
          if (text?.place === 'callback') continue;
          const label = card.locator(`label[for="${await card.getByTestId(`${d.id}-${key}`).getAttribute('id')}"]`);
          expect(await label.textContent()).toContain(lang === 'en' ? text?.label.en : text?.label.zh);
        }
      }
    }
  });

  it('企业设置: a malformed 企业ID is refused on 保存 with the field marked', async () => {
    await byTestId('nav-settings').click();
    await byTestId('card-wecom').waitFor();
    await fillWecomCard(sim.sim.identity.secret);
    await byTestId('wecom-corpId').fill('not-a-corp-id');
    await byTestId('wecom-save').click();
    const field = page.locator('.field-invalid', { has: byTestId('wecom-corpId') });
    await field.waitFor();
    expect(await field.locator('.field-error').textContent()).toContain('corpId');
    expect(await byTestId('card-wecom').getAttribute('data-connection')).toBe('');
  });

  it('企业设置: the WeCom card against the simulator passes 测试连接', async () => {
    await fillWecomCard(sim.sim.identity.secret);
    const result = await testConnection();
    expect(await result.getAttribute('data-ok')).toBe('true');
    const checks = result.getByTestId('check');
    expect(await checks.count()).toBeGreaterThanOrEqual(3);
    expect(await result.locator('[data-testid=check][data-ok=false]').count()).toBe(0);
    await screenshot(page, 'settings');
  });

  it('a wrong secret fails 测试连接 with the failing check and its hint', async () => {
    await byTestId('wecom-secret').fill(`Wrong0Secret0${'x'.repeat(30)}`);
    const result = await testConnection();
    expect(await result.getAttribute('data-ok')).toBe('false');
    const failed = result.locator('[data-testid=check][data-ok=false]').first();
    expect(await failed.getAttribute('data-name')).toBe('token');
    // The console asks in its language: the message and the hint are Chinese.
    expect(await failed.textContent()).toContain('企业微信拒绝了企业');
    expect(await failed.getByTestId('check-hint').textContent()).toContain('重新复制秘钥');
    await screenshot(page, 'settings-test-failed');
  });

  it('saves the card with the right secret (shown masked, never sent back) and turns 开启同步 on', async () => {
    await byTestId('wecom-secret').fill(sim.sim.identity.secret);
    await byTestId('wecom-save').click();
    await byTestId('wecom-saved').waitFor();
    expect(await byTestId('card-wecom').getAttribute('data-connection')).toBe('wecom');
    expect(await byTestId('wecom-secret').inputValue()).toBe('');
    expect(await byTestId('wecom-secret').getAttribute('placeholder')).toContain('••••••');

    const toggle = byTestId('wecom-sync-switch');
    expect(await toggle.getAttribute('aria-checked')).toBe('false');
    await toggle.click();
    await expect.poll(() => toggle.getAttribute('aria-checked')).toBe('true');

    // A saved card tests with the stored secret when none is typed.
    const result = await testConnection();
    expect(await result.getAttribute('data-ok')).toBe('true');
  });

  it('定时全量同步: the card shows the schedule and its next run; a bad expression is refused under the field; a new one is saved', async () => {
    const card = byTestId('card-wecom');
    const input = byTestId('wecom-reconcileCron');
    expect(await card.locator('label').filter({ hasText: '定时全量同步' }).count()).toBe(1);
    expect(await input.inputValue()).toBe('0 2 * * *');
    expect(await byTestId('wecom-reconcile-next').textContent()).toContain('下次运行');

    await input.fill('every night');
    await byTestId('wecom-save').click();
    const field = page.locator('.field-invalid', { has: input });
    await field.waitFor();
    expect(await field.locator('.field-error').textContent()).toMatch(
      /^schedule\.reconcileCron: "every night" has 2 fields.*"0 2 \* \* \*"/,
    );

    await input.fill('30 1 * * *');
    await byTestId('wecom-save').click();
    await byTestId('wecom-saved').waitFor();
    await expect.poll(() => page.locator('.field-invalid', { has: input }).count()).toBe(0);
    const stored = await page.evaluate(
      async () =>
        (await (await fetch('/api/v1/connections/wecom')).json()) as {
          reconcileCron: string | null;
          schedule: { reconcileCron: string | null };
          nextReconcileAt: string | null;
        },
    );
    expect(stored.schedule).toStrictEqual({ reconcileCron: '30 1 * * *' });
    expect(stored.reconcileCron).toBe('30 1 * * *');
    expect(stored.nextReconcileAt).toBeTruthy();
    expect(await input.inputValue()).toBe('30 1 * * *');

    await byTestId('lang-switch').selectOption('en');
    expect(await card.locator('label').filter({ hasText: 'Scheduled full sync' }).count()).toBe(1);
    expect(await byTestId('wecom-reconcile-next').textContent()).toContain('Next run');
    await byTestId('lang-switch').selectOption('zh-CN');
  });

  it('组织架构: 更多 → 企业微信同步 runs with live progress, then shows the tree and the members (search works)', async () => {
    // WeCom answers the token, the department list and some member reads, then holds every call until the test
    // releases it: the run is provably still going while the test watches it (and asks for a second one).
    sim.sim.holdCalls(10);
    await byTestId('nav-org').click();
    await byTestId('more-menu').click();
    await byTestId('sync-wecom').click();
    const progress = byTestId('sync-progress');
    await progress.waitFor();
    const runId = await progress.getAttribute('data-run-id');

    // A second start while it runs answers 409 RUN_IN_PROGRESS: the console follows the same run.
    await byTestId('more-menu').click();
    await byTestId('sync-wecom').click();
    await byTestId('sync-already-running').waitFor();
    expect(await byTestId('sync-progress').count()).toBe(1);
    expect(await progress.getAttribute('data-run-id')).toBe(runId);
    expect(await progress.getAttribute('data-status')).toBe('running');

    // Phase and counts as the server reports them: reading members, n of the departments.
    await expect
      .poll(() => byTestId('sync-phase').textContent(), { timeout: 10_000 })
      .toMatch(/读取 · \d+ \/ \d+ · members/);
    await screenshot(page, 'org-sync-progress');

    expect(sim.sim.callHoldState().held).toBeGreaterThan(0);
    sim.sim.releaseCalls();
    await page.locator('[data-testid=sync-progress]:not([data-status=running])').waitFor({ timeout: 30_000 });
    expect(await progress.getAttribute('data-status')).toBe('succeeded');
    // The note about the second start belonged to the running state.
    expect(await byTestId('sync-already-running').count()).toBe(0);

    const tree = byTestId('department-tree');
    await expect.poll(async () => Number(await tree.getAttribute('data-rows'))).toBeGreaterThan(1);

    const { dept, members } = busiestDepartment(truth);
    await byTestId('department-filter').fill(dept.name);
    await page.locator(`[data-testid=department-match][data-name="${dept.name}"]`).click();
    await expect.poll(() => byTestId('members-title').textContent()).toContain(dept.name);
    await expect.poll(() => byTestId('member-row').count()).toBe(Math.min(50, members.length));
    expect(await byTestId('member-total').textContent()).toContain(String(members.length));
    await screenshot(page, 'org');

    const target = members[members.length - 1] as SimOrg['users'][number];
    await byTestId('member-search').fill(target.userid);
    await expect.poll(() => byTestId('member-row').count()).toBe(1);
    expect(await byTestId('member-row').getAttribute('data-userid')).toBe(target.userid);

    await byTestId('member-row').click();
    const drawer = byTestId('user-drawer');
    await drawer.waitFor();
    await expect.poll(() => drawer.getByTestId('user-profile').textContent()).toContain(target.userid);
    expect(await drawer.getByTestId('user-memberships').textContent()).toContain(dept.name);
    expect(await drawer.getByTestId('user-links').textContent()).toContain(target.userid);
    await drawer.getByTestId('user-history').waitFor();
    await screenshot(page, 'user-drawer');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
    await byTestId('member-search').fill('');
  });

  it('运行日志: the sync is listed as succeeded and its detail shows steps, counts and field diffs', async () => {
    await byTestId('nav-runs').click();
    const row = byTestId('run-row').first();
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('succeeded');
    await screenshot(page, 'runs');

    await row.click();
    const detail = byTestId('run-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-status')).toBe('succeeded');
    const steps = await byTestId('run-step').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-step')));
    expect(steps).toEqual(['read', 'plan', 'guard', 'apply']);
    expect(Number(await byTestId('count-user-create').textContent())).toBe(USERS);
    await expect.poll(() => byTestId('change-row').count()).toBeGreaterThan(0);
    expect(await byTestId('field-diffs').count()).toBeGreaterThan(0);
    await screenshot(page, 'run-detail');
  });

  it('a sync past the deletion threshold is blocked; 批准 applies it', async () => {
    // Active people only: someone already disabled is not disabled again.
    const leavers = truth.users.filter((u) => u.status === 1).slice(0, LEAVERS);
    expect(await sim.mutate(leavers.map((u) => ({ op: 'deleteUser' as const, userid: u.userid })))).toBe(LEAVERS);

    expect(await syncFromOrgPage()).toBe('blocked');
    await byTestId('sync-run-link').click();
    const detail = byTestId('run-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-status')).toBe('blocked');
    await byTestId('blocked-banner').waitFor();
    // Why it stopped, in the page's language.
    expect(await byTestId('blocked-banner').textContent()).toContain(`计划停用或删除来源「wecom」`);
    expect(Number(await byTestId('count-user-disable').textContent())).toBe(LEAVERS);
    await expect.poll(() => page.locator('[data-testid=change-row][data-action=disable]').count()).toBeGreaterThan(0);
    await screenshot(page, 'blocked-run');

    await byTestId('approve').click();
    await expect.poll(() => detail.getAttribute('data-status'), { timeout: 20_000 }).toBe('succeeded');
    expect(Number(await byTestId('count-user-disable').textContent())).toBe(LEAVERS);

    // Applied: a leaver is now disabled in the directory.
    const leaver = leavers[0] as SimOrg['users'][number];
    const deptId = leaver.department[0] as number;
    const dept = truth.departments.find((d) => d.id === deptId);
    await byTestId('nav-org').click();
    await byTestId('department-filter').fill(dept?.name ?? '');
    await page
      .locator(`[data-testid=department-match][data-name="${dept?.name ?? ''}"]`)
      .first()
      .click();
    await byTestId('member-search').fill(leaver.userid);
    const row = page.locator(`[data-testid=member-row][data-userid="${leaver.userid}"]`);
    await expect.poll(() => row.textContent()).toContain('已停用');
  });

  it('运行日志 filters by status', async () => {
    await byTestId('nav-runs').click();
    await expect.poll(() => byTestId('run-row').count()).toBe(2);
    await byTestId('filter-status').selectOption('succeeded');
    await expect.poll(() => page.locator('[data-testid=run-row][data-status=succeeded]').count()).toBe(2);
    await byTestId('filter-status').selectOption('failed');
    await expect.poll(() => byTestId('run-row').count()).toBe(0);
    expect(page.url()).toContain('status=failed');
    await byTestId('filter-status').selectOption('');
    await expect.poll(() => byTestId('run-row').count()).toBe(2);
  });

  it('运行日志 shows a dead letter with its error; 重试 puts it back and the server applies it', async () => {
    // A message that failed its tries, written to the server's database as the pump leaves one.
    const store = await openStore({ dataDir: orgsync.dataDir });
    const { dept } = busiestDepartment(truth);
    const error = {
      code: 'WECOM_BUSY',
      message: 'WeCom was busy and stayed busy: system busy',
      hint: 'WeCom answered "system busy" to every retry.',
      object: `department "${dept.id}"`,
    };
    try {
      expect(
        await store.inbox.add({
          connection: 'wecom',
          dedupeKey: 'e2e-dead',
          type: 'change_contact/update_party',
          events: [{ object: 'department', externalId: String(dept.id) }],
        }),
      ).toBe(true);
      const [message] = await store.inbox.pending('wecom', 1);
      expect(await store.inbox.markFailed([message!.id], error, { maxAttempts: 1 })).toStrictEqual([message!.id]);

      // The page was open already: show it afresh, as someone coming back to it would.
      await byTestId('nav-org').click();
      await byTestId('nav-runs').click();
      const row = byTestId('dead-row');
      await expect.poll(() => row.count()).toBe(1);
      expect(await byTestId('dead-error').textContent()).toContain(error.message);
      expect(await byTestId('dead-error').textContent()).toContain(error.hint);
      await screenshot(page, 'runs-dead-letters');
      await byTestId('dead-retry').click();
      await byTestId('dead-notice').waitFor();
      expect(await byTestId('dead-notice').textContent()).toContain('1');
      await expect.poll(() => row.count()).toBe(0);
      // The server's pump was woken and applied it: no longer pending, nor a dead letter.
      await expect.poll(async () => (await store.inbox.counts('wecom')).done, { timeout: 20_000 }).toBe(1);
      expect(await store.inbox.deadLetters()).toStrictEqual([]);
    } finally {
      await store.close();
    }
  });

  it('no secret ever reached the browser; signing out shows the sign-in page again', async () => {
    const { secret, contactsSecret } = sim.sim.identity;
    expect(apiBodies.length).toBeGreaterThan(10);
    for (const body of apiBodies) {
      expect(body.includes(secret)).toBe(false);
      expect(body.includes(contactsSecret)).toBe(false);
    }
    expect(await page.content()).not.toContain(secret);

    await byTestId('sign-out').click();
    await byTestId('sign-in-form').waitFor();
    await page.reload();
    await byTestId('sign-in-form').waitFor();
  });
});
