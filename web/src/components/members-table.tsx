import { useEffect, useState } from 'react';
import { useApi } from '../api-context';
import type { Member } from '../api-types';
import { useI18n } from '../i18n/i18n';
import { ErrorBox } from './common';

const PAGE_SIZE = 50;

interface Props {
  departmentId: number;
  departmentName: string;
  /** Bumped to reload the current page (after a sync). */
  refreshKey: number;
  onOpenUser: (id: number) => void;
}

/**
 * The direct members of a department: searched on the server, paged by its cursors (kept for "previous").
 * Mounted per department (keyed by its id), so a new department starts on page 1 with an empty search.
 */
export function MembersTable({ departmentId, departmentName, refreshKey, onOpenUser }: Props) {
  const { t, tx, formatNumber } = useI18n();
  const api = useApi();
  const [typed, setTyped] = useState('');
  const [query, setQuery] = useState('');
  // cursors[i] opens page i; page 0 has none
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState(0);
  const [data, setData] = useState<{ items: Member[]; nextCursor: string | null; total?: number } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const handle = window.setTimeout(() => {
      const q = typed.trim();
      if (q !== query) {
        setQuery(q);
        setCursors([null]);
        setPage(0);
      }
    }, 250);
    return () => window.clearTimeout(handle);
  }, [typed, query]);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    api.members(departmentId, { q: query, cursor: cursors[page] ?? null, limit: PAGE_SIZE }).then(
      (r) => {
        if (!live) return;
        setData(r);
        setLoading(false);
      },
      (err) => {
        if (!live) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // cursors change only together with page, which is a dependency
  }, [api, departmentId, query, page, refreshKey]);

  const next = () => {
    if (!data?.nextCursor) return;
    setCursors((c) => [...c.slice(0, page + 1), data.nextCursor]);
    setPage((p) => p + 1);
  };

  const items = data?.items ?? [];
  return (
    <section className="members" data-testid="members">
      <div className="members-head">
        <h2 className="members-title" data-testid="members-title">
          {t('org.membersOf', { name: departmentName })}
        </h2>
        <span className="muted small">{t('org.directMembers')}</span>
        <span className="spacer" />
        <input
          type="search"
          className="search"
          placeholder={t('org.searchMembers')}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          data-testid="member-search"
          aria-label={t('org.searchMembers')}
        />
      </div>
      <ErrorBox error={error} />
      <div className={`table-wrap${loading ? ' loading' : ''}`}>
        <table className="table" data-testid="members-table">
          <thead>
            <tr>
              <th>{t('org.col.name')}</th>
              <th>{t('org.col.userid')}</th>
              <th>{t('org.col.position')}</th>
              <th>{t('org.col.mobile')}</th>
              <th>{t('org.col.email')}</th>
              <th>{t('org.col.status')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((m) => (
              <tr
                key={m.id}
                className="clickable"
                onClick={() => onOpenUser(m.id)}
                data-testid="member-row"
                data-userid={m.userid ?? ''}
              >
                <td>
                  <button
                    type="button"
                    className="link-button"
                    onClick={(e) => {
                      e.stopPropagation();
                      onOpenUser(m.id);
                    }}
                  >
                    {m.name ?? m.userid ?? `#${m.id}`}
                  </button>
                  {m.leader && <span className="badge badge-leader">{t('org.leader')}</span>}
                </td>
                <td className="mono">{m.userid}</td>
                <td>{m.position ?? ''}</td>
                <td className="mono">{m.mobile ?? ''}</td>
                <td>{m.email ?? ''}</td>
                <td>
                  <span className={`dot dot-${m.status}`} />
                  {tx('org.status', m.status)}
                </td>
              </tr>
            ))}
            {!loading && data && items.length === 0 && (
              <tr>
                <td colSpan={6} className="empty">
                  {query ? t('org.noMatch') : t('org.noMembers')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="pager">
        {data?.total !== undefined && (
          <span className="muted" data-testid="member-total">
            {t('org.memberTotal', { total: formatNumber(data.total) })}
          </span>
        )}
        <span className="spacer" />
        <button
          type="button"
          className="btn btn-small"
          disabled={page === 0 || loading}
          onClick={() => setPage((p) => Math.max(0, p - 1))}
          data-testid="members-prev"
        >
          {t('org.prev')}
        </button>
        <span className="muted small">{t('org.page', { page: page + 1 })}</span>
        <button
          type="button"
          className="btn btn-small"
          disabled={!data?.nextCursor || loading}
          onClick={next}
          data-testid="members-next"
        >
          {t('org.next')}
        </button>
      </div>
    </section>
  );
}
