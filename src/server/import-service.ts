import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ConnectionService } from '../connections/connections.js';
import type { SourceConnector } from '../connectors/contract.js';
import { JsonSnapshotSource } from '../connectors/json-snapshot/source.js';
import { OrgsyncError, describeIssue, moreProblems, type ValidationIssue } from '../errors.js';
import { policySchema } from '../reconcile/policy.js';
import { enrichConnection } from '../runs/enrich.js';
import { RunLog } from '../runs/run-log.js';
import { executeRun, type RunProgress, type RunReport } from '../runs/run-service.js';
import type { RunChangeRecord, RunRecord, RunStep, Template } from '../runs/types.js';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import type { ImportUploads, StoredUpload, UploadInfo } from './import-uploads.js';
import type { RunRunner } from './runner.js';

/**
 * Importing a file from the API: the upload (streamed to disk by ImportUploads), a preview (a dry run, recorded as
 * the CLI's `--dry-run` is, so the changes it lists are the run's), and applying it as a background run through the
 * server's RunRunner, one at a time per source as syncs are. The same for enrichment (`enrich: CONNECTION`), whose
 * run is the connection's.
 */

/** What an upload holds, told by its bytes: a JSON snapshot (docs/json-snapshot.md). */
export type UploadFormat = 'snapshot';

/** How to read an upload and what to make of it: the body of preview and apply. */
export interface ImportRequest {
  /** The source the file stands for (links are kept per source); default `json` for a snapshot. */
  source?: string | undefined;
  template?: Template | undefined;
  /** Fill what this connection's API cannot see, instead of importing the file as a source of its own. */
  enrich?: string | undefined;
  sheet?: number | string | undefined;
  startRow?: number | undefined;
  endRow?: number | undefined;
  encoding?: 'auto' | 'utf8' | 'gb18030' | undefined;
}

/** A run and what the API shows of it (GET /api/v1/runs/:id's pieces). */
export interface RunDetail {
  run: RunRecord;
  steps: RunStep[];
  changes: RunChangeRecord[];
  total: number;
}

/** Changes a preview answers with; the rest are read page by page from GET /api/v1/runs/:id/changes. */
const PREVIEW_CHANGES = 100;

function invalid(field: string, message: string, hint: string): ApiError {
  return new ApiError(400, { code: 'INVALID_INPUT', message: `${field}: ${message}`, hint, field });
}

/** A file none of the readers takes, named as the admin named it. */
function unreadable(upload: UploadInfo, issues: ValidationIssue[], extra: Record<string, unknown> = {}): ApiError {
  const [first] = issues;
  return new ApiError(
    400,
    {
      code: 'INVALID_INPUT',
      message: first
        ? `${upload.name}: ${describeIssue(first)}${moreProblems(issues.length)}`
        : `${upload.name} is invalid`,
      hint: first?.hint ?? 'Fix the file and upload it again; nothing was written.',
    },
    { extra: { issues, ...extra } },
  );
}

/** What the bytes say the file is. */
async function formatOf(upload: StoredUpload): Promise<UploadFormat> {
  const handle = await open(upload.file, 'r');
  try {
    const head = Buffer.alloc(Math.min(upload.size, 512));
    await handle.read(head, 0, head.length, 0);
    const start = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
    if (head.subarray(start).toString('latin1').trimStart().startsWith('{')) return 'snapshot';
  } finally {
    await handle.close();
  }
  throw unreadable(upload, [
    {
      path: upload.name,
      field: '(format)',
      message: 'the file is not a JSON snapshot of the org',
      hint: 'Upload a JSON snapshot (docs/json-snapshot.md).',
    },
  ]);
}

interface Prepared {
  /** The runner's key: the source, or the enriched connection. */
  source: string;
  execute(file: string, options: { dryRun: boolean; onProgress: (p: RunProgress) => void }): Promise<RunReport>;
}

export class ImportService {
  private readonly log: RunLog;

  constructor(
    private readonly deps: {
      store: Store;
      connections: ConnectionService;
      runner: RunRunner;
      uploads: ImportUploads;
    },
  ) {
    this.log = new RunLog(deps.store);
  }

  /** Keeps the body as a new upload and says what it is; a file no reader takes is refused and not kept. */
  async upload(
    body: Readable,
    info: { name: string | undefined; declaredLength: number | undefined },
  ): Promise<UploadInfo & { format: UploadFormat; expiresAt: number }> {
    const received = await this.deps.uploads.receive(body, info);
    const stored = await this.deps.uploads.get(received.uploadId);
    try {
      return { ...received, format: await formatOf(stored), expiresAt: this.deps.uploads.expiresAt(received) };
    } catch (err) {
      await this.deps.uploads.remove(received.uploadId);
      throw err;
    }
  }

  /**
   * A dry run of the upload with these options, waited for: the run's report and its first changes. A file the
   * reader refuses is a 400 listing every issue it found (sheet, row, column), beside the failed run's id.
   */
  async preview(uploadId: string, request: ImportRequest): Promise<RunDetail> {
    const upload = await this.deps.uploads.get(uploadId);
    const prepared = await this.prepare(upload, request);
    const { runId, done } = await this.deps.runner.startRun(prepared.source, (onProgress) =>
      prepared.execute(upload.file, { dryRun: true, onProgress }),
    );
    const report = await done;
    const detail = await this.log.detail(runId, PREVIEW_CHANGES);
    if (!report || !detail) {
      throw new ApiError(500, {
        code: 'PREVIEW_FAILED',
        message: `the preview (run ${runId}) stopped with an error`,
        hint: 'See the server log for the error.',
      });
    }
    if (
      report.status === 'failed' &&
      report.errors.length > 0 &&
      report.errors.every((e) => e.code === 'INVALID_INPUT')
    ) {
      const issues = detail.steps.flatMap((s) =>
        s.status === 'failed' && Array.isArray(s.detail.issues) ? (s.detail.issues as ValidationIssue[]) : [],
      );
      throw unreadable(upload, issues, { runId });
    }
    return detail;
  }

  /** Applies the upload in the background (202 { runId }); the upload is taken, and deleted once the run ends. */
  async apply(uploadId: string, request: ImportRequest): Promise<number> {
    const prepared = await this.prepare(await this.deps.uploads.get(uploadId), request);
    const taken = await this.deps.uploads.take(uploadId);
    try {
      const { runId } = await this.deps.runner.startRun(
        prepared.source,
        (onProgress) => prepared.execute(taken.file, { dryRun: false, onProgress }),
        () => taken.remove(),
      );
      return runId;
    } catch (err) {
      // Refused before it ran (another run of the source is going): the upload stays for another try.
      await taken.restore();
      throw err;
    }
  }

  /** Deletes an upload that will not be applied. */
  async discard(uploadId: string): Promise<void> {
    const taken = await this.deps.uploads.take(uploadId);
    await taken.remove();
  }

  /** The run the request asks for, its options checked against the file; 400 naming the field at fault. */
  private async prepare(upload: StoredUpload, request: ImportRequest): Promise<Prepared> {
    await formatOf(upload);
    for (const field of ['sheet', 'startRow', 'endRow', 'encoding'] as const) {
      if (request[field] !== undefined && !(field === 'encoding' && request.encoding === 'auto')) {
        throw invalid(field, `${upload.name} is a JSON snapshot: ${field} is for export files`, `Leave ${field} out.`);
      }
    }
    const connector = (file: string): SourceConnector => new JsonSnapshotSource(file);
    if (request.enrich !== undefined) {
      const clashing = (['source', 'template'] as const).filter((f) => request[f] !== undefined);
      if (clashing.length > 0) {
        throw invalid(
          clashing[0] as string,
          `${clashing.join(' and ')} cannot be combined with enrich: enrichment runs under the connection's name and policy, and only fills fields of people it already has`,
          `Leave out ${clashing.join(' and ')}, or import the file as a source of its own without enrich.`,
        );
      }
      let connection: Awaited<ReturnType<ConnectionService['view']>>;
      try {
        connection = await this.deps.connections.view(request.enrich);
      } catch (err) {
        if (err instanceof OrgsyncError && err.code === 'CONNECTION_NOT_FOUND')
          throw invalid('enrich', err.message, err.hint ?? 'GET /api/v1/connections lists the connections.');
        throw err;
      }
      return {
        source: connection.name,
        // A platform whose users are linked by an id no file lists is refused there, before the run exists (400).
        execute: (file, options) => enrichConnection(this.deps.store, connection, connector(file), options),
      };
    }
    const source = request.source ?? 'json';
    const template = request.template ?? 'full';
    const policy = policySchema.parse({});
    return {
      source,
      execute: (file, options) =>
        executeRun(this.deps.store, {
          kind: 'import',
          source,
          connector: connector(file),
          policy,
          template,
          ...options,
        }),
    };
  }
}
