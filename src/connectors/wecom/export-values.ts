import type { Gender, UserStatus } from '../../directory/model.js';

/**
 * The export's cell values as the model takes them. Each parser returns the value, or a problem in words with the
 * values it accepts (for the error's fix).
 */

export type Parsed<T> = { value: T } | { problem: string; accepted: string };

const key = (v: string): string => v.trim().toLowerCase();

const GENDERS: ReadonlyMap<string, Gender | null> = new Map([
  ['男', 'male'],
  ['male', 'male'],
  ['m', 'male'],
  ['1', 'male'],
  ['女', 'female'],
  ['female', 'female'],
  ['f', 'female'],
  ['2', 'female'],
  ['', null],
  ['0', null],
  ['未知', null],
  ['未定义', null],
  ['保密', null],
]);

export function parseGender(v: string): Parsed<Gender | null> {
  const g = GENDERS.get(key(v));
  return g === undefined ? { problem: `"${v}" is not a gender`, accepted: '男 or 女 (or empty)' } : { value: g };
}

const ACTIVE = ['已激活', '激活', '未激活', '启用', '已启用', '正常', '未禁用', '在职', 'active', 'enabled'];
const DISABLED = ['已禁用', '禁用', '停用', '已停用', '已退出', '离职', 'disabled', 'inactive'];
const YES = ['是', 'y', 'yes', 'true', '1', '√'];
const NO = ['否', 'n', 'no', 'false', '0'];

/**
 * 激活状态 / 状态: 未激活 (invited, not yet signed in to WeCom) is an active member; so are WeCom's status codes 1 and
 * 4, while 2 (disabled) and 5 (left) are not. 禁用状态 / 禁用: yes/1 means disabled. Empty: not said (active).
 */
export function parseStatus(v: string, column: 'status' | 'disabled'): Parsed<UserStatus | undefined> {
  const k = key(v);
  if (k === '') return { value: undefined };
  if (ACTIVE.includes(k)) return { value: 'active' };
  if (DISABLED.includes(k)) return { value: 'disabled' };
  if (column === 'status') {
    if (k === '1' || k === '4') return { value: 'active' };
    if (k === '2' || k === '5') return { value: 'disabled' };
  } else {
    if (YES.includes(k)) return { value: 'disabled' };
    if (NO.includes(k)) return { value: 'active' };
  }
  return {
    problem: `"${v}" is not a status`,
    accepted:
      column === 'status' ? '已激活, 未激活 or 已禁用 (or 启用 / 禁用)' : '启用 or 禁用, 是 or 否, 1 (disabled) or 0',
  };
}

/** 是/否, 1/0, Y/N, true/false; empty is 否. */
export function parseFlag(v: string): boolean | null {
  const k = key(v);
  if (k === '' || NO.includes(k)) return false;
  if (YES.includes(k)) return true;
  return null;
}

/** A cell's list: `;` or `；` between the values, each trimmed. */
export function splitList(v: string): string[] {
  return v === '' ? [] : v.split(/[;；]/).map((s) => s.trim());
}

/**
 * A department path `公司/部门A/子部门`, split into its names. WeCom allows "/" in a department's name and the export
 * does not escape it; a "/" with a space on either side (`R&D / 平台`) is taken as part of a name, since the export
 * writes the path's own separators without spaces.
 */
export function splitPath(v: string): string[] {
  return v.split(/(?<!\s)\/(?!\s)/).map((s) => s.trim());
}

/** The batch CSV's 所在部门 holds department ids where the export holds paths. */
export const DEPARTMENT_ID = /^\d+$/;

/** One value per department, or one for the main department: what a 部门负责人 or 排序 cell may hold. */
export function alignedValues<T>(
  cell: string,
  departments: number,
  parse: (v: string) => T | null,
): { values: Array<T | undefined> } | { problem: string } {
  const parts = splitList(cell);
  if (parts.length > 1 && parts.length !== departments) {
    return { problem: `${parts.length} values for ${departments} department(s)` };
  }
  const values: Array<T | undefined> = [];
  for (let i = 0; i < departments; i++) {
    const part = parts.length === 1 ? (i === 0 ? parts[0] : undefined) : parts[i];
    if (part === undefined) {
      values.push(undefined);
      continue;
    }
    const parsed = parse(part);
    if (parsed === null) return { problem: `"${part}" is not a value this column takes` };
    values.push(parsed);
  }
  return { values };
}
