import { callbackPath } from '../../events/routes.js';
import { z } from 'zod';
import { platformOf } from '../../connectors/registry.js';
import { nextReconcileAt } from '../../connections/reconcile-cron.js';
import {
  type ConnectionService,
  MASK,
  type Connection,
  type ConnectionInput,
  type ConnectionPatch,
  type ConnectionView,
} from '../../connections/connections.js';
import { OrgsyncError, ValidationError } from '../../errors.js';
import type { ConnectionRow, Store } from '../../store/store.js';
import { checkConnection } from '../connection-checks.js';
import { langOf } from '../lang.js';
import { ApiError, fromOrgsyncError, notFound } from '../errors.js';
import type { RouteTable } from '../route.js';
import type { ReconcileScheduler } from '../reconcile-scheduler.js';
import type { RunRunner } from '../runner.js';
import {
  connectionListSchema,
  connectionParams,
  connectionSchema,
  createConnectionBody,
  runIdBody,
  runInProgressSchema,
  syncBody,
  testConnectionBody,
  testResultSchema,
  unsavedTestBody,
  updateConnectionBody,
} from '../schemas.js';

type ApiConnection = z.output<typeof connectionSchema>;

/** The platform's schemas; a stored row of a platform the registry does not list has none (it fails when decoded). */
function schemasOf(platform: string): { settings: z.ZodObject; secrets: z.ZodObject } {
  return platformOf(platform) ?? { settings: EMPTY, secrets: EMPTY };
}

const EMPTY = z.strictObject({});

const keysOf = (schema: z.ZodObject): string[] => Object.keys(schema.shape);

/** Where a flat connection key (as ConnectionService names it) lives in an API body. */
function fieldMapper(platform: string, given: Map<string, 'settings' | 'secrets'>): (path: string) => string {
  const settings = new Set(keysOf(schemasOf(platform).settings));
  const secrets = new Set(keysOf(schemasOf(platform).secrets));
  return (path) => {
    const head = path.split('.')[0] ?? path;
    const part = given.get(head) ?? (settings.has(head) ? 'settings' : secrets.has(head) ? 'secrets' : undefined);
    return part ? `${part}.${path}` : path;
  };
}

function rethrow(err: unknown, mapField: (path: string) => string): never {
  if (err instanceof OrgsyncError) throw fromOrgsyncError(err, mapField);
  throw err;
}

function toApi(row: ConnectionRow, view: ConnectionView, baseUrl: string | undefined, timezone: string): ApiConnection {
  const schemas = schemasOf(row.platform);
  const flat = view as unknown as Record<string, unknown>;
  const settings: Record<string, unknown> = {};
  for (const key of keysOf(schemas.settings)) if (flat[key] !== undefined) settings[key] = flat[key];
  const secrets: Record<string, { set: boolean; masked: string }> = {};
  for (const key of keysOf(schemas.secrets)) {
    const set = typeof flat[key] === 'string' && flat[key] !== '';
    secrets[key] = { set, masked: set ? MASK : '' };
  }
  return {
    id: row.id,
    name: row.name,
    platform: view.platform,
    settings: settings as ApiConnection['settings'],
    secrets,
    syncEnabled: row.syncEnabled,
    reconcileCron: row.reconcileCron,
    reconcileTimezone: timezone,
    nextReconcileAt: row.syncEnabled ? (nextReconcileAt(row.reconcileCron, timezone)?.toISOString() ?? null) : null,
    policy: view.policy as unknown as Record<string, unknown>,
    // Where the platform posts contact changes (see docs/events.md); served once Token and EncodingAESKey are set.
    ...(baseUrl ? { callbackUrl: `${baseUrl.replace(/\/+$/, '')}${callbackPath(row.name)}` } : {}),
    ...(view.secretsError ? { secretsError: view.secretsError } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Drops what means "not given": undefined, and "" (an empty form field). */
function given(values: Record<string, unknown> | undefined): Array<[string, unknown]> {
  return Object.entries(values ?? {}).filter(([, v]) => v !== undefined && v !== '');
}

export function connectionRoutes(
  table: RouteTable,
  deps: {
    store: Store;
    connections: ConnectionService;
    runner: RunRunner;
    schedule: ReconcileScheduler;
    baseUrl: () => string | undefined;
  },
): void {
  const { store, connections, runner, schedule } = deps;

  const load = async (name: string): Promise<ApiConnection> => {
    const row = await store.connections.get(name);
    if (!row)
      throw notFound(
        'CONNECTION_NOT_FOUND',
        `there is no connection named "${name}"`,
        'GET /api/v1/connections lists them.',
      );
    return toApi(row, await connections.view(name), deps.baseUrl(), schedule.timezone);
  };

  /** After a change the answer waits for the jobs to follow it; the change stands even if that fails (the minute's reload retries). */
  const rescheduled = async (log: { warn(obj: object, msg: string): void }): Promise<void> => {
    try {
      await schedule.reload();
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rescheduling the full syncs failed');
    }
  };

  table.add({
    method: 'GET',
    url: '/api/v1/connections',
    tag: 'connections',
    summary: 'Every connection, secrets masked',
    responses: { 200: { description: 'By name', schema: connectionListSchema } },
    handler: async () => {
      const rows = new Map((await store.connections.list()).map((r) => [r.name, r]));
      const items: ApiConnection[] = [];
      for (const view of await connections.views()) {
        const row = rows.get(view.name);
        if (row) items.push(toApi(row, view, deps.baseUrl(), schedule.timezone));
      }
      return { items };
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/connections',
    tag: 'connections',
    summary: 'Add a connection',
    description:
      'Settings and secrets are checked per platform; a 400 names the field (e.g. settings.corpId). Secrets are stored encrypted and never returned.',
    body: createConnectionBody,
    responses: {
      201: { description: 'Added', schema: connectionSchema },
      409: { description: 'The name is taken (CONNECTION_EXISTS)' },
    },
    handler: async ({ body, req }) => {
      const where = new Map<string, 'settings' | 'secrets'>();
      const flat: Record<string, unknown> = { platform: body.platform, name: body.name };
      if (body.reconcileCron !== undefined) flat.reconcileCron = body.reconcileCron;
      for (const [key, value] of given(body.settings)) {
        flat[key] = value;
        where.set(key, 'settings');
      }
      for (const [key, value] of given(body.secrets)) {
        if (value === null) continue;
        flat[key] = value;
        where.set(key, 'secrets');
      }
      if (body.policy !== undefined) flat.policy = body.policy;
      try {
        await connections.add(flat as unknown as ConnectionInput);
      } catch (err) {
        rethrow(err, fieldMapper(body.platform, where));
      }
      if (body.syncEnabled) await store.connections.update(body.name, { syncEnabled: true });
      await rescheduled(req.log);
      return load(body.name);
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/connections/:name',
    tag: 'connections',
    summary: 'One connection, secrets masked',
    params: connectionParams,
    responses: {
      200: { description: 'The connection', schema: connectionSchema },
      404: { description: 'No such connection' },
    },
    handler: async ({ params }) => load(params.name),
  });

  table.add({
    method: 'PATCH',
    url: '/api/v1/connections/:name',
    tag: 'connections',
    summary: 'Change settings, secrets, policy, 开启同步 or 定时全量同步',
    description:
      'Only what is given changes. An omitted or empty secret keeps the stored one; contactsSecret null removes it. The policy is merged key by key. reconcileCron null or "off" turns the scheduled full sync off. ' +
      'A change of apiBaseUrl (or corpId for WeCom, clientId for DingTalk) must give the secrets sent there again (secret and contactsSecret, or clientSecret), else 400 naming the secret and nothing is written.',
    params: connectionParams,
    body: updateConnectionBody,
    responses: {
      200: { description: 'The changed connection', schema: connectionSchema },
      404: { description: 'No such connection' },
    },
    handler: async ({ params, body, req }) => {
      const row = await store.connections.get(params.name);
      if (!row)
        throw notFound(
          'CONNECTION_NOT_FOUND',
          `there is no connection named "${params.name}"`,
          'GET /api/v1/connections lists them.',
        );
      const where = new Map<string, 'settings' | 'secrets'>();
      const patch: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(body.settings ?? {})) {
        if (value === undefined) continue;
        where.set(key, 'settings');
        patch[key] = key === 'apiBaseUrl' && (value === '' || value === null) ? null : value;
      }
      for (const [key, value] of given(body.secrets)) {
        where.set(key, 'secrets');
        patch[key] = value;
      }
      if (body.policy !== undefined) patch.policy = body.policy;
      if (body.reconcileCron !== undefined) patch.reconcileCron = body.reconcileCron;
      if (Object.keys(patch).length > 0) {
        try {
          await connections.update(params.name, patch as ConnectionPatch);
        } catch (err) {
          rethrow(err, fieldMapper(row.platform, where));
        }
      }
      if (body.syncEnabled !== undefined && body.syncEnabled !== row.syncEnabled) {
        await store.connections.update(params.name, { syncEnabled: body.syncEnabled });
      }
      await rescheduled(req.log);
      return load(params.name);
    },
  });

  table.add({
    method: 'DELETE',
    url: '/api/v1/connections/:name',
    tag: 'connections',
    summary: 'Remove a connection and its secrets (its links and runs stay)',
    params: connectionParams,
    responses: { 204: { description: 'Removed' }, 404: { description: 'No such connection' } },
    handler: async ({ params, req }) => {
      try {
        await connections.remove(params.name);
      } catch (err) {
        rethrow(err, (p) => p);
      }
      await rescheduled(req.log);
      return undefined;
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/connections/:name/test',
    tag: 'connections',
    summary: '测试连接: test the saved connection, or unsaved values typed over it',
    description:
      'Changes nothing. Settings and secrets in the body replace the saved ones for this test only; an omitted or empty secret uses the saved one. ' +
      'A stored secret goes only to the host and account it was saved with: a test that changes apiBaseUrl (or corpId for WeCom, clientId for DingTalk) must give the secrets again, else 400 naming the secret and nothing is sent. ' +
      'A check that only limits what is read (e.g. DingTalk mobiles withheld) has level "warning" and leaves ok true. ' +
      'Messages and hints are in Chinese when Accept-Language prefers zh, else in English.',
    params: connectionParams,
    body: testConnectionBody,
    responses: {
      200: { description: 'Every check, passed or not, with a hint for each failure', schema: testResultSchema },
      404: { description: 'No such connection' },
    },
    handler: async ({ params, body, req }) => {
      const row = await store.connections.get(params.name);
      if (!row)
        throw notFound(
          'CONNECTION_NOT_FOUND',
          `there is no connection named "${params.name}"`,
          'GET /api/v1/connections lists them.',
        );
      const where = new Map<string, 'settings' | 'secrets'>();
      const patch: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(body?.settings ?? {})) {
        if (value === undefined) continue;
        where.set(key, 'settings');
        patch[key] = key === 'apiBaseUrl' && value === '' ? null : value;
      }
      for (const [key, value] of given(body?.secrets)) {
        where.set(key, 'secrets');
        patch[key] = value;
      }
      let connection: Connection;
      try {
        // Checked as an update is: a new host or account needs the secrets typed again, or nothing is sent.
        connection = await connections.preview(params.name, patch as ConnectionPatch);
      } catch (err) {
        rethrow(err, fieldMapper(row.platform, where));
      }
      return checkConnection(connection, langOf(req.headers['accept-language']));
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/connection-tests',
    tag: 'connections',
    summary: '测试连接 for a card not saved yet',
    description:
      'Changes nothing and stores nothing. apiBaseUrl follows the rules of a saved connection (https, or http to this machine or a host in ORGSYNC_ALLOWED_API_HOSTS). ' +
      "On a host other than the platform's own, every failure without a platform answer reads the same (NO_ANSWER). Messages and hints in Chinese when Accept-Language prefers zh.",
    body: unsavedTestBody,
    responses: { 200: { description: 'Every check, passed or not', schema: testResultSchema } },
    handler: async ({ body, req }) => {
      const where = new Map<string, 'settings' | 'secrets'>();
      const flat: Record<string, unknown> = { platform: body.platform };
      for (const [key, value] of given(body.settings)) {
        flat[key] = value;
        where.set(key, 'settings');
      }
      for (const [key, value] of given(body.secrets)) {
        if (value === null) continue;
        flat[key] = value;
        where.set(key, 'secrets');
      }
      let connection: Connection;
      try {
        connection = connections.draft(flat as unknown as ConnectionInput);
      } catch (err) {
        rethrow(err, fieldMapper(body.platform, where));
      }
      return checkConnection(connection, langOf(req.headers['accept-language']));
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/connections/:name/sync',
    tag: 'connections',
    summary: 'Start a sync (企业微信同步 / 钉钉同步) in the background',
    description:
      'Answers as soon as the run exists; follow it with GET /api/v1/runs/{id}. One run per connection at a time.',
    params: connectionParams,
    body: syncBody,
    responses: {
      202: { description: 'Started', schema: runIdBody },
      404: { description: 'No such connection' },
      409: {
        description: "RUN_IN_PROGRESS (with the running run's runId) or SYNC_DISABLED",
        schema: runInProgressSchema,
      },
    },
    handler: async ({ params, body }) => {
      const row = await store.connections.get(params.name);
      if (!row)
        throw notFound(
          'CONNECTION_NOT_FOUND',
          `there is no connection named "${params.name}"`,
          'GET /api/v1/connections lists them.',
        );
      if (!row.syncEnabled) {
        throw new ApiError(409, {
          code: 'SYNC_DISABLED',
          message: `org sync is turned off for "${params.name}"`,
          hint: `Turn on 开启同步 for this connection (PATCH /api/v1/connections/${params.name} with {"syncEnabled": true}), then start the sync again.`,
        });
      }
      let connection: Connection;
      try {
        connection = await connections.get(params.name);
      } catch (err) {
        if (err instanceof ValidationError || !(err instanceof OrgsyncError)) throw err;
        throw fromOrgsyncError(err);
      }
      try {
        return { runId: await runner.startSync(connection, { dryRun: body?.dryRun === true }) };
      } catch (err) {
        if (err instanceof OrgsyncError) throw fromOrgsyncError(err);
        throw err;
      }
    },
  });
}
