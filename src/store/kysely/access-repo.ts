import { sql, type Kysely } from 'kysely';
import { OrgsyncError } from '../../errors.js';
import type {
  AccessRepo,
  AdminRecord,
  ApiTokenRecord,
  LoginAttemptKey,
  LoginAttemptRecord,
  LoginClaim,
  SessionRecord,
} from '../access-repo.js';
import type { Database } from '../schema.js';
import type { Db } from './db.js';

const byName =
  <T>(key: (v: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

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
    return row
      ? {
          username: row.username,
          passwordHash: row.password_hash,
          mustChangePassword: Number(row.must_change_password) === 1,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        }
      : undefined;
  }

  async createAdmin(
    username: string,
    passwordHash: string,
    options: { mustChangePassword?: boolean } = {},
  ): Promise<AdminRecord> {
    const at = new Date().toISOString();
    const mustChangePassword = options.mustChangePassword === true;
    try {
      await this.db
        .insertInto('admins')
        .values({
          username,
          password_hash: passwordHash,
          must_change_password: mustChangePassword ? 1 : 0,
          created_at: at,
          updated_at: at,
        })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        {
          code: 'ADMIN_EXISTS',
          message: `an admin named "${username}" exists already`,
          hint: `Change its password with \`orgsync admin set-password --username ${username}\`.`,
        },
        { cause: err },
      );
    }
    return { username, passwordHash, mustChangePassword, createdAt: at, updatedAt: at };
  }

  async setAdminPassword(
    username: string,
    passwordHash: string,
    options: { mustChangePassword?: boolean } = {},
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('admins')
      .set({
        password_hash: passwordHash,
        must_change_password: options.mustChangePassword === true ? 1 : 0,
        updated_at: new Date().toISOString(),
      })
      .where('username', '=', username)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async listAdmins(): Promise<Array<Omit<AdminRecord, 'passwordHash'>>> {
    const rows = await this.db
      .selectFrom('admins')
      .select(['username', 'must_change_password', 'created_at', 'updated_at'])
      .execute();
    return rows
      .map((r) => ({
        username: r.username,
        mustChangePassword: Number(r.must_change_password) === 1,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }))
      .sort(byName((a) => a.username));
  }

  async getLoginAttempts(keys: LoginAttemptKey[]): Promise<LoginAttemptRecord[]> {
    if (keys.length === 0) return [];
    const rows = await this.db
      .selectFrom('login_attempts')
      .selectAll()
      .where((eb) => eb.or(keys.map((k) => eb.and([eb('username', '=', k.username), eb('ip', '=', k.ip)]))))
      .execute();
    return rows.map((r) => ({
      username: r.username,
      ip: r.ip,
      failures: Number(r.failures),
      blockedUntil: Number(r.blocked_until),
      updatedAt: Number(r.updated_at),
    }));
  }

  async claimLoginAttempt(
    keys: Array<LoginAttemptKey & { delay(failures: number): number }>,
    now: number,
  ): Promise<LoginClaim> {
    const claim = async (db: Db): Promise<LoginClaim> => {
      for (const key of keys) {
        await db
          .insertInto('login_attempts')
          .values({ username: key.username, ip: key.ip, failures: 0, blocked_until: 0, updated_at: now })
          .onConflict((oc) => oc.columns(['username', 'ip']).doNothing())
          .execute();
      }
      // SQLite's write transaction (BEGIN IMMEDIATE) holds the whole database; on PostgreSQL this no-op update locks
      // the rows until the end of the transaction, so a concurrent claim reads the count this one writes.
      const rows: Array<{
        key: LoginAttemptKey & { delay(failures: number): number };
        row: { failures: number; blocked_until: number };
      }> = [];
      for (const key of keys) {
        await db
          .updateTable('login_attempts')
          .set({ failures: sql`failures` })
          .where('username', '=', key.username)
          .where('ip', '=', key.ip)
          .execute();
        const row = await db
          .selectFrom('login_attempts')
          .select(['failures', 'blocked_until'])
          .where('username', '=', key.username)
          .where('ip', '=', key.ip)
          .executeTakeFirstOrThrow();
        rows.push({ key, row });
      }
      const blockedUntil = Math.max(0, ...rows.map(({ row }) => Number(row.blocked_until)));
      if (blockedUntil > now) {
        // Refused: the counters this claim created for the other keys go again, so a refusal writes nothing.
        for (const { key, row } of rows) {
          if (Number(row.failures) === 0)
            await db
              .deleteFrom('login_attempts')
              .where('username', '=', key.username)
              .where('ip', '=', key.ip)
              .where('failures', '=', 0)
              .execute();
        }
        return { allowed: false, blockedUntil };
      }
      for (const { key, row } of rows) {
        const failures = Number(row.failures) + 1;
        const delay = key.delay(failures);
        await db
          .updateTable('login_attempts')
          .set({ failures, blocked_until: delay > 0 ? now + delay : 0, updated_at: now })
          .where('username', '=', key.username)
          .where('ip', '=', key.ip)
          .execute();
      }
      return { allowed: true };
    };
    if (this.db.isTransaction) return claim(this.db);
    // PostgreSQL may pick this transaction as a deadlock's victim (a concurrent clean-up deleting the same rows in
    // another order): it did nothing, so it runs again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await (this.db as Kysely<Database>).transaction().execute(claim);
      } catch (err) {
        if ((err as { code?: unknown }).code !== '40P01' || attempt >= 3) throw err;
      }
    }
  }

  async clearLoginAttempts(keys: LoginAttemptKey[]): Promise<void> {
    // One row per statement, in the order claims lock them, so a clear and a claim never wait for each other in turn.
    for (const k of keys)
      await this.db.deleteFrom('login_attempts').where('username', '=', k.username).where('ip', '=', k.ip).execute();
  }

  async clearLoginAttemptsOf(username: string): Promise<number> {
    const result = await this.db.deleteFrom('login_attempts').where('username', '=', username).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async expireLoginAttempts(before: number, now: number): Promise<number> {
    const result = await this.db
      .deleteFrom('login_attempts')
      .where('updated_at', '<', before)
      .where('blocked_until', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async createSession(idHash: string, session: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: idHash,
        username: session.username,
        csrf_token: session.csrfToken,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      .execute();
  }

  async getSession(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('id_hash', '=', idHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row
      ? { username: row.username, csrfToken: row.csrf_token, createdAt: row.created_at, expiresAt: row.expires_at }
      : undefined;
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteSessionsOf(username: string, exceptIdHash?: string): Promise<number> {
    let query = this.db.deleteFrom('sessions').where('username', '=', username);
    if (exceptIdHash !== undefined) query = query.where('id_hash', '<>', exceptIdHash);
    const result = await query.executeTakeFirst();
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
        .values({
          name: token.name,
          token_hash: token.tokenHash,
          prefix: token.prefix,
          created_at: at,
          last_used_at: null,
        })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new OrgsyncError(
        {
          code: 'TOKEN_EXISTS',
          message: `an API token named "${token.name}" exists already`,
          hint: `Choose another name, or revoke that one with \`orgsync token revoke ${token.name}\`.`,
        },
        { cause: err },
      );
    }
    return { name: token.name, prefix: token.prefix, createdAt: at, lastUsedAt: null };
  }

  async findApiToken(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select(['name', 'prefix', 'created_at', 'last_used_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row
      ? { name: row.name, prefix: row.prefix, createdAt: row.created_at, lastUsedAt: row.last_used_at }
      : undefined;
  }

  async touchApiToken(name: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('name', '=', name).execute();
  }

  async listApiTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .select(['name', 'prefix', 'created_at', 'last_used_at'])
      .execute();
    return rows
      .map((r) => ({ name: r.name, prefix: r.prefix, createdAt: r.created_at, lastUsedAt: r.last_used_at }))
      .sort(byName((t) => t.name));
  }

  async revokeApiToken(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('api_tokens').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
