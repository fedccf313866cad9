import { linkOf, type DirectoryState, type LocalUser } from '../directory/model.js';
import { userIdKey } from '../directory/limits.js';
import { effectiveUserId, type Snapshot, type SnapshotUser } from '../directory/snapshot.js';
import type { EnrichmentCounts } from '../store/run-repo.js';
import type { FieldOwnership, Policy } from './policy.js';
import type { FieldDiff, Plan, UserChange } from './types.js';

/**
 * The fields a file may fill for users an API-read source already manages: those platforms withhold from some apps
 * (WeCom's self-built apps created after 2022-06-20 get no mobile, email, gender or address) and the corp's own
 * attributes. Names, departments, status and position stay the API's.
 */
export const ENRICHED_FIELDS = ['mobile', 'email', 'gender', 'address', 'telephone'] as const;

/** How many unmatched accounts the report lists. */
const UNMATCHED_LISTED = 10;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function normalize(value: string | null | undefined): string | null | undefined {
  return value === '' ? null : value;
}

/**
 * planEnrichment(source, snapshot, directory, policy): the snapshot's rows matched by account (userid, else
 * externalId) to the users linked to `source` under that id, and for them the enriched fields and attributes that
 * differ. Nothing is created, linked, moved or removed; rows without such a user are counted as unmatched. A field
 * the policy gives the source 'never' is left alone, one it gives 'create' is only filled where it is empty.
 * Pure and deterministic, as `plan` is.
 */
export function planEnrichment(
  source: string,
  snapshot: Snapshot,
  directory: DirectoryState,
  policy: Policy,
): { plan: Plan; enrichment: EnrichmentCounts } {
  const byAccount = new Map<string, LocalUser>();
  const byKey = new Map<string, LocalUser | null>();
  let activeLinkedUsers = 0;
  for (const u of directory.users) {
    const link = linkOf(u.links, source);
    if (!link) continue;
    if (u.status === 'active') activeLinkedUsers++;
    byAccount.set(link.externalId, u);
    const key = userIdKey(link.externalId);
    byKey.set(key, byKey.has(key) ? null : u);
  }
  const ownership = (field: (typeof ENRICHED_FIELDS)[number] | 'attributes'): FieldOwnership =>
    policy.ownership.users[field] ?? 'always';

  const enrichment: EnrichmentCounts = { matched: 0, enriched: 0, unmatched: 0, unmatchedAccounts: [] };
  const changes: UserChange[] = [];
  for (const su of snapshot.users) {
    const account = effectiveUserId(su);
    // The platform's ids are the accounts; a file that differs only in case still means the same account.
    const local = byAccount.get(account) ?? byKey.get(userIdKey(account)) ?? undefined;
    if (!local) {
      enrichment.unmatched++;
      if (enrichment.unmatchedAccounts.length < UNMATCHED_LISTED) enrichment.unmatchedAccounts.push(account);
      continue;
    }
    enrichment.matched++;
    const change = enrich(su, local, ownership);
    if (!change) continue;
    enrichment.enriched++;
    changes.push({
      action: 'update',
      ref: local.id,
      externalId: (linkOf(local.links, source) as { externalId: string }).externalId,
      label: local.name ?? local.userid ?? String(local.id),
      ...change,
    });
  }
  changes.sort((a, b) => (a.ref as number) - (b.ref as number));
  return {
    plan: {
      source,
      baseRevision: directory.revision,
      complete: true,
      departments: [],
      users: changes,
      issues: [],
      notes: [],
      activeLinkedUsers,
    },
    enrichment,
  };
}

function enrich(
  su: SnapshotUser,
  local: LocalUser,
  ownership: (field: (typeof ENRICHED_FIELDS)[number] | 'attributes') => FieldOwnership,
): Pick<UserChange, 'set' | 'fields'> | undefined {
  const set: UserChange['set'] = {};
  const fields: Record<string, FieldDiff> = {};
  for (const f of ENRICHED_FIELDS) {
    const own = ownership(f);
    const value = normalize(su[f]);
    if (own === 'never' || value === undefined || value === local[f]) continue;
    if (own === 'create' && local[f] !== null) continue;
    set[f] = value;
    fields[f] = { before: local[f], after: value };
  }
  const own = ownership('attributes');
  if (su.attributes && own !== 'never') {
    const merged = { ...local.attributes };
    let changed = false;
    for (const [k, v] of Object.entries(su.attributes).sort(([a], [b]) => byString(a, b))) {
      const before = local.attributes[k] ?? null;
      const after = normalize(v) ?? null;
      if (before === after || (own === 'create' && before !== null)) continue;
      changed = true;
      fields[`attributes.${k}`] = { before, after };
      if (after === null) delete merged[k];
      else merged[k] = after;
    }
    if (changed) set.attributes = merged;
  }
  return Object.keys(fields).length > 0 ? { set, fields } : undefined;
}
