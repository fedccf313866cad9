import type { RunChangeRecord } from '../run-repo.js';

/**
 * A create has no "before": its record stores only the values it set (under one marker key no field can have),
 * a third of the size of the full diff, which on a first import of a large org is most of what the run log writes.
 */
const AFTER_ONLY = '=after';

export function encodeFields(c: RunChangeRecord): string {
  if (c.action !== 'create') return JSON.stringify(c.fields);
  // A create whose every "before" is empty is stored as its "after" values only.
  const after: Record<string, unknown> = {};
  for (const name in c.fields) {
    const d = c.fields[name] as { before: unknown; after: unknown };
    const empty = name === 'departments' ? Array.isArray(d.before) && d.before.length === 0 : d.before === null;
    if (!empty) return JSON.stringify(c.fields);
    after[name] = d.after;
  }
  return JSON.stringify({ [AFTER_ONLY]: after });
}

export function decodeFields(text: string): RunChangeRecord['fields'] {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const after = parsed[AFTER_ONLY] as Record<string, unknown> | undefined;
  if (after === undefined) return parsed as RunChangeRecord['fields'];
  const fields: RunChangeRecord['fields'] = {};
  for (const [name, value] of Object.entries(after))
    fields[name] = { before: name === 'departments' ? [] : null, after: value };
  return fields;
}
