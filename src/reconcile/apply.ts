import { errorInfo, type ErrorInfo } from '../errors.js';
import { USER_PROFILE_FIELDS } from '../directory/model.js';
import type { RunChangeRecord } from '../runs/types.js';
import type { LinkRow, MembershipRow, Store, StoreRepos, UserPatch, UserRow } from '../store/store.js';
import { PlanStaleError } from './errors.js';
import {
  emptyCounts,
  type ChangeCounts,
  type DepartmentChange,
  type FieldDiff,
  type Plan,
  type Ref,
  type UserChange,
} from './types.js';

export interface ApplyOptions {
  runId: number;
  /** User changes per transaction. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Called after each committed transaction; a test can stop the apply there to play a crash. */
  afterCommit?: (committed: number) => Promise<void> | void;
}

export interface ApplyResult {
  applied: ChangeCounts;
  /** Changes that could not be written, each with its object; everything else was written. */
  errors: ErrorInfo[];
  revision: number;
}

/**
 * apply(plan, store): writes the plan in batched transactions, recording every change on the run in the same
 * transaction as the write. Each transaction leaves the directory consistent (a user is never written without its
 * link, a department never before its parent), so after a crash a new plan picks up exactly what is left.
 */
export async function applyPlan(plan: Plan, store: Store, options: ApplyOptions): Promise<ApplyResult> {
  const batchSize = options.batchSize ?? 5000;
  const ctx: ApplyContext = {
    source: plan.source,
    runId: options.runId,
    departmentIds: new Map(),
    seq: await nextSeq(store, options.runId),
    revision: plan.baseRevision,
  };
  const applied = emptyCounts();
  const errors: ErrorInfo[] = [];
  const structural = plan.departments.filter((c) => c.action !== 'delete');
  const deletes = plan.departments.filter((c) => c.action === 'delete');
  const total = plan.departments.length + plan.users.length;
  let done = 0;
  let committed = 0;
  const commit = async (): Promise<void> => {
    committed++;
    options.onProgress?.(done, total);
    await options.afterCommit?.(committed);
  };

  // 1. The department tree (creates, renames, moves) in one transaction: a half-moved tree could hold a cycle.
  if (structural.length > 0) {
    ctx.revision = await store.transaction(async (tx) => {
      await checkRevision(tx, ctx);
      await writeDepartments(tx, structural, ctx);
      return tx.directory.bumpRevision();
    });
    for (const c of structural) applied.departments[c.action]++;
    done += structural.length;
    await commit();
  }

  // 2. Users in batches; a batch that fails is retried one change at a time so only the bad change is lost.
  for (let i = 0; i < plan.users.length; i += batchSize) {
    const batch = plan.users.slice(i, i + batchSize);
    const writeBatch = async (changes: readonly UserChange[]): Promise<void> => {
      const seqBefore = ctx.seq;
      try {
        ctx.revision = await store.transaction(async (tx) => {
          await checkRevision(tx, ctx);
          await writeUsers(tx, changes, ctx);
          return tx.directory.bumpRevision();
        });
      } catch (err) {
        ctx.seq = seqBefore; // the records were rolled back with the writes
        throw err;
      }
    };
    try {
      await writeBatch(batch);
      for (const c of batch) applied.users[c.action]++;
    } catch (err) {
      if (err instanceof PlanStaleError) throw err;
      for (const change of batch) {
        try {
          await writeBatch([change]);
          applied.users[change.action]++;
        } catch (itemErr) {
          if (itemErr instanceof PlanStaleError) throw itemErr;
          errors.push({
            code: 'APPLY_FAILED',
            message: `could not ${change.action} user "${change.label}": ${errorInfo(itemErr).message}`,
            hint: 'Fix the conflicting local data (see the message), then run again; the rest of the plan was written.',
            object: `user "${change.externalId}"`,
            zh: {
              message: `无法${{ create: '新增', update: '更新', disable: '停用', enable: '启用', delete: '删除' }[change.action as string] ?? change.action}成员「${change.label}」：${errorInfo(itemErr).message}`,
              hint: '修正冲突的本地数据（见信息），然后再运行；计划的其余部分已写入。',
            },
          });
        }
      }
    }
    done += batch.length;
    await commit();
  }

  // 3. Departments that are gone, children first, once their members have been moved out.
  if (deletes.length > 0) {
    ctx.revision = await store.transaction(async (tx) => {
      await checkRevision(tx, ctx);
      const ids = deletes.map((c) => c.ref as number);
      await tx.directory.deleteLinks('department', ids);
      await tx.directory.deleteDepartments(ids);
      await record(
        tx,
        ctx,
        deletes.map((c) => changeRecord(ctx, 'department', c, c.ref as number)),
      );
      return tx.directory.bumpRevision();
    });
    applied.departments.delete += deletes.length;
    done += deletes.length;
    await commit();
  }

  return { applied, errors, revision: ctx.revision };
}

interface ApplyContext {
  source: string;
  runId: number;
  /** New-department keys → allocated ids. */
  departmentIds: Map<string, number>;
  seq: number;
  /** The revision the directory must be at before the next transaction. */
  revision: number;
}

async function nextSeq(store: Store, runId: number): Promise<number> {
  return (await store.runs.countChanges(runId)) + 1;
}

async function checkRevision(tx: StoreRepos, ctx: ApplyContext): Promise<void> {
  const current = await tx.directory.revision();
  if (current !== ctx.revision) throw new PlanStaleError(ctx.revision, current);
}

function resolveDepartment(ctx: ApplyContext, ref: Ref): number {
  if (typeof ref === 'number') return ref;
  const id = ctx.departmentIds.get(ref);
  if (id === undefined) throw new Error(`internal: department ${ref} was not created before it was referenced`);
  return id;
}

async function writeDepartments(
  tx: StoreRepos,
  changes: readonly DepartmentChange[],
  ctx: ApplyContext,
): Promise<void> {
  const creates = changes.filter((c) => c.action === 'create');
  if (creates.length > 0) {
    const first = await tx.directory.allocateIds('department', creates.length);
    creates.forEach((c, i) => {
      ctx.departmentIds.set(c.ref as string, first + i);
    });
    // Parents come first in the plan, so each chunk only references rows already written.
    await tx.directory.insertDepartments(
      creates.map((c) => ({
        id: resolveDepartment(ctx, c.ref),
        parentId: resolveDepartment(ctx, c.set.parent as Ref),
        name: c.set.name as string,
        order: c.set.order ?? 0,
      })),
    );
  }
  for (const c of changes) {
    if (c.action === 'create') continue;
    await tx.directory.updateDepartment(c.ref as number, {
      ...(c.set.name !== undefined ? { name: c.set.name } : {}),
      ...(c.set.order !== undefined ? { order: c.set.order } : {}),
      ...(c.set.parent !== undefined ? { parentId: resolveDepartment(ctx, c.set.parent) } : {}),
    });
  }
  const links: LinkRow[] = changes
    .filter((c) => c.addLink)
    .map((c) => ({
      kind: 'department',
      objectId: resolveDepartment(ctx, c.ref),
      source: ctx.source,
      externalId: c.externalId,
    }));
  await tx.directory.insertLinks(links);
  await record(
    tx,
    ctx,
    changes.map((c) => changeRecord(ctx, 'department', c, resolveDepartment(ctx, c.ref))),
  );
}

async function writeUsers(tx: StoreRepos, changes: readonly UserChange[], ctx: ApplyContext): Promise<void> {
  const creates = changes.filter((c) => c.action === 'create');
  const userIds = new Map<string, number>();
  if (creates.length > 0) {
    const first = await tx.directory.allocateIds('user', creates.length);
    creates.forEach((c, i) => {
      userIds.set(c.ref as string, first + i);
    });
  }
  const idOf = (c: UserChange): number => (typeof c.ref === 'number' ? c.ref : (userIds.get(c.ref) as number));

  // Field by field rather than a loop over the names: one shape for 100,000 rows (the type lists every field).
  const rows: UserRow[] = creates.map((c) => {
    const s = c.set;
    return {
      id: idOf(c),
      userid: s.userid ?? null,
      name: s.name ?? null,
      alias: s.alias ?? null,
      position: s.position ?? null,
      mobile: s.mobile ?? null,
      email: s.email ?? null,
      telephone: s.telephone ?? null,
      gender: s.gender ?? null,
      avatar: s.avatar ?? null,
      address: s.address ?? null,
      employeeNo: s.employeeNo ?? null,
      status: s.status ?? 'active',
      mainDepartmentId: s.mainDepartment == null ? null : resolveDepartment(ctx, s.mainDepartment),
      attributes: s.attributes ?? {},
    };
  });
  await tx.directory.insertUsers(rows);

  const links: LinkRow[] = [];
  const linkData: Array<{ objectId: number; data: Record<string, string> }> = [];
  const upserts: MembershipRow[] = [];
  const removals: Array<{ userId: number; departmentId: number }> = [];
  const deletes: number[] = [];
  for (const c of changes) {
    const id = idOf(c);
    if (c.addLink)
      links.push({
        kind: 'user',
        objectId: id,
        source: ctx.source,
        externalId: c.externalId,
        ...(c.linkData ? { data: c.linkData } : {}),
      });
    else if (c.linkData) linkData.push({ objectId: id, data: c.linkData });
    for (const m of c.memberships?.upsert ?? []) {
      upserts.push({
        userId: id,
        departmentId: resolveDepartment(ctx, m.department),
        order: m.order,
        leader: m.leader,
      });
    }
    for (const d of c.memberships?.remove ?? []) removals.push({ userId: id, departmentId: d });
    if (c.action === 'delete') {
      deletes.push(id);
    } else if (c.action !== 'create') {
      const patch = userPatch(c, ctx);
      if (Object.keys(patch).length > 0) await tx.directory.updateUser(id, patch);
    }
  }
  await tx.directory.deleteMemberships(removals);
  await tx.directory.upsertMemberships(upserts);
  await tx.directory.insertLinks(links);
  if (linkData.length > 0) await tx.directory.setLinkData('user', ctx.source, linkData);
  if (deletes.length > 0) {
    await tx.directory.deleteLinks('user', deletes);
    await tx.directory.deleteUsers(deletes);
  }
  await record(
    tx,
    ctx,
    changes.map((c) => changeRecord(ctx, 'user', c, idOf(c))),
  );
}

function userPatch(c: UserChange, ctx: ApplyContext): UserPatch {
  const patch: UserPatch = {};
  for (const f of USER_PROFILE_FIELDS) if (c.set[f] !== undefined) patch[f] = c.set[f];
  if (c.set.status !== undefined) patch.status = c.set.status;
  if (c.set.attributes !== undefined) patch.attributes = c.set.attributes;
  if (c.set.mainDepartment !== undefined) {
    patch.mainDepartmentId = c.set.mainDepartment === null ? null : resolveDepartment(ctx, c.set.mainDepartment);
  }
  return patch;
}

async function record(tx: StoreRepos, ctx: ApplyContext, records: RunChangeRecord[]): Promise<void> {
  await tx.runs.addChanges(ctx.runId, records);
}

const isNewKey = (v: unknown): v is string => typeof v === 'string' && v.startsWith('new:');

/** The run's record of one change, with new-object keys replaced by the ids they got. */
export function changeRecord(
  ctx: Pick<ApplyContext, 'departmentIds' | 'seq'>,
  objectKind: 'department' | 'user',
  change: DepartmentChange | UserChange,
  objectId: number | null,
): RunChangeRecord {
  // Most diffs hold no new-department key and are recorded as they are; only those that do are copied.
  let fields = change.fields;
  for (const name of REF_FIELDS) {
    const diff = change.fields[name];
    if (diff === undefined) continue;
    const resolved: FieldDiff =
      name === 'departments'
        ? { before: resolveRefList(ctx, diff.before), after: resolveRefList(ctx, diff.after) }
        : { before: resolveRef(ctx, diff.before), after: resolveRef(ctx, diff.after) };
    if (resolved.before === diff.before && resolved.after === diff.after) continue;
    if (fields === change.fields) fields = { ...change.fields };
    fields[name] = resolved;
  }
  return {
    seq: ctx.seq++,
    objectKind,
    action: change.action,
    objectId,
    externalId: change.externalId,
    label: change.label,
    fields,
  };
}

/** The fields whose values may hold new-department keys. */
const REF_FIELDS = ['departments', 'parent', 'mainDepartment'] as const;

function resolveRef(ctx: Pick<ApplyContext, 'departmentIds'>, v: unknown): unknown {
  return isNewKey(v) ? (ctx.departmentIds.get(v) ?? v) : v;
}

function resolveRefList(ctx: Pick<ApplyContext, 'departmentIds'>, list: unknown): unknown {
  if (!Array.isArray(list) || !list.some((m: { department: Ref }) => isNewKey(m.department))) return list;
  return list.map((m: { department: Ref }) => ({ ...m, department: resolveRef(ctx, m.department) }));
}
