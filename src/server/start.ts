import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ConnectionService } from '../connections/connections.js';
import { isTimeZone } from '../connections/reconcile-cron.js';
import { checkMasterKey } from '../connections/master-key.js';
import { SecretBox } from '../connections/secret-box.js';
import { OrgsyncError } from '../errors.js';
import { describeFix, octal, type ModeFix } from '../store/data-dir.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import type { LoginLimits } from './api/session.js';
import { buildApp, loggerOptions, type RegisteredRoute } from './app.js';
import { AccessService, FIRST_ADMIN } from './auth/access.js';
import { loadServerConfig, type ServerConfig } from './config.js';
import type { AnyRouteSpec } from './route.js';
import type { ReconcileScheduler } from './reconcile-scheduler.js';
import type { RunRunner } from './runner.js';
import { retrySettings, type EventPump } from '../events/pump.js';
import type { CallbackLimits } from '../events/callback-limits.js';

export interface StartServerOptions {
  /** Where ORGSYNC_* settings are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides ORGSYNC_DATA_DIR (the CLI's --data-dir). */
  dataDir?: string | undefined;
  /** An open store to use (it stays open on close); otherwise one is opened from the config and closed on close. */
  store?: Store;
  /** Override the environment's settings. */
  port?: number;
  host?: string;
  publicUrl?: string;
  consoleDir?: string;
  adminPassword?: string;
  /** The IANA time zone of the scheduled full syncs (overrides ORGSYNC_TZ). */
  timezone?: string;
  /** Where the JSON log lines go; default stdout. */
  logStream?: { write(line: string): void };
  logLevel?: ServerConfig['logLevel'];
  sessionTtlMs?: number;
  loginLimits?: LoginLimits;
  /**
   * Where a generated first-admin password goes besides RunningServer.admin; never into the log. 'terminal'
   * (`orgsync serve`): printed once on `stderr` when it is a TTY, else written to a 0600 file in the data directory
   * (FIRST_PASSWORD_FILE) whose path alone is printed. 'caller' (default): only RunningServer.admin.
   */
  firstPassword?: 'terminal' | 'caller';
  /** Whether a generated first password must be changed at first sign-in (default true). */
  firstPasswordChange?: boolean;
  /** The time sessions, sign-in waits and uploads' expiry are reckoned in (ms since the epoch); default Date.now (a test moves it instead of waiting). */
  clock?: () => number;
  /** The terminal of 'terminal'; default process.stderr. */
  stderr?: { write(text: string): unknown; isTTY?: boolean };
  /** How long close() waits for runs still executing; default 30 s. */
  closeTimeoutMs?: number;
  /** DingTalk: calls per API per second of the event runs' reads; default 20 (DingTalk's limit for an internal app). */
  dingtalkQpsLimit?: number;
  /**
   * Limits of refused requests to /callbacks/*: per client address and per connection in a sliding window (default
   * 20 and 100 per 60 s, DEFAULT_CALLBACK_LIMITS); Infinity turns one off. Signed messages are never counted.
   */
  callbackLimits?: Partial<CallbackLimits>;
}

export interface RunningServer {
  /** http://host:port, the address it listens on. */
  url: string;
  /** Set only when this start created the first admin with a generated password (never logged). */
  admin: { username: string; password: string } | undefined;
  app: FastifyInstance;
  store: Store;
  routes: AnyRouteSpec[];
  /** Every route the app registered (API, docs, healthz, callbacks, the console), with the access it declares. */
  registered: RegisteredRoute[];
  runner: RunRunner;
  /** Turns stored callback messages into event runs. */
  events: EventPump;
  /** Starts each connection's scheduled full sync (reconcileCron). */
  schedule: ReconcileScheduler;
  config: ServerConfig;
  close(): Promise<void>;
}

const DEFAULT_SESSION_TTL_MS = 12 * 3600_000;

/** Where `orgsync serve` without a terminal leaves the generated first password (in the data directory). */
export const FIRST_PASSWORD_FILE = 'first-admin-password.txt';

/**
 * Shows a generated first password once: on the terminal, or, with none (a service, a container log), in a file
 * only this user can read, whose path is printed instead. Returns that path when a file was written.
 */
function revealFirstPassword(
  admin: { username: string; password: string },
  to: { stderr: { write(text: string): unknown; isTTY?: boolean }; dataDir: string; mustChange: boolean },
): string | undefined {
  const then = to.mustChange
    ? 'Sign in with it and choose another (the console asks).'
    : 'Sign in with it and keep it safe.';
  if (to.stderr.isTTY === true) {
    to.stderr.write(
      `\norgsync: created the first admin "${admin.username}" with the password\n\n    ${admin.password}\n\n` +
        `It is shown only this once. ${then} \`orgsync admin set-password\` sets another at any time.\n\n`,
    );
    return undefined;
  }
  mkdirSync(to.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(to.dataDir, FIRST_PASSWORD_FILE);
  // Removed first and created exclusively, so the mode is this one and no link planted there is followed.
  rmSync(file, { force: true });
  writeFileSync(file, `${admin.password}\n`, { mode: 0o600, flag: 'wx' });
  to.stderr.write(
    `orgsync: created the first admin "${admin.username}"; its password is in ${file} (readable by this user only). ${then} Then delete the file.\n`,
  );
  return file;
}

function packageVersion(): string {
  try {
    return (
      (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string })
        .version ?? '0.0.0'
    );
  } catch {
    return '0.0.0';
  }
}

/** Starts `orgsync serve` in this process: config from the environment, the store, the first admin, the runner, HTTP. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const loaded = loadServerConfig(env, { dataDir: options.dataDir });
  const eventRetry = retrySettings(env);
  const config: ServerConfig = {
    ...loaded,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl.replace(/\/+$/, '') } : {}),
    ...(options.consoleDir !== undefined ? { consoleDir: options.consoleDir } : {}),
    ...(options.adminPassword !== undefined ? { adminPassword: options.adminPassword } : {}),
    ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
    ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
  };
  if (!isTimeZone(config.timezone)) {
    throw new OrgsyncError({
      code: 'CONFIG_INVALID',
      message: `the time zone "${config.timezone}" is not known`,
      hint: 'Give an IANA time zone name, e.g. Asia/Shanghai or UTC.',
      object: 'timezone',
    });
  }
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;

  const modeFixes: ModeFix[] = [];
  const store = options.store ?? (await openStore(config.store, { onModeFix: (fix) => modeFixes.push(fix) }));
  const ownsStore = options.store === undefined;
  let built: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    const box = SecretBox.fromEnvironment({ env, dataDir: config.store.dataDir });
    // Before anything starts or is written: a key other than the stored secrets' is refused, never replaced.
    await checkMasterKey(store, box);
    const access = new AccessService(store, { sessionTtlMs, ...(options.clock ? { now: options.clock } : {}) });
    built = await buildApp(
      {
        store,
        connections: new ConnectionService(store, box, { allowedApiHosts: config.allowedApiHosts }),
        access,
        consoleDir: config.consoleDir,
        publicUrl: config.publicUrl,
        sessionTtlMs,
        loginLimits: options.loginLimits,
        version: packageVersion(),
        ...(options.dingtalkQpsLimit !== undefined ? { dingtalkQpsLimit: options.dingtalkQpsLimit } : {}),
        eventRetry,
        timezone: config.timezone,
        dataDir: config.store.dataDir,
        importMaxBytes: config.importMaxBytes,
        clock: options.clock,
      },
      { logger: loggerOptions(config.logLevel, options.logStream), trustProxy: config.trustProxy },
    );
    const { app, runner, routes, registered, events, schedule } = built;
    if (options.callbackLimits !== undefined) app.callbackLimiter.configure(options.callbackLimits);
    // Found before the logger existed: logged now, one line per path.
    for (const fix of modeFixes)
      app.log.warn(
        { path: fix.path, from: octal(fix.from), to: octal(fix.to) },
        `data directory permissions tightened: ${describeFix(fix)}`,
      );

    const mustChange = options.firstPasswordChange !== false;
    const admin = await access.ensureFirstAdmin(config.adminPassword, { mustChangeGenerated: mustChange });
    if (admin?.password !== undefined) {
      // The password itself never goes into the log: logs are shipped, kept and read by others.
      const file =
        options.firstPassword === 'terminal'
          ? revealFirstPassword(
              { username: admin.username, password: admin.password },
              { stderr: options.stderr ?? process.stderr, dataDir: config.store.dataDir, mustChange },
            )
          : undefined;
      app.log.warn(
        { username: admin.username, mustChangePassword: mustChange, ...(file !== undefined ? { file } : {}) },
        options.firstPassword === 'terminal'
          ? `created the first admin "${admin.username}" with a generated password, ${file !== undefined ? `written to ${file}` : 'shown once on the terminal'} (\`orgsync admin set-password\` sets another)`
          : `created the first admin "${admin.username}" with a generated password, given to the program that started the server`,
      );
    } else if (admin) {
      app.log.info(
        { username: admin.username },
        'created the first admin with the password from ORGSYNC_ADMIN_PASSWORD',
      );
    } else if (!(await access.mustChangePassword(FIRST_ADMIN))) {
      // The generated password was replaced: its file, if any, holds nothing valid any more.
      rmSync(path.join(config.store.dataDir, FIRST_PASSWORD_FILE), { force: true });
    }

    await runner.start();
    await events.start();
    await schedule.start();
    await app.listen({ port: config.port, host: config.host });
    const { port } = app.server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    app.log.info(
      { url, publicUrl: config.publicUrl, store: store.dialect, console: config.consoleDir },
      'orgsync is serving',
    );

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        await app.close();
        await events.stop();
        await schedule.close();
        await runner.close(options.closeTimeoutMs);
        if (ownsStore) await store.close();
      })());
    return {
      url,
      admin: admin?.password !== undefined ? { username: admin.username, password: admin.password } : undefined,
      app,
      store,
      routes,
      registered,
      runner,
      events,
      schedule,
      config,
      close,
    };
  } catch (err) {
    if (built) {
      await built.app.close();
      await built.events.stop();
      await built.schedule.close();
      await built.runner.close(0);
    }
    if (ownsStore) await store.close();
    throw err;
  }
}
