import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/start.js';
import { openTestStore, tempDir, type Engine, type TestStore } from '../helpers/stores.js';

/** A real server on a real port over a fresh database, with its log lines captured. */
export interface Harness {
  server: RunningServer;
  url: string;
  /** Every JSON log line the server wrote. */
  logs: string[];
  t: TestStore;
  /** A directory the console is looked for in (empty unless a test fills it). */
  dataDir: string;
  /** Starts a second server on the same database (a restart, or another instance). */
  restart(options?: Partial<StartServerOptions>): Promise<RunningServer>;
  close(): Promise<void>;
}

export async function startHarness(
  engine: Engine = 'sqlite',
  options: Partial<StartServerOptions> = {},
): Promise<Harness> {
  const t = await openTestStore(engine);
  const dataDir = tempDir('orgsync-server-');
  const logs: string[] = [];
  const env = { ORGSYNC_DATA_DIR: dataDir, ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64') };
  const servers: RunningServer[] = [];
  const start = async (over: Partial<StartServerOptions> = {}): Promise<RunningServer> => {
    const s = await startServer({
      env,
      store: over.store ?? t.store,
      port: 0,
      consoleDir: path.join(dataDir, 'console'),
      logStream: { write: (line) => void logs.push(line) },
      // Tests sign in with the generated password again and again; test/security/login.test.ts covers the forced change.
      firstPasswordChange: false,
      ...options,
      ...over,
    });
    servers.push(s);
    return s;
  };
  const server = await start();
  return {
    server,
    url: server.url,
    logs,
    t,
    dataDir,
    restart: start,
    async close() {
      for (const s of servers.reverse()) await s.close();
      await t.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

/** A client that keeps its cookie and CSRF token like the console does, or sends a bearer token. */
export class Client {
  cookie: string | undefined;
  csrfToken: string | undefined;
  bearer: string | undefined;
  /** Every body this client received, for the "no secret in any response" checks. */
  readonly received: string[] = [];

  constructor(readonly url: string) {}

  async request<T = any>(
    method: string,
    pathname: string,
    body?: unknown,
    options: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ?? {}) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.cookie) headers.cookie = this.cookie;
    if (this.bearer) headers.authorization = `Bearer ${this.bearer}`;
    const csrf = options.csrf === undefined ? this.csrfToken : options.csrf;
    if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
    const res = await fetch(this.url + pathname, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    this.received.push(text);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }

  get<T = any>(pathname: string): Promise<Answer<T>> {
    return this.request<T>('GET', pathname);
  }

  async login(username: string, password: string): Promise<Answer> {
    const answer = await this.request('POST', '/api/v1/session', { username, password });
    const cookie = answer.headers.get('set-cookie');
    if (answer.status === 200 && cookie) {
      this.cookie = cookie.split(';')[0];
      this.csrfToken = answer.body.csrfToken;
    }
    return answer;
  }
}

export async function signedIn(h: Harness): Promise<Client> {
  const admin = h.server.admin;
  if (!admin) throw new Error('the harness server created no admin');
  const client = new Client(h.url);
  const answer = await client.login(admin.username, admin.password);
  if (answer.status !== 200) throw new Error(`sign-in failed: ${answer.text}`);
  return client;
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
