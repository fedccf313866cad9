import { describe, expect, it } from 'vitest';
import { ValidationError, type ValidationIssue } from '../../src/errors.js';
import { DINGTALK_LIMITS } from '../../src/connectors/dingtalk/limits.js';
import { WECOM_LIMITS } from '../../src/connectors/wecom/limits.js';
import { checkUserId, mobileKey } from '../../src/directory/limits.js';
import { skipInvalidRecords, validateSnapshot, type Snapshot } from '../../src/directory/snapshot.js';
import { parseJsonSnapshot } from '../../src/connectors/json-snapshot/source.js';
import { dept, snapshot } from '../helpers/builders.js';

function parseError(text: string): ValidationError {
  try {
    parseJsonSnapshot(text, 'test.json');
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

const issues = (s: Snapshot, limits = WECOM_LIMITS): ValidationIssue[] => validateSnapshot(s, limits);

function chain(depth: number) {
  return Array.from({ length: depth }, (_, i) => dept(String(i + 1), i === 0 ? null : String(i), `L${i + 1}`));
}

describe('JSON snapshot parsing', () => {
  it('reads the documented shape, ids as strings or numbers, absent keys left absent', () => {
    const s = parseJsonSnapshot(
      JSON.stringify({
        complete: true,
        incompleteDepartments: [],
        departments: [{ externalId: 1, parentExternalId: null, name: '总部', order: 0 }],
        users: [
          {
            externalId: 'zhangsan',
            name: '张三',
            status: 'active',
            position: '工程师',
            mobile: '+86 13800000000',
            email: null,
            mainDepartment: 1,
            departments: [{ externalId: 1, leader: true, order: 0 }],
            attributes: { 工号: 7, 在职: true },
          },
        ],
      }),
    );
    expect(s.departments[0]).toEqual({ externalId: '1', parentExternalId: null, name: '总部', order: 0 });
    expect(s.users[0]).toMatchObject({ mainDepartment: '1', email: null, attributes: { 工号: '7', 在职: 'true' } });
    expect('alias' in s.users[0]!).toBe(false);
    expect(s.unseenFields).toEqual([]);
  });

  it('names the line and column of a JSON syntax error', () => {
    const err = parseError('{\n  "departments": [\n    { "externalId": "1", }\n  ]\n}');
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.issues[0]?.path).toMatch(/line 3, column \d+/);
  });

  it('names the object and field of a wrong type, a missing key and an unknown key', () => {
    const err = parseError(
      JSON.stringify({
        departments: [{ externalId: '1', parentExternalId: null }],
        users: [{ externalId: 'a', name: 5, mobil: '138' }],
      }),
    );
    const byPath = Object.fromEntries(err.issues.map((i) => [`${i.path}|${i.field}`, i]));
    expect(byPath['departments[0].name|name']).toMatchObject({ object: 'department "1"', message: 'missing' });
    expect(byPath['users[0].name|name']).toMatchObject({ object: 'user "a"' });
    expect(byPath['users[0]|mobil']).toMatchObject({ object: 'user "a"', message: 'unknown key "mobil"' });
  });

  it('rejects a top level that is not a snapshot', () => {
    expect(parseError('[]').issues[0]).toMatchObject({ path: '(root)' });
  });
});

describe('snapshot validation (WeCom limits)', () => {
  it('accepts a valid snapshot', () => {
    expect(issues(snapshot(chain(15), [{ externalId: 'a', name: 'A', departments: [{ externalId: '15' }] }]))).toEqual(
      [],
    );
  });

  it('rejects an unknown parent', () => {
    expect(issues(snapshot([dept('1', null, 'A'), dept('2', '9', 'B')], []))).toEqual([
      expect.objectContaining({
        path: 'departments[1]',
        object: 'department "2"',
        field: 'parentExternalId',
        message: expect.stringContaining('unknown parent "9"'),
      }),
    ]);
  });

  it('rejects a cycle, once, naming its members', () => {
    const found = issues(
      snapshot([dept('1', null, 'A'), dept('2', '3', 'B'), dept('3', '4', 'C'), dept('4', '2', 'D')], []),
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      field: 'parentExternalId',
      message: expect.stringMatching(/cycle: "2" → "3" → "4" → "2"/),
    });
    expect(issues(snapshot([dept('1', '1', 'A')], []))[0]?.message).toMatch(/its own parent/);
  });

  it('rejects depth 16 and accepts 15', () => {
    expect(issues(snapshot(chain(15), []))).toEqual([]);
    expect(issues(snapshot(chain(16), []))).toEqual([
      expect.objectContaining({
        object: 'department "16"',
        message: expect.stringContaining('level 16; wecom allows at most 15'),
      }),
    ]);
  });

  it('rejects duplicate department and user ids, and userids equal ignoring case', () => {
    const found = issues(
      snapshot(
        [dept('1', null, 'A'), dept('1', null, 'B')],
        [{ externalId: 'a' }, { externalId: 'a' }, { externalId: 'A' }],
      ),
    );
    expect(found.map((i) => [i.path, i.field])).toEqual([
      ['departments[1]', 'externalId'],
      ['users[1]', 'externalId'],
      ['users[2]', 'externalId'],
    ]);
    expect(found[2]?.message).toMatch(/unique ignoring case/);
  });

  it('rejects an invalid userid and a 65-character name; accepts 64', () => {
    const n64 = '名'.repeat(64);
    const n65 = '名'.repeat(65);
    expect(issues(snapshot([dept('1', null, n64)], [{ externalId: 'ok', name: n64 }]))).toEqual([]);
    const found = issues(snapshot([dept('1', null, n65)], [{ externalId: '_bad id', name: n65 }]));
    expect(found).toEqual([
      expect.objectContaining({
        object: 'department "1"',
        field: 'name',
        message: expect.stringContaining('65 characters'),
      }),
      expect.objectContaining({
        object: 'user "_bad id"',
        field: 'externalId',
        message: expect.stringContaining('not a valid wecom userid'),
      }),
      expect.objectContaining({
        object: 'user "_bad id"',
        field: 'name',
        message: expect.stringContaining('65 characters'),
      }),
    ]);
  });

  it('rejects forbidden characters in department names, for each platform its own', () => {
    expect(issues(snapshot([dept('1', null, 'R&D: core')], []))[0]).toMatchObject({
      field: 'name',
      message: expect.stringContaining('":"'),
    });
    expect(issues(snapshot([dept('1', null, 'A｜B')], []))[0]).toMatchObject({ field: 'name' });
    expect(issues(snapshot([dept('1', null, '研发-一部')], []))).toEqual([]);
    expect(issues(snapshot([dept('1', null, '研发-一部')], []), DINGTALK_LIMITS)[0]).toMatchObject({
      field: 'name',
      message: expect.stringContaining('"-"'),
    });
  });

  it('rejects memberships to unknown departments, twice-listed departments, a foreign main department, and over 100 departments', () => {
    const many = Array.from({ length: 101 }, (_, i) => dept(String(i + 2), '1', `D${i}`));
    const found = issues(
      snapshot(
        [dept('1', null, 'A'), ...many],
        [
          {
            externalId: 'a',
            departments: [{ externalId: '99x' }, { externalId: '1' }, { externalId: '1' }],
            mainDepartment: '2',
          },
          { externalId: 'b', departments: many.map((d) => ({ externalId: d.externalId })) },
        ],
      ),
    );
    expect(found.map((i) => [i.path, i.field])).toEqual([
      ['users[0].departments[0]', 'externalId'],
      ['users[0].departments[2]', 'externalId'],
      ['users[0]', 'mainDepartment'],
      ['users[1]', 'departments'],
    ]);
  });

  it('checks profile formats and names the field', () => {
    const found = issues(
      snapshot([], [{ externalId: 'a', mobile: 'call me', email: 'nope', telephone: 'x1', position: 'p'.repeat(129) }]),
    );
    expect(found.map((i) => i.field)).toEqual(['position', 'mobile', 'email', 'telephone']);
    expect(issues(snapshot([], [{ externalId: 'a', mobile: '', email: null }]))).toEqual([]);
  });

  it('rejects incompleteDepartments that are not in the snapshot', () => {
    expect(issues(snapshot([dept('1', null, 'A')], [], { incompleteDepartments: ['7'] }))[0]).toMatchObject({
      path: 'incompleteDepartments[0]',
    });
  });
});

describe('control characters', () => {
  const CONTROLS = ['\u0000', '\u0007', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009b', '\u2028', '\u2029'];

  it('are refused in every one-line field of users and departments, naming the object, the field and the character', () => {
    for (const c of CONTROLS) {
      const code = `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
      const s = snapshot(
        [dept('1', null, `R&D${c}`)],
        [
          {
            externalId: `u${c}`,
            userid: `u${c}`,
            name: `A${c}`,
            alias: `b${c}`,
            position: `p${c}`,
            address: `a${c}`,
            employeeNo: `e${c}`,
            email: `x${c}@y.cn`,
            attributes: { [`k${c}`]: 'v' },
          },
        ],
      );
      for (const limits of [WECOM_LIMITS, DINGTALK_LIMITS]) {
        const found = issues(s, limits);
        expect(found.map((i) => `${i.object} ${i.field}`).sort(), code).toEqual(
          [
            `department "1" name`,
            ...['userid', 'name', 'alias', 'position', 'address', 'employeeNo', 'email', 'attributes'].map(
              (f) => `user "u${c}" ${f}`,
            ),
          ].sort(),
        );
        expect(found.find((i) => i.field === 'name' && i.object === 'department "1"')).toMatchObject({
          message: `the name contains the control character ${code} at position 4`,
          hint: 'Remove control characters (escape sequences, tabs, line breaks) from the name where the source keeps it.',
        });
      }
    }
  });

  it('leave ordinary text alone: CJK, emoji, spaces, bidi letters', () => {
    expect(
      issues(
        snapshot(
          [dept('1', null, '研发 中心 🚀')],
          [{ externalId: 'a', name: 'محمد Zhang 张三', position: 'Ingénieur · 工程师' }],
        ),
        DINGTALK_LIMITS,
      ),
    ).toEqual([]);
  });
});

describe('skipping invalid records of a platform read', () => {
  const base = (): Snapshot =>
    snapshot(
      [dept('1', null, 'Top'), dept('2', '1', 'A'), dept('3', '1', 'B\u001b[2J'), dept('4', '1', 'C')],
      [
        { externalId: 'ok', name: 'Fine', departments: [{ externalId: '2' }] },
        { externalId: 'bad', name: 'Bad\u0007', departments: [{ externalId: '2' }] },
        { externalId: 'moved', name: 'x'.repeat(65), departments: [{ externalId: '4' }] },
      ],
    );

  it('leaves out a bad user, keeps a bad department without its bad field, and marks every department involved incomplete', () => {
    const local = (id: string): string[] | undefined =>
      id === 'moved' ? ['2', '4'] : id === 'bad' ? ['2'] : undefined;
    const { snapshot: s, skipped, issues: left } = skipInvalidRecords(base(), WECOM_LIMITS, local);
    expect(left).toEqual([]);
    expect(s.users.map((u) => u.externalId)).toEqual(['ok']);
    expect(s.departments.find((d) => d.externalId === '3')).toEqual({ externalId: '3', parentExternalId: '1' });
    expect(s.incompleteDepartments.sort()).toEqual(['2', '3', '4']);
    expect(s.complete).toBe(true);
    expect(skipped.map((e) => [e.code, e.object])).toEqual([
      ['RECORD_SKIPPED', 'department "3"'],
      ['RECORD_SKIPPED', 'user "bad"'],
      ['RECORD_SKIPPED', 'user "moved"'],
    ]);
    expect(skipped[1]?.message).toBe(
      'user "bad", field "name": the name contains the control character U+0007 at position 4; the record was skipped and nobody in its departments was disabled or deleted',
    );
    expect(validateSnapshot(s, WECOM_LIMITS)).toEqual([]);
  });

  it("a skipped user the directory holds in none of the source's departments leaves the whole read incomplete", () => {
    const { snapshot: s } = skipInvalidRecords(base(), WECOM_LIMITS, (id) => (id === 'bad' ? [] : undefined));
    expect(s.complete).toBe(false);
  });

  it('cannot skip a broken tree: an unknown parent is still an issue', () => {
    const broken = snapshot(
      [dept('1', null, 'Top'), dept('2', '9', 'Lost')],
      [{ externalId: 'ok', name: 'Fine', departments: [{ externalId: '1' }] }],
    );
    const { issues: left, skipped } = skipInvalidRecords(broken, WECOM_LIMITS, () => undefined);
    expect(left.map((i) => i.field)).toEqual(['parentExternalId']);
    expect(skipped).toEqual([]);
  });

  it('returns a valid snapshot as it is', () => {
    const valid = snapshot(
      [dept('1', null, 'Top')],
      [{ externalId: 'ok', name: 'Fine', departments: [{ externalId: '1' }] }],
    );
    expect(skipInvalidRecords(valid, WECOM_LIMITS, () => undefined)).toEqual({
      snapshot: valid,
      skipped: [],
      issues: [],
    });
  });
});

describe('platform limits', () => {
  it('encodes the WeCom userid pattern', () => {
    for (const ok of ['a', 'A1', '1a', 'zhang.san@corp', 'x_y-z', 'a'.repeat(64)])
      expect(checkUserId(ok, WECOM_LIMITS)).toBeNull();
    for (const bad of ['', '_a', '-a', 'a b', '张三', 'a'.repeat(65)])
      expect(checkUserId(bad, WECOM_LIMITS)).not.toBeNull();
    expect(checkUserId('张三', DINGTALK_LIMITS)).toBeNull();
  });

  it('compares mobiles on their digits, with or without +86', () => {
    expect(mobileKey('+86 138-0000-0000')).toBe(mobileKey('13800000000'));
    expect(mobileKey('+1 415 555 0100')).not.toBe(mobileKey('4155550100'));
  });
});
