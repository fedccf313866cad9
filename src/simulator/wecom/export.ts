import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CSV_ENCODINGS, csvFile } from '../common/csv-writer.js';
import { xlsxFile, type CellValue } from '../common/xlsx-writer.js';
import type { SimCorp } from './corp.js';
import type { WecomUser } from './model.js';

/**
 * The corp as the admin console exports it (通讯录 → 批量导入/导出 → 导出通讯录): a title row and an instruction
 * row, then the header and a member per row; departments as paths from the company down, several separated by ";"
 * with the main one first, the leader flags aligned with them; custom attributes as columns of their own. The
 * layout is what the API reference (§8, §13) reports, which is all that is known of the real file.
 */

export const EXPORT_SHEET = '成员';
export const EXPORT_HEADER = [
  '姓名',
  '账号',
  '别名',
  '职务',
  '部门',
  '性别',
  '手机',
  '座机',
  '个人邮箱',
  '企业邮箱',
  '地址',
  '直属上级',
  '部门负责人',
  '激活状态',
] as const;

const STATUS: Record<WecomUser['status'], string> = { 1: '已激活', 2: '已禁用', 4: '未激活', 5: '已退出' };
const GENDER: Record<WecomUser['gender'], string> = { '0': '', '1': '男', '2': '女' };

/** The rows of the export: title, instructions, header, members (the corp as it is when called). */
export function exportRows(corp: SimCorp): Iterable<CellValue[]> {
  const users = [...corp.allUsers()].filter((u) => u.status !== 5);
  const paths = new Map<number, string>();
  const pathOf = (id: number): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const d = corp.department(id);
    if (!d) return String(id);
    const p = d.parentid === 0 ? d.name : `${pathOf(d.parentid)}/${d.name}`;
    paths.set(id, p);
    return p;
  };
  const company = corp.department(1)?.name ?? '';
  const attributes: string[] = [];
  for (const u of users) for (const a of u.extattr.attrs) if (!attributes.includes(a.name)) attributes.push(a.name);
  function* rows(): Generator<CellValue[]> {
    yield [`${company}通讯录`];
    yield [
      '填写说明：部门填写从企业开始的完整路径，以“/”分隔；多个部门以“;”分隔，第一个为主部门；部门负责人与部门一一对应。',
    ];
    yield [...EXPORT_HEADER, ...attributes];
    for (const u of users) {
      // The main department first, the leader flags in the same order.
      const main = Math.max(0, u.department.indexOf(u.main_department));
      const slots = [main, ...u.department.map((_, i) => i).filter((i) => i !== main)];
      const values = new Map(
        u.extattr.attrs.map((a) => [a.name, a.type === 1 ? (a.web?.url ?? '') : (a.text?.value ?? '')] as const),
      );
      yield [
        u.name,
        u.userid,
        u.alias,
        u.position,
        slots.map((i) => pathOf(u.department[i] as number)).join(';'),
        GENDER[u.gender],
        u.mobile,
        u.telephone,
        u.email,
        u.biz_mail,
        u.address,
        u.direct_leader.join(';'),
        slots.map((i) => (u.is_leader_in_dept[i] === 1 ? '是' : '否')).join(';'),
        STATUS[u.status],
        ...attributes.map((a) => values.get(a) ?? ''),
      ];
    }
  }
  return rows();
}

const querySchema = z.strictObject({
  format: z.enum(['xlsx', 'csv']).default('xlsx'),
  encoding: z.enum(CSV_ENCODINGS).default('utf8'),
});

/** `GET /__sim/export.xlsx[?format=csv&encoding=utf8|utf8-bom|gb18030]`: the export file, streamed. */
export function registerExport(app: FastifyInstance, sim: { readonly corp: SimCorp }): void {
  app.get('/__sim/export.xlsx', async (req, reply) => {
    const parsed = querySchema.safeParse(req.query);
    if (!parsed.success) {
      return reply.code(400).send({
        error: { message: 'expected ?format=xlsx|csv and, for csv, &encoding=utf8|utf8-bom|gb18030' },
      });
    }
    const { format, encoding } = parsed.data;
    const rows = exportRows(sim.corp);
    if (format === 'csv') {
      return reply
        .type(`text/csv; charset=${encoding === 'gb18030' ? 'gb18030' : 'utf-8'}`)
        .header('content-disposition', 'attachment; filename="contacts.csv"')
        .send(Readable.from(csvFile(rows, encoding)));
    }
    return reply
      .type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
      .header('content-disposition', 'attachment; filename="contacts.xlsx"')
      .send(Readable.from(xlsxFile([{ name: EXPORT_SHEET, rows }])));
  });
}
