import type { z } from 'zod';

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
export function localized<T extends ErrorInfo>(info: T, lang: Lang): Omit<T, 'zh'> {
  const { zh, ...rest } = info;
  if (lang !== 'zh-CN' || !zh) return rest;
  const { hint: _english, ...withoutHint } = rest;
  // Only message and hint are replaced, so what else T carries (a warning's rows and example) stays as it was.
  return { ...withoutHint, message: zh.message, ...(zh.hint !== undefined ? { hint: zh.hint } : {}) } as Omit<T, 'zh'>;
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
    return lang === 'zh-CN' && this.zh
      ? { message: this.zh.message, hint: this.zh.hint ?? '' }
      : { message: this.message, hint: this.hint ?? '' };
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
    const more = moreProblems(issues.length);
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

/** How `zodIssues` words and places what zod found. */
export interface ZodIssueOptions {
  /** Where the parsed value sits in the input: put before every issue's path (e.g. `['policy']`). */
  prefix?: readonly PropertyKey[];
  /** The hint for an issue at this path (prefix included), if there is one. */
  hint?: (path: readonly string[]) => string | undefined;
  /** What the input calls its keys, for the unknown-key message "is not a known <word>" (default "field"). */
  keyWord?: string;
}

/**
 * zod's issues as orgsync's ValidationIssues, the one place they are turned into words (the API, the CLI, the
 * connection service, the simulators): the path dotted (`settings.corpId`, `faultKinds.1`, `(root)` for the value
 * itself), an unknown key as one issue per key under its own name, a value that is absent as "is required" (when
 * zod reported the input), and a union no branch matched by the branch that got furthest into the value, so the
 * field at fault is named rather than the union as a whole.
 */
export function zodIssues(issues: readonly z.core.$ZodIssue[], options: ZodIssueOptions = {}): ValidationIssue[] {
  const keyWord = options.keyWord ?? 'field';
  const issue = (path: readonly string[], message: string): ValidationIssue => {
    const hint = options.hint?.(path);
    return {
      path: path.join('.') || '(root)',
      field: path[path.length - 1] ?? '(value)',
      message,
      ...(hint !== undefined ? { hint } : {}),
    };
  };
  const walk = (list: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): ValidationIssue[] =>
    list.flatMap((i): ValidationIssue[] => {
      const at = [...prefix, ...i.path];
      if (i.code === 'invalid_union' && i.errors.length > 0) {
        const depth = (branch: readonly z.core.$ZodIssue[]): number => Math.max(0, ...branch.map((x) => x.path.length));
        const best = i.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
        // A branch that got inside the value names the field at fault; when none did, the union speaks for itself.
        if (depth(best) > 0) return walk(best, at);
      }
      const path = at.map(String);
      if (i.code === 'unrecognized_keys')
        return i.keys.map((key) => issue([...path, key], `is not a known ${keyWord}`));
      const missing = i.code === 'invalid_type' && 'input' in i && i.input === undefined;
      return [issue(path, missing ? 'is required' : i.message)];
    });
  return walk(issues, options.prefix ?? []);
}

/** "and N more problem(s)" after the first of `count` issues; empty for one. */
export function moreProblems(count: number): string {
  return count > 1 ? ` (and ${count - 1} more problem${count > 2 ? 's' : ''})` : '';
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
