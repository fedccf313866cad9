import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, afterEach } from 'vitest';
import { startServer } from '../../src/server/start.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import type { SimOperation, SimOrg } from '../../src/simulator/wecom/model.js';

/** The pieces every console test drives: a WeCom simulator, the real server on a fresh data dir, headless Chromium. */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * Where the steps' screenshots go: docs/screenshots/ when ORGSYNC_SCREENSHOTS=1 (to refresh the docs' pictures),
 * else a scratch folder, so an ordinary test run leaves the working tree as it was.
 */
export const SCREENSHOTS =
  process.env.ORGSYNC_SCREENSHOTS === '1'
    ? path.join(ROOT, 'docs/screenshots')
    : path.join(ROOT, '.bench-data/screenshots');
export const ADMIN_PASSWORD = 'e2e-admin-password';
const CONSOLE_DIR = path.join(ROOT, 'dist/console');
const CHROMIUM = process.env.ORGSYNC_CHROMIUM ?? '/usr/bin/chromium';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function consoleIsCurrent(): boolean {
  const index = path.join(CONSOLE_DIR, 'index.html');
  return existsSync(index) && statSync(index).mtimeMs >= newestMtime(path.join(ROOT, 'web'));
}

/**
 * Builds the console when dist/console is missing or older than its sources (`npm test` has built it already).
 * Test files run in parallel workers: one builds, holding a lock directory, the others wait for it.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  if (consoleIsCurrent()) return;
  const lock = path.join(ROOT, '.bench-data', 'console-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than two minutes was left by a killed run.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (consoleIsCurrent()) return;
    // In a child process: vitest sets NODE_ENV=test, under which Vite would bundle React's development build.
    execFileSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/vite/bin/vite.js'),
        'build',
        '--config',
        path.join(ROOT, 'web/vite.config.ts'),
        '--logLevel',
        'warn',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface Simulator {
  sim: WecomSimulator;
  url: string;
  truth(): Promise<SimOrg>;
  mutate(operations: SimOperation[]): Promise<number>;
}

export async function startSimulator(options: {
  seed: number;
  departments: number;
  users: number;
}): Promise<Simulator> {
  const sim = new WecomSimulator(options);
  const url = await sim.listen(0);
  return {
    sim,
    url,
    async truth() {
      return (await (await fetch(`${url}/__sim/directory`)).json()) as SimOrg;
    },
    async mutate(operations) {
      const res = await fetch(`${url}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ operations }) });
      if (!res.ok) throw new Error(`simulator mutate: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { applied: number }).applied;
    },
  };
}

export interface Orgsync {
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/** A fresh data dir under .bench-data/ (git-ignored; not the shared /tmp). */
export async function prepareDataDir(name: string): Promise<string> {
  const dataDir = path.join(ROOT, '.bench-data', `e2e-${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dataDir, { recursive: true });
  return dataDir;
}

/** The real server on a data dir of its own (by default a fresh one), removed on close; `env` holds its ORGSYNC_* settings. */
export async function startOrgsync(dir?: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<Orgsync> {
  const dataDir = dir ?? (await prepareDataDir('console'));
  // A clean environment: no ORGSYNC_DATABASE_URL or master key from the shell reaches the test server.
  const server = await startServer({
    env: options.env ?? {},
    dataDir,
    host: '127.0.0.1',
    port: 0,
    adminPassword: ADMIN_PASSWORD,
    logLevel: 'silent',
  });
  return {
    url: server.url,
    dataDir,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

/**
 * What went wrong in a test file's pages: Content-Security-Policy violations, uncaught errors and console errors.
 * `failOnPageErrors()` makes every test of the file fail on any that arrived while it ran.
 */
export class PageErrors {
  private readonly seen: string[] = [];

  add(problem: string): void {
    this.seen.push(problem);
  }

  /** Throws with the problems that arrived since the last call, and forgets them (the next test starts clean). */
  check(): void {
    const problems = this.seen.splice(0);
    if (problems.length > 0)
      throw new Error(`the console reported ${problems.length} problem(s):\n${problems.join('\n')}`);
  }
}

/** Call at the top of a test file: every test (and the file's setup, at the end) fails on a page error. */
export function failOnPageErrors(): PageErrors {
  const errors = new PageErrors();
  afterEach(() => errors.check());
  afterAll(() => errors.check());
  return errors;
}

/**
 * An API answer of 4xx (a session check before signing in, a wrong password, a field the server refused) is part of
 * the console's flow: Chromium logs it as "Failed to load resource", but the page shows it as it should. Anything
 * else logged as an error (a 5xx, a script error, a refused resource) is a defect.
 */
function expectedApiRefusal(msg: ConsoleMessage): boolean {
  if (!/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(msg.text())) return false;
  const url = msg.location().url;
  return url !== '' && new URL(url).pathname.startsWith('/api/');
}

/** A page of its own context; with `errors` (every test does; a benchmark need not), its problems are collected. */
export async function newPage(browser: Browser, errors?: PageErrors): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    locale: 'zh-CN',
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  if (!errors) return page;
  // A CSP violation is reported through a binding, not only as a console line, so none goes unseen; init scripts
  // and bindings are not subject to the page's policy (bypassCSP stays off: the policy is what is tested).
  await context.exposeBinding('__orgsyncCspViolation', (_source, text: string) => errors.add(`CSP violation: ${text}`));
  await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => {
    window.__orgsyncCspViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
  });`);
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !expectedApiRefusal(msg))
      errors.add(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('pageerror', (err) => errors.add(`uncaught: ${err.message}`));
  return page;
}

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({
    path: path.join(SCREENSHOTS, `${name}.png`),
    fullPage: options.fullPage ?? false,
    animations: 'disabled',
    caret: 'hide',
  });
}
