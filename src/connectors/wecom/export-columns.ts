import type { HeaderRule } from '../common/files/table.js';

/**
 * The columns of WeCom's contacts export (通讯录 → 批量导入/导出 → 导出通讯录) and of the API's batch CSV, mapped by
 * header name, never by position: the file's layout is not documented (API reference §8, §13) and differs between
 * the console's template, its export and the batch CSV. Any other column is one of the corp's own fields, kept as a
 * custom attribute under its header.
 */
export type ExportField =
  | 'name'
  | 'account'
  | 'alias'
  | 'position'
  | 'departments'
  | 'gender'
  | 'mobile'
  | 'telephone'
  | 'email'
  | 'bizMail'
  | 'address'
  | 'directLeader'
  | 'leader'
  | 'status'
  | 'disabled'
  | 'order';

/** Each field's header names; the first is how the docs and messages name the column. */
export const HEADERS: Readonly<Record<ExportField, readonly string[]>> = {
  name: ['姓名'],
  account: ['账号', '帐号', 'UserID', '英文ID'],
  alias: ['别名'],
  position: ['职务', '职位'],
  departments: ['部门', '所在部门'],
  gender: ['性别'],
  mobile: ['手机', '手机号'],
  telephone: ['座机', '电话'],
  email: ['邮箱', '个人邮箱'],
  bizMail: ['企业邮箱'],
  address: ['地址'],
  directLeader: ['直属上级'],
  leader: ['部门负责人', '是否部门内领导'],
  status: ['激活状态', '状态'],
  // The batch CSV's 禁用 holds 0 (enabled) or 1 (disabled).
  disabled: ['禁用状态', '禁用'],
  order: ['排序'],
};

/** Fields the local model has no place for, kept as custom attributes under these names. */
export const ATTRIBUTE_FIELDS: Partial<Record<ExportField, string>> = { bizMail: '企业邮箱', directLeader: '直属上级' };

/** A column that only explains the others (the batch CSV's last header), not a field of anyone. */
const NOTE = /^禁用项说明/;

/**
 * A header as it is compared: trimmed, without the marks templates put on required or explained columns
 * (`*姓名`, `姓名*`, `部门（多个用;隔开）`), ASCII in lower case.
 */
export function headerKey(header: string): string {
  return header
    .trim()
    .replace(/^\*+|\*+$/g, '')
    .replace(/\s*[(（][^()（）]*[)）]\s*$/, '')
    .trim()
    .toLowerCase();
}

const FIELD_BY_KEY: ReadonlyMap<string, ExportField> = new Map(
  (Object.entries(HEADERS) as Array<[ExportField, readonly string[]]>).flatMap(([field, names]) =>
    names.map((n) => [headerKey(n), field] as const),
  ),
);

/** Where each field is in the header row, and the columns kept as custom attributes. */
export interface ColumnMap {
  /** Field → its column index and the header as written. */
  fields: Map<ExportField, { index: number; header: string }>;
  attributes: Array<{ index: number; name: string }>;
  /** Columns whose field an earlier column already gave (the first one is read). */
  repeated: string[];
}

export function mapColumns(header: readonly string[]): ColumnMap {
  const fields = new Map<ExportField, { index: number; header: string }>();
  const attributes: Array<{ index: number; name: string }> = [];
  const repeated: string[] = [];
  header.forEach((text, index) => {
    const written = text.trim();
    if (written === '' || NOTE.test(written)) return;
    const field = FIELD_BY_KEY.get(headerKey(written));
    if (field === undefined) attributes.push({ index, name: written });
    else if (fields.has(field)) repeated.push(written);
    else fields.set(field, { index, header: written });
  });
  return { fields, attributes, repeated };
}

/** The header row of a member list: it names the person and the account. */
export const EXPORT_HEADER: HeaderRule = {
  recognises(cells) {
    let name = false;
    let account = false;
    for (const cell of cells) {
      const field = FIELD_BY_KEY.get(headerKey(cell));
      if (field === 'name') name = true;
      else if (field === 'account') account = true;
    }
    return name && account;
  },
  describe: '姓名 and 账号 (or 帐号, UserID, 英文ID)',
};
