import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../api';
import { useApi } from '../api-context';
import {
  TEMPLATES,
  type Connection,
  type ImportIssue,
  type ImportOptions,
  type ImportPreview,
  type ImportUpload,
  type RunWarning,
  type Template,
} from '../api-types';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { CountsTable, Drawer, ErrorBox, totalChanges } from './common';
import { FieldDiffs } from './field-diffs';

/** A result below the form: brought into view when it appears. */
function useScrolledTo() {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.scrollIntoView({ block: 'start' });
  }, []);
  return ref;
}

/** Changes the preview lists; the run page has them all. */
const SHOWN_CHANGES = 20;
const ENCODINGS = ['auto', 'utf8', 'gb18030'] as const;

type Mode = 'source' | 'enrich';

/** The form's values as typed: numbers are checked by the server, which names the field at fault. */
interface Form {
  mode: Mode;
  template: Template;
  source: string;
  connection: string;
  sheet: string;
  startRow: string;
  endRow: string;
  encoding: (typeof ENCODINGS)[number];
}

const defaultSource = (format: ImportUpload['format']) => (format === 'snapshot' ? 'json' : 'wecom-export');
const defaultTemplate = (format: ImportUpload['format']): Template =>
  format === 'snapshot' ? 'full' : 'create-update';

function optionsOf(form: Form, upload: ImportUpload): ImportOptions {
  const out: ImportOptions = {};
  if (form.mode === 'enrich') out.enrich = form.connection;
  else {
    out.source = form.source.trim() || defaultSource(upload.format);
    out.template = form.template;
  }
  if (upload.format === 'xlsx' && form.sheet.trim() !== '') {
    const sheet = form.sheet.trim();
    out.sheet = /^\d+$/.test(sheet) ? Number(sheet) : sheet;
  }
  if (upload.format !== 'snapshot') {
    if (form.startRow.trim() !== '') out.startRow = Number(form.startRow);
    if (form.endRow.trim() !== '') out.endRow = Number(form.endRow);
  }
  if (upload.format === 'csv' && form.encoding !== 'auto') out.encoding = form.encoding;
  return out;
}

/**
 * 导入通讯录: choose a file (uploaded at once, so its format decides which options show), how to take it, then 预览 —
 * a dry run showing the counts, the first changes field by field and the warnings — and 确认导入, which starts the
 * import as a background run and closes the dialog. An upload left behind is deleted on close.
 */
export function ImportDialog({
  connections,
  onClose,
  onStarted,
}: {
  connections: Connection[];
  onClose: () => void;
  onStarted: (run: { runId: number; source: string }) => void;
}) {
  const { t, tx, formatNumber } = useI18n();
  const api = useApi();
  const ids = useId();
  const [upload, setUpload] = useState<ImportUpload | null>(null);
  const [uploading, setUploading] = useState(false);
  const [uploadError, setUploadError] = useState<unknown>(null);
  const [form, setForm] = useState<Form>({
    mode: 'source',
    template: 'create-update',
    source: '',
    connection: connections[0]?.name ?? '',
    sheet: '',
    startRow: '',
    endRow: '',
    encoding: 'auto',
  });
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [applying, setApplying] = useState(false);
  // The upload to delete when the dialog goes away without importing it.
  const pending = useRef<string | null>(null);

  useEffect(
    () => () => {
      if (pending.current) api.discardImport(pending.current).catch(() => {});
    },
    [api],
  );

  const change = useCallback(<K extends keyof Form>(key: K, value: Form[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    // What was previewed is what 确认导入 applies: another option needs another preview.
    setPreview(null);
    setPreviewError(null);
  }, []);

  const chooseFile = async (file: File | undefined) => {
    if (pending.current) api.discardImport(pending.current).catch(() => {});
    pending.current = null;
    setUpload(null);
    setPreview(null);
    setPreviewError(null);
    setUploadError(null);
    if (!file) return;
    setUploading(true);
    try {
      const sent = await api.uploadImport(file);
      pending.current = sent.uploadId;
      setUpload(sent);
      setForm((f) => ({
        ...f,
        template: defaultTemplate(sent.format),
        source:
          f.source.trim() === '' || f.source === 'json' || f.source === 'wecom-export'
            ? defaultSource(sent.format)
            : f.source,
      }));
    } catch (err) {
      setUploadError(err);
    } finally {
      setUploading(false);
    }
  };

  const runPreview = async () => {
    if (!upload) return;
    setPreviewing(true);
    setPreviewError(null);
    setPreview(null);
    try {
      setPreview(await api.previewImport(upload.uploadId, optionsOf(form, upload)));
    } catch (err) {
      setPreviewError(err);
    } finally {
      setPreviewing(false);
    }
  };

  const apply = async () => {
    if (!upload) return;
    setApplying(true);
    setPreviewError(null);
    const options = optionsOf(form, upload);
    try {
      const { runId } = await api.applyImport(upload.uploadId, options);
      pending.current = null;
      onStarted({ runId, source: options.enrich ?? options.source ?? '' });
      onClose();
    } catch (err) {
      setPreviewError(err);
      setApplying(false);
    }
  };

  const issues =
    previewError instanceof ApiError && Array.isArray(previewError.extra.issues)
      ? (previewError.extra.issues as ImportIssue[])
      : [];
  const field = (name: string) => `${ids}-${name}`;
  const exportFile = upload !== null && upload.format !== 'snapshot';

  return (
    <Drawer
      title={t('import.title')}
      onClose={onClose}
      testId="import-dialog"
      placement="dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button
            type="button"
            className={preview ? 'btn' : 'btn btn-primary'}
            onClick={() => void runPreview()}
            disabled={!upload || previewing || applying}
            data-testid="import-preview"
          >
            {previewing ? t('import.previewing') : t('import.preview')}
          </button>
          <button
            type="button"
            className="btn btn-primary"
            onClick={() => void apply()}
            disabled={!preview || applying}
            data-testid="import-apply"
          >
            {applying ? t('import.applying') : t('import.apply')}
          </button>
        </>
      }
    >
      <section className="field-grid">
        <div className="field field-wide">
          <label className="field-label" htmlFor={field('file')}>
            {t('import.file')}
          </label>
          <input
            id={field('file')}
            type="file"
            accept=".xlsx,.csv,.json,application/json,text/csv"
            onChange={(e) => void chooseFile(e.target.files?.[0])}
            disabled={uploading || applying}
            data-testid="import-file"
          />
          <span className="field-help">{t('import.fileHelp')}</span>
          {uploading && <span className="muted small">{t('import.uploading')}</span>}
          {upload && (
            <span className="small" data-testid="import-upload" data-format={upload.format}>
              <strong>{upload.name}</strong>
              <span className="muted">
                {' · '}
                {tx('import.format', upload.format)}
                {' · '}
                {formatNumber(Math.ceil(upload.size / 1024))} KB
              </span>
            </span>
          )}
        </div>
        {upload && (
          <>
            <div className="field">
              <label className="field-label" htmlFor={field('mode')}>
                {t('import.mode')}
              </label>
              <select
                id={field('mode')}
                value={form.mode}
                onChange={(e) => change('mode', e.target.value as Mode)}
                data-testid="import-mode"
              >
                <option value="source">{t('import.mode.source')}</option>
                <option value="enrich" disabled={connections.length === 0}>
                  {t('import.mode.enrich')}
                </option>
              </select>
              {form.mode === 'enrich' && <span className="field-help">{t('import.modeHelp.enrich')}</span>}
            </div>
            {form.mode === 'enrich' ? (
              <div className="field">
                <label className="field-label" htmlFor={field('connection')}>
                  {t('import.connection')}
                </label>
                <select
                  id={field('connection')}
                  value={form.connection}
                  onChange={(e) => change('connection', e.target.value)}
                  data-testid="import-connection"
                >
                  {connections.map((c) => (
                    <option key={c.name} value={c.name}>
                      {c.name}
                    </option>
                  ))}
                </select>
              </div>
            ) : (
              <div className="field">
                <label className="field-label" htmlFor={field('source')}>
                  {t('import.source')}
                </label>
                <input
                  id={field('source')}
                  value={form.source}
                  onChange={(e) => change('source', e.target.value)}
                  placeholder={defaultSource(upload.format)}
                  data-testid="import-source"
                />
                <span className="field-help">{t('import.sourceHelp')}</span>
              </div>
            )}
            {form.mode === 'source' && (
              <div className="field field-wide">
                <label className="field-label" htmlFor={field('template')}>
                  {t('import.template')}
                </label>
                <select
                  id={field('template')}
                  value={form.template}
                  onChange={(e) => change('template', e.target.value as Template)}
                  data-testid="import-template"
                >
                  {TEMPLATES.map((x) => (
                    <option key={x} value={x}>
                      {tx('template', x)}
                    </option>
                  ))}
                </select>
                <span className="field-help">{tx('templateHelp', form.template)}</span>
              </div>
            )}
            {upload.format === 'xlsx' && (
              <div className="field">
                <label className="field-label" htmlFor={field('sheet')}>
                  {t('import.sheet')}
                </label>
                <input
                  id={field('sheet')}
                  value={form.sheet}
                  onChange={(e) => change('sheet', e.target.value)}
                  data-testid="import-sheet"
                />
                <span className="field-help">{t('import.sheetHelp')}</span>
              </div>
            )}
            {upload.format === 'csv' && (
              <div className="field">
                <label className="field-label" htmlFor={field('encoding')}>
                  {t('import.encoding')}
                </label>
                <select
                  id={field('encoding')}
                  value={form.encoding}
                  onChange={(e) => change('encoding', e.target.value as Form['encoding'])}
                  data-testid="import-encoding"
                >
                  {ENCODINGS.map((x) => (
                    <option key={x} value={x}>
                      {tx('import.encoding', x)}
                    </option>
                  ))}
                </select>
              </div>
            )}
            {exportFile && (
              <>
                <div className="field">
                  <label className="field-label" htmlFor={field('startRow')}>
                    {t('import.startRow')}
                  </label>
                  <input
                    id={field('startRow')}
                    type="number"
                    min={0}
                    value={form.startRow}
                    onChange={(e) => change('startRow', e.target.value)}
                    data-testid="import-start-row"
                  />
                  <span className="field-help">{t('import.startRowHelp')}</span>
                </div>
                <div className="field">
                  <label className="field-label" htmlFor={field('endRow')}>
                    {t('import.endRow')}
                  </label>
                  <input
                    id={field('endRow')}
                    type="number"
                    min={-1}
                    value={form.endRow}
                    onChange={(e) => change('endRow', e.target.value)}
                    data-testid="import-end-row"
                  />
                  <span className="field-help">{t('import.endRowHelp')}</span>
                </div>
              </>
            )}
          </>
        )}
      </section>

      <ErrorBox error={uploadError} />
      <ErrorBox error={previewError} />
      {issues.length > 0 && <IssuesTable issues={issues} />}
      {preview && <PreviewResult preview={preview} />}
    </Drawer>
  );
}

function PreviewResult({ preview }: { preview: ImportPreview }) {
  const { t, tx, formatNumber } = useI18n();
  const { items, total } = preview.changedObjects;
  const shown = items.slice(0, SHOWN_CHANGES);
  const ref = useScrolledTo();
  return (
    <section ref={ref} className="import-result" data-testid="import-preview-result" data-run-id={preview.id}>
      <div className="panel-title-row">
        <h3 className="panel-subtitle">{t('import.result')}</h3>
        <span className="spacer" />
        <Link to={`/runs/${preview.id}`} className="small">
          {t('import.viewRun', { id: preview.id })}
        </Link>
      </div>
      {preview.blocked && (
        <div className="alert alert-warn" data-testid="import-blocked">
          <div>
            {t('import.blocked')}
            {preview.blocked.message}
          </div>
        </div>
      )}
      {preview.counts && totalChanges(preview.counts) > 0 ? (
        <CountsTable counts={preview.counts} testId="import-counts" />
      ) : (
        <div className="muted" data-testid="import-no-changes">
          {t('import.noChanges')}
        </div>
      )}
      {preview.enrichment && <EnrichmentCounts enrichment={preview.enrichment} />}
      {(preview.warnings ?? []).length > 0 && <Warnings warnings={preview.warnings ?? []} />}
      {preview.errors.length > 0 && (
        <ul className="errors errors-error">
          {preview.errors.map((e, i) => (
            <li key={i}>
              <code>{e.code}</code> {e.message}
              {e.hint && <div className="hint">{e.hint}</div>}
            </li>
          ))}
        </ul>
      )}
      {shown.length > 0 && (
        <>
          <div className="muted small">
            {t('import.changesShown', { shown: formatNumber(shown.length), total: formatNumber(total) })}
          </div>
          <table className="table table-compact changes-table" data-testid="import-changes">
            <colgroup>
              <col className="col-object" />
              <col className="col-action" />
              <col />
            </colgroup>
            <thead>
              <tr>
                <th>{t('run.change.object')}</th>
                <th>{t('run.change.action')}</th>
                <th>{t('run.change.fields')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.seq} data-testid="import-change" data-action={c.action} data-kind={c.objectKind}>
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
        </>
      )}
    </section>
  );
}

/** What the source reported about its data: code, message, how many rows, one example. */
export function Warnings({ warnings, testId = 'import-warnings' }: { warnings: RunWarning[]; testId?: string }) {
  const { t, formatNumber } = useI18n();
  return (
    <div className="alert alert-warn" data-testid={testId}>
      <strong>{t('import.warnings')}</strong>
      <ul className="warnings">
        {warnings.map((w, i) => (
          <li key={i} data-code={w.code}>
            <code>{w.code}</code> {w.message}
            {w.rows !== undefined && (
              <span className="muted"> · {t('import.warningRows', { rows: formatNumber(w.rows) })}</span>
            )}
            {/* The reader's message may give the example already. */}
            {w.example && !w.message.includes(w.example.after) && (
              <div className="small mono">
                {t('import.example', { before: w.example.before, after: w.example.after })}
              </div>
            )}
            {w.hint && <div className="alert-hint">{w.hint}</div>}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function EnrichmentCounts({ enrichment }: { enrichment: NonNullable<ImportPreview['enrichment']> }) {
  const { t, formatNumber } = useI18n();
  return (
    <dl className="kv" data-testid="enrichment-counts">
      <div className="kv-row">
        <dt>{t('run.enrichment.matched')}</dt>
        <dd>{formatNumber(enrichment.matched)}</dd>
      </div>
      <div className="kv-row">
        <dt>{t('run.enrichment.enriched')}</dt>
        <dd>{formatNumber(enrichment.enriched)}</dd>
      </div>
      <div className="kv-row">
        <dt>{t('run.enrichment.unmatched')}</dt>
        <dd>{formatNumber(enrichment.unmatched)}</dd>
      </div>
      {enrichment.unmatchedAccounts.length > 0 && (
        <div className="kv-row">
          <dt>{t('run.enrichment.unmatchedAccounts')}</dt>
          <dd className="mono">{enrichment.unmatchedAccounts.join(', ')}</dd>
        </div>
      )}
    </dl>
  );
}

/** Every problem the reader found, where it is: the admin fixes the file, not the form. */
function IssuesTable({ issues }: { issues: ImportIssue[] }) {
  const { t } = useI18n();
  const ref = useScrolledTo();
  return (
    <section ref={ref}>
      <h3 className="panel-subtitle">{t('import.issues')}</h3>
      <table className="table table-compact" data-testid="import-issues">
        <thead>
          <tr>
            <th>{t('import.issue.where')}</th>
            <th>{t('import.issue.field')}</th>
            <th>{t('import.issue.problem')}</th>
          </tr>
        </thead>
        <tbody>
          {issues.map((issue, i) => (
            <tr key={i} data-testid="import-issue">
              <td className="mono small">
                {issue.path}
                {issue.object && <div className="muted">{issue.object}</div>}
              </td>
              <td>{issue.field}</td>
              <td>
                {issue.message}
                {issue.hint && <div className="hint">{issue.hint}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
