import { OrgsyncError, ValidationError } from '../../errors.js';
import type { ApiTokenRecord, SessionRecord } from '../../store/access-repo.js';
import type { Store } from '../../store/store.js';
import { MIN_PASSWORD_LENGTH } from '../config.js';
import { burnVerification, hashPassword, randomPassword, randomToken, tokenHash, verifyPassword } from './passwords.js';

/** Admins, sessions and API tokens: everything the server and the `admin` / `token` commands do with them. */

export const FIRST_ADMIN = 'admin';
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** API tokens start with this, so a leaked one is easy to recognise (and to scan for). */
export const TOKEN_PREFIX = 'osk_';

const MAX_PASSWORD_LENGTH = 1024;
/** lastUsedAt is written at most this often per token, not on every request. */
const TOKEN_TOUCH_MS = 60_000;

export interface NewSession {
  /** The cookie's value: given to the browser, never stored. */
  id: string;
  session: SessionRecord;
}

export function checkUsername(username: string, what = '--username'): void {
  if (!USERNAME_PATTERN.test(username)) {
    throw new ValidationError(what, [
      { path: 'username', field: 'username', message: `"${username}" is not a valid username`, hint: 'Use 1-64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit.' },
    ]);
  }
}

export function checkPassword(password: string): void {
  const length = Array.from(password).length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new ValidationError('password', [
      {
        path: 'password',
        field: 'password',
        message: length < MIN_PASSWORD_LENGTH ? `is too short (at least ${MIN_PASSWORD_LENGTH} characters)` : `is too long (at most ${MAX_PASSWORD_LENGTH} characters)`,
        hint: 'Choose another password.',
      },
    ]);
  }
}

export class AccessService {
  constructor(
    private readonly store: Store,
    private readonly options: { sessionTtlMs: number; now?: () => number } = { sessionTtlMs: 12 * 3600_000 },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * With no admin at all, creates `admin` with the given password or a random one. Returns the password only when
   * it was generated here (to be shown once); undefined when an admin existed already (or another instance won).
   */
  async ensureFirstAdmin(password: string | undefined): Promise<{ username: string; password: string | undefined } | undefined> {
    if ((await this.store.access.countAdmins()) > 0) return undefined;
    const generated = password === undefined ? randomPassword() : undefined;
    try {
      await this.store.access.createAdmin(FIRST_ADMIN, await hashPassword(password ?? (generated as string)));
    } catch (err) {
      if (err instanceof OrgsyncError && err.code === 'ADMIN_EXISTS') return undefined;
      throw err;
    }
    return { username: FIRST_ADMIN, password: generated };
  }

  /** Sets (or, for a new username, creates) an admin's password and ends that admin's sessions. */
  async setPassword(username: string, password: string): Promise<{ created: boolean; sessionsEnded: number }> {
    checkUsername(username);
    checkPassword(password);
    const hash = await hashPassword(password);
    if (await this.store.access.setAdminPassword(username, hash)) {
      return { created: false, sessionsEnded: await this.store.access.deleteSessionsOf(username) };
    }
    await this.store.access.createAdmin(username, hash);
    return { created: true, sessionsEnded: 0 };
  }

  /** A new session for the right password; undefined for a wrong one or an unknown username (in the same time). */
  async login(username: string, password: string): Promise<NewSession | undefined> {
    const admin = USERNAME_PATTERN.test(username) ? await this.store.access.getAdmin(username) : undefined;
    if (!admin) {
      await burnVerification(password);
      return undefined;
    }
    if (!(await verifyPassword(password, admin.passwordHash))) return undefined;
    const now = this.now();
    await this.store.access.deleteExpiredSessions(now);
    const id = randomToken();
    const session: SessionRecord = { username: admin.username, csrfToken: randomToken(), createdAt: new Date(now).toISOString(), expiresAt: now + this.options.sessionTtlMs };
    await this.store.access.createSession(tokenHash(id), session);
    return { id, session };
  }

  async session(id: string): Promise<SessionRecord | undefined> {
    return this.store.access.getSession(tokenHash(id), this.now());
  }

  async logout(id: string): Promise<void> {
    await this.store.access.deleteSession(tokenHash(id));
  }

  /** A new API token: the value is returned here once and stored only as its hash. */
  async createToken(name: string): Promise<{ token: string; record: ApiTokenRecord }> {
    if (!TOKEN_NAME_PATTERN.test(name)) {
      throw new ValidationError('--name', [
        { path: 'name', field: 'name', message: `"${name}" is not a valid token name`, hint: 'Use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit.' },
      ]);
    }
    const token = TOKEN_PREFIX + randomToken();
    const record = await this.store.access.createApiToken({ name, tokenHash: tokenHash(token), prefix: token.slice(0, TOKEN_PREFIX.length + 4) });
    return { token, record };
  }

  async resolveToken(token: string): Promise<ApiTokenRecord | undefined> {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const record = await this.store.access.findApiToken(tokenHash(token));
    if (record && (record.lastUsedAt === null || this.now() - Date.parse(record.lastUsedAt) > TOKEN_TOUCH_MS)) {
      await this.store.access.touchApiToken(record.name, new Date(this.now()).toISOString());
    }
    return record;
  }

  listTokens(): Promise<ApiTokenRecord[]> {
    return this.store.access.listApiTokens();
  }

  async revokeToken(name: string): Promise<void> {
    if (!(await this.store.access.revokeApiToken(name))) {
      throw new OrgsyncError({ code: 'TOKEN_NOT_FOUND', message: `there is no API token named "${name}"`, hint: 'See `orgsync token list` for the names.' });
    }
  }
}
