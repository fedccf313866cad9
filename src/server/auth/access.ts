import { isIPv4, isIPv6 } from 'node:net';
import { OrgsyncError, ValidationError } from '../../errors.js';
import type { AdminRecord, ApiTokenRecord, LoginAttemptKey, SessionRecord } from '../../store/access-repo.js';
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

/**
 * Sign-in back-off, counted per (username, client address) in the store, so every instance sees it and an attacker
 * at one address cannot lock the admin out at another. After `freeFailures` failures the next attempt waits
 * `baseDelayMs`, doubling with each further failure up to `maxDelayMs`; a refused attempt checks no password and
 * does not count. The address's count over every username (a higher threshold) keeps one address from spending the
 * server's CPU on password hashes with ever new names.
 */
export interface LoginLimits {
  perUser: { freeFailures: number };
  perAddress: { freeFailures: number };
  baseDelayMs: number;
  maxDelayMs: number;
  /** A counter idle this long (and not blocking) is deleted, which bounds the table. */
  forgetAfterMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perUser: { freeFailures: 5 },
  perAddress: { freeFailures: 30 },
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 24 * 3600_000,
};

/** The wait after the `failures`-th failure of one counter. */
export function loginDelayMs(
  failures: number,
  freeFailures: number,
  limits: Pick<LoginLimits, 'baseDelayMs' | 'maxDelayMs'>,
): number {
  if (failures < freeFailures) return 0;
  return Math.min(limits.maxDelayMs, limits.baseDelayMs * 2 ** Math.min(failures - freeFailures, 40));
}

/**
 * The address a sign-in is counted under: IPv4 as it is (also when mapped into IPv6), IPv6 by its /64 network,
 * since one subscriber usually holds a whole /64 and could otherwise take a fresh address for every attempt.
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('%', 1)[0]!.split('::') as [string?, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export type LoginResult =
  | { ok: true; session: NewSession; mustChangePassword: boolean }
  | { ok: false; reason: 'invalid' }
  /** Refused without checking the password; retry at `retryAt` (ms since the epoch). */
  | { ok: false; reason: 'limited'; retryAt: number };

export interface NewSession {
  /** The cookie's value: given to the browser, never stored. */
  id: string;
  session: SessionRecord;
}

export function checkUsername(username: string, what = '--username'): void {
  if (!USERNAME_PATTERN.test(username)) {
    throw new ValidationError(what, [
      {
        path: 'username',
        field: 'username',
        message: `"${username}" is not a valid username`,
        hint: 'Use 1-64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit.',
      },
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
        message:
          length < MIN_PASSWORD_LENGTH
            ? `is too short (at least ${MIN_PASSWORD_LENGTH} characters)`
            : `is too long (at most ${MAX_PASSWORD_LENGTH} characters)`,
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

  /** The service's clock (ms since the epoch). */
  now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * With no admin at all, creates `admin` with the given password or a random one. Returns the password only when
   * it was generated here (to be shown once); undefined when an admin existed already (or another instance won).
   */
  async ensureFirstAdmin(
    password: string | undefined,
    options: { mustChangeGenerated?: boolean } = {},
  ): Promise<{ username: string; password: string | undefined } | undefined> {
    if ((await this.store.access.countAdmins()) > 0) return undefined;
    const generated = password === undefined ? randomPassword() : undefined;
    try {
      // A generated password has been on a terminal or in a file: it is only good for choosing another.
      await this.store.access.createAdmin(FIRST_ADMIN, await hashPassword(password ?? (generated as string)), {
        mustChangePassword: generated !== undefined && options.mustChangeGenerated !== false,
      });
    } catch (err) {
      if (err instanceof OrgsyncError && err.code === 'ADMIN_EXISTS') return undefined;
      throw err;
    }
    return { username: FIRST_ADMIN, password: generated };
  }

  /**
   * Sets (or, for a new username, creates) an admin's password as the operator chose it (`orgsync admin
   * set-password`): no change is forced; that admin's sessions end and its sign-in limits are cleared everywhere.
   */
  async setPassword(
    username: string,
    password: string,
  ): Promise<{ created: boolean; sessionsEnded: number; limitsCleared: number }> {
    checkUsername(username);
    checkPassword(password);
    const hash = await hashPassword(password);
    const limitsCleared = await this.store.access.clearLoginAttemptsOf(username);
    if (await this.store.access.setAdminPassword(username, hash)) {
      return { created: false, sessionsEnded: await this.store.access.deleteSessionsOf(username), limitsCleared };
    }
    await this.store.access.createAdmin(username, hash);
    return { created: true, sessionsEnded: 0, limitsCleared };
  }

  /**
   * The signed-in admin chooses a new password: the current one must be right (checked within the sign-in limits,
   * so a stolen cookie cannot be used to guess it), the new one valid and different. Clears the must-change flag and
   * ends the admin's other sessions; the one given stays.
   */
  async changePassword(
    username: string,
    passwords: { current: string; next: string },
    client: { ip: string; limits?: LoginLimits; keepSessionId?: string },
  ): Promise<{ ok: true } | { ok: false; reason: 'limited'; retryAt: number }> {
    const checked = await this.attempt(username, passwords.current, client);
    if (checked.outcome === 'limited') return { ok: false, reason: 'limited', retryAt: checked.retryAt };
    if (checked.outcome === 'invalid') {
      throw new ValidationError('password change', [
        {
          path: 'currentPassword',
          field: 'currentPassword',
          message: 'is not the current password',
          hint: 'Type the password you signed in with.',
        },
      ]);
    }
    try {
      checkPassword(passwords.next);
    } catch (err) {
      if (err instanceof ValidationError)
        throw new ValidationError(
          'password change',
          err.issues.map((i) => ({ ...i, path: 'newPassword', field: 'newPassword' })),
        );
      throw err;
    }
    if (passwords.next.normalize('NFC') === passwords.current.normalize('NFC')) {
      throw new ValidationError('password change', [
        {
          path: 'newPassword',
          field: 'newPassword',
          message: 'is the current password',
          hint: 'Choose a password you have not used here.',
        },
      ]);
    }
    await this.store.access.setAdminPassword(username, await hashPassword(passwords.next), {
      mustChangePassword: false,
    });
    await this.store.access.deleteSessionsOf(
      username,
      client.keepSessionId === undefined ? undefined : tokenHash(client.keepSessionId),
    );
    return { ok: true };
  }

  /** Whether the admin still has to replace a generated password (false for an unknown name). */
  async mustChangePassword(username: string): Promise<boolean> {
    return (await this.store.access.getAdmin(username))?.mustChangePassword === true;
  }

  /**
   * Signs in within the limits of (username, client address). Unknown usernames are counted and answered like
   * known ones, in the same time.
   */
  async login(username: string, password: string, client: { ip: string; limits?: LoginLimits }): Promise<LoginResult> {
    const checked = await this.attempt(username, password, client);
    if (checked.outcome === 'limited') return { ok: false, reason: 'limited', retryAt: checked.retryAt };
    if (checked.outcome === 'invalid') return { ok: false, reason: 'invalid' };
    return {
      ok: true,
      session: await this.newSession(checked.admin.username),
      mustChangePassword: checked.admin.mustChangePassword,
    };
  }

  /**
   * One password check within the limits: a refused attempt checks no password and counts nothing; an allowed one
   * counts as a failure until the password proves right, which clears that (username, address) and the address's
   * count over every name.
   */
  private async attempt(
    username: string,
    password: string,
    client: { ip: string; limits?: LoginLimits },
  ): Promise<{ outcome: 'limited'; retryAt: number } | { outcome: 'invalid' } | { outcome: 'ok'; admin: AdminRecord }> {
    const limits = client.limits ?? DEFAULT_LOGIN_LIMITS;
    const now = this.now();
    const ip = clientKey(client.ip);
    const keys: LoginAttemptKey[] = [
      { username, ip },
      { username: '', ip },
    ];
    const blocked = Math.max(0, ...(await this.store.access.getLoginAttempts(keys)).map((r) => r.blockedUntil));
    if (blocked > now) return { outcome: 'limited', retryAt: blocked };
    // Housekeeping: a failure here (e.g. a lock conflict with another instance's clean-up) must not fail the sign-in.
    await this.store.access.expireLoginAttempts(now - limits.forgetAfterMs, now).catch(() => 0);
    const claim = await this.store.access.claimLoginAttempt(
      [
        { username, ip, delay: (n) => loginDelayMs(n, limits.perUser.freeFailures, limits) },
        { username: '', ip, delay: (n) => loginDelayMs(n, limits.perAddress.freeFailures, limits) },
      ],
      now,
    );
    if (!claim.allowed) return { outcome: 'limited', retryAt: claim.blockedUntil };
    const admin = USERNAME_PATTERN.test(username) ? await this.store.access.getAdmin(username) : undefined;
    if (!admin) {
      await burnVerification(password);
      return { outcome: 'invalid' };
    }
    if (!(await verifyPassword(password, admin.passwordHash))) return { outcome: 'invalid' };
    await this.store.access.clearLoginAttempts(keys);
    return { outcome: 'ok', admin };
  }

  private async newSession(username: string): Promise<NewSession> {
    const now = this.now();
    await this.store.access.deleteExpiredSessions(now);
    const id = randomToken();
    const session: SessionRecord = {
      username,
      csrfToken: randomToken(),
      createdAt: new Date(now).toISOString(),
      expiresAt: now + this.options.sessionTtlMs,
    };
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
        {
          path: 'name',
          field: 'name',
          message: `"${name}" is not a valid token name`,
          hint: 'Use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit.',
        },
      ]);
    }
    const token = TOKEN_PREFIX + randomToken();
    const record = await this.store.access.createApiToken({
      name,
      tokenHash: tokenHash(token),
      prefix: token.slice(0, TOKEN_PREFIX.length + 4),
    });
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
      throw new OrgsyncError({
        code: 'TOKEN_NOT_FOUND',
        message: `there is no API token named "${name}"`,
        hint: 'See `orgsync token list` for the names.',
      });
    }
  }
}
