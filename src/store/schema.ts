import type { Generated } from 'kysely';
/** Table shapes as Kysely sees them. Column names are snake_case; `order` is `sort_order` (a reserved word). */

export interface CountersTable {
  name: string;
  value: number;
}

export interface DepartmentsTable {
  id: number;
  parent_id: number | null;
  name: string;
  sort_order: number;
  created_at: string;
  updated_at: string;
}

export interface UsersTable {
  id: number;
  userid: string | null;
  /** userid in lower case: userids are unique ignoring case. */
  userid_key: string | null;
  name: string | null;
  alias: string | null;
  position: string | null;
  mobile: string | null;
  email: string | null;
  telephone: string | null;
  gender: string | null;
  avatar: string | null;
  address: string | null;
  employee_no: string | null;
  status: string;
  main_department_id: number | null;
  /** JSON object of string values. */
  attributes: string;
  created_at: string;
  updated_at: string;
}

export interface MembershipsTable {
  user_id: number;
  department_id: number;
  sort_order: number;
  leader: number;
}

export interface LinksTable {
  object_kind: 'department' | 'user';
  object_id: number;
  source: string;
  external_id: string;
  created_at: string;
  /** JSON object of strings the source keeps on the link (e.g. DingTalk's unionid); null when none. */
  data: string | null;
}

export interface RunsTable {
  id: number;
  kind: string;
  source: string;
  status: string;
  dry_run: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  base_revision: number | null;
  /** JSON: ChangeCounts. */
  counts: string;
  /** JSON: ErrorInfo[]. */
  errors: string;
  /** JSON: ErrorInfo[]. */
  notes: string;
  /** JSON: everything else a report shows (suppressed counts, guard verdict, source facts). */
  summary: string;
  /** gzip of the plan JSON, kept while a run waits for approval. */
  plan: Buffer | null;
}

export interface RunStepsTable {
  run_id: number;
  seq: number;
  name: string;
  status: string;
  started_at: string;
  duration_ms: number;
  /** JSON. */
  detail: string;
}

export interface RunChangesTable {
  run_id: number;
  seq: number;
  object_kind: 'department' | 'user';
  action: string;
  object_id: number | null;
  external_id: string;
  label: string;
  /** JSON: Record<field, {before, after}>. */
  fields: string;
}

export interface LocksTable {
  name: string;
  holder: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

export interface ConnectionsTable {
  id: number;
  name: string;
  platform: string;
  /** JSON: the platform's non-secret settings (corpId, agentId, apiBaseUrl, …). */
  settings: string;
  /** The secrets as one encrypted blob (see connections/secret-box.ts); the store never sees them in the clear. */
  secrets: string;
  /** JSON: the connection's Policy. */
  policy: string;
  /** 1 when the admin turned org sync on (开启同步); runs from the API and console need it. */
  sync_enabled: number;
  /** The scheduled full sync (cron expression); null when it is off. */
  reconcile_cron: string | null;
  created_at: string;
  updated_at: string;
}

export interface AdminsTable {
  username: string;
  /** scrypt, with its parameters and salt: see server/auth/passwords.ts. */
  password_hash: string;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  /** SHA-256 of the session id: the cookie's value is never stored. */
  id_hash: string;
  username: string;
  csrf_token: string;
  created_at: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

export interface ApiTokensTable {
  name: string;
  /** SHA-256 of the token: the token itself is shown once, when created. */
  token_hash: string;
  /** The token's first characters, to tell tokens apart in a list. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

/** Contact-change messages from the platforms, stored before the callback is answered (see inbox-repo.ts). */
export interface EventInboxTable {
  id: Generated<number>;
  connection: string;
  /** Equal for a platform's retries of one message. */
  dedupe_key: string;
  type: string;
  /** JSON: the message's contact events. */
  events: string;
  received_at: string;
  /** 0 pending, 1 processed by run_id, 2 a dead letter (failed max attempts; waits for a retry by a person). */
  done: number;
  run_id: number | null;
  /** Failed attempts since it was stored (or last put back by a retry). */
  attempts: number;
  /** The last failure's message; its code, hint and object in the next columns (0010). */
  last_error: string | null;
  error_code: string | null;
  error_hint: string | null;
  error_object: string | null;
  /** JSON: the error's Chinese message and hint, when it has them. */
  error_zh: string | null;
  /** A pending message that failed is not tried again before this time (ISO-8601); null: at once. */
  next_attempt_at: string | null;
  /** When it became a dead letter. */
  dead_at: string | null;
}

export interface Database {
  counters: CountersTable;
  departments: DepartmentsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  links: LinksTable;
  runs: RunsTable;
  run_steps: RunStepsTable;
  run_changes: RunChangesTable;
  locks: LocksTable;
  connections: ConnectionsTable;
  admins: AdminsTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  event_inbox: EventInboxTable;
}
