/**
 * Every failure orgsync reports carries a stable `code`, a plain `message` and, where one exists, a `hint`
 * naming what to change and where. Platform errcodes are mapped onto these by each connector.
 */
export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
  /** The object the error is about, e.g. `users[3] (externalId "zhangsan")`. */
  object?: string;
  /** The message and hint in Chinese, where orgsync has them (kept with a run, shown by `localized`). */
  zh?: ZhText;
}

/** The languages people read orgsync's texts in: English everywhere, Chinese too where the console shows them. */
export type Lang = 'en' | 'zh-CN';

/** A message and its hint in Chinese. */
export interface ZhText {
  message: string;
  hint?: string;
}

/** An ErrorInfo as a reader of `lang` sees it: its Chinese text when asked and known, never the `zh` field itself. */
export function localized(info: ErrorInfo, lang: Lang): ErrorInfo {
  const { zh, ...rest } = info;
  if (lang !== 'zh-CN' || !zh) return rest;
  const { hint: _english, ...withoutHint } = rest;
  return { ...withoutHint, message: zh.message, ...(zh.hint !== undefined ? { hint: zh.hint } : {}) };
}

export class OrgsyncError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly object: string | undefined;
  readonly zh: ZhText | undefined;

  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info.message, options);
    this.name = 'OrgsyncError';
    this.code = info.code;
    this.hint = info.hint;
    this.object = info.object;
    this.zh = info.zh;
  }

  toInfo(): ErrorInfo {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
      ...(this.object !== undefined ? { object: this.object } : {}),
      ...(this.zh !== undefined ? { zh: this.zh } : {}),
    };
  }

  /** The message and hint in `lang` (English when there is no Chinese text). */
  text(lang: Lang): { message: string; hint: string } {
    return lang === 'zh-CN' && this.zh ? { message: this.zh.message, hint: this.zh.hint ?? '' } : { message: this.message, hint: this.hint ?? '' };
  }
}

export interface ValidationIssue {
  /** Where in the input, e.g. `users[12].externalId`. */
  path: string;
  /** The object in words, e.g. `user "zhangsan"`, when it can be named. */
  object?: string;
  field: string;
  message: string;
  hint?: string;
}

/** Input from outside (a file, a request, a config value) failed validation. Nothing was written. */
export class ValidationError extends OrgsyncError {
  /** What was invalid, in words (e.g. `connection "acme"`): the message starts with it. */
  readonly what: string;
  readonly issues: ValidationIssue[];

  constructor(what: string, issues: ValidationIssue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
    super({
      code: 'INVALID_INPUT',
      message: first ? `${what}: ${describeIssue(first)}${more}` : `${what} is invalid`,
      hint: first?.hint ?? 'Fix the input and run again; nothing was written.',
      ...(first?.object !== undefined ? { object: first.object } : {}),
    });
    this.name = 'ValidationError';
    this.what = what;
    this.issues = issues;
  }
}

export function describeIssue(issue: ValidationIssue): string {
  const who = issue.object ? `${issue.path} (${issue.object})` : issue.path;
  return `${who}, field "${issue.field}": ${issue.message}`;
}

export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof OrgsyncError) return err.toInfo();
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
