import type { Readable } from 'node:stream';
import type { ConnectionService } from '../connections/connections.js';
import type { FileContent } from '../connectors/common/files/detect.js';
import { OrgsyncError, ValidationError, describeIssue, moreProblems, type ValidationIssue } from '../errors.js';
import { policySchema } from '../reconcile/policy.js';
import { enrichConnection } from '../runs/enrich.js';
import { fileContent, fileSource, type OptionNames } from '../runs/import-file.js';
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

/** What an upload holds, told by its bytes: a JSON snapshot, an Excel workbook or a CSV file of the export. */
export type UploadFormat = FileContent;

/** The export options as the API names them, in what an import refuses. */
const OPTION_NAMES: OptionNames = { sheet: 'sheet', startRow: 'startRow', endRow: 'endRow', encoding: 'encoding' };
const FLAGS: Record<string, keyof OptionNames> = {
  '--sheet': 'sheet',
  '--start-row': 'startRow',
  '--end-row': 'endRow',
  '--encoding': 'encoding',
};

/** A reader's issue in the API's words: the readers name the export options as the command line does. */
function inApiTerms(issue: ValidationIssue): ValidationIssue {
  const words = (text: string): string =>
    text.replace(/--(?:sheet|start-row|end-row|encoding)\b/g, (flag) => OPTION_NAMES[FLAGS[flag] as keyof OptionNames]);
  return {
    ...issue,
    field: words(issue.field),
    message: words(issue.message),
    ...(issue.hint !== undefined ? { hint: words(issue.hint) } : {}),
  };
}

/** How to read an upload and what to make of it: the body of preview and apply. */
export interface ImportRequest {
  /** The source the file stands for (links are kept per source); default `json` for a snapshot, `wecom-export` for an export file. */
  source?: string | undefined;
  /** Default create-update for an export file, full for a snapshot. */
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
function unreadable(upload: UploadInfo, found: ValidationIssue[], extra: Record<string, unknown> = {}): ApiError {
  const issues = found.map(inApiTerms);
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

interface Prepared {
  /** The runner's key: the source, or the enriched connection. */
  source: string;
  execute(options: { dryRun: boolean; onProgress: (p: RunProgress) => void }): Promise<RunReport>;
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
      const format = await fileContent(stored.file, 'auto', stored.name);
      return { ...received, format, expiresAt: this.deps.uploads.expiresAt(received) };
    } catch (err) {
      await this.deps.uploads.remove(received.uploadId);
      throw err instanceof ValidationError ? unreadable(received, err.issues) : err;
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
      prepared.execute({ dryRun: true, onProgress }),
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
        (onProgress) => prepared.execute({ dryRun: false, onProgress }),
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
    const { connector, defaultSource, defaultTemplate } = await fileSource(
      upload.file,
      {
        format: 'auto',
        sheet: request.sheet,
        startRow: request.startRow,
        endRow: request.endRow,
        encoding: request.encoding ?? 'auto',
      },
      { names: OPTION_NAMES, what: 'import options', display: upload.name },
    );
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
        execute: (options) => enrichConnection(this.deps.store, connection, connector, options),
      };
    }
    const source = request.source ?? defaultSource;
    const template = request.template ?? defaultTemplate;
    const policy = policySchema.parse({});
    return {
      source,
      execute: (options) =>
        executeRun(this.deps.store, { kind: 'import', source, connector, policy, template, ...options }),
    };
  }
}
