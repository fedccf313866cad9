import { useEffect, useRef, useState } from 'react';
import { useApi } from '../api-context';
import type { ChangeRecord, ErrorInfo, RunStep } from '../api-types';
import {
  CountsTable,
  durationBetween,
  ErrorBox,
  formatValue,
  ProgressBar,
  StatusChip,
  totalChanges,
  useDuration,
} from '../components/common';
import { FieldDiffs } from '../components/field-diffs';
import { EnrichmentCounts, Warnings } from '../components/import-dialog';
import { useRun } from '../hooks';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';

const CHANGES_PAGE = 25;
/** After an approve, how long a run may still read as blocked before the console stops waiting for it to start. */
const APPROVE_WAIT_MS = 20_000;

/** One run; mounted per run id (keyed by it), so nothing carries over from the run shown before. */
export function RunDetailPage({ id }: { id: number }) {
  const { t, tx, formatTime, formatNumber } = useI18n();
  const api = useApi();
  const duration = useDuration();
  const approvedAt = useRef<number | null>(null);
  const { report, error, poke } = useRun(id, (r) => {
    if (r.status === 'running') return true;
    // the approve was accepted; the run may not have left "blocked" yet
    return (
      approvedAt.current !== null &&
      (r.status === 'blocked' || r.status === 'planned') &&
      Date.now() - approvedAt.current < APPROVE_WAIT_MS
    );
  });
  const [approving, setApproving] = useState(false);
  const [approveError, setApproveError] = useState<unknown>(null);
  const [changesKey, setChangesKey] = useState(0);
  const lastStatus = useRef<string | null>(null);

  // The changed objects are re-read when the run settles (a sync that finished, an approved plan that was applied).
  useEffect(() => {
    if (!report) return;
    if (lastStatus.current !== null && lastStatus.current !== report.status && report.status !== 'running')
      setChangesKey((k) => k + 1);
    lastStatus.current = report.status;
  }, [report]);

  const approve = async () => {
    if (!window.confirm(t('run.approveConfirm'))) return;
    setApproving(true);
    setApproveError(null);
    try {
      await api.approveRun(id);
      approvedAt.current = Date.now();
      poke();
    } catch (err) {
      setApproveError(err);
    } finally {
      setApproving(false);
    }
  };

  if (!report) {
    return (
      <div className="page page-run">
        <Link to="/runs" className="back-link">
          ← {t('run.back')}
        </Link>
        <ErrorBox error={error} onRetry={poke} />
        {!error && <div className="muted">{t('app.loading')}</div>}
      </div>
    );
  }

  const approvable = report.status === 'blocked' || report.status === 'planned';
  const waitingForApply = approvedAt.current !== null && approvable;
  const p = report.progress ?? null;

  return (
    <div className="page page-run" data-testid="run-detail" data-status={report.status}>
      <Link to="/runs" className="back-link">
        ← {t('run.back')}
      </Link>
      <div className="page-head page-head-row">
        <h1 data-testid="run-title">{t('run.title', { id: report.id })}</h1>
        <StatusChip status={report.status} dryRun={report.dryRun} />
        <span className="spacer" />
        {approvable && (
          <button
            type="button"
            className="btn btn-primary"
            onClick={approve}
            disabled={approving || waitingForApply}
            data-testid="approve"
          >
            {approving || waitingForApply
              ? t('run.approving')
              : report.status === 'blocked'
                ? t('run.approve')
                : t('run.approveApply')}
          </button>
        )}
      </div>

      <dl className="run-meta">
        <div>
          <dt>{t('run.kind')}</dt>
          <dd>{tx('runs.kind', report.kind)}</dd>
        </div>
        <div>
          <dt>{t('run.source')}</dt>
          <dd>{report.source}</dd>
        </div>
        {report.template && (
          <div>
            <dt>{t('run.template')}</dt>
            <dd data-testid="run-template" data-template={report.template}>
              {tx('template', report.template)}
            </dd>
          </div>
        )}
        <div>
          <dt>{t('run.started')}</dt>
          <dd>{formatTime(report.startedAt ?? report.createdAt)}</dd>
        </div>
        <div>
          <dt>{t('run.finished')}</dt>
          <dd>{formatTime(report.finishedAt)}</dd>
        </div>
        <div>
          <dt>{t('run.duration')}</dt>
          <dd>{duration(durationBetween(report.startedAt, report.finishedAt))}</dd>
        </div>
      </dl>

      {report.status === 'blocked' && (
        <div className="alert alert-warn" data-testid="blocked-banner">
          <div className="alert-message">
            <strong>{t('run.blockedTitle')}</strong>
          </div>
          {report.blocked && (
            <>
              <div>{report.blocked.message}</div>
              {report.blocked.count !== undefined && report.blocked.base !== undefined && (
                <div className="small">
                  {t('run.blockedCount', {
                    count: formatNumber(report.blocked.count),
                    base: formatNumber(report.blocked.base),
                  })}
                </div>
              )}
              {report.blocked.hint && (
                <div className="alert-hint">
                  {t('app.hint')}
                  {report.blocked.hint}
                </div>
              )}
            </>
          )}
        </div>
      )}
      {report.status === 'planned' && <div className="alert alert-info">{t('run.plannedTitle')}</div>}
      <ErrorBox error={approveError} />
      <ErrorBox error={error} />

      {report.status === 'running' && (
        <section className="panel pad">
          <div className="sync-phase">
            {p
              ? `${tx('sync.phase', p.phase)} · ${formatNumber(p.done)}${p.total !== undefined ? ` / ${formatNumber(p.total)}` : ''}`
              : t('sync.phase.queued')}
            {p?.message ? <span className="muted"> · {p.message}</span> : null}
          </div>
          <ProgressBar done={p?.done ?? 0} total={p?.total} label={t('run.progress')} />
        </section>
      )}

      <div className="run-grid">
        <section className="panel">
          <h2 className="panel-title">{t('run.counts')}</h2>
          {report.counts ? (
            <CountsTable counts={report.counts} testId="run-counts" />
          ) : (
            <div className="muted pad">—</div>
          )}
          {report.suppressed && totalChanges(report.suppressed) > 0 && (
            <>
              <h3 className="panel-subtitle">{t('run.suppressed')}</h3>
              <CountsTable counts={report.suppressed} />
            </>
          )}
        </section>
        {report.read && (
          <section className="panel">
            <h2 className="panel-title">{t('run.read')}</h2>
            <dl className="kv pad-x">
              <div className="kv-row">
                <dt>{t('run.read.departments')}</dt>
                <dd>{formatNumber(report.read.departments)}</dd>
              </div>
              <div className="kv-row">
                <dt>{t('run.read.users')}</dt>
                <dd>{formatNumber(report.read.users)}</dd>
              </div>
              <div className="kv-row">
                <dt>{t('run.read.complete')}</dt>
                <dd>
                  {report.read.complete
                    ? t('common.yes')
                    : t('run.read.incomplete', { count: formatNumber(report.read.incompleteDepartments) })}
                </dd>
              </div>
              {report.read.unseenFields.length > 0 && (
                <div className="kv-row">
                  <dt>{t('run.read.unseen')}</dt>
                  <dd className="mono">{report.read.unseenFields.join(', ')}</dd>
                </div>
              )}
            </dl>
          </section>
        )}
      </div>

      {(report.warnings ?? []).length > 0 && <Warnings warnings={report.warnings ?? []} testId="run-warnings" />}
      {report.enrichment && (
        <section className="panel">
          <h2 className="panel-title">{t('run.enrichment')}</h2>
          <div className="pad-x">
            <EnrichmentCounts enrichment={report.enrichment} />
          </div>
        </section>
      )}

      <section className="panel">
        <h2 className="panel-title">{t('run.steps')}</h2>
        <StepsTable steps={report.steps} />
      </section>

      <ErrorsPanel title={t('run.errors')} items={report.errors} testId="run-errors" kind="error" />
      {report.notes.length > 0 && (
        <ErrorsPanel title={t('run.notes')} items={report.notes} testId="run-notes" kind="note" />
      )}

      <ChangesPanel runId={report.id} reloadKey={changesKey} />
    </div>
  );
}

function StepsTable({ steps }: { steps: RunStep[] }) {
  const { t, tx } = useI18n();
  const duration = useDuration();
  const total = steps.reduce((a, s) => a + (s.durationMs ?? 0), 0);
  return (
    <table className="table table-compact" data-testid="run-steps">
      <thead>
        <tr>
          <th>{t('run.step.name')}</th>
          <th>{t('run.step.status')}</th>
          <th className="num">{t('run.step.duration')}</th>
          <th className="timeline-col" />
          <th>{t('run.step.detail')}</th>
        </tr>
      </thead>
      <tbody>
        {steps.map((s, i) => (
          <tr key={`${s.seq ?? i}-${s.name}`} data-testid="run-step" data-step={s.name}>
            <td>{tx('run.step', s.name)}</td>
            <td>
              {s.status && (
                <span className={`step-status step-${s.status}`}>
                  {s.status === 'ok' ? '✓' : s.status === 'failed' ? '✗' : '–'}
                </span>
              )}
            </td>
            <td className="num nowrap">{duration(s.durationMs)}</td>
            <td className="timeline-col">
              <div className="timeline">
                <div
                  className="timeline-bar"
                  style={{ width: `${total > 0 ? Math.max(1, (s.durationMs / total) * 100) : 0}%` }}
                />
              </div>
            </td>
            <td className="step-detail">
              <StepDetail detail={s.detail} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function StepDetail({ detail }: { detail: Record<string, unknown> | undefined }) {
  if (!detail) return null;
  return (
    <span className="detail-pairs">
      {Object.entries(detail).map(([k, v]) => (
        <span key={k} className="detail-pair">
          <span className="detail-key">{k}</span>
          <span className="detail-value">{compact(v)}</span>
        </span>
      ))}
    </span>
  );
}

/** Nested counts flattened to "users.create=3": only what is non-zero, so a step's detail fits on a line. */
function compact(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? '[]' : v.map((x) => compact(x)).join(', ');
  const flat: string[] = [];
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, x] of Object.entries(o)) {
      if (x && typeof x === 'object' && !Array.isArray(x)) walk(x as Record<string, unknown>, `${prefix}${k}.`);
      else if (x !== 0 && x !== false) flat.push(`${prefix}${k}=${formatValue(x, '∅')}`);
    }
  };
  walk(v as Record<string, unknown>, '');
  return flat.length ? flat.join(' ') : '0';
}

function ErrorsPanel({
  title,
  items,
  testId,
  kind,
}: {
  title: string;
  items: ErrorInfo[];
  testId: string;
  kind: 'error' | 'note';
}) {
  const { t } = useI18n();
  return (
    <section className="panel">
      <h2 className="panel-title">
        {title} <span className="muted">({items.length})</span>
      </h2>
      {items.length === 0 ? (
        <div className="muted pad">{t('run.noErrors')}</div>
      ) : (
        <ul className={`errors errors-${kind}`} data-testid={testId}>
          {items.map((e, i) => (
            <li key={i}>
              <div>
                <code>{e.code}</code> {e.message}
              </div>
              {e.object && <div className="muted small mono">{e.object}</div>}
              {e.hint && (
                <div className="hint">
                  {t('app.hint')}
                  {e.hint}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ChangesPanel({ runId, reloadKey }: { runId: number; reloadKey: number }) {
  const { t, tx, formatNumber } = useI18n();
  const api = useApi();
  const [offset, setOffset] = useState(0);
  const [data, setData] = useState<{ items: ChangeRecord[]; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    setError(null);
    api.runChanges(runId, { limit: CHANGES_PAGE, offset }).then(
      (r) => live && setData(r),
      (err) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [api, runId, offset, reloadKey]);

  const total = data?.total ?? 0;
  return (
    <section className="panel" data-testid="run-changes">
      <div className="panel-title-row">
        <h2 className="panel-title">
          {t('run.changes')}{' '}
          {data && <span className="muted">({t('run.changesTotal', { total: formatNumber(total) })})</span>}
        </h2>
        <span className="spacer" />
        {data && total > CHANGES_PAGE && (
          <div className="pager pager-inline">
            <button
              type="button"
              className="btn btn-small"
              disabled={offset === 0}
              onClick={() => setOffset((o) => Math.max(0, o - CHANGES_PAGE))}
              data-testid="changes-prev"
            >
              {t('run.prev')}
            </button>
            <span className="muted small">
              {t('run.range', {
                from: formatNumber(offset + 1),
                to: formatNumber(Math.min(total, offset + CHANGES_PAGE)),
                total: formatNumber(total),
              })}
            </span>
            <button
              type="button"
              className="btn btn-small"
              disabled={offset + CHANGES_PAGE >= total}
              onClick={() => setOffset((o) => o + CHANGES_PAGE)}
              data-testid="changes-next"
            >
              {t('run.next')}
            </button>
          </div>
        )}
      </div>
      <ErrorBox error={error} />
      {data && data.items.length === 0 && <div className="muted pad">{t('run.noChanges')}</div>}
      {data && data.items.length > 0 && (
        <table className="table table-compact changes-table">
          <colgroup>
            <col className="col-seq" />
            <col className="col-object" />
            <col className="col-action" />
            <col />
          </colgroup>
          <thead>
            <tr>
              <th className="num">#</th>
              <th>{t('run.change.object')}</th>
              <th>{t('run.change.action')}</th>
              <th>{t('run.change.fields')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((c) => (
              <tr key={c.seq} data-testid="change-row" data-action={c.action} data-kind={c.objectKind}>
                <td className="num muted">{c.seq}</td>
                <td>
                  <div>
                    <span className="muted small">{tx('objectKind', c.objectKind)}</span> {c.label}
                  </div>
                  <div className="muted small mono">{c.externalId}</div>
                </td>
                <td>
                  <span className={`action action-${c.action}`}>{tx('action', c.action)}</span>
                </td>
                <td>
                  <FieldDiffs fields={c.fields} labelOf={(f) => tx('field', f)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
