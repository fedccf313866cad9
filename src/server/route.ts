import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { fromZodError } from './errors.js';

/**
 * One API route, declared once: its zod schemas validate the request (a 400 names the field at fault) and
 * describe it in the OpenAPI document, so the two never drift apart.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: FastifyRequest;
  reply: FastifyReply;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteSpec<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
> {
  method: Method;
  /** Fastify's form: /api/v1/connections/:name */
  url: string;
  summary: string;
  description?: string;
  tag: string;
  /** Reachable without a session or token (only signing in is); every other API route requires the admin role. */
  public?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /** The first 2xx is the status of a normal answer. */
  responses: Record<number, ResponseSpec>;
  handler(ctx: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}

export type AnyRouteSpec = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

function parse<S extends z.ZodType | undefined>(schema: S, value: unknown, part: 'params' | 'query' | 'body'): Out<S> {
  if (!schema) return undefined as Out<S>;
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw fromZodError(result.error, part);
  return result.data as Out<S>;
}

/** Collects the routes of the API as they are added, for the OpenAPI document and for the tests. */
export class RouteTable {
  readonly routes: AnyRouteSpec[] = [];

  constructor(private readonly app: FastifyInstance) {}

  add<
    P extends z.ZodType | undefined = undefined,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(spec: RouteSpec<P, Q, B>): void {
    this.routes.push(spec as unknown as AnyRouteSpec);
    const success = Number(Object.keys(spec.responses).find((code) => code.startsWith('2')) ?? 200);
    this.app.route({
      method: spec.method,
      url: spec.url,
      // The access the auth hook reads: public, or the admin role (the only one today).
      config: spec.public === true ? { public: true } : { role: 'admin' },
      handler: async (req, reply) => {
        const params = parse(spec.params as P, req.params, 'params');
        const query = parse(spec.query as Q, req.query, 'query');
        const body = parse(spec.body as B, req.body, 'body');
        const result = await spec.handler({ params, query, body, req, reply });
        if (reply.sent) return reply;
        if (reply.statusCode === 200) reply.code(success);
        return success === 204 ? reply.send() : reply.send(result);
      },
    });
  }
}
