/** The shapes of the REST API under /api/v1, as the console reads them. */

export type Platform = 'wecom' | 'dingtalk';

export interface ErrorBody {
  code: string;
  message: string;
  hint?: string;
  field?: string;
}

export interface Session {
  user: { username: string };
  csrfToken: string;
}

export interface SecretState {
  set: boolean;
  masked?: string;
}

export interface ConnectionSettings {
  corpId: string;
  agentId: number | string;
  apiBaseUrl?: string;
  clientId?: string;
}

export interface Connection {
  id: number;
  name: string;
  platform: Platform;
  settings: ConnectionSettings;
  secrets: Record<string, SecretState | undefined>;
  syncEnabled: boolean;
  /** 定时全量同步: a cron expression, or null when it is off. */
  reconcileCron?: string | null;
  /** The time zone reconcileCron is read in (the server's). */
  reconcileTimezone?: string;
  /** When the scheduled full sync runs next; null when it or sync is off. */
  nextReconcileAt?: string | null;
  policy?: unknown;
  callbackUrl?: string | null;
  /** The stored secrets cannot be opened (e.g. the master key changed). */
  secretsError?: ErrorInfo;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectionCheck {
  name: string;
  ok: boolean;
  message: string;
  hint?: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  checks: ConnectionCheck[];
}

export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'blocked' | 'planned';
export const RUN_STATUSES: RunStatus[] = ['running', 'succeeded', 'partial', 'failed', 'blocked', 'planned'];
export const RUN_KINDS = ['sync', 'import', 'push', 'event'] as const;

export interface ChangeCounts {
  departments: Record<string, number>;
  users: Record<string, number>;
}

export interface RunListItem {
  id: number;
  kind: string;
  source: string;
  status: RunStatus;
  dryRun: boolean;
  createdAt?: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts?: ChangeCounts;
}

export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
  object?: string;
}

/** A contact-change message that stopped being tried (GET /api/v1/events/dead-letters). */
export interface DeadLetter {
  id: number;
  connection: string;
  type: string;
  events: Array<{ object: 'user' | 'department'; externalId: string; newExternalId?: string }>;
  receivedAt: string;
  attempts: number;
  deadAt: string | null;
  error: ErrorInfo | null;
}

export interface RunStep {
  seq?: number;
  name: string;
  status?: string;
  startedAt?: string;
  durationMs: number;
  detail?: Record<string, unknown>;
}

export interface RunProgress {
  phase: string;
  done: number;
  total?: number;
  message?: string;
}

export interface RunReport {
  id: number;
  kind: string;
  source: string;
  status: RunStatus;
  dryRun: boolean;
  createdAt?: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts?: ChangeCounts;
  suppressed?: ChangeCounts;
  blocked?: ErrorInfo & { count?: number; base?: number };
  errors: ErrorInfo[];
  notes: ErrorInfo[];
  read?: { departments: number; users: number; complete: boolean; incompleteDepartments: number; unseenFields: string[] };
  steps: RunStep[];
  progress?: RunProgress | null;
  summary?: Record<string, unknown>;
}

export interface FieldDiff {
  before: unknown;
  after: unknown;
}

export interface ChangeRecord {
  seq: number;
  objectKind: 'department' | 'user';
  action: string;
  objectId: number | null;
  externalId: string;
  label: string;
  fields: Record<string, FieldDiff>;
  runId?: number;
  runKind?: string;
  runStatus?: string;
  at?: string | null;
  createdAt?: string;
  source?: string;
}

export interface Link {
  source: string;
  externalId: string;
}

export interface Department {
  id: number;
  parentId: number | null;
  name: string;
  order: number;
  memberCount?: number;
  links?: Link[];
}

export interface Member {
  id: number;
  userid: string | null;
  name: string | null;
  position: string | null;
  mobile: string | null;
  email: string | null;
  status: string;
  leader: boolean;
}

export interface Membership {
  departmentId: number;
  departmentName?: string;
  leader: boolean;
  order: number;
}

export interface UserDetail {
  user: Record<string, unknown> & { id: number; userid: string | null; name: string | null; status: string };
  memberships: Membership[];
  links: Link[];
  history: ChangeRecord[];
}
