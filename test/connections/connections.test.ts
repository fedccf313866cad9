import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConnectionService,
  DEFAULT_API_BASE_URLS,
  MASK,
  maskSecret,
  type ConnectionInput,
  type WecomConnection,
  type WecomConnectionInput,
} from '../../src/connections/connections.js';
import { SecretBox, keyFingerprint } from '../../src/connections/secret-box.js';
import { OrgsyncError, ValidationError } from '../../src/errors.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { sqlitePath } from '../../src/store/open.js';
import { ENGINES, PG_URL, openTestStore, type Engine, type TestStore } from '../helpers/stores.js';

const SECRET = 'Hq3vN8xLw2Pz7RkT5mYc9BdF4gJs6AeU1oXi0Kn2a1b';
const CONTACTS_SECRET = 'cS_7f3k9Lm2Qp8Vn4Rt6Wy1Zb5Hd0Gj3Xc';

type WecomChange = Partial<Omit<WecomConnectionInput, 'settings' | 'secrets'>> & {
  settings?: Partial<WecomConnectionInput['settings']>;
  secrets?: Partial<WecomConnectionInput['secrets']>;
};

/** A WeCom connection named acme, with what `over` gives laid over its settings, secrets and the rest. */
function wecom(over: WecomChange = {}): WecomConnectionInput {
  const { settings, secrets, ...rest } = over;
  return {
    platform: 'wecom',
    name: 'acme',
    ...rest,
    settings: { corpId: 'ww1a2b3c4d5e6f7a8b', agentId: 1000002, ...settings },
    secrets: { secret: SECRET, ...secrets },
  };
}

async function caught(p: Promise<unknown>): Promise<OrgsyncError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OrgsyncError);
    return err as OrgsyncError;
  }
  throw new Error('expected an OrgsyncError, nothing was thrown');
}

/** Every substring of `secret` longer than `max` characters. */
function longPieces(secret: string, max = 4): string[] {
  const out: string[] = [];
  for (let i = 0; i + max + 1 <= secret.length; i++) out.push(secret.slice(i, i + max + 1));
  return out;
}

function expectNoSecret(text: string, secrets: readonly string[]): void {
  for (const s of secrets) for (const piece of longPieces(s)) expect(text).not.toContain(piece);
}

/** The connections table as another program reading the database directly sees it. */
async function rawRows(engine: Engine, t: TestStore): Promise<Array<Record<string, unknown>>> {
  if (engine === 'sqlite') {
    const db = new SqliteDatabase(sqlitePath(t.location), { readonly: true });
    try {
      return db.prepare('select * from connections order by name').all() as Array<Record<string, unknown>>;
    } finally {
      db.close();
    }
  }
  return rawQuery(engine, t, `select * from ${t.location}.connections order by name`);
}

async function rawQuery(
  engine: Engine,
  t: TestStore,
  text: string,
  params: unknown[] = [],
): Promise<Array<Record<string, unknown>>> {
  if (engine === 'sqlite') {
    const db = new SqliteDatabase(sqlitePath(t.location));
    try {
      const stmt = db.prepare(text.replaceAll(/\$\d+/g, '?'));
      return stmt.reader ? (stmt.all(...params) as Array<Record<string, unknown>>) : (stmt.run(...params), []);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${t.location}` });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

describe.each(ENGINES)('connections (%s)', (engine) => {
  let t: TestStore;
  let key: Buffer;
  let service: ConnectionService;

  beforeEach(async () => {
    t = await openTestStore(engine);
    key = randomBytes(32);
    service = new ConnectionService(t.store, SecretBox.fromKey(key));
  });

  afterEach(async () => {
    await t.cleanup();
  });

  describe('add / get / list / view', () => {
    it('add stores a WeCom connection; get gives it back with its secrets, defaults applied', async () => {
      const view = await service.add(
        wecom({ secrets: { contactsSecret: CONTACTS_SECRET }, policy: { onUserGone: 'ignore' } }),
      );
      expect(view).toStrictEqual({
        id: expect.any(Number),
        name: 'acme',
        platform: 'wecom',
        settings: { corpId: 'ww1a2b3c4d5e6f7a8b', agentId: 1000002, apiBaseUrl: DEFAULT_API_BASE_URLS.wecom },
        secrets: { secret: '••••••2a1b', contactsSecret: maskSecret(CONTACTS_SECRET) },
        policy: resolvePolicy({ onUserGone: 'ignore' }),
        schedule: { reconcileCron: '0 2 * * *' },
        syncEnabled: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      expect(Object.keys(view)).toEqual([
        'id',
        'name',
        'platform',
        'settings',
        'secrets',
        'policy',
        'schedule',
        'syncEnabled',
        'createdAt',
        'updatedAt',
      ]);
      expect(view.createdAt).toBe(view.updatedAt);

      const c = (await service.get('acme')) as WecomConnection;
      expect(c).toStrictEqual({
        id: expect.any(Number),
        name: 'acme',
        platform: 'wecom',
        settings: { corpId: 'ww1a2b3c4d5e6f7a8b', agentId: 1000002, apiBaseUrl: 'https://qyapi.weixin.qq.com' },
        secrets: { secret: SECRET, contactsSecret: CONTACTS_SECRET },
        policy: resolvePolicy({ onUserGone: 'ignore' }),
        schedule: { reconcileCron: '0 2 * * *' },
        createdAt: view.createdAt,
        updatedAt: view.updatedAt,
      });
      expect(c.id).toBe(view.id);
      expect(await service.view('acme')).toStrictEqual(view);
    });

    it('tolerant input: agentId as text, corpId with spaces and wx prefix, a trailing slash on apiBaseUrl', async () => {
      await service.add(
        wecom({ settings: { agentId: ' 42 ', corpId: ' wx5823bf96d3bd56c7 ', apiBaseUrl: 'http://127.0.0.1:8080/' } }),
      );
      const c = (await service.get('acme')) as WecomConnection;
      expect(c.settings).toStrictEqual({
        corpId: 'wx5823bf96d3bd56c7',
        agentId: 42,
        apiBaseUrl: 'http://127.0.0.1:8080',
      });
      expect(c.secrets).toStrictEqual({ secret: SECRET });
    });

    it('a DingTalk connection has its own settings and secret', async () => {
      const input: ConnectionInput = {
        platform: 'dingtalk',
        name: 'ding.main',
        settings: { corpId: 'dingabc123', agentId: '2345678901', clientId: 'dingxyz789' },
        secrets: { clientSecret: SECRET },
      };
      const view = await service.add(input);
      expect(view).toMatchObject({
        platform: 'dingtalk',
        settings: {
          corpId: 'dingabc123',
          agentId: 2345678901,
          clientId: 'dingxyz789',
          apiBaseUrl: DEFAULT_API_BASE_URLS.dingtalk,
        },
        secrets: { clientSecret: maskSecret(SECRET) },
      });
      expect((await service.get('ding.main')).secrets).toStrictEqual({ clientSecret: SECRET });
    });

    it('list and views are ordered by name (code units), and list gives every secret', async () => {
      for (const name of ['zeta', 'Alpha', 'beta-2', '0day'])
        await service.add(wecom({ name, secrets: { secret: `${SECRET}${name.length}` } }));
      expect((await service.list()).map((c) => c.name)).toEqual(['0day', 'Alpha', 'beta-2', 'zeta']);
      expect((await service.views()).map((v) => v.name)).toEqual(['0day', 'Alpha', 'beta-2', 'zeta']);
      expect((await service.list()).map((c) => (c as WecomConnection).secrets.secret)).toEqual(
        ['0day', 'Alpha', 'beta-2', 'zeta'].map((n) => `${SECRET}${n.length}`),
      );
      expect(await new ConnectionService(await t.reopen(), SecretBox.fromKey(key)).list()).toStrictEqual(
        await service.list(),
      );
    });

    it('an empty store lists nothing', async () => {
      expect(await service.list()).toEqual([]);
      expect(await service.views()).toEqual([]);
    });

    it('a second connection of the same name is refused with CONNECTION_EXISTS, and the first is unchanged', async () => {
      await service.add(wecom());
      const before = await service.get('acme');
      const err = await caught(
        service.add(wecom({ secrets: { secret: 'another-secret' }, settings: { corpId: 'wwffff' } })),
      );
      expect(err.code).toBe('CONNECTION_EXISTS');
      expect(err.hint).toContain('orgsync connection update acme');
      expect(await service.get('acme')).toStrictEqual(before);
    });

    it('two stores adding the same name at once: exactly one wins, the other gets CONNECTION_EXISTS', async () => {
      const other = new ConnectionService(await t.reopen(), SecretBox.fromKey(key));
      const results = await Promise.allSettled([
        service.add(wecom({ secrets: { secret: 'one-secret' } })),
        other.add(wecom({ secrets: { secret: 'two-secret' } })),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected');
      expect((failed?.reason as OrgsyncError | undefined)?.code).toBe('CONNECTION_EXISTS');
      expect(await service.list()).toHaveLength(1);
    });

    it('get, view, update and remove of an unknown name fail with CONNECTION_NOT_FOUND', async () => {
      for (const call of [
        () => service.get('nope'),
        () => service.view('nope'),
        () => service.update('nope', { secrets: { secret: 'x1' } }),
        () => service.remove('nope'),
      ]) {
        const err = await caught(call());
        expect(err.code).toBe('CONNECTION_NOT_FOUND');
        expect(err.message).toContain('"nope"');
        expect(err.hint).toContain('orgsync connection list');
      }
    });
  });

  describe('secrets at rest', () => {
    it('the database row never holds a secret in the clear: the secrets column is a v1 sealed value', async () => {
      await service.add(wecom({ secrets: { contactsSecret: CONTACTS_SECRET } }));
      await service.add({
        platform: 'dingtalk',
        name: 'ding',
        settings: { corpId: 'dingabc', agentId: 1, clientId: 'key1' },
        secrets: { clientSecret: `${SECRET}DING` },
      });
      await service.update('acme', { secrets: { secret: `${SECRET}NEW` } });
      const rows = await rawRows(engine, t);
      expect(rows.map((r) => r.name)).toEqual(['acme', 'ding']);
      for (const row of rows) {
        expect(String(row.secrets)).toMatch(/^v1:[A-Za-z0-9+/]+=*$/);
        const all = JSON.stringify(row);
        expectNoSecret(all, [SECRET, `${SECRET}NEW`, CONTACTS_SECRET, `${SECRET}DING`]);
        expect(all).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 12));
      }
      // The non-secret settings are plain JSON.
      expect(JSON.parse(String(rows[0]?.settings))).toStrictEqual({
        corpId: 'ww1a2b3c4d5e6f7a8b',
        agentId: 1000002,
        apiBaseUrl: 'https://qyapi.weixin.qq.com',
      });
      expect(typeof rows[0]?.id === 'number' || typeof rows[0]?.id === 'string').toBe(true);
    });

    it('a sealed value copied to another connection does not open there (the name is bound)', async () => {
      await service.add(wecom({ name: 'a', secrets: { secret: 'secret-of-a' } }));
      await service.add(wecom({ name: 'b', secrets: { secret: 'secret-of-b' } }));
      const [a] = await rawQuery(engine, t, 'select secrets from connections where name = $1', ['a']);
      await rawQuery(engine, t, 'update connections set secrets = $1 where name = $2', [a?.secrets, 'b']);
      const err = await caught(service.get('b'));
      expect(err.code).toBe('SECRET_DECRYPT_FAILED');
      expect(err.object).toBe('connection "b"');
      expect((await service.get('a')).secrets).toStrictEqual({ secret: 'secret-of-a' });
    });

    it('with another master key: get and list are refused with MASTER_KEY_MISMATCH naming both fingerprints; views still list, with secretsError and a bare mask', async () => {
      await service.add(wecom({ secrets: { contactsSecret: CONTACTS_SECRET } }));
      const other = randomBytes(32);
      const lost = new ConnectionService(t.store, SecretBox.fromKey(other));
      const err = await caught(lost.get('acme'));
      expect(err.code).toBe('MASTER_KEY_MISMATCH');
      expect(err.message).toContain(`expected the key with fingerprint ${keyFingerprint(key)}`);
      expect(err.message).toContain(`found the key with fingerprint ${keyFingerprint(other)}`);
      expect(err.hint).toContain('ORGSYNC_MASTER_KEY');
      await expect(lost.list()).rejects.toMatchObject({ code: 'MASTER_KEY_MISMATCH' });
      const [view] = await lost.views();
      expect(view).toMatchObject({
        name: 'acme',
        settings: { corpId: 'ww1a2b3c4d5e6f7a8b' },
        secrets: { secret: MASK },
        secretsError: { code: 'SECRET_DECRYPT_FAILED' },
      });
      expect(view?.secrets).not.toHaveProperty('contactsSecret');
      expect(await lost.view('acme')).toStrictEqual(view);
    });

    it('with another master key, a policy-only update works; sealing anything under it is refused, so the store is never split', async () => {
      await service.add(wecom({ secrets: { contactsSecret: CONTACTS_SECRET } }));
      const lost = new ConnectionService(t.store, SecretBox.fromKey(randomBytes(32)));
      expect((await lost.update('acme', { policy: { onUserGone: 'delete' } })).policy.onUserGone).toBe('delete');
      expect((await lost.update('acme', { syncEnabled: true })).syncEnabled).toBe(true);
      expect((await caught(lost.update('acme', { secrets: { secret: 'fresh-secret' } }))).code).toBe(
        'MASTER_KEY_MISMATCH',
      );
      // Even with every secret given anew: the other connections' secrets would need the old key.
      expect(
        (
          await caught(
            lost.update('acme', {
              secrets: { secret: 'fresh-secret', contactsSecret: null, callbackToken: null, callbackAesKey: null },
            }),
          )
        ).code,
      ).toBe('MASTER_KEY_MISMATCH');
      expect((await caught(lost.add(wecom({ name: 'beta' })))).code).toBe('MASTER_KEY_MISMATCH');
      expect((await service.list()).map((c) => [c.name, c.secrets])).toStrictEqual([
        ['acme', { secret: SECRET, contactsSecret: CONTACTS_SECRET }],
      ]);
    });
  });

  describe('masked views', () => {
    it.each([1, 3, 4, 7, 8, 15, 16, 17, 32, 43, 64, 128])(
      'a %i-character secret shows none of a short secret (< 16), at most the last 4 of a long one',
      async (length) => {
        const secret = Array.from(
          { length },
          (_, i) => 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'[(i * 7 + length) % 57],
        ).join('');
        const view = await service.add(
          wecom({ secrets: { secret, contactsSecret: secret.split('').reverse().join('') } }),
        );
        for (const masked of [view.secrets.secret, view.secrets.contactsSecret ?? '']) {
          expect(masked.startsWith(MASK)).toBe(true);
          const shown = masked.slice(MASK.length);
          expect(shown.length).toBeLessThanOrEqual(length < 16 ? 0 : 4);
        }
        const shown = length < 16 ? 0 : 4;
        expect(view.secrets.secret).toBe(MASK + secret.slice(length - shown, length));
        expectNoSecret(JSON.stringify(await service.views()), [secret, secret.split('').reverse().join('')]);
        expectNoSecret(JSON.stringify(await service.view('acme')), [secret]);
      },
    );

    it('maskSecret counts characters, not UTF-16 units', () => {
      expect(maskSecret('')).toBe(MASK);
      expect(maskSecret('abc')).toBe(MASK);
      expect(maskSecret('abcdef')).toBe(MASK);
      expect(maskSecret('0123456789abcde')).toBe(MASK);
      expect(maskSecret('0123456789abcdef')).toBe(`${MASK}cdef`);
      expect(maskSecret('🙂🙂🙂🙂🙂🙂🙂🙂')).toBe(MASK);
      expect(maskSecret('🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂')).toBe(`${MASK}🙂🙂🙂🙂`);
    });
  });

  describe('update', () => {
    it('changes only what is given; secrets are re-sealed only when a secret changes', async () => {
      await service.add(
        wecom({
          secrets: { contactsSecret: CONTACTS_SECRET },
          policy: { mountDepartmentId: 7, guard: { maxUsers: 10 } },
        }),
      );
      const [before] = await rawRows(engine, t);
      // The millisecond clock moves on from the creation's (timestamps are ms): the update's is then later.
      const created = Date.now();
      while (Date.now() <= created) await new Promise((r) => setImmediate(r));

      const v1 = await service.update('acme', { policy: { onUserGone: 'delete', guard: { maxRatio: 0.5 } } });
      expect(v1.policy).toStrictEqual(
        resolvePolicy({ mountDepartmentId: 7, onUserGone: 'delete', guard: { maxUsers: 10, maxRatio: 0.5 } }),
      );
      expect(v1.updatedAt > v1.createdAt).toBe(true);
      const [afterPolicy] = await rawRows(engine, t);
      expect(afterPolicy?.secrets).toBe(before?.secrets);
      expect(afterPolicy?.settings).toBe(before?.settings);

      await service.update('acme', { secrets: { secret: 'new-app-secret' } });
      const c = (await service.get('acme')) as WecomConnection;
      expect(c.secrets).toStrictEqual({ secret: 'new-app-secret', contactsSecret: CONTACTS_SECRET });
      expect(c.settings.corpId).toBe('ww1a2b3c4d5e6f7a8b');
      const [afterSecret] = await rawRows(engine, t);
      expect(afterSecret?.secrets).not.toBe(before?.secrets);

      // A new host and corp take the secrets again.
      await service.update('acme', {
        settings: { corpId: 'wwbeef', agentId: '7', apiBaseUrl: 'https://proxy.example.com/wecom' },
        secrets: { secret: 'new-app-secret', contactsSecret: CONTACTS_SECRET },
      });
      expect((await service.get('acme')).settings).toStrictEqual({
        corpId: 'wwbeef',
        agentId: 7,
        apiBaseUrl: 'https://proxy.example.com/wecom',
      });
    });

    it('null removes: contactsSecret goes, apiBaseUrl returns to the default, a policy key returns to its default', async () => {
      await service.add(
        wecom({
          settings: { apiBaseUrl: 'http://127.0.0.1:9' },
          secrets: { contactsSecret: CONTACTS_SECRET },
          policy: { mountDepartmentId: 7, matching: { users: ['email'] } },
        }),
      );
      const view = await service.update('acme', {
        settings: { apiBaseUrl: null },
        secrets: { secret: SECRET, contactsSecret: null },
        policy: { mountDepartmentId: null, matching: { users: null } },
      });
      expect(view.secrets).not.toHaveProperty('contactsSecret');
      expect(view.settings.apiBaseUrl).toBe(DEFAULT_API_BASE_URLS.wecom);
      expect(view.policy).toStrictEqual(resolvePolicy({}));
      expect((await service.get('acme')).secrets).toStrictEqual({ secret: SECRET });
    });

    it('a new host or corp needs the secrets sent there again: refused naming each one, nothing written; preview (a test) alike', async () => {
      await service.add(
        wecom({ settings: { apiBaseUrl: 'http://127.0.0.1:9' }, secrets: { contactsSecret: CONTACTS_SECRET } }),
      );
      const [before] = await rawRows(engine, t);
      const elsewhere = { apiBaseUrl: 'https://elsewhere.example.com' };
      for (const [patch, paths] of [
        [{ settings: elsewhere }, ['secrets.secret', 'secrets.contactsSecret']],
        [{ settings: { apiBaseUrl: null } }, ['secrets.secret', 'secrets.contactsSecret']],
        [{ settings: { corpId: 'wwother' } }, ['secrets.secret', 'secrets.contactsSecret']],
        [{ settings: elsewhere, secrets: { secret: 'typed-again' } }, ['secrets.contactsSecret']],
        [{ settings: elsewhere, secrets: { contactsSecret: null } }, ['secrets.secret']],
      ] as const) {
        for (const call of [() => service.update('acme', patch), () => service.preview('acme', patch)]) {
          const err = await caught(call());
          expect(err, JSON.stringify(patch)).toBeInstanceOf(ValidationError);
          expect((err as ValidationError).issues.map((i) => i.path)).toEqual(paths);
          expect((err as ValidationError).issues[0]?.message).toMatch(
            /must be given again: (apiBaseUrl|corpId) changes, and a stored secret goes only to the host and account it was saved with/,
          );
        }
      }
      expect(await rawRows(engine, t)).toStrictEqual([before]);
      // The same URL spelled otherwise, and other settings, change nothing of where the secrets go.
      expect(
        (await service.preview('acme', { settings: { apiBaseUrl: 'HTTP://127.0.0.1:9/' } })).secrets,
      ).toStrictEqual({ secret: SECRET, contactsSecret: CONTACTS_SECRET });
      await service.update('acme', { settings: { agentId: 9 } });
      // With them, it is made.
      const moved = await service.update('acme', {
        settings: elsewhere,
        secrets: { secret: 'typed-again', contactsSecret: null },
      });
      expect(moved.settings.apiBaseUrl).toBe('https://elsewhere.example.com');
      expect((await service.get('acme')).secrets).toStrictEqual({ secret: 'typed-again' });
    });

    it('http only to loopback or a listed host, on add, update, preview and draft', async () => {
      const listed = new ConnectionService(t.store, SecretBox.fromKey(key), {
        allowedApiHosts: ['10.0.0.5:8080', 'proxy.internal'],
      });
      for (const url of ['http://10.0.0.6:8080', 'http://10.0.0.5:8081', 'http://proxy.internal.evil:80']) {
        const { platform, settings, secrets } = wecom({ settings: { apiBaseUrl: url } });
        const err = await caught(listed.add(wecom({ settings: { apiBaseUrl: url } })));
        expect((err as ValidationError).issues).toEqual([
          expect.objectContaining({
            path: 'settings.apiBaseUrl',
            field: 'apiBaseUrl',
            message: expect.stringContaining('ORGSYNC_ALLOWED_API_HOSTS'),
          }),
        ]);
        expect(() => listed.draft({ platform, settings, secrets })).toThrow(/ORGSYNC_ALLOWED_API_HOSTS/);
      }
      for (const url of [
        'http://10.0.0.5:8080',
        'http://proxy.internal:81',
        'http://localhost:9',
        'http://[::1]:9',
        'https://10.0.0.6',
      ]) {
        const { platform, settings, secrets } = wecom({ settings: { apiBaseUrl: url } });
        expect(listed.draft({ platform, settings, secrets }).settings.apiBaseUrl).toBe(url);
      }
      expect(
        (await caught(service.add(wecom({ settings: { apiBaseUrl: 'http://10.0.0.5:8080' } })))).message,
      ).toContain('ORGSYNC_ALLOWED_API_HOSTS');
      await service.add(wecom({ settings: { apiBaseUrl: 'http://127.0.0.1:9' } }));
      const change = { settings: { apiBaseUrl: 'http://10.0.0.5:8080' }, secrets: { secret: 'typed-again' } };
      const err = await caught(service.update('acme', change));
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['settings.apiBaseUrl']);
      expect(await listed.update('acme', change)).toMatchObject({ settings: { apiBaseUrl: 'http://10.0.0.5:8080' } });
    });

    it('syncEnabled: off unless added on, switched by update; switching it to what it is writes nothing', async () => {
      expect((await service.add(wecom())).syncEnabled).toBe(false);
      expect((await service.add(wecom({ name: 'on', syncEnabled: true }))).syncEnabled).toBe(true);
      expect((await t.store.connections.get('on'))?.syncEnabled).toBe(true);
      const [before] = await rawRows(engine, t);
      expect(await service.update('acme', { syncEnabled: false })).toStrictEqual(await service.view('acme'));
      expect((await rawRows(engine, t))[0]).toStrictEqual(before);
      expect((await service.update('acme', { syncEnabled: true })).syncEnabled).toBe(true);
      expect((await service.views()).map((v) => [v.name, v.syncEnabled])).toEqual([
        ['acme', true],
        ['on', true],
      ]);
    });

    it('a test (preview, draft) names the paths of the shape, and takes only settings and secrets', async () => {
      await service.add(wecom());
      const paths = (err: OrgsyncError) => (err as ValidationError).issues.map((i) => i.path);
      expect(
        paths(await caught(service.preview('acme', { settings: { corpId: 'zz' }, secrets: { secret: 'a b' } }))),
      ).toEqual(['settings.corpId', 'secrets.secret']);
      const policy = await caught(service.preview('acme', { policy: {} } as never));
      expect((policy as ValidationError).issues).toMatchObject([
        { path: 'policy', message: 'is not a part of a test', hint: 'A test takes: settings, secrets.' },
      ]);
      const draft = (input: unknown) => caught(Promise.resolve().then(() => service.draft(input as never)));
      expect(
        paths(await draft({ platform: 'wecom', settings: { corpId: 'ww1a2b3c4d5e6f7a8b' }, secrets: {} })),
      ).toEqual(['settings.agentId', 'secrets.secret']);
      expect(paths(await draft({ platform: 'wecom', name: 'x', settings: {}, secrets: {} }))[0]).toBe('name');
      expect(paths(await draft({ platform: 'feishu', settings: {}, secrets: {} }))).toEqual(['platform']);
    });

    it('an array in a policy patch replaces the old one', async () => {
      await service.add(wecom());
      expect(
        (await service.update('acme', { policy: { matching: { users: ['mobile'] } } })).policy.matching,
      ).toStrictEqual({ users: ['mobile'], departments: ['name'] });
      expect((await service.update('acme', { policy: { matching: { users: [] } } })).policy.matching.users).toEqual([]);
    });

    it('an invalid update writes nothing and names every bad field', async () => {
      await service.add(wecom({ secrets: { contactsSecret: CONTACTS_SECRET } }));
      const [before] = await rawRows(engine, t);
      const err = await caught(
        service.update('acme', {
          settings: { corpId: 'xx12' },
          secrets: { secret: 'Qz8 Wv3Kp7' },
          policy: { onUserGone: 'explode', nope: 1 },
          schedule: { reconcileCron: 'nightly' },
          syncEnabled: 'yes' as never,
        }),
      );
      expect(err).toBeInstanceOf(ValidationError);
      const issues = (err as ValidationError).issues;
      expect(issues.map((i) => i.path).sort()).toEqual([
        'policy.nope',
        'policy.onUserGone',
        'schedule.reconcileCron',
        'secrets.secret',
        'settings.corpId',
        'syncEnabled',
      ]);
      for (const issue of issues) expect(issue.hint, issue.path).toBeTruthy();
      expect(err.message).toContain('connection "acme"');
      expectNoSecret(JSON.stringify(issues) + err.message, ['Qz8 Wv3Kp7']);
      expect((await rawRows(engine, t))[0]).toStrictEqual(before);
    });

    it('nothing to change, or a setting of another platform, is refused', async () => {
      await service.add(wecom());
      const none = await caught(service.update('acme', {}));
      expect(none).toBeInstanceOf(ValidationError);
      expect(none.message).toContain('nothing to change');
      const other = await caught(service.update('acme', { secrets: { clientSecret: 'x1234' } }));
      expect((other as ValidationError).issues).toEqual([
        {
          path: 'secrets.clientSecret',
          field: 'clientSecret',
          message: 'is not a secret of a wecom connection',
          hint: "A wecom connection's secrets are: secret, contactsSecret, callbackToken, callbackAesKey.",
        },
      ]);
      // A key in the other part is named with where it goes; a key beside the parts too.
      const misplaced = await caught(service.update('acme', { settings: { secret: 'x1234' } } as never));
      expect((misplaced as ValidationError).issues[0]).toMatchObject({
        path: 'settings.secret',
        message: 'is not a setting of a wecom connection',
        hint: "A wecom connection's settings are: corpId, agentId, apiBaseUrl. secret is one of its secrets.",
      });
      const flat = await caught(service.update('acme', { corpId: 'wwbeef' } as never));
      expect((flat as ValidationError).issues[0]).toMatchObject({
        path: 'corpId',
        message: 'is not a part of a change',
        hint: 'A change takes: settings, secrets, policy, schedule, syncEnabled. corpId goes under settings.',
      });
    });

    it('two concurrent updates of different keys both land', async () => {
      await service.add(wecom());
      const other = new ConnectionService(await t.reopen(), SecretBox.fromKey(key));
      await Promise.all([
        service.update('acme', { policy: { onUserGone: 'delete' } }),
        other.update('acme', { policy: { onDepartmentGone: 'ignore' } }),
      ]);
      const { policy } = await service.get('acme');
      expect([policy.onUserGone, policy.onDepartmentGone]).toEqual(['delete', 'ignore']);
    });
  });

  describe('remove', () => {
    it('removes the connection and its secrets; the name can be used again', async () => {
      await service.add(wecom());
      await service.add(wecom({ name: 'other' }));
      await service.remove('acme');
      expect((await service.list()).map((c) => c.name)).toEqual(['other']);
      expect((await rawRows(engine, t)).map((r) => r.name)).toEqual(['other']);
      await service.add(wecom({ secrets: { secret: 'second-life' } }));
      expect((await service.get('acme')).secrets).toStrictEqual({ secret: 'second-life' });
    });
  });

  describe('validation', () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['a name with a space', { name: 'my corp' }, 'name', /letters, digits/],
      ['a name starting with "-"', { name: '-x' }, 'name', /starting with a letter or digit/],
      ['a name of 65 characters', { name: 'a'.repeat(65) }, 'name', /1-64/],
      ['a corpId without ww/wx', { settings: { corpId: 'corp123' } }, 'settings.corpId', /"ww" or "wx"/],
      ['a corpId of 3 characters', { settings: { corpId: 'ww1' } }, 'settings.corpId', /4-64/],
      ['agentId 0', { settings: { agentId: 0 } }, 'settings.agentId', /positive whole number/],
      ['agentId 1.5', { settings: { agentId: 1.5 } }, 'settings.agentId', /positive whole number/],
      ['agentId "abc"', { settings: { agentId: 'abc' } }, 'settings.agentId', /positive whole number/],
      ['an empty secret', { secrets: { secret: '' } }, 'secrets.secret', /must not be empty/],
      ['a secret with a space', { secrets: { secret: 'ab cd' } }, 'secrets.secret', /spaces/],
      ['a secret of 129 characters', { secrets: { secret: 'x'.repeat(129) } }, 'secrets.secret', /at most 128/],
      [
        'a contactsSecret with a newline',
        { secrets: { contactsSecret: 'abc\ndef' } },
        'secrets.contactsSecret',
        /line breaks/,
      ],
      [
        'an ftp apiBaseUrl',
        { settings: { apiBaseUrl: 'ftp://example.com' } },
        'settings.apiBaseUrl',
        /uses ftp, not https: give an https:\/\/ URL/,
      ],
      ['a missing secret', { secrets: { secret: undefined } }, 'secrets.secret', /is required/],
      ['a missing corpId', { settings: { corpId: undefined } }, 'settings.corpId', /is required/],
      [
        'a setting of another platform',
        { settings: { clientId: 'x' } },
        'settings.clientId',
        /not a setting of a wecom connection/,
      ],
      ['settings that are not an object', { settings: 'corp' }, 'settings', /must be an object of settings/],
      ['a setting beside the parts', { corpId: 'ww1a2b3c4d5e6f7a8b' }, 'corpId', /is not a part of a new connection/],
      ['a bad policy value', { policy: { guard: { maxRatio: 2 } } }, 'policy.guard.maxRatio', /.+/],
      ['an unknown policy key', { policy: { onUserGon: 'delete' } }, 'policy.onUserGon', /not a known key/],
      [
        'a schedule of 4 fields',
        { schedule: { reconcileCron: '0 2 * *' } },
        'schedule.reconcileCron',
        /has 4 fields: it must be a cron expression .*e\.g\. "0 2 \* \* \*"/,
      ],
      [
        'a schedule of 7 fields',
        { schedule: { reconcileCron: '0 0 2 * * * 2030' } },
        'schedule.reconcileCron',
        /has 7 fields/,
      ],
      [
        'a schedule at hour 25',
        { schedule: { reconcileCron: '0 25 * * *' } },
        'schedule.reconcileCron',
        /"0 25 \* \* \*" is not valid \(.*hour.*\)/,
      ],
      [
        'a schedule of words',
        { schedule: { reconcileCron: 'every day at two' } },
        'schedule.reconcileCron',
        /has 4 fields/,
      ],
      [
        'a schedule that never fires',
        { schedule: { reconcileCron: '0 0 30 2 *' } },
        'schedule.reconcileCron',
        /never fires/,
      ],
      ['an empty schedule', { schedule: { reconcileCron: '  ' } }, 'schedule.reconcileCron', /is empty/],
      ['a schedule that is a number', { schedule: { reconcileCron: 2 } }, 'schedule.reconcileCron', /not number/],
      ['a schedule of another key', { schedule: { cron: '0 2 * * *' } }, 'schedule.cron', /not a part of the schedule/],
      ['a schedule that is text', { schedule: '0 2 * * *' }, 'schedule', /must be an object/],
      ['syncEnabled as text', { syncEnabled: 'yes' }, 'syncEnabled', /true or false/],
    ];
    it.each(cases)(
      '%s is refused as INVALID_INPUT naming the path, with a hint; nothing is written',
      async (_label, over, path, message) => {
        // The parts given as objects are laid over wecom()'s; anything else replaces its part, to be refused.
        const base = wecom();
        const input = {
          ...base,
          ...over,
          ...(typeof over.settings === 'object' ? { settings: { ...base.settings, ...over.settings } } : {}),
          ...(typeof over.secrets === 'object' ? { secrets: { ...base.secrets, ...over.secrets } } : {}),
        } as WecomConnectionInput;
        const err = await caught(service.add(input));
        expect(err).toBeInstanceOf(ValidationError);
        expect(err.code).toBe('INVALID_INPUT');
        const issue = (err as ValidationError).issues.find((i) => i.path === path);
        expect(issue, JSON.stringify((err as ValidationError).issues)).toBeDefined();
        expect(issue?.field).toBe(path.split('.').pop());
        expect(issue?.message).toMatch(message);
        expect(issue?.hint).toBeTruthy();
        expect(err.message).toContain(`${path}, field "${issue?.field}"`);
        expect(await service.list()).toEqual([]);
      },
    );

    it('every problem is reported at once, and no message quotes a secret', async () => {
      const err = await caught(
        service.add({
          platform: 'wecom',
          name: 'ok',
          settings: { corpId: 'bad', agentId: -1 },
          secrets: { secret: 'Jx4Rq8\tMv2Lp6', contactsSecret: '' },
        }),
      );
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual([
        'settings.corpId',
        'settings.agentId',
        'secrets.secret',
        'secrets.contactsSecret',
      ]);
      expect((err as ValidationError).issues.find((i) => i.field === 'corpId')?.hint).toContain('企业ID');
      expect((err as ValidationError).issues.find((i) => i.field === 'secret')?.hint).toContain('应用管理');
      expect((err as ValidationError).issues.find((i) => i.field === 'contactsSecret')?.hint).toContain('通讯录同步');
      expectNoSecret(JSON.stringify((err as ValidationError).issues) + err.message + err.hint, ['Jx4Rq8\tMv2Lp6']);
    });

    it('the scheduled full sync: default daily at 02:00, "off" or null turns it off, spaces are tidied, a bad change keeps the old one', async () => {
      const cron = (view: { schedule: { reconcileCron: string | null } }) => view.schedule.reconcileCron;
      expect(cron(await service.add(wecom()))).toBe('0 2 * * *');
      expect(cron(await service.add(wecom({ name: 'quiet', schedule: { reconcileCron: 'Off' } })))).toBeNull();
      expect(cron(await service.add(wecom({ name: 'often', schedule: { reconcileCron: ' */10   * * * * * ' } })))).toBe(
        '*/10 * * * * *',
      );
      expect(cron(await service.add(wecom({ name: 'nick', schedule: { reconcileCron: '@hourly' } })))).toBe('@hourly');
      expect(cron(await service.add(wecom({ name: 'empty', schedule: {} })))).toBe('0 2 * * *');

      const at = (reconcileCron: string | null) => ({ schedule: { reconcileCron } });
      expect(cron(await service.update('acme', at('30 1 * * 1-5')))).toBe('30 1 * * 1-5');
      expect(cron(await service.view('acme'))).toBe('30 1 * * 1-5');
      expect(cron(await service.get('acme'))).toBe('30 1 * * 1-5');
      const bad = await caught(service.update('acme', at('30 1 * * 8')));
      expect((bad as ValidationError).issues).toMatchObject([
        { path: 'schedule.reconcileCron', field: 'reconcileCron', hint: expect.stringContaining('"off"') },
      ]);
      expect(bad.message).toContain('schedule.reconcileCron, field "reconcileCron": "30 1 * * 8" is not valid');
      expect(cron(await service.view('acme'))).toBe('30 1 * * 1-5');
      expect(cron(await service.update('acme', at(null)))).toBeNull();
      expect(cron(await service.update('quiet', at('0 3 * * *')))).toBe('0 3 * * *');
      // Other changes leave it alone.
      expect(cron(await service.update('quiet', { settings: { agentId: 7 } }))).toBe('0 3 * * *');
      expect((await t.store.connections.get('often'))?.reconcileCron).toBe('*/10 * * * * *');
    });

    it('an unknown platform is refused naming the field', async () => {
      const err = await caught(service.add({ platform: 'feishu', name: 'x' } as unknown as ConnectionInput));
      expect((err as ValidationError).issues[0]).toMatchObject({ field: 'platform' });
    });
  });

  describe('store', () => {
    it('connections written in a transaction that fails are not kept', async () => {
      const boom = new Error('boom');
      await expect(
        t.store.transaction(async (tx) => {
          await tx.connections.create({ name: 'tx', platform: 'wecom', settings: {}, secrets: 'v1:x', policy: {} });
          expect(await tx.connections.get('tx')).toBeDefined();
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await t.store.connections.get('tx')).toBeUndefined();
    });

    it('the repository round-trips rows as given, ids as numbers, and reports what update and remove found', async () => {
      const repo = t.store.connections;
      const a = await repo.create({
        name: 'a',
        platform: 'wecom',
        settings: { corpId: 'ww12', n: 1 },
        secrets: 'v1:opaque',
        policy: { onUserGone: 'ignore' },
      });
      const b = await repo.create({ name: 'b', platform: 'dingtalk', settings: {}, secrets: 'v1:other', policy: {} });
      expect(typeof a.id).toBe('number');
      expect(b.id).toBeGreaterThan(a.id);
      expect(await repo.get('a')).toStrictEqual(a);
      expect(await repo.list()).toStrictEqual([a, b]);
      const updated = await repo.update('a', { secrets: 'v1:new' });
      expect(updated).toMatchObject({ ...a, secrets: 'v1:new', updatedAt: expect.any(String) });
      expect(await repo.update('zz', { secrets: 'v1:new' })).toBeUndefined();
      expect(await repo.remove('a')).toBe(true);
      expect(await repo.remove('a')).toBe(false);
      expect((await (await t.reopen()).connections.list()).map((c) => c.name)).toEqual(['b']);
    });
  });
});
