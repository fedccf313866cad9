import { afterEach, describe, expect, it } from 'vitest';
import { JsonSnapshotSource } from '../../src/connectors/json-snapshot/source.js';
import type { DirectoryExport, ExportedUser } from '../../src/directory/export.js';
import { ValidationError } from '../../src/errors.js';
import { resolvePolicy } from '../../src/reconcile/policy.js';
import { enrichConnection } from '../../src/runs/enrich.js';
import { sourceHarnesses } from '../helpers/source-harness.js';
import { SOURCE_SIMULATORS, wecomSimulator, type SourceSimulator } from '../helpers/source-simulators.js';
import { IMPORT_FORMATS, expectedWarnings, type FileOrg } from '../helpers/import-files.js';
import { tempDir } from '../helpers/stores.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * `orgsync import FILE --enrich CONNECTION` as a run: a platform's simulator synced into a store, then a JSON
 * snapshot filling what its API withholds, then synced again.
 */

const harnesses = sourceHarnesses();
afterEach(() => harnesses.closeAll());

const noUsers = { create: 0, update: 0, disable: 0, enable: 0, delete: 0 };
const noDepartments = { create: 0, update: 0, move: 0, delete: 0 };

/** The users linked to `source`, by account. */
function linked(doc: DirectoryExport, source: string): Map<string, ExportedUser> {
  const out = new Map<string, ExportedUser>();
  for (const u of doc.users) {
    const link = u.links.find((l) => l.source === source);
    if (link) out.set(link.externalId, u);
  }
  return out;
}

/** A JSON snapshot of rows: no departments, each row an account with the fields to fill. */
function enrichmentFile(rows: Array<Record<string, unknown>>): string {
  const file = path.join(tempDir('orgsync-enrich-'), 'enrich.json');
  writeFileSync(file, JSON.stringify({ departments: [], users: rows }));
  return file;
}

/** What the file says of the n-th account: values no platform's simulator makes up. */
const fileValues = (i: number) => ({
  mobile: `+86 199${String(10_000_000 + i)}`,
  email: `file${i}@enriched.example.com`,
  gender: i % 2 === 0 ? 'female' : 'male',
  address: `文件路${i}号`,
  telephone: `010-${String(6000_0000 + i)}`,
  attributes: { 工位: `F-${i}` },
});

/** What enrichment must leave alone: everything the API owns. */
const apiOwned = (u: ExportedUser) => ({
  userid: u.userid,
  name: u.name,
  status: u.status,
  position: u.position,
  alias: u.alias,
  departments: u.departments,
  mainDepartment: u.mainDepartment,
  links: u.links,
});

async function enrichedOrg(simulator: SourceSimulator, sensitiveFields: 'withheld' | 'returned') {
  const h = await harnesses.open(simulator, 1717, { departments: 12, users: 120 }, { sensitiveFields });
  const first = await h.sync();
  expect(first.status).toBe('succeeded');
  const synced = await h.exported();
  const accounts = [...linked(synced, simulator.platform).keys()].sort();
  expect(accounts.length).toBeGreaterThan(100);
  const rows = [
    ...accounts.map((account, i) => ({
      externalId: account,
      // The API's own fields, said otherwise: enrichment must not take them.
      name: `文件里的名字${i}`,
      status: 'disabled',
      position: '文件职位',
      ...fileValues(i),
    })),
    { externalId: 'ghost-1', ...fileValues(9001) },
    { externalId: 'ghost-2', ...fileValues(9002) },
  ];
  const connection = { name: simulator.platform, platform: simulator.platform, policy: resolvePolicy({}) };
  const report = await enrichConnection(h.store, connection, new JsonSnapshotSource(enrichmentFile(rows)));
  return { h, synced, accounts, report };
}

for (const simulator of SOURCE_SIMULATORS) {
  describe(`enrichment of a ${simulator.platform} connection`, () => {
    it('a new app: every linked user gets the file’s mobile and email, nothing else changes, and a sync keeps them', async () => {
      const { h, synced, accounts, report } = await enrichedOrg(simulator, 'withheld');
      for (const u of linked(synced, simulator.platform).values()) expect([u.mobile, u.email]).toEqual([null, null]);

      expect(report).toMatchObject({ kind: 'enrich', source: simulator.platform, status: 'succeeded', errors: [] });
      expect(report.template).toBeUndefined();
      expect(report.enrichment).toEqual({
        matched: accounts.length,
        enriched: accounts.length,
        unmatched: 2,
        unmatchedAccounts: ['ghost-1', 'ghost-2'],
      });
      expect(report.changes).toEqual({ departments: noDepartments, users: { ...noUsers, update: accounts.length } });
      // Audited as every run is: one change per user, with before and after.
      expect(await h.store.runs.countChanges(report.runId)).toBe(accounts.length);
      const [change] = await h.store.runs.changes(report.runId, { limit: 1 });
      expect(change).toMatchObject({
        objectKind: 'user',
        action: 'update',
        fields: { mobile: { before: null, after: expect.stringMatching(/^\+86 199/) } },
      });

      const check = (doc: DirectoryExport) => {
        const users = linked(doc, simulator.platform);
        expect(users.size).toBe(accounts.length);
        const before = linked(synced, simulator.platform);
        accounts.forEach((account, i) => {
          const u = users.get(account) as ExportedUser;
          expect([u.mobile, u.email, u.attributes.工位]).toEqual([
            fileValues(i).mobile,
            fileValues(i).email,
            fileValues(i).attributes.工位,
          ]);
          expect(apiOwned(u)).toEqual(apiOwned(before.get(account) as ExportedUser));
        });
        expect(doc.users.some((u) => u.userid === 'ghost-1' || u.userid === 'ghost-2')).toBe(false);
      };
      check(await h.exported());

      const again = await h.sync();
      expect(again.status).toBe('succeeded');
      expect(again.read?.unseenFields).toEqual(expect.arrayContaining(['mobile', 'email']));
      check(await h.exported());
    });

    it('a legacy app that sees mobiles: the file sets them, and the next sync puts the API’s back', async () => {
      const { h, synced, accounts, report } = await enrichedOrg(simulator, 'returned');
      expect(report.enrichment).toMatchObject({ matched: accounts.length, enriched: accounts.length, unmatched: 2 });
      const enriched = linked(await h.exported(), simulator.platform);
      expect(enriched.get(accounts[0] as string)?.mobile).toBe(fileValues(0).mobile);
      await h.sync();
      const after = linked(await h.exported(), simulator.platform);
      for (const [account, u] of linked(synced, simulator.platform)) {
        expect(u.mobile).not.toBeNull();
        expect(after.get(account)?.mobile).toBe(u.mobile);
      }
    });
  });
}

describe('enrichment of a WeCom connection: whose value wins, field by field', () => {
  it('a new app withholds mobile, email, gender and address (the file’s stay) but sends telephone and its attributes (the API’s win)', async () => {
    const { h, synced, accounts } = await enrichedOrg(wecomSimulator, 'withheld');
    const second = await h.sync();
    expect(second.read?.unseenFields).toEqual(['mobile', 'email', 'avatar', 'gender', 'address']);
    const before = linked(synced, 'wecom');
    const after = linked(await h.exported(), 'wecom');
    accounts.forEach((account, i) => {
      const u = after.get(account) as ExportedUser;
      const was = before.get(account) as ExportedUser;
      const file = fileValues(i);
      expect({ account, gender: u.gender, address: u.address }).toEqual({
        account,
        gender: file.gender,
        address: file.address,
      });
      expect({ account, telephone: u.telephone, 工号: u.attributes.工号 }).toEqual({
        account,
        telephone: was.telephone,
        工号: was.attributes.工号,
      });
    });
  });
});

for (const format of IMPORT_FORMATS)
  describe(`enrichment of a new WeCom app from a ${format.name}`, () => {
    it('after sync + enrich every user has the file’s mobile and email; a second sync keeps them', async () => {
      const h = await harnesses.open(
        wecomSimulator,
        1818,
        { departments: 6, users: 30 },
        { sensitiveFields: 'withheld' },
      );
      expect((await h.sync()).status).toBe('succeeded');
      const accounts = [...linked(await h.exported(), 'wecom').keys()].sort();
      expect(accounts.length).toBeGreaterThan(20);
      const org: FileOrg = {
        departments: [],
        people: [...accounts, 'ghost-1'].map((account, i) => {
          const v = fileValues(i);
          return {
            account,
            name: `文件里的名字${i}`,
            mobile: v.mobile,
            email: v.email,
            gender: v.gender as 'male' | 'female',
            address: v.address,
            departments: [],
          };
        }),
      };
      const connection = { name: 'wecom', platform: 'wecom', policy: resolvePolicy({}) };
      const file = format.write(org, tempDir('orgsync-enrich-'), 'enrich');
      const report = await enrichConnection(h.store, connection, format.connector(file));
      expect(report).toMatchObject({ status: 'succeeded', errors: [] });
      expect(report.enrichment).toEqual({
        matched: accounts.length,
        enriched: accounts.length,
        unmatched: 1,
        unmatchedAccounts: ['ghost-1'],
      });
      expect(report.warnings).toEqual(expectedWarnings(format, org.people.length));
      const check = async () => {
        const users = linked(await h.exported(), 'wecom');
        expect(users.size).toBe(accounts.length);
        accounts.forEach((account, i) => {
          const u = users.get(account) as ExportedUser;
          expect({ account, mobile: u.mobile, email: u.email }).toEqual({
            account,
            mobile: fileValues(i).mobile,
            email: fileValues(i).email,
          });
        });
      };
      await check();
      const again = await h.sync();
      expect(again.status).toBe('succeeded');
      expect(again.read?.unseenFields).toEqual(expect.arrayContaining(['mobile', 'email']));
      await check();
    });
  });

describe('enrichment refusals', () => {
  it('refuses a platform this orgsync does not know, and changes nothing', async () => {
    const h = await harnesses.open(wecomSimulator, 5, { departments: 3, users: 10 });
    await h.sync();
    const revision = await h.store.directory.revision();
    const attempt = enrichConnection(
      h.store,
      { name: 'elsewhere', platform: 'feishu', policy: resolvePolicy({}) },
      new JsonSnapshotSource(enrichmentFile([])),
    );
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toThrow(/"feishu" is not a platform this orgsync knows/);
    expect(await h.store.directory.revision()).toBe(revision);
    expect(await h.store.runs.list({ kind: 'enrich' })).toEqual([]);
  });

  it('a connection nobody was synced into matches no row: nothing is created', async () => {
    const h = await harnesses.open(wecomSimulator, 6, { departments: 3, users: 10 });
    const rows = Array.from({ length: 12 }, (_, i) => ({ externalId: `u${i}`, ...fileValues(i) }));
    const r = await enrichConnection(
      h.store,
      { name: 'wecom', platform: 'wecom', policy: resolvePolicy({}) },
      new JsonSnapshotSource(enrichmentFile(rows)),
    );
    expect(r).toMatchObject({ status: 'succeeded', changes: { departments: noDepartments, users: noUsers } });
    expect(r.enrichment).toEqual({
      matched: 0,
      enriched: 0,
      unmatched: 12,
      unmatchedAccounts: rows.slice(0, 10).map((row) => row.externalId),
    });
    expect((await h.exported()).users).toEqual([]);
  });
});
