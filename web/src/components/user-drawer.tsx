import { useEffect, useState } from 'react';
import { useApi } from '../api-context';
import type { UserDetail } from '../api-types';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { Drawer, ErrorBox, formatValue } from './common';
import { FieldDiffs } from './field-diffs';

const PROFILE_ORDER = [
  'userid',
  'name',
  'alias',
  'position',
  'mobile',
  'email',
  'telephone',
  'gender',
  'employeeNo',
  'address',
  'avatar',
  'status',
];
const NOT_PROFILE = new Set(['id', 'memberships', 'links', 'mainDepartmentId', 'attributes', 'history']);

export function UserDrawer({ userId, onClose }: { userId: number; onClose: () => void }) {
  const { t, tx, formatTime } = useI18n();
  const api = useApi();
  const [data, setData] = useState<UserDetail | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    setData(null);
    setError(null);
    api.user(userId).then(
      (d) => live && setData(d),
      (err) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [api, userId]);

  const user = data?.user;
  const profileKeys = user
    ? [
        ...PROFILE_ORDER.filter((k) => k in user),
        ...Object.keys(user).filter((k) => !PROFILE_ORDER.includes(k) && !NOT_PROFILE.has(k)),
      ]
    : [];
  const attributes =
    user && typeof user.attributes === 'object' && user.attributes !== null
      ? Object.entries(user.attributes as Record<string, unknown>)
      : [];
  const mainDepartmentId = user && typeof user.mainDepartmentId === 'number' ? user.mainDepartmentId : null;
  const empty = t('common.empty');

  return (
    <Drawer
      title={user ? (user.name ?? user.userid ?? t('user.title')) : t('user.title')}
      onClose={onClose}
      testId="user-drawer"
    >
      <ErrorBox error={error} />
      {!data && !error && <div className="muted">{t('app.loading')}</div>}
      {data && user && (
        <>
          <section className="drawer-section">
            <h3>{t('user.profile')}</h3>
            <dl className="kv" data-testid="user-profile">
              {profileKeys.map((k) => (
                <div key={k} className="kv-row">
                  <dt>{tx('field', k)}</dt>
                  <dd className={user[k] === null || user[k] === undefined || user[k] === '' ? 'muted' : ''}>
                    {k === 'status' ? tx('org.status', String(user[k])) : formatValue(user[k], empty)}
                  </dd>
                </div>
              ))}
              {attributes.map(([k, v]) => (
                <div key={`attr-${k}`} className="kv-row">
                  <dt>{k}</dt>
                  <dd>{formatValue(v, empty)}</dd>
                </div>
              ))}
            </dl>
          </section>

          <section className="drawer-section">
            <h3>{t('user.memberships')}</h3>
            <table className="table table-compact" data-testid="user-memberships">
              <thead>
                <tr>
                  <th>{t('org.departments')}</th>
                  <th>{t('org.leader')}</th>
                  <th className="num">{t('user.order')}</th>
                </tr>
              </thead>
              <tbody>
                {data.memberships.map((m) => (
                  <tr key={m.departmentId}>
                    <td>
                      {m.departmentName ?? `#${m.departmentId}`}
                      {m.departmentId === mainDepartmentId && (
                        <span className="badge badge-muted">{t('user.mainDepartment')}</span>
                      )}
                    </td>
                    <td>{m.leader ? t('common.yes') : ''}</td>
                    <td className="num">{m.order}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>

          <section className="drawer-section">
            <h3>{t('user.links')}</h3>
            {data.links.length === 0 ? (
              <div className="muted">{t('user.noLinks')}</div>
            ) : (
              <table className="table table-compact" data-testid="user-links">
                <thead>
                  <tr>
                    <th>{t('user.source')}</th>
                    <th>{t('user.externalId')}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.links.map((l) => (
                    <tr key={`${l.source}:${l.externalId}`}>
                      <td>{l.source}</td>
                      <td className="mono">{l.externalId}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          <section className="drawer-section">
            <h3>{t('user.history')}</h3>
            {data.history.length === 0 ? (
              <div className="muted">{t('user.noHistory')}</div>
            ) : (
              <ol className="history" data-testid="user-history">
                {data.history.map((h, i) => (
                  <li key={`${h.runId ?? ''}-${h.seq}-${i}`} className="history-item">
                    <div className="history-head">
                      <span className={`action action-${h.action}`}>{tx('action', h.action)}</span>
                      {h.runId !== undefined && (
                        <Link to={`/runs/${h.runId}`} className="small">
                          {t('user.run', { id: h.runId })}
                        </Link>
                      )}
                      {h.source && <span className="muted small">{h.source}</span>}
                      <span className="spacer" />
                      {(h.at ?? h.createdAt) && <span className="muted small">{formatTime(h.at ?? h.createdAt)}</span>}
                    </div>
                    <FieldDiffs fields={h.fields} labelOf={(f) => tx('field', f)} />
                  </li>
                ))}
              </ol>
            )}
          </section>
        </>
      )}
    </Drawer>
  );
}
