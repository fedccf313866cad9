import { toReport } from '../../runs/run-service.js';
import type { ImportService } from '../import-service.js';
import { langOf } from '../lang.js';
import { bodyStream, type RouteTable } from '../route.js';
import {
  emptyBody,
  importBody,
  importErrorSchema,
  runDetailSchema,
  runIdBody,
  runInProgressSchema,
  uploadParams,
  uploadQuery,
  uploadSchema,
} from '../schemas.js';

const UPLOAD_NOT_FOUND = 'UPLOAD_NOT_FOUND: applied, expired (after an hour) or never made';

export function importRoutes(table: RouteTable, deps: { imports: ImportService }): void {
  const { imports } = deps;

  table.add({
    method: 'POST',
    url: '/api/v1/imports',
    tag: 'imports',
    summary: 'Upload a file to import: streamed to disk in the data directory, kept an hour unless applied',
    description:
      'The body is the file itself (Content-Type: application/octet-stream), its name in `?name=`. It is written ' +
      'to disk as it arrives, never held in memory, up to ORGSYNC_IMPORT_MAX_SIZE (default 64 MiB): a larger one ' +
      'is refused with 413 and nothing of it is kept. What the file is is told by its content.',
    query: uploadQuery,
    rawBody: { contentType: 'application/octet-stream', description: 'the file' },
    responses: {
      201: { description: 'Kept; preview or apply it by its uploadId', schema: uploadSchema },
      400: {
        description: 'An empty body, or a file no reader takes (INVALID_INPUT with `issues`)',
        schema: importErrorSchema,
      },
      413: { description: 'UPLOAD_TOO_LARGE: over ORGSYNC_IMPORT_MAX_SIZE; the connection is closed' },
      415: { description: 'UNSUPPORTED_MEDIA_TYPE: the body was not sent as application/octet-stream' },
    },
    handler: async ({ query, req }) => {
      const length = req.headers['content-length'];
      const {
        receivedAt: _receivedAt,
        expiresAt,
        ...upload
      } = await imports.upload(bodyStream(req), {
        name: query.name,
        declaredLength: length === undefined ? undefined : Number(length),
      });
      return { ...upload, expiresAt: new Date(expiresAt).toISOString() };
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/imports/:uploadId/preview',
    tag: 'imports',
    summary: '预览: a dry run of the upload, waited for: the counts, the first changes field by field, the warnings',
    description:
      'Recorded as a planned (dry-run) run, as `orgsync import --dry-run` is: its report is GET /api/v1/runs/{id}, ' +
      'and GET /api/v1/runs/{id}/changes pages through every change. The directory is not written. A file the ' +
      'reader refuses answers 400 with every issue it found (sheet, row, column) in `issues`.',
    params: uploadParams,
    body: importBody,
    responses: {
      200: { description: "The dry run's report and its first 100 changes", schema: runDetailSchema },
      400: {
        description: 'An option, or the file, is invalid; `issues` lists what the reader found',
        schema: importErrorSchema,
      },
      404: { description: UPLOAD_NOT_FOUND },
      409: { description: 'RUN_IN_PROGRESS: a run of the same source is going', schema: runInProgressSchema },
    },
    handler: async ({ params, body, req }) => {
      const { run, steps, changes, total } = await imports.preview(params.uploadId, body ?? {});
      return {
        ...toReport(run, steps, langOf(req.headers['accept-language'])),
        changedObjects: { total, items: changes },
      };
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/imports/:uploadId/apply',
    tag: 'imports',
    summary: '确认导入: import the upload in the background, as a run of its source; the upload is deleted after',
    description:
      'Takes the same options as the preview and starts a new run (it does not replay the preview: the file is ' +
      'read and planned again, under the guard). Follow it with GET /api/v1/runs/{id}.',
    params: uploadParams,
    body: importBody,
    responses: {
      202: { description: 'Importing', schema: runIdBody },
      400: { description: 'An option is invalid', schema: importErrorSchema },
      404: { description: UPLOAD_NOT_FOUND },
      409: { description: 'RUN_IN_PROGRESS: a run of the same source is going', schema: runInProgressSchema },
    },
    handler: async ({ params, body }) => ({ runId: await imports.apply(params.uploadId, body ?? {}) }),
  });

  table.add({
    method: 'DELETE',
    url: '/api/v1/imports/:uploadId',
    tag: 'imports',
    summary: 'Delete an upload that will not be applied',
    params: uploadParams,
    body: emptyBody,
    responses: { 204: { description: 'Deleted' }, 404: { description: UPLOAD_NOT_FOUND } },
    handler: async ({ params }) => {
      await imports.discard(params.uploadId);
    },
  });
}
