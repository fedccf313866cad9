import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadConfig } from '../config.js';
import { OrgsyncError } from '../errors.js';
import { isTimeZone } from '../connections/reconcile-cron.js';
import type { StoreConfig } from '../store/open.js';
import { DEFAULT_UPLOAD_MAX_BYTES } from './import-uploads.js';

/** The server's settings, from the environment, checked once at start; each error names its variable. */
export interface ServerConfig {
  store: StoreConfig;
  port: number;
  host: string;
  /** The URL people reach the server at (behind a proxy, the proxy's); https makes the session cookie Secure. */
  publicUrl: string | undefined;
  /** The built console (index.html and its assets). */
  consoleDir: string;
  /** Taken as the first admin's password when there is no admin yet; otherwise ignored. */
  adminPassword: string | undefined;
  /**
   * Which proxies' X-Forwarded-For / -Proto to believe: false (none), a hop count (the client is the entry that many
   * from the right; 0 is none), or the proxies' addresses / CIDRs. Never "every hop": see loadServerConfig.
   */
  trustProxy: boolean | number | string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The IANA time zone the connections' scheduled full syncs (reconcileCron) are read in. */
  timezone: string;
  /** ORGSYNC_ALLOWED_API_HOSTS: hosts (or host:port) a connection's apiBaseUrl may reach over plain http besides this machine. */
  allowedApiHosts: string[];
  /** ORGSYNC_IMPORT_MAX_SIZE: the largest file POST /api/v1/imports keeps, in bytes. */
  importMaxBytes: number;
}

/** The time zone of this process (TZ, else the system's): what ORGSYNC_TZ defaults to. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** dist/console of this package, whether running from src/ (tsx, tests) or from the build in dist/. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../dist/console', import.meta.url));

export const MIN_PASSWORD_LENGTH = 8;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function invalid(name: string, value: string, message: string, hint: string): OrgsyncError {
  return new OrgsyncError({ code: 'CONFIG_INVALID', message: `${name} "${value}" ${message}`, hint, object: name });
}

function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** ORGSYNC_PUBLIC_URL, checked, without a trailing slash; undefined when unset. */
function publicUrlSetting(env: NodeJS.ProcessEnv): string | undefined {
  const publicText = setting(env, 'ORGSYNC_PUBLIC_URL');
  if (publicText === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(publicText);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    throw invalid(
      'ORGSYNC_PUBLIC_URL',
      publicText,
      'is not an http(s) URL',
      'Set ORGSYNC_PUBLIC_URL to the address people open, e.g. https://orgsync.example.com (no query, fragment or credentials).',
    );
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * The server's address as a command that is not the server can know it (e.g. for a connection's callback URL):
 * ORGSYNC_PUBLIC_URL, else http://127.0.0.1:8080 — what `orgsync serve` listens on by default.
 */
export const DEFAULT_PUBLIC_URL = 'http://127.0.0.1:8080';

export function publicUrlFromEnvironment(env: NodeJS.ProcessEnv): string {
  return publicUrlSetting(env) ?? DEFAULT_PUBLIC_URL;
}

/**
 * ORGSYNC_ALLOWED_API_HOSTS: comma-separated host names or addresses, each alone (any port) or as host:port
 * ([v6]:port), lower-cased. Read by the server and the CLI alike, so both refuse the same apiBaseUrl.
 */
export function allowedApiHostsFromEnvironment(env: NodeJS.ProcessEnv): string[] {
  const value = setting(env, 'ORGSYNC_ALLOWED_API_HOSTS');
  if (value === undefined) return [];
  const hosts: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const m =
      /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::(\d{1,5}))?$/.exec(
        entry,
      );
    const port = m?.[2] === undefined ? undefined : Number(m[2]);
    if (!m || (port !== undefined && (port < 1 || port > 65535))) {
      throw invalid(
        'ORGSYNC_ALLOWED_API_HOSTS',
        value,
        `has an entry that is not a host or host:port: "${raw.trim()}"`,
        'Give comma-separated host names or addresses, each alone or with a port, e.g. wecom-proxy.internal,10.0.0.5:8080,[fd00::5]:8080 (no scheme, no path).',
      );
    }
    hosts.push(entry);
  }
  return hosts;
}

export function loadServerConfig(
  env: NodeJS.ProcessEnv,
  overrides: { dataDir?: string | undefined } = {},
): ServerConfig {
  const { store } = loadConfig(env, overrides);

  const portText = setting(env, 'ORGSYNC_PORT');
  const port = portText === undefined ? 8080 : Number(portText);
  if (portText !== undefined && (!/^\d+$/.test(portText) || port > 65535)) {
    throw invalid(
      'ORGSYNC_PORT',
      portText,
      'is not a port number',
      'Set ORGSYNC_PORT to a whole number from 0 to 65535 (0 picks a free port), or unset it for 8080.',
    );
  }

  const host = setting(env, 'ORGSYNC_HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:[\]%-]+$/.test(host)) {
    throw invalid(
      'ORGSYNC_HOST',
      host,
      'is not a host name or address',
      'Set ORGSYNC_HOST to an address to listen on, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).',
    );
  }

  const publicUrl = publicUrlSetting(env);

  const consoleDir = path.resolve(setting(env, 'ORGSYNC_CONSOLE_DIR') ?? DEFAULT_CONSOLE_DIR);

  const adminPassword =
    env.ORGSYNC_ADMIN_PASSWORD === undefined || env.ORGSYNC_ADMIN_PASSWORD === ''
      ? undefined
      : env.ORGSYNC_ADMIN_PASSWORD;
  if (adminPassword !== undefined && Array.from(adminPassword).length < MIN_PASSWORD_LENGTH) {
    // The value is a secret: the message does not repeat it.
    throw new OrgsyncError({
      code: 'CONFIG_INVALID',
      message: `ORGSYNC_ADMIN_PASSWORD is too short (at least ${MIN_PASSWORD_LENGTH} characters)`,
      hint: 'Choose a longer password, or unset ORGSYNC_ADMIN_PASSWORD to have a random one printed at first start.',
      object: 'ORGSYNC_ADMIN_PASSWORD',
    });
  }

  const proxyText = setting(env, 'ORGSYNC_TRUST_PROXY');
  let trustProxy: boolean | number | string = false;
  if (proxyText !== undefined) {
    // "true" would believe every X-Forwarded-For entry, which the client writes itself: any client could pick the
    // address its sign-ins are counted under. A hop count or the proxies' addresses say exactly whom to believe.
    if (proxyText === 'true') {
      throw invalid(
        'ORGSYNC_TRUST_PROXY',
        proxyText,
        'would trust every X-Forwarded-For entry, which clients can forge',
        'Set it to the number of proxies in front of orgsync (e.g. 1 for one reverse proxy), or to their addresses / CIDRs, e.g. 10.0.0.5 or 10.0.0.0/8.',
      );
    }
    if (proxyText === 'false') trustProxy = false;
    else if (/^\d+$/.test(proxyText)) trustProxy = Number(proxyText);
    else if (/^[0-9A-Fa-f.:/,\s]+$/.test(proxyText)) trustProxy = proxyText;
    else {
      throw invalid(
        'ORGSYNC_TRUST_PROXY',
        proxyText,
        'is not false, a hop count or a list of addresses',
        'Set it to the number of proxies in front (e.g. 1), or comma-separated proxy addresses / CIDRs, e.g. 10.0.0.0/8.',
      );
    }
  }

  const levelText = setting(env, 'ORGSYNC_LOG_LEVEL') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(levelText)) {
    throw invalid('ORGSYNC_LOG_LEVEL', levelText, 'is not a log level', `Use one of ${LOG_LEVELS.join(', ')}.`);
  }

  const timezone = setting(env, 'ORGSYNC_TZ') ?? localTimeZone();
  if (!isTimeZone(timezone)) {
    throw invalid(
      'ORGSYNC_TZ',
      timezone,
      'is not a time zone',
      "Set ORGSYNC_TZ to an IANA time zone name, e.g. Asia/Shanghai or UTC, or unset it for the server's own.",
    );
  }

  const allowedApiHosts = allowedApiHostsFromEnvironment(env);

  const sizeText = setting(env, 'ORGSYNC_IMPORT_MAX_SIZE');
  let importMaxBytes = DEFAULT_UPLOAD_MAX_BYTES;
  if (sizeText !== undefined) {
    // As nginx's client_max_body_size: bytes, or k, m, g for KiB, MiB, GiB.
    const m = /^(\d{1,15})\s*([kmg])?$/i.exec(sizeText);
    const units: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
    const unit = units[(m?.[2] ?? '').toLowerCase()] ?? 1;
    importMaxBytes = m ? Number(m[1]) * unit : Number.NaN;
    if (!Number.isSafeInteger(importMaxBytes) || importMaxBytes < 1) {
      throw invalid(
        'ORGSYNC_IMPORT_MAX_SIZE',
        sizeText,
        'is not a size',
        'Give the largest upload in bytes, or with k, m or g for KiB, MiB or GiB, e.g. 128m; unset it for 64m.',
      );
    }
  }

  return {
    store,
    port,
    host,
    publicUrl,
    consoleDir,
    adminPassword,
    trustProxy,
    logLevel: levelText as ServerConfig['logLevel'],
    timezone,
    allowedApiHosts,
    importMaxBytes,
  };
}
