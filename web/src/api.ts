import type {
  ChangeRecord,
  Connection,
  ConnectionTestResult,
  DeadLetter,
  Department,
  ErrorBody,
  ImportOptions,
  ImportPreview,
  ImportUpload,
  Member,
  Platform,
  PlatformDescription,
  RunListItem,
  RunReport,
  Session,
  UserDetail,
} from './api-types';

/** An error the API answered with: its code, message and hint exactly as sent. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly field: string | undefined;
  readonly status: number;
  /** Extra top-level members of the error body, e.g. the running run's id on RUN_IN_PROGRESS. */
  readonly extra: Record<string, unknown>;

  constructor(status: number, body: ErrorBody, extra: Record<string, unknown> = {}) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.hint = body.hint;
    this.field = body.field;
    this.extra = extra;
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

type RawRun = Omit<RunReport, 'id'> & { id?: number; runId?: number; changes?: RunReport['counts'] };

/** The API reports a run as `id` or `runId`, its counts as `counts` or `changes`: the console reads either. */
function normaliseRun<T extends RunListItem | RunReport>(raw: RawRun): T {
  const { runId, changes, ...rest } = raw;
  return {
    ...rest,
    id: raw.id ?? runId ?? 0,
    counts: raw.counts ?? changes,
    errors: raw.errors ?? [],
    notes: raw.notes ?? [],
    steps: raw.steps ?? [],
  } as unknown as T;
}

export interface SecretsInput {
  [name: string]: string;
}

/** The platform's settings by key; a number where the platform takes one. */
export interface SettingsInput {
  [name: string]: string | number;
}

/**
 * The console's one way to the API: same-origin cookie session, the CSRF token on every mutating request, and a
 * callback when the session is gone (401) so the app shows the sign-in page.
 */
export class ApiClient {
  private csrfToken: string | null = null;

  constructor(
    private readonly onUnauthorized: () => void,
    private readonly base = '/api/v1',
  ) {}

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { quiet401?: boolean; file?: Blob } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.file) headers['content-type'] = 'application/octet-stream';
    if (method !== 'GET' && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    // The console's language (the i18n provider keeps it on <html lang>): texts the server writes, such as
    // 测试连接's messages and hints, come back in it.
    if (document.documentElement.lang) headers['accept-language'] = document.documentElement.lang;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        credentials: 'same-origin',
        // A file goes as it is: the browser streams it, the server writes it to disk as it arrives.
        ...(options.file ? { body: options.file } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApiError(0, { code: 'NETWORK', message: err instanceof Error ? err.message : String(err) });
    }
    const text = await res.text();
    let data: unknown;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    if (!res.ok) {
      const envelope = (data && typeof data === 'object' ? data : {}) as { error?: ErrorBody } & Record<
        string,
        unknown
      >;
      const { error, ...extra } = envelope;
      const err = new ApiError(
        res.status,
        error ?? { code: `HTTP_${res.status}`, message: text.slice(0, 300) || res.statusText },
        extra,
      );
      if (res.status === 401 && !options.quiet401) {
        this.csrfToken = null;
        this.onUnauthorized();
      }
      throw err;
    }
    return data as T;
  }

  // Session

  async session(): Promise<Session> {
    const s = await this.request<Session>('GET', '/session', undefined, { quiet401: true });
    this.csrfToken = s.csrfToken;
    return s;
  }

  async signIn(username: string, password: string): Promise<Session> {
    const s = await this.request<Session>('POST', '/session', { username, password }, { quiet401: true });
    this.csrfToken = s.csrfToken;
    return s;
  }

  /** The signed-in admin's new password; the session stays, the admin's other sessions end. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.request<unknown>('POST', '/session/password', { currentPassword, newPassword });
  }

  async signOut(): Promise<void> {
    try {
      await this.request<unknown>('DELETE', '/session', undefined, { quiet401: true });
    } finally {
      this.csrfToken = null;
    }
  }

  // Connections

  async platforms(): Promise<PlatformDescription[]> {
    return (await this.request<{ items: PlatformDescription[] }>('GET', '/platforms')).items;
  }

  async connections(): Promise<Connection[]> {
    return (await this.request<{ items: Connection[] }>('GET', '/connections')).items;
  }

  createConnection(input: {
    platform: Platform;
    name: string;
    settings: SettingsInput;
    secrets: SecretsInput;
    syncEnabled?: boolean;
    schedule?: { reconcileCron: string };
  }): Promise<Connection> {
    return this.request('POST', '/connections', input);
  }

  updateConnection(
    name: string,
    patch: {
      settings?: Partial<SettingsInput>;
      secrets?: SecretsInput;
      syncEnabled?: boolean;
      schedule?: { reconcileCron: string };
    },
  ): Promise<Connection> {
    return this.request('PATCH', `/connections/${encodeURIComponent(name)}`, patch);
  }

  deleteConnection(name: string): Promise<unknown> {
    return this.request('DELETE', `/connections/${encodeURIComponent(name)}`);
  }

  testConnection(
    name: string,
    override: { settings?: Partial<SettingsInput>; secrets?: SecretsInput },
  ): Promise<ConnectionTestResult> {
    return this.request('POST', `/connections/${encodeURIComponent(name)}/test`, override);
  }

  testUnsaved(input: {
    platform: Platform;
    settings: SettingsInput;
    secrets: SecretsInput;
  }): Promise<ConnectionTestResult> {
    return this.request('POST', '/connection-tests', input);
  }

  startSync(name: string, dryRun = false): Promise<{ runId: number }> {
    return this.request('POST', `/connections/${encodeURIComponent(name)}/sync`, dryRun ? { dryRun: true } : {});
  }

  // Runs

  async runs(query: {
    source?: string;
    status?: string;
    kind?: string;
    limit?: number;
    cursor?: string | null;
  }): Promise<{ items: RunListItem[]; nextCursor: string | null }> {
    const r = await this.request<{ items: RawRun[]; nextCursor?: string | null }>('GET', withQuery('/runs', query));
    return { items: r.items.map((i) => normaliseRun<RunListItem>(i)), nextCursor: r.nextCursor ?? null };
  }

  async run(id: number): Promise<RunReport> {
    return normaliseRun<RunReport>(await this.request<RawRun>('GET', `/runs/${id}`));
  }

  async runChanges(
    id: number,
    query: { limit: number; offset: number },
  ): Promise<{ items: ChangeRecord[]; total: number }> {
    return this.request('GET', withQuery(`/runs/${id}/changes`, query));
  }

  approveRun(id: number): Promise<{ runId: number }> {
    return this.request('POST', `/runs/${id}/approve`, {});
  }

  // Imports

  /** Sends a file to import; it is kept on the server for an hour unless applied. */
  uploadImport(file: File): Promise<ImportUpload> {
    return this.request('POST', withQuery('/imports', { name: file.name }), undefined, { file });
  }

  async previewImport(uploadId: string, options: ImportOptions): Promise<ImportPreview> {
    const raw = await this.request<RawRun & { changedObjects: ImportPreview['changedObjects'] }>(
      'POST',
      `/imports/${uploadId}/preview`,
      options,
    );
    return { ...normaliseRun<RunReport>(raw), changedObjects: raw.changedObjects };
  }

  applyImport(uploadId: string, options: ImportOptions): Promise<{ runId: number }> {
    return this.request('POST', `/imports/${uploadId}/apply`, options);
  }

  discardImport(uploadId: string): Promise<unknown> {
    return this.request('DELETE', `/imports/${uploadId}`);
  }

  // Real time's dead letters

  async deadLetters(query: { connection?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    return (await this.request<{ items: DeadLetter[] }>('GET', withQuery('/events/dead-letters', query))).items;
  }

  retryDeadLetters(body: { connection?: string; ids?: number[] }): Promise<{ retried: number; ids: number[] }> {
    return this.request('POST', '/events/dead-letters/retry', body);
  }

  // Directory

  departments(): Promise<{ items: Department[]; revision: number }> {
    return this.request('GET', '/directory/departments');
  }

  async members(
    departmentId: number,
    query: { q?: string; cursor?: string | null; limit?: number },
  ): Promise<{ items: Member[]; nextCursor: string | null; total?: number }> {
    const r = await this.request<{ items: Member[]; nextCursor?: string | null; total?: number }>(
      'GET',
      withQuery(`/directory/departments/${departmentId}/members`, query),
    );
    return { items: r.items, nextCursor: r.nextCursor ?? null, ...(r.total !== undefined ? { total: r.total } : {}) };
  }

  user(id: number): Promise<UserDetail> {
    return this.request('GET', `/directory/users/${id}`);
  }
}
