import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { z } from 'zod';
import { ApiError, fromZodError } from './errors.js';

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
  /**
   * The body is a file, not JSON: it is not parsed nor read before the handler, which reads it as a stream
   * (`bodyStream`), so it never has to fit in memory. The route answers 415 to any other content type.
   */
  rawBody?: { contentType: string; description: string };
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

/** The request body of a `rawBody` route, unread; a request without one is a 400. */
export function bodyStream(req: FastifyRequest): Readable {
  if (req.body === undefined || req.body === null) {
    throw new ApiError(400, {
      code: 'UPLOAD_EMPTY',
      message: 'the request carried no file (an empty body)',
      hint: 'Send the file itself as the body, with Content-Type: application/octet-stream.',
    });
  }
  return req.body as Readable;
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
    const route: RouteOptions = {
      method: spec.method,
      url: spec.url,
      // The access the auth hook reads: public, or the admin role (the only one today).
      config: spec.public === true ? { public: true } : { role: 'admin' },
      handler: async (req, reply) => {
        const params = parse(spec.params as P, req.params, 'params');
        const query = parse(spec.query as Q, req.query, 'query');
        const body = spec.rawBody ? (undefined as Out<B>) : parse(spec.body as B, req.body, 'body');
        const result = await spec.handler({ params, query, body, req, reply });
        if (reply.sent) return reply;
        if (reply.statusCode === 200) reply.code(success);
        return success === 204 ? reply.send() : reply.send(result);
      },
    };
    const raw = spec.rawBody;
    if (!raw) {
      this.app.route(route);
      return;
    }
    // A scope of its own, so that only this route takes its content type, and takes it unparsed.
    void this.app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (req, payload, done) => {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]
          ?.trim()
          .toLowerCase();
        if (type === raw.contentType) return done(null, payload);
        const refused = new ApiError(415, {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: `the body must be sent as ${raw.contentType}${type ? `, not ${type}` : ''}`,
          hint: `Send ${raw.description} as the body with Content-Type: ${raw.contentType}.`,
        });
        done(refused, undefined);
      });
      scope.route(route);
    });
  }
}
