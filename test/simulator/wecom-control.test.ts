import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomOperations } from '../../src/simulator/org-generator.js';
import { simConfigSchema } from '../../src/simulator/wecom/config.js';
import type { SimOrg } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { sorted, startSimulator, type WecomClient } from './wecom-client.js';

/** The simulator's own control API under /__sim/: counters, ground truth, changes, switches. */

const USER_KEYS = sorted([
  'userid',
  'name',
  'department',
  'order',
  'is_leader_in_dept',
  'main_department',
  'position',
  'mobile',
  'gender',
  'email',
  'biz_mail',
  'direct_leader',
  'avatar',
  'thumb_avatar',
  'telephone',
  'alias',
  'address',
  'extattr',
  'status',
  'qr_code',
  'external_position',
]);

let sim: WecomSimulator;
let client: WecomClient;

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
});

afterAll(async () => {
  await sim.close();
});

async function directoryText(c: WecomClient): Promise<string> {
  const res = await fetch(new URL('/__sim/directory', c.url));
  expect(res.status).toBe(200);
  return res.text();
}

// ---------------------------------------------------------------------------------------------------------------

describe('stats', () => {
  it('counts WeCom calls per path and in total; the control API and unknown paths are not counted', async () => {
    expect(await client.control('POST', 'stats/reset')).toEqual({ status: 200, body: { ok: true } });
    expect((await client.control('GET', 'stats')).body).toEqual({ total: 0, calls: {} });
    client.forget();
    await client.token('app');
    await client.token('contacts');
    for (let i = 0; i < 3; i++) await client.get('department/list');
    await client.get('user/get', { userid: 'nobody' }); // errors count too
    await client.get('department/list', { access_token: 'bad' });
    await fetch(new URL(`/connect/oauth2/authorize?appid=${sim.identity.corpId}`, sim.url));
    await fetch(new URL('/cgi-bin/not/an/api', sim.url));
    await client.control('GET', 'directory');
    expect((await client.control('GET', 'stats')).body).toEqual({
      total: 8,
      calls: {
        '/cgi-bin/department/list': 4,
        '/cgi-bin/gettoken': 2,
        '/cgi-bin/user/get': 1,
        '/connect/oauth2/authorize': 1,
      },
    });
  });

  it('POST /__sim/stats/reset zeroes them', async () => {
    await client.get('department/simplelist');
    expect((await client.control('GET', 'stats')).body.total).toBeGreaterThan(0);
    expect((await client.control('POST', 'stats/reset')).status).toBe(200);
    expect((await client.control('GET', 'stats')).body).toEqual({ total: 0, calls: {} });
    await client.get('department/simplelist');
    expect((await client.control('GET', 'stats')).body).toEqual({
      total: 1,
      calls: { '/cgi-bin/department/simplelist': 1 },
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('directory', () => {
  it('is the ground truth in the shapes of department/list and user/get, every field', async () => {
    const org = await client.directory();
    expect(org.departments.length).toBe(40);
    expect(org.users.length).toBe(300);
    expect(org.departments.map((d) => d.id)).toEqual(org.departments.map((d) => d.id).sort((a, b) => a - b));
    const list = await client.get('department/list', {}, { as: 'contacts' });
    expect([...list.department].sort((a, b) => a.id - b.id)).toEqual(org.departments);
    for (const u of org.users) expect(sorted(Object.keys(u))).toEqual(USER_KEYS);
    const someone = org.users[17]!;
    expect(await client.get('user/get', { userid: someone.userid }, { as: 'contacts' })).toEqual({
      errcode: 0,
      errmsg: 'ok',
      ...someone,
    });
  });

  it('the same seed gives byte-identical JSON; another seed another org', async () => {
    const twin = await startSimulator({ seed: 7 });
    const other = await startSimulator({ seed: 8 });
    try {
      const mine = await directoryText(client);
      expect(await directoryText(twin.client)).toBe(mine);
      expect(twin.sim.identity).toEqual(sim.identity);
      const theirs = await directoryText(other.client);
      expect(theirs).not.toBe(mine);
      const a = JSON.parse(mine) as SimOrg;
      const b = JSON.parse(theirs) as SimOrg;
      expect(b.users.map((u) => u.userid)).not.toEqual(a.users.map((u) => u.userid));
      expect(other.sim.identity.corpId).not.toBe(sim.identity.corpId);
    } finally {
      await twin.sim.close();
      await other.sim.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('mutate', () => {
  it('{random: {count: 50, seed: 1}} applies 50 changes, deterministically, and the API serves the new state', async () => {
    const a = await startSimulator({ seed: 21 });
    const b = await startSimulator({ seed: 21 });
    try {
      const before = await directoryText(a.client);
      const res = await a.client.control('POST', 'mutate', { random: { count: 50, seed: 1 } });
      expect(res).toEqual({ status: 200, body: { applied: 50 } });
      const after = await directoryText(a.client);
      expect(after).not.toBe(before);
      expect((await b.client.control('POST', 'mutate', { random: { count: 50, seed: 1 } })).body).toEqual({
        applied: 50,
      });
      expect(await directoryText(b.client)).toBe(after);

      const org = JSON.parse(after) as SimOrg;
      const old = JSON.parse(before) as SimOrg;
      const changedUsers = org.users.filter(
        (u) => JSON.stringify(old.users.find((o) => o.userid === u.userid)) !== JSON.stringify(u),
      );
      expect(changedUsers.length).toBeGreaterThan(0);
      const list = await a.client.get('department/list', {}, { as: 'contacts' });
      expect([...list.department].sort((x, y) => x.id - y.id)).toEqual(org.departments);
      const ids = await a.client.post('user/list_id', {}, { as: 'contacts' });
      expect(
        sorted(ids.dept_user.map((r: { userid: string; department: number }) => `${r.userid}|${r.department}`)),
      ).toEqual(sorted(org.users.flatMap((u) => u.department.map((d) => `${u.userid}|${d}`))));
      // Another seed, other changes.
      const c = await startSimulator({ seed: 21 });
      try {
        expect((await c.client.control('POST', 'mutate', { random: { count: 50, seed: 2 } })).body).toEqual({
          applied: 50,
        });
        expect(await directoryText(c.client)).not.toBe(after);
      } finally {
        await c.sim.close();
      }
    } finally {
      await a.sim.close();
      await b.sim.close();
    }
  });

  it('the random mix, posted as explicit operations, passes the schema and gives the same org', async () => {
    const a = await startSimulator({ seed: 33 });
    const b = await startSimulator({ seed: 33 });
    try {
      const operations = randomOperations(await a.client.directory(), { count: 300, seed: 4 });
      expect(new Set(operations.map((o) => o.op)).size).toBe(6);
      expect((await a.client.control('POST', 'mutate', { operations })).body).toEqual({ applied: 300 });
      expect((await b.client.control('POST', 'mutate', { random: { count: 300, seed: 4 } })).body).toEqual({
        applied: 300,
      });
      expect(await directoryText(a.client)).toBe(await directoryText(b.client));
    } finally {
      await a.sim.close();
      await b.sim.close();
    }
  });

  it('explicit operations are applied in order', async () => {
    const res = await client.control('POST', 'mutate', {
      operations: [
        { op: 'createDepartment', department: { id: 7000, name: '控制部门', parentid: 1 } },
        {
          op: 'createUser',
          user: { userid: 'ctl.user', name: '控制', department: [7000], email: 'ctl.user@example.com' },
        },
        { op: 'updateUser', user: { userid: 'ctl.user', position: '经理' } },
      ],
    });
    expect(res).toEqual({ status: 200, body: { applied: 3 } });
    const u = await client.get('user/get', { userid: 'ctl.user' }, { as: 'contacts' });
    expect(u).toMatchObject({ errcode: 0, department: [7000], position: '经理', email: 'ctl.user@example.com' });
  });

  it('an operation WeCom would refuse → 409 with its index and errcode; those before it stay applied', async () => {
    const res = await client.control('POST', 'mutate', {
      operations: [
        { op: 'createDepartment', department: { id: 7100, name: '冲突前', parentid: 1 } },
        { op: 'deleteDepartment', id: 1 },
        { op: 'createDepartment', department: { id: 7101, name: '冲突后', parentid: 1 } },
      ],
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ applied: 1, error: { index: 1, op: 'deleteDepartment', errcode: 60007 } });
    expect(res.body.error.errmsg).toEqual(expect.any(String));
    const org = await client.directory();
    expect(org.departments.some((d) => d.id === 7100)).toBe(true);
    expect(org.departments.some((d) => d.id === 7101)).toBe(false);

    const dup = await client.control('POST', 'mutate', {
      operations: [
        {
          op: 'createUser',
          user: { userid: org.users[0]!.userid.toUpperCase(), name: 'x', department: [1], email: 'dup.x@example.com' },
        },
      ],
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ index: 0, errcode: 60102 });
  });

  it.each([
    ['not JSON', '{"operations": ['],
    ['an unknown op', { operations: [{ op: 'explode' }] }],
    ['a missing field', { operations: [{ op: 'deleteUser' }] }],
    ['a negative count', { random: { count: -1, seed: 1 } }],
    ['both forms at once', { operations: [], random: { count: 1, seed: 1 } }],
    ['neither form', {}],
    [
      'a user field of the wrong type',
      { operations: [{ op: 'updateUser', user: { userid: 'ctl.user', department: 5 } }] },
    ],
    [
      'a user field that does not exist',
      { operations: [{ op: 'updateUser', user: { userid: 'ctl.user', salary: 5 } }] },
    ],
    [
      'a create without contact details of the right type',
      {
        operations: [{ op: 'createUser', user: { userid: 'typed', name: 'x', department: [1], mobile: 13800000000 } }],
      },
    ],
  ])('%s → 400, nothing applied', async (_what, body) => {
    const before = await directoryText(client);
    const res = await client.control('POST', 'mutate', body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(await directoryText(client)).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('config and identity', () => {
  it('GET /__sim/config returns every switch', async () => {
    const res = await client.control('GET', 'config');
    expect(res.status).toBe(200);
    expect(sorted(Object.keys(res.body))).toEqual(sorted(Object.keys(simConfigSchema.shape)));
    expect(res.body).toEqual(simConfigSchema.parse({}));
    for (const key of [
      'latencyMs',
      'faultRate',
      'rateLimitPerMinute',
      'tokenTtlSeconds',
      'sensitiveFields',
      'visibleRange',
      'untrustedIp',
      'contactsSecretNewIp',
      'callbackUrl',
      'callbackToken',
      'callbackAesKey',
      'callbackIdsOnly',
      'failingDepartments',
      'failReads',
    ]) {
      expect(res.body).toHaveProperty(key);
    }
  });

  it('failReads: reads of the named departments and users answer its errcode for any secret, others and writes work, and clearing it ends it', async () => {
    const org = (await (await fetch(new URL('/__sim/directory', client.url))).json()) as SimOrg;
    const [failing, other] = org.departments.filter((d) => d.id !== 1);
    const user = org.users.find((u) => u.status !== 5)!;
    const bad = await client.control('POST', 'config', {
      failReads: { departments: [failing!.id], users: [user.userid], errcode: 123456 },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('failReads.errcode');
    try {
      expect(
        (await client.control('POST', 'config', { failReads: { departments: [failing!.id], users: [user.userid] } }))
          .body.failReads,
      ).toEqual({
        departments: [failing!.id],
        users: [user.userid],
        errcode: -1,
      });
      for (const as of ['app', 'contacts'] as const) {
        expect((await client.get('department/get', { id: failing!.id }, { as })).errcode).toBe(-1);
        expect((await client.get('department/list', { id: failing!.id }, { as })).errcode).toBe(-1);
        expect((await client.get('user/get', { userid: user.userid }, { as })).errcode).toBe(-1);
        expect((await client.get('department/get', { id: other!.id }, { as })).department.id).toBe(other!.id);
      }
      await client.configure({ failReads: { departments: [failing!.id], users: [], errcode: 60011 } });
      expect((await client.get('department/get', { id: failing!.id }, { as: 'contacts' })).errcode).toBe(60011);
      expect((await client.get('user/get', { userid: user.userid }, { as: 'contacts' })).userid).toBe(user.userid);
    } finally {
      await client.configure({ failReads: { departments: [], users: [], errcode: -1 } });
    }
    expect((await client.get('department/get', { id: failing!.id }, { as: 'contacts' })).department.id).toBe(
      failing!.id,
    );
  });

  it('switches given at start show in /__sim/config', async () => {
    const own = await startSimulator({ config: { latencyMs: 3, visibleRange: [2, 3], callbackIdsOnly: true } });
    try {
      expect((await own.client.control('GET', 'config')).body).toMatchObject({
        latencyMs: 3,
        visibleRange: [2, 3],
        callbackIdsOnly: true,
        faultRate: 0,
      });
    } finally {
      await own.sim.close();
    }
  });

  it('GET /__sim/identity gives the url and the secrets', async () => {
    expect((await client.control('GET', 'identity')).body).toEqual({ url: sim.url, ...sim.identity });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('plant', () => {
  it("overwrites a user's fields with any JSON, unchecked: user/get and user/list serve it as planted", async () => {
    const { users } = await client.directory();
    const target = users.find((u) => u.department.length > 0 && u.status !== 5) as SimOrg['users'][number];
    const res = await client.control('POST', 'plant', {
      userid: target.userid,
      fields: { name: 42, position: '\u001b[31mred\u009b' },
    });
    expect(res).toEqual({ status: 200, body: { planted: ['name', 'position'] } });
    const got = await client.get('user/get', { userid: target.userid }, { as: 'contacts' });
    expect(got).toMatchObject({ errcode: 0, userid: target.userid, name: 42, position: '\u001b[31mred\u009b' });
    const dept = target.department[0] as number;
    const list = await client.get('user/list', { department_id: dept }, { as: 'contacts' });
    expect(
      (list.userlist as Array<{ userid: string; name: unknown }>).find((u) => u.userid === target.userid)?.name,
    ).toBe(42);
  });

  it('refuses the userid and memberships (400 naming the field) and an unknown user (404)', async () => {
    const { users } = await client.directory();
    const target = users[0] as SimOrg['users'][number];
    const bad = await client.control('POST', 'plant', { userid: target.userid, fields: { department: [1] } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('fields.department');
    const missing = await client.control('POST', 'plant', { userid: 'nobody-here', fields: { name: 'x' } });
    expect(missing).toEqual({
      status: 404,
      body: { error: { message: 'no user with userid "nobody-here"', path: 'userid' } },
    });
    expect((await client.directory()).users.find((u) => u.userid === target.userid)?.department).toEqual(
      target.department,
    );
  });

  it('a department too: department/list serves it as planted; its id and parent cannot be planted', async () => {
    const { departments } = await client.directory();
    const target = departments.find((d) => d.id !== 1) as SimOrg['departments'][number];
    expect(
      await client.control('POST', 'plant', { departmentId: target.id, fields: { name: { not: 'text' } } }),
    ).toEqual({ status: 200, body: { planted: ['name'] } });
    const list = await client.get('department/list', {}, { as: 'contacts' });
    expect((list.department as Array<{ id: number; name: unknown }>).find((d) => d.id === target.id)?.name).toEqual({
      not: 'text',
    });
    const bad = await client.control('POST', 'plant', { departmentId: target.id, fields: { parentid: 1 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('fields.parentid');
    expect((await client.control('POST', 'plant', { departmentId: 999_999, fields: { name: 'x' } })).status).toBe(404);
  });
});

/** Polls `check` until it holds (the test's own timeout ends a wait that never does). */
async function pollTo(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setImmediate(r));
}

describe('holds (for tests that need a known point)', () => {
  it('POST /__sim/callbacks/hold {after: K}: K more attempts start, retries included, the rest wait in order for the release', async () => {
    // A receiver that answers 200, except 500 to the request numbers in `failing`.
    const received: string[] = [];
    const failing = new Set<number>();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = failing.has(received.length) ? 500 : 200;
        received.push(req.url ?? '');
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const own = await startSimulator({ config: { callbackConcurrency: 2 } });
    try {
      const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
      await own.client.configure({
        callbackUrl: at,
        callbackToken: 'HoldTok3n',
        callbackAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      });
      const counters = async () => (await own.client.control('GET', 'callbacks')).body;
      expect((await own.client.control('POST', 'callbacks/hold', { after: 2 })).body).toMatchObject({
        holding: true,
        held: 0,
        queued: 0,
      });
      const departments = Array.from({ length: 5 }, (_, i) => ({
        op: 'createDepartment',
        department: { id: 9700 + i, name: `暂停部门${i}`, parentid: 1 },
      }));
      expect((await own.client.control('POST', 'mutate', { operations: departments })).status).toBe(200);

      // Two delivered, then the two slots of callbackConcurrency wait at the hold; nothing more reaches the receiver.
      await pollTo(async () => (await counters()).delivered === 2 && (await counters()).held === 2);
      expect(await counters()).toMatchObject({
        delivered: 2,
        attempts: 2,
        queued: 3,
        failed: 0,
        holding: true,
        held: 2,
      });
      expect(received).toHaveLength(2);

      // One more, whose first attempt fails: its retry waits at the hold too.
      failing.add(2);
      await own.client.control('POST', 'callbacks/hold', { after: 1 });
      await pollTo(async () => (await counters()).attempts === 3 && (await counters()).held === 2);
      expect(await counters()).toMatchObject({ delivered: 2, attempts: 3, queued: 3, lastError: 'HTTP 500' });
      expect(received).toHaveLength(3);

      // Released: everything goes, the retry included, and later deliveries are not held.
      expect((await own.client.control('POST', 'callbacks/release')).body).toMatchObject({ holding: false });
      await own.sim.callbacks.drain();
      expect(await counters()).toMatchObject({
        delivered: 5,
        attempts: 6,
        queued: 0,
        failed: 0,
        holding: false,
        held: 0,
      });
      expect(received).toHaveLength(6);
      expect(
        (await own.client.control('POST', 'mutate', { operations: [{ op: 'deleteDepartment', id: 9700 }] })).status,
      ).toBe(200);
      await own.sim.callbacks.drain();
      expect((await counters()).delivered).toBe(6);
    } finally {
      await own.sim.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a delivery goes to the callback URL configured when it is attempted, so a retry follows a receiver that moved', async () => {
    const hits: string[] = [];
    const listen = async (name: string) => {
      const s = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          hits.push(name);
          res.end();
        });
      });
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      return { s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/cb` };
    };
    const [a, b] = [await listen('a'), await listen('b')];
    const own = await startSimulator();
    try {
      await own.client.configure({
        callbackUrl: a.url,
        callbackToken: 'HoldTok3n',
        callbackAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      });
      await own.client.control('POST', 'callbacks/hold');
      expect(
        (
          await own.client.control('POST', 'mutate', {
            operations: [{ op: 'createDepartment', department: { name: '搬家', parentid: 1 } }],
          })
        ).status,
      ).toBe(200);
      await pollTo(async () => (await own.client.control('GET', 'callbacks')).body.held === 1);
      await own.client.configure({ callbackUrl: b.url });
      await own.client.control('POST', 'callbacks/release');
      await own.sim.callbacks.drain();
      expect(hits).toEqual(['b']);
    } finally {
      await own.sim.close();
      for (const x of [a, b]) await new Promise<void>((resolve) => x.s.close(() => resolve()));
    }
  });

  it('POST /__sim/calls/hold: later API calls are counted and then wait until POST /__sim/calls/release', async () => {
    await client.get('department/simplelist');
    expect(await client.control('POST', 'calls/hold')).toEqual({
      status: 200,
      body: { holding: true, allowance: 0, held: 0 },
    });
    let answered = false;
    const call = client.get('department/simplelist').then((r) => ((answered = true), r));
    await pollTo(async () => (await client.control('GET', 'calls/hold')).body.held === 1);
    expect(answered).toBe(false);
    expect((await client.control('POST', 'calls/release')).body).toEqual({ holding: false, allowance: 0, held: 0 });
    expect((await call).errcode).toBe(0);
  });
});
