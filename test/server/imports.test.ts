import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDirectory } from '../../src/directory/export.js';
import { UPLOAD_TTL_MS } from '../../src/server/import-uploads.js';
import { importErrorSchema, runDetailSchema, uploadSchema } from '../../src/server/schemas.js';
import { WecomSimulator } from '../../src/simulator/wecom/server.js';
import { readXlsx, writeCsv, writeXlsx, type PyCell } from '../helpers/export-files.js';
import { viewOfDirectory, viewOfRows } from '../helpers/export-expect.js';
import { fileOrg, IMPORT_FORMATS, peopleOf, type FileOrg } from '../helpers/import-files.js';
import { tempDir } from '../helpers/stores.js';
import { type Client, signedIn, startHarness, until, type Harness } from './harness.js';

/**
 * Importing a file over the API against the real server: the upload streamed to disk and bounded, the preview as a
 * dry run that writes nothing, apply as a background run, errors naming where the file is wrong, enrichment of a
 * connection synced from the WeCom simulator, and access as every other state-changing route.
 */

const MAX = 64 * 1024;

let dataDir: string;
let h: Harness;
let c: Client;
let now = Date.now();
let files: string;

beforeAll(async () => {
  dataDir = tempDir('orgsync-imports-');
  files = tempDir('orgsync-import-files-');
  h = await startHarness('sqlite', {
    env: {
      ORGSYNC_DATA_DIR: dataDir,
      ORGSYNC_MASTER_KEY: randomBytes(32).toString('base64'),
      ORGSYNC_IMPORT_MAX_SIZE: '64k',
    },
    clock: () => now,
  });
  c = await signedIn(h);
});

afterAll(async () => {
  await h?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

const uploadsDir = () => path.join(dataDir, 'uploads');
/** What the uploads folder holds: each upload's folder and record. */
const onDisk = (): string[] => (existsSync(uploadsDir()) ? readdirSync(uploadsDir()).sort() : []);
const dump = async () => exportDirectory(await h.t.store.directory.load());

interface Sent {
  status: number;
  body: any;
  headers: http.IncomingHttpHeaders;
}

/** POST /api/v1/imports with `bytes` as the body, as the console sends a file. */
async function upload(
  bytes: Buffer,
  name: string,
  options: { client?: Client | null; csrf?: boolean; contentType?: string } = {},
): Promise<Sent> {
  const client = options.client === undefined ? c : options.client;
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/octet-stream' };
  if (client?.cookie) headers.cookie = client.cookie;
  if (client?.csrfToken && options.csrf !== false) headers['x-csrf-token'] = client.csrfToken;
  const res = await fetch(`${h.url}/api/v1/imports?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers,
    body: bytes,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: Object.fromEntries(res.headers) };
}

/** Writes `org` in a format and uploads it. */
async function uploadOrg(org: FileOrg, format = IMPORT_FORMATS[0]): Promise<{ uploadId: string; answer: Sent }> {
  if (!format) throw new Error('no import format');
  const file = format.write(org, files, `org-${Math.random().toString(36).slice(2)}`);
  const answer = await upload(readFileSync(file), path.basename(file));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return { uploadId: answer.body.uploadId, answer };
}

async function finished(runId: number): Promise<any> {
  return until(`run ${runId} to finish`, async () => {
    const run = await c.get(`/api/v1/runs/${runId}`);
    return run.body.status !== 'running' && run.body.progress === undefined ? run.body : undefined;
  });
}

describe('uploading a file', () => {
  it('streams it to a 0600 file in a 0700 folder of the data directory, and says what it is', async () => {
    const org = fileOrg(12);
    const { uploadId, answer } = await uploadOrg(org);
    expect(uploadSchema.parse(answer.body)).toEqual(answer.body);
    expect(answer.body).toMatchObject({ format: 'snapshot', size: expect.any(Number) });
    expect(Date.parse(answer.body.expiresAt)).toBe(now + UPLOAD_TTL_MS);
    const folder = path.join(uploadsDir(), uploadId);
    const file = path.join(folder, answer.body.name);
    expect(statSync(uploadsDir()).mode & 0o777).toBe(0o700);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).size).toBe(answer.body.size);
    expect(statSync(path.join(uploadsDir(), `${uploadId}.json`)).mode & 0o777).toBe(0o600);
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
    expect(onDisk()).toEqual([]);
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(404);
  });

  it('a name with folders or control characters is kept as a plain file name', async () => {
    const answer = await upload(Buffer.from('{"departments":[],"users":[]}'), '../../etc/通讯\u0007录.json');
    expect(answer.status).toBe(201);
    expect(answer.body.name).toBe('通讯录.json');
    expect(existsSync(path.join(uploadsDir(), answer.body.uploadId, '通讯录.json'))).toBe(true);
    expect((await c.request('DELETE', `/api/v1/imports/${answer.body.uploadId}`)).status).toBe(204);
  });

  it('over ORGSYNC_IMPORT_MAX_SIZE by its Content-Length: 413 before a byte is kept, and the connection closed', async () => {
    const answer = await upload(Buffer.alloc(MAX + 1, 0x20), 'big.json');
    expect(answer.status).toBe(413);
    expect(answer.body.error).toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
      message: expect.stringContaining('(64 KiB)'),
      hint: expect.stringContaining('ORGSYNC_IMPORT_MAX_SIZE'),
    });
    expect(answer.headers.connection).toBe('close');
    expect(onDisk()).toEqual([]);
    // Exactly the bound is taken.
    const exact = Buffer.alloc(MAX, 0x20);
    exact.write('{"departments":[],"users":[]}');
    const taken = await upload(exact, 'exact.json');
    expect(taken.status).toBe(201);
    expect(taken.body.size).toBe(MAX);
    expect((await c.request('DELETE', `/api/v1/imports/${taken.body.uploadId}`)).status).toBe(204);
  });

  it('a body sent in chunks is on disk before it ends; one that grows past the bound is cut off with 413 and its partial file removed', async () => {
    const url = new URL(h.url);
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/api/v1/imports?name=chunked.json',
      headers: {
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
        cookie: c.cookie as string,
        'x-csrf-token': c.csrfToken as string,
      },
    });
    const answer = new Promise<Sent>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }));
      });
      // Writing after the server refused may fail once the answer is in; only an error before it fails the test.
      req.on('error', reject);
    });
    req.write(Buffer.alloc(40 * 1024, 0x20));
    // The first chunk is written to disk while the request is still open: the body is not held in memory.
    const partial = await until('the first chunk on disk', async () => {
      const folder = onDisk().find((f) => !f.endsWith('.json'));
      const file = folder ? path.join(uploadsDir(), folder, 'chunked.json') : undefined;
      return file && existsSync(file) && statSync(file).size === 40 * 1024 ? file : undefined;
    });
    req.write(Buffer.alloc(40 * 1024, 0x20));
    req.end();
    const refused = await answer;
    expect(refused.status).toBe(413);
    expect(refused.body.error.code).toBe('UPLOAD_TOO_LARGE');
    expect(refused.headers.connection).toBe('close');
    expect(existsSync(partial)).toBe(false);
    expect(onDisk()).toEqual([]);
  });

  it('refuses an empty body, another content type, and a file no reader takes (not kept)', async () => {
    const empty = await upload(Buffer.alloc(0), 'empty.json');
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe('UPLOAD_EMPTY');
    const json = await upload(Buffer.from('{}'), 'x.json', { contentType: 'application/json' });
    expect(json.status).toBe(415);
    expect(json.body.error).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      hint: expect.stringContaining('octet-stream'),
    });
    const garbage = await upload(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 1, 2, 3]), '通讯录.xlsx');
    expect(garbage.status).toBe(400);
    expect(importErrorSchema.parse(garbage.body)).toEqual(garbage.body);
    expect(garbage.body.error.message).toContain('通讯录.xlsx');
    expect(garbage.body.issues[0]).toMatchObject({ path: '通讯录.xlsx', field: '(format)' });
    expect(onDisk()).toEqual([]);
  });
});

describe('preview and apply', () => {
  /** The upload the first test previews and the second applies. */
  let previewed = '';

  it('preview is a dry run: counts, the first changes field by field, no warnings; the directory is unchanged', async () => {
    const org = fileOrg(30);
    const { uploadId } = await uploadOrg(org);
    previewed = uploadId;
    const before = await dump();
    const preview = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'hr' });
    expect(preview.status, preview.text).toBe(200);
    expect(runDetailSchema.parse(preview.body)).toBeTruthy();
    expect(preview.body).toMatchObject({
      kind: 'import',
      source: 'hr',
      status: 'planned',
      dryRun: true,
      template: 'full',
      warnings: [],
      changes: { departments: { create: org.departments.length }, users: { create: 30 } },
    });
    expect(preview.body.changedObjects.total).toBe(org.departments.length + 30);
    const someone = preview.body.changedObjects.items.find(
      (x: { objectKind: string; externalId: string }) => x.objectKind === 'user' && x.externalId === 'p001',
    );
    expect(someone).toMatchObject({
      action: 'create',
      fields: {
        name: { before: null, after: '员工p001' },
        mobile: { before: null, after: org.people[1]?.mobile },
        email: { before: null, after: 'p001@example.com' },
      },
    });
    expect(await dump()).toEqual(before);
    // The preview is a recorded run, paged as any run's changes are.
    const page = await c.get(`/api/v1/runs/${preview.body.runId}/changes?limit=5&offset=5`);
    expect(page.body.items.map((x: { seq: number }) => x.seq)).toEqual([6, 7, 8, 9, 10]);
    // The upload is still there to apply.
    expect(onDisk()).toEqual([uploadId, `${uploadId}.json`].sort());
  });

  it('apply runs in the background (202), the directory then equals the file, and the upload is deleted', async () => {
    const org = fileOrg(30);
    const uploadId = previewed;
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { source: 'hr' });
    expect(applied.status, applied.text).toBe(202);
    const run = await finished(applied.body.runId);
    expect(run).toMatchObject({ kind: 'import', source: 'hr', status: 'succeeded', dryRun: false, template: 'full' });
    expect(run.changes.users.create).toBe(30);
    expect(peopleOf(await dump(), 'hr')).toEqual(
      org.people
        .map((p) => ({
          account: p.account,
          name: p.name,
          status: 'active',
          mobile: p.mobile,
          email: p.email,
          departments: [...p.departments].sort(),
        }))
        .sort((a, b) => (a.account < b.account ? -1 : 1)),
    );
    await until('the upload deleted', async () => onDisk().length === 0);
    const again = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { source: 'hr' });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('UPLOAD_NOT_FOUND');
    const listed = await c.get('/api/v1/runs?source=hr');
    expect(listed.body.items.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'planned']);
  });

  it('the templates: create-update leaves out who the file leaves out, delete-only only removes them', async () => {
    const org = fileOrg(30);
    const smaller: FileOrg = { ...org, people: org.people.slice(0, 26) };
    const { uploadId } = await uploadOrg(smaller);
    const preview = async (template: string) => {
      const answer = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'hr', template });
      expect(answer.status, answer.text).toBe(200);
      expect(answer.body.template).toBe(template);
      return answer.body.changes.users;
    };
    expect(await preview('create-update')).toMatchObject({ create: 0, update: 0, disable: 0, delete: 0 });
    expect(await preview('delete-only')).toMatchObject({ create: 0, update: 0, disable: 4 });
    expect(await preview('full')).toMatchObject({ disable: 4 });
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, {
      source: 'hr',
      template: 'create-update',
    });
    expect(applied.status).toBe(202);
    expect(await finished(applied.body.runId)).toMatchObject({ status: 'succeeded', template: 'create-update' });
    expect(peopleOf(await dump(), 'hr').filter((p) => p.status === 'active')).toHaveLength(30);
  });

  it('a file with bad rows: 400 listing every issue by where it is, the failed preview run, the directory unchanged', async () => {
    const org = fileOrg(8);
    const people = org.people.map((p, i) =>
      i === 2 ? { ...p, mobile: 'not a phone' } : i === 5 ? { ...p, email: 'nobody-at-example' } : p,
    );
    const { uploadId } = await uploadOrg({ ...org, people });
    const before = await dump();
    const answer = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'bad' });
    expect(answer.status, answer.text).toBe(400);
    expect(importErrorSchema.parse(answer.body)).toEqual(answer.body);
    expect(answer.body.error.code).toBe('INVALID_INPUT');
    expect(answer.body.issues).toEqual([
      expect.objectContaining({ path: expect.stringContaining('users[2]'), field: 'mobile' }),
      expect.objectContaining({ path: expect.stringContaining('users[5]'), field: 'email' }),
    ]);
    expect(answer.body.error.message).toContain('and 1 more problem');
    const run = await c.get(`/api/v1/runs/${answer.body.runId}`);
    expect(run.body).toMatchObject({ status: 'failed', source: 'bad' });
    expect(run.body.errors).toHaveLength(2);
    // apply reads the same file and fails the same way, writing nothing.
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { source: 'bad' });
    expect(applied.status).toBe(202);
    expect((await finished(applied.body.runId)).status).toBe('failed');
    expect(await dump()).toEqual(before);
  });

  it('options that do not fit the file, or are malformed, are 400 naming the field; unknown uploads 404', async () => {
    const { uploadId } = await uploadOrg(fileOrg(3));
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ sheet: 1 }, 'sheet'],
      [{ startRow: 2 }, 'startRow'],
      [{ endRow: -1 }, 'endRow'],
      [{ encoding: 'gb18030' }, 'encoding'],
      [{ template: 'everything' }, 'template'],
      [{ source: '../etc' }, 'source'],
      [{ startRow: -1 }, 'startRow'],
      [{ unknown: 1 }, 'unknown'],
      [{ enrich: 'acme', source: 'hr' }, 'source'],
      [{ enrich: 'nobody' }, 'enrich'],
    ];
    for (const [body, field] of cases) {
      for (const action of ['preview', 'apply']) {
        const answer = await c.request('POST', `/api/v1/imports/${uploadId}/${action}`, body);
        expect(answer.status, `${action} ${JSON.stringify(body)}: ${answer.text}`).toBe(400);
        expect(answer.body.error.field, JSON.stringify(body)).toBe(field);
      }
    }
    // None of them took the upload or started a run.
    expect(onDisk()).toContain(uploadId);
    expect((await c.request('POST', '/api/v1/imports/0123456789abcdef0123456789abcdef/preview', {})).status).toBe(404);
    const malformed = await c.request('POST', '/api/v1/imports/..%2F..%2Fetc/preview', {});
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.field).toBe('uploadId');
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
  });

  it('an upload nobody applies is deleted once its hour is over', async () => {
    const { uploadId } = await uploadOrg(fileOrg(3));
    now += UPLOAD_TTL_MS;
    expect((await c.request('POST', `/api/v1/imports/${uploadId}/preview`, {})).status).not.toBe(404);
    now += 1;
    const answer = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, {});
    expect(answer.status).toBe(404);
    expect(answer.body.error).toMatchObject({ code: 'UPLOAD_NOT_FOUND', hint: expect.stringContaining('again') });
    expect(onDisk()).toEqual([]);
  });
});

describe('access', () => {
  it('anonymous uploads are 401 and a session without x-csrf-token 403, before any byte is kept', async () => {
    const bytes = Buffer.from('{"departments":[],"users":[]}');
    const anonymous = await upload(bytes, 'x.json', { client: null });
    expect(anonymous.status).toBe(401);
    const forged = await upload(bytes, 'x.json', { csrf: false });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_TOKEN_INVALID');
    expect(onDisk()).toEqual([]);
    const { uploadId } = await uploadOrg(fileOrg(3));
    for (const action of ['preview', 'apply']) {
      const noCsrf = await c.request('POST', `/api/v1/imports/${uploadId}/${action}`, {}, { csrf: null });
      expect(noCsrf.status).toBe(403);
    }
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`, undefined, { csrf: null })).status).toBe(403);
    expect(onDisk()).toContain(uploadId);
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
  });

  it('the routes are in the OpenAPI document, the upload with its binary body', async () => {
    const doc = await c.get('/api/docs');
    const paths = doc.body.paths as Record<string, Record<string, any>>;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/imports',
        '/api/v1/imports/{uploadId}/preview',
        '/api/v1/imports/{uploadId}/apply',
        '/api/v1/imports/{uploadId}',
      ]),
    );
    expect(paths['/api/v1/imports']?.post.requestBody.content['application/octet-stream'].schema).toEqual({
      type: 'string',
      format: 'binary',
    });
  });
});

describe('with a connection', () => {
  let sim: WecomSimulator;

  beforeAll(async () => {
    sim = new WecomSimulator({ seed: 17, departments: 6, users: 40, config: { sensitiveFields: 'withheld' } });
    const simUrl = await sim.listen(0);
    const created = await c.request('POST', '/api/v1/connections', {
      platform: 'wecom',
      name: 'acme',
      settings: { corpId: sim.identity.corpId, agentId: sim.identity.agentId, apiBaseUrl: simUrl },
      secrets: { secret: sim.identity.secret, contactsSecret: sim.identity.contactsSecret },
      syncEnabled: true,
    });
    expect(created.status, created.text).toBe(201);
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('an import of the same source while its sync runs is 409 with that run, and the upload is kept for another try', async () => {
    sim.holdCalls();
    const sync = await c.request('POST', '/api/v1/connections/acme/sync', {});
    expect(sync.status).toBe(202);
    const { uploadId } = await uploadOrg(fileOrg(3));
    for (const action of ['preview', 'apply']) {
      const answer = await c.request('POST', `/api/v1/imports/${uploadId}/${action}`, { source: 'acme' });
      expect(answer.status, answer.text).toBe(409);
      expect(answer.body).toMatchObject({ error: { code: 'RUN_IN_PROGRESS' }, runId: sync.body.runId });
    }
    expect(onDisk()).toContain(uploadId);
    sim.releaseCalls();
    expect((await finished(sync.body.runId)).status).toBe('succeeded');
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
  });

  it('enrich: fills the mobiles the API withholds for the linked users, matched by account', async () => {
    const accounts = [...sim.corp.allUsers()].map((u) => u.userid).sort();
    expect(accounts.length).toBe(40);
    const mobile = (i: number) => `+86 199${String(10_000_000 + i)}`;
    const rows = [...accounts.map((a, i) => ({ externalId: a, mobile: mobile(i) })), { externalId: 'ghost' }];
    const answer = await upload(Buffer.from(JSON.stringify({ departments: [], users: rows })), 'mobiles.json');
    expect(answer.status).toBe(201);
    const { uploadId } = answer.body;
    const preview = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { enrich: 'acme' });
    expect(preview.status, preview.text).toBe(200);
    expect(preview.body).toMatchObject({
      kind: 'enrich',
      source: 'acme',
      status: 'planned',
      enrichment: { matched: 40, enriched: 40, unmatched: 1, unmatchedAccounts: ['ghost'] },
    });
    expect(preview.body.template).toBeUndefined();
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { enrich: 'acme' });
    expect(applied.status).toBe(202);
    expect((await finished(applied.body.runId)).status).toBe('succeeded');
    const byAccount = new Map(
      (await dump()).users.map((u) => [u.links.find((l) => l.source === 'acme')?.externalId, u]),
    );
    expect(accounts.map((a) => byAccount.get(a)?.mobile)).toEqual(accounts.map((_a, i) => mobile(i)));
  });
});

describe('export files', () => {
  let sim: WecomSimulator;
  let simUrl: string;

  beforeAll(async () => {
    sim = new WecomSimulator({ seed: 23, departments: 8, users: 60 });
    simUrl = await sim.listen(0);
  });

  afterAll(async () => {
    await sim?.close();
  });

  /** Uploads a file written by another program, by its path. */
  async function uploadFile(file: string): Promise<string> {
    const answer = await upload(readFileSync(file), path.basename(file));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body.uploadId;
  }

  it("the simulator's xlsx: create-update as wecom-export by default, and the directory equals the file as openpyxl reads it", async () => {
    const res = await fetch(`${simUrl}/__sim/export.xlsx`);
    expect(res.status).toBe(200);
    const file = path.join(files, '通讯录.xlsx');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const expected = viewOfRows(readXlsx(file)[0]?.rows ?? []);
    const answer = await upload(readFileSync(file), '通讯录.xlsx');
    expect(answer.status).toBe(201);
    expect(answer.body.format).toBe('xlsx');
    const { uploadId } = answer.body;
    const before = await dump();
    const preview = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, {});
    expect(preview.status, preview.text).toBe(200);
    expect(preview.body).toMatchObject({
      source: 'wecom-export',
      template: 'create-update',
      status: 'planned',
      warnings: [],
      changes: {
        departments: { create: Object.keys(expected.departments).length },
        users: { create: Object.keys(expected.people).length },
      },
    });
    expect(await dump()).toEqual(before);
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, {});
    expect(applied.status).toBe(202);
    expect(await finished(applied.body.runId)).toMatchObject({ status: 'succeeded', template: 'create-update' });
    const doc = await dump();
    const linked = doc.users.filter((u) => u.links.some((l) => l.source === 'wecom-export'));
    // The people of this file only: the earlier tests imported others under other sources.
    const exported = { ...doc, users: linked } as unknown as Parameters<typeof viewOfDirectory>[0];
    expect(viewOfDirectory(exported, 'wecom-export')).toEqual(expected);
  });

  // Sheet 0 explains; sheet 1 ("成员") has a title row, the header at row 1 (0-based) and ten members; sheet 2 five.
  const people = (prefix: string, count: number): PyCell[][] =>
    Array.from({ length: count }, (_, i) => [
      `人${i}`,
      `${prefix}${i}`,
      `公司/部门${i % 3}`,
      String(13_800_000_000 + i),
    ]);
  const HEADER = ['姓名', '账号', '部门', '手机'];
  const workbook = (name: string, members: PyCell[][] = people('a', 10)): string =>
    writeXlsx(path.join(files, name), [
      { name: '说明', rows: [['本文件为通讯录导出']] },
      { name: '成员', rows: [['通讯录'], HEADER, ...members] },
      { name: '外包', rows: [HEADER, ...people('b', 5)] },
    ]);

  it('sheet, startRow and endRow select exactly the rows asked; a sheet that is not there is a 400 listing the sheets', async () => {
    const uploadId = await uploadFile(workbook('two-sheets.xlsx'));
    const created = async (body: Record<string, unknown>) => {
      const answer = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'sheets', ...body });
      expect(answer.status, answer.text).toBe(200);
      const page = await c.get(`/api/v1/runs/${answer.body.runId}/changes?limit=100`);
      return page.body.items
        .filter((x: { objectKind: string }) => x.objectKind === 'user')
        .map((x: { externalId: string }) => x.externalId);
    };
    expect(await created({})).toEqual(people('a', 10).map((r) => r[1]));
    expect(await created({ sheet: 2 })).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    // Row 1 (0-based) is the header; rows 2..5 are a0..a3.
    expect(await created({ sheet: '成员', startRow: 1, endRow: 5 })).toEqual(['a0', 'a1', 'a2', 'a3']);
    const missing = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { sheet: '成员列表' });
    expect(missing.status).toBe(400);
    expect(missing.body.issues).toEqual([
      expect.objectContaining({
        field: 'sheet',
        message: expect.stringContaining('the sheets are 0: "说明", 1: "成员", 2: "外包"'),
        hint: expect.not.stringContaining('--'),
      }),
    ]);
    const backwards = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { startRow: 5, endRow: 3 });
    expect(backwards.status).toBe(400);
    expect(backwards.body.error).toMatchObject({
      field: 'endRow',
      message: expect.stringContaining('before the start row'),
    });
    const encoding = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { encoding: 'gb18030' });
    expect(encoding.status).toBe(400);
    expect(encoding.body.error.field).toBe('encoding');
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
  });

  it('bad rows: every issue names the sheet, the row as Excel shows it and the column; nothing is written', async () => {
    const members = people('c', 8).map((r, i): PyCell[] =>
      i === 2
        ? [r[0] ?? '', r[1] ?? '', r[2] ?? '', 'not a phone']
        : i === 5
          ? [r[0] ?? '', 'c0', r[2] ?? '', r[3] ?? '']
          : r,
    );
    const uploadId = await uploadFile(workbook('bad-rows.xlsx', members));
    const before = await dump();
    const answer = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'bad-xlsx' });
    expect(answer.status, answer.text).toBe(400);
    // Members start at Excel row 3: the third is row 5, the sixth row 8.
    expect(answer.body.issues).toEqual([
      expect.objectContaining({ path: 'sheet "成员", row 5', field: '手机' }),
      expect.objectContaining({ path: 'sheet "成员", row 8', field: '账号' }),
    ]);
    expect(await dump()).toEqual(before);
    expect((await c.request('DELETE', `/api/v1/imports/${uploadId}`)).status).toBe(204);
  });

  it('a CSV with mojibake: the preview warns with the rows and an example, the run keeps the warning, the names are repaired', async () => {
    const file = writeCsv(path.join(files, 'mojibake.csv'), [['通讯录'], HEADER, ...people('d', 6)], {
      mojibake: true,
    });
    const uploadId = await uploadFile(file);
    const sheet = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { sheet: 0 });
    expect(sheet.status).toBe(400);
    expect(sheet.body.error.field).toBe('sheet');
    const preview = await c.request('POST', `/api/v1/imports/${uploadId}/preview`, { source: 'csv-hr' });
    expect(preview.status, preview.text).toBe(200);
    expect(preview.body.warnings).toEqual([
      expect.objectContaining({
        code: 'MOJIBAKE_REPAIRED',
        rows: expect.any(Number),
        example: expect.objectContaining({ after: '通讯录' }),
      }),
    ]);
    const applied = await c.request('POST', `/api/v1/imports/${uploadId}/apply`, { source: 'csv-hr' });
    const run = await finished(applied.body.runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      warnings: [expect.objectContaining({ code: 'MOJIBAKE_REPAIRED' })],
    });
    const names = (await dump()).users.filter((u) => u.links.some((l) => l.source === 'csv-hr')).map((u) => u.name);
    expect(names.sort()).toEqual(['人0', '人1', '人2', '人3', '人4', '人5']);
  });
});
