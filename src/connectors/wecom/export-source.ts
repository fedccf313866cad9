import path from 'node:path';
import type { ValidationIssue } from '../../errors.js';
import { ValidationError } from '../../errors.js';
import type { PlatformLimits } from '../../directory/limits.js';
import { userIdKey } from '../../directory/limits.js';
import type { Snapshot, SnapshotDepartment, SnapshotUser, UnseenField } from '../../directory/snapshot.js';
import { validateSnapshot } from '../../directory/snapshot.js';
import type { ExportReadOptions, PullContext, SourceConnector, SourceWarning } from '../contract.js';
import { csvSheets } from '../common/files/csv-sheet.js';
import { MojibakeRepairs } from '../common/files/mojibake.js';
import { openTable, type Sheet, type SheetRow, type Table } from '../common/files/table.js';
import { xlsxSheets } from '../common/files/xlsx.js';
import {
  ATTRIBUTE_FIELDS,
  EXPORT_HEADER,
  HEADERS,
  mapColumns,
  type ColumnMap,
  type ExportField,
} from './export-columns.js';
import {
  alignedValues,
  DEPARTMENT_ID,
  parseFlag,
  parseGender,
  parseStatus,
  splitList,
  splitPath,
} from './export-values.js';
import { WECOM_LIMITS } from './limits.js';

/** At most this many problems are reported at once; the rest are counted. */
const MAX_ISSUES = 100;

/** The profile fields the export has a column for; a column missing from the file is a field the file cannot see. */
const PROFILE_COLUMNS = [
  ['alias', 'alias'],
  ['position', 'position'],
  ['mobile', 'mobile'],
  ['email', 'email'],
  ['telephone', 'telephone'],
  ['gender', 'gender'],
  ['address', 'address'],
] as const satisfies ReadonlyArray<readonly [ExportField, UnseenField]>;

/** A line break in a one-line field (Alt+Enter in Excel) is read as a space; custom attributes keep theirs. */
function oneLine(v: string): string {
  return v.includes('\n') || v.includes('\r') || v.includes('\t') ? v.replace(/\s*[\r\n\t]+\s*/g, ' ') : v;
}

interface Located {
  issue: ValidationIssue;
  /** The row it is on, for the order issues are listed in; -1 for the file as a whole. */
  row: number;
}

/**
 * WeCom's contacts export as a source (an .xlsx, or a CSV of it): a person per row, departments as paths
 * (`公司/部门A/子部门`, their externalIds; the first is the main department). Everything is checked before anything is
 * taken, every problem named by sheet, Excel row and column, up to MAX_ISSUES at once.
 */
export class WecomExportSource implements SourceConnector {
  readonly kind = 'wecom-export';
  readonly limits: PlatformLimits = WECOM_LIMITS;
  private readonly name: string;
  private readonly repairs = new MojibakeRepairs();
  private readonly noted: SourceWarning[] = [];
  private facts: Record<string, unknown> = {};

  constructor(
    private readonly file: string,
    private readonly options: ExportReadOptions,
  ) {
    this.name = path.basename(file);
  }

  readonly stats = (): Record<string, unknown> => this.facts;

  readonly warnings = (): SourceWarning[] => {
    const mojibake = this.repairs.warning();
    return mojibake ? [mojibake, ...this.noted] : [...this.noted];
  };

  async pull(ctx: PullContext): Promise<Snapshot> {
    ctx.onProgress?.({ phase: 'reading file', done: 0 });
    let encoding: string | undefined;
    let sheets: AsyncIterable<Sheet>;
    if (this.options.content === 'csv') {
      const csv = await csvSheets(this.file, this.options.encoding ?? 'auto', this.name);
      encoding = csv.encoding;
      sheets = csv.sheets;
    } else {
      sheets = xlsxSheets(this.file, this.name);
    }
    const table = await openTable(sheets, {
      range: {
        ...(this.options.sheet !== undefined ? { sheet: this.options.sheet } : {}),
        ...(this.options.startRow !== undefined ? { startRow: this.options.startRow } : {}),
        ...(this.options.endRow !== undefined ? { endRow: this.options.endRow } : {}),
      },
      header: EXPORT_HEADER,
      repairs: this.repairs,
      file: this.name,
      csv: this.options.content === 'csv',
    });
    const reader = new RowReader(this.name, table, mapColumns(table.header.cells), this.limits);
    let read = 0;
    for await (const row of table.rows) {
      reader.add(row);
      if (++read % 5000 === 0) ctx.onProgress?.({ phase: 'reading file', done: read });
    }
    this.facts = {
      file: this.name,
      content: this.options.content,
      ...(encoding ? { encoding } : {}),
      ...(this.options.content === 'xlsx' ? { sheet: table.sheet } : {}),
      headerRow: table.header.index + 1,
      rows: read,
    };
    const { snapshot, warnings } = reader.finish();
    this.noted.push(...warnings);
    return snapshot;
  }
}

/** Turns rows into the snapshot, collecting every problem with where it is. */
class RowReader {
  private readonly departments = new Map<string, SnapshotDepartment>();
  /** The first row naming each department, where its problems are reported. */
  private readonly departmentRows = new Map<string, number>();
  private readonly users: SnapshotUser[] = [];
  private readonly userRows: number[] = [];
  private readonly accounts = new Map<string, number>();
  private readonly issues: Located[] = [];
  /** Each department as a cell writes it → its id, once its path is known to be good. */
  private readonly paths = new Map<string, string>();
  /** Rows whose departments are given by id (the batch CSV), not by path. */
  private departmentIdRows = 0;

  constructor(
    private readonly file: string,
    private readonly table: Table,
    private readonly columns: ColumnMap,
    private readonly limits: PlatformLimits,
  ) {}

  private column(field: ExportField): string {
    return this.columns.fields.get(field)?.header ?? HEADERS[field][0] ?? field;
  }

  private fileIssue(field: string, message: string, hint: string): void {
    this.issues.push({ row: -1, issue: { path: this.table.locate(this.table.header.index), field, message, hint } });
  }

  private rowIssue(
    row: number,
    object: string | undefined,
    field: ExportField | string,
    message: string,
    hint: string,
  ): void {
    const column = field in HEADERS ? this.column(field as ExportField) : field;
    this.issues.push({
      row,
      issue: { path: this.table.locate(row), ...(object ? { object } : {}), field: column, message, hint },
    });
  }

  add(row: SheetRow): void {
    const cell = (field: ExportField): string | undefined => {
      const c = this.columns.fields.get(field);
      return c === undefined ? undefined : (row.cells[c.index] ?? '');
    };
    const account = cell('account') ?? '';
    if (account === '') {
      this.rowIssue(
        row.index,
        undefined,
        'account',
        'the account is empty',
        "Fill in the member's account (账号, their WeCom userid).",
      );
      return;
    }
    const object = `user "${account}"`;
    const earlier = this.accounts.get(userIdKey(account));
    if (earlier !== undefined) {
      this.rowIssue(
        row.index,
        object,
        'account',
        `the account "${account}" is already on row ${earlier + 1} (accounts are unique ignoring case)`,
        'List each member once: several departments go in one cell, separated by ";".',
      );
      return;
    }
    this.accounts.set(userIdKey(account), row.index);

    const user: SnapshotUser = { externalId: account, name: oneLine(cell('name') ?? '') };
    for (const [field, target] of PROFILE_COLUMNS) {
      const v = cell(field);
      if (v === undefined) continue;
      if (target === 'gender') {
        const g = parseGender(v);
        if ('problem' in g) this.rowIssue(row.index, object, field, g.problem, `Write ${g.accepted}.`);
        else user.gender = g.value;
      } else {
        user[target] = v === '' ? null : oneLine(v);
      }
    }
    for (const field of ['status', 'disabled'] as const) {
      const v = cell(field);
      if (v === undefined) continue;
      const s = parseStatus(v, field);
      if ('problem' in s) this.rowIssue(row.index, object, field, s.problem, `Write ${s.accepted}.`);
      else if (s.value !== undefined && user.status !== 'disabled') user.status = s.value;
    }
    this.addMemberships(row, user, object, cell);

    const attributes: Record<string, string | null> = {};
    for (const [field, name] of Object.entries(ATTRIBUTE_FIELDS) as Array<[ExportField, string]>) {
      const v = cell(field);
      if (v !== undefined) attributes[name] = v === '' ? null : v;
    }
    for (const a of this.columns.attributes) {
      const v = row.cells[a.index] ?? '';
      attributes[a.name] = v === '' ? null : v;
    }
    if (Object.keys(attributes).length > 0) user.attributes = attributes;
    this.users.push(user);
    this.userRows.push(row.index);
  }

  private addMemberships(
    row: SheetRow,
    user: SnapshotUser,
    object: string,
    cell: (field: ExportField) => string | undefined,
  ): void {
    const departmentsCell = cell('departments');
    if (departmentsCell === undefined) return;
    const ids: string[] = [];
    const values = splitList(departmentsCell);
    if (values.some((v) => DEPARTMENT_ID.test(v))) this.departmentIdRows++;
    for (const value of values) {
      const id = this.department(value, row.index, object);
      if (id !== null) ids.push(id);
    }
    const leaders = alignedValues(cell('leader') ?? '', ids.length, parseFlag);
    if ('problem' in leaders) {
      this.rowIssue(
        row.index,
        object,
        'leader',
        leaders.problem,
        'Write 是 or 否 once (for the main department) or once per department, separated by ";".',
      );
    }
    const orders = alignedValues(cell('order') ?? '', ids.length, (v) => {
      const n = Number(v);
      return /^\d+$/.test(v) && n < 2 ** 32 ? n : null;
    });
    if ('problem' in orders) {
      this.rowIssue(
        row.index,
        object,
        'order',
        orders.problem,
        'Write whole numbers from 0, once per department, separated by ";".',
      );
    }
    const seen = new Set<string>();
    user.departments = [];
    ids.forEach((externalId, i) => {
      if (seen.has(externalId)) return;
      seen.add(externalId);
      const leader = 'values' in leaders ? leaders.values[i] : undefined;
      const order = 'values' in orders ? orders.values[i] : undefined;
      user.departments?.push({
        externalId,
        ...(leader !== undefined ? { leader } : {}),
        ...(order !== undefined ? { order } : {}),
      });
    });
    user.mainDepartment = ids[0] ?? null;
  }

  /** The department a cell names, registered with its ancestors; null when the path is not one. */
  private department(value: string, row: number, object: string): string | null {
    if (value === '') {
      this.rowIssue(row, object, 'departments', 'a department between two ";" is empty', 'Remove the extra ";".');
      return null;
    }
    if (DEPARTMENT_ID.test(value)) {
      if (!this.departments.has(value)) {
        this.departments.set(value, { externalId: value, parentExternalId: null });
        this.departmentRows.set(value, row);
      }
      return value;
    }
    const known = this.paths.get(value);
    if (known !== undefined) return known;
    const names = splitPath(value);
    if (names.some((n) => n === '')) {
      this.rowIssue(
        row,
        object,
        'departments',
        `the path "${value}" has an empty part`,
        'Write the path from the company down, one "/" between names: 公司/部门A/子部门.',
      );
      return null;
    }
    const max = this.limits.maxDepth;
    if (max !== null && names.length > max) {
      this.rowIssue(
        row,
        object,
        'departments',
        `the path "${value}" is ${names.length} levels deep; WeCom allows at most ${max}`,
        `Move the department up so its path has at most ${max} names (the company counts as the first).`,
      );
      return null;
    }
    let parent: string | null = null;
    for (let i = 0; i < names.length; i++) {
      const id = names.slice(0, i + 1).join('/');
      if (!this.departments.has(id)) {
        this.departments.set(id, { externalId: id, parentExternalId: parent, name: names[i] as string });
        this.departmentRows.set(id, row);
      }
      parent = id;
    }
    if (parent !== null) this.paths.set(value, parent);
    return parent;
  }

  finish(): { snapshot: Snapshot; warnings: SourceWarning[] } {
    const unseen: UnseenField[] = ['avatar', 'employeeNo'];
    for (const [field, target] of PROFILE_COLUMNS) if (!this.columns.fields.has(field)) unseen.push(target);
    const snapshot: Snapshot = {
      complete: true,
      incompleteDepartments: [],
      unseenFields: unseen,
      departments: [...this.departments.values()],
      users: this.users,
    };
    if (this.issues.length === 0 && this.users.length === 0) {
      this.fileIssue(
        '(rows)',
        'there are no members below the header',
        'Check --start-row and --end-row, or that the export holds members.',
      );
    }
    for (const issue of validateSnapshot(snapshot, this.limits)) this.issues.push(this.locate(issue, snapshot));
    if (this.issues.length > 0) {
      const sorted = this.issues.sort((a, b) => a.row - b.row).map((l) => l.issue);
      const listed = sorted.slice(0, sorted.length > MAX_ISSUES ? MAX_ISSUES - 1 : MAX_ISSUES);
      if (sorted.length > MAX_ISSUES) {
        listed.push({
          path: this.table.locate(this.table.header.index),
          field: '(more)',
          message: `${sorted.length - listed.length} more problem(s) are not listed`,
          hint: 'Fix those listed and import again to see the rest.',
        });
      }
      throw new ValidationError(this.file, listed);
    }
    const warnings: SourceWarning[] = [];
    if (this.departmentIdRows > 0) {
      warnings.push({
        code: 'DEPARTMENT_IDS',
        message: `the ${this.column('departments')} column holds department ids, not paths: those departments were taken as top departments named by their id`,
        rows: this.departmentIdRows,
      });
    }
    if (this.columns.repeated.length > 0) {
      warnings.push({
        code: 'COLUMN_REPEATED',
        message: `column(s) ${this.columns.repeated.map((c) => `"${c}"`).join(', ')} repeat a field an earlier column gives; only the first was read`,
      });
    }
    return { snapshot, warnings };
  }

  /** A problem the snapshot's validation found, moved to the row and column it comes from. */
  private locate(issue: ValidationIssue, snapshot: Snapshot): Located {
    const user = /^users\[(\d+)\]/.exec(issue.path);
    const department = /^departments\[(\d+)\]/.exec(issue.path);
    if (user) {
      const row = this.userRows[Number(user[1])] ?? -1;
      return { row, issue: { ...issue, path: this.table.locate(row), field: this.userColumn(issue.field) } };
    }
    if (department) {
      const id = snapshot.departments[Number(department[1])]?.externalId ?? '';
      const row = this.departmentRows.get(id) ?? -1;
      return {
        row,
        issue: {
          ...issue,
          path: this.table.locate(row),
          object: `department "${id}"`,
          field: this.column('departments'),
        },
      };
    }
    return { row: -1, issue: { ...issue, path: this.table.locate(this.table.header.index) } };
  }

  private userColumn(field: string): string {
    switch (field) {
      case 'externalId':
      case 'userid':
        return this.column('account');
      case 'mainDepartment':
      case 'departments':
        return this.column('departments');
      case 'attributes':
        return '(header)';
      default:
        return field in HEADERS ? this.column(field as ExportField) : field;
    }
  }
}
