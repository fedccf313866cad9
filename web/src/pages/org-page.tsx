import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../api';
import { useApi } from '../api-context';
import type { Connection, Department, Platform, PlatformDescription } from '../api-types';
import { CountsInline, ErrorBox, ProgressBar, StatusChip } from '../components/common';
import { DepartmentTree } from '../components/department-tree';
import { DepartmentNames } from '../components/field-diffs';
import { ImportDialog } from '../components/import-dialog';
import { MembersTable } from '../components/members-table';
import { UserDrawer } from '../components/user-drawer';
import { useDismiss, useRun } from '../hooks';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import {
  allParents,
  ancestors,
  buildTree,
  defaultExpanded,
  pathLabel,
  type DepartmentTree as Tree,
} from '../tree-model';

interface ActiveSync {
  runId: number;
  name: string;
  platform: Platform | undefined;
  note?: string;
  /** A file imported from 导入通讯录 (its source as `name`), not a connection's sync. */
  imported?: boolean;
}

export function OrgPage() {
  const { t, formatNumber, lang } = useI18n();
  const api = useApi();
  const [departments, setDepartments] = useState<Department[] | null>(null);
  const [connections, setConnections] = useState<Connection[]>([]);
  const [platforms, setPlatforms] = useState<PlatformDescription[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [expanded, setExpanded] = useState<Set<number>>(() => new Set());
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [revealKey, setRevealKey] = useState(0);
  const [filter, setFilter] = useState('');
  const [userId, setUserId] = useState<number | null>(null);
  const [membersRefresh, setMembersRefresh] = useState(0);
  const [syncs, setSyncs] = useState<ActiveSync[]>([]);
  const [syncError, setSyncError] = useState<unknown>(null);
  const [importing, setImporting] = useState(false);
  const initialised = useRef(false);

  const loadTree = useCallback(async () => {
    setError(null);
    try {
      const r = await api.departments();
      setDepartments(r.items);
    } catch (err) {
      setError(err);
    }
  }, [api]);

  useEffect(() => {
    void loadTree();
    api.connections().then(setConnections, () => {});
    api.platforms().then(setPlatforms, () => {});
    // Show the progress of syncs already running (started elsewhere, or before this page was opened).
    api.runs({ status: 'running', kind: 'sync', limit: 10 }).then(
      (r) =>
        setSyncs((s) =>
          s.length ? s : r.items.map((run) => ({ runId: run.id, name: run.source, platform: undefined })),
        ),
      () => {},
    );
  }, [api, loadTree]);

  const orderOfSource = useMemo(() => {
    const order = new Map(platforms.map((p) => [p.id, p.departmentOrder] as const));
    const m = new Map(connections.map((c) => [c.name, order.get(c.platform)] as const));
    return (source: string) => m.get(source);
  }, [connections, platforms]);

  /** 企业微信同步 / DingTalk sync: the platform's name from GET /api/v1/platforms. */
  const syncLabel = useCallback(
    (platform: Platform) => {
      const p = platforms.find((x) => x.id === platform);
      return t('org.sync', { name: p ? (lang === 'zh-CN' ? p.names.zh : p.names.en) : platform });
    },
    [platforms, lang, t],
  );

  const tree = useMemo<Tree | null>(
    () => (departments ? buildTree(departments, orderOfSource) : null),
    [departments, orderOfSource],
  );

  useEffect(() => {
    if (!tree || tree.roots.length === 0) return;
    // Every load (the first sync fills an empty tree) opens the path down to where the tree branches; what the
    // admin opened stays open.
    setExpanded((prev) => new Set([...prev, ...defaultExpanded(tree)]));
    if (!initialised.current) {
      initialised.current = true;
      setSelectedId(tree.roots[0] ?? null);
    }
  }, [tree]);

  const toggle = useCallback((id: number) => {
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }, []);

  const reveal = useCallback(
    (id: number) => {
      if (!tree) return;
      setExpanded((prev) => new Set([...prev, ...ancestors(tree, id)]));
      setSelectedId(id);
      setFilter('');
      setRevealKey((k) => k + 1);
    },
    [tree],
  );

  const startSync = async (c: Connection, dryRun: boolean) => {
    setSyncError(null);
    try {
      const { runId } = await api.startSync(c.name, dryRun);
      setSyncs((s) => [...s.filter((x) => x.name !== c.name), { runId, name: c.name, platform: c.platform }]);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'RUN_IN_PROGRESS' && typeof err.extra.runId === 'number') {
        const runId = err.extra.runId;
        setSyncs((s) => [
          ...s.filter((x) => x.name !== c.name),
          { runId, name: c.name, platform: c.platform, note: t('sync.alreadyRunning') },
        ]);
      } else {
        setSyncError(err);
      }
    }
  };

  const onSyncFinished = useCallback(() => {
    void loadTree();
    setMembersRefresh((n) => n + 1);
  }, [loadTree]);

  // Stable, so the dialog's focus and Escape handling are set up once, not at every render of this page.
  const closeImport = useCallback(() => setImporting(false), []);
  const importStarted = useCallback(({ runId, source }: { runId: number; source: string }) => {
    setSyncs((s) => [...s, { runId, name: source, platform: undefined, imported: true }]);
  }, []);

  const selected = selectedId !== null ? tree?.byId.get(selectedId) : undefined;
  const nameOf = useCallback((id: number) => tree?.byId.get(id)?.name, [tree]);

  return (
    <div className="page page-org">
      <div className="page-head page-head-row">
        <h1>{t('org.title')}</h1>
        {tree && <span className="muted">{t('org.departmentCount', { count: formatNumber(tree.size) })}</span>}
        <span className="spacer" />
        <button type="button" className="btn" onClick={() => void loadTree()}>
          {t('org.refresh')}
        </button>
        <MoreMenu
          connections={connections}
          onSync={startSync}
          syncLabel={syncLabel}
          onImport={() => setImporting(true)}
        />
      </div>
      <ErrorBox error={syncError} />
      {syncs.map((s) => (
        <SyncProgress
          key={s.runId}
          sync={{ ...s, platform: s.platform ?? connections.find((c) => c.name === s.name)?.platform }}
          onFinished={onSyncFinished}
          onDismiss={() => setSyncs((list) => list.filter((x) => x.runId !== s.runId))}
          syncLabel={syncLabel}
        />
      ))}
      <ErrorBox error={error} onRetry={loadTree} />
      <div className="org-layout">
        <aside className="panel tree-panel">
          <div className="tree-tools">
            <input
              type="search"
              className="search"
              placeholder={t('org.filterDepartments')}
              value={filter}
              onChange={(e) => setFilter(e.target.value)}
              data-testid="department-filter"
              aria-label={t('org.filterDepartments')}
            />
            <button
              type="button"
              className="btn btn-small"
              title={t('org.expandAll')}
              onClick={() => tree && setExpanded(allParents(tree))}
              data-testid="expand-all"
            >
              ⊞
            </button>
            <button
              type="button"
              className="btn btn-small"
              title={t('org.collapseAll')}
              onClick={() => tree && setExpanded(defaultExpanded(tree))}
            >
              ⊟
            </button>
          </div>
          {!tree && !error && <div className="muted pad">{t('app.loading')}</div>}
          {tree && tree.size <= 1 && (
            <div className="empty pad" data-testid="org-empty">
              {t('org.empty')}
            </div>
          )}
          {tree && tree.size > 0 && filter.trim() !== '' && (
            <MatchList tree={tree} filter={filter.trim()} onPick={reveal} />
          )}
          {tree && tree.size > 0 && filter.trim() === '' && (
            <DepartmentTree
              tree={tree}
              expanded={expanded}
              selectedId={selectedId}
              onToggle={toggle}
              onSelect={setSelectedId}
              revealKey={revealKey}
            />
          )}
        </aside>
        <section className="panel members-panel">
          {selected ? (
            <MembersTable
              key={selected.id}
              departmentId={selected.id}
              departmentName={selected.name}
              refreshKey={membersRefresh}
              onOpenUser={setUserId}
            />
          ) : (
            <div className="empty pad">{tree && tree.size > 0 ? t('org.selectDepartment') : ''}</div>
          )}
        </section>
      </div>
      {importing && (
        <DepartmentNames.Provider value={nameOf}>
          <ImportDialog connections={connections} onClose={closeImport} onStarted={importStarted} />
        </DepartmentNames.Provider>
      )}
      {userId !== null && (
        <DepartmentNames.Provider value={nameOf}>
          <UserDrawer userId={userId} onClose={() => setUserId(null)} />
        </DepartmentNames.Provider>
      )}
    </div>
  );
}

function MoreMenu({
  connections,
  onSync,
  syncLabel,
  onImport,
}: {
  connections: Connection[];
  onSync: (c: Connection, dryRun: boolean) => void;
  syncLabel: (p: Platform) => string;
  onImport: () => void;
}) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const close = useCallback(() => setOpen(false), []);
  const ref = useDismiss(open, close);
  const enabled = connections.filter((c) => c.syncEnabled);
  const samePlatform = (p: Platform) => enabled.filter((c) => c.platform === p).length > 1;
  return (
    <div className="menu" ref={ref}>
      <button
        type="button"
        className="btn"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        data-testid="more-menu"
      >
        {t('org.more')} ▾
      </button>
      {open && (
        <div className="menu-list" role="menu">
          {enabled.map((c) => (
            <button
              key={c.name}
              type="button"
              role="menuitem"
              className="menu-item"
              data-testid={`sync-${c.name}`}
              onClick={() => {
                setOpen(false);
                onSync(c, false);
              }}
            >
              {syncLabel(c.platform)}
              {samePlatform(c.platform) ? <span className="muted"> · {c.name}</span> : null}
            </button>
          ))}
          {/* biome-ignore lint/a11y/useSemanticElements: a styled rule between menu items; <hr> brings borders and margins of its own */}
          {enabled.length > 0 && <div className="menu-separator" role="separator" />}
          {enabled.map((c) => (
            <button
              key={`preview-${c.name}`}
              type="button"
              role="menuitem"
              className="menu-item menu-item-secondary"
              data-testid={`preview-${c.name}`}
              title={t('org.previewHelp')}
              onClick={() => {
                setOpen(false);
                onSync(c, true);
              }}
            >
              {t('org.preview', { name: syncLabel(c.platform) })}
              {samePlatform(c.platform) ? <span className="muted"> · {c.name}</span> : null}
            </button>
          ))}
          {enabled.length === 0 && (
            <div className="menu-note">
              {t('org.noSyncConnection')}
              <div>
                <Link to="/settings" onClick={() => setOpen(false)}>
                  {t('org.goSettings')} →
                </Link>
              </div>
            </div>
          )}
          {/* biome-ignore lint/a11y/useSemanticElements: a styled rule between menu items, as above */}
          <div className="menu-separator" role="separator" />
          <button
            type="button"
            role="menuitem"
            className="menu-item"
            data-testid="import-open"
            title={t('org.importHelp')}
            onClick={() => {
              setOpen(false);
              onImport();
            }}
          >
            {t('org.import')}
          </button>
        </div>
      )}
    </div>
  );
}

function SyncProgress({
  sync,
  onFinished,
  onDismiss,
  syncLabel,
}: {
  sync: ActiveSync;
  onFinished: () => void;
  onDismiss: () => void;
  syncLabel: (p: Platform) => string;
}) {
  const { t, tx, formatNumber } = useI18n();
  const { report, error } = useRun(sync.runId, (r) => r.status === 'running');
  const finishedOnce = useRef(false);
  const running = !report || report.status === 'running';

  useEffect(() => {
    if (report && report.status !== 'running' && !finishedOnce.current) {
      finishedOnce.current = true;
      onFinished();
    }
  }, [report, onFinished]);

  const label = sync.platform && !sync.imported ? syncLabel(sync.platform) : sync.name;
  const [runningText, doneText] = sync.imported
    ? (['import.running', 'import.done'] as const)
    : (['sync.running', 'sync.done'] as const);
  const p = report?.progress ?? null;
  return (
    <div
      className={`sync-progress${running ? ' running' : ''}`}
      data-testid="sync-progress"
      data-status={report?.status ?? 'running'}
      data-run-id={sync.runId}
    >
      <div className="sync-progress-head">
        <strong>{running ? t(runningText, { name: label }) : t(doneText, { name: label })}</strong>
        {report && <StatusChip status={report.status} dryRun={report.dryRun} />}
        {running && p && (
          <span className="sync-phase" data-testid="sync-phase">
            {tx('sync.phase', p.phase)}
            {' · '}
            {formatNumber(p.done)}
            {p.total !== undefined ? ` / ${formatNumber(p.total)}` : ''}
            {p.message ? <span className="muted"> · {p.message}</span> : null}
          </span>
        )}
        {!running && report && <CountsInline counts={report.counts} />}
        <span className="spacer" />
        <Link to={`/runs/${sync.runId}`} data-testid="sync-run-link">
          {t('sync.viewRun')} #{sync.runId}
        </Link>
        {!running && (
          <button type="button" className="btn btn-small" onClick={onDismiss}>
            {t('sync.dismiss')}
          </button>
        )}
      </div>
      {sync.note && running && (
        <div className="muted small" data-testid="sync-already-running">
          {sync.note}
        </div>
      )}
      {running && <ProgressBar done={p?.done ?? 0} total={p?.total} label={t('run.progress')} />}
      {!running && report && report.errors.length > 0 && (
        <ul className="errors errors-compact">
          {report.errors.slice(0, 3).map((e, i) => (
            <li key={i}>
              <code>{e.code}</code> {e.message}
              {e.hint && <div className="hint">{e.hint}</div>}
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
    </div>
  );
}

const MATCH_ROW = 44;

function MatchList({ tree, filter, onPick }: { tree: Tree; filter: string; onPick: (id: number) => void }) {
  const { t, formatNumber } = useI18n();
  const scrollRef = useRef<HTMLDivElement>(null);
  const matches = useMemo(() => {
    const needle = filter.toLowerCase();
    const out: number[] = [];
    for (const d of tree.byId.values())
      if (d.name.toLowerCase().includes(needle) || String(d.id) === needle) out.push(d.id);
    return out;
  }, [tree, filter]);
  const virtualizer = useVirtualizer({
    count: matches.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => MATCH_ROW,
    overscan: 8,
  });
  return (
    <>
      <div className="muted small pad-x">{t('org.filterMatches', { count: formatNumber(matches.length) })}</div>
      <div ref={scrollRef} className="tree-scroll" data-testid="department-matches">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const id = matches[item.index] as number;
            const d = tree.byId.get(id);
            return (
              <button
                type="button"
                key={id}
                className="match-row"
                style={{ transform: `translateY(${item.start}px)`, height: MATCH_ROW }}
                onClick={() => onPick(id)}
                data-testid="department-match"
                data-name={d?.name}
              >
                <span className="tree-name">{d?.name}</span>
                <span className="match-path">{pathLabel(tree, id)}</span>
              </button>
            );
          })}
        </div>
      </div>
    </>
  );
}
