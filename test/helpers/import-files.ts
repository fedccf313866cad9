import { writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import path from 'node:path';
import type { SourceConnector } from '../../src/connectors/contract.js';
import { JsonSnapshotSource } from '../../src/connectors/json-snapshot/source.js';
import { wecom } from '../../src/connectors/wecom/index.js';
import type { DirectoryExport } from '../../src/directory/export.js';
import { writeCsv, writeXlsx, type PyCell, type PyEncoding } from './export-files.js';

/**
 * An org as an admin console's export describes it, in no file format yet: departments are paths from the company
 * down, people are rows with an account. Each ImportFormat writes it as one kind of file and reads it back through its
 * connector, so the template and enrichment tests run unchanged for every format an import reads.
 */

export interface FileOrg {
  /** Paths such as 公司/研发/平台, parents before children. */
  departments: string[];
  people: FilePerson[];
}

export interface FilePerson {
  account: string;
  name: string;
  mobile?: string;
  email?: string;
  gender?: 'male' | 'female';
  address?: string;
  telephone?: string;
  /** Paths; the first is the main department. */
  departments: string[];
  attributes?: Record<string, string>;
}

export interface ImportFormat {
  name: string;
  /** Writes the org as a file of this format in `dir`; returns its path. */
  write(org: FileOrg, dir: string, name: string): string;
  connector(file: string): SourceConnector;
  /** The file's text went through a wrong conversion, which the reader repairs and reports. */
  mojibake?: true;
}

const parentOf = (p: string): string | null => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : null);

/** A JSON snapshot whose department ids are the paths and whose user ids are the accounts. */
export const jsonSnapshotFormat: ImportFormat = {
  name: 'JSON snapshot',
  write(org, dir, name) {
    const doc = {
      departments: org.departments.map((p) => ({
        externalId: p,
        parentExternalId: parentOf(p),
        name: p.slice(p.lastIndexOf('/') + 1),
      })),
      users: org.people.map((u) => ({
        externalId: u.account,
        name: u.name,
        ...(u.mobile !== undefined ? { mobile: u.mobile } : {}),
        ...(u.email !== undefined ? { email: u.email } : {}),
        ...(u.gender !== undefined ? { gender: u.gender } : {}),
        ...(u.address !== undefined ? { address: u.address } : {}),
        ...(u.telephone !== undefined ? { telephone: u.telephone } : {}),
        departments: u.departments.map((d) => ({ externalId: d })),
        ...(u.departments[0] !== undefined ? { mainDepartment: u.departments[0] } : {}),
        ...(u.attributes ? { attributes: u.attributes } : {}),
      })),
    };
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  },
  connector: (file) => new JsonSnapshotSource(file),
};

/** The org as the admin console's export lays it out: a header row of the columns the people use, a row per person. */
function exportRows(org: FileOrg): PyCell[][] {
  const attributes = [...new Set(org.people.flatMap((u) => Object.keys(u.attributes ?? {})))];
  const header = ['姓名', '账号', '部门', '性别', '手机', '座机', '邮箱', '地址', ...attributes];
  const gender = { male: '男', female: '女' } as const;
  return [
    header,
    ...org.people.map((u) => [
      u.name,
      u.account,
      u.departments.join(';'),
      u.gender ? gender[u.gender] : '',
      u.mobile ?? '',
      u.telephone ?? '',
      u.email ?? '',
      u.address ?? '',
      ...attributes.map((a) => u.attributes?.[a] ?? ''),
    ]),
  ];
}

function exportConnector(file: string, content: 'xlsx' | 'csv'): SourceConnector {
  const reader = wecom.exportReader;
  if (!reader) throw new Error('WeCom has no export reader');
  return reader.source(file, { content });
}

/** An .xlsx written by openpyxl (Python), with a title row before the header as the console's export has. */
export const xlsxExportFormat: ImportFormat = {
  name: 'WeCom export xlsx',
  write(org, dir, name) {
    const rows = exportRows(org);
    return writeXlsx(path.join(dir, `${name}.xlsx`), [{ name: '成员', rows: [['通讯录导出'], ...rows] }]);
  },
  connector: (file) => exportConnector(file, 'xlsx'),
};

/** A CSV of the export written by Python's csv module in the given encoding. */
function csvExportFormat(name: string, encoding: PyEncoding, mojibake = false): ImportFormat {
  return {
    name,
    write(org, dir, file) {
      return writeCsv(path.join(dir, `${file}.csv`), exportRows(org), { encoding, mojibake });
    },
    connector: (file) => exportConnector(file, 'csv'),
  };
}

/** A CSV whose text went through a wrong conversion: UTF-8 bytes read as Windows-1252, saved as UTF-8. */
const mojibakeCsvFormat: ImportFormat = {
  ...csvExportFormat('WeCom export csv, mojibake', 'utf8', true),
  mojibake: true,
};

/** `text` as a wrong conversion leaves it: its UTF-8 bytes read as Windows-1252 (as export-files.py garbles it). */
export const garbled = (text: string): string => new TextDecoder('windows-1252').decode(Buffer.from(text, 'utf8'));

/** The warnings a run over a file of `format` with `rows` people reports: the repair of its header and cells. */
export function expectedWarnings(format: ImportFormat, rows: number): unknown[] {
  return format.mojibake
    ? [
        {
          code: 'MOJIBAKE_REPAIRED',
          message: expect.stringContaining('mojibake'),
          rows,
          example: { before: garbled('姓名'), after: '姓名' },
        },
      ]
    : [];
}

/** Every format the import tests run for. */
export const IMPORT_FORMATS: readonly ImportFormat[] = [
  jsonSnapshotFormat,
  xlsxExportFormat,
  csvExportFormat('WeCom export csv, GB18030', 'gb18030'),
  csvExportFormat('WeCom export csv, UTF-8 BOM', 'utf8-bom'),
  mojibakeCsvFormat,
];

const DEPARTMENTS = [
  '公司',
  '公司/研发',
  '公司/研发/平台',
  '公司/研发/应用',
  '公司/市场',
  '公司/市场/华东',
  '公司/市场/华南',
  '公司/销售',
  '公司/财务',
  '公司/人事',
];

/** `people` people over ten departments, the same every time: p000, p001, … each with a mobile and an email. */
export function fileOrg(people: number): FileOrg {
  return {
    departments: [...DEPARTMENTS],
    people: Array.from({ length: people }, (_, i) => {
      const account = `p${String(i).padStart(3, '0')}`;
      const home = DEPARTMENTS[1 + (i % (DEPARTMENTS.length - 1))] as string;
      return {
        account,
        name: `员工${account}`,
        mobile: `+86 138${String(10_000_000 + i)}`,
        email: `${account}@example.com`,
        departments: i % 7 === 0 ? [home, '公司'] : [home],
      };
    }),
  };
}

/** What the directory holds of a file's people (linked to `source`), in the file's terms, to compare with the file. */
export function peopleOf(doc: DirectoryExport, source: string) {
  const paths = new Map<number, string>();
  for (const d of doc.departments) {
    const link = d.links.find((l) => l.source === source);
    if (link) paths.set(d.id, link.externalId);
  }
  return doc.users
    .flatMap((u) => {
      const link = u.links.find((l) => l.source === source);
      if (!link) return [];
      return [
        {
          account: link.externalId,
          name: u.name,
          status: u.status,
          mobile: u.mobile,
          email: u.email,
          departments: u.departments.map((m) => paths.get(m.id)).sort(),
        },
      ];
    })
    .sort((a, b) => (a.account < b.account ? -1 : 1));
}
