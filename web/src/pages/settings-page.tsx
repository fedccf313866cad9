import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { ApiError, type SecretsInput, type SettingsInput } from '../api';
import { useApi } from '../api-context';
import type { Connection, ConnectionTestResult, Platform } from '../api-types';
import { ErrorBox, Spinner } from '../components/common';
import { useI18n } from '../i18n/i18n';
import type { MessageKey } from '../i18n/zh-CN';

const DEFAULT_API_BASE_URLS: Record<Platform, string> = {
  wecom: 'https://qyapi.weixin.qq.com',
  dingtalk: 'https://oapi.dingtalk.com',
};

interface FieldSpec {
  key: string;
  label: MessageKey;
  help?: MessageKey;
  secret?: boolean;
  optional?: boolean;
  placeholder?: string;
}

interface PlatformSpec {
  title: MessageKey;
  settings: FieldSpec[];
  secrets: FieldSpec[];
}

/**
 * The event callback (接收事件服务器) secrets. A card shows them once the API lists them among a saved connection's
 * secrets, so the console follows what the server supports.
 */
const CALLBACK_SECRETS: Record<Platform, FieldSpec[]> = {
  wecom: [
    { key: 'callbackToken', label: 'settings.callbackToken', secret: true, optional: true },
    { key: 'callbackAesKey', label: 'settings.wecom.callbackAesKey', secret: true, optional: true },
  ],
  dingtalk: [
    { key: 'callbackToken', label: 'settings.callbackToken', secret: true, optional: true },
    { key: 'callbackAesKey', label: 'settings.dingtalk.callbackAesKey', secret: true, optional: true },
  ],
};

const SPECS: Record<Platform, PlatformSpec> = {
  wecom: {
    title: 'settings.wecom',
    settings: [
      { key: 'corpId', label: 'settings.wecom.corpId', help: 'settings.wecom.corpIdHelp', placeholder: 'ww…' },
      { key: 'agentId', label: 'settings.wecom.agentId', help: 'settings.wecom.agentIdHelp', placeholder: '1000002' },
    ],
    secrets: [
      { key: 'secret', label: 'settings.wecom.secret', secret: true },
      { key: 'contactsSecret', label: 'settings.wecom.contactsSecret', help: 'settings.wecom.contactsSecretHelp', secret: true, optional: true },
    ],
  },
  dingtalk: {
    title: 'settings.dingtalk',
    settings: [
      { key: 'corpId', label: 'settings.dingtalk.corpId', placeholder: 'ding…' },
      { key: 'agentId', label: 'settings.dingtalk.agentId' },
      { key: 'clientId', label: 'settings.dingtalk.clientId', help: 'settings.dingtalk.clientIdHelp' },
    ],
    secrets: [{ key: 'clientSecret', label: 'settings.dingtalk.clientSecret', secret: true }],
  },
};

export function SettingsPage() {
  const { t } = useI18n();
  const api = useApi();
  const [connections, setConnections] = useState<Connection[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setConnections(await api.connections());
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

  const cards: Array<{ platform: Platform; connection: Connection | null; key: string }> = [];
  if (connections) {
    for (const platform of ['wecom', 'dingtalk'] as const) {
      const mine = connections.filter((c) => c.platform === platform);
      // Keyed by position, so a card keeps its state (test result, "saved") when its connection is first created.
      if (mine.length === 0) cards.push({ platform, connection: null, key: `${platform}-0` });
      mine.forEach((c, i) => cards.push({ platform, connection: c, key: `${platform}-${i}` }));
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

function formFrom(platform: Platform, saved: Connection | null): FormState {
  const s = saved?.settings;
  return {
    name: saved?.name ?? platform,
    corpId: s?.corpId ?? '',
    agentId: s?.agentId !== undefined ? String(s.agentId) : '',
    clientId: s?.clientId ?? '',
    apiBaseUrl: s?.apiBaseUrl && s.apiBaseUrl !== DEFAULT_API_BASE_URLS[platform] ? s.apiBaseUrl : '',
    // A new card leaves it empty: the server's default (daily at 02:00) applies.
    reconcileCron: saved ? (saved.reconcileCron ?? 'off') : '',
  };
}

/** The schedule typed on the card, when it differs from what is saved (a new card: when anything is typed). */
function changedSchedule(form: FormState, saved: Connection | null, platform: Platform): { reconcileCron?: string } {
  const typed = (form.reconcileCron ?? '').trim();
  if (!saved) return typed ? { reconcileCron: typed } : {};
  return typed !== formFrom(platform, saved).reconcileCron ? { reconcileCron: typed } : {};
}

/** AgentId is a number; anything else is sent as typed, so the API names the field. */
function agentIdValue(v: string): number | string {
  const s = v.trim();
  return /^\d{1,15}$/.test(s) ? Number(s) : s;
}

function ConnectionCard({ platform, saved, onSaved, onDeleted }: { platform: Platform; saved: Connection | null; onSaved: (c: Connection) => void; onDeleted: () => void }) {
  const { t, tx, formatTime } = useI18n();
  const api = useApi();
  const spec = SPECS[platform];
  const idBase = useId();
  const [form, setForm] = useState<FormState>(() => formFrom(platform, saved));
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
    setForm(formFrom(platform, saved));
    setSecrets({});
    setSyncEnabled(saved?.syncEnabled ?? false);
  }, [platform, saved]);

  const field = error instanceof ApiError && error.field ? error.field.split('.').pop() : undefined;

  const settingsInput = (): SettingsInput => {
    const out: SettingsInput = { corpId: form.corpId?.trim() ?? '', agentId: agentIdValue(form.agentId ?? '') };
    const base = form.apiBaseUrl?.trim();
    if (base) out.apiBaseUrl = base;
    if (platform === 'dingtalk') out.clientId = form.clientId?.trim() ?? '';
    return out;
  };

  /** For a saved connection: only the settings that differ from what is stored. */
  const changedSettings = (conn: Connection): Partial<SettingsInput> => {
    const now = settingsInput();
    const before = formFrom(platform, conn);
    const out: Partial<SettingsInput> = {};
    if (now.corpId !== before.corpId) out.corpId = now.corpId;
    if (String(now.agentId) !== before.agentId) out.agentId = now.agentId;
    if (platform === 'dingtalk' && now.clientId !== before.clientId) out.clientId = now.clientId ?? '';
    if ((now.apiBaseUrl ?? '') !== before.apiBaseUrl) out.apiBaseUrl = now.apiBaseUrl ?? DEFAULT_API_BASE_URLS[platform];
    return out;
  };

  const callbackSecrets = CALLBACK_SECRETS[platform].filter((f) => saved?.secrets !== undefined && f.key in saved.secrets);

  const typedSecrets = (): SecretsInput => {
    const out: SecretsInput = {};
    for (const f of [...spec.secrets, ...callbackSecrets]) {
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
        ? await api.updateConnection(saved.name, { settings: changedSettings(saved), secrets: typedSecrets(), ...changedSchedule(form, saved, platform) })
        : await api.createConnection({ platform, name: form.name?.trim() ?? platform, settings: settingsInput(), secrets: typedSecrets(), syncEnabled, ...changedSchedule(form, null, platform) });
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

  const input = (f: FieldSpec) => {
    const id = `${idBase}-${f.key}`;
    const invalid = field === f.key;
    const secretState = saved?.secrets?.[f.key];
    const value = f.secret ? (secrets[f.key] ?? '') : (form[f.key] ?? '');
    return (
      <div className={`field${invalid ? ' field-invalid' : ''}`} key={f.key}>
        <label className="field-label" htmlFor={id}>
          {t(f.label)}
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
          placeholder={f.secret ? (secretState?.set ? (secretState.masked || '••••••') : f.optional ? t('settings.secretPlaceholderEmpty') : '') : f.placeholder}
          title={f.secret && secretState?.set ? t('settings.secretPlaceholderSet') : undefined}
          onChange={(e) => (f.secret ? setSecrets((s) => ({ ...s, [f.key]: e.target.value })) : setForm((s) => ({ ...s, [f.key]: e.target.value })))}
        />
        {invalid && error instanceof ApiError ? <div className="field-error">{error.message}</div> : f.help ? <div className="field-help">{t(f.help)}</div> : null}
      </div>
    );
  };

  return (
    <section className="card connection-card" data-testid={`card-${platform}`} data-connection={saved?.name ?? ''}>
      <header className="card-head">
        <div className="card-title">
          <span className={`platform-mark platform-${platform}`} aria-hidden="true">
            {platform === 'wecom' ? '企' : '钉'}
          </span>
          <h2>{t(spec.title)}</h2>
          {saved ? <span className="badge">{saved.name}</span> : <span className="badge badge-muted">{t('settings.notConnected')}</span>}
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
            {field === 'name' && error instanceof ApiError ? <div className="field-error">{error.message}</div> : <div className="field-help">{t('settings.nameHelp')}</div>}
          </div>
        )}
        <div className="field-grid">
          {spec.settings.map(input)}
          {spec.secrets.map(input)}
        </div>
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
                <span data-testid={`${platform}-reconcile-next`}> {t('settings.reconcileNext', { time: formatTime(saved.nextReconcileAt) })}</span>
              ) : saved?.reconcileCron && !saved.syncEnabled ? (
                <span> {t('settings.reconcileWaits')}</span>
              ) : null}
            </div>
          )}
        </div>
        <details className="advanced" open={Boolean(form.apiBaseUrl) || field === 'apiBaseUrl'}>
          <summary>{t('settings.apiBaseUrl')}</summary>
          {input({ key: 'apiBaseUrl', label: 'settings.apiBaseUrl', help: 'settings.apiBaseUrlHelp', placeholder: DEFAULT_API_BASE_URLS[platform] })}
        </details>
        {saved?.secretsError && (
          <div className="alert alert-warn">
            <div>
              <code>{saved.secretsError.code}</code> {saved.secretsError.message}
            </div>
            {saved.secretsError.hint && (
              <div className="alert-hint">
                {t('app.hint')}{saved.secretsError.hint}
              </div>
            )}
          </div>
        )}
        {saved?.callbackUrl || callbackSecrets.length > 0 ? (
          <details className="advanced" data-testid={`${platform}-callback`} open={Boolean(field && callbackSecrets.some((f) => f.key === field))}>
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
                const label = verdict === 'warning' ? t('settings.checkWarning') : verdict === 'ok' ? t('settings.checkPassed') : t('settings.checkFailed');
                return (
                  <li key={`${c.name}-${i}`} className={`check ${verdict}`} data-testid="check" data-ok={String(c.ok)} data-level={c.level ?? ''} data-name={c.name}>
                    <span className="check-icon" aria-label={label}>
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
                          {t('app.hint')}{c.hint}
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
          {saved && <span className="muted small">{t('settings.updatedAt', { time: formatTime(saved.updatedAt) })}</span>}
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
