import type { Department } from './api-types';

/**
 * The department tree, built once from the API's flat list with maps (O(n log n) for the sibling sorts), and the
 * rows a given set of expanded departments makes visible. Only those rows are ever rendered.
 */

export interface DepartmentTree {
  byId: Map<number, Department>;
  /** Sorted children of each department that has any. */
  children: Map<number, number[]>;
  /** Departments whose parent is null or not in the list. */
  roots: number[];
  size: number;
}

export interface TreeRow {
  id: number;
  depth: number;
  hasChildren: boolean;
  expanded: boolean;
}

/**
 * Each platform sorts siblings by `order` its own way (GET /api/v1/platforms: WeCom larger first, DingTalk smaller
 * first); the directory keeps each source's value as it is. The rule for a set of siblings follows the platform of the
 * source the first of them is linked to.
 */
export function buildTree(
  items: readonly Department[],
  orderOfSource: (source: string) => 'descending' | 'ascending' | undefined,
): DepartmentTree {
  const byId = new Map<number, Department>();
  for (const d of items) byId.set(d.id, d);
  const children = new Map<number, number[]>();
  const roots: number[] = [];
  for (const d of items) {
    if (d.parentId === null || d.parentId === d.id || !byId.has(d.parentId)) {
      roots.push(d.id);
      continue;
    }
    const list = children.get(d.parentId);
    if (list) list.push(d.id);
    else children.set(d.parentId, [d.id]);
  }
  const orderOf = (d: Department): 'descending' | 'ascending' | undefined => {
    for (const l of d.links ?? []) {
      const o = orderOfSource(l.source);
      if (o) return o;
    }
    return undefined;
  };
  const sortSiblings = (ids: number[]) => {
    const first = byId.get(ids[0] as number);
    const descending = first !== undefined && orderOf(first) === 'descending';
    ids.sort((a, b) => {
      const da = byId.get(a) as Department;
      const db = byId.get(b) as Department;
      const byOrder = descending ? db.order - da.order : da.order - db.order;
      return byOrder !== 0 ? byOrder : a - b;
    });
  };
  for (const list of children.values()) if (list.length > 1) sortSiblings(list);
  roots.sort((a, b) => a - b);
  return { byId, children, roots, size: items.length };
}

/** The rows to show: a depth-first walk that descends only into expanded departments. Iterative: no recursion limit. */
export function visibleRows(tree: DepartmentTree, expanded: ReadonlySet<number>): TreeRow[] {
  const rows: TreeRow[] = [];
  const stack: Array<{ id: number; depth: number }> = [];
  for (let i = tree.roots.length - 1; i >= 0; i--) stack.push({ id: tree.roots[i] as number, depth: 0 });
  // Guards against a cycle in bad data: each department is shown once.
  const seen = new Set<number>();
  while (stack.length > 0) {
    const { id, depth } = stack.pop() as { id: number; depth: number };
    if (seen.has(id)) continue;
    seen.add(id);
    const kids = tree.children.get(id);
    const isOpen = kids !== undefined && expanded.has(id);
    rows.push({ id, depth, hasChildren: kids !== undefined, expanded: isOpen });
    if (isOpen) for (let i = kids.length - 1; i >= 0; i--) stack.push({ id: kids[i] as number, depth: depth + 1 });
  }
  return rows;
}

/** The department's ancestors, nearest last (for expanding the path to a department). */
export function ancestors(tree: DepartmentTree, id: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>([id]);
  let cur = tree.byId.get(id)?.parentId ?? null;
  while (cur !== null && tree.byId.has(cur) && !seen.has(cur)) {
    out.unshift(cur);
    seen.add(cur);
    cur = tree.byId.get(cur)?.parentId ?? null;
  }
  return out;
}

export function pathLabel(tree: DepartmentTree, id: number): string {
  return [...ancestors(tree, id), id].map((a) => tree.byId.get(a)?.name ?? String(a)).join(' / ');
}

export function allParents(tree: DepartmentTree): Set<number> {
  return new Set(tree.children.keys());
}

/** What a fresh tree opens: the roots, and on down while a department has a single child (a source mounted under the root). */
export function defaultExpanded(tree: DepartmentTree): Set<number> {
  const open = new Set<number>();
  for (const root of tree.roots) {
    let id: number | undefined = root;
    while (id !== undefined && !open.has(id) && tree.children.has(id)) {
      open.add(id);
      const kids: number[] = tree.children.get(id) ?? [];
      id = kids.length === 1 ? kids[0] : undefined;
    }
  }
  return open;
}
