import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportDirectory } from '../../src/directory/export.js';
import type { Snapshot } from '../../src/directory/snapshot.js';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { resolvePolicy, type PolicyInput } from '../../src/reconcile/policy.js';
import { approveRun, executeRun, report, toReport, type RunReport } from '../../src/runs/run-service.js';
import type { RunWarning, Template } from '../../src/runs/types.js';
import type { Store } from '../../src/store/store.js';
import {
  IMPORT_FORMATS,
  expectedWarnings,
  fileOrg,
  peopleOf,
  type FileOrg,
  type ImportFormat,
} from '../helpers/import-files.js';
import { ENGINES, openTestStore, type TestStore } from '../helpers/stores.js';

/**
 * Import templates as runs (read → plan → guard → apply, recorded), for every file format of IMPORT_FORMATS, on both
 * engines. The counts are issue 17's acceptance: from an imported org of 100, remove 10 people, change 5 mobiles and
 * add 3 people.
 */

const SOURCE = 'export';
const none = { create: 0, update: 0, move: 0, delete: 0 };
const noUsers = { create: 0, update: 0, disable: 0, enable: 0, delete: 0 };

/** The org of 100 with 10 people removed, 5 mobiles changed and 3 people added. */
function edited(org: FileOrg): FileOrg {
  const people = org.people.filter((_, i) => i % 10 !== 3).map((u) => ({ ...u }));
  for (const u of people.slice(0, 5)) u.mobile = u.mobile?.replace('+86 138', '+86 139');
  for (let i = 0; i < 3; i++)
    people.push({
      account: `new${i}`,
      name: `新人${i}`,
      mobile: `+86 137${10_000_000 + i}`,
      departments: ['公司/销售'],
    });
  return { departments: org.departments, people };
}

/** A format's connector that also reports a warning after its pull, as the export reader does for repaired text. */
class WarningSource implements SourceConnector {
  constructor(
    private readonly inner: SourceConnector,
    private readonly found: RunWarning[],
  ) {}
  get kind() {
    return this.inner.kind;
  }
  get limits() {
    return this.inner.limits;
  }
  pull(ctx: Parameters<SourceConnector['pull']>[0]): Promise<Snapshot> {
    return this.inner.pull(ctx);
  }
  warnings = (): RunWarning[] => this.found;
}

for (const format of IMPORT_FORMATS)
  for (const engine of ENGINES) {
    describe(`import templates, ${format.name}, ${engine}`, () => {
      let t: TestStore;
      let store: Store;
      let files = 0;
      beforeEach(async () => {
        t = await openTestStore(engine);
        store = t.store;
      });
      afterEach(async () => {
        await t.cleanup();
      });

      const importFile = (
        org: FileOrg,
        template?: Template,
        extra: {
          policy?: PolicyInput;
          dryRun?: boolean;
          connector?: (f: ImportFormat, file: string) => SourceConnector;
        } = {},
      ): Promise<RunReport> => {
        const file = format.write(org, t.dataDir, `org-${++files}`);
        return executeRun(store, {
          kind: 'import',
          source: SOURCE,
          connector: extra.connector ? extra.connector(format, file) : format.connector(file),
          policy: resolvePolicy(extra.policy ?? {}),
          ...(template ? { template } : {}),
          ...(extra.dryRun ? { dryRun: true } : {}),
        });
      };
      const people = async () => peopleOf(exportDirectory(await store.directory.load()), SOURCE);
      const imported = async (): Promise<FileOrg> => {
        const org = fileOrg(100);
        const first = await importFile(org);
        expect(first).toMatchObject({ status: 'succeeded', template: 'full', changes: { users: { create: 100 } } });
        return org;
      };

      it('an unchanged re-import writes nothing, and no template plans a change', async () => {
        const org = await imported();
        const revision = await store.directory.revision();
        for (const template of [undefined, 'full', 'create-update', 'delete-only'] as const) {
          const r = await importFile(org, template);
          expect({ template, status: r.status, changes: r.changes, notes: r.notes }).toEqual({
            template,
            status: 'succeeded',
            changes: { departments: none, users: noUsers },
            notes: [],
          });
          expect(r.template).toBe(template ?? 'full');
          expect(r.warnings).toEqual(expectedWarnings(format, org.people.length));
          expect(await store.runs.countChanges(r.runId)).toBe(0);
        }
        expect(await store.directory.revision()).toBe(revision);
      });

      it('create-update: 3 created, 5 updated, 0 removed; then delete-only: 10 disabled, 0 created, 0 updated', async () => {
        const org = await imported();
        const next = edited(org);
        const cu = await importFile(next, 'create-update');
        expect(cu).toMatchObject({ status: 'succeeded', template: 'create-update' });
        expect(cu.changes).toEqual({ departments: none, users: { ...noUsers, create: 3, update: 5 } });
        expect(cu.notes.map((n) => n.code)).toEqual(['TEMPLATE_KEPT_MISSING']);
        expect(cu.warnings).toEqual(expectedWarnings(format, next.people.length));
        expect((await report(store, cu.runId)).warnings).toEqual(expectedWarnings(format, next.people.length));
        expect((await people()).filter((u) => u.status === 'disabled')).toEqual([]);

        const d = await importFile(next, 'delete-only');
        expect(d).toMatchObject({ status: 'succeeded', template: 'delete-only' });
        expect(d.changes).toEqual({ departments: none, users: { ...noUsers, disable: 10 } });
        expect(d.notes).toEqual([]);
        // Both together made the directory what the file says: a full import has nothing left to do.
        const full = await importFile(next);
        expect(full.changes).toEqual({ departments: none, users: noUsers });
        const expected = new Map(next.people.map((u) => [u.account, u]));
        for (const u of await people()) {
          const want = expected.get(u.account);
          expect(u.status).toBe(want ? 'active' : 'disabled');
          if (want)
            expect([u.name, u.mobile, u.departments]).toEqual([want.name, want.mobile, [...want.departments].sort()]);
        }
      });

      it('delete-only first gives the same counts, and removes people by the policy (delete when asked)', async () => {
        const org = await imported();
        const next = edited(org);
        const d = await importFile(next, 'delete-only', { policy: { onUserGone: 'delete' } });
        expect(d.changes).toEqual({ departments: none, users: { ...noUsers, delete: 10 } });
        expect(d.notes.map((n) => n.code)).toEqual(['TEMPLATE_SKIPPED_NEW']);
        expect(await people()).toHaveLength(90);
        const cu = await importFile(next, 'create-update');
        expect(cu.changes).toEqual({ departments: none, users: { ...noUsers, create: 3, update: 5 } });
      });

      it('a file missing 60% of the people blocks delete-only at the guard; approval applies exactly that plan', async () => {
        const org = await imported();
        const before = await people();
        const revision = await store.directory.revision();
        const truncated = { departments: org.departments, people: org.people.slice(0, 40).map((u) => ({ ...u })) };
        // Changes delete-only must not take, even once approved.
        truncated.people[0] = { ...(truncated.people[0] as FileOrg['people'][number]), mobile: '+86 13999999999' };
        truncated.people.push({ account: 'late', name: '后来者', departments: ['公司'] });

        const r = await importFile(truncated, 'delete-only');
        expect(r).toMatchObject({ status: 'blocked', template: 'delete-only', blocked: { count: 60, base: 100 } });
        expect(r.changes).toEqual({ departments: none, users: { ...noUsers, disable: 60 } });
        expect(await store.directory.revision()).toBe(revision);
        expect(await people()).toEqual(before);

        const approved = await approveRun(store, r.runId);
        expect(approved).toMatchObject({ status: 'succeeded', template: 'delete-only' });
        expect(approved.changes).toEqual({ departments: none, users: { ...noUsers, disable: 60 } });
        const after = await people();
        expect(after.filter((u) => u.status === 'disabled').map((u) => u.account)).toEqual(
          org.people.slice(40).map((u) => u.account),
        );
        expect(after.map(({ status: _s, ...u }) => u)).toEqual(before.map(({ status: _s, ...u }) => u));
      });

      it('a dry run of create-update plans and writes nothing; approving it applies the plan', async () => {
        const org = await imported();
        const revision = await store.directory.revision();
        const r = await importFile(edited(org), 'create-update', { dryRun: true });
        expect(r).toMatchObject({ status: 'planned', template: 'create-update' });
        expect(r.changes.users).toEqual({ ...noUsers, create: 3, update: 5 });
        expect(await store.directory.revision()).toBe(revision);
        expect((await approveRun(store, r.runId)).changes.users).toEqual({ ...noUsers, create: 3, update: 5 });
      });

      it("keeps the source's warnings with the run and shows them in its report, in Chinese when asked", async () => {
        const warning: RunWarning = {
          code: 'MOJIBAKE_REPAIRED',
          message: 'text in 4 rows had been read in the wrong encoding and was repaired',
          hint: 'Save the file as UTF-8 next time.',
          rows: 4,
          example: { before: 'ä¼ä¸å¾®ä¿¡', after: '企业微信' },
          zh: { message: '有 4 行文字曾被按错误的编码读取，已修复', hint: '下次请把文件存为 UTF-8。' },
        };
        const r = await importFile(fileOrg(5), 'create-update', {
          connector: (f, file) => new WarningSource(f.connector(file), [warning]),
        });
        const { zh: _zh, ...english } = warning;
        expect(r.warnings).toEqual([english]);
        expect(JSON.parse(JSON.stringify(r.warnings[0]))).toEqual({
          code: 'MOJIBAKE_REPAIRED',
          message: warning.message,
          hint: warning.hint,
          rows: 4,
          example: { before: 'ä¼ä¸å¾®ä¿¡', after: '企业微信' },
        });
        expect((await report(store, r.runId)).warnings).toEqual([english]);
        const run = await store.runs.get(r.runId);
        expect(toReport(run as NonNullable<typeof run>, [], 'zh-CN').warnings).toEqual([
          {
            code: 'MOJIBAKE_REPAIRED',
            message: warning.zh?.message,
            hint: warning.zh?.hint,
            rows: 4,
            example: warning.example,
          },
        ]);
        const steps = await store.runs.steps(r.runId);
        expect(steps.find((s) => s.name === 'read')?.detail).toMatchObject({ warnings: 1 });
        // Without the wrapper a run has the file's own warnings: none unless its text was repaired.
        expect((await importFile(fileOrg(5))).warnings).toEqual(expectedWarnings(format, 5));
      });
    });
  }
