import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { membersOf, sorted, startDingtalk, type DingtalkClient } from './dingtalk-client.js';

/** The simulator's own control API under /__sim/: counters, ground truth, changes, switches, identity. */

let sim: DingtalkSimulator;
let client: DingtalkClient;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
});

afterAll(async () => {
  await sim.close();
});

async function directoryText(c: DingtalkClient): Promise<string> {
  const res = await fetch(new URL('/__sim/directory', c.url));
  expect(res.status).toBe(200);
  return res.text();
}

// ---------------------------------------------------------------------------------------------------------------

describe('stats', () => {
  it('counts calls per path and in total, the three hosts alike; the control API and unknown paths are not counted', async () => {
    expect(await client.control('POST', 'stats/reset')).toEqual({ status: 200, body: { ok: true } });
    client.forget();
    await client.token();
    for (let i = 0; i < 3; i++) await client.oapi('topapi/v2/department/listsub', { dept_id: 1 });
    await client.oapi('topapi/v2/user/get', { userid: 'nobody' }); // errors count too
    await client.api('POST', 'v1.0/oauth2/accessToken', { appKey: 'x', appSecret: 'y' });
    await fetch(new URL('/oauth2/auth', client.url));
    await fetch(new URL('/not/an/api', client.url));
    await client.control('GET', 'directory');
    expect((await client.control('GET', 'stats')).body).toEqual({
      total: 7,
      calls: {
        '/gettoken': 1,
        '/oauth2/auth': 1,
        '/topapi/v2/department/listsub': 3,
        '/topapi/v2/user/get': 1,
        '/v1.0/oauth2/accessToken': 1,
      },
    });
    await client.control('POST', 'stats/reset');
    expect((await client.control('GET', 'stats')).body).toEqual({ total: 0, calls: {} });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('directory', () => {
  it('is the ground truth in the shapes of v2/department/get and v2/user/get, every field', async () => {
    await client.configure({ sensitiveFields: 'returned' });
    try {
      const org = await client.directory();
      expect(Object.keys(org).sort()).toEqual(['departments', 'users']);
      expect(org.departments.length).toBe(40);
      expect(org.users.length).toBe(1500);
      expect(org.departments.map((d) => d.dept_id)).toEqual(
        sorted(org.departments.map((d) => d.dept_id)).sort((a, b) => a - b),
      );
      for (const d of org.departments.slice(0, 10)) {
        expect((await client.oapi('topapi/v2/department/get', { dept_id: d.dept_id })).result).toEqual(d);
      }
      for (const u of [org.users[0]!, org.users[17]!, org.users.find((x) => x.dept_id_list.length > 1)!]) {
        expect((await client.oapi('topapi/v2/user/get', { userid: u.userid })).result).toEqual(u);
      }
      // Managers follow the members' leader flags.
      for (const d of org.departments) {
        const leaders = membersOf(org.users, d.dept_id).filter(
          (u) => u.leader_in_dept.find((l) => l.dept_id === d.dept_id)!.leader,
        );
        expect(sorted(d.dept_manager_userid_list)).toEqual(sorted(leaders.map((u) => u.userid)));
      }
    } finally {
      await client.configure({ sensitiveFields: 'withheld' });
    }
  });

  it('the same seed gives the same org byte for byte; another seed another', async () => {
    const a = await startDingtalk({ seed: 21, departments: 12, users: 90 });
    const b = await startDingtalk({ seed: 21, departments: 12, users: 90 });
    const c = await startDingtalk({ seed: 22, departments: 12, users: 90 });
    try {
      expect(await directoryText(a.client)).toBe(await directoryText(b.client));
      expect(await directoryText(c.client)).not.toBe(await directoryText(a.client));
      expect(a.sim.identity).toEqual(b.sim.identity);
      expect(c.sim.identity).not.toEqual(a.sim.identity);
    } finally {
      for (const s of [a, b, c]) await s.sim.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('mutate', () => {
  it('applies explicit operations in order; the API shows them', async () => {
    const before = await client.directory();
    const someone = before.users.find((u) => !u.active)!;
    const res = await client.control('POST', 'mutate', {
      operations: [
        { op: 'createDepartment', department: { dept_id: 90001, name: '控制台新部门', parent_id: 1, order: 2 } },
        {
          op: 'createUser',
          user: {
            userid: 'ctl.user',
            name: '控制台',
            dept_id_list: [90001],
            mobile: '19912345678',
            leader_in_dept: [{ dept_id: 90001, leader: true }],
            active: true,
          },
        },
        { op: 'updateDepartment', department: { dept_id: 90001, name: '控制台部门' } },
        { op: 'updateUser', user: { userid: someone.userid, active: true, title: '激活了' } },
        { op: 'createDepartment', department: { name: '空部门', parent_id: 90001 } },
      ],
    });
    expect(res).toEqual({ status: 200, body: { applied: 5 } });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 90001 })).result).toMatchObject({
      name: '控制台部门',
      order: 2,
      dept_manager_userid_list: ['ctl.user'],
    });
    expect((await client.oapi('topapi/v2/user/get', { userid: 'ctl.user' })).result).toMatchObject({
      active: true,
      leader_in_dept: [{ dept_id: 90001, leader: true }],
    });
    expect((await client.oapi('topapi/v2/user/get', { userid: someone.userid })).result).toMatchObject({
      active: true,
      title: '激活了',
    });
    const kids = (await client.oapi('topapi/v2/department/listsubid', { dept_id: 90001 })).result
      .dept_id_list as number[];
    expect(kids).toHaveLength(1);

    const removed = await client.control('POST', 'mutate', {
      operations: [
        { op: 'deleteUser', userid: 'ctl.user' },
        { op: 'deleteDepartment', dept_id: 90001 },
      ],
    });
    expect(removed.body).toEqual({ applied: 2 });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: kids[0] })).errcode).toBe(60003);
  });

  it('stops at an operation DingTalk would refuse: 409 with its index, op and errcode; earlier ones stay applied', async () => {
    const res = await client.control('POST', 'mutate', {
      operations: [
        { op: 'createDepartment', department: { name: '先成功', parent_id: 1 } },
        { op: 'deleteDepartment', dept_id: 1 },
        { op: 'createDepartment', department: { name: '不会执行', parent_id: 1 } },
      ],
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ applied: 1, error: { index: 1, op: 'deleteDepartment', errcode: 60007 } });
    const names = (
      (await client.oapi('topapi/v2/department/listsub', { dept_id: 1 })).result as Array<{ name: string }>
    ).map((d) => d.name);
    expect(names).toContain('先成功');
    expect(names).not.toContain('不会执行');
  });

  it('refuses a malformed body with 400 naming the field', async () => {
    const bad = await client.control('POST', 'mutate', {
      operations: [{ op: 'createUser', user: { name: 'x', dept_id_list: '1' } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path)).toContain('operations.0.user.dept_id_list');
    expect((await client.control('POST', 'mutate', { operations: [{ op: 'explode' }] })).status).toBe(400);
    expect((await client.control('POST', 'mutate', '{nope')).status).toBe(400);
    expect((await client.control('POST', 'mutate', { random: { count: -1, seed: 1 } })).status).toBe(400);
  });

  it('random: a realistic mix, all valid, deterministic in (org, count, seed)', async () => {
    const a = await startDingtalk({ seed: 31, departments: 20, users: 150 });
    const b = await startDingtalk({ seed: 31, departments: 20, users: 150 });
    try {
      const before = await a.client.directory();
      expect((await a.client.control('POST', 'mutate', { random: { count: 300, seed: 8 } })).body).toEqual({
        applied: 300,
      });
      expect((await b.client.control('POST', 'mutate', { random: { count: 300, seed: 8 } })).body).toEqual({
        applied: 300,
      });
      const after = await directoryText(a.client);
      expect(after).toBe(await directoryText(b.client));
      const org = JSON.parse(after) as typeof before;
      expect(org.users.length).not.toBe(before.users.length);
      expect(org.departments.map((d) => d.dept_id)).not.toEqual(before.departments.map((d) => d.dept_id));
      for (const d of org.departments) expect(d.name).not.toMatch(/[-,，]/);
    } finally {
      await a.sim.close();
      await b.sim.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('identity, config and callbacks counters', () => {
  it('GET /__sim/identity: the ready line facts', async () => {
    const res = await client.control('GET', 'identity');
    expect(res.body).toEqual({ url: client.url, ...sim.identity });
    expect(res.body).toMatchObject({
      corpId: expect.stringMatching(/^ding/),
      clientId: expect.stringMatching(/^ding/),
      agentId: expect.any(Number),
      clientSecret: expect.any(String),
    });
  });

  it('GET /__sim/config answers every switch; POST changes only the keys given', async () => {
    const before = (await client.control('GET', 'config')).body;
    const res = await client.control('POST', 'config', { latencyMs: 5, failingDepartments: [3] });
    expect(res.body).toEqual({ ...before, latencyMs: 5, failingDepartments: [3] });
    await client.configure(before);
    expect((await client.control('POST', 'config', '[1]')).status).toBe(400);
  });

  it('GET /__sim/callbacks: delivery counters', async () => {
    expect((await client.control('GET', 'callbacks')).body).toEqual({
      queued: 0,
      delivered: 0,
      failed: 0,
      attempts: 0,
      lastError: null,
      holding: false,
      held: 0,
      inFlight: 0,
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('plant', () => {
  it("overwrites a user's fields with any JSON, unchecked: v2/user/get and v2/user/list serve it as planted", async () => {
    const dir = (await client.control('GET', 'directory')).body as {
      users: Array<{ userid: string; dept_id_list: number[] }>;
    };
    const target = dir.users.find((u) => u.dept_id_list.length > 0) as { userid: string; dept_id_list: number[] };
    const res = await client.control('POST', 'plant', {
      userid: target.userid,
      fields: { name: ['not', 'text'], title: '\u001b[31mred\u0007' },
    });
    expect(res).toEqual({ status: 200, body: { planted: ['name', 'title'] } });
    const got = await client.oapi('topapi/v2/user/get', { userid: target.userid });
    expect(got.result).toMatchObject({ userid: target.userid, name: ['not', 'text'], title: '\u001b[31mred\u0007' });
    const page = await client.oapi('topapi/v2/user/list', { dept_id: target.dept_id_list[0], cursor: 0, size: 100 });
    const listed = (page.result.list as Array<{ userid: string; name: unknown }>).find(
      (u) => u.userid === target.userid,
    );
    expect(listed?.name).toEqual(['not', 'text']);
  });

  it('refuses the userid and memberships (400 naming the field) and an unknown user (404)', async () => {
    const dir = (await client.control('GET', 'directory')).body as { users: Array<{ userid: string }> };
    const target = dir.users[0] as { userid: string };
    const bad = await client.control('POST', 'plant', { userid: target.userid, fields: { dept_id_list: [] } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('fields.dept_id_list');
    const missing = await client.control('POST', 'plant', { userid: 'nobody-here', fields: { name: 'x' } });
    expect(missing).toEqual({
      status: 404,
      body: { error: { message: 'no user with userid "nobody-here"', path: 'userid' } },
    });
  });

  it('a department too: listsub serves it as planted; its id and parent cannot be planted', async () => {
    const dir = (await client.control('GET', 'directory')).body as {
      departments: Array<{ dept_id: number; parent_id?: number }>;
    };
    const target = dir.departments.find((d) => d.dept_id !== 1 && d.parent_id !== undefined) as {
      dept_id: number;
      parent_id: number;
    };
    expect(
      await client.control('POST', 'plant', { departmentId: target.dept_id, fields: { name: 'Ops\u001b[2J' } }),
    ).toEqual({ status: 200, body: { planted: ['name'] } });
    const children = await client.oapi('topapi/v2/department/listsub', { dept_id: target.parent_id });
    expect(
      (children.result as Array<{ dept_id: number; name: string }>).find((d) => d.dept_id === target.dept_id)?.name,
    ).toBe('Ops\u001b[2J');
    const bad = await client.control('POST', 'plant', { departmentId: target.dept_id, fields: { parent_id: 1 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('fields.parent_id');
    expect((await client.control('POST', 'plant', { departmentId: 999_999, fields: { name: 'x' } })).status).toBe(404);
  });
});

describe('holds (for tests that need a known point)', () => {
  it('POST /__sim/calls/hold: later API calls are counted and then wait, in order, until POST /__sim/calls/release', async () => {
    await client.token();
    const total = (await client.control('GET', 'stats')).body.total as number;
    expect(await client.control('POST', 'calls/hold', { after: 1 })).toEqual({
      status: 200,
      body: { holding: true, allowance: 1, held: 0 },
    });
    expect((await client.oapi('topapi/v2/department/get', { dept_id: 1 })).errcode).toBe(0); // the one let through
    let answered = 0;
    const calls = [1, 2].map(() =>
      client.oapi('topapi/v2/department/get', { dept_id: 1 }).then((r) => (answered++, r)),
    );
    await pollTo(async () => (await client.control('GET', 'calls/hold')).body.held === 2);
    expect(answered).toBe(0);
    expect((await client.control('GET', 'stats')).body.total).toBe(total + 3);
    expect(await client.control('POST', 'calls/release')).toEqual({
      status: 200,
      body: { holding: false, allowance: 0, held: 0 },
    });
    for (const r of await Promise.all(calls)) expect(r.errcode).toBe(0);
    expect(answered).toBe(2);
  });

  it('POST /__sim/callbacks/hold and /release answer the delivery counters; a bad "after" is a 400 naming it', async () => {
    expect((await client.control('POST', 'callbacks/hold')).body).toMatchObject({ holding: true, held: 0 });
    expect((await client.control('POST', 'callbacks/release')).body).toMatchObject({ holding: false, held: 0 });
    for (const bad of [{ after: -1 }, { after: 1.5 }, { after: 'two' }, { until: 3 }]) {
      const res = await client.control('POST', 'callbacks/hold', bad);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.error.issues)).toMatch(/"path":"(after|until)"/);
    }
    expect((await client.control('POST', 'calls/hold', { after: -1 })).status).toBe(400);
    expect((await client.control('GET', 'calls/hold')).body).toEqual({ holding: false, allowance: 0, held: 0 });
  });
});

/** Polls `check` until it holds (the test's own timeout ends a wait that never does). */
async function pollTo(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setImmediate(r));
}
