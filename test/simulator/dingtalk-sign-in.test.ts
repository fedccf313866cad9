import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DingUser } from '../../src/simulator/dingtalk/model.js';
import type { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { startDingtalk, type DingtalkClient, type Directory } from './dingtalk-client.js';

/**
 * Sign-in: the login host's OAuth page and the api host's user token and profile, the chain back to a userid
 * through getbyunionid, and the in-app 免登 code through v2/user/getuserinfo.
 */

const REDIRECT = 'http://127.0.0.1:9/dingtalk/callback';

let sim: DingtalkSimulator;
let client: DingtalkClient;
let org: Directory;

beforeAll(async () => {
  ({ sim, client } = await startDingtalk());
  org = await client.directory();
});

afterAll(async () => {
  await sim.close();
});

afterEach(async () => {
  await client.configure({ sensitiveFields: 'withheld', deniedApis: [] });
});

const activeUser = (): DingUser => org.users.find((u) => u.active && u.mobile !== undefined && u.email !== undefined)!;

function authorizeUrl(params: Record<string, string> = {}): URL {
  const url = new URL('/oauth2/auth', client.url);
  const all = {
    redirect_uri: REDIRECT,
    response_type: 'code',
    client_id: sim.identity.clientId,
    scope: 'openid',
    state: 'st4te',
    prompt: 'consent',
    ...params,
  };
  for (const [k, v] of Object.entries(all)) url.searchParams.set(k, v);
  return url;
}

/** Signs in as `userid` through the page; returns the redirect's query. */
async function signIn(userid: string, params: Record<string, string> = {}): Promise<URLSearchParams> {
  const res = await fetch(authorizeUrl({ ...params, sim_user: userid }), { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location') ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  return location.searchParams;
}

async function userToken(code: string): Promise<{ status: number; body: any }> {
  return client.api('POST', 'v1.0/oauth2/userAccessToken', {
    clientId: sim.identity.clientId,
    clientSecret: sim.identity.clientSecret,
    code,
    grantType: 'authorization_code',
  });
}

// ---------------------------------------------------------------------------------------------------------------

describe('login.dingtalk.com/oauth2/auth', () => {
  it('shows a "who is signing in" chooser whose links redirect with authCode, code and state', async () => {
    const res = await fetch(authorizeUrl());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('谁在登录');
    const href = /<a href="([^"]+)"/.exec(html)![1]!.replaceAll('&#38;', '&');
    const chosen = new URL(href, client.url).searchParams.get('sim_user')!;
    expect(org.users.find((u) => u.userid === chosen)!.active).toBe(true);
    const followed = await fetch(new URL(href, client.url), { redirect: 'manual' });
    expect(followed.status).toBe(302);
    const query = new URL(followed.headers.get('location')!).searchParams;
    expect(query.get('state')).toBe('st4te');
    expect(query.get('authCode')).toBeTruthy();
    expect(query.get('code')).toBe(query.get('authCode'));
  });

  it.each([
    ['another client_id', { client_id: 'dingother' }],
    ['a response_type other than code', { response_type: 'token' }],
    ['a scope without openid', { scope: 'corpid' }],
    ['an untrusted redirect domain', { redirect_uri: 'https://evil.example/cb' }],
    ['a redirect_uri that is not a URL', { redirect_uri: 'not a url' }],
    ['an unknown person', { sim_user: 'nobody-here' }],
  ])('refuses %s with an error page', async (_what, params) => {
    const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('登录失败');
  });

  it('refuses a person who has not activated DingTalk', async () => {
    const inactive = org.users.find((u) => !u.active)!;
    const res = await fetch(authorizeUrl({ sim_user: inactive.userid }), { redirect: 'manual' });
    expect(res.status).toBe(400);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the OAuth chain: auth code → userAccessToken → users/me → getbyunionid → v2/user/get', () => {
  it('maps the person who signed in back to their userid', async () => {
    const u = activeUser();
    const code = (await signIn(u.userid)).get('authCode')!;
    const token = await userToken(code);
    expect(token.status).toBe(200);
    expect(token.body).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), expireIn: 7200 });

    const me = await client.api('GET', 'v1.0/contact/users/me', undefined, token.body.accessToken);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      nick: u.name,
      unionId: u.unionid,
      openId: expect.any(String),
      avatarUrl: u.avatar,
    });
    expect(me.body).not.toHaveProperty('mobile');

    const byUnion = await client.oapi('topapi/user/getbyunionid', { unionid: me.body.unionId });
    expect(byUnion.result).toEqual({ contact_type: 0, userid: u.userid });
    expect((await client.oapi('topapi/v2/user/get', { userid: byUnion.result.userid })).result.name).toBe(u.name);
  });

  it('scope "openid corpid" adds the corpId to the token; with the personal permission users/me has mobile and email', async () => {
    await client.configure({ sensitiveFields: 'returned' });
    const u = activeUser();
    const code = (await signIn(u.userid, { scope: 'openid corpid' })).get('code')!;
    const token = await userToken(code);
    expect(token.body.corpId).toBe(sim.identity.corpId);
    const me = await client.api('GET', 'v1.0/contact/users/me', undefined, token.body.accessToken);
    expect(me.body).toMatchObject({ mobile: u.mobile, stateCode: u.state_code, email: u.email });
  });

  it('an auth code works once; a wrong secret, grant type or code are 400s with a code', async () => {
    const code = (await signIn(activeUser().userid)).get('code')!;
    expect((await userToken(code)).status).toBe(200);
    const again = await userToken(code);
    expect(again).toMatchObject({ status: 400, body: { code: 'invalidAuthCode', requestid: expect.any(String) } });
    const wrong = await client.api('POST', 'v1.0/oauth2/userAccessToken', {
      clientId: sim.identity.clientId,
      clientSecret: 'nope',
      code,
      grantType: 'authorization_code',
    });
    expect(wrong).toMatchObject({ status: 400, body: { code: 'invalidClientIdOrSecret' } });
    const grant = await client.api('POST', 'v1.0/oauth2/userAccessToken', {
      clientId: sim.identity.clientId,
      clientSecret: sim.identity.clientSecret,
      code,
      grantType: 'password',
    });
    expect(grant.status).toBe(400);
  });

  it('a refresh token gives a new access token, once', async () => {
    const first = (await userToken((await signIn(activeUser().userid)).get('code')!)).body;
    const refresh = {
      clientId: sim.identity.clientId,
      clientSecret: sim.identity.clientSecret,
      grantType: 'refresh_token',
      refreshToken: first.refreshToken,
    };
    const next = await client.api('POST', 'v1.0/oauth2/userAccessToken', refresh);
    expect(next.status).toBe(200);
    expect(next.body.accessToken).not.toBe(first.accessToken);
    expect((await client.api('GET', 'v1.0/contact/users/me', undefined, next.body.accessToken)).status).toBe(200);
    expect((await client.api('POST', 'v1.0/oauth2/userAccessToken', refresh)).status).toBe(400);
  });

  it('users/me: no token → 400 AuthenticationFailed.MissingParameter; an app token or an expired one → 400 InvalidAuthentication', async () => {
    expect(await client.api('GET', 'v1.0/contact/users/me')).toMatchObject({
      status: 400,
      body: { code: 'AuthenticationFailed.MissingParameter' },
    });
    expect(await client.api('GET', 'v1.0/contact/users/me', undefined, await client.token())).toMatchObject({
      status: 400,
      body: { code: 'InvalidAuthentication' },
    });
    const token = (await userToken((await signIn(activeUser().userid)).get('code')!)).body.accessToken as string;
    sim.signIn.age(7201_000);
    expect(await client.api('GET', 'v1.0/contact/users/me', undefined, token)).toMatchObject({
      status: 400,
      body: { code: 'InvalidAuthentication' },
    });
  });

  it('users/me without the permission → 403 AccessTokenPermissionDenied', async () => {
    const token = (await userToken((await signIn(activeUser().userid)).get('code')!)).body.accessToken as string;
    await client.configure({ deniedApis: ['v1.0/contact/users/me'] });
    expect(await client.api('GET', 'v1.0/contact/users/me', undefined, token)).toMatchObject({
      status: 403,
      body: { code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied' },
    });
  });

  it('v1.0/oauth2/accessToken gives the app token, the same as gettoken and valid on the oapi host', async () => {
    const reply = await client.api('POST', 'v1.0/oauth2/accessToken', {
      appKey: sim.identity.clientId,
      appSecret: sim.identity.clientSecret,
    });
    expect(reply).toMatchObject({ status: 200, body: { accessToken: expect.any(String), expireIn: 7200 } });
    expect(reply.body.accessToken).toBe((await client.gettoken()).access_token);
    expect(
      (await client.oapi('topapi/v2/department/get', { dept_id: 1 }, { token: reply.body.accessToken })).errcode,
    ).toBe(0);
    expect(
      await client.api('POST', 'v1.0/oauth2/accessToken', { appKey: sim.identity.clientId, appSecret: 'nope' }),
    ).toMatchObject({
      status: 400,
      body: { code: 'invalidClientIdOrSecret', message: expect.any(String), requestid: expect.any(String) },
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('in-app 免登: v2/user/getuserinfo', () => {
  async function authCode(userid: string): Promise<string> {
    const res = await client.control('POST', 'auth-code', { userid });
    expect(res.status).toBe(200);
    return res.body.code as string;
  }

  it('a code gives the userid, unionid, name and admin level; used again → 40078', async () => {
    const u = activeUser();
    const code = await authCode(u.userid);
    const reply = await client.oapi('topapi/v2/user/getuserinfo', { code });
    expect(reply.errcode).toBe(0);
    expect(reply.result).toMatchObject({
      userid: u.userid,
      unionid: u.unionid,
      name: u.name,
      sys: u.admin,
      device_id: expect.any(String),
    });
    expect(reply.result.sys_level).toBe(u.admin ? (u.boss ? 1 : 2) : u.boss ? 100 : 0);
    expect((await client.oapi('topapi/v2/user/getuserinfo', { code })).errcode).toBe(40078);
    expect((await client.oapi('topapi/v2/user/getuserinfo', { code: 'made-up' })).errcode).toBe(40078);
    expect((await client.oapi('topapi/v2/user/getuserinfo', {})).errcode).toBe(400002);
  });

  it('the boss is the main admin (sys_level 1)', async () => {
    const boss = org.users.find((u) => u.boss && u.active)!;
    const reply = await client.oapi('topapi/v2/user/getuserinfo', { code: await authCode(boss.userid) });
    expect(reply.result).toMatchObject({ sys: true, sys_level: 1 });
  });

  it('OAuth codes and 免登 codes are not interchangeable', async () => {
    const oauth = (await signIn(activeUser().userid)).get('code')!;
    expect((await client.oapi('topapi/v2/user/getuserinfo', { code: oauth })).errcode).toBe(40078);
    expect((await userToken(await authCode(activeUser().userid))).status).toBe(400);
  });

  it('POST /__sim/auth-code refuses an unknown (404) or inactive (409) person and a bad body (400)', async () => {
    expect((await client.control('POST', 'auth-code', { userid: 'nobody-here' })).status).toBe(404);
    expect(
      (await client.control('POST', 'auth-code', { userid: org.users.find((u) => !u.active)!.userid })).status,
    ).toBe(409);
    const bad = await client.control('POST', 'auth-code', { user: 'x' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/userid/);
  });
});
