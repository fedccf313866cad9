import type { z } from 'zod';
import { type OrgsyncError, ValidationError, moreProblems, zodIssues } from '../errors.js';

/** The body of every error answer: `{ "error": { code, message, hint?, field? } }`, sometimes with more members beside it. */
export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string; field?: string };
  [extra: string]: unknown;
}

/** An error answer: its HTTP status, its error object, and any members to send beside `error` (e.g. `runId`). */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly hint: string | undefined;
  readonly field: string | undefined;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    statusCode: number,
    info: { code: string; message: string; hint?: string | undefined; field?: string | undefined },
    options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(info.message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = info.code;
    this.hint = info.hint;
    this.field = info.field;
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }

  body(): ApiErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.hint !== undefined ? { hint: this.hint } : {}),
        ...(this.field !== undefined ? { field: this.field } : {}),
      },
      ...this.extra,
    };
  }
}

/** The HTTP status each of orgsync's error codes answers with; anything else is a 500. */
const STATUS: Record<string, number> = {
  INVALID_INPUT: 400,
  CONNECTION_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  DEPARTMENT_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  NOT_FOUND: 404,
  CONNECTION_EXISTS: 409,
  ADMIN_EXISTS: 409,
  TOKEN_EXISTS: 409,
  RUN_NOT_APPROVABLE: 409,
  RUN_IN_PROGRESS: 409,
  SYNC_DISABLED: 409,
  PLAN_STALE: 409,
  PLAN_MISSING: 409,
  LOCK_TIMEOUT: 409,
  NOT_SUPPORTED: 501,
  STORE_UNAVAILABLE: 503,
};

/**
 * An error of orgsync's own as an answer, keeping its code, message and hint. A validation error names its first
 * issue's path as the field: the services name paths in the request's own shape (e.g. settings.corpId).
 */
export function fromOrgsyncError(err: OrgsyncError): ApiError {
  if (err instanceof ValidationError) {
    const first = err.issues[0];
    const field = first?.path;
    const message = first ? `${first.path}: ${first.message}` : err.message;
    return new ApiError(400, {
      code: err.code,
      message: message + moreProblems(err.issues.length),
      hint: first?.hint ?? err.hint,
      field,
    });
  }
  return new ApiError(STATUS[err.code] ?? 500, { code: err.code, message: err.message, hint: err.hint });
}

/** A zod failure on a request part as a 400 naming the first field at fault. */
export function fromZodError(error: z.ZodError, part: 'params' | 'query' | 'body'): ApiError {
  const issues = zodIssues(error.issues);
  const issue = issues[0];
  if (!issue) return new ApiError(400, { code: 'INVALID_INPUT', message: `the request ${part} is invalid` });
  const field = issue.path === '(root)' ? `(${part})` : issue.path;
  return new ApiError(400, {
    code: 'INVALID_INPUT',
    message: `${field}: ${issue.message}${moreProblems(issues.length)}`,
    hint:
      part === 'body'
        ? 'Fix the field and send the request again; nothing was changed. See GET /api/docs for the request shapes.'
        : 'See GET /api/docs for the parameters.',
    field,
  });
}

export function notFound(code: string, message: string, hint?: string): ApiError {
  return new ApiError(404, { code, message, hint });
}
