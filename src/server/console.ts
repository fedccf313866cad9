import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The console's own pages, as its router knows them (web/src/app.tsx: `/` goes to /org; /settings, /runs and
 * /runs/<id>). Each is a public GET route answering index.html; any other path is a 404, so no spelling of an API
 * path can land on the console's fallback. A page added to the console is added here too.
 */
export const CONSOLE_PAGES = ['/', '/org', '/settings', '/runs', '/runs/:id(^\\d+$)'] as const;

// No inline style: the Content-Security-Policy (style-src 'self') covers this page too.
function notBuiltPage(dir: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orgsync</title></head>
<body><h1>orgsync is running</h1>
<p>The admin console is not built, so there is nothing to show here yet. The API works: see <code>/api/docs</code> (sign in first) and <code>/healthz</code>.</p>
<p>Build the console in the orgsync project with <code>npm run build:console</code> (or <code>npm run build</code>), then restart the server.
It is looked for in <code>${escapeHtml(dir)}</code>; set <code>ORGSYNC_CONSOLE_DIR</code> to serve it from elsewhere.</p>
</body></html>`;
}

/**
 * Every file below dir, as URL paths (`/index.html`, `/assets/index-1a2b.js`). Names with characters the router
 * reads as syntax (`:` a parameter, `*` a wildcard) or that need encoding are left out: Vite names none so.
 */
function filesOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `/${path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/')}`)
    .filter((file) => /^[A-Za-z0-9/._~@+-]+$/.test(file))
    .sort();
}

/**
 * The console at `/`: each file of the built directory as its own public route (listed at start: a rebuilt console
 * is served after a restart), and the console's pages (CONSOLE_PAGES) answering index.html. Without a build, the
 * pages say how to make one. Every other path answers 404, as JSON, whatever its spelling or method.
 */
export async function registerConsole(app: FastifyInstance, dir: string): Promise<{ built: boolean }> {
  const built = existsSync(path.join(dir, 'index.html'));
  await app.register(async (scope) => {
    if (built) {
      await scope.register(fastifyStatic, {
        root: dir,
        // Only reply.sendFile: the routes are declared below, one per file, rather than a wildcard that would
        // catch every unmatched path.
        serve: false,
        // Vite names its assets by content hash: they may be cached for good; index.html never is.
        setHeaders: (reply, file) => {
          void reply.header(
            'cache-control',
            path.basename(file) === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
          );
        },
      });
      for (const file of filesOf(dir)) {
        scope.get(file, { config: { public: true } }, async (_req, reply) => reply.sendFile(file.slice(1)));
      }
    }
    for (const page of CONSOLE_PAGES) {
      scope.get(page, { config: { public: true } }, async (_req, reply) => {
        if (!built)
          return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(notBuiltPage(dir));
        return reply.sendFile('index.html');
      });
    }
  });

  app.setNotFoundHandler(async (req: FastifyRequest, _reply: FastifyReply) => {
    const pathname = req.url.split('?', 1)[0] ?? '/';
    throw new ApiError(404, {
      code: 'NOT_FOUND',
      message: `no such route: ${req.method} ${pathname}`,
      hint: 'See GET /api/docs for the API; the console lives at /.',
    });
  });
  return { built };
}
