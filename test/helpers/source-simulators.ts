import { DingtalkClient } from '../../src/connectors/dingtalk/client.js';
import type { DingtalkSource } from '../../src/connectors/dingtalk/source.js';
import type { TokenCache } from '../../src/connectors/common/token-cache.js';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { WecomClient } from '../../src/connectors/wecom/client.js';
import type { WecomSource } from '../../src/connectors/wecom/source.js';
import type { DirectoryExport } from '../../src/directory/export.js';
import type { UserProfileField } from '../../src/directory/model.js';
import type { DingConfigInput } from '../../src/simulator/dingtalk/config.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import type { SimConfigInput } from '../../src/simulator/wecom/config.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import * as ding from './dingtalk-directory.js';
import * as wecom from './wecom-directory.js';

/**
 * One adapter per platform of connectors/registry.ts: what the connector conformance suite
 * (test/connectors/conformance.ts) needs to know of that platform's simulator and client. Everything the simulators
 * share (the control API, the switches of simulator/common/config.ts) is driven by source-harness.ts instead.
 */

/** An org as the conformance cases reason about it, whatever the platform's shapes. */
export interface OrgView {
  departments: Array<{ id: number; parent: number | null }>;
  /** The people a full read lists (WeCom's "left the corp" are not listed). */
  users: Array<{ userid: string; departments: number[]; status: 'active' | 'disabled'; mobile: boolean }>;
}

/** The comparable shape both directory helpers give the local directory and the truth (the parts the cases read). */
export interface Mirror {
  departments: Array<{ id: number; parent: number | null }>;
  users: Array<{ userid: string }>;
}

/** What the harness needs of a running simulator. */
export interface RunningSimulator {
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
  stats(): { total: number; calls: Record<string, number> };
}

/** A platform client, as far as the tests read it. */
export interface CountingClient {
  stats(): { calls: number; retries: number };
}

export interface ClientOptions<Credentials extends string> {
  tokens: TokenCache;
  timeoutMs: number;
  /** Which of the simulator's secrets the client reads with, where it has several; default the app's. */
  credentials?: Credentials | undefined;
}

/**
 * Methods, not function properties: each adapter keeps its own simulator and truth types, and still fits the list
 * below (as the platform definitions fit connectors/registry.ts).
 */
export interface SourceSimulator<
  Sim extends RunningSimulator = RunningSimulator,
  Truth = unknown,
  Credentials extends string = string,
> {
  /** The platform id of connectors/registry.ts (and the simulator's name in simulator/registry.ts). */
  readonly platform: string;
  /** A simulated org of the given size, not yet listening; `config` holds switches of simulator/common/config.ts. */
  start(options: { seed: number; departments: number; users: number; config: Record<string, unknown> }): Sim;
  /** The client the platform definition's `source()` reads through, pointed at the simulator. */
  client(sim: Sim, url: string, options: ClientOptions<Credentials>): CountingClient;
  /** The truth (/__sim/directory) as the cases reason about it. */
  view(truth: Truth): OrgView;
  /** The calls a full read makes, tokens included, when the app sees the subtrees of `tops` (by default the root). */
  expectedCalls(truth: Truth, tops: readonly number[]): number;
  /** The /__sim/mutate operation that moves a user into `department` alone. */
  moveUser(userid: string, department: number): unknown;
  /** The fields the read reports unseen when the app lacks the permission for personal details, in its order. */
  readonly withheldFields: readonly UserProfileField[];
  /** The departments the connector's last pull could not read the members of. */
  failedDepartments(connector: SourceConnector): number[];
  /** The tops the connector's last pull walked the tree from, where the platform reports them. */
  scopeTops?(connector: SourceConnector): number[];
  /** The local directory in the comparable shape; with `truth`, leavers are checked to be disabled and left out. */
  mirror(doc: DirectoryExport, truth?: Truth): Mirror;
  /** The truth in the same shape, as an app seeing the subtrees of `tops` (by default the root) reads it. */
  expected(truth: Truth, tops?: number[]): Mirror;
}

/** The ids of `tops` and every department under them. */
export function subtrees(departments: OrgView['departments'], tops: readonly number[]): Set<number> {
  const parent = new Map(departments.map((d) => [d.id, d.parent]));
  const out = new Set<number>();
  for (const d of departments)
    for (let p: number | null | undefined = d.id; p !== null && p !== undefined; p = parent.get(p))
      if (tops.includes(p)) {
        out.add(d.id);
        break;
      }
  return out;
}

// ------------------------------------------------------------------------------------------------- WeCom

function wecomView(org: SimOrg): OrgView {
  return {
    departments: org.departments.map((d) => ({ id: d.id, parent: d.parentid === 0 ? null : d.parentid })),
    users: org.users
      .filter((u) => u.status !== 5)
      .map((u) => ({
        userid: u.userid,
        departments: u.department,
        status: u.status === 2 ? 'disabled' : 'active',
        mobile: u.mobile !== '',
      })),
  };
}

export const wecomSimulator: SourceSimulator<WecomSimulator, SimOrg, 'app' | 'contacts'> = {
  platform: 'wecom',
  start: ({ seed, departments, users, config }) =>
    new WecomSimulator({ seed, departments, users, config: config as SimConfigInput }),
  client: (sim, url, { tokens, timeoutMs, credentials }) =>
    new WecomClient({
      corpId: sim.identity.corpId,
      secret: credentials === 'contacts' ? sim.identity.contactsSecret : sim.identity.secret,
      baseUrl: url,
      tokens,
      concurrency: 8,
      timeoutMs,
      maxRetries: 6,
    }),
  view: wecomView,
  // gettoken, department/list, then one user/list per department the app sees.
  expectedCalls: (org, tops) => subtrees(wecomView(org).departments, tops).size + 2,
  moveUser: (userid, department) => ({
    op: 'updateUser',
    user: { userid, department: [department], main_department: department },
  }),
  // A self-built app created after 2022-06-20 reads none of these.
  withheldFields: ['mobile', 'email', 'avatar', 'gender', 'address'],
  failedDepartments: (connector) => (connector as WecomSource).notes.failedDepartments,
  mirror: (doc, truth) => wecom.local(doc, truth),
  expected: (truth, tops) => wecom.expected(truth, tops),
};

// ------------------------------------------------------------------------------------------------- DingTalk

/** DingTalk's per-API limit is 20 calls a second; the tests raise the simulator's and the client's together. */
const DINGTALK_QPS = 400;

function dingView(org: ding.DingTruth): OrgView {
  return {
    departments: org.departments.map((d) => ({ id: d.dept_id, parent: d.parent_id ?? null })),
    users: org.users.map((u) => ({
      userid: u.userid,
      departments: u.dept_id_list,
      status: u.active ? 'active' : 'disabled',
      mobile: Boolean(u.mobile),
    })),
  };
}

/** The least a read can cost: one listsub per department, and one v2/user/list page per 100 direct members (at least one). */
function dingFloor(org: ding.DingTruth, visible: ReadonlySet<number>): number {
  const members = new Map<number, number>();
  for (const u of org.users) for (const d of u.dept_id_list) members.set(d, (members.get(d) ?? 0) + 1);
  let calls = 0;
  for (const d of org.departments)
    if (visible.has(d.dept_id)) calls += 1 + Math.max(1, Math.ceil((members.get(d.dept_id) ?? 0) / 100));
  return calls;
}

export const dingtalkSimulator: SourceSimulator<DingtalkSimulator, ding.DingTruth, 'app'> = {
  platform: 'dingtalk',
  start: ({ seed, departments, users, config }) =>
    new DingtalkSimulator({
      seed,
      departments,
      users,
      config: { qpsLimit: DINGTALK_QPS, ...(config as DingConfigInput) },
    }),
  client: (sim, url, { tokens, timeoutMs }) =>
    new DingtalkClient({
      clientId: sim.identity.clientId,
      clientSecret: sim.identity.clientSecret,
      baseUrl: url,
      tokens,
      concurrency: 8,
      qpsLimit: DINGTALK_QPS,
      timeoutMs,
      maxRetries: 6,
    }),
  view: dingView,
  // gettoken and v2/department/get of the root; when the contact scope starts below it, that get is refused, then
  // auth/scopes and a get per top. Then the floor.
  expectedCalls: (org, tops) =>
    (tops.length === 1 && tops[0] === 1 ? 2 : 3 + tops.length) +
    dingFloor(org, subtrees(dingView(org).departments, tops)),
  moveUser: (userid, department) => ({ op: 'updateUser', user: { userid, dept_id_list: [department] } }),
  // Without 个人手机号信息 and 邮箱 permissions.
  withheldFields: ['mobile', 'email'],
  failedDepartments: (connector) => (connector as DingtalkSource).notes.failedDepartments,
  scopeTops: (connector) => (connector as DingtalkSource).notes.tops,
  mirror: (doc, truth) => ding.local(doc, truth),
  expected: (truth, tops) => ding.expected(truth, tops),
};

/** An adapter for every platform of connectors/registry.ts (source-conformance.test.ts checks that). */
export const SOURCE_SIMULATORS: readonly SourceSimulator[] = [wecomSimulator, dingtalkSimulator];
