/**
 * Limits on directory data and their validators, which return a typed problem instead of throwing, so a caller can
 * collect every problem in one pass. Each platform declares its values in its folder (connectors/<platform>/limits.ts).
 */

export interface LimitViolation {
  code:
    | 'USERID_INVALID'
    | 'NAME_LENGTH'
    | 'FIELD_TOO_LONG'
    | 'FIELD_FORMAT'
    | 'DEPARTMENT_NAME_CHARS'
    | 'CONTROL_CHARS'
    | 'TOO_MANY_DEPARTMENTS_FOR_USER';
  message: string;
  hint: string;
}

export interface PlatformLimits {
  /** The platform's id, as the messages name it. */
  platform: string;
  userid: { pattern: RegExp | null; maxBytes: number; describe: string };
  userNameMaxChars: number;
  aliasMaxChars: number;
  positionMaxChars: number;
  telephoneMaxChars: number;
  emailMaxBytes: number;
  addressMaxChars: number;
  employeeNoMaxChars: number;
  departmentNameMaxChars: number;
  departmentNameForbidden: readonly string[];
  /** Levels counted from the source's top department (level 1). null: the platform states no limit. */
  maxDepth: number | null;
  maxDepartments: number | null;
  maxDepartmentsPerUser: number;
}

const chars = (s: string): number => [...s].length;
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
/**
 * Whether `s` is within `max` code points (or UTF-8 bytes). A string has no more code points than UTF-16 units and
 * no more UTF-8 bytes than three per unit, so most values are settled by their length alone.
 */
const withinChars = (s: string, max: number): boolean => s.length <= max || chars(s) <= max;
const withinBytes = (s: string, max: number): boolean => s.length * 3 <= max || bytes(s) <= max;

/**
 * C0 controls, DEL, C1 controls and the Unicode line and paragraph separators. In a name or another one-line field
 * they only do harm: an escape sequence (ESC, or the one-byte CSI U+009B) repaints the terminal that lists the
 * directory, a line break splits a table row or a CSV line.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The first control character in a one-line field, as a problem; null when there is none. */
export function checkControlChars(value: string, what: string): LimitViolation | null {
  const m = CONTROL.exec(value);
  if (!m) return null;
  const code = (m[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return {
    code: 'CONTROL_CHARS',
    message: `${what} contains the control character U+${code} at position ${[...value.slice(0, m.index)].length + 1}`,
    hint: `Remove control characters (escape sequences, tabs, line breaks) from ${what} where the source keeps it.`,
  };
}

export function checkUserId(value: string, limits: PlatformLimits): LimitViolation | null {
  const control = checkControlChars(value, 'the userid');
  if (control) return control;
  const ok =
    value.length > 0 &&
    withinBytes(value, limits.userid.maxBytes) &&
    (limits.userid.pattern === null || limits.userid.pattern.test(value));
  if (ok) return null;
  return {
    code: 'USERID_INVALID',
    message: `"${value}" is not a valid ${limits.platform} userid`,
    hint: `Use ${limits.userid.describe}.`,
  };
}

function checkLength(value: string, max: number, what: string, unit: 'chars' | 'bytes'): LimitViolation | null {
  const control = checkControlChars(value, what);
  if (control) return control;
  if (unit === 'chars' ? withinChars(value, max) : withinBytes(value, max)) return null;
  const n = unit === 'chars' ? chars(value) : bytes(value);
  return {
    code: 'FIELD_TOO_LONG',
    message: `${what} is ${n} ${unit === 'chars' ? 'characters' : 'bytes'} long; the limit is ${max}`,
    hint: `Shorten it to at most ${max} ${unit === 'chars' ? 'characters' : 'bytes'}.`,
  };
}

export function checkUserName(value: string, limits: PlatformLimits): LimitViolation | null {
  if (value.trim().length === 0) {
    return {
      code: 'NAME_LENGTH',
      message: 'the name is empty',
      hint: 'Every user needs a name of at least 1 character.',
    };
  }
  if (!withinChars(value, limits.userNameMaxChars)) {
    return {
      code: 'NAME_LENGTH',
      message: `the name is ${chars(value)} characters long; the limit is ${limits.userNameMaxChars}`,
      hint: `Shorten the name to 1-${limits.userNameMaxChars} characters.`,
    };
  }
  return checkControlChars(value, 'the name');
}

export function checkDepartmentName(value: string, limits: PlatformLimits): LimitViolation | null {
  if (value.trim().length === 0) {
    return {
      code: 'NAME_LENGTH',
      message: 'the name is empty',
      hint: 'Every department needs a name of at least 1 character.',
    };
  }
  if (!withinChars(value, limits.departmentNameMaxChars)) {
    return {
      code: 'NAME_LENGTH',
      message: `the name is ${chars(value)} characters long; the limit is ${limits.departmentNameMaxChars}`,
      hint: `Shorten the name to 1-${limits.departmentNameMaxChars} characters.`,
    };
  }
  const control = checkControlChars(value, 'the name');
  if (control) return control;
  const bad = limits.departmentNameForbidden.filter((c) => value.includes(c));
  if (bad.length > 0) {
    return {
      code: 'DEPARTMENT_NAME_CHARS',
      message: `the name contains ${bad.map((c) => `"${c}"`).join(', ')}, which ${limits.platform} does not allow`,
      hint: `Remove these characters: ${limits.departmentNameForbidden.join(' ')}`,
    };
  }
  return null;
}

const MOBILE = /^\+?[0-9][0-9 -]{0,31}$/;
const TELEPHONE = /^[0-9+\-, ]*$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Checks one optional profile field; empty values are always allowed (they mean "known to be empty"). */
export function checkProfileField(
  field: 'alias' | 'position' | 'mobile' | 'email' | 'telephone' | 'address' | 'employeeNo',
  value: string,
  limits: PlatformLimits,
): LimitViolation | null {
  if (value === '') return null;
  switch (field) {
    case 'alias':
      return checkLength(value, limits.aliasMaxChars, 'the alias', 'chars');
    case 'position':
      return checkLength(value, limits.positionMaxChars, 'the position', 'chars');
    case 'address':
      return checkLength(value, limits.addressMaxChars, 'the address', 'chars');
    case 'employeeNo':
      return checkLength(value, limits.employeeNoMaxChars, 'the employee number', 'chars');
    case 'telephone':
      return TELEPHONE.test(value)
        ? checkLength(value, limits.telephoneMaxChars, 'the telephone', 'chars')
        : {
            code: 'FIELD_FORMAT',
            message: `"${value}" is not a telephone number`,
            hint: 'Use digits, "+", "-" and ",".',
          };
    case 'mobile':
      return MOBILE.test(value)
        ? null
        : {
            code: 'FIELD_FORMAT',
            message: `"${value}" is not a mobile number`,
            hint: 'Use digits with an optional "+country code", e.g. "+86 13800000000" (at most 32 characters).',
          };
    case 'email':
      if (!EMAIL.test(value) || CONTROL.test(value)) {
        return {
          code: 'FIELD_FORMAT',
          message: `"${value}" is not an email address`,
          hint: 'Use the form name@example.com.',
        };
      }
      return checkLength(value, limits.emailMaxBytes, 'the email', 'bytes');
  }
}

export function checkDepartmentsPerUser(count: number, limits: PlatformLimits): LimitViolation | null {
  if (count <= limits.maxDepartmentsPerUser) return null;
  return {
    code: 'TOO_MANY_DEPARTMENTS_FOR_USER',
    message: `the user is in ${count} departments; ${limits.platform} allows at most ${limits.maxDepartmentsPerUser}`,
    hint: `Keep at most ${limits.maxDepartmentsPerUser} departments per user.`,
  };
}

/** WeCom compares userids ignoring case; so does the local directory. */
export function userIdKey(userid: string): string {
  return userid.toLowerCase();
}

/**
 * Mobile numbers compare on their digits, so "+86 138-0000-0000" and "13800000000" match: WeCom lets mainland
 * numbers omit +86, while other numbers always carry their country code.
 */
export function mobileKey(mobile: string): string {
  const digits = mobile.replace(/\D/g, '');
  return mobile.trim().startsWith('+86') ? digits.slice(2) : digits;
}

export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}
