import { toReport } from '../../runs/run-service.js';
import type { Store } from '../../store/store.js';
import { notFound } from '../errors.js';
import { langOf } from '../lang.js';
import type { RouteTable } from '../route.js';
import type { RunRunner } from '../runner.js';
import { changesQuery, changesSchema, emptyBody, runDetailSchema, runIdBody, runIdParams, runListQuery, runListSchema } from '../schemas.js';

const CHANGES_IN_DETAIL = 100;

const noRun = (id: number) => notFound('RUN_NOT_FOUND', `there is no run ${id}`, 'GET /api/v1/runs lists the runs.');

export function runRoutes(table: RouteTable, deps: { store: Store; runner: RunRunner }): void {
  const { store, runner } = deps;
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
      const runs = await store.runs.list({
        limit: query.limit + 1,
        ...(query.source !== undefined ? { source: query.source } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.kind !== undefined ? { kind: query.kind } : {}),
        ...(query.cursor !== undefined ? { beforeId: Number(query.cursor) } : {}),
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
      'The report `orgsync runs show RUN_ID --json` prints, plus `progress` while the run executes in this server. Errors and notes are in Chinese ' +
      'when Accept-Language prefers zh and orgsync has a Chinese text for them.',
    params: runIdParams,
    responses: { 200: { description: 'The run', schema: runDetailSchema }, 404: { description: 'No such run' } },
    handler: async ({ params, req }) => {
      const run = await store.runs.get(params.id);
      if (!run) throw noRun(params.id);
      const [steps, items, total] = [await store.runs.steps(run.id), await store.runs.changes(run.id, { limit: CHANGES_IN_DETAIL }), await store.runs.countChanges(run.id)];
      return withProgress({ ...toReport(run, steps, langOf(req.headers['accept-language'])), changedObjects: { total, items } });
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/runs/:id/changes',
    tag: 'runs',
    summary: 'The changed objects of a run, with field-level diffs',
    params: runIdParams,
    query: changesQuery,
    responses: { 200: { description: 'A page of changes in the order they were recorded', schema: changesSchema }, 404: { description: 'No such run' } },
    handler: async ({ params, query }) => {
      if (!(await store.runs.get(params.id))) throw noRun(params.id);
      return { items: await store.runs.changes(params.id, { limit: query.limit, offset: query.offset }), total: await store.runs.countChanges(params.id) };
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
      409: { description: 'RUN_NOT_APPROVABLE (not blocked or planned), PLAN_STALE (the directory changed since), or RUN_IN_PROGRESS' },
    },
    handler: async ({ params }) => ({ runId: await runner.startApproval(params.id) }),
  });
}
