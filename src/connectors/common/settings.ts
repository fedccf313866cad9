import { z } from 'zod';

/**
 * The pieces every platform's settings and secrets schemas are built from, so the messages a wrong value gets read
 * the same on every platform and every front (CLI, API, console).
 */

const WHOLE_NUMBER = 'must be a positive whole number';

/** A text field: "is required" when absent, else "must be <what>". */
export const text = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be ${what}`) });

export const secretSchema = text('text')
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^\S*$/, 'must not contain spaces or line breaks');

/** A whole number, also given as its digits (a CLI flag, a form field). */
export const agentIdSchema = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z
    .number({ error: (issue) => (issue.input === undefined ? 'is required' : WHOLE_NUMBER) })
    .int(WHOLE_NUMBER)
    .positive(WHOLE_NUMBER)
    .max(Number.MAX_SAFE_INTEGER, 'is too large'),
);

/** Why a connection's apiBaseUrl may not be used, whatever the hosts allowed: scheme, credentials, query, fragment. */
function apiBaseUrlShapeProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `uses ${url.protocol.replace(/:$/, '')}, not https`;
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (value.includes('?') || value.includes('#')) return 'must not have a query (?…) or a fragment (#…)';
  return undefined;
}

/** The platform API's address: the platform's own by default, a proxy or the simulator when given. */
export const apiBaseUrlSchema = (defaultUrl: string) =>
  text('text')
    .trim()
    .superRefine((value, ctx) => {
      const problem = apiBaseUrlShapeProblem(value);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          message: `${problem}: give an https:// URL without credentials, query or fragment, e.g. ${defaultUrl}`,
        });
    })
    .transform((url) => url.replace(/\/+$/, ''))
    .default(defaultUrl);

/** Callback (回调 / 事件订阅) Token: WeCom allows letters and digits, at most 32; DingTalk's 签名 token likewise. */
export const callbackTokenSchema = text('text').regex(/^[A-Za-z0-9]{1,32}$/, 'must be 1-32 letters and digits');
/** EncodingAESKey / aes_key: exactly 43 letters and digits. */
export const callbackAesKeySchema = text('text').regex(/^[A-Za-z0-9]{43}$/, 'must be exactly 43 letters and digits');

export const SECRET_RULES = 'It is at most 128 characters, without spaces.';

/** The hint of apiBaseUrl, the same on every platform but for the default. */
export const apiBaseUrlHint = (defaultUrl: string): string =>
  `Leave it out for ${defaultUrl}, or give the https URL of a proxy (http only for this machine, e.g. the simulator, or a host in ORGSYNC_ALLOWED_API_HOSTS).`;
