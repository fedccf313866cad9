import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DingtalkConnection } from '../../src/connections/connections.js';
import { testConnection } from '../../src/connectors/connection-test.js';
import { testDingtalkConnection } from '../../src/connectors/dingtalk/connection-test.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { DingtalkSimulator } from '../../src/simulator/dingtalk/server.js';

/** `connection test` of a DingTalk connection against the simulator: each failure kind on its own check, with its hint. */

let sim: DingtalkSimulator;
const outputs: string[] = [];

beforeAll(async () => {
  sim = new DingtalkSimulator({ seed: 13, departments: 30, users: 300 });
  await sim.listen(0);
});
afterAll(async () => {
  await sim.close();
  for (const out of outputs) expect(out).not.toContain(sim.identity.clientSecret);
});
beforeEach(() => {
  sim.updateConfig({ untrustedIp: false, visibleRange: [1], deniedApis: [], sensitiveFields: 'returned' });
});

function connection(overrides: { clientSecret?: string; apiBaseUrl?: string } = {}): DingtalkConnection {
  return {
    id: 1,
    name: 'ding',
    platform: 'dingtalk',
    settings: {
      corpId: sim.identity.corpId,
      agentId: sim.identity.agentId,
      clientId: sim.identity.clientId,
      apiBaseUrl: overrides.apiBaseUrl ?? sim.url,
    },
    secrets: { clientSecret: overrides.clientSecret ?? sim.identity.clientSecret },
    policy: resolvePolicy({}),
    schedule: { reconcileCron: null },
    createdAt: '',
    updatedAt: '',
  };
}

async function run(c = connection()) {
  const r = await testConnection(c);
  outputs.push(JSON.stringify(r));
  return r;
}

const failing = (r: Awaited<ReturnType<typeof run>>) => r.checks.filter((c) => !c.ok);

describe('DingTalk connection test', () => {
  it('passes every check on a well-configured app, and says what it sees', async () => {
    const r = await run();
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual([
      'token',
      'ip whitelist',
      'app',
      'contact scope',
      'departments',
      'members',
      'mobile',
    ]);
    expect(r.checks.find((c) => c.name === 'contact scope')?.message).toBe(
      'the contact scope is the whole org (department 1)',
    );
    expect(r.checks.find((c) => c.name === 'departments')?.message).toMatch(
      /department 1 「.+」 and at least \d+ departments in all/,
    );
    expect(r.checks.find((c) => c.name === 'members')?.message).toMatch(
      /reads members: \d+ members in the first 20 departments/,
    );
  });

  it('a wrong Client Secret: the token check fails with errcode 40096 and where to copy it', async () => {
    const r = await run(connection({ clientSecret: 'Wrong-Secret-0123456789abcdef' }));
    expect(r.ok).toBe(false);
    expect(r.checks).toEqual([
      expect.objectContaining({
        name: 'token',
        ok: false,
        message: expect.stringContaining('errcode 40096'),
        hint: expect.stringContaining('凭证与基础信息'),
      }),
    ]);
  });

  it('an IP not in the whitelist: errcode 60020 on the ip whitelist check, naming 服务器出口IP', async () => {
    sim.updateConfig({ untrustedIp: true });
    expect(failing(await run())).toEqual([
      expect.objectContaining({
        name: 'ip whitelist',
        message: expect.stringContaining('errcode 60020'),
        hint: expect.stringContaining('服务器出口IP'),
      }),
    ]);
  });

  it('a contact scope of one subtree: the walk starts there; an empty scope fails with where to set it', async () => {
    const child = sim.corp.childrenOf(1).find((d) => sim.corp.childrenOf(d.dept_id).length > 0)!;
    sim.updateConfig({ visibleRange: [child.dept_id] });
    const r = await run();
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.name === 'contact scope')?.message).toBe(
      `the contact scope is department ${child.dept_id}`,
    );
    expect(r.checks.find((c) => c.name === 'departments')?.message).toContain(
      `department ${child.dept_id} 「${child.name}」`,
    );
    sim.updateConfig({ visibleRange: [] });
    expect(failing(await run())).toEqual([
      expect.objectContaining({ name: 'contact scope', hint: expect.stringContaining('通讯录权限范围') }),
    ]);
  });

  it('no permission to read departments, or members: errcode 88 / sub_code 60011 naming the permission to grant', async () => {
    sim.updateConfig({ deniedApis: ['topapi/v2/department/listsub'] });
    expect(failing(await run())).toEqual([
      expect.objectContaining({
        name: 'departments',
        message: expect.stringContaining('errcode 88 (sub_code 60011)'),
        hint: expect.stringContaining('通讯录部门信息读取'),
      }),
    ]);
    sim.updateConfig({ deniedApis: ['topapi/v2/user/list'] });
    expect(failing(await run())).toEqual([
      expect.objectContaining({ name: 'members', hint: expect.stringContaining('成员信息读取') }),
    ]);
  });

  it('without the 个人手机号信息 permission: the mobile check is a warning saying the sync still works; the test stays ok', async () => {
    sim.updateConfig({ sensitiveFields: 'withheld' });
    const r = await run();
    expect(r.ok).toBe(true);
    expect(failing(r)).toEqual([]);
    const warnings = r.checks.filter((c) => c.level === 'warning');
    expect(warnings).toEqual([
      expect.objectContaining({
        name: 'mobile',
        ok: true,
        level: 'warning',
        message: expect.stringContaining('个人手机号信息'),
      }),
    ]);
    expect(warnings[0]?.hint).toContain('keeps those already stored');
  });

  it('an app that is not published (43007): the app check fails with how to publish it', async () => {
    // The simulator has no unpublished app: a remote that answers 43007 to everything but gettoken.
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        (req.url ?? '').startsWith('/gettoken')
          ? JSON.stringify({
              errcode: 0,
              errmsg: 'ok',
              access_token: 'remote-token-0123456789abcdef',
              expires_in: 7200,
            })
          : JSON.stringify({ errcode: 43007, errmsg: '需要授权' }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = await testDingtalkConnection(
        connection({ apiBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
      );
      outputs.push(JSON.stringify(r));
      expect(r.checks.map((c) => [c.name, c.ok])).toEqual([
        ['token', true],
        ['ip whitelist', true],
        ['app', false],
      ]);
      expect(r.checks[2]?.hint).toContain('版本管理与发布');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
