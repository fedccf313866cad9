import { OrgsyncError, type ZhText } from '../../errors.js';

export type { ZhText };

/**
 * What the platform connectors share about failures: one set of error kinds, what a client does about a refusal
 * before giving up, the error every connector error extends, and the scrubbing of secrets from anything shown.
 */

export type ErrorKind =
  | 'auth'
  | 'config'
  | 'permission'
  | 'not_found'
  | 'rate_limit'
  | 'transient'
  | 'invalid_request'
  | 'unknown';

/**
 * What a client does about a refusal before giving up: back off and retry (briefly, or for at least a second when
 * the platform counts calls per window), or fetch a new token and retry (up to 3 times).
 */
export type RetryKind = 'backoff' | 'backoff-long' | 'token';

/** One row of a platform's error table: the typed error a refusal becomes, and whether to retry first. */
export interface ErrorRule<C> {
  code: string;
  kind: ErrorKind;
  retry?: RetryKind;
  message: (c: C) => string;
  hint: (c: C) => string;
  /** The same in Chinese. */
  zh?: { message: (c: C) => string; hint: (c: C) => string };
}

/** The parts of a typed error a table row gives for a refusal (after `attempts` tries, when retries ran out). */
export function fromRule<C>(
  rule: ErrorRule<C>,
  context: C,
  attempts?: number,
): Pick<ConnectorErrorInit, 'code' | 'kind' | 'message' | 'hint' | 'attempts' | 'zh'> {
  return {
    code: rule.code,
    kind: rule.kind,
    message: attempts !== undefined ? `${rule.message(context)}, after ${attempts} tries` : rule.message(context),
    hint: rule.hint(context),
    ...(attempts !== undefined ? { attempts } : {}),
    ...(rule.zh
      ? {
          zh: {
            message:
              attempts !== undefined
                ? `${rule.zh.message(context)}（重试 ${attempts} 次后）`
                : rule.zh.message(context),
            hint: rule.zh.hint(context),
          },
        }
      : {}),
  };
}

/** A hint or message that does not depend on the context. */
export const fixed = (text: string) => (): string => text;

/** A token the platform refused even after fresh ones: the row every platform's table has for its token errcodes. */
export function tokenRule<C>(
  code: string,
  what: string,
  said: (c: C) => string,
  hint: string,
  zh: { what: string; said: (c: C) => string; hint: string },
): ErrorRule<C> {
  return {
    code,
    kind: 'auth',
    retry: 'token',
    message: (c) => `the access token was ${what} and a fresh one was refused too: ${said(c)}`,
    hint: fixed(`orgsync fetched new tokens and retried 3 times. ${hint}`),
    zh: {
      message: (c) => `access_token ${zh.what}，重新获取的也被拒绝：${zh.said(c)}`,
      hint: fixed(`orgsync 已重新获取 token 并重试 3 次。${zh.hint}`),
    },
  };
}

export interface ConnectorErrorInit {
  code: string;
  kind: ErrorKind;
  message: string;
  hint: string;
  /** The API path, e.g. `user/list`. */
  path: string;
  errcode?: number;
  errmsg?: string;
  object?: string;
  /** Failed tries before giving up (transient failures). */
  attempts?: number;
  /** The message and hint in Chinese, where the platform's table gives them. */
  zh?: ZhText;
}

/** A platform API failure: a typed kind, the platform's code when it gave one, and a hint naming what to change. */
export class ConnectorError extends OrgsyncError {
  readonly kind: ErrorKind;
  /** The platform's errcode; undefined for failures without one (timeouts, resets, HTTP errors, bad bodies). */
  readonly errcode: number | undefined;
  readonly errmsg: string | undefined;
  readonly path: string;
  readonly attempts: number | undefined;

  constructor(init: ConnectorErrorInit, options?: { cause?: unknown }) {
    super(
      {
        code: init.code,
        message: init.message,
        hint: init.hint,
        ...(init.object !== undefined ? { object: init.object } : {}),
        ...(init.zh !== undefined ? { zh: init.zh } : {}),
      },
      options,
    );
    this.name = 'ConnectorError';
    this.kind = init.kind;
    this.errcode = init.errcode;
    this.errmsg = init.errmsg;
    this.path = init.path;
    this.attempts = init.attempts;
  }

  /** The platform's code as people quote it (`errcode 60020`); undefined for failures without one. */
  codeLabel(): string | undefined {
    return this.errcode === undefined ? undefined : `errcode ${this.errcode}`;
  }
}

/** Replaces every occurrence of each secret (secrets, tokens) with "***". */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** A failed fetch's reason without anything that could carry a URL, a secret or a token. */
export function safeCause(err: unknown, secrets: readonly string[]): Error {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${code}: ${e.message}` : e.message);
    e = e.cause;
  }
  const cause = new Error(redact(parts.join(' ← ') || String(err), secrets));
  cause.name = 'NetworkError';
  return cause;
}
