import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isApiPath } from './auth/hook.js';
import { ApiError } from './errors.js';

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function notBuiltPage(dir: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orgsync</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:.1em .3em}</style></head>
<body><h1>orgsync is running</h1>
<p>The admin console is not built, so there is nothing to show here yet. The API works: see <code>/api/docs</code> (sign in first) and <code>/healthz</code>.</p>
<p>Build the console in the orgsync project with <code>npm run build:console</code> (or <code>npm run build</code>), then reload this page.
It is looked for in <code>${escapeHtml(dir)}</code>; set <code>ORGSYNC_CONSOLE_DIR</code> to serve it from elsewhere.</p>
</body></html>`;
}

/**
 * The console at `/`: its files from the built directory, and index.html for every other path that is not an
 * API path and does not look like a file (the console routes in the browser). Without a build, a page that says
 * how to make one.
 */
export async function registerConsole(app: FastifyInstance, dir: string): Promise<{ built: boolean }> {
  const built = existsSync(path.join(dir, 'index.html'));
  if (built) {
    await app.register(fastifyStatic, {
      root: dir,
      prefix: '/',
      index: ['index.html'],
      // Vite names its assets by content hash: they may be cached for good; index.html never is.
      setHeaders: (reply, file) => {
        void reply.header('cache-control', path.basename(file) === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable');
      },
    });
  }

  app.setNotFoundHandler(async (req: FastifyRequest, reply: FastifyReply) => {
    const pathname = req.url.split('?', 1)[0] ?? '/';
    if (isApiPath(req.url) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      throw new ApiError(404, { code: 'NOT_FOUND', message: `no such route: ${req.method} ${pathname}`, hint: 'See GET /api/docs for the API.' });
    }
    if (/\.[A-Za-z0-9]+$/.test(pathname.split('/').pop() ?? '')) {
      return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    }
    if (!built) return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(notBuiltPage(dir));
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
  return { built };
}
