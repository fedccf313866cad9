import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPlainUserRecord, userSchema } from '../../src/connectors/wecom/schemas.js';
import { toSnapshotUser } from '../../src/connectors/wecom/source.js';
import { Random } from '../../src/simulator/random.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';

/**
 * The sync reads a member record without the schema's copy when `isPlainUserRecord` takes it. That check must never
 * take a record the schema refuses, and a record it takes must convert exactly as the schema's output does. Records
 * as the simulator serves them (both views), then the same records spoiled field by field, at random (seeded).
 */

let sim: WecomSimulator;
const served: Record<string, unknown>[] = [];

async function userList(view: 'withheld' | 'returned'): Promise<Record<string, unknown>[]> {
  sim.updateConfig({ sensitiveFields: view });
  const secret = view === 'returned' ? sim.identity.contactsSecret : sim.identity.secret;
  const token = (
    (await (await fetch(`${sim.url}/cgi-bin/gettoken?corpid=${sim.identity.corpId}&corpsecret=${secret}`)).json()) as {
      access_token: string;
    }
  ).access_token;
  const res = await fetch(`${sim.url}/cgi-bin/user/list?access_token=${token}&department_id=1&fetch_child=1`);
  return ((await res.json()) as { userlist: Record<string, unknown>[] }).userlist;
}

beforeAll(async () => {
  sim = new WecomSimulator({ seed: 11, departments: 40, users: 300 });
  await sim.listen(0);
  served.push(...(await userList('withheld')), ...(await userList('returned')));
});

afterAll(async () => {
  await sim.close();
});

/** Whether the fast check and the schema agree on `raw`: the check takes only what the schema takes, converted alike. */
function agree(raw: unknown): { plain: boolean; parsed: boolean } {
  const plain = isPlainUserRecord(raw);
  const parsed = userSchema.safeParse(raw);
  if (plain) {
    expect(parsed.success, JSON.stringify(raw)).toBe(true);
    if (parsed.success) expect(toSnapshotUser(raw)).toStrictEqual(toSnapshotUser(parsed.data));
  }
  return { plain, parsed: parsed.success };
}

const FIELDS = [
  'userid',
  'name',
  'department',
  'order',
  'is_leader_in_dept',
  'main_department',
  'position',
  'mobile',
  'gender',
  'email',
  'avatar',
  'telephone',
  'alias',
  'address',
  'extattr',
  'status',
  'unknown_field',
];

/** Values of every kind a field might come as, right or wrong. */
const ODD: unknown[] = [
  undefined,
  null,
  '',
  'x',
  0,
  1,
  -0,
  2,
  5,
  1.5,
  2 ** 53,
  -1,
  true,
  [],
  [1],
  [1.5],
  ['1'],
  [null],
  {},
  { attrs: [] },
  { attrs: null },
  { attrs: [{ type: 0, name: 'a', value: 'v' }] },
  { attrs: [{ type: 1, name: 'w', web: { url: 'https://x', title: 't' } }] },
  { attrs: [{ type: 1, name: 'w', web: { url: 3 } }] },
  { attrs: [{ type: 0, name: 'a', text: { value: 'v' } }] },
  { attrs: [{ type: 0, name: 'a', text: {} }] },
  { attrs: [{ type: '0', name: 'a' }] },
  { attrs: [{ type: 0 }] },
  { attrs: [null] },
];

describe('isPlainUserRecord and userSchema', () => {
  it('take every record the simulator serves, in both views, and convert them alike', () => {
    expect(served.length).toBeGreaterThan(500);
    for (const raw of served) expect(agree(raw)).toEqual({ plain: true, parsed: true });
    expect(served.some((u) => u.extattr !== undefined && u.mobile !== undefined)).toBe(true);
  });

  it('agree on every field set to a value of every kind', () => {
    const base = served[0] as Record<string, unknown>;
    let refused = 0;
    let taken = 0;
    for (const field of FIELDS) {
      for (const value of ODD) {
        const { plain, parsed } = agree({ ...base, [field]: value });
        if (!parsed) refused++;
        if (plain) taken++;
      }
    }
    // Both outcomes occur: the check is exercised on both sides of the schema.
    expect(refused).toBeGreaterThan(50);
    expect(taken).toBeGreaterThan(50);
  });

  it('agree on records spoiled at random, several fields at once', () => {
    const random = new Random(20261208);
    let plainCount = 0;
    for (let i = 0; i < 5000; i++) {
      const record: Record<string, unknown> = { ...(served[random.int(0, served.length - 1)] as object) };
      const spoiled = random.int(1, 3);
      for (let k = 0; k < spoiled; k++) {
        const field = FIELDS[random.int(0, FIELDS.length - 1)] as string;
        const value = ODD[random.int(0, ODD.length - 1)];
        if (value === undefined && random.int(0, 1) === 0) delete record[field];
        else record[field] = value;
      }
      if (agree(record).plain) plainCount++;
    }
    expect(plainCount).toBeGreaterThan(100);
  });

  it('refuses what is not a record at all', () => {
    for (const raw of [null, undefined, 'user', 3, [], [served[0]]]) expect(isPlainUserRecord(raw)).toBe(false);
  });
});
