import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api';
import { ApiContext, useApi } from './api-context';
import type { Session } from './api-types';
import { LanguageSwitch, useI18n } from './i18n/i18n';
import { OrgPage } from './pages/org-page';
import { RunDetailPage } from './pages/run-detail-page';
import { RunsPage } from './pages/runs-page';
import { SettingsPage } from './pages/settings-page';
import { ChangePasswordPage, SignInPage } from './pages/sign-in-page';
import { Link, useRouter } from './router';

export function App() {
  // undefined: still asking the server; null: signed out
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const api = useMemo(() => new ApiClient(() => setSession(null)), []);

  useEffect(() => {
    let live = true;
    api.session().then(
      (s) => live && setSession(s),
      () => live && setSession(null),
    );
    return () => {
      live = false;
    };
  }, [api]);

  return (
    <ApiContext.Provider value={api}>
      {session === undefined ? (
        <Splash />
      ) : session === null ? (
        <SignInPage onSignedIn={setSession} />
      ) : session.mustChangePassword ? (
        <ChangePasswordPage
          onChanged={() => setSession({ ...session, mustChangePassword: false })}
          onSignedOut={() => setSession(null)}
        />
      ) : (
        <Shell session={session} onSignedOut={() => setSession(null)} />
      )}
    </ApiContext.Provider>
  );
}

function Splash() {
  const { t } = useI18n();
  return <div className="splash">{t('app.loading')}</div>;
}

function Shell({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const { path, navigate } = useRouter();

  useEffect(() => {
    if (path === '/' || path === '') navigate('/org', { replace: true });
  }, [path, navigate]);

  const signOut = useCallback(async () => {
    try {
      await api.signOut();
    } finally {
      onSignedOut();
    }
  }, [api, onSignedOut]);

  const runMatch = /^\/runs\/(\d+)\/?$/.exec(path);
  const section = path.startsWith('/settings') ? 'settings' : path.startsWith('/runs') ? 'runs' : 'org';

  return (
    <div className="shell">
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>
          {t('app.name')}
        </div>
        <nav className="nav" aria-label="main">
          <Link to="/org" className={section === 'org' ? 'active' : ''} data-testid="nav-org">
            {t('nav.org')}
          </Link>
          <Link to="/settings" className={section === 'settings' ? 'active' : ''} data-testid="nav-settings">
            {t('nav.settings')}
          </Link>
          <Link to="/runs" className={section === 'runs' ? 'active' : ''} data-testid="nav-runs">
            {t('nav.runs')}
          </Link>
        </nav>
        <div className="topbar-right">
          <LanguageSwitch />
          <span className="user-name" data-testid="current-user">
            {session.user.username}
          </span>
          <button type="button" className="btn btn-link" onClick={signOut} data-testid="sign-out">
            {t('app.signOut')}
          </button>
        </div>
      </header>
      <main className="main">
        {section === 'settings' ? (
          <SettingsPage />
        ) : section === 'runs' ? (
          runMatch ? (
            <RunDetailPage key={runMatch[1]} id={Number(runMatch[1])} />
          ) : (
            <RunsPage />
          )
        ) : (
          <OrgPage />
        )}
      </main>
    </div>
  );
}
