import type { FastifyRequest } from 'fastify';

/**
 * A request body as JSON. Both simulators take bodies as text (common/core.ts) because each platform answers a
 * malformed one with its own errcode; this is the parsing they share. An empty body is `{}`.
 */
export function jsonBody(req: FastifyRequest): { value: unknown } | { problem: string } {
  const text = typeof req.body === 'string' ? req.body : '';
  if (text.trim() === '') return { value: {} };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { problem: `body is not JSON: ${(err as Error).message}` };
  }
}

/** The body as a JSON object, or why it is not one. */
export function jsonObjectBody(req: FastifyRequest): { value: Record<string, unknown> } | { problem: string } {
  const body = jsonBody(req);
  if ('problem' in body) return body;
  const v = body.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { problem: 'body must be a JSON object' };
  return { value: v as Record<string, unknown> };
}
