import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DingConfig } from '../../src/simulator/dingtalk/config.js';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import {
  childrenOf,
  membersOf,
  startDingtalk,
  subtreeIds,
  widest,
  type DingtalkClient,
  type Directory,
} from './dingtalk-client.js';

/** The platform's behaviours, each switched at run time through POST /__sim/config and checked over HTTP. */

let sim: DingtalkSimulator;
let client: DingtalkClient;
let org: Directory;
let defaults: DingConfig;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
  org = await client.directory();
  defaults = (await client.control('GET', 'config')).body as DingConfig;
  await client.token();
});

afterAll(async () => {
  await sim.close();
});

// Every test leaves the switches as it found them.
afterEach(async () => {
  await client.configure(defaults);
});

/** A user with a mobile and an email. */
const contactable = () => org.users.find((u) => u.mobile !== undefined && u.email !== undefined)!;

/** A top-level department with a subtree and members, and a user who is also in a department outside it. */
function scopeWithStraddler() {
  for (const d of childrenOf(org.departments, 1)) {
    const inside = subtreeIds(org.departments, d.dept_id);
    if (inside.size < 2) continue;
    const straddler = org.users.find(
      (u) => u.dept_id_list.some((x) => inside.has(x)) && u.dept_id_list.some((x) => !inside.has(x)),
    );
    if (straddler) return { id: d.dept_id, inside, straddler };
  }
  throw new Error('no suitable contact scope in the generated org');
}

// ---------------------------------------------------------------------------------------------------------------

describe('sensitive fields', () => {
  it('withheld (the default): no mobile, state_code or email in v2/user/get and v2/user/list', async () => {
    expect(defaults.sensitiveFields).toBe('withheld');
    const u = contactable();
    const got = (await client.oapi('topapi/v2/user/get', { userid: u.userid })).result;
    for (const f of ['mobile', 'state_code', 'email']) expect(got).not.toHaveProperty(f);
    expect(got.name).toBe(u.name);
    const dept = u.dept_id_list[0]!;
    const all = (await client.oapi('topapi/user/listid', { dept_id: dept })).result.userid_list as string[];
    const page = await client.oapi('topapi/v2/user/list', {
      dept_id: dept,
      cursor: Math.floor(all.indexOf(u.userid) / 100) * 100,
      size: 100,
    });
    expect(page.result.list.find((x: { userid: string }) => x.userid === u.userid)).not.toHaveProperty('mobile');
  });

  it('returned: both reads carry them; and back again at run time', async () => {
    await client.configure({ sensitiveFields: 'returned' });
    const u = contactable();
    const got = (await client.oapi('topapi/v2/user/get', { userid: u.userid })).result;
    expect(got).toMatchObject({ mobile: u.mobile, state_code: u.state_code, email: u.email });
    await client.configure({ sensitiveFields: 'withheld' });
    expect((await client.oapi('topapi/v2/user/get', { userid: u.userid })).result).not.toHaveProperty('mobile');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('contact scope (visibleRange)', () => {
  it('inside: reads work; outside: department and member reads and v2/user/get → 60011', async () => {
    const { id, inside } = scopeWithStraddler();
    await client.configure({ visibleRange: [id] });
    expect((await client.get('auth/scopes')).auth_org_scopes.authed_dept).toEqual([id]);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: id })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/listsub', { dept_id: id })).errcode).toBe(0);
    const outside = org.departments.find(
      (d) => !inside.has(d.dept_id) && d.dept_id !== 1 && membersOf(org.users, d.dept_id).length > 0,
    )!;
    for (const dept_id of [1, outside.dept_id]) {
      expect((await client.oapi('topapi/v2/department/get', { dept_id })).errcode).toBe(60011);
      expect((await client.oapi('topapi/v2/department/listsub', { dept_id })).errcode).toBe(60011);
      expect((await client.oapi('topapi/v2/user/list', { dept_id, cursor: 0, size: 10 })).errcode).toBe(60011);
      expect((await client.oapi('topapi/user/listsimple', { dept_id, cursor: 0, size: 10 })).errcode).toBe(60011);
    }
    const outsider = org.users.find((u) => u.dept_id_list.every((d) => !inside.has(d)))!;
    const denied = await client.oapi('topapi/v2/user/get', { userid: outsider.userid });
    expect(denied.errcode).toBe(60011);
    expect(denied).not.toHaveProperty('sub_code');
    const insider = org.users.find((u) => u.dept_id_list.every((d) => inside.has(d)))!;
    expect((await client.oapi('topapi/v2/user/get', { userid: insider.userid })).errcode).toBe(0);
  });

  it('a user in departments inside and outside is readable, with every department listed', async () => {
    const { id, straddler } = scopeWithStraddler();
    await client.configure({ visibleRange: [id] });
    const got = await client.oapi('topapi/v2/user/get', { userid: straddler.userid });
    expect(got.errcode).toBe(0);
    expect(got.result.dept_id_list).toEqual(straddler.dept_id_list);
  });

  it('user/listid and listsubid are not limited by the scope', async () => {
    const { id, inside } = scopeWithStraddler();
    await client.configure({ visibleRange: [id] });
    const outside = org.departments.find((d) => !inside.has(d.dept_id) && membersOf(org.users, d.dept_id).length > 0)!;
    expect((await client.oapi('topapi/user/listid', { dept_id: outside.dept_id })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/department/listsubid', { dept_id: 1 })).errcode).toBe(0);
  });

  it('an empty scope: every department read → 60011', async () => {
    await client.configure({ visibleRange: [] });
    expect((await client.oapi('topapi/v2/department/listsub', { dept_id: 1 })).errcode).toBe(60011);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(60011);
    expect((await client.oapi('topapi/v2/user/get', { userid: org.users[0]!.userid })).errcode).toBe(60011);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('permissions and the IP allow-list', () => {
  it('deniedApis: errcode 88 with sub_code "60011" and the cause in sub_msg; other APIs work', async () => {
    await client.configure({ deniedApis: ['topapi/v2/user/list', 'topapi/v2/department/create'] });
    const { dept } = widest(org);
    const denied = await client.oapi('topapi/v2/user/list', { dept_id: dept.dept_id, cursor: 0, size: 10 });
    expect(denied).toMatchObject({
      errcode: 88,
      sub_code: '60011',
      sub_msg: expect.stringContaining('topapi/v2/user/list'),
      request_id: expect.any(String),
    });
    expect(denied).not.toHaveProperty('result');
    expect((await client.oapi('topapi/v2/department/create', { name: '无权', parent_id: 1 })).sub_code).toBe('60011');
    expect((await client.oapi('topapi/user/listid', { dept_id: dept.dept_id })).errcode).toBe(0);
  });

  it('untrustedIp: every oapi call, gettoken included, → 60020; the api host → 403 IpNotInWhiteList', async () => {
    await client.configure({ untrustedIp: true });
    expect((await client.gettoken()).errcode).toBe(60020);
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(60020);
    expect(
      (await client.oapi('topapi/v2/user/create', { name: 'x', mobile: '19900000000', dept_id_list: '1' })).errcode,
    ).toBe(60020);
    const api = await client.api('POST', 'v1.0/oauth2/accessToken', {
      appKey: sim.identity.clientId,
      appSecret: sim.identity.clientSecret,
    });
    expect(api.status).toBe(403);
    expect(api.body).toMatchObject({
      code: 'Forbidden.AccessDenied.IpNotInWhiteList',
      message: expect.any(String),
      requestid: expect.any(String),
    });
    await client.configure({ untrustedIp: false });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('rate limits', () => {
  it('qpsLimit: over it in one second → 90018 for that API only; the next second it works again', async () => {
    // The simulator's clock stands still unless the test moves it: "one second" is exactly that, however slow the machine.
    let clock = Date.now();
    const own = await startDingtalk({ config: { qpsLimit: 5 }, clock: () => clock });
    try {
      await own.client.token();
      const codes: number[] = [];
      for (let i = 0; i < 6; i++)
        codes.push((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode);
      expect(codes.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
      expect(codes[5]).toBe(90018);
      expect((await own.client.oapi('topapi/v2/department/listsubid', { dept_id: 1 })).errcode).toBe(0);
      clock += 1000;
      expect((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
    } finally {
      await own.sim.close();
    }
  });

  it('globalQpsLimit below qpsLimit → 90002', async () => {
    const own = await startDingtalk({ config: { globalQpsLimit: 3 }, clock: () => 1_700_000_000_000 });
    try {
      await own.client.token();
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode);
      expect(codes).toEqual([0, 0, 0, 90002]);
    } finally {
      await own.sim.close();
    }
  });

  it('the api host answers the same limits as HTTP 403: QpsLimitForAppkeyAndApi (per app) and QpsLimitForApi (global)', async () => {
    let clock = Date.now();
    const own = await startDingtalk({ config: { qpsLimit: 2 }, clock: () => clock });
    try {
      const body = { appKey: own.sim.identity.clientId, appSecret: own.sim.identity.clientSecret };
      const replies = [];
      for (let i = 0; i < 3; i++) replies.push(await own.client.api('POST', 'v1.0/oauth2/accessToken', body));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 403]);
      expect(replies[2]!.body).toMatchObject({
        code: 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi',
        requestid: expect.any(String),
      });
      clock += 1000;
      await own.client.configure({ qpsLimit: 100, globalQpsLimit: 1 });
      const first = await own.client.api('POST', 'v1.0/oauth2/accessToken', body);
      const second = await own.client.api('POST', 'v1.0/oauth2/accessToken', body);
      expect(first.status).toBe(200);
      expect(second).toMatchObject({ status: 403, body: { code: 'Forbidden.AccessDenied.QpsLimitForApi' } });
    } finally {
      await own.sim.close();
    }
  });

  it('the per-IP block: over ipLimitPer20s calls, every call gets a page without errcode until the block ends', async () => {
    let clock = Date.now();
    const own = await startDingtalk({ config: { ipLimitPer20s: 8, ipBlockSeconds: 1 }, clock: () => clock });
    try {
      const token = await own.client.token();
      for (let i = 0; i < 7; i++)
        expect((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
      const blocked = await own.client.oapiResponse('topapi/v2/department/get', { dept_id: 1 }, { token });
      expect(blocked.status).toBe(200);
      expect(blocked.headers.get('content-type')).toMatch(/text\/html/);
      const page = JSON.parse(await blocked.text()) as Record<string, unknown>;
      expect(page).not.toHaveProperty('errcode');
      expect(page).toMatchObject({ status: 1111, punish: 'deny', wait: expect.any(Number) });
      // Every API, gettoken and the api host included, while it lasts.
      const gettoken = await fetch(
        own.client.address('gettoken', { appkey: own.sim.identity.clientId, appsecret: own.sim.identity.clientSecret }),
      );
      expect(JSON.parse(await gettoken.text())).toMatchObject({ punish: 'deny' });
      const api = await fetch(own.client.address('v1.0/oauth2/accessToken'), { method: 'POST', body: '{}' });
      expect(JSON.parse(await api.text())).toMatchObject({ punish: 'deny' });
      clock += 999;
      expect(
        JSON.parse(await (await own.client.oapiResponse('topapi/v2/department/get', { dept_id: 1 }, { token })).text()),
      ).toMatchObject({ punish: 'deny' });
      clock += 1;
      expect((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token })).errcode).toBe(0);
    } finally {
      await own.sim.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('failingDepartments', () => {
  it('member reads of those departments → -1 (v2/user/list, user/listid, user/listsimple); others are fine', async () => {
    const { dept } = widest(org);
    const fine = org.departments.find((d) => d.dept_id !== dept.dept_id && membersOf(org.users, d.dept_id).length > 0)!;
    await client.configure({ failingDepartments: [dept.dept_id] });
    const failed = await client.oapi('topapi/v2/user/list', { dept_id: dept.dept_id, cursor: 0, size: 10 });
    expect(failed.errcode).toBe(-1);
    expect(failed).not.toHaveProperty('result');
    expect((await client.oapi('topapi/user/listid', { dept_id: dept.dept_id })).errcode).toBe(-1);
    expect((await client.oapi('topapi/user/listsimple', { dept_id: dept.dept_id, cursor: 0, size: 10 })).errcode).toBe(
      -1,
    );
    expect((await client.oapi('topapi/v2/department/get', { dept_id: dept.dept_id })).errcode).toBe(0);
    expect((await client.oapi('topapi/v2/user/list', { dept_id: fine.dept_id, cursor: 0, size: 10 })).errcode).toBe(0);
    await client.configure({ failingDepartments: [] });
    expect((await client.oapi('topapi/user/listid', { dept_id: dept.dept_id })).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('latency', () => {
  it('latencyMs adds at least that much to every call', async () => {
    const timed = async (): Promise<number> => {
      const start = performance.now();
      expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
      return performance.now() - start;
    };
    // Lower bounds only: a delay the simulator adds on purpose cannot come early, however loaded the machine.
    await client.configure({ latencyMs: 150 });
    expect(await timed()).toBeGreaterThanOrEqual(148);
    const start = performance.now();
    expect((await client.gettoken()).errcode).toBe(0);
    expect(performance.now() - start).toBeGreaterThanOrEqual(148);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('fault injection (faultRate 1)', () => {
  it("['errcode'] → -1 on oapi, HTTP 500 unknownError on the api host", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['errcode'] });
    const reply = await client.oapi('topapi/v2/department/listsub', { dept_id: 1 });
    expect(reply.errcode).toBe(-1);
    expect(reply).not.toHaveProperty('result');
    const api = await client.api('POST', 'v1.0/oauth2/accessToken', {
      appKey: sim.identity.clientId,
      appSecret: sim.identity.clientSecret,
    });
    expect(api).toMatchObject({ status: 500, body: { code: 'unknownError' } });
  });

  it("['ratelimit'] → 90018", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['ratelimit'] });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(90018);
  });

  it("['http502'] → HTTP 502", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['http502'] });
    const res = await client.oapiResponse('topapi/v2/department/get', { dept_id: 1 });
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('502');
  });

  it("['reset'] → the connection is reset, and the server answers afterwards", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['reset'] });
    await expect(client.oapiResponse('topapi/v2/department/get', { dept_id: 1 })).rejects.toThrow(/fetch failed/);
    await client.configure({ faultRate: 0 });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
  });

  it("['hang'] → no response: the client's timeout fires", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['hang'] });
    await expect(
      client.oapiResponse('topapi/v2/department/get', { dept_id: 1 }, { signal: AbortSignal.timeout(400) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it("['revoke'] → 88 / 40014 and the token stays dead; gettoken still works and gives a new one", async () => {
    const token = await client.token(true);
    await client.configure({ faultRate: 1, faultKinds: ['revoke'] });
    expect(await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token })).toMatchObject({
      errcode: 88,
      sub_code: '40014',
    });
    const fresh = await client.gettoken();
    expect(fresh.errcode).toBe(0);
    expect(fresh.access_token).not.toBe(token);
    await client.configure({ faultRate: 0 });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token })).sub_code).toBe('40014');
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: fresh.access_token })).errcode).toBe(
      0,
    );
    client.forget();
  });

  it("['block'] → the block page without errcode, once: the IP is not actually blocked", async () => {
    await client.token();
    await client.configure({ faultRate: 1, faultKinds: ['block'] });
    const res = await client.oapiResponse('topapi/v2/department/get', { dept_id: 1 });
    expect(JSON.parse(await res.text())).toMatchObject({ status: 1111, punish: 'deny' });
    await client.configure({ faultRate: 0 });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0);
  });

  it('the same seed meets the same faults on the same calls; another seed other faults', async () => {
    const sequence = async (seed: number): Promise<number[]> => {
      const own = await startDingtalk({ seed, departments: 5, users: 20 });
      try {
        await own.client.token();
        await own.client.configure({ faultRate: 0.4, faultKinds: ['errcode', 'ratelimit'] });
        const codes: number[] = [];
        for (let i = 0; i < 40; i++)
          codes.push((await own.client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode);
        return codes;
      } finally {
        await own.sim.close();
      }
    };
    const a = await sequence(11);
    expect(await sequence(11)).toEqual(a);
    expect(a.filter((c) => c !== 0).length).toBeGreaterThan(5);
    expect(a.filter((c) => c === -1).length).toBeGreaterThan(0);
    expect(a.filter((c) => c === 90018).length).toBeGreaterThan(0);
    expect(await sequence(12)).not.toEqual(a);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('POST /__sim/config validation', () => {
  it.each([
    ['qpsLimit: 0', { qpsLimit: 0 }, 'qpsLimit'],
    ['a bad fault kind', { faultKinds: ['meteor'] }, 'faultKinds'],
    ['an API the simulator does not serve', { deniedApis: ['topapi/v2/user/nothing'] }, 'deniedApis'],
    ['an unknown key', { qpslimit: 5 }, 'qpslimit'],
    ['a WeCom-only key', { rateLimitPerMinute: 5 }, 'rateLimitPerMinute'],
    ['a short callbackAesKey', { callbackAesKey: 'abc' }, 'callbackAesKey'],
    ['tokenReuse: "yes"', { tokenReuse: 'yes' }, 'tokenReuse'],
  ])('%s → 400 naming the key, config unchanged', async (_what, patch, key) => {
    const res = await client.control('POST', 'config', patch);
    expect(res.status).toBe(400);
    expect(res.body.error.issues.map((i: { key: string }) => i.key.split('.')[0])).toContain(key);
    expect((await client.control('GET', 'config')).body).toEqual(defaults);
  });

  it("the WeCom simulator's keys that apply are here, with the same defaults", () => {
    expect(defaults).toMatchObject({
      latencyMs: 0,
      faultRate: 0,
      tokenTtlSeconds: 7200,
      sensitiveFields: 'withheld',
      visibleRange: [1],
      untrustedIp: false,
      failingDepartments: [],
      trustedDomains: ['127.0.0.1', 'localhost'],
      callbackUrl: null,
      callbackToken: null,
      callbackAesKey: null,
      tokenReuse: true,
      ipLimitPer20s: 10_000,
      ipBlockSeconds: 300,
      deniedApis: [],
    });
    expect(defaults.faultKinds).toEqual(['errcode', 'ratelimit', 'http502', 'reset', 'hang', 'revoke', 'block']);
  });
});
