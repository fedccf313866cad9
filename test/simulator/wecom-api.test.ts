import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimOrg, WecomUser } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { childrenOf, membersOf, sorted, startSimulator, subtreeIds, type WecomClient } from './wecom-client.js';

/** The read side of the WeCom contract, over real HTTP: tokens, departments, users, list_id paging, the app, bad input. */

const DEPARTMENT_KEYS = ['department_leader', 'id', 'name', 'name_en', 'order', 'parentid'];

let sim: WecomSimulator;
let client: WecomClient;
let org: SimOrg;

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
  org = await client.directory();
});

afterAll(async () => {
  await sim.close();
});

/** A department with at least two children, below the root. */
function branch(): number {
  const d = org.departments.find((x) => x.id !== 1 && childrenOf(org.departments, x.id).length >= 2);
  if (!d) throw new Error('the generated org has no branching department');
  return d.id;
}

function byId<T extends { id: number }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.id - b.id);
}

// ---------------------------------------------------------------------------------------------------------------

describe('gettoken and access tokens', () => {
  it('gives the app secret and the contacts secret each their own token, valid for tokenTtlSeconds', async () => {
    const { corpId, secret, contactsSecret } = sim.identity;
    const app = await client.get('gettoken', { corpid: corpId, corpsecret: secret }, { as: null });
    expect(app).toEqual({ errcode: 0, errmsg: 'ok', access_token: expect.any(String), expires_in: 7200 });
    const contacts = await client.get('gettoken', { corpid: corpId, corpsecret: contactsSecret }, { as: null });
    expect(contacts).toEqual({ errcode: 0, errmsg: 'ok', access_token: expect.any(String), expires_in: 7200 });
    expect(contacts.access_token).not.toBe(app.access_token);
    expect((app.access_token as string).length).toBeGreaterThan(20);

    // Each token acts as its own secret: only the contacts token may list ids, only the app token may read the agent.
    expect((await client.post('user/list_id', {}, { query: { access_token: contacts.access_token } })).errcode).toBe(0);
    expect((await client.post('user/list_id', {}, { query: { access_token: app.access_token } })).errcode).toBe(48002);
    expect(
      (await client.get('agent/get', { access_token: app.access_token, agentid: sim.identity.agentId })).errcode,
    ).toBe(0);
  });

  it('expires_in follows the tokenTtlSeconds switch', async () => {
    await client.configure({ tokenTtlSeconds: 600 });
    try {
      const { corpId, secret } = sim.identity;
      const reply = await client.get('gettoken', { corpid: corpId, corpsecret: secret }, { as: null });
      expect(reply.errcode).toBe(0);
      expect(reply.expires_in).toBe(600);
    } finally {
      await client.configure({ tokenTtlSeconds: 7200 });
    }
  });

  it.each([
    ['corpid missing', { corpsecret: 'S' }, 41002],
    ['corpid empty', { corpid: '', corpsecret: 'S' }, 41002],
    ['corpid wrong', { corpid: 'ww0000000000000000', corpsecret: 'S' }, 40013],
    ['corpsecret missing', { corpid: 'CORP' }, 41004],
    ['corpsecret wrong', { corpid: 'CORP', corpsecret: 'not-the-secret' }, 40001],
  ])('%s → %i', async (_what, query, errcode) => {
    const q = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v === 'CORP' ? sim.identity.corpId : v]));
    const reply = await client.get('gettoken', q, { as: null });
    expect(reply.errcode).toBe(errcode);
    expect(reply.errmsg).toEqual(expect.any(String));
    expect(reply.access_token).toBeUndefined();
  });

  it('a call without access_token is 41001, with an unknown one 40014', async () => {
    expect((await client.get('department/list', {}, { as: null })).errcode).toBe(41001);
    expect((await client.get('department/list', { access_token: '' })).errcode).toBe(41001);
    expect((await client.get('department/list', { access_token: 'not-a-token' })).errcode).toBe(40014);
    expect((await client.get('department/list')).errcode).toBe(0);
  });

  it('a token expires after tokenTtlSeconds → 42001', async () => {
    // A simulator of its own on a clock the test moves: the token lives exactly its TTL, however slow the machine.
    let clock = Date.now();
    const own = await startSimulator({ clock: () => clock, config: { tokenTtlSeconds: 1 } });
    try {
      const token = await own.client.token('app', true);
      clock += 999;
      expect((await own.client.get('department/simplelist', { access_token: token })).errcode).toBe(0);
      clock += 1;
      const expired = await own.client.get('department/simplelist', { access_token: token });
      expect(expired.errcode).toBe(42001);
      expect(expired.errmsg).toMatch(/expired/);
      // A new token works.
      expect(
        (await own.client.get('department/simplelist', { access_token: await own.client.token('app', true) })).errcode,
      ).toBe(0);
    } finally {
      await own.sim.close();
    }
  });

  it('POST /__sim/tokens/revoke ends every token early → 40014', async () => {
    const app = await client.token('app', true);
    const contacts = await client.token('contacts', true);
    expect((await client.get('department/simplelist', { access_token: app })).errcode).toBe(0);
    const revoked = await client.control('POST', 'tokens/revoke');
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked).toBeGreaterThanOrEqual(2);
    expect((await client.get('department/simplelist', { access_token: app })).errcode).toBe(40014);
    expect((await client.get('department/simplelist', { access_token: contacts })).errcode).toBe(40014);
    client.forget();
    expect((await client.get('department/simplelist')).errcode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('department reads', () => {
  it('department/list without id returns the whole tree in the list shape', async () => {
    for (const as of ['app', 'contacts'] as const) {
      const reply = await client.get('department/list', {}, { as });
      expect(reply.errcode).toBe(0);
      expect(reply.errmsg).toBe('ok');
      expect(byId(reply.department)).toEqual(org.departments);
      expect(reply.department[0].id).toBe(1);
      expect(reply.department[0].parentid).toBe(0);
      for (const d of reply.department) expect(Object.keys(d).sort()).toEqual(DEPARTMENT_KEYS);
    }
  });

  it('department/list with id returns that department and its subtree, parents first', async () => {
    const id = branch();
    const reply = await client.get('department/list', { id });
    expect(reply.errcode).toBe(0);
    const ids: number[] = reply.department.map((d: { id: number }) => d.id);
    expect(ids[0]).toBe(id);
    expect(new Set(ids)).toEqual(subtreeIds(org.departments, id));
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBeLessThan(org.departments.length);
    const position = new Map(ids.map((d, i) => [d, i]));
    for (const d of reply.department)
      if (d.id !== id) expect(position.get(d.parentid)).toBeLessThan(position.get(d.id) as number);
  });

  it('department/list of an unknown id is 60003, of a non-number 40058', async () => {
    expect((await client.get('department/list', { id: 999_999 })).errcode).toBe(60003);
    expect((await client.get('department/list', { id: 'abc' })).errcode).toBe(40058);
  });

  it('department/simplelist answers under department_id with {id, parentid, order}', async () => {
    const reply = await client.get('department/simplelist', {}, { as: 'contacts' });
    expect(reply.errcode).toBe(0);
    expect(reply.department).toBeUndefined();
    for (const d of reply.department_id) expect(Object.keys(d).sort()).toEqual(['id', 'order', 'parentid']);
    expect(byId(reply.department_id)).toEqual(
      org.departments.map((d) => ({ id: d.id, parentid: d.parentid, order: d.order })),
    );

    const id = branch();
    const sub = await client.get('department/simplelist', { id });
    expect(new Set(sub.department_id.map((d: { id: number }) => d.id))).toEqual(subtreeIds(org.departments, id));
    expect((await client.get('department/simplelist', { id: 999_999 })).errcode).toBe(60003);
  });

  it('department/get returns one department; 41016 without id, 60003 for an unknown one', async () => {
    const target =
      org.departments.find((d) => d.department_leader.length > 0 && d.name_en !== '') ?? org.departments[1]!;
    const reply = await client.get('department/get', { id: target.id });
    expect(reply).toEqual({ errcode: 0, errmsg: 'ok', department: target });
    expect((await client.get('department/get')).errcode).toBe(41016);
    expect((await client.get('department/get', { id: '' })).errcode).toBe(41016);
    expect((await client.get('department/get', { id: 999_999 })).errcode).toBe(60003);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('user reads', () => {
  const busiest = (): number => {
    const counts = org.departments.map((d) => [d.id, membersOf(org.users, d.id).length] as const);
    return [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  };

  it('user/get returns the user with every field (contacts secret)', async () => {
    const user = org.users.find((u) => u.department.length > 1) as WecomUser;
    const reply = await client.get('user/get', { userid: user.userid }, { as: 'contacts' });
    expect(reply).toEqual({ errcode: 0, errmsg: 'ok', ...user });
  });

  it('user/get: 41009 without userid, 60111 for an unknown one', async () => {
    expect((await client.get('user/get', {}, { as: 'contacts' })).errcode).toBe(41009);
    expect((await client.get('user/get', { userid: '' }, { as: 'contacts' })).errcode).toBe(41009);
    expect((await client.get('user/get', { userid: 'no-such-user-xyz' }, { as: 'contacts' })).errcode).toBe(60111);
  });

  it('user/list returns the direct members of a department with every field', async () => {
    const id = busiest();
    const expected = membersOf(org.users, id);
    expect(expected.length).toBeGreaterThan(5);
    const reply = await client.get('user/list', { department_id: id }, { as: 'contacts' });
    expect(reply.errcode).toBe(0);
    expect(sorted(reply.userlist.map((u: WecomUser) => u.userid))).toEqual(sorted(expected.map((u) => u.userid)));
    const truth = new Map(org.users.map((u) => [u.userid, u]));
    for (const u of reply.userlist) expect(u).toEqual(truth.get(u.userid));
  });

  it('user/simplelist returns {userid, name, department, open_userid} of the direct members', async () => {
    const id = busiest();
    const reply = await client.get('user/simplelist', { department_id: id }, { as: 'contacts' });
    expect(reply.errcode).toBe(0);
    const truth = new Map(org.users.map((u) => [u.userid, u]));
    expect(sorted(reply.userlist.map((u: WecomUser) => u.userid))).toEqual(
      sorted(membersOf(org.users, id).map((u) => u.userid)),
    );
    for (const u of reply.userlist) {
      expect(Object.keys(u).sort()).toEqual(['department', 'name', 'open_userid', 'userid']);
      const t = truth.get(u.userid) as WecomUser;
      expect(u).toEqual({ userid: t.userid, name: t.name, department: t.department, open_userid: '' });
    }
  });

  it('fetch_child=1 lists the whole subtree once per user; without it only direct members', async () => {
    const multi = org.users.filter((u) => u.department.length > 1);
    expect(multi.length).toBeGreaterThan(0);
    for (const path of ['user/list', 'user/simplelist']) {
      const all = await client.get(path, { department_id: 1, fetch_child: 1 }, { as: 'contacts' });
      expect(all.errcode).toBe(0);
      const ids: string[] = all.userlist.map((u: WecomUser) => u.userid);
      expect(ids.length).toBe(org.users.length);
      expect(sorted(ids)).toEqual(sorted(org.users.map((u) => u.userid)));

      const direct = await client.get(path, { department_id: 1 }, { as: 'contacts' });
      expect(sorted(direct.userlist.map((u: WecomUser) => u.userid))).toEqual(
        sorted(membersOf(org.users, 1).map((u) => u.userid)),
      );
    }
    const id = branch();
    const sub = subtreeIds(org.departments, id);
    const expected = org.users.filter((u) => u.department.some((d) => sub.has(d))).map((u) => u.userid);
    const reply = await client.get('user/list', { department_id: id, fetch_child: 1 }, { as: 'contacts' });
    const ids: string[] = reply.userlist.map((u: WecomUser) => u.userid);
    expect(ids.length).toBe(new Set(ids).size);
    expect(sorted(ids)).toEqual(sorted(expected));
  });

  it('user/list and user/simplelist: 41016 without department_id, 60003 for an unknown department', async () => {
    for (const path of ['user/list', 'user/simplelist']) {
      expect((await client.get(path, {}, { as: 'contacts' })).errcode).toBe(41016);
      expect((await client.get(path, { department_id: 999_999 }, { as: 'contacts' })).errcode).toBe(60003);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('user/list_id', () => {
  const truthPairs = (): string[] => sorted(org.users.flatMap((u) => u.department.map((d) => `${u.userid}|${d}`)));

  it('pages with cursor and limit: one row per user-department pair, together the ground truth', async () => {
    const limit = 37;
    const rows: Array<{ userid: string; department: number }> = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const reply = await client.post('user/list_id', cursor === undefined ? { limit } : { cursor, limit }, {
        as: 'contacts',
      });
      expect(reply.errcode).toBe(0);
      expect(Object.keys(reply).sort()).toEqual(['dept_user', 'errcode', 'errmsg', 'next_cursor']);
      pages++;
      for (const r of reply.dept_user) expect(Object.keys(r).sort()).toEqual(['department', 'userid']);
      rows.push(...reply.dept_user);
      expect(typeof reply.next_cursor).toBe('string');
      if (reply.next_cursor === '') {
        expect(reply.dept_user.length).toBeLessThanOrEqual(limit);
        break;
      }
      expect(reply.dept_user.length).toBe(limit);
      cursor = reply.next_cursor;
      expect(pages).toBeLessThan(1000);
    }
    const pairs = rows.map((r) => `${r.userid}|${r.department}`);
    expect(pairs.length).toBe(new Set(pairs).size);
    expect(sorted(pairs)).toEqual(truthPairs());
    expect(pairs.length).toBeGreaterThan(org.users.length); // some users sit in several departments
    expect(pages).toBe(Math.ceil(pairs.length / limit));
  });

  it('without a limit everything fits one page with an empty next_cursor', async () => {
    const reply = await client.post('user/list_id', {}, { as: 'contacts' });
    expect(reply.errcode).toBe(0);
    expect(reply.next_cursor).toBe('');
    expect(
      sorted(reply.dept_user.map((r: { userid: string; department: number }) => `${r.userid}|${r.department}`)),
    ).toEqual(truthPairs());
    const max = await client.post('user/list_id', { limit: 10_000 }, { as: 'contacts' });
    expect(max.errcode).toBe(0);
    expect(max.dept_user.length).toBe(reply.dept_user.length);
  });

  it.each([
    ['limit 0', { limit: 0 }],
    ['limit 10001', { limit: 10_001 }],
    ['limit -1', { limit: -1 }],
    ['a cursor it never gave', { cursor: 'not-a-cursor' }],
    ['a cursor that is not a string', { cursor: 5 }],
  ])('%s → 40058', async (_what, body) => {
    expect((await client.post('user/list_id', body, { as: 'contacts' })).errcode).toBe(40058);
  });

  it('the app secret may not call it → 48002', async () => {
    const reply = await client.post('user/list_id', {}, { as: 'app' });
    expect(reply.errcode).toBe(48002);
    expect(reply.dept_user).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('agent/get and getcallbackip', () => {
  it('agent/get with the app secret returns the agent and its visible range', async () => {
    const reply = await client.get('agent/get', { agentid: sim.identity.agentId });
    expect(reply.errcode).toBe(0);
    expect(reply.agentid).toBe(sim.identity.agentId);
    expect(reply.allow_partys).toEqual({ partyid: [1] });
    expect(reply.allow_userinfos).toEqual({ user: [] });
    expect(reply.close).toBe(0);

    const id = branch();
    await client.configure({ visibleRange: [id] });
    try {
      expect((await client.get('agent/get', { agentid: sim.identity.agentId })).allow_partys).toEqual({
        partyid: [id],
      });
    } finally {
      await client.configure({ visibleRange: [1] });
    }
  });

  it('agent/get: wrong agentid 40056, missing 41011, the contacts secret 48002', async () => {
    expect((await client.get('agent/get', { agentid: sim.identity.agentId + 1 })).errcode).toBe(40056);
    expect((await client.get('agent/get', {})).errcode).toBe(41011);
    expect((await client.get('agent/get', { agentid: sim.identity.agentId }, { as: 'contacts' })).errcode).toBe(48002);
  });

  it('getcallbackip lists IPv4 addresses', async () => {
    const reply = await client.get('getcallbackip');
    expect(reply.errcode).toBe(0);
    expect(reply.ip_list.length).toBeGreaterThan(0);
    for (const ip of reply.ip_list) expect(ip).toMatch(/^\d{1,3}(\.\d{1,3}){3}$/);
    expect((await client.get('getcallbackip', {}, { as: null })).errcode).toBe(41001);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('bad requests get WeCom errors, never a crash', () => {
  it.each([
    ['truncated JSON', 'user/list_id', '{"limit": '],
    ['not JSON at all', 'department/create', 'name=x&parentid=1'],
    ['a JSON array', 'user/create', '[{"userid":"a"}]'],
    ['JSON null', 'user/batchdelete', 'null'],
    ['a JSON string', 'department/update', '"text"'],
  ])('%s → 47001', async (_what, path, body) => {
    const reply = await client.post(path, body, { as: 'contacts' });
    expect(reply.errcode).toBe(47001);
    expect(reply.errmsg).toMatch(/data format error/);
  });

  it('an unknown path gets a JSON error and the server keeps answering', async () => {
    const res = await client.getResponse('no/such/api');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { errcode: number; errmsg: string };
    expect(body.errcode).not.toBe(0);
    expect(body.errmsg).toContain('/cgi-bin/no/such/api');
    const post = await client.postResponse('/totally/elsewhere', '{oops');
    expect(post.status).toBe(404);
    expect(((await post.json()) as { errcode: number }).errcode).not.toBe(0);
    expect((await client.get('department/simplelist')).errcode).toBe(0);
  });

  it('a body without a content-type is still read; a wrong method is a JSON 404', async () => {
    const url = client.address('user/list_id', { access_token: await client.token('contacts') });
    const bare = await fetch(url, { method: 'POST', body: new TextEncoder().encode('{"limit":2}') });
    const reply = (await bare.json()) as { errcode: number; dept_user: unknown[] };
    expect(reply.errcode).toBe(0);
    expect(reply.dept_user.length).toBe(2);
    const wrong = await fetch(url, { method: 'GET' });
    expect(wrong.status).toBe(404);
    expect(((await wrong.json()) as { errcode: number }).errcode).not.toBe(0);
  });

  it('parameters of the wrong type get 40058, and the server keeps answering', async () => {
    expect((await client.get('department/get', { id: '1.5' })).errcode).toBe(40058);
    expect((await client.get('user/list', { department_id: '-3' }, { as: 'contacts' })).errcode).toBe(40058);
    expect((await client.post('department/create', { name: 7, parentid: 1 }, { as: 'contacts' })).errcode).toBe(40058);
    expect(
      (await client.post('department/create', { name: 'x', parentid: 'one' }, { as: 'contacts' })).errcode,
    ).not.toBe(0);
    expect(
      (await client.post('user/create', { userid: 'typed-1', name: 'T', mobile: 13800000000 }, { as: 'contacts' }))
        .errcode,
    ).toBe(40058);
    expect((await client.post('user/batchdelete', { useridlist: 'abc' }, { as: 'contacts' })).errcode).toBe(40058);
    const twice = await fetch(
      `${client.address('department/get', { access_token: await client.token('app') })}&id=1&id=2`,
    );
    expect(((await twice.json()) as { errcode: number }).errcode).toBe(40058);
    expect((await client.get('department/get', { id: 1 })).errcode).toBe(0);
  });
});
