import type { DingConfig } from '../../src/simulator/dingtalk/config.js';
import type { DingDepartment, DingUser } from '../../src/simulator/dingtalk/model.js';
import { DingtalkSimulator, type DingtalkSimulatorOptions } from '../../src/simulator/dingtalk/server.js';

/**
 * A tiny DingTalk client for the simulator's contract tests: real HTTP through global fetch, nothing mocked.
 * `oapi` posts a topapi call with the app token (fetched once and cached) unless told otherwise; `api` calls the
 * api host.
 */

/** An oapi JSON reply: errcode, errmsg and whatever the API adds. */
export type Reply = { errcode: number; errmsg: string } & Record<string, any>;

/** An api-host reply: the HTTP status and the JSON body. */
export interface ApiReply {
  status: number;
  body: any;
}

/** The ground truth of /__sim/directory. */
export interface Directory {
  departments: DingDepartment[];
  users: DingUser[];
}

export interface CallOptions {
  /** The access_token to send: a string, null for none; by default the cached app token. */
  token?: string | null;
  signal?: AbortSignal;
}

export class DingtalkClient {
  private cached: string | undefined;

  constructor(readonly sim: DingtalkSimulator) {}

  get url(): string {
    return this.sim.url;
  }

  /** The app token from gettoken, cached until `forget` (or `fresh`). */
  async token(fresh = false): Promise<string> {
    if (this.cached !== undefined && !fresh) return this.cached;
    const reply = await this.gettoken();
    if (reply.errcode !== 0 || typeof reply.access_token !== 'string')
      throw new Error(`gettoken failed: ${JSON.stringify(reply)}`);
    this.cached = reply.access_token;
    return reply.access_token;
  }

  /** gettoken with the app's credentials, or others (null leaves one out). */
  async gettoken(
    appkey: string | null = this.sim.identity.clientId,
    appsecret: string | null = this.sim.identity.clientSecret,
  ): Promise<Reply> {
    const query: Record<string, string> = {};
    if (appkey !== null) query.appkey = appkey;
    if (appsecret !== null) query.appsecret = appsecret;
    return this.get('gettoken', query, { token: null });
  }

  /** Drops the cached token (after a revocation, expiry or a fault that ended it). */
  forget(): void {
    this.cached = undefined;
  }

  address(path: string, query: Record<string, string | number | undefined> = {}): URL {
    const url = new URL(`/${path}`, this.url);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async tokenQuery(options: CallOptions): Promise<Record<string, string>> {
    if (options.token === null) return {};
    return { access_token: options.token ?? (await this.token()) };
  }

  /** The raw response of an oapi POST; a string body is sent as it is, anything else as JSON. */
  async oapiResponse(path: string, body: unknown = {}, options: CallOptions = {}): Promise<Response> {
    return fetch(this.address(path, await this.tokenQuery(options)), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async oapi(path: string, body: unknown = {}, options: CallOptions = {}): Promise<Reply> {
    return replyOf(await this.oapiResponse(path, body, options));
  }

  async get(
    path: string,
    query: Record<string, string | number | undefined> = {},
    options: CallOptions = {},
  ): Promise<Reply> {
    const res = await fetch(
      this.address(path, { ...query, ...(await this.tokenQuery(options)) }),
      options.signal ? { signal: options.signal } : {},
    );
    return replyOf(res);
  }

  /** An api-host call; `token` goes in x-acs-dingtalk-access-token. */
  async api(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<ApiReply> {
    const res = await fetch(this.address(path), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { 'x-acs-dingtalk-access-token': token }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  }

  // ---------------------------------------------------------------- the control API (/__sim/)

  async control(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(new URL(`/__sim/${path}`, this.url), {
      method,
      ...(body === undefined
        ? {}
        : {
            headers: { 'content-type': 'application/json' },
            body: typeof body === 'string' ? body : JSON.stringify(body),
          }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  }

  /** Changes switches at run time; fails the test when the simulator refuses them. */
  async configure(patch: Partial<DingConfig>): Promise<DingConfig> {
    const res = await this.control('POST', 'config', patch);
    if (res.status !== 200) throw new Error(`POST /__sim/config ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as DingConfig;
  }

  async directory(): Promise<Directory> {
    const res = await this.control('GET', 'directory');
    if (res.status !== 200) throw new Error(`GET /__sim/directory ${res.status}`);
    return res.body as Directory;
  }

  /** Applies explicit operations through /__sim/mutate; fails the test when one is refused. */
  async mutate(operations: unknown[]): Promise<void> {
    const res = await this.control('POST', 'mutate', { operations });
    if (res.status !== 200) throw new Error(`POST /__sim/mutate ${res.status}: ${JSON.stringify(res.body)}`);
  }
}

async function replyOf(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`);
  }
  if (body === null || typeof body !== 'object' || typeof (body as Reply).errcode !== 'number') {
    throw new Error(`HTTP ${res.status}: not an oapi reply: ${text.slice(0, 200)}`);
  }
  return body as Reply;
}

/**
 * The defaults every contract test uses: small enough to stay fast, large enough that the wide department has
 * more than 100 direct members (paging). The QPS limit is raised so only the tests of it meet it.
 */
export const SMALL_ORG = { seed: 7, departments: 40, users: 1500 } as const;
export const TEST_CONFIG = { qpsLimit: 100_000 } as const;

/** Starts a simulator on a free port of 127.0.0.1. */
export async function startDingtalk(
  options: DingtalkSimulatorOptions = {},
): Promise<{ sim: DingtalkSimulator; client: DingtalkClient }> {
  const sim = new DingtalkSimulator({ ...SMALL_ORG, ...options, config: { ...TEST_CONFIG, ...options.config } });
  await sim.listen(0);
  return { sim, client: new DingtalkClient(sim) };
}

// ---------------------------------------------------------------- ground truth helpers over /__sim/directory

export function membersOf(users: DingUser[], deptId: number): DingUser[] {
  return users.filter((u) => u.dept_id_list.includes(deptId));
}

export function childrenOf(departments: DingDepartment[], id: number): DingDepartment[] {
  return departments.filter((d) => d.parent_id === id);
}

/** The department and its descendants. */
export function subtreeIds(departments: DingDepartment[], id: number): Set<number> {
  const out = new Set<number>([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const d of departments) {
      if (!out.has(d.dept_id) && d.parent_id !== undefined && out.has(d.parent_id)) {
        out.add(d.dept_id);
        grew = true;
      }
    }
  }
  return out;
}

/** The department with the most direct members. */
export function widest(org: Directory): { dept: DingDepartment; members: DingUser[] } {
  let best: { dept: DingDepartment; members: DingUser[] } | undefined;
  for (const d of org.departments) {
    const members = membersOf(org.users, d.dept_id);
    if (!best || members.length > best.members.length) best = { dept: d, members };
  }
  if (!best) throw new Error('the org has no departments');
  return best;
}

export const sorted = <T>(values: Iterable<T>): T[] => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
