import { describe, expect, it } from 'vitest';
import { SnapshotCollector, stopsThePull } from '../../src/connectors/common/pull.js';
import type { SnapshotUser } from '../../src/directory/snapshot.js';

const WITHHELD = ['mobile', 'email', 'gender'] as const;

function collect(users: SnapshotUser[], contactSeen: boolean): SnapshotCollector {
  const c = new SnapshotCollector({ isFatal: stopsThePull, withheld: WITHHELD });
  if (contactSeen) c.contactSeen();
  for (const u of users) c.member(u.externalId, u, (x) => x);
  return c;
}

const departments = [
  { externalId: '1', parentExternalId: null, name: 'Top' },
  { externalId: '2', parentExternalId: '1', name: 'Sub' },
];

describe('SnapshotCollector.finish: what a user loses', () => {
  const users = (): SnapshotUser[] => [
    {
      externalId: 'a',
      name: 'A',
      gender: null,
      departments: [{ externalId: '2' }, { externalId: '99' }],
      mainDepartment: '99',
      attributes: { 工号: '1' },
    },
    { externalId: 'b', name: 'B', mobile: null, departments: [{ externalId: '1' }], mainDepartment: '1' },
  ];

  it('fields no user carried are unseen: gone from every user, not set to undefined; the rest stays as it was', () => {
    const { snapshot, withheld } = collect(users(), false).finish(departments);
    expect(withheld).toBe(true);
    expect(snapshot.unseenFields).toEqual([...WITHHELD]);
    expect(snapshot.users.map((u) => Object.keys(u))).toEqual([
      ['externalId', 'name', 'departments', 'attributes'],
      ['externalId', 'name', 'departments', 'mainDepartment'],
    ]);
    expect(snapshot.users[0]).toStrictEqual({
      externalId: 'a',
      name: 'A',
      departments: [{ externalId: '2' }],
      attributes: { 工号: '1' },
    });
  });

  it('an app that sees them keeps them; only a main department outside the tree goes', () => {
    const { snapshot, withheld } = collect(users(), true).finish(departments);
    expect(withheld).toBe(false);
    expect(snapshot.users[0]).toStrictEqual({
      externalId: 'a',
      name: 'A',
      gender: null,
      departments: [{ externalId: '2' }],
      attributes: { 工号: '1' },
    });
    expect(snapshot.users[1]).toStrictEqual(users()[1]);
  });

  it('with the tree incomplete, memberships that may lie in the unread part are left unsaid', () => {
    const { snapshot } = collect(users(), true).finish(departments, { treeComplete: false });
    expect(snapshot.complete).toBe(false);
    expect(snapshot.users[0]).toStrictEqual({ externalId: 'a', name: 'A', gender: null, attributes: { 工号: '1' } });
    expect(snapshot.users[1]?.departments).toEqual([{ externalId: '1' }]);
  });
});
