/**
 * The departments an app sees: the subtrees of its visible range (WeCom 可见范围, DingTalk 通讯录授权范围), as one
 * set, kept until the org or the range changes.
 */
export class VisibleDepartments {
  private cache: { key: string; set: Set<number> | null } = { key: '', set: null };

  constructor(private readonly subtree: (id: number) => Iterable<number>) {}

  /** The set for `range` at org `version`; null when the range is the whole org ([1]). */
  of(range: readonly number[], version: number): Set<number> | null {
    if (range.length === 1 && range[0] === 1) return null;
    const key = `${version}|${range.join(',')}`;
    if (this.cache.key !== key) {
      const set = new Set<number>();
      for (const id of range) for (const d of this.subtree(id)) set.add(d);
      this.cache = { key, set };
    }
    return this.cache.set;
  }
}
