import { PLATFORMS } from '../../src/connectors/registry.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/stores.js';
import { Client, signedIn, startHarness, type Harness } from './harness.js';

/** The OpenAPI document, the console's static files with the SPA fallback, and the answers outside the API. */

let harnesses: Harness[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const h of harnesses) await h.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  harnesses = [];
  dirs = [];
});

async function harness(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
}

describe('the API surface', () => {
  it('GET /api/docs describes every route as OpenAPI 3.1, from the same schemas that validate requests', async () => {
    const h = await harness();
    const c = await signedIn(h);
    const doc = await c.get('/api/docs');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(doc.body.components.securitySchemes).toHaveProperty('session');
    expect(doc.body.components.securitySchemes).toHaveProperty('token');
    const listed = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    const routes = h.server.routes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    expect(listed.sort()).toEqual([...routes].sort());
    for (const expected of [
      'POST /api/v1/session',
      'GET /api/v1/session',
      'DELETE /api/v1/session',
      'GET /api/v1/connections',
      'POST /api/v1/connections',
      'GET /api/v1/connections/{name}',
      'PATCH /api/v1/connections/{name}',
      'DELETE /api/v1/connections/{name}',
      'POST /api/v1/connections/{name}/test',
      'POST /api/v1/connection-tests',
      'POST /api/v1/connections/{name}/sync',
      'GET /api/v1/runs',
      'GET /api/v1/runs/{id}',
      'GET /api/v1/runs/{id}/changes',
      'POST /api/v1/runs/{id}/approve',
      'GET /api/v1/directory/departments',
      'GET /api/v1/directory/departments/{id}/members',
      'GET /api/v1/directory/users/{id}',
      'GET /api/docs',
    ]) {
      expect(listed).toContain(expected);
    }
    const paths = doc.body.paths;
    expect(paths['/api/v1/session'].post.security).toEqual([]);
    // One body per platform of the registry, told apart by `platform`, each with that platform's settings keys.
    const bodies = paths['/api/v1/connections'].post.requestBody.content['application/json'].schema.oneOf;
    expect(bodies.map((b: any) => b.properties.platform.const)).toEqual(PLATFORMS.map((d) => d.id));
    for (const [i, d] of PLATFORMS.entries()) {
      expect(Object.keys(bodies[i].properties.settings.properties)).toEqual(Object.keys(d.settings.shape));
      // The schedule in its own object, and at the top where it was given before.
      expect(Object.keys(bodies[i].properties.schedule.properties)).toEqual(['reconcileCron']);
      expect(bodies[i].properties).toHaveProperty('reconcileCron');
    }
    const patch = paths['/api/v1/connections/{name}'].patch.requestBody.content['application/json'].schema;
    expect(Object.keys(patch.properties.schedule.properties)).toEqual(['reconcileCron']);
    expect(paths['/api/v1/platforms'].get.responses['200']).toBeTruthy();
    const answer = paths['/api/v1/connections'].post.responses['201'].content['application/json'].schema;
    expect(answer.properties).toHaveProperty('syncEnabled');
    expect(answer.properties).toHaveProperty('reconcileCron');
    expect(Object.keys(answer.properties.schedule.properties)).toEqual(['reconcileCron']);
    expect(
      paths['/api/v1/connections/{name}/sync'].post.responses['409'].content['application/json'].schema.properties,
    ).toHaveProperty('runId');
    const members = paths['/api/v1/directory/departments/{id}/members'].get.parameters.map(
      (p: { in: string; name: string }) => `${p.in}:${p.name}`,
    );
    expect(members).toEqual(['path:id', 'query:q', 'query:cursor', 'query:limit']);
    expect(paths['/api/v1/runs'].get.responses['401']).toBeDefined();
  });

  it('without a built console, every page says how to build it; API paths keep answering JSON', async () => {
    const h = await harness();
    for (const p of ['/', '/org', '/runs/12']) {
      const res = await fetch(h.url + p);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const html = await res.text();
      expect(html).toContain('not built');
      expect(html).toContain('npm run build:console');
    }
    const api = await fetch(`${h.url}/api/v1/nothing-here`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const post = await fetch(`${h.url}/somewhere`, { method: 'POST' });
    expect(post.status).toBe(404);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('serves the built console with an SPA fallback for its own pages only, and 404 for missing files and other paths', async () => {
    const dir = tempDir('orgsync-console-');
    dirs.push(dir);
    mkdirSync(path.join(dir, 'assets'), { recursive: true });
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>orgsync console</title><div id="root"></div>');
    writeFileSync(path.join(dir, 'assets', 'app-1234.js'), 'console.log("hi")');
    const h = await harness('sqlite', { consoleDir: dir });
    const index = await fetch(`${h.url}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('orgsync console');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const deep = await fetch(`${h.url}/runs/42`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('orgsync console');
    for (const other of ['/settings/connections', '/runs/x', '/nowhere', '/api'])
      expect((await fetch(h.url + other)).status, other).toBe(404);
    const asset = await fetch(`${h.url}/assets/app-1234.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${h.url}/assets/missing.js`)).status).toBe(404);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');

    const c = await signedIn(h);
    const api = await c.get('/api/v1/no-such-route');
    expect(api.status).toBe(404);
    expect(api.body.error).toMatchObject({ code: 'NOT_FOUND', hint: expect.any(String) });
    expect(api.headers.get('cache-control')).toBe('no-store');
  });

  it('healthz is public and tells nothing more than ok', async () => {
    const h = await harness();
    const res = await new Client(h.url).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });
});
