import { RunLog } from '../../runs/run-log.js';
import { toReport } from '../../runs/run-service.js';
import type { Store } from '../../store/store.js';
import { notFound } from '../errors.js';
import { langOf } from '../lang.js';
import type { RouteTable } from '../route.js';
import type { RunRunner } from '../runner.js';
import {
  changesQuery,
  changesSchema,
  emptyBody,
  runDetailSchema,
  runIdBody,
  runIdParams,
  runListQuery,
  runListSchema,
} from '../schemas.js';

const CHANGES_IN_DETAIL = 100;

const noRun = (id: number) => notFound('RUN_NOT_FOUND', `there is no run ${id}`, 'GET /api/v1/runs lists the runs.');

export function runRoutes(table: RouteTable, deps: { store: Store; runner: RunRunner }): void {
  const { runner } = deps;
  const log = new RunLog(deps.store);
  const withProgress = <T extends { runId: number }>(report: T): T => {
    const progress = runner.progress(report.runId);
    return progress ? { ...report, progress } : report;
  };

  table.add({
    method: 'GET',
    url: '/api/v1/runs',
    tag: 'runs',
    summary: 'Runs, newest first',
    query: runListQuery,
    responses: { 200: { description: 'A page of runs; nextCursor is null on the last page', schema: runListSchema } },
    handler: async ({ query, req }) => {
      const lang = langOf(req.headers['accept-language']);
      const runs = await log.list({
        limit: query.limit + 1,
        source: query.source,
        status: query.status,
        kind: query.kind,
        beforeId: query.cursor !== undefined ? Number(query.cursor) : undefined,
      });
      const page = runs.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((run) => {
          const { steps: _steps, ...summary } = toReport(run, [], lang);
          return withProgress(summary);
        }),
        nextCursor: runs.length > query.limit && last ? String(last.id) : null,
      };
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/runs/:id',
    tag: 'runs',
    summary: 'One run: its report, steps, the first changed objects, and its progress while running',
    description:
      'The report `orgsync runs show RUN_ID --json` prints, plus `progress` while the run executes in this server. Errors, notes and warnings are in Chinese ' +
      'when Accept-Language prefers zh and orgsync has a Chinese text for them.',
    params: runIdParams,
    responses: { 200: { description: 'The run', schema: runDetailSchema }, 404: { description: 'No such run' } },
    handler: async ({ params, req }) => {
      const found = await log.detail(params.id, CHANGES_IN_DETAIL);
      if (!found) throw noRun(params.id);
      const { run, steps, changes: items, total } = found;
      return withProgress({
        ...toReport(run, steps, langOf(req.headers['accept-language'])),
        changedObjects: { total, items },
      });
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/runs/:id/changes',
    tag: 'runs',
    summary: 'The changed objects of a run, with field-level diffs',
    params: runIdParams,
    query: changesQuery,
    responses: {
      200: { description: 'A page of changes in the order they were recorded', schema: changesSchema },
      404: { description: 'No such run' },
    },
    handler: async ({ params, query }) => {
      const page = await log.changes(params.id, { limit: query.limit, offset: query.offset });
      if (!page) throw noRun(params.id);
      return page;
    },
  });

  table.add({
    method: 'POST',
    url: '/api/v1/runs/:id/approve',
    tag: 'runs',
    summary: '批准: apply exactly the stored plan of a blocked or planned run, in the background',
    params: runIdParams,
    body: emptyBody,
    responses: {
      202: { description: 'Applying; follow it with GET /api/v1/runs/{id}', schema: runIdBody },
      404: { description: 'No such run' },
      409: {
        description:
          'RUN_NOT_APPROVABLE (not blocked or planned), PLAN_STALE (the directory changed since), or RUN_IN_PROGRESS',
      },
    },
    handler: async ({ params }) => ({ runId: await runner.startApproval(params.id) }),
  });
}
