import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORMS } from '../../src/connectors/registry.js';
import {
  connectionListSchema,
  connectionSchema,
  platformListSchema,
  testResultSchema,
} from '../../src/server/schemas.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { type Client, signedIn, startHarness, type Harness } from './harness.js';

/** The connection endpoints against a real WeCom simulator: CRUD, validation naming the field, 测试连接, masking. */

let sim: WecomSimulator;
let simUrl: string;
let h: Harness;
let c: Client;
/** Secrets of other simulators the tests used. */
const otherSecrets: string[] = [];

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 6, departments: 12, users: 40 });
  simUrl = await sim.listen(0);
  h = await startHarness('sqlite');
  c = await signedIn(h);
});

afterAll(async () => {
  await h.close();
  await sim.close();
});

const wecom = (name: string, over: Record<string, unknown> = {}) => ({
  platform: 'wecom',
  name,
  settings: { corpId: sim.identity.corpId, agentId: String(sim.identity.agentId), apiBaseUrl: simUrl },
  secrets: { secret: sim.identity.secret, contactsSecret: sim.identity.contactsSecret },
  ...over,
});

describe('connections', () => {
  it('create → read → list → patch → delete; secrets are masked and never returned', async () => {
    const created = await c.request('POST', '/api/v1/connections', wecom('acme'));
    expect(created.status).toBe(201);
    expect(connectionSchema.parse(created.body)).toBeTruthy();
    expect(created.body).toMatchObject({
      name: 'acme',
      platform: 'wecom',
      settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: simUrl },
      secrets: { secret: { set: true, masked: '••••••' }, contactsSecret: { set: true, masked: '••••••' } },
      syncEnabled: false,
      policy: { onUserGone: 'disable', guard: { maxUsers: 50, maxRatio: 0.2 } },
    });
    expect(created.body.id).toBeGreaterThan(0);

    expect((await c.request('POST', '/api/v1/connections', wecom('acme'))).body.error.code).toBe('CONNECTION_EXISTS');
    expect((await c.request('POST', '/api/v1/connections', wecom('acme'))).status).toBe(409);

    const one = await c.get('/api/v1/connections/acme');
    expect(one.status).toBe(200);
    expect(one.body).toEqual(created.body);
    expect((await c.get('/api/v1/connections/nope')).status).toBe(404);

    await c.request(
      'POST',
      '/api/v1/connections',
      wecom('beta', { secrets: { secret: sim.identity.secret }, syncEnabled: true }),
    );
    const list = await c.get('/api/v1/connections');
    expect(
      connectionListSchema.parse(list.body).items.map((x) => [x.name, x.syncEnabled, x.secrets.contactsSecret]),
    ).toEqual([
      ['acme', false, { set: true, masked: '••••••' }],
      ['beta', true, { set: false, masked: '' }],
    ]);

    // An empty (or omitted) secret keeps the stored one; the switch and the policy change; settings merge.
    const patched = await c.request('PATCH', '/api/v1/connections/acme', {
      settings: { agentId: sim.identity.agentId },
      secrets: { secret: '', contactsSecret: null },
      syncEnabled: true,
      policy: { guard: { maxUsers: 5 } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      syncEnabled: true,
      secrets: { secret: { set: true }, contactsSecret: { set: false } },
      policy: { guard: { maxUsers: 5, maxRatio: 0.2 } },
    });
    const stored = await h.t.store.connections.get('acme');
    expect(stored?.syncEnabled).toBe(true);
    // The secret kept its value: the test passes with it.
    expect((await c.request('POST', '/api/v1/connections/acme/test', {})).body.ok).toBe(true);

    // A new apiBaseUrl takes the secret again (a stored secret goes only to the host it was saved with).
    expect(
      (await c.request('PATCH', '/api/v1/connections/acme', { settings: { apiBaseUrl: '' } })).body.error.field,
    ).toBe('secrets.secret');
    expect(
      (
        await c.request('PATCH', '/api/v1/connections/acme', {
          settings: { apiBaseUrl: '' },
          secrets: { secret: sim.identity.secret },
        })
      ).body.settings.apiBaseUrl,
    ).toBe('https://qyapi.weixin.qq.com');
    expect(
      (
        await c.request('PATCH', '/api/v1/connections/acme', {
          settings: { apiBaseUrl: simUrl },
          secrets: { secret: sim.identity.secret },
        })
      ).body.settings.apiBaseUrl,
    ).toBe(simUrl);
    expect((await c.request('PATCH', '/api/v1/connections/nope', { syncEnabled: true })).status).toBe(404);

    expect((await c.request('DELETE', '/api/v1/connections/beta')).status).toBe(204);
    expect((await c.request('DELETE', '/api/v1/connections/beta')).status).toBe(404);
    expect((await c.get('/api/v1/connections')).body.items.map((x: { name: string }) => x.name)).toEqual(['acme']);
  });

  it('refuses bad input with 400 naming the field', async () => {
    const field = async (method: string, path: string, body: unknown) => {
      const answer = await c.request(method, path, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.any(String) });
      return answer.body.error.field as string;
    };
    const base = wecom('gamma');
    expect(
      await field('POST', '/api/v1/connections', { ...base, settings: { ...base.settings, corpId: 'not-a-corp' } }),
    ).toBe('settings.corpId');
    expect(
      await field('POST', '/api/v1/connections', { ...base, settings: { ...base.settings, agentId: 'abc' } }),
    ).toBe('settings.agentId');
    expect(
      await field('POST', '/api/v1/connections', { ...base, settings: { ...base.settings, apiBaseUrl: 'ftp://x' } }),
    ).toBe('settings.apiBaseUrl');
    expect(await field('POST', '/api/v1/connections', { ...base, settings: { ...base.settings, clientId: 'x' } })).toBe(
      'settings.clientId',
    );
    expect(await field('POST', '/api/v1/connections', { ...base, secrets: {} })).toBe('secrets.secret');
    expect(await field('POST', '/api/v1/connections', { ...base, secrets: { secret: 'has spaces in it' } })).toBe(
      'secrets.secret',
    );
    expect(await field('POST', '/api/v1/connections', { ...base, name: 'bad name!' })).toBe('name');
    expect(await field('POST', '/api/v1/connections', { ...base, platform: 'slack' })).toBe('platform');
    expect(await field('POST', '/api/v1/connections', { ...base, policy: { onUserGone: 'explode' } })).toBe(
      'policy.onUserGone',
    );
    expect(await field('POST', '/api/v1/connections', { ...base, extra: 1 })).toBe('extra');
    expect(await field('POST', '/api/v1/connections', { ...base, syncEnabled: 'yes' })).toBe('syncEnabled');
    const { settings: _settings, ...noSettings } = base;
    expect(await field('POST', '/api/v1/connections', noSettings)).toBe('settings');
    expect(await field('PATCH', '/api/v1/connections/acme', { settings: { corpId: '' } })).toBe('settings.corpId');
    expect(await field('PATCH', '/api/v1/connections/acme', { secrets: { secret: 'a b' } })).toBe('secrets.secret');
    expect(await field('PATCH', '/api/v1/connections/acme', { policy: { guard: { maxRatio: 2 } } })).toBe(
      'policy.guard.maxRatio',
    );
    expect(await field('PATCH', '/api/v1/connections/acme', { secrets: { clientSecret: 'abc' } })).toBe(
      'secrets.clientSecret',
    );
    expect(await field('POST', '/api/v1/connections/acme/test', { settings: { corpId: 'zz' } })).toBe(
      'settings.corpId',
    );
    expect(
      await field('POST', '/api/v1/connection-tests', { platform: 'wecom', settings: base.settings, secrets: {} }),
    ).toBe('secrets.secret');
    expect(await field('GET', '/api/v1/connections/bad%20name', undefined)).toBe('name');
    expect(await h.t.store.connections.get('gamma')).toBeUndefined();

    const text = await fetch(`${h.url}/api/v1/connections`, {
      method: 'POST',
      headers: {
        cookie: c.cookie as string,
        'x-csrf-token': c.csrfToken as string,
        'content-type': 'application/json',
      },
      body: '{"platform":',
    });
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
    const form = await fetch(`${h.url}/api/v1/connections`, {
      method: 'POST',
      headers: { cookie: c.cookie as string, 'x-csrf-token': c.csrfToken as string, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(form.status).toBe(415);
    expect(((await form.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a bad value is named by its path in the body, as the service names it: add, change, test and unsaved test', async () => {
    const wecomDef = PLATFORMS.find((d) => d.id === 'wecom');
    const hints = { secret: wecomDef?.fields.secret?.hint, apiBaseUrl: wecomDef?.fields.apiBaseUrl?.hint };
    const refused = async (method: string, path: string, body: unknown, field: string, hint?: string) => {
      const answer = await c.request(method, path, body);
      expect(answer.status, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_INPUT');
      expect(answer.body.error.field, answer.text).toBe(field);
      expect(answer.body.error.message.startsWith(`${field}: `), answer.body.error.message).toBe(true);
      expect(answer.body.error.hint).toBeTruthy();
      if (hint !== undefined) expect(answer.body.error.hint).toBe(hint);
    };
    const base = wecom('delta');
    const add = (over: Record<string, unknown>, field: string, hint?: string) =>
      refused('POST', '/api/v1/connections', { ...base, ...over }, field, hint);
    await add({ settings: { ...base.settings, apiBaseUrl: 'ftp://x' } }, 'settings.apiBaseUrl', hints.apiBaseUrl);
    // Plain http off this machine: the host check's own hint.
    await add({ settings: { ...base.settings, apiBaseUrl: 'http://10.1.2.3' } }, 'settings.apiBaseUrl');
    await add({ secrets: { secret: 'has spaces in it' } }, 'secrets.secret', hints.secret);
    await add({ secrets: { contactsSecret: sim.identity.contactsSecret } }, 'secrets.secret', hints.secret);
    await add({ schedule: { reconcileCron: 'nightly' } }, 'schedule.reconcileCron');
    await add({ policy: { guard: { maxRatio: 2 } } }, 'policy.guard.maxRatio');
    expect(await h.t.store.connections.get('delta')).toBeUndefined();

    expect((await c.request('POST', '/api/v1/connections', base)).status).toBe(201);
    const change = (body: Record<string, unknown>, field: string, hint?: string) =>
      refused('PATCH', '/api/v1/connections/delta', body, field, hint);
    await change({ settings: { apiBaseUrl: 'ftp://x' } }, 'settings.apiBaseUrl', hints.apiBaseUrl);
    await change({ settings: { agentId: 'abc' } }, 'settings.agentId');
    // A new host without the secrets sent there: the stored secret is named.
    await change({ settings: { apiBaseUrl: 'https://elsewhere.example.com' } }, 'secrets.secret');
    await change({ secrets: { secret: 'a b' } }, 'secrets.secret', hints.secret);
    await change({ schedule: { reconcileCron: '0 25 * * *' } }, 'schedule.reconcileCron');
    await change({ policy: { onUserGone: 'explode' } }, 'policy.onUserGone');

    const test = (body: Record<string, unknown>, field: string, hint?: string) =>
      refused('POST', '/api/v1/connections/delta/test', body, field, hint);
    await test({ settings: { apiBaseUrl: 'ftp://x' } }, 'settings.apiBaseUrl', hints.apiBaseUrl);
    await test({ settings: { apiBaseUrl: 'https://elsewhere.example.com' } }, 'secrets.secret');
    await test({ secrets: { secret: 'a b' } }, 'secrets.secret', hints.secret);

    const unsaved = (body: Record<string, unknown>, field: string, hint?: string) =>
      refused('POST', '/api/v1/connection-tests', body, field, hint);
    const card = { platform: 'wecom', settings: base.settings, secrets: { secret: sim.identity.secret } };
    await unsaved({ ...card, settings: { ...card.settings, apiBaseUrl: 'ftp://x' } }, 'settings.apiBaseUrl');
    await unsaved({ ...card, secrets: {} }, 'secrets.secret', hints.secret);
    await unsaved({ ...card, settings: { ...card.settings, corpId: 'corp1' } }, 'settings.corpId');
    await unsaved(
      { platform: 'dingtalk', settings: { corpId: 'dingcorp', agentId: 1 }, secrets: { clientSecret: 'x' } },
      'settings.clientId',
    );

    // Nothing of it was written: the connection is as it was added.
    const after = await c.get('/api/v1/connections/delta');
    expect(after.body).toMatchObject({
      settings: { apiBaseUrl: simUrl, agentId: sim.identity.agentId },
      schedule: { reconcileCron: '0 2 * * *' },
      policy: { onUserGone: 'disable' },
    });
    expect((await c.request('DELETE', '/api/v1/connections/delta')).status).toBe(204);
  });

  it('测试连接: a good secret passes every check; a broken one shows the failing check and its hint; unsaved cards too', async () => {
    const good = await c.request('POST', '/api/v1/connections/acme/test', {});
    expect(good.status).toBe(200);
    expect(testResultSchema.parse(good.body).ok).toBe(true);
    expect(good.body.checks.map((x: { name: string }) => x.name)).toEqual(
      expect.arrayContaining(['token', 'app', 'departments', 'members']),
    );

    // What is typed but not saved is what gets tested; the saved connection does not change.
    const broken = await c.request('POST', '/api/v1/connections/acme/test', {
      secrets: { secret: 'WrongSecretWrongSecretWrongSecret1234567890' },
    });
    expect(broken.status).toBe(200);
    expect(broken.body.ok).toBe(false);
    const token = broken.body.checks.find((x: { name: string }) => x.name === 'token');
    expect(token).toMatchObject({
      ok: false,
      message: expect.stringContaining('40001'),
      hint: expect.stringContaining('Secret'),
    });
    expect((await c.request('POST', '/api/v1/connections/acme/test')).body.ok).toBe(true);

    const wrongAgent = await c.request('POST', '/api/v1/connections/acme/test', { settings: { agentId: 1000099 } });
    expect(wrongAgent.body.checks.find((x: { name: string }) => x.name === 'app')).toMatchObject({
      ok: false,
      hint: expect.stringContaining('AgentId'),
    });

    // The console's Chinese pages ask in Chinese (Accept-Language): every check's message and hint come back in it.
    const zh = { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' } };
    const brokenZh = await c.request(
      'POST',
      '/api/v1/connections/acme/test',
      { secrets: { secret: 'WrongSecretWrongSecretWrongSecret1234567890' } },
      zh,
    );
    expect(brokenZh.body.checks.find((x: { name: string }) => x.name === 'token')).toStrictEqual({
      name: 'token',
      ok: false,
      code: 'WECOM_INVALID_SECRET',
      message: expect.stringMatching(
        /^errcode 40001: 企业微信拒绝了企业 \S+ 的秘钥：企业微信 gettoken 返回 errcode 40001/,
      ),
      hint: expect.stringMatching(/^重新复制秘钥：.*企业微信会把该 IP 封禁一小时。$/),
    });
    const wrongAgentZh = await c.request(
      'POST',
      '/api/v1/connections/acme/test',
      { settings: { agentId: 1000099 } },
      zh,
    );
    expect(wrongAgentZh.body.checks.find((x: { name: string }) => x.name === 'app')).toMatchObject({
      ok: false,
      hint: expect.stringContaining('应用ID 请填'),
    });
    const goodZh = await c.request('POST', '/api/v1/connections/acme/test', {}, zh);
    expect(goodZh.body.ok).toBe(true);
    for (const check of goodZh.body.checks as Array<{ name: string; message: string }>)
      expect(check.message, check.name).toMatch(/[\u4e00-\u9fff]/);
    // English first, or no Chinese at all: English.
    for (const header of ['en-US,en;q=0.9,zh-CN;q=0.8', 'fr-FR', 'zh;q=0, en']) {
      const answer = await c.request(
        'POST',
        '/api/v1/connections/acme/test',
        { settings: { agentId: 1000099 } },
        { headers: { 'accept-language': header } },
      );
      expect(answer.body.checks.find((x: { name: string }) => x.name === 'app')?.hint, header).toContain('Set agentId');
    }

    const unsaved = await c.request('POST', '/api/v1/connection-tests', {
      platform: 'wecom',
      settings: wecom('x').settings,
      secrets: { secret: sim.identity.secret },
    });
    expect(unsaved.status).toBe(200);
    expect(unsaved.body.ok).toBe(true);
    const unsavedBroken = await c.request('POST', '/api/v1/connection-tests', {
      platform: 'wecom',
      settings: wecom('x').settings,
      secrets: { secret: 'nope-nope-nope' },
    });
    expect(unsavedBroken.body.ok).toBe(false);
    expect(unsavedBroken.body.checks[0]).toMatchObject({ name: 'token', ok: false, hint: expect.any(String) });
    expect((await c.get('/api/v1/connections')).body.items).toHaveLength(1);
  });

  it('a DingTalk card: its settings and secret, 测试连接 good and broken, and a sync', async () => {
    const ding = new DingtalkSimulator({ seed: 9, departments: 8, users: 30, config: { sensitiveFields: 'returned' } });
    const dingUrl = await ding.listen(0);
    otherSecrets.push(ding.identity.clientSecret);
    try {
      const settings = {
        corpId: ding.identity.corpId,
        agentId: ding.identity.agentId,
        clientId: ding.identity.clientId,
        apiBaseUrl: dingUrl,
      };
      const created = await c.request('POST', '/api/v1/connections', {
        platform: 'dingtalk',
        name: 'ding',
        settings,
        secrets: { clientSecret: ding.identity.clientSecret },
        syncEnabled: true,
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({
        platform: 'dingtalk',
        settings: { clientId: ding.identity.clientId },
        secrets: { clientSecret: { set: true, masked: '••••••' } },
      });
      expect(Object.keys(created.body.secrets)).toEqual(['clientSecret', 'callbackToken', 'callbackAesKey']);
      expect(
        (
          await c.request('POST', '/api/v1/connections', {
            platform: 'dingtalk',
            name: 'ding2',
            settings: { ...settings, clientId: undefined },
            secrets: { clientSecret: 'x' },
          })
        ).body.error.field,
      ).toBe('settings.clientId');

      const good = await c.request('POST', '/api/v1/connections/ding/test', {});
      expect(good.body.ok, JSON.stringify(good.body)).toBe(true);
      const broken = await c.request('POST', '/api/v1/connections/ding/test', {
        secrets: { clientSecret: 'not-the-secret' },
      });
      expect(broken.body.ok).toBe(false);
      expect(broken.body.checks.find((x: { ok: boolean }) => !x.ok)).toMatchObject({ hint: expect.any(String) });
      const zh = { headers: { 'accept-language': 'zh-CN' } };
      const brokenZh = await c.request(
        'POST',
        '/api/v1/connections/ding/test',
        { secrets: { clientSecret: 'not-the-secret' } },
        zh,
      );
      expect(brokenZh.body.checks.find((x: { ok: boolean }) => !x.ok)).toMatchObject({
        name: 'token',
        message: expect.stringContaining('钉钉拒绝了 Client ID 或 Client Secret'),
        hint: expect.stringContaining('重新复制 Client ID'),
      });
      const goodZh = await c.request('POST', '/api/v1/connections/ding/test', {}, zh);
      expect(goodZh.body.ok).toBe(true);
      expect(
        (goodZh.body.checks as Array<{ name: string; message: string }>).map((x) => [
          x.name,
          /[\u4e00-\u9fff]/.test(x.message),
        ]),
      ).toStrictEqual((goodZh.body.checks as Array<{ name: string }>).map((x) => [x.name, true]));

      const started = await c.request('POST', '/api/v1/connections/ding/sync', {});
      expect(started.status, started.text).toBe(202);
      // Polled until it has ended (the test's time-out ends a wait that never does).
      let run: any = (await c.get(`/api/v1/runs/${started.body.runId}`)).body;
      while (run.status === 'running') {
        await new Promise((r) => setTimeout(r, 25));
        run = (await c.get(`/api/v1/runs/${started.body.runId}`)).body;
      }
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expect(run.source).toBe('ding');
      expect((await c.request('DELETE', '/api/v1/connections/ding')).status).toBe(204);
    } finally {
      await ding.close();
    }
  });

  it('no response and no log line carries a secret, a password, a session id or a token', async () => {
    const secrets = [
      sim.identity.secret,
      sim.identity.contactsSecret,
      h.server.admin?.password as string,
      (c.cookie as string).split('=')[1] as string,
      c.csrfToken as string,
      ...otherSecrets,
    ];
    expect(otherSecrets).toHaveLength(1);
    for (const body of c.received) {
      for (const [i, secret] of secrets.entries()) {
        // The session's own CSRF token is handed to it on purpose (sign-in and GET /session).
        if (i === 4 && (body.includes('"csrfToken"') || body === '')) continue;
        expect(body.includes(secret), `response carries secret #${i}: ${body.slice(0, 200)}`).toBe(false);
      }
    }
    const logText = h.logs.join('');
    expect(h.logs.length).toBeGreaterThan(10);
    for (const [i, secret] of secrets.entries()) {
      const lines = h.logs.filter((l) => l.includes(secret));
      // The generated admin password too: it goes to the caller (or the terminal), never into the log.
      expect(lines.length, `log carries secret #${i}`).toBe(0);
    }
    expect(logText).not.toContain('WrongSecretWrongSecret');

    // Whatever code logs by mistake under a secret's name is redacted by the logger itself.
    const before = h.logs.length;
    h.server.app.log.info(
      {
        password: 'pw-1',
        secrets: { secret: 'sec-2' },
        connection: { contactsSecret: 'sec-3', token: 'tok-4' },
        req: { headers: { authorization: 'Bearer tok-5', cookie: 'orgsync_session=sid-6' } },
      },
      'careless',
    );
    const line = h.logs.slice(before).join('');
    expect(line).toContain('careless');
    for (const leaked of ['pw-1', 'sec-2', 'sec-3', 'tok-4', 'tok-5', 'sid-6']) expect(line).not.toContain(leaked);
  });
});

describe('GET /api/v1/platforms', () => {
  it('describes every platform of the registry: each setting and secret with its labels, help and whether it is secret', async () => {
    const answer = await c.get('/api/v1/platforms');
    expect(answer.status).toBe(200);
    const body = platformListSchema.parse(answer.body);
    expect(body.items.map((p) => p.id)).toEqual(PLATFORMS.map((d) => d.id));
    for (const d of PLATFORMS) {
      const described = body.items.find((p) => p.id === d.id);
      expect(described?.names).toEqual(d.names);
      expect(described?.fields.map((f) => f.key)).toEqual([
        ...Object.keys(d.settings.shape),
        ...Object.keys(d.secrets.shape),
      ]);
      expect(described?.fields.filter((f) => f.secret).map((f) => f.key)).toEqual(Object.keys(d.secrets.shape));
      for (const f of described?.fields ?? []) {
        expect(f.label.zh.length).toBeGreaterThan(0);
        expect(f.label.en.length).toBeGreaterThan(0);
        expect(f.hint).toBe(d.fields[f.key]?.hint);
      }
    }
    const wecom = body.items.find((p) => p.id === 'wecom');
    expect(wecom?.fields.find((f) => f.key === 'agentId')).toMatchObject({
      part: 'settings',
      required: true,
      number: true,
      secret: false,
    });
    expect(wecom?.fields.find((f) => f.key === 'apiBaseUrl')).toMatchObject({
      required: false,
      default: 'https://qyapi.weixin.qq.com',
      place: 'advanced',
    });
    expect(wecom?.fields.find((f) => f.key === 'contactsSecret')).toMatchObject({
      part: 'secrets',
      required: false,
      secret: true,
    });
  });

  it('is an admin route: without a session it answers 401', async () => {
    const answer = await fetch(`${h.url}/api/v1/platforms`);
    expect(answer.status).toBe(401);
  });
});
