import { useState, type FormEvent, type ReactNode } from 'react';
import { useApi } from '../api-context';
import type { Session } from '../api-types';
import { ApiError } from '../api';
import { ErrorBox } from '../components/common';
import { LanguageSwitch, useI18n } from '../i18n/i18n';

/** The page around a sign-in form: the language switch, the card with the brand, a title and an intro. */
function SignInFrame({
  testId,
  title,
  intro,
  onSubmit,
  children,
}: {
  testId: string;
  title: string;
  intro: string;
  onSubmit: (e: FormEvent) => void;
  children: ReactNode;
}) {
  return (
    <div className="sign-in">
      <div className="sign-in-lang">
        <LanguageSwitch />
      </div>
      <form className="sign-in-card" onSubmit={onSubmit} data-testid={testId}>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>
          orgsync
        </div>
        <h1>{title}</h1>
        <p className="muted">{intro}</p>
        {children}
      </form>
    </div>
  );
}

/** A form's submit: busy while the call runs, its error kept to show; `check` may refuse before calling. */
function useSubmit(call: () => Promise<void>, check?: () => unknown) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const refused = check?.();
    if (refused) {
      setError(refused);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await call();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

export function SignInPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const { busy, error, submit } = useSubmit(async () => onSignedIn(await api.signIn(username.trim(), password)));

  return (
    <SignInFrame testId="sign-in-form" title={t('signIn.title')} intro={t('signIn.subtitle')} onSubmit={submit}>
      <label className="field">
        <span className="field-label">{t('signIn.username')}</span>
        <input
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          required
        />
      </label>
      <label className="field">
        <span className="field-label">{t('signIn.password')}</span>
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          // biome-ignore lint/a11y/noAutofocus: a page whose only task is this form; the cursor starts in its field
          autoFocus
        />
      </label>
      <ErrorBox error={error} />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="sign-in-submit">
        {busy ? t('signIn.submitting') : t('signIn.submit')}
      </button>
    </SignInFrame>
  );
}

/**
 * After signing in with the password orgsync generated: the API refuses everything else until it is replaced, so
 * this form stands in for the console.
 */
export function ChangePasswordPage({ onChanged, onSignedOut }: { onChanged: () => void; onSignedOut: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const { busy, error, submit } = useSubmit(
    async () => {
      await api.changePassword(current, next);
      onChanged();
    },
    () =>
      next !== repeat
        ? new ApiError(0, { code: 'PASSWORDS_DIFFER', message: t('changePassword.mismatch'), field: 'repeat' })
        : null,
  );

  const signOut = async () => {
    try {
      await api.signOut();
    } finally {
      onSignedOut();
    }
  };

  return (
    <SignInFrame
      testId="change-password-form"
      title={t('changePassword.title')}
      intro={t('changePassword.intro')}
      onSubmit={submit}
    >
      <label className="field">
        <span className="field-label">{t('changePassword.current')}</span>
        <input
          name="currentPassword"
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          required
          // biome-ignore lint/a11y/noAutofocus: a page whose only task is this form; the cursor starts in its field
          autoFocus
        />
      </label>
      <label className="field">
        <span className="field-label">{t('changePassword.new')}</span>
        <input
          name="newPassword"
          type="password"
          autoComplete="new-password"
          minLength={8}
          value={next}
          onChange={(e) => setNext(e.target.value)}
          required
        />
      </label>
      <label className="field">
        <span className="field-label">{t('changePassword.repeat')}</span>
        <input
          name="repeatPassword"
          type="password"
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          required
        />
      </label>
      <p className="muted">{t('changePassword.minLength')}</p>
      <ErrorBox error={error} />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="change-password-submit">
        {busy ? t('changePassword.submitting') : t('changePassword.submit')}
      </button>
      <button type="button" className="btn btn-link btn-block" onClick={signOut} data-testid="sign-out">
        {t('app.signOut')}
      </button>
    </SignInFrame>
  );
}
