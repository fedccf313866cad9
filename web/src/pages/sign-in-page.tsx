import { useState, type FormEvent } from 'react';
import { useApi } from '../api-context';
import type { Session } from '../api-types';
import { ErrorBox } from '../components/common';
import { LanguageSwitch, useI18n } from '../i18n/i18n';

export function SignInPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.signIn(username.trim(), password));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div className="sign-in">
      <div className="sign-in-lang">
        <LanguageSwitch />
      </div>
      <form className="sign-in-card" onSubmit={submit} data-testid="sign-in-form">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>
          orgsync
        </div>
        <h1>{t('signIn.title')}</h1>
        <p className="muted">{t('signIn.subtitle')}</p>
        <label className="field">
          <span className="field-label">{t('signIn.username')}</span>
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label className="field">
          <span className="field-label">{t('signIn.password')}</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required autoFocus />
        </label>
        <ErrorBox error={error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="sign-in-submit">
          {busy ? t('signIn.submitting') : t('signIn.submit')}
        </button>
      </form>
    </div>
  );
}
