import type { z } from 'zod';
import { platformOf } from '../../connectors/registry.js';
import { nextReconcileAt } from '../../connections/reconcile-cron.js';
import {
  type ConnectionService,
  MASK,
  type ConnectionDraft,
  type ConnectionInput,
  type ConnectionView,
} from '../../connections/connections.js';
import { OrgsyncError, ValidationError } from '../../errors.js';
import { callbackPath } from '../../events/routes.js';
import { checkConnection } from '../connection-checks.js';
import { langOf } from '../lang.js';
import { ApiError, notFound } from '../errors.js';
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

/** A connection as the API answers it: the service's view, each secret as { set, masked }, and the schedule's times. */
function toApi(view: ConnectionView, baseUrl: string | undefined, timezone: string): ApiConnection {
  const held: Record<string, string | undefined> = view.secrets;
  const secrets: Record<string, { set: boolean; masked: string }> = {};
  for (const key of Object.keys(platformOf(view.platform)?.secrets.shape ?? {})) {
    const set = typeof held[key] === 'string' && held[key] !== '';
    secrets[key] = { set, masked: set ? MASK : '' };
  }
  const { reconcileCron } = view.schedule;
  return {
    id: view.id,
    name: view.name,
    platform: view.platform,
    settings: view.settings,
    secrets,
    syncEnabled: view.syncEnabled,
    reconcileCron,
    reconcileTimezone: timezone,
    nextReconcileAt: view.syncEnabled ? (nextReconcileAt(reconcileCron, timezone)?.toISOString() ?? null) : null,
    schedule: { reconcileCron },
    policy: view.policy,
    // Where the platform posts contact changes (see docs/events.md); served once Token and EncodingAESKey are set.
    ...(baseUrl ? { callbackUrl: `${baseUrl.replace(/\/+$/, '')}${callbackPath(view.name)}` } : {}),
    ...(view.secretsError ? { secretsError: view.secretsError } : {}),
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
  };
}

/** The keys given a value, "" (an empty form field) and, where `drop` says so, null counting as not given. */
function given(values: Record<string, unknown> | undefined, drop: { null: boolean }): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values ?? {}).filter(([, v]) => v !== undefined && v !== '' && !(drop.null && v === null)),
  );
}

/** A card's settings and secrets (a new connection, or an unsaved one to test): what is left empty is not given. */
function newParts(body: { settings: Record<string, unknown>; secrets: Record<string, unknown> }): {
  settings: Record<string, unknown>;
  secrets: Record<string, unknown>;
} {
  return { settings: given(body.settings, { null: true }), secrets: given(body.secrets, { null: true }) };
}

/**
 * Settings and secrets typed over a saved connection (a change, or a test): an empty apiBaseUrl goes back to the
 * default (null), any other empty setting is given (and refused), an empty secret keeps the stored one.
 */
function changedParts(body: { settings?: Record<string, unknown>; secrets?: Record<string, unknown> } | undefined): {
  settings?: Record<string, unknown>;
  secrets?: Record<string, unknown>;
} {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body?.settings ?? {}))
    if (value !== undefined) settings[key] = key === 'apiBaseUrl' && value === '' ? null : value;
  const secrets = given(body?.secrets, { null: false });
  return {
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
  };
}

/**
 * The schedule of a body: `schedule.reconcileCron`, or `reconcileCron` at the top (its place before `schedule`). Both
 * with different values is refused, naming both.
 */
function scheduleOf(body: {
  reconcileCron?: string | null | undefined;
  schedule?: { reconcileCron?: string | null | undefined } | undefined;
}): { reconcileCron?: string | null } | undefined {
  const nested = body.schedule?.reconcileCron;
  const top = body.reconcileCron;
  if (nested !== undefined && top !== undefined && nested !== top) {
    throw new ValidationError('the request body', [
      {
        path: 'schedule.reconcileCron',
        field: 'reconcileCron',
        message: `is ${JSON.stringify(nested)} but reconcileCron is ${JSON.stringify(top)}: give the schedule once`,
        hint: 'Send schedule.reconcileCron alone (reconcileCron at the top of the body is its older place, still read), or both with the same value.',
      },
    ]);
  }
  const reconcileCron = nested !== undefined ? nested : top;
  return reconcileCron !== undefined ? { ...body.schedule, reconcileCron } : body.schedule;
}

/** The service's failures as the API words them: an unknown name points at the list instead of the CLI. */
async function answering<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof OrgsyncError && err.code === 'CONNECTION_NOT_FOUND')
      throw notFound(err.code, err.message, 'GET /api/v1/connections lists them.');
    throw err;
  }
}

export function connectionRoutes(
  table: RouteTable,
  deps: {
    connections: ConnectionService;
    runner: RunRunner;
    schedule: ReconcileScheduler;
    baseUrl: () => string | undefined;
  },
): void {
  const { connections, runner, schedule } = deps;
  const answer = (view: ConnectionView): ApiConnection => toApi(view, deps.baseUrl(), schedule.timezone);

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
    handler: async () => ({ items: (await connections.views()).map(answer) }),
  });

  table.add({
    method: 'POST',
    url: '/api/v1/connections',
    tag: 'connections',
    summary: 'Add a connection',
    description:
      'Settings and secrets are checked per platform; a 400 names the field by its path in the body (e.g. settings.corpId, secrets.secret, schedule.reconcileCron). Secrets are stored encrypted and never returned.',
    body: createConnectionBody,
    responses: {
      201: { description: 'Added', schema: connectionSchema },
      409: { description: 'The name is taken (CONNECTION_EXISTS)' },
    },
    handler: async ({ body, req }) => {
      // The request schema checked the body's shape against the registry (so `platform` is one of it); the service
      // checks every value and names a bad one by its path, e.g. settings.corpId.
      const input = {
        platform: body.platform,
        name: body.name,
        ...newParts(body),
        policy: body.policy,
        schedule: scheduleOf(body),
        syncEnabled: body.syncEnabled,
      } as ConnectionInput;
      const view = await connections.add(input);
      await rescheduled(req.log);
      return answer(view);
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
    handler: async ({ params }) => answer(await answering(connections.view(params.name))),
  });

  table.add({
    method: 'PATCH',
    url: '/api/v1/connections/:name',
    tag: 'connections',
    summary: 'Change settings, secrets, policy, 开启同步 or 定时全量同步',
    description:
      'Only what is given changes. An omitted or empty secret keeps the stored one; contactsSecret null removes it. The policy is merged key by key. schedule.reconcileCron (or reconcileCron, its older place) null or "off" turns the scheduled full sync off. ' +
      'A change of apiBaseUrl (or corpId for WeCom, clientId for DingTalk) must give the secrets sent there again (secret and contactsSecret, or clientSecret), else 400 naming the secret and nothing is written.',
    params: connectionParams,
    body: updateConnectionBody,
    responses: {
      200: { description: 'The changed connection', schema: connectionSchema },
      404: { description: 'No such connection' },
    },
    handler: async ({ params, body, req }) => {
      const patch = {
        ...changedParts(body),
        policy: body.policy,
        schedule: scheduleOf(body),
        syncEnabled: body.syncEnabled,
      };
      // An empty change answers with the connection as it is.
      const changes = Object.values(patch).some((v) => v !== undefined);
      const view = await answering(changes ? connections.update(params.name, patch) : connections.view(params.name));
      if (changes) await rescheduled(req.log);
      return answer(view);
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
      await answering(connections.remove(params.name));
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
      // Checked as an update is: a new host or account needs the secrets typed again, or nothing is sent.
      const override = changedParts(body);
      const connection = await answering(connections.preview(params.name, override));
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
      // As for POST /connections: the request schema checked the shape, the service checks the values.
      const connection = connections.draft({ platform: body.platform, ...newParts(body) } as ConnectionDraft);
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
      const view = await answering(connections.view(params.name));
      if (!view.syncEnabled) {
        throw new ApiError(409, {
          code: 'SYNC_DISABLED',
          message: `org sync is turned off for "${params.name}"`,
          hint: `Turn on 开启同步 for this connection (PATCH /api/v1/connections/${params.name} with {"syncEnabled": true}), then start the sync again.`,
        });
      }
      const connection = await answering(connections.get(params.name));
      return { runId: await runner.startSync(connection, { dryRun: body?.dryRun === true }) };
    },
  });
}
