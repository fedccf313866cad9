/**
 * What an export file says about the org, and what the directory holds, in one comparable shape: departments by
 * path, people by account with their memberships (path, leader), main department, profile and custom attributes.
 * Read from the file's cells as Python gave them, independently of the reader under test.
 */

export interface PersonView {
  name: string;
  alias: string | null;
  position: string | null;
  mobile: string | null;
  email: string | null;
  telephone: string | null;
  gender: string | null;
  address: string | null;
  status: string;
  main: string | null;
  memberships: Array<[path: string, leader: boolean]>;
  attributes: Record<string, string>;
}

export interface OrgView {
  departments: Record<string, { name: string; parent: string | null }>;
  people: Record<string, PersonView>;
}

const COLUMNS: Record<string, string> = {
  姓名: 'name',
  账号: 'account',
  帐号: 'account',
  别名: 'alias',
  职务: 'position',
  部门: 'departments',
  性别: 'gender',
  手机: 'mobile',
  座机: 'telephone',
  个人邮箱: 'email',
  邮箱: 'email',
  地址: 'address',
  部门负责人: 'leader',
  激活状态: 'status',
};

const list = (v: string): string[] => (v === '' ? [] : v.split(/[;；]/).map((s) => s.trim()));
/** Path separators are written without spaces; a "/" with a space beside it belongs to a name. */
const names = (path: string): string[] => path.split(/(?<!\s)\/(?!\s)/).map((s) => s.trim());
const orNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const byPath = (a: [string, boolean], b: [string, boolean]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The org the rows of an export describe (the header is the first row holding 姓名 and 账号). */
export function viewOfRows(rows: string[][]): OrgView {
  const headerAt = rows.findIndex((r) => r.includes('姓名') && (r.includes('账号') || r.includes('帐号')));
  const header = rows[headerAt] ?? [];
  const view: OrgView = { departments: {}, people: {} };
  for (const row of rows.slice(headerAt + 1)) {
    if (row.every((c) => c === '')) continue;
    const cell: Record<string, string> = {};
    const attributes: Record<string, string> = {};
    header.forEach((h, i) => {
      const v = (row[i] ?? '').trim();
      const field = COLUMNS[h];
      if (field) cell[field] = v;
      else if (h !== '' && v !== '') attributes[h] = v;
    });
    const paths = list(cell.departments ?? '').map((p) => names(p).join('/'));
    for (const p of paths) {
      const parts = names(p);
      parts.forEach((name, i) => {
        view.departments[parts.slice(0, i + 1).join('/')] = {
          name,
          parent: i === 0 ? null : parts.slice(0, i).join('/'),
        };
      });
    }
    const leaders = list(cell.leader ?? '');
    view.people[cell.account as string] = {
      name: cell.name ?? '',
      alias: orNull(cell.alias),
      position: orNull(cell.position),
      mobile: orNull(cell.mobile),
      email: orNull(cell.email),
      telephone: orNull(cell.telephone),
      gender: cell.gender === '男' ? 'male' : cell.gender === '女' ? 'female' : null,
      address: orNull(cell.address),
      status: cell.status === '已禁用' ? 'disabled' : 'active',
      main: paths[0] ?? null,
      memberships: paths
        .map((p, i): [string, boolean] => [
          p,
          (leaders.length === 1 ? (i === 0 ? leaders[0] : '否') : leaders[i]) === '是',
        ])
        .sort(byPath),
      attributes,
    };
  }
  return view;
}

interface ExportedDirectory {
  departments: Array<{
    id: number;
    name: string;
    parentId: number | null;
    links: Array<{ source: string; externalId: string }>;
  }>;
  users: Array<{
    userid: string;
    name: string;
    alias: string | null;
    position: string | null;
    mobile: string | null;
    email: string | null;
    telephone: string | null;
    gender: string | null;
    address: string | null;
    status: string;
    mainDepartment: number | null;
    departments: Array<{ id: number; leader: boolean }>;
    attributes: Record<string, string>;
  }>;
}

/** The same view of `orgsync directory export --json`, through the links of `source`. */
export function viewOfDirectory(doc: ExportedDirectory, source: string): OrgView {
  const pathOf = new Map<number, string>();
  for (const d of doc.departments) {
    const link = d.links.find((l) => l.source === source);
    if (link) pathOf.set(d.id, link.externalId);
  }
  const view: OrgView = { departments: {}, people: {} };
  for (const d of doc.departments) {
    const path = pathOf.get(d.id);
    if (path === undefined) continue;
    view.departments[path] = { name: d.name, parent: d.parentId === null ? null : (pathOf.get(d.parentId) ?? null) };
  }
  for (const u of doc.users) {
    view.people[u.userid] = {
      name: u.name,
      alias: u.alias,
      position: u.position,
      mobile: u.mobile,
      email: u.email,
      telephone: u.telephone,
      gender: u.gender,
      address: u.address,
      status: u.status,
      main: u.mainDepartment === null ? null : (pathOf.get(u.mainDepartment) ?? `#${u.mainDepartment}`),
      memberships: u.departments.map((m): [string, boolean] => [pathOf.get(m.id) ?? `#${m.id}`, m.leader]).sort(byPath),
      attributes: u.attributes,
    };
  }
  return view;
}
