import { useEffect, useRef, type ReactNode } from 'react';
import { ApiError } from '../api';
import type { ChangeCounts, RunStatus } from '../api-types';
import { useI18n } from '../i18n/i18n';

export function StatusChip({ status, dryRun }: { status: RunStatus | string; dryRun?: boolean }) {
  const { t, tx } = useI18n();
  return (
    <span className={`chip chip-${status}`} data-testid="status-chip" data-status={status}>
      {status === 'running' && <span className="chip-spinner" aria-hidden="true" />}
      {tx('status', status)}
      {dryRun && status !== 'planned' ? <span className="chip-note"> · {t('runs.dryRun')}</span> : null}
    </span>
  );
}

/** An API error as the API sent it: message, then its hint, then its code. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="alert alert-error" role="alert" data-testid="error-box">
      <div className="alert-message">{message || t('app.unknownError')}</div>
      {e?.hint && (
        <div className="alert-hint">
          <strong>{t('app.hint')}</strong>
          {e.hint}
        </div>
      )}
      <div className="alert-meta">
        {e?.code && <code>{e.code}</code>}
        {onRetry && (
          <button type="button" className="btn btn-small" onClick={onRetry}>
            {t('app.retry')}
          </button>
        )}
      </div>
    </div>
  );
}

export function ProgressBar({ done, total, label }: { done: number; total?: number | undefined; label?: string }) {
  const pct = total && total > 0 ? Math.min(100, Math.round((done / total) * 100)) : null;
  return (
    <div
      className="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={total ?? undefined}
      aria-valuenow={pct === null ? undefined : done}
      aria-label={label}
    >
      <div
        className={`progress-bar${pct === null ? ' indeterminate' : ''}`}
        style={pct === null ? undefined : { width: `${pct}%` }}
      />
    </div>
  );
}

export function Spinner() {
  return <span className="spinner" aria-hidden="true" />;
}

/** A panel over the page: at the side (a record's details), or centred (`dialog`: a task such as an import). */
export function Drawer({
  title,
  onClose,
  children,
  testId,
  placement = 'side',
  footer,
}: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
  placement?: 'side' | 'dialog';
  /** Kept in view below the scrolling body (a dialog's buttons). */
  footer?: ReactNode;
}) {
  const { t } = useI18n();
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    closeRef.current?.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="drawer-layer">
      {/* biome-ignore lint/a11y/noStaticElementInteractions lint/a11y/useKeyWithClickEvents: a mouse shortcut; Escape (above) and the close button are the keyboard's way out */}
      <div className="drawer-backdrop" onClick={onClose} />
      <aside
        className={placement === 'dialog' ? 'drawer drawer-dialog' : 'drawer'}
        role="dialog"
        aria-modal="true"
        aria-label={typeof title === 'string' ? title : undefined}
        data-testid={testId}
      >
        <header className="drawer-head">
          <h2>{title}</h2>
          <button ref={closeRef} type="button" className="btn btn-icon" onClick={onClose} aria-label={t('app.close')}>
            ×
          </button>
        </header>
        <div className="drawer-body">{children}</div>
        {footer && <footer className="drawer-foot">{footer}</footer>}
      </aside>
    </div>
  );
}

export function totalChanges(c: ChangeCounts | undefined): number {
  if (!c) return 0;
  let n = 0;
  for (const v of Object.values(c.departments ?? {})) n += v;
  for (const v of Object.values(c.users ?? {})) n += v;
  return n;
}

/** "部门 新增 3 · 成员 更新 12": only the non-zero counts. */
export function CountsInline({ counts }: { counts: ChangeCounts | undefined }) {
  const { t, tx, formatNumber } = useI18n();
  if (!counts || totalChanges(counts) === 0) return <span className="muted">{t('runs.changesNone')}</span>;
  const parts: string[] = [];
  for (const [kind, byAction] of [
    ['department', counts.departments],
    ['user', counts.users],
  ] as const) {
    const items = Object.entries(byAction ?? {}).filter(([, n]) => n > 0);
    if (items.length)
      parts.push(
        `${tx('objectKind', kind)} ${items.map(([a, n]) => `${tx('action', a)} ${formatNumber(n)}`).join(' ')}`,
      );
  }
  return <span className="counts-inline">{parts.join(' · ')}</span>;
}

export function CountsTable({ counts, testId }: { counts: ChangeCounts; testId?: string }) {
  const { t, tx, formatNumber } = useI18n();
  const actions = Array.from(new Set([...Object.keys(counts.departments ?? {}), ...Object.keys(counts.users ?? {})]));
  return (
    <table className="table table-compact counts-table" data-testid={testId}>
      <thead>
        <tr>
          <th />
          {actions.map((a) => (
            <th key={a} className="num">
              {tx('action', a)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {(
          [
            ['department', t('run.departments'), counts.departments],
            ['user', t('run.users'), counts.users],
          ] as const
        ).map(([key, label, row]) => (
          <tr key={key}>
            <th scope="row">{label}</th>
            {actions.map((a) => {
              const n = row?.[a];
              return (
                <td key={a} className={`num${n ? '' : ' muted'}`} data-testid={`count-${key}-${a}`}>
                  {n === undefined ? '—' : formatNumber(n)}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function useDuration() {
  const { t, formatNumber } = useI18n();
  return (ms: number | null | undefined): string => {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return t('common.ms', { n: formatNumber(Math.round(ms)) });
    return t('common.s', { n: (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) });
  };
}

export function durationBetween(start: string | null | undefined, end: string | null | undefined): number | null {
  if (!start) return null;
  const s = Date.parse(start);
  const e = end ? Date.parse(end) : Date.now();
  return Number.isFinite(s) && Number.isFinite(e) ? Math.max(0, e - s) : null;
}

/** A value from a diff or a profile, shown compactly. */
export function formatValue(v: unknown, empty: string): string {
  if (v === null || v === undefined || v === '') return empty;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
