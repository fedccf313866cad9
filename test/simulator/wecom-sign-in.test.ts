import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimOrg, WecomUser } from '../../src/simulator/wecom/model.js';
import type { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { membersOf, startSimulator, subtreeIds, type WecomClient } from './wecom-client.js';

/** The sign-in pages (OAuth2 authorize, web login, legacy qrConnect) and the code / ticket exchange. */

let sim: WecomSimulator;
let client: WecomClient;
let org: SimOrg;
let person: WecomUser;

const REDIRECT = 'http://127.0.0.1:9/after-login?from=test';
const STATE = 'st4te_1';

beforeAll(async () => {
  ({ sim, client } = await startSimulator());
  org = await client.directory();
  person = org.users.find((u) => u.status === 1 && u.mobile !== '' && u.email !== '' && u.gender !== '0')!;
});

afterAll(async () => {
  await sim.close();
});

type Flow = 'oauth2' | 'wwlogin' | 'qrconnect';

const PATHS: Record<Flow, string> = {
  oauth2: '/connect/oauth2/authorize',
  wwlogin: '/wwlogin/sso/login',
  qrconnect: '/wwopen/sso/qrConnect',
};

/** The sign-in URL each flow's client builds. */
function signInUrl(flow: Flow, extra: Record<string, string | undefined> = {}): URL {
  const { corpId, agentId } = sim.identity;
  const base: Record<string, string> =
    flow === 'oauth2'
      ? {
          appid: corpId,
          redirect_uri: REDIRECT,
          response_type: 'code',
          scope: 'snsapi_base',
          state: STATE,
          agentid: String(agentId),
        }
      : flow === 'wwlogin'
        ? { login_type: 'CorpApp', appid: corpId, agentid: String(agentId), redirect_uri: REDIRECT, state: STATE }
        : { appid: corpId, agentid: String(agentId), redirect_uri: REDIRECT, state: STATE };
  const url = new URL(PATHS[flow], sim.url);
  for (const [k, v] of Object.entries({ ...base, ...extra })) if (v !== undefined) url.searchParams.set(k, v);
  return url;
}

/** Signs in as `userid` without the chooser; returns the redirect. */
async function approve(flow: Flow, userid: string, extra: Record<string, string | undefined> = {}): Promise<URL> {
  const res = await fetch(signInUrl(flow, { ...extra, sim_user: userid }), { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') as string);
}

async function codeFor(flow: Flow, userid: string, extra: Record<string, string | undefined> = {}): Promise<string> {
  return (await approve(flow, userid, extra)).searchParams.get('code') as string;
}

// ---------------------------------------------------------------------------------------------------------------

describe('sign-in pages', () => {
  it.each(['oauth2', 'wwlogin', 'qrconnect'] as const)(
    '%s without sim_user renders the "who is signing in" chooser',
    async (flow) => {
      const res = await fetch(signInUrl(flow), { redirect: 'manual' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain('谁在登录');
      // Every person offered is an active member, linked to the same page with sim_user set.
      const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replace(/&#38;/g, '&'));
      expect(links.length).toBeGreaterThan(0);
      const active = new Set(org.users.filter((u) => u.status === 1).map((u) => u.userid));
      for (const link of links) {
        const u = new URL(link, sim.url);
        expect(u.pathname).toBe(PATHS[flow]);
        expect(active.has(u.searchParams.get('sim_user') as string)).toBe(true);
        expect(u.searchParams.get('state')).toBe(STATE);
      }
      // Following one of them approves as that person.
      const chosen = new URL(links[0]!, sim.url);
      const follow = await fetch(chosen, { redirect: 'manual' });
      expect(follow.status).toBe(302);
      const code = new URL(follow.headers.get('location') as string).searchParams.get('code') as string;
      expect((await client.get('auth/getuserinfo', { code })).userid).toBe(chosen.searchParams.get('sim_user'));
    },
  );

  it.each(['oauth2', 'wwlogin', 'qrconnect'] as const)(
    '%s with sim_user redirects 302 to redirect_uri?code=…&state=…',
    async (flow) => {
      const location = await approve(flow, person.userid);
      expect(`${location.origin}${location.pathname}`).toBe('http://127.0.0.1:9/after-login');
      expect(location.searchParams.get('from')).toBe('test');
      expect(location.searchParams.get('state')).toBe(STATE);
      const code = location.searchParams.get('code');
      expect(code).toMatch(/^[A-Za-z0-9_-]{16,512}$/);
      const info = await client.get('auth/getuserinfo', { code: code as string });
      expect(info).toEqual({ errcode: 0, errmsg: 'ok', userid: person.userid });
    },
  );

  it('a redirect_uri outside the trusted domains → the 50001 page (HTTP 400)', async () => {
    const res = await fetch(
      signInUrl('oauth2', { redirect_uri: 'https://evil.example.com/cb', sim_user: person.userid }),
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('50001');
    const chooser = await fetch(signInUrl('wwlogin', { redirect_uri: 'https://evil.example.com/cb' }), {
      redirect: 'manual',
    });
    expect(chooser.status).toBe(400);
    expect(await chooser.text()).toContain('50001');

    await client.configure({ trustedDomains: ['127.0.0.1', 'app.example.com'] });
    try {
      const ok = await approve('oauth2', person.userid, { redirect_uri: 'https://app.example.com/cb' });
      expect(ok.host).toBe('app.example.com');
    } finally {
      await client.configure({ trustedDomains: ['127.0.0.1', 'localhost'] });
    }
  });

  it('a wrong appid → 40013; a wrong agentid → 40056', async () => {
    for (const flow of ['oauth2', 'wwlogin', 'qrconnect'] as const) {
      const res = await fetch(signInUrl(flow, { appid: 'wx0000000000000000', sim_user: person.userid }), {
        redirect: 'manual',
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('40013');
      const agent = await fetch(signInUrl(flow, { agentid: '1', sim_user: person.userid }), { redirect: 'manual' });
      expect(agent.status).toBe(400);
      expect(await agent.text()).toContain('40056');
    }
  });

  it('web login and qrConnect need the agentid → 41011', async () => {
    for (const flow of ['wwlogin', 'qrconnect'] as const) {
      const res = await fetch(signInUrl(flow, { agentid: undefined, sim_user: person.userid }), { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('41011');
    }
  });

  it('an unknown or inactive sim_user is refused', async () => {
    const unknown = await fetch(signInUrl('oauth2', { sim_user: 'no.such.person' }), { redirect: 'manual' });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('60111');
    const inactive = org.users.find((u) => u.status !== 1)!;
    const res = await fetch(signInUrl('oauth2', { sim_user: inactive.userid }), { redirect: 'manual' });
    expect(res.status).toBe(400);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('code exchange', () => {
  it('a code works once → 40029 the second time', async () => {
    const code = await codeFor('oauth2', person.userid);
    expect((await client.get('auth/getuserinfo', { code })).userid).toBe(person.userid);
    const again = await client.get('auth/getuserinfo', { code });
    expect(again.errcode).toBe(40029);
    expect(again.userid).toBeUndefined();
  });

  it('a code expires after 5 minutes → 40029', async () => {
    const young = await codeFor('oauth2', person.userid);
    sim.signIn.age(5 * 60_000 - 5_000);
    expect((await client.get('auth/getuserinfo', { code: young })).errcode).toBe(0);
    const code = await codeFor('wwlogin', person.userid);
    sim.signIn.age(5 * 60_000 + 1);
    expect((await client.get('auth/getuserinfo', { code })).errcode).toBe(40029);
  });

  it('an unknown code → 40029, no code → 41008, the contacts secret → 48002', async () => {
    expect((await client.get('auth/getuserinfo', { code: 'made-up' })).errcode).toBe(40029);
    expect((await client.get('auth/getuserinfo', {})).errcode).toBe(41008);
    const code = await codeFor('oauth2', person.userid);
    expect((await client.get('auth/getuserinfo', { code }, { as: 'contacts' })).errcode).toBe(48002);
  });

  it('legacy user/getuserinfo answers with the capitalised UserId', async () => {
    const code = await codeFor('qrconnect', person.userid);
    const reply = await client.get('user/getuserinfo', { code });
    expect(reply.errcode).toBe(0);
    expect(reply.UserId).toBe(person.userid);
    expect(reply.userid).toBeUndefined();
    expect(reply).toHaveProperty('DeviceId');
    expect((await client.get('user/getuserinfo', { code })).errcode).toBe(40029);
  });

  it('web login never gives a user_ticket', async () => {
    const code = await codeFor('wwlogin', person.userid, { scope: 'snsapi_privateinfo' });
    expect(await client.get('auth/getuserinfo', { code })).toEqual({ errcode: 0, errmsg: 'ok', userid: person.userid });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('snsapi_privateinfo and auth/getuserdetail', () => {
  it('with agentid the code gives a user_ticket; getuserdetail returns the sensitive fields', async () => {
    const code = await codeFor('oauth2', person.userid, { scope: 'snsapi_privateinfo' });
    const info = await client.get('auth/getuserinfo', { code });
    expect(info).toEqual({
      errcode: 0,
      errmsg: 'ok',
      userid: person.userid,
      user_ticket: expect.any(String),
      expires_in: 1800,
    });
    const detail = await client.post('auth/getuserdetail', { user_ticket: info.user_ticket });
    expect(detail).toEqual({
      errcode: 0,
      errmsg: 'ok',
      userid: person.userid,
      gender: person.gender,
      avatar: person.avatar,
      qr_code: person.qr_code,
      mobile: person.mobile,
      email: person.email,
      biz_mail: person.biz_mail,
      address: person.address,
    });
  });

  it('without agentid snsapi_privateinfo is taken as snsapi_base: no user_ticket', async () => {
    const code = await codeFor('oauth2', person.userid, { scope: 'snsapi_privateinfo', agentid: undefined });
    const info = await client.get('auth/getuserinfo', { code });
    expect(info).toEqual({ errcode: 0, errmsg: 'ok', userid: person.userid });
  });

  it('a user outside the visible range gets the userid but no user_ticket', async () => {
    const range = org.departments.find(
      (d) =>
        d.id !== 1 &&
        !person.department.some((x) => subtreeIds(org.departments, d.id).has(x)) &&
        membersOf(org.users, d.id).some((u) => u.status === 1),
    )!;
    const insider = membersOf(org.users, range.id).find((u) => u.status === 1)!;
    await client.configure({ visibleRange: [range.id] });
    try {
      const outside = await client.get('auth/getuserinfo', {
        code: await codeFor('oauth2', person.userid, { scope: 'snsapi_privateinfo' }),
      });
      expect(outside).toEqual({ errcode: 0, errmsg: 'ok', userid: person.userid });
      const inside = await client.get('auth/getuserinfo', {
        code: await codeFor('oauth2', insider.userid, { scope: 'snsapi_privateinfo' }),
      });
      expect(inside).toEqual({
        errcode: 0,
        errmsg: 'ok',
        userid: insider.userid,
        user_ticket: expect.any(String),
        expires_in: 1800,
      });
    } finally {
      await client.configure({ visibleRange: [1] });
    }
  });

  it('snsapi_base gives no user_ticket', async () => {
    const info = await client.get('auth/getuserinfo', { code: await codeFor('oauth2', person.userid) });
    expect(info.errcode).toBe(0);
    expect(info.user_ticket).toBeUndefined();
  });

  it('a bad ticket → 84015; an expired ticket → 84014', async () => {
    expect((await client.post('auth/getuserdetail', { user_ticket: 'forged-ticket' })).errcode).toBe(84015);
    const code = await codeFor('oauth2', person.userid, { scope: 'snsapi_privateinfo' });
    const { user_ticket: ticket } = await client.get('auth/getuserinfo', { code });
    sim.signIn.age(1800_000 - 5_000);
    expect((await client.post('auth/getuserdetail', { user_ticket: ticket })).errcode).toBe(0);
    sim.signIn.age(5_001);
    const expired = await client.post('auth/getuserdetail', { user_ticket: ticket });
    expect(expired.errcode).toBe(84014);
    expect(expired.mobile).toBeUndefined();
  });
});
