import { copyFileSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionService } from '../../src/connections/connections.js';
import { FINGERPRINT_SETTING } from '../../src/connections/master-key.js';
import { SecretBox, keyFingerprint } from '../../src/connections/secret-box.js';
import { StaticMigrationProvider } from '../../src/store/migrations.js';
import { openStore, sqlitePath, type StoreConfig } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import {
  AT,
  FAR_FUTURE,
  FIXTURE_EVENTS,
  FIXTURE_KEY,
  FIXTURE_SCHEMA,
  FIXTURE_SECRETS,
  FIXTURE_SETTINGS,
  RELEASED_MIGRATIONS,
} from '../fixtures/schema-fixture-rows.js';
import { ENGINES, PG_URL, tempDir, type Engine } from '../helpers/stores.js';

/**
 * Databases as released versions of orgsync left them (test/fixtures/schema/, made by make-schema-fixtures.ts and
 * committed), opened by today's orgsync: openStore upgrades them to the latest schema, whatever migrations came
 * since, and every row reads back through the store API; the sealed secret still opens with the key it was sealed with.
 */

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/schema');
const LEVELS = readdirSync(FIXTURES)
  .map((f) => /^(\d{4})\.sqlite$/.exec(f)?.[1])
  .filter((n): n is string => n !== undefined)
  .map(Number)
  .sort((a, b) => a - b);

interface Opened {
  config: StoreConfig;
  cleanup(): Promise<void>;
}

async function pgQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A copy of the fixture of `level`: the SQLite file in a new data directory, or the dump loaded into a new schema. */
async function copyOf(engine: Engine, level: number): Promise<Opened> {
  const name = String(level).padStart(4, '0');
  const dataDir = tempDir('orgsync-fixture-');
  if (engine === 'sqlite') {
    copyFileSync(path.join(FIXTURES, `${name}.sqlite`), sqlitePath(dataDir));
    return { config: { dataDir }, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const schema = `t_fx_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const dump = readFileSync(path.join(FIXTURES, `${name}.pg.sql`), 'utf8')
    // psql meta-commands (pg_dump's \restrict guard) are for psql, not for the server.
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n')
    .replaceAll(FIXTURE_SCHEMA, schema);
  await pgQuery(dump);
  return {
    config: { dataDir, databaseUrl: PG_URL, schema },
    cleanup: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      await pgQuery(`drop schema if exists ${schema} cascade`);
    },
  };
}

describe('the schema fixtures', () => {
  it("there is one (SQLite file and PostgreSQL dump) for every released schema, and the released migrations are today's first ones", async () => {
    expect(LEVELS).toStrictEqual(RELEASED_MIGRATIONS.map((_, i) => i + 1));
    for (const level of LEVELS) expect(readdirSync(FIXTURES)).toContain(`${String(level).padStart(4, '0')}.pg.sql`);
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const today = Object.keys(await new StaticMigrationProvider(dialect).getMigrations()).sort();
      expect(today.slice(0, RELEASED_MIGRATIONS.length)).toStrictEqual([...RELEASED_MIGRATIONS]);
    }
  });
});

describe.each(ENGINES)('a database of each released schema, upgraded by openStore (%s)', (engine) => {
  let opened: Opened | undefined;
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await opened?.cleanup();
    opened = undefined;
  });

  it.each(LEVELS)('schema %i: every row reads back, and the sealed secret opens with its key', async (level) => {
    opened = await copyOf(engine, level);
    const store = await openStore(opened.config);
    stores.push(store);

    // The directory: departments, users, memberships, links (with their data from 0003 on).
    const state = await store.directory.load();
    expect(
      state.departments
        .map((d) => [d.id, d.parentId, d.name, d.order, d.links.map((l) => `${l.source}:${l.externalId}`)])
        .sort(),
    ).toStrictEqual([
      [1, null, 'Organization', 0, []],
      [2, 1, 'Engineering', 10, ['acme:2']],
      [3, 2, '研发一部', 20, ['acme:3']],
    ]);
    const zhang = state.users.find((u) => u.id === 1);
    expect(zhang).toMatchObject({
      userid: 'zhangsan',
      name: '张三',
      mobile: '+86 13800000001',
      email: 'zhangsan@example.com',
      position: '工程师',
      status: 'active',
      mainDepartmentId: 3,
      attributes: { 工号: 'A001' },
    });
    expect([...(zhang?.memberships ?? [])].sort((a, b) => a.departmentId - b.departmentId)).toStrictEqual([
      { departmentId: 2, order: 0, leader: false },
      { departmentId: 3, order: 1, leader: true },
    ]);
    expect(zhang?.links).toStrictEqual([
      { source: 'acme', externalId: 'zhangsan', ...(level >= 3 ? { data: { unionid: 'union-zhangsan' } } : {}) },
    ]);
    const li = state.users.find((u) => u.id === 2);
    expect(li).toMatchObject({
      userid: 'LiSi',
      name: 'Li Si',
      status: 'disabled',
      mainDepartmentId: 2,
      memberships: [{ departmentId: 2, order: 0, leader: false }],
    });
    expect(li?.links).toStrictEqual([{ source: 'acme', externalId: 'LiSi' }]);
    expect(state.users).toHaveLength(2);
    expect(await store.directory.revision()).toBe(5);
    // Counters go on from where they were.
    expect(await store.directory.allocateIds('user', 1)).toBe(3);
    expect(await store.directory.allocateIds('department', 1)).toBe(4);

    // Runs, their steps and changes.
    const run = await store.runs.get(1);
    expect(run).toMatchObject({
      id: 1,
      kind: 'sync',
      source: 'acme',
      status: 'succeeded',
      dryRun: false,
      baseRevision: 4,
      createdAt: AT,
      notes: [{ code: 'FIXTURE_NOTE', message: 'a note kept with the run' }],
    });
    expect(run?.counts.users.disable).toBe(1);
    expect((await store.runs.steps(1)).map((s) => [s.name, s.status])).toStrictEqual([['read', 'ok']]);
    expect(
      (await store.runs.changes(1)).map((c) => [c.seq, c.objectKind, c.action, c.externalId, c.label, c.fields]),
    ).toStrictEqual([
      [1, 'department', 'create', '3', '研发一部', { name: { before: null, after: '研发一部' } }],
      [2, 'user', 'create', 'zhangsan', '张三', { name: { before: null, after: '张三' } }],
    ]);
    expect((await store.runs.create({ kind: 'sync', source: 'acme', dryRun: true, status: 'running' })).id).toBe(2);

    // The lock is still held by its holder.
    expect(await store.locks.tryAcquire('fixture-lock', 'someone-else', 60_000)).toBe(false);
    expect(await store.locks.tryAcquire('fixture-lock', 'fixture-holder', 60_000)).toBe(true);

    if (level < 2) {
      expect(await store.connections.list()).toStrictEqual([]);
      return;
    }
    // The connection, with what later migrations gave it.
    expect(await store.connections.get('acme')).toMatchObject({
      id: 1,
      platform: 'wecom',
      settings: FIXTURE_SETTINGS,
      syncEnabled: level >= 4,
      reconcileCron: level >= 6 ? '30 3 * * *' : '0 2 * * *',
      createdAt: AT,
    });
    // No fingerprint was recorded then: another key is refused, the key that sealed the secret is adopted.
    expect(await store.settings.get(FINGERPRINT_SETTING)).toBeUndefined();
    await expect(
      new ConnectionService(store, SecretBox.fromKey(Buffer.alloc(32, 7))).get('acme'),
    ).rejects.toMatchObject({ code: 'MASTER_KEY_MISMATCH' });
    expect(await store.settings.get(FINGERPRINT_SETTING)).toBeUndefined();
    const connection = await new ConnectionService(store, SecretBox.fromKey(FIXTURE_KEY)).get('acme');
    expect(connection.secrets).toStrictEqual(FIXTURE_SECRETS);
    expect(await store.settings.get(FINGERPRINT_SETTING)).toBe(keyFingerprint(FIXTURE_KEY));

    if (level < 4) return;
    expect(await store.access.getAdmin('admin')).toMatchObject({
      username: 'admin',
      passwordHash: 'scrypt$fixture-hash',
    });
    expect(await store.access.getSession('fixture-session-hash', Date.now())).toStrictEqual({
      username: 'admin',
      csrfToken: 'fixture-csrf',
      createdAt: AT,
      expiresAt: FAR_FUTURE,
    });
    expect(await store.access.findApiToken('fixture-token-hash')).toMatchObject({ name: 'ci', prefix: 'osk_fixt' });

    if (level < 5) return;
    const [message, ...more] = await store.inbox.pending('acme', 10);
    expect(more).toStrictEqual([]);
    expect(message).toMatchObject({
      id: 1,
      connection: 'acme',
      dedupeKey: 'fixture-1',
      type: 'change_contact',
      events: FIXTURE_EVENTS,
      receivedAt: AT,
      attempts: 2,
      lastError: 'fixture error',
    });
    // New messages get new ids after the old one.
    expect(
      await store.inbox.add({ connection: 'acme', dedupeKey: 'fixture-2', type: 'change_contact', events: [] }),
    ).toBe(true);
    expect((await store.inbox.pending('acme', 10)).map((m) => m.id)).toStrictEqual([1, 2]);
  });
});
