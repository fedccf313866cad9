import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ConnectionService } from '../connections/connections.js';
import { isTimeZone } from '../connections/reconcile-cron.js';
import { SecretBox } from '../connections/secret-box.js';
import { OrgsyncError } from '../errors.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import type { LoginLimits } from './api/session.js';
import { buildApp, loggerOptions } from './app.js';
import { AccessService } from './auth/access.js';
import { loadServerConfig, type ServerConfig } from './config.js';
import type { AnyRouteSpec } from './route.js';
import type { ReconcileScheduler } from './reconcile-scheduler.js';
import { RunRunner } from './runner.js';
import type { EventPump } from '../events/pump.js';

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
  /** The clock sessions are created and expired by; default Date.now (a test moves it instead of waiting). */
  now?: () => number;
  loginLimits?: LoginLimits;
  /** How long close() waits for runs still executing; default 30 s. */
  closeTimeoutMs?: number;
  /** DingTalk: calls per API per second of the event runs' reads; default 20 (DingTalk's limit for an internal app). */
  dingtalkQpsLimit?: number;
}

export interface RunningServer {
  /** http://host:port, the address it listens on. */
  url: string;
  /** Set only when this start created the first admin with a generated password (it is in the log once, too). */
  admin: { username: string; password: string } | undefined;
  app: FastifyInstance;
  store: Store;
  routes: AnyRouteSpec[];
  runner: RunRunner;
  /** Turns stored callback messages into event runs. */
  events: EventPump;
  /** Starts each connection's scheduled full sync (reconcileCron). */
  schedule: ReconcileScheduler;
  config: ServerConfig;
  close(): Promise<void>;
}

const DEFAULT_SESSION_TTL_MS = 12 * 3600_000;

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Starts `orgsync serve` in this process: config from the environment, the store, the first admin, the runner, HTTP. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const loaded = loadServerConfig(env, { dataDir: options.dataDir });
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
    throw new OrgsyncError({ code: 'CONFIG_INVALID', message: `the time zone "${config.timezone}" is not known`, hint: 'Give an IANA time zone name, e.g. Asia/Shanghai or UTC.', object: 'timezone' });
  }
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;

  const store = options.store ?? (await openStore(config.store));
  const ownsStore = options.store === undefined;
  let built: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    const box = SecretBox.fromEnvironment({ env, dataDir: config.store.dataDir });
    const access = new AccessService(store, { sessionTtlMs, ...(options.now ? { now: options.now } : {}) });
    built = await buildApp(
      {
        store,
        connections: new ConnectionService(store, box),
        access,
        consoleDir: config.consoleDir,
        publicUrl: config.publicUrl,
        sessionTtlMs,
        loginLimits: options.loginLimits,
        version: packageVersion(),
        ...(options.dingtalkQpsLimit !== undefined ? { dingtalkQpsLimit: options.dingtalkQpsLimit } : {}),
        timezone: config.timezone,
      },
      { logger: loggerOptions(config.logLevel, options.logStream), trustProxy: config.trustProxy },
    );
    const { app, runner, routes, events, schedule } = built;

    const admin = await access.ensureFirstAdmin(config.adminPassword);
    if (admin?.password !== undefined) {
      app.log.warn(
        `created the first admin "${admin.username}" with the password ${admin.password} (shown only this once: sign in and keep it safe, or set another with \`orgsync admin set-password\`)`,
      );
    } else if (admin) {
      app.log.info({ username: admin.username }, 'created the first admin with the password from ORGSYNC_ADMIN_PASSWORD');
    }

    await runner.start();
    await events.start();
    await schedule.start();
    await app.listen({ port: config.port, host: config.host });
    const { port } = app.server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    app.log.info({ url, publicUrl: config.publicUrl, store: store.dialect, console: config.consoleDir }, 'orgsync is serving');

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        await app.close();
        await events.stop();
        await schedule.close();
        await runner.close(options.closeTimeoutMs);
        if (ownsStore) await store.close();
      })());
    return { url, admin: admin?.password !== undefined ? { username: admin.username, password: admin.password } : undefined, app, store, routes, runner, events, schedule, config, close };
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
