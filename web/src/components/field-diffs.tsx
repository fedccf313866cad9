import { createContext, useContext } from 'react';
import type { FieldDiff } from '../api-types';
import { useI18n } from '../i18n/i18n';
import { formatValue } from './common';

/** Resolves a local department id to its name where the page knows the tree (组织架构); elsewhere ids show as #id. */
export const DepartmentNames = createContext<(id: number) => string | undefined>(() => undefined);

interface MembershipValue {
  department: number | string;
  leader?: boolean;
  order?: number;
}

function isMemberships(v: unknown): v is MembershipValue[] {
  return Array.isArray(v) && v.length > 0 && v.every((m) => m !== null && typeof m === 'object' && 'department' in m);
}

function Value({ field, value }: { field: string; value: unknown }) {
  const { t, tx } = useI18n();
  const nameOf = useContext(DepartmentNames);
  const empty = t('common.empty');
  if (field === 'status' && typeof value === 'string') return <>{tx('org.status', value)}</>;
  if ((field === 'parent' || field === 'mainDepartment') && typeof value === 'number')
    return <>{nameOf(value) ?? `#${value}`}</>;
  if (isMemberships(value)) {
    return (
      <>
        {value.map((m, i) => {
          const id = Number(m.department);
          return (
            <span key={i} className="membership-value">
              {nameOf(id) ?? `#${m.department}`}
              {m.leader ? <span className="badge badge-leader">{t('org.leader')}</span> : null}
            </span>
          );
        })}
      </>
    );
  }
  return <>{formatValue(value, empty)}</>;
}

const isEmpty = (v: unknown) => v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);

/** Each changed field: before → after. */
export function FieldDiffs({
  fields,
  labelOf,
}: {
  fields: Record<string, FieldDiff>;
  labelOf?: (field: string) => string;
}) {
  const entries = Object.entries(fields ?? {});
  if (entries.length === 0) return null;
  return (
    <table className="diff" data-testid="field-diffs">
      <colgroup>
        <col className="diff-col-field" />
        <col />
        <col className="diff-col-arrow" />
        <col />
      </colgroup>
      <tbody>
        {entries.map(([field, d]) => (
          <tr key={field}>
            <th scope="row">{labelOf ? labelOf(field) : field}</th>
            <td className={`diff-before${isEmpty(d.before) ? ' muted' : ''}`}>
              <Value field={field} value={d.before} />
            </td>
            <td className="diff-arrow" aria-hidden="true">
              →
            </td>
            <td className={`diff-after${isEmpty(d.after) ? ' muted' : ''}`}>
              <Value field={field} value={d.after} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
