import type { FastifyRequest } from 'fastify';
import { jsonObjectBody } from '../common/request.js';
import { DingtalkApiError } from './errors.js';

/** Reading a request's JSON body and its parameters; a bad one is DingTalk's 400002 naming the field. */

export type Body = Record<string, unknown>;

export function body(req: FastifyRequest): Body {
  const b = jsonObjectBody(req);
  if ('problem' in b) throw new DingtalkApiError(400002, b.problem);
  return b.value;
}

export const missing = (v: unknown): boolean => v === undefined || v === null || v === '';

/** A whole number, as a JSON number or a numeric string (DingTalk's gateway takes both). */
export function int(v: unknown, field: string): number | undefined {
  if (missing(v)) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new DingtalkApiError(400002, `${field} must be a whole number`);
  return n;
}

export function required<T>(v: T | undefined, field: string): T {
  if (v === undefined) throw new DingtalkApiError(400002, `${field} is required`);
  return v;
}

export function str(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new DingtalkApiError(400002, `${field} must be a string`);
  return v;
}

export function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new DingtalkApiError(400002, `${field} must be true or false`);
}
