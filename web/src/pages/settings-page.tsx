import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { ApiError, type SecretsInput, type SettingsInput } from '../api';
import { useApi } from '../api-context';
import type { Connection, ConnectionTestResult, PlatformDescription, PlatformField, Texts } from '../api-types';
import { ErrorBox, Spinner } from '../components/common';
import { useI18n } from '../i18n/i18n';

/** A field's text in the console's language (the server's description carries both). */
function inLang(texts: Texts, lang: string): string {
  return lang === 'zh-CN' ? texts.zh : texts.en;
}

export function SettingsPage() {
  const { t } = useI18n();
  const api = useApi();
  const [connections, setConnections] = useState<Connection[] | null>(null);
  const [platforms, setPlatforms] = useState<PlatformDescription[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const [described, list] = await Promise.all([api.platforms(), api.connections()]);
      setPlatforms(described);
      setConnections(list);
    } catch (err) {
      setError(err);
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  const replace = (c: Connection, previousName?: string) =>
    setConnections((list) => {
      const rest = (list ?? []).filter((x) => x.name !== (previousName ?? c.name));
      return [...rest, c].sort((a, b) => a.id - b.id);
    });

  const cards: Array<{ platform: PlatformDescription; connection: Connection | null; key: string }> = [];
  if (connections && platforms) {
    for (const platform of platforms) {
      const mine = connections.filter((c) => c.platform === platform.id);
      // Keyed by position, so a card keeps its state (test result, "saved") when its connection is first created.
      if (mine.length === 0) cards.push({ platform, connection: null, key: `${platform.id}-0` });
      mine.forEach((c, i) => {
        cards.push({ platform, connection: c, key: `${platform.id}-${i}` });
      });
    }
  }

  return (
    <div className="page page-settings">
      <div className="page-head">
        <h1>{t('settings.title')}</h1>
        <p className="muted">{t('settings.intro')}</p>
      </div>
      <ErrorBox error={error} onRetry={load} />
      {!connections && !error && <div className="muted">{t('app.loading')}</div>}
      <div className="cards">
        {cards.map((c) => (
          <ConnectionCard
            key={c.key}
            platform={c.platform}
            saved={c.connection}
            onSaved={(conn) => replace(conn)}
            onDeleted={() => void load()}
          />
        ))}
      </div>
    </div>
  );
}

type FormState = Record<string, string>;

function formFrom(platform: PlatformDescription, saved: Connection | null): FormState {
  const form: FormState = { name: saved?.name ?? platform.id };
  for (const f of platform.fields) {
    if (f.secret) continue;
    const value = saved?.settings?.[f.key];
    // A value equal to the default shows as empty: the default applies.
    form[f.key] = value === undefined || value === f.default ? '' : String(value);
  }
  // A new card leaves it empty: the server's default (daily at 02:00) applies.
  form.reconcileCron = saved ? (saved.schedule.reconcileCron ?? 'off') : '';
  return form;
}

/** The schedule typed on the card, when it differs from what is saved (a new card: when anything is typed). */
function changedSchedule(
  form: FormState,
  saved: Connection | null,
  platform: PlatformDescription,
): { schedule?: { reconcileCron: string } } {
  const typed = (form.reconcileCron ?? '').trim();
  if (!saved) return typed ? { schedule: { reconcileCron: typed } } : {};
  return typed !== formFrom(platform, saved).reconcileCron ? { schedule: { reconcileCron: typed } } : {};
}

/** A number field takes a number; anything else is sent as typed, so the API names the field. */
function numberValue(v: string): number | string {
  const s = v.trim();
  return /^\d{1,15}$/.test(s) ? Number(s) : s;
}

function ConnectionCard({
  platform: described,
  saved,
  onSaved,
  onDeleted,
}: {
  platform: PlatformDescription;
  saved: Connection | null;
  onSaved: (c: Connection) => void;
  onDeleted: () => void;
}) {
  const { t, tx, formatTime, lang } = useI18n();
  const api = useApi();
  // Test ids and CSS classes carry the platform's id, as they always have.
  const platform = described.id;
  const settingFields = described.fields.filter((f) => !f.secret);
  const mainFields = described.fields.filter((f) => f.place === 'main');
  const advancedFields = described.fields.filter((f) => f.place === 'advanced');
  const idBase = useId();
  const [form, setForm] = useState<FormState>(() => formFrom(described, saved));
  // Secrets typed in this session only: never filled from the server, cleared after a save.
  const [secrets, setSecrets] = useState<FormState>({});
  const [syncEnabled, setSyncEnabled] = useState<boolean>(saved?.syncEnabled ?? false);
  const [testing, setTesting] = useState(false);
  const [saving, setSaving] = useState(false);
  const [switching, setSwitching] = useState(false);
  const [test, setTest] = useState<ConnectionTestResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [savedNote, setSavedNote] = useState(false);

  useEffect(() => {
    setForm(formFrom(described, saved));
    setSecrets({});
    setSyncEnabled(saved?.syncEnabled ?? false);
  }, [described, saved]);

  const field = error instanceof ApiError && error.field ? error.field.split('.').pop() : undefined;

  const settingsInput = (): SettingsInput => {
    const out: SettingsInput = {};
    for (const f of settingFields) {
      const typed = form[f.key]?.trim() ?? '';
      // An empty field with a default is left out: the default applies.
      if (typed === '' && f.default !== undefined) continue;
      out[f.key] = f.number ? numberValue(typed) : typed;
    }
    return out;
  };

  /** For a saved connection: only the settings that differ from what is stored (an emptied one goes back to its default). */
  const changedSettings = (conn: Connection): Partial<SettingsInput> => {
    const now = settingsInput();
    const before = formFrom(described, conn);
    const out: Partial<SettingsInput> = {};
    for (const f of settingFields) {
      const value = now[f.key];
      if (String(value ?? '') !== (before[f.key] ?? '')) out[f.key] = value ?? f.default ?? '';
    }
    return out;
  };

  const callbackSecrets = described.fields.filter(
    (f) => f.place === 'callback' && saved?.secrets !== undefined && f.key in saved.secrets,
  );

  const typedSecrets = (): SecretsInput => {
    const out: SecretsInput = {};
    for (const f of [...mainFields.filter((m) => m.secret), ...callbackSecrets]) {
      const v = secrets[f.key]?.trim();
      if (v) out[f.key] = v;
    }
    return out;
  };

  const runTest = async () => {
    setTesting(true);
    setError(null);
    setTest(null);
    setSavedNote(false);
    try {
      const result = saved
        ? await api.testConnection(saved.name, { settings: changedSettings(saved), secrets: typedSecrets() })
        : await api.testUnsaved({ platform, settings: settingsInput(), secrets: typedSecrets() });
      setTest(result);
    } catch (err) {
      setError(err);
    } finally {
      setTesting(false);
    }
  };

  const save = async (e?: FormEvent) => {
    e?.preventDefault();
    setSaving(true);
    setError(null);
    setSavedNote(false);
    try {
      const conn = saved
        ? await api.updateConnection(saved.name, {
            settings: changedSettings(saved),
            secrets: typedSecrets(),
            ...changedSchedule(form, saved, described),
          })
        : await api.createConnection({
            platform,
            name: form.name?.trim() ?? platform,
            settings: settingsInput(),
            secrets: typedSecrets(),
            syncEnabled,
            ...changedSchedule(form, null, described),
          });
      setSecrets({});
      setSavedNote(true);
      onSaved(conn);
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };

  const toggleSync = async () => {
    const next = !syncEnabled;
    if (!saved) {
      setSyncEnabled(next);
      return;
    }
    setSwitching(true);
    setError(null);
    try {
      const conn = await api.updateConnection(saved.name, { syncEnabled: next });
      setSyncEnabled(conn.syncEnabled);
      onSaved(conn);
    } catch (err) {
      setError(err);
    } finally {
      setSwitching(false);
    }
  };

  const remove = async () => {
    if (!saved || !window.confirm(t('settings.deleteConfirm', { name: saved.name }))) return;
    setError(null);
    try {
      await api.deleteConnection(saved.name);
      onDeleted();
    } catch (err) {
      setError(err);
    }
  };

  const input = (f: PlatformField) => {
    const id = `${idBase}-${f.key}`;
    const invalid = field === f.key;
    const secretState = saved?.secrets?.[f.key];
    const value = f.secret ? (secrets[f.key] ?? '') : (form[f.key] ?? '');
    return (
      <div className={`field${invalid ? ' field-invalid' : ''}`} key={f.key}>
        <label className="field-label" htmlFor={id}>
          {inLang(f.label, lang)}
          {f.secret && secretState?.set && <span className="badge badge-muted">{t('settings.saved')}</span>}
        </label>
        <input
          id={id}
          name={f.key}
          data-testid={`${platform}-${f.key}`}
          type={f.secret ? 'password' : 'text'}
          autoComplete={f.secret ? 'new-password' : 'off'}
          spellCheck={false}
          value={value}
          aria-invalid={invalid || undefined}
          placeholder={
            f.secret
              ? secretState?.set
                ? secretState.masked || '••••••'
                : !f.required
                  ? t('settings.secretPlaceholderEmpty')
                  : ''
              : (f.placeholder ?? f.default)
          }
          title={f.secret && secretState?.set ? t('settings.secretPlaceholderSet') : undefined}
          onChange={(e) =>
            f.secret
              ? setSecrets((s) => ({ ...s, [f.key]: e.target.value }))
              : setForm((s) => ({ ...s, [f.key]: e.target.value }))
          }
        />
        {invalid && error instanceof ApiError ? (
          <div className="field-error">{error.message}</div>
        ) : f.help ? (
          <div className="field-help">{inLang(f.help, lang)}</div>
        ) : null}
      </div>
    );
  };

  return (
    <section className="card connection-card" data-testid={`card-${platform}`} data-connection={saved?.name ?? ''}>
      <header className="card-head">
        <div className="card-title">
          <span className={`platform-mark platform-${platform}`} aria-hidden="true">
            {described.mark}
          </span>
          <h2>{inLang(described.names, lang)}</h2>
          {saved ? (
            <span className="badge">{saved.name}</span>
          ) : (
            <span className="badge badge-muted">{t('settings.notConnected')}</span>
          )}
        </div>
        <div className="switch-row">
          <button
            type="button"
            role="switch"
            aria-checked={syncEnabled}
            className={`switch${syncEnabled ? ' on' : ''}`}
            onClick={toggleSync}
            disabled={switching}
            data-testid={`${platform}-sync-switch`}
          >
            <span className="switch-knob" />
          </button>
          <span className="switch-label">
            {t('settings.syncEnabled')}
            {!saved && syncEnabled ? <span className="muted"> · {t('settings.syncNeedsSave')}</span> : null}
          </span>
        </div>
      </header>
      <form className="card-body" onSubmit={save} autoComplete="off">
        {!saved && (
          <div className={`field${field === 'name' ? ' field-invalid' : ''}`}>
            <label className="field-label" htmlFor={`${idBase}-name`}>
              {t('settings.name')}
            </label>
            <input
              id={`${idBase}-name`}
              data-testid={`${platform}-name`}
              value={form.name ?? ''}
              spellCheck={false}
              onChange={(e) => setForm((s) => ({ ...s, name: e.target.value }))}
            />
            {field === 'name' && error instanceof ApiError ? (
              <div className="field-error">{error.message}</div>
            ) : (
              <div className="field-help">{t('settings.nameHelp')}</div>
            )}
          </div>
        )}
        <div className="field-grid">{mainFields.map(input)}</div>
        <div className={`field${field === 'reconcileCron' ? ' field-invalid' : ''}`}>
          <label className="field-label" htmlFor={`${idBase}-reconcileCron`}>
            {t('settings.reconcileCron')}
          </label>
          <input
            id={`${idBase}-reconcileCron`}
            name="reconcileCron"
            data-testid={`${platform}-reconcileCron`}
            value={form.reconcileCron ?? ''}
            spellCheck={false}
            autoComplete="off"
            placeholder="0 2 * * *"
            aria-invalid={field === 'reconcileCron' || undefined}
            onChange={(e) => setForm((s) => ({ ...s, reconcileCron: e.target.value }))}
          />
          {field === 'reconcileCron' && error instanceof ApiError ? (
            <div className="field-error">{error.message}</div>
          ) : (
            <div className="field-help">
              {t('settings.reconcileCronHelp', { timezone: saved?.reconcileTimezone ?? t('settings.serverTimezone') })}
              {saved?.nextReconcileAt ? (
                <span data-testid={`${platform}-reconcile-next`}>
                  {' '}
                  {t('settings.reconcileNext', { time: formatTime(saved.nextReconcileAt) })}
                </span>
              ) : saved?.schedule.reconcileCron && !saved.syncEnabled ? (
                <span> {t('settings.reconcileWaits')}</span>
              ) : null}
            </div>
          )}
        </div>
        {advancedFields.length > 0 && (
          <details className="advanced" open={advancedFields.some((f) => Boolean(form[f.key]) || field === f.key)}>
            <summary>{advancedFields.map((f) => inLang(f.label, lang)).join(' · ')}</summary>
            {advancedFields.map(input)}
          </details>
        )}
        {saved?.secretsError && (
          <div className="alert alert-warn">
            <div>
              <code>{saved.secretsError.code}</code> {saved.secretsError.message}
            </div>
            {saved.secretsError.hint && (
              <div className="alert-hint">
                {t('app.hint')}
                {saved.secretsError.hint}
              </div>
            )}
          </div>
        )}
        {saved?.callbackUrl || callbackSecrets.length > 0 ? (
          <details
            className="advanced"
            data-testid={`${platform}-callback`}
            open={Boolean(field && callbackSecrets.some((f) => f.key === field))}
          >
            <summary>{t('settings.callback')}</summary>
            {saved?.callbackUrl ? (
              <div className="field">
                <span className="field-label">{t('settings.callbackUrl')}</span>
                <code className="copyable" data-testid={`${platform}-callback-url`}>
                  {saved.callbackUrl}
                </code>
                <div className="field-help">{t('settings.callbackUrlHelp')}</div>
              </div>
            ) : null}
            {callbackSecrets.length > 0 && <div className="field-grid">{callbackSecrets.map(input)}</div>}
          </details>
        ) : null}

        {test && (
          <div
            className={`test-result ${!test.ok ? 'failed' : test.checks.some((c) => c.level === 'warning') ? 'warning' : 'ok'}`}
            data-testid={`${platform}-test-result`}
            data-ok={String(test.ok)}
          >
            <div className="test-summary">
              {!test.ok
                ? `✗ ${t('settings.testFailed')}`
                : test.checks.some((c) => c.level === 'warning')
                  ? `! ${t('settings.testPassedWithWarnings')}`
                  : `✓ ${t('settings.testPassed')}`}
            </div>
            <ul className="checks">
              {test.checks.map((c, i) => {
                // A warning passed (a sync works) but limits what is read: shown apart from passes and failures.
                const verdict = c.level === 'warning' ? 'warning' : c.ok ? 'ok' : 'failed';
                const label =
                  verdict === 'warning'
                    ? t('settings.checkWarning')
                    : verdict === 'ok'
                      ? t('settings.checkPassed')
                      : t('settings.checkFailed');
                return (
                  <li
                    key={`${c.name}-${i}`}
                    className={`check ${verdict}`}
                    data-testid="check"
                    data-ok={String(c.ok)}
                    data-level={c.level ?? ''}
                    data-name={c.name}
                  >
                    <span className="check-icon" role="img" aria-label={label}>
                      {verdict === 'warning' ? '!' : c.ok ? '✓' : '✗'}
                    </span>
                    <div className="check-body">
                      <div className="check-name">
                        {tx('check', c.name)}
                        <span className={`check-verdict ${verdict}`}>{label}</span>
                      </div>
                      <div className="check-message">{c.message}</div>
                      {c.hint && (
                        <div className="check-hint" data-testid="check-hint">
                          {t('app.hint')}
                          {c.hint}
                        </div>
                      )}
                    </div>
                  </li>
                );
              })}
            </ul>
          </div>
        )}
        <ErrorBox error={error} />
        <footer className="card-actions">
          <button type="button" className="btn" onClick={runTest} disabled={testing} data-testid={`${platform}-test`}>
            {testing ? (
              <>
                <Spinner /> {t('settings.testing')}
              </>
            ) : (
              t('settings.test')
            )}
          </button>
          <button type="submit" className="btn btn-primary" disabled={saving} data-testid={`${platform}-save`}>
            {saving ? t('settings.saving') : t('settings.save')}
          </button>
          {savedNote && (
            <span className="saved-note" data-testid={`${platform}-saved`}>
              ✓ {t('settings.savedOk')}
            </span>
          )}
          <span className="spacer" />
          {saved && (
            <span className="muted small">{t('settings.updatedAt', { time: formatTime(saved.updatedAt) })}</span>
          )}
          {saved && (
            <button type="button" className="btn btn-link btn-danger" onClick={remove}>
              {t('settings.delete')}
            </button>
          )}
        </footer>
      </form>
    </section>
  );
}
