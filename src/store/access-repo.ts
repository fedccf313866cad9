import type { Kysely, Transaction } from 'kysely';
import { OrgsyncError } from '../errors.js';
import type { Database } from './schema.js';

/** Who may use the server: admins with their password hashes, their sessions, and API tokens for automation. */

export interface AdminRecord {
  username: string;
  passwordHash: string;
  createdAt: string;
  updatedAt: string;
}

export interface SessionRecord {
  username: string;
  csrfToken: string;
  createdAt: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface ApiTokenRecord {
  name: string;
  /** The token's first characters, to tell tokens apart; never enough to use it. */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface AccessRepo {
  countAdmins(): Promise<number>;
  getAdmin(username: string): Promise<AdminRecord | undefined>;
  /** Refuses a username already taken with ADMIN_EXISTS. */
  createAdmin(username: string, passwordHash: string): Promise<AdminRecord>;
  /** Returns whether there is such an admin. */
  setAdminPassword(username: string, passwordHash: string): Promise<boolean>;
  /** Admins by username. */
  listAdmins(): Promise<Array<Omit<AdminRecord, 'passwordHash'>>>;

  /** The session is stored under the hash of its id; the id itself never is. */
  createSession(idHash: string, session: SessionRecord): Promise<void>;
  /** The session, if it exists and has not expired at `now` (ms). */
  getSession(idHash: string, now: number): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;
  /** Ends every session of one admin (after a password change); returns how many. */
  deleteSessionsOf(username: string): Promise<number>;
  deleteExpiredSessions(now: number): Promise<number>;

  /** Refuses a name already taken with TOKEN_EXISTS. */
  createApiToken(token: { name: string; tokenHash: string; prefix: string }): Promise<ApiTokenRecord>;
  findApiToken(tokenHash: string): Promise<ApiTokenRecord | undefined>;
  touchApiToken(name: string, at: string): Promise<void>;
  /** By name. */
  listApiTokens(): Promise<ApiTokenRecord[]>;
  /** Returns whether there was such a token. */
  revokeApiToken(name: string): Promise<boolean>;
}

type Db = Kysely<Database> | Transaction<Database>;

const byName = <T>(key: (v: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

export class KyselyAccessRepo implements AccessRepo {
  constructor(private readonly db: Db) {}

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('admins')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async getAdmin(username: string): Promise<AdminRecord | undefined> {
    const row = await this.db.selectFrom('admins').selectAll().where('username', '=', username).executeTakeFirst();
    return row ? { username: row.username, passwordHash: row.password_hash, createdAt: row.created_at, updatedAt: row.updated_at } : undefined;
  }

  async createAdmin(username: string, passwordHash: string): Promise<AdminRecord> {
    const at = new Date().toISOString();
    try {
      await this.db.insertInto('admins').values({ username, password_hash: passwordHash, created_at: at, updated_at: at }).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        { code: 'ADMIN_EXISTS', message: `an admin named "${username}" exists already`, hint: `Change its password with \`orgsync admin set-password --username ${username}\`.` },
        { cause: err },
      );
    }
    return { username, passwordHash, createdAt: at, updatedAt: at };
  }

  async setAdminPassword(username: string, passwordHash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('admins')
      .set({ password_hash: passwordHash, updated_at: new Date().toISOString() })
      .where('username', '=', username)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async listAdmins(): Promise<Array<Omit<AdminRecord, 'passwordHash'>>> {
    const rows = await this.db.selectFrom('admins').select(['username', 'created_at', 'updated_at']).execute();
    return rows.map((r) => ({ username: r.username, createdAt: r.created_at, updatedAt: r.updated_at })).sort(byName((a) => a.username));
  }

  async createSession(idHash: string, session: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ id_hash: idHash, username: session.username, csrf_token: session.csrfToken, created_at: session.createdAt, expires_at: session.expiresAt })
      .execute();
  }

  async getSession(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).where('expires_at', '>', now).executeTakeFirst();
    return row ? { username: row.username, csrfToken: row.csrf_token, createdAt: row.created_at, expiresAt: row.expires_at } : undefined;
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteSessionsOf(username: string): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('username', '=', username).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async createApiToken(token: { name: string; tokenHash: string; prefix: string }): Promise<ApiTokenRecord> {
    const at = new Date().toISOString();
    try {
      await this.db
        .insertInto('api_tokens')
        .values({ name: token.name, token_hash: token.tokenHash, prefix: token.prefix, created_at: at, last_used_at: null })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        { code: 'TOKEN_EXISTS', message: `an API token named "${token.name}" exists already`, hint: `Choose another name, or revoke that one with \`orgsync token revoke ${token.name}\`.` },
        { cause: err },
      );
    }
    return { name: token.name, prefix: token.prefix, createdAt: at, lastUsedAt: null };
  }

  async findApiToken(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db.selectFrom('api_tokens').select(['name', 'prefix', 'created_at', 'last_used_at']).where('token_hash', '=', tokenHash).executeTakeFirst();
    return row ? { name: row.name, prefix: row.prefix, createdAt: row.created_at, lastUsedAt: row.last_used_at } : undefined;
  }

  async touchApiToken(name: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('name', '=', name).execute();
  }

  async listApiTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.db.selectFrom('api_tokens').select(['name', 'prefix', 'created_at', 'last_used_at']).execute();
    return rows.map((r) => ({ name: r.name, prefix: r.prefix, createdAt: r.created_at, lastUsedAt: r.last_used_at })).sort(byName((t) => t.name));
  }

  async revokeApiToken(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('api_tokens').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
