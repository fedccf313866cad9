/**
 * Serialised JSON of objects per view (e.g. with or without sensitive fields), reused until the object is replaced:
 * both simulators replace a user object on every write, so a cached text never goes stale, and a large list is
 * joined from cached texts instead of serialised again on every read.
 */
export class JsonCache<T extends object> {
  private readonly views = new Map<string, WeakMap<T, string>>();

  text(obj: T, view: string, make: () => unknown): string {
    let cache = this.views.get(view);
    if (!cache) {
      cache = new WeakMap();
      this.views.set(view, cache);
    }
    let text = cache.get(obj);
    if (text === undefined) {
      text = JSON.stringify(make());
      cache.set(obj, text);
    }
    return text;
  }
}
