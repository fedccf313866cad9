import type { DirectoryExport } from '../../src/directory/export.js';

/**
 * What every platform's comparison of the local directory with a simulator's truth starts from (wecom-directory.ts,
 * dingtalk-directory.ts): the departments and people linked to one source. No test runner needed: the benchmarks use
 * it too.
 */

/**
 * The departments linked to `source`, by its (numeric) ids, with their parent's (null at the top), sorted; and the
 * map from local department id to the source's id.
 */
export function linkedDepartments(doc: DirectoryExport, source: string) {
  const ext = new Map<number, string>();
  for (const d of doc.departments) {
    const l = d.links.find((x) => x.source === source);
    if (l) ext.set(d.id, l.externalId);
  }
  const departments = doc.departments
    .filter((d) => ext.has(d.id))
    .map((d) => ({
      id: Number(ext.get(d.id)),
      name: d.name,
      parent: d.parentId !== null && ext.has(d.parentId) ? Number(ext.get(d.parentId)) : null,
    }))
    .sort((a, b) => a.id - b.id);
  return { ext, departments };
}

/**
 * The people linked to `source`, each as `user(u, link)` describes them, with their memberships by the source's
 * department ids (`ext`, from linkedDepartments), sorted by the source's userid.
 */
export function linkedUsers<T extends { userid: string }>(
  doc: DirectoryExport,
  source: string,
  ext: ReadonlyMap<number, string>,
  user: (
    u: DirectoryExport['users'][number],
    link: DirectoryExport['users'][number]['links'][number],
    memberships: Array<{ d: number; leader: boolean; order: number }>,
  ) => T,
): T[] {
  const out: T[] = [];
  for (const u of doc.users) {
    const link = u.links.find((l) => l.source === source);
    if (!link) continue;
    const memberships = u.departments
      .map((m) => ({ d: Number(ext.get(m.id)), leader: m.leader, order: m.order }))
      .sort((a, b) => a.d - b.d);
    out.push(user(u, link, memberships));
  }
  return out.sort((a, b) => (a.userid < b.userid ? -1 : 1));
}

/**
 * The directory without the people linked to `source` who are no longer upstream, after checking that each of them
 * is disabled (what the default policy does to a leaver).
 */
export function withoutLeavers(
  doc: DirectoryExport,
  source: string,
  upstream: ReadonlyArray<{ userid: string }>,
): DirectoryExport {
  const ids = new Set(upstream.map((u) => u.userid));
  const gone = doc.users.filter((u) => u.links.some((l) => l.source === source && !ids.has(l.externalId)));
  const active = gone.filter((u) => u.status !== 'disabled');
  if (active.length > 0)
    throw new Error(
      `${active.length} people who left ${source} are not disabled: ${active
        .slice(0, 5)
        .map((u) => u.userid)
        .join(', ')}`,
    );
  return { ...doc, users: doc.users.filter((u) => !gone.includes(u)) };
}
