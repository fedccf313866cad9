import { useCallback, useEffect, useState } from 'react';
import { useApi } from '../api-context';
import { RUN_KINDS, RUN_STATUSES, type DeadLetter, type RunListItem } from '../api-types';
import { CountsInline, durationBetween, ErrorBox, StatusChip, useDuration } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link, useRouter } from '../router';

const PAGE = 50;

export function RunsPage() {
  const { t, tx, formatTime } = useI18n();
  const api = useApi();
  const { search, navigate } = useRouter();
  const duration = useDuration();
  const filters = {
    source: search.get('source') ?? '',
    status: search.get('status') ?? '',
    kind: search.get('kind') ?? '',
  };
  const [items, setItems] = useState<RunListItem[] | null>(null);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [sources, setSources] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const filterKey = `${filters.source}|${filters.status}|${filters.kind}`;

  const load = useCallback(async () => {
    setError(null);
    try {
      const r = await api.runs({ ...filters, limit: PAGE });
      setItems(r.items);
      setNextCursor(r.nextCursor);
    } catch (err) {
      setError(err);
    }
    // filterKey stands for the filters, which are a new object on every render
  }, [api, filterKey]);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    api.connections().then(
      (cs) => setSources(cs.map((c) => c.name)),
      () => {},
    );
  }, [api]);

  // While a run on the first page is running, refresh the list so its status follows.
  const anyRunning = items?.some((r) => r.status === 'running') ?? false;
  useEffect(() => {
    if (!anyRunning) return;
    const timer = window.setInterval(() => {
      api.runs({ ...filters, limit: Math.max(PAGE, items?.length ?? 0) }).then(
        (r) => {
          setItems(r.items);
          setNextCursor(r.nextCursor);
        },
        () => {},
      );
    }, 2000);
    return () => window.clearInterval(timer);
  }, [anyRunning, api, filterKey]);

  const more = async () => {
    if (!nextCursor) return;
    setLoadingMore(true);
    try {
      const r = await api.runs({ ...filters, limit: PAGE, cursor: nextCursor });
      setItems((prev) => [...(prev ?? []), ...r.items]);
      setNextCursor(r.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingMore(false);
    }
  };

  const setFilter = (key: keyof typeof filters, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    const qs = next.toString();
    navigate(`/runs${qs ? `?${qs}` : ''}`, { replace: true });
  };

  const sourceOptions = Array.from(
    new Set([...sources, ...(items ?? []).map((r) => r.source), ...(filters.source ? [filters.source] : [])]),
  ).sort();

  return (
    <div className="page page-runs">
      <div className="page-head page-head-row">
        <h1>{t('runs.title')}</h1>
        <span className="spacer" />
        <div className="filters">
          <label>
            <span>{t('runs.filter.source')}</span>
            <select
              value={filters.source}
              onChange={(e) => setFilter('source', e.target.value)}
              data-testid="filter-source"
            >
              <option value="">{t('runs.filter.all')}</option>
              {sourceOptions.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>{t('runs.filter.status')}</span>
            <select
              value={filters.status}
              onChange={(e) => setFilter('status', e.target.value)}
              data-testid="filter-status"
            >
              <option value="">{t('runs.filter.all')}</option>
              {RUN_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {tx('status', s)}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>{t('runs.filter.kind')}</span>
            <select value={filters.kind} onChange={(e) => setFilter('kind', e.target.value)} data-testid="filter-kind">
              <option value="">{t('runs.filter.all')}</option>
              {RUN_KINDS.map((k) => (
                <option key={k} value={k}>
                  {tx('runs.kind', k)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <button type="button" className="btn" onClick={() => void load()}>
          {t('org.refresh')}
        </button>
      </div>
      <ErrorBox error={error} onRetry={load} />
      <DeadLetters connection={filters.source} onRetried={() => void load()} />
      <div className="panel">
        <table className="table" data-testid="runs-table">
          <thead>
            <tr>
              <th className="num">{t('runs.col.id')}</th>
              <th>{t('runs.col.kind')}</th>
              <th>{t('runs.col.source')}</th>
              <th>{t('runs.col.status')}</th>
              <th>{t('runs.col.started')}</th>
              <th className="num">{t('runs.col.duration')}</th>
              <th>{t('runs.col.changes')}</th>
            </tr>
          </thead>
          <tbody>
            {(items ?? []).map((r) => (
              <tr
                key={r.id}
                className="clickable"
                onClick={() => navigate(`/runs/${r.id}`)}
                data-testid="run-row"
                data-run-id={r.id}
                data-status={r.status}
              >
                <td className="num">
                  <Link to={`/runs/${r.id}`} onClick={(e) => e.stopPropagation()}>
                    #{r.id}
                  </Link>
                </td>
                <td>{tx('runs.kind', r.kind)}</td>
                <td>{r.source}</td>
                <td>
                  <StatusChip status={r.status} dryRun={r.dryRun} />
                </td>
                <td className="nowrap">{formatTime(r.startedAt ?? r.createdAt)}</td>
                <td className="num nowrap">
                  {duration(
                    durationBetween(r.startedAt, r.finishedAt ?? (r.status === 'running' ? null : r.startedAt)),
                  )}
                </td>
                <td>
                  <CountsInline counts={r.counts} />
                </td>
              </tr>
            ))}
            {items && items.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  {filters.source || filters.status || filters.kind ? t('runs.noMatch') : t('runs.empty')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
        {!items && !error && <div className="muted pad">{t('app.loading')}</div>}
        {nextCursor && (
          <div className="pager">
            <span className="spacer" />
            <button type="button" className="btn btn-small" onClick={more} disabled={loadingMore}>
              {t('runs.loadMore')}
            </button>
          </div>
        )}
      </div>
    </div>
  );
}

/**
 * Real time's dead letters (contact-change messages that failed too often), each with its last error and a 重试
 * action; shown only when there are some. A retry puts them back to pending and the server processes them at once.
 */
function DeadLetters({ connection, onRetried }: { connection: string; onRetried: () => void }) {
  const { t, formatTime } = useI18n();
  const api = useApi();
  const [items, setItems] = useState<DeadLetter[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setItems(await api.deadLetters(connection ? { connection } : {}));
    } catch (err) {
      setError(err);
    }
  }, [api, connection]);

  useEffect(() => {
    void load();
  }, [load]);

  const retry = async (body: { connection?: string; ids?: number[] }) => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.retryDeadLetters(body);
      setNotice(t('dead.retried', { count: r.retried }));
      await load();
      onRetried();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (items.length === 0 && !error && !notice) return null;
  return (
    <div className="panel" data-testid="dead-letters">
      <div className="page-head-row pad">
        <h2>{t('dead.title')}</h2>
        <span className="spacer" />
        {items.length > 0 && (
          <button
            type="button"
            className="btn btn-small"
            disabled={busy}
            onClick={() => void retry(connection ? { connection } : {})}
            data-testid="dead-retry-all"
          >
            {busy ? t('dead.retrying') : t('dead.retryAll')}
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      {notice && (
        <div className="alert alert-info" data-testid="dead-notice">
          {notice}
        </div>
      )}
      {items.length > 0 && (
        <>
          <p className="muted pad">{t('dead.help')}</p>
          <table className="table" data-testid="dead-table">
            <thead>
              <tr>
                <th className="num">{t('dead.col.id')}</th>
                <th>{t('dead.col.connection')}</th>
                <th>{t('dead.col.objects')}</th>
                <th>{t('dead.col.error')}</th>
                <th className="num">{t('dead.col.attempts')}</th>
                <th>{t('dead.col.deadAt')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((m) => (
                <tr key={m.id} data-testid="dead-row" data-id={m.id}>
                  <td className="num">{m.id}</td>
                  <td>{m.connection}</td>
                  <td>
                    {m.events
                      .map((e) =>
                        t(e.object === 'user' ? 'dead.object.user' : 'dead.object.department', { id: e.externalId }),
                      )
                      .join(', ')}
                  </td>
                  <td data-testid="dead-error">
                    {m.error ? (
                      <>
                        <div>{m.error.message}</div>
                        {m.error.hint && <div className="muted">{m.error.hint}</div>}
                        <code className="muted">{m.error.code}</code>
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="num">{m.attempts}</td>
                  <td className="nowrap">{formatTime(m.deadAt)}</td>
                  <td>
                    <button
                      type="button"
                      className="btn btn-small"
                      disabled={busy}
                      onClick={() => void retry({ ids: [m.id] })}
                      data-testid="dead-retry"
                    >
                      {t('dead.retry')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
