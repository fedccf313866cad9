import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimConfig } from '../../src/simulator/wecom/config.js';
import type { SimOrg, WecomUser } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { childrenOf, membersOf, sorted, startSimulator, subtreeIds, type WecomClient } from './wecom-client.js';

/** The platform's behaviours, each switched at run time through POST /__sim/config and checked over HTTP. */

const SENSITIVE = ['mobile', 'email', 'avatar', 'thumb_avatar', 'biz_mail', 'address', 'qr_code'] as const;

let sim: WecomSimulator;
let client: WecomClient;
let org: SimOrg;
let defaults: SimConfig;

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
  org = await client.directory();
  defaults = (await client.control('GET', 'config')).body as SimConfig;
  await client.token('app');
  await client.token('contacts');
});

afterAll(async () => {
  await sim.close();
});

// Every test leaves the switches as it found them.
afterEach(async () => {
  sim.releaseCalls();
  await client.configure(defaults);
});

/** A user with every sensitive field filled and a known gender. */
function richUser(): WecomUser {
  const u = org.users.find(
    (x) => x.gender !== '0' && x.mobile !== '' && x.email !== '' && x.avatar !== '' && x.qr_code !== '',
  );
  if (!u) throw new Error('no user with sensitive fields in the generated org');
  return u;
}

/** A department below the root whose subtree has members, with a user who is also in a department outside it. */
function rangeWithStraddler(): { id: number; straddler: WecomUser } {
  for (const d of org.departments) {
    if (d.id === 1 || childrenOf(org.departments, d.id).length === 0) continue;
    const inside = subtreeIds(org.departments, d.id);
    const straddler = org.users.find(
      (u) => u.department.some((x) => inside.has(x)) && u.department.some((x) => !inside.has(x)),
    );
    if (straddler && inside.size < org.departments.length / 2) return { id: d.id, straddler };
  }
  throw new Error('no suitable visible range in the generated org');
}

// ---------------------------------------------------------------------------------------------------------------

describe('sensitive fields', () => {
  it('withheld (the default): the app gets no mobile, email, avatar, biz_mail, address, qr_code, and gender "0"', async () => {
    expect(defaults.sensitiveFields).toBe('withheld');
    const u = richUser();
    const got = await client.get('user/get', { userid: u.userid }, { as: 'app' });
    expect(got.errcode).toBe(0);
    for (const f of SENSITIVE) expect(got).not.toHaveProperty(f);
    expect(got.gender).toBe('0');
    expect(got.name).toBe(u.name);
    expect(got.department).toEqual(u.department);

    const list = await client.get('user/list', { department_id: u.main_department }, { as: 'app' });
    const row = list.userlist.find((x: WecomUser) => x.userid === u.userid);
    expect(row).toBeDefined();
    for (const x of list.userlist) {
      for (const f of SENSITIVE) expect(x).not.toHaveProperty(f);
      expect(x.gender).toBe('0');
    }
  });

  it('the contacts secret always sees them', async () => {
    const u = richUser();
    const got = await client.get('user/get', { userid: u.userid }, { as: 'contacts' });
    for (const f of SENSITIVE) expect(got[f]).toBe(u[f]);
    expect(got.gender).toBe(u.gender);
    const list = await client.get('user/list', { department_id: u.main_department }, { as: 'contacts' });
    expect(list.userlist.find((x: WecomUser) => x.userid === u.userid)).toEqual(u);
  });

  it('"returned" (a legacy app): the app sees them too', async () => {
    await client.configure({ sensitiveFields: 'returned' });
    const u = richUser();
    const got = await client.get('user/get', { userid: u.userid }, { as: 'app' });
    expect(got).toEqual({ errcode: 0, errmsg: 'ok', ...u });
    const list = await client.get('user/list', { department_id: u.main_department }, { as: 'app' });
    expect(list.userlist.find((x: WecomUser) => x.userid === u.userid)).toEqual(u);
    // And back: the switch works both ways at run time.
    await client.configure({ sensitiveFields: 'withheld' });
    const again = await client.get('user/list', { department_id: u.main_department }, { as: 'app' });
    expect(again.userlist.find((x: WecomUser) => x.userid === u.userid)).not.toHaveProperty('mobile');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('visible range', () => {
  it('department/list and simplelist return exactly the visible subtree, its top keeping its parentid', async () => {
    const { id } = rangeWithStraddler();
    const top = org.departments.find((d) => d.id === id)!;
    await client.configure({ visibleRange: [id] });
    const expected = subtreeIds(org.departments, id);
    const list = await client.get('department/list', {}, { as: 'app' });
    expect(list.errcode).toBe(0);
    expect(list.department.length).toBeGreaterThan(1);
    expect(new Set(list.department.map((d: { id: number }) => d.id))).toEqual(expected);
    expect(list.department.length).toBe(expected.size);
    expect(list.department.find((d: { id: number }) => d.id === id)).toEqual(top);
    expect(top.parentid).not.toBe(0);

    const simple = await client.get('department/simplelist', {}, { as: 'app' });
    expect(new Set(simple.department_id.map((d: { id: number }) => d.id))).toEqual(expected);
    expect(simple.department_id.find((d: { id: number }) => d.id === id).parentid).toBe(top.parentid);

    // The contacts secret is not limited by the app's range.
    expect((await client.get('department/list', {}, { as: 'contacts' })).department.length).toBe(
      org.departments.length,
    );
  });

  it('two ranges give their union, without duplicates', async () => {
    const { id } = rangeWithStraddler();
    const other = childrenOf(org.departments, 1).find(
      (d) => !subtreeIds(org.departments, id).has(d.id) && !subtreeIds(org.departments, d.id).has(id),
    )!;
    await client.configure({ visibleRange: [id, other.id] });
    const ids: number[] = (await client.get('department/list', {}, { as: 'app' })).department.map(
      (d: { id: number }) => d.id,
    );
    expect(sorted(ids)).toEqual(sorted([...subtreeIds(org.departments, id), ...subtreeIds(org.departments, other.id)]));
  });

  it('outside the range: department/get, user/list and user/get → 60011', async () => {
    const { id } = rangeWithStraddler();
    const inside = subtreeIds(org.departments, id);
    await client.configure({ visibleRange: [id] });
    const outsideDept = org.departments.find((d) => !inside.has(d.id) && membersOf(org.users, d.id).length > 0)!;
    expect((await client.get('department/get', { id: outsideDept.id }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('department/get', { id: 1 }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('department/list', { id: outsideDept.id }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('user/list', { department_id: outsideDept.id }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('user/simplelist', { department_id: outsideDept.id }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('department/get', { id }, { as: 'app' })).errcode).toBe(0);

    const outsider = org.users.find((u) => u.department.every((d) => !inside.has(d)))!;
    expect((await client.get('user/get', { userid: outsider.userid }, { as: 'app' })).errcode).toBe(60011);
    expect((await client.get('user/get', { userid: outsider.userid }, { as: 'contacts' })).errcode).toBe(0);
    const insider = org.users.find((u) => u.department.every((d) => inside.has(d)))!;
    expect((await client.get('user/get', { userid: insider.userid }, { as: 'app' })).errcode).toBe(0);

    const members = await client.get('user/list', { department_id: id, fetch_child: 1 }, { as: 'app' });
    expect(members.errcode).toBe(0);
    expect(sorted(members.userlist.map((u: WecomUser) => u.userid))).toEqual(
      sorted(org.users.filter((u) => u.department.some((d) => inside.has(d))).map((u) => u.userid)),
    );
  });

  it('a user in departments inside and outside shows only the visible ones, flags aligned', async () => {
    const { id, straddler } = rangeWithStraddler();
    const inside = subtreeIds(org.departments, id);
    await client.configure({ visibleRange: [id] });
    const keep = straddler.department.map((d, i) => (inside.has(d) ? i : -1)).filter((i) => i >= 0);
    expect(keep.length).toBeGreaterThan(0);
    expect(keep.length).toBeLessThan(straddler.department.length);
    const got = await client.get('user/get', { userid: straddler.userid }, { as: 'app' });
    expect(got.errcode).toBe(0);
    expect(got.department).toEqual(keep.map((i) => straddler.department[i]));
    expect(got.order).toEqual(keep.map((i) => straddler.order[i]));
    expect(got.is_leader_in_dept).toEqual(keep.map((i) => straddler.is_leader_in_dept[i]));
    const visibleDept = straddler.department[keep[0]!]!;
    const list = await client.get('user/simplelist', { department_id: visibleDept }, { as: 'app' });
    expect(list.userlist.find((u: WecomUser) => u.userid === straddler.userid).department).toEqual(got.department);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('IP switches', () => {
  it('untrustedIp: every call, gettoken included, → 60020; off again, calls work', async () => {
    await client.configure({ untrustedIp: true });
    const { corpId, secret } = sim.identity;
    expect((await client.get('gettoken', { corpid: corpId, corpsecret: secret }, { as: null })).errcode).toBe(60020);
    expect((await client.get('department/list', {}, { as: 'app' })).errcode).toBe(60020);
    expect((await client.get('user/get', { userid: org.users[0]!.userid }, { as: 'contacts' })).errcode).toBe(60020);
    expect((await client.post('user/list_id', {}, { as: 'contacts' })).errcode).toBe(60020);
    expect((await client.post('department/create', { name: 'ip', parentid: 1 }, { as: 'contacts' })).errcode).toBe(
      60020,
    );
    expect((await client.get('getcallbackip', {}, { as: 'app' })).errcode).toBe(60020);
    await client.configure({ untrustedIp: false });
    expect((await client.get('department/list', {}, { as: 'app' })).errcode).toBe(0);
  });

  it('contactsSecretNewIp: the contacts secret detail reads → 48009; list_id, simplelist and writes still work', async () => {
    await client.configure({ contactsSecretNewIp: true });
    const u = org.users[0]!;
    const c = { as: 'contacts' } as const;
    expect((await client.get('user/get', { userid: u.userid }, c)).errcode).toBe(48009);
    expect((await client.get('user/list', { department_id: u.main_department }, c)).errcode).toBe(48009);
    expect((await client.get('user/simplelist', { department_id: u.main_department }, c)).errcode).toBe(48009);
    expect((await client.get('department/list', {}, c)).errcode).toBe(48009);
    expect((await client.get('department/get', { id: 1 }, c)).errcode).toBe(48009);

    const ids = await client.post('user/list_id', {}, c);
    expect(ids.errcode).toBe(0);
    expect(ids.dept_user.length).toBeGreaterThanOrEqual(org.users.length);
    const simple = await client.get('department/simplelist', {}, c);
    expect(simple.errcode).toBe(0);
    expect(simple.department_id.length).toBe(org.departments.length);
    const created = await client.post('department/create', { name: '新IP写入', parentid: 1 }, c);
    expect(created.errcode).toBe(0);
    expect((await client.get('department/delete', { id: created.id }, c)).errcode).toBe(0);
    // The app secret is not affected.
    expect((await client.get('user/get', { userid: u.userid }, { as: 'app' })).errcode).toBe(0);

    await client.configure({ contactsSecretNewIp: false });
    expect((await client.get('user/get', { userid: u.userid }, c)).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('limits and latency', () => {
  it('rateLimitPerMinute: the 6th call of one API in a minute → 45009, another API still works', async () => {
    // A fresh simulator (earlier calls in this file would count towards the minute), on a clock that stands still.
    const own = await startSimulator({ clock: () => 1_700_000_000_000 });
    try {
      await own.client.token('app');
      await own.client.configure({ rateLimitPerMinute: 5 });
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await own.client.get('department/get', { id: 1 })).errcode);
      expect(codes).toEqual([0, 0, 0, 0, 0, 45009]);
      const limited = await own.client.get('department/get', { id: 1 });
      expect(limited.errcode).toBe(45009);
      expect(limited.errmsg).toMatch(/freq/);
      expect((await own.client.get('department/simplelist')).errcode).toBe(0);
      await own.client.configure({ rateLimitPerMinute: 10_000 });
      expect((await own.client.get('department/get', { id: 1 })).errcode).toBe(0);
    } finally {
      await own.sim.close();
    }
  });

  it('concurrencyLimit 1: of two parallel calls of one API, one is 45033; different APIs do not block each other', async () => {
    await client.configure({ concurrencyLimit: 1 });
    const held = async (n: number) => {
      while ((await client.control('GET', 'calls/hold')).body.held !== n) await new Promise((r) => setImmediate(r));
    };
    // The first call is held inside the simulator, so the second provably arrives while it is in flight.
    sim.holdCalls();
    const first = client.get('department/get', { id: 1 });
    await held(1);
    const second = await client.get('department/get', { id: 1 });
    expect(second.errcode).toBe(45033);
    expect(second.errmsg).toMatch(/concurrent/);
    // Another API is not blocked by it: it gets in (and waits at the hold beside the first).
    const other = client.get('department/simplelist');
    await held(2);
    sim.releaseCalls();
    expect([(await first).errcode, (await other).errcode]).toEqual([0, 0]);
    // One after the other is fine.
    expect((await client.get('department/get', { id: 1 })).errcode).toBe(0);
    expect((await client.get('department/get', { id: 1 })).errcode).toBe(0);
  });

  it('latencyMs adds at least that much to every call', async () => {
    const timed = async (): Promise<number> => {
      const start = performance.now();
      expect((await client.get('department/get', { id: 1 })).errcode).toBe(0);
      return performance.now() - start;
    };
    // Lower bounds only: a delay the simulator adds on purpose cannot come early, however loaded the machine.
    await client.configure({ latencyMs: 150 });
    expect(await timed()).toBeGreaterThanOrEqual(148);
    const start = performance.now();
    expect(
      (await client.get('gettoken', { corpid: sim.identity.corpId, corpsecret: sim.identity.secret }, { as: null }))
        .errcode,
    ).toBe(0);
    expect(performance.now() - start).toBeGreaterThanOrEqual(148);
  });

  it('failingDepartments: member reads of those departments → -1, others are fine', async () => {
    const counts = org.departments
      .map((d) => [d.id, membersOf(org.users, d.id).length] as const)
      .filter(([, n]) => n > 0);
    const [failing] = counts[0]!;
    const [fine] = counts[1]!;
    await client.configure({ failingDepartments: [failing] });
    const c = { as: 'contacts' } as const;
    const failed = await client.get('user/list', { department_id: failing }, c);
    expect(failed.errcode).toBe(-1);
    expect(failed.userlist).toBeUndefined();
    expect((await client.get('user/simplelist', { department_id: failing }, c)).errcode).toBe(-1);
    expect((await client.get('user/list', { department_id: failing }, { as: 'app' })).errcode).toBe(-1);
    expect((await client.get('user/list', { department_id: fine }, c)).errcode).toBe(0);
    expect((await client.get('department/get', { id: failing }, c)).errcode).toBe(0);
    // A recursive read that takes in the failing department fails too.
    expect((await client.get('user/list', { department_id: 1, fetch_child: 1 }, c)).errcode).toBe(-1);
    await client.configure({ failingDepartments: [] });
    expect((await client.get('user/list', { department_id: failing }, c)).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('fault injection (faultRate 1)', () => {
  it("['errcode'] → -1", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['errcode'] });
    const reply = await client.get('department/list');
    expect(reply.errcode).toBe(-1);
    expect(reply.department).toBeUndefined();
    expect((await client.post('user/list_id', {}, { as: 'contacts' })).errcode).toBe(-1);
  });

  it("['ratelimit'] → 45009", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['ratelimit'] });
    expect((await client.get('department/list')).errcode).toBe(45009);
    expect((await client.get('user/get', { userid: org.users[0]!.userid })).errcode).toBe(45009);
  });

  it("['http502'] → HTTP 502", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['http502'] });
    const res = await client.getResponse('department/list');
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('502');
  });

  it("['reset'] → the connection is reset, and the server answers afterwards", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['reset'] });
    await expect(client.getResponse('department/list')).rejects.toThrow(/fetch failed/);
    await client.configure({ faultRate: 0 });
    expect((await client.get('department/list')).errcode).toBe(0);
  });

  it("['hang'] → no response: the client's timeout fires", async () => {
    await client.configure({ faultRate: 1, faultKinds: ['hang'] });
    await expect(client.getResponse('department/list', {}, { signal: AbortSignal.timeout(500) })).rejects.toMatchObject(
      { name: 'TimeoutError' },
    );
    await client.configure({ faultRate: 0 });
    expect((await client.get('department/list')).errcode).toBe(0);
  });

  it("['revoke'] → 40014, and the token stays invalid; gettoken is not revoked", async () => {
    const token = await client.token('app', true);
    await client.configure({ faultRate: 1, faultKinds: ['revoke'] });
    expect((await client.get('department/list', { access_token: token })).errcode).toBe(40014);
    const fresh = await client.get(
      'gettoken',
      { corpid: sim.identity.corpId, corpsecret: sim.identity.secret },
      { as: null },
    );
    expect(fresh.errcode).toBe(0);
    await client.configure({ faultRate: 0 });
    expect((await client.get('department/list', { access_token: token })).errcode).toBe(40014);
    expect((await client.get('department/list', { access_token: fresh.access_token })).errcode).toBe(0);
    client.forget();
  });

  it('faultRate 0 injects nothing; a rate between 0 and 1 injects some', async () => {
    await client.configure({ faultRate: 0.5, faultKinds: ['errcode'] });
    const codes: number[] = [];
    for (let i = 0; i < 40; i++) codes.push((await client.get('department/simplelist')).errcode);
    expect(codes.filter((c) => c === -1).length).toBeGreaterThan(5);
    expect(codes.filter((c) => c === 0).length).toBeGreaterThan(5);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('POST /__sim/config validation', () => {
  it.each([
    ['latencyMs: -1', { latencyMs: -1 }, 'latencyMs'],
    ['latencyMs: "fast"', { latencyMs: 'fast' }, 'latencyMs'],
    ['faultRate: 2', { faultRate: 2 }, 'faultRate'],
    ['an unknown key', { latencyMS: 5 }, 'latencyMS'],
    ['a bad fault kind', { faultKinds: ['meltdown'] }, 'faultKinds'],
    ['a short callbackAesKey', { callbackAesKey: 'abc' }, 'callbackAesKey'],
    ['a good and a bad switch together', { latencyMs: 50, visibleRange: [0] }, 'visibleRange'],
  ])('%s → 400 naming the key, config unchanged', async (_what, patch, key) => {
    const before = (await client.control('GET', 'config')).body;
    const res = await client.control('POST', 'config', patch);
    expect(res.status).toBe(400);
    expect(res.body.error.issues.map((i: { key: string }) => i.key.split('.')[0])).toContain(key);
    expect((await client.control('GET', 'config')).body).toEqual(before);
    expect((await client.control('GET', 'config')).body.latencyMs).toBe(0);
  });

  it('a body that is not a JSON object → 400', async () => {
    expect((await client.control('POST', 'config', '{latencyMs')).status).toBe(400);
    expect((await client.control('POST', 'config', '[1]')).status).toBe(400);
    expect((await client.control('GET', 'config')).body).toEqual(defaults);
  });

  it('a good patch changes only its keys and answers with the whole config', async () => {
    const res = await client.control('POST', 'config', { latencyMs: 5, failingDepartments: [3] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...defaults, latencyMs: 5, failingDepartments: [3] });
    expect((await client.control('GET', 'config')).body).toEqual(res.body);
  });
});
