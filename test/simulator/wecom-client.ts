import type { SimConfig } from '../../src/simulator/wecom/config.js';
import type { SimOrg, WecomDepartment, WecomUser } from '../../src/simulator/wecom/model.js';
import { WecomSimulator, type SecretKind, type SimulatorOptions } from '../../src/simulator/wecom/server.js';

/**
 * A tiny WeCom client for the simulator's contract tests: real HTTP through global fetch, nothing mocked.
 * `get`/`post` add an access_token of the chosen secret (the app's by default) unless told otherwise.
 */

/** A WeCom JSON reply: errcode, errmsg and whatever the API adds. */
export type Reply = { errcode: number; errmsg: string } & Record<string, any>;

export type QueryValues = Record<string, string | number | undefined>;

export interface CallOptions {
  /** Which secret's token to send; null sends none (an explicit access_token in the query is always kept). */
  as?: SecretKind | null;
  signal?: AbortSignal;
}

export class WecomClient {
  private readonly tokens = new Map<SecretKind, string>();

  constructor(readonly sim: WecomSimulator) {}

  get url(): string {
    return this.sim.url;
  }

  /** A token for the app secret or the contacts secret, cached until `forget` (or `fresh`). */
  async token(kind: SecretKind = 'app', fresh = false): Promise<string> {
    const cached = this.tokens.get(kind);
    if (cached !== undefined && !fresh) return cached;
    const { corpId, secret, contactsSecret } = this.sim.identity;
    const reply = await this.get(
      'gettoken',
      { corpid: corpId, corpsecret: kind === 'app' ? secret : contactsSecret },
      { as: null },
    );
    if (reply.errcode !== 0 || typeof reply.access_token !== 'string')
      throw new Error(`gettoken failed: ${JSON.stringify(reply)}`);
    this.tokens.set(kind, reply.access_token);
    return reply.access_token;
  }

  /** Drops cached tokens (after a revocation, expiry or a fault that ended them). */
  forget(): void {
    this.tokens.clear();
  }

  /** The absolute URL of a WeCom path: "user/get" is /cgi-bin/user/get; a path starting with "/" is taken as is. */
  address(path: string, query: QueryValues = {}): URL {
    const url = new URL(path.startsWith('/') ? path : `/cgi-bin/${path}`, this.url);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async withToken(query: QueryValues, as: SecretKind | null | undefined): Promise<QueryValues> {
    const kind = as === undefined ? 'app' : as;
    if (kind === null || 'access_token' in query) return query;
    return { ...query, access_token: await this.token(kind) };
  }

  /** The raw response of a GET. */
  async getResponse(path: string, query: QueryValues = {}, options: CallOptions = {}): Promise<Response> {
    const url = this.address(path, await this.withToken(query, options.as));
    return fetch(url, options.signal ? { signal: options.signal } : {});
  }

  /** The raw response of a POST; a string body is sent as it is, anything else as JSON. */
  async postResponse(
    path: string,
    body: unknown,
    options: CallOptions & { query?: QueryValues } = {},
  ): Promise<Response> {
    const url = this.address(path, await this.withToken(options.query ?? {}, options.as));
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async get(path: string, query: QueryValues = {}, options: CallOptions = {}): Promise<Reply> {
    return replyOf(await this.getResponse(path, query, options));
  }

  async post(path: string, body: unknown = {}, options: CallOptions & { query?: QueryValues } = {}): Promise<Reply> {
    return replyOf(await this.postResponse(path, body, options));
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
  async configure(patch: Partial<SimConfig>): Promise<SimConfig> {
    const res = await this.control('POST', 'config', patch);
    if (res.status !== 200) throw new Error(`POST /__sim/config ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as SimConfig;
  }

  async directory(): Promise<SimOrg> {
    const res = await this.control('GET', 'directory');
    if (res.status !== 200) throw new Error(`GET /__sim/directory ${res.status}`);
    return res.body as SimOrg;
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
    throw new Error(`HTTP ${res.status}: not a WeCom reply: ${text.slice(0, 200)}`);
  }
  return body as Reply;
}

/** The defaults every contract test uses: a small org, so the whole run stays fast. */
export const SMALL_ORG = { seed: 7, departments: 40, users: 300 } as const;

/** Starts a simulator on a free port of 127.0.0.1. */
export async function startSimulator(
  options: SimulatorOptions = {},
): Promise<{ sim: WecomSimulator; client: WecomClient }> {
  const sim = new WecomSimulator({ ...SMALL_ORG, ...options });
  await sim.listen(0);
  return { sim, client: new WecomClient(sim) };
}

// ---------------------------------------------------------------- ground truth helpers over /__sim/directory

/** The department and its descendants. */
export function subtreeIds(departments: WecomDepartment[], id: number): Set<number> {
  const out = new Set<number>([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const d of departments) {
      if (!out.has(d.id) && out.has(d.parentid)) {
        out.add(d.id);
        grew = true;
      }
    }
  }
  return out;
}

/** Direct members of a department. */
export function membersOf(users: WecomUser[], departmentId: number): WecomUser[] {
  return users.filter((u) => u.department.includes(departmentId));
}

export function childrenOf(departments: WecomDepartment[], id: number): WecomDepartment[] {
  return departments.filter((d) => d.parentid === id);
}

export const sorted = <T>(values: Iterable<T>): T[] => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
