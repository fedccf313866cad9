import path from 'node:path';
import { OrgsyncError } from './errors.js';
import { isPostgresUrl, redactUrl, type StoreConfig } from './store/open.js';

/** Settings from the environment, checked once where the process starts. */
export interface Config {
  store: StoreConfig;
}

export function loadConfig(env: NodeJS.ProcessEnv, overrides: { dataDir?: string | undefined } = {}): Config {
  const dataDir = path.resolve(overrides.dataDir ?? env.ORGSYNC_DATA_DIR ?? './data');
  const databaseUrl = env.ORGSYNC_DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) {
    throw new OrgsyncError({
      code: 'CONFIG_INVALID',
      message: `ORGSYNC_DATABASE_URL "${redactUrl(databaseUrl)}" is not a postgres:// URL`,
      hint: 'Set it to postgres://user:password@host:5432/database, or unset it to use SQLite in ORGSYNC_DATA_DIR.',
    });
  }
  return { store: { dataDir, databaseUrl } };
}
