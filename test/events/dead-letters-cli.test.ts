import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

/** `orgsync runs dead-letters` and `orgsync runs retry-dead-letters` on a real SQLite data directory. */

let opened: TestStore[] = [];
afterEach(async () => {
  for (const t of opened) await t.cleanup();
  opened = [];
});

async function orgsync(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'orgsync', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('orgsync runs dead-letters | retry-dead-letters', () => {
  it('lists dead letters with their error (text and --json, by connection) and puts them back, all or by id', async () => {
    const t = await openTestStore('sqlite');
    opened.push(t);
    const inbox = t.store.inbox;
    const error = {
      code: 'WECOM_BUSY',
      message: 'WeCom was busy and stayed busy: system busy',
      hint: 'Try again in a few minutes.',
      object: 'department "7"',
      zh: { message: '企业微信持续繁忙' },
    };
    for (const [connection, key, id] of [
      ['wx', 'a', '7'],
      ['wx', 'b', '8'],
      ['dt', 'c', '9'],
    ] as const) {
      await inbox.add({
        connection,
        dedupeKey: key,
        type: 'change_contact/update_party',
        events: [{ object: 'department', externalId: id }],
      });
    }
    const ids = [...(await inbox.pending('wx', 10)), ...(await inbox.pending('dt', 10))].map((m) => m.id);
    expect(await inbox.markFailed(ids, error, { maxAttempts: 1 })).toStrictEqual(ids);
    const dir = ['--data-dir', t.dataDir];

    const text = await orgsync(['runs', 'dead-letters', ...dir, '--connection', 'wx']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('department "7"');
    expect(text.out).toContain(error.message);
    expect(text.out).toContain(error.hint);
    expect(text.out).not.toContain('department "9"');
    expect(text.out).toContain('2 dead letter(s)');

    const json = await orgsync(['runs', 'dead-letters', ...dir, '--json']);
    const doc = JSON.parse(json.out) as {
      deadLetters: Array<{ id: number; connection: string; attempts: number; error: Record<string, unknown> }>;
    };
    expect(doc.deadLetters.map((m) => [m.id, m.connection, m.attempts])).toStrictEqual([
      [ids[0], 'wx', 1],
      [ids[1], 'wx', 1],
      [ids[2], 'dt', 1],
    ]);
    // The English text, whole; the Chinese one is the console's.
    const { zh: _zh, ...english } = error;
    expect(doc.deadLetters[0]?.error).toStrictEqual(english);

    const bad = await orgsync(['runs', 'retry-dead-letters', ...dir, '--id', 'x1']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--id.*'x1'.*positive whole number/s);
    expect((await inbox.deadLetters()).length).toBe(3);

    const one = await orgsync(['runs', 'retry-dead-letters', ...dir, '--id', String(ids[2]), '--json']);
    expect(JSON.parse(one.out)).toStrictEqual({ retried: 1, ids: [ids[2]] });
    const rest = await orgsync(['runs', 'retry-dead-letters', ...dir, '--connection', 'wx']);
    expect(rest.out).toContain('Put 2 message(s) back to pending');
    expect(await inbox.deadLetters()).toStrictEqual([]);
    expect(await inbox.counts('wx')).toStrictEqual({ pending: 2, done: 0 });
    expect((await orgsync(['runs', 'dead-letters', ...dir])).out).toContain('No dead letters');
  });
});
