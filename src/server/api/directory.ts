import type { Store } from '../../store/store.js';
import { DirectoryService } from '../directory-service.js';
import { notFound } from '../errors.js';
import type { RouteTable } from '../route.js';
import {
  departmentListSchema,
  departmentParams,
  membersQuery,
  membersSchema,
  userDetailSchema,
  userParams,
} from '../schemas.js';

const HISTORY_LIMIT = 100;

export function directoryRoutes(table: RouteTable, deps: { store: Store }): void {
  const directory = new DirectoryService(deps.store);

  table.add({
    method: 'GET',
    url: '/api/v1/directory/departments',
    tag: 'directory',
    summary: 'Every department, flat, with direct member counts and links',
    description:
      "By id. parentId is null for the root; the console builds the tree. `order` is the source's own value (WeCom sorts larger first, DingTalk smaller first).",
    responses: {
      200: {
        description: 'The departments and the directory revision they were read at',
        schema: departmentListSchema,
      },
    },
    handler: async ({ reply }) => {
      void reply.type('application/json; charset=utf-8');
      return directory.departmentsJson();
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/directory/departments/:id/members',
    tag: 'directory',
    summary: 'Members of one department, searchable, in pages',
    description:
      'Direct members (not those of subdepartments), by local user id. q matches part of the name, the userid (ignoring case) or the mobile.',
    params: departmentParams,
    query: membersQuery,
    responses: {
      200: { description: 'A page of members; nextCursor is null on the last page', schema: membersSchema },
      404: { description: 'No such department' },
    },
    handler: async ({ params, query }) => {
      const found = await directory.members(params.id, {
        q: query.q,
        afterId: query.cursor !== undefined ? Number(query.cursor) : undefined,
        limit: query.limit + 1,
      });
      if (!found)
        throw notFound(
          'DEPARTMENT_NOT_FOUND',
          `there is no department ${params.id}`,
          'GET /api/v1/directory/departments lists them.',
        );
      const { items, total } = found;
      const page = items.slice(0, query.limit);
      const last = page[page.length - 1];
      return { items: page, nextCursor: items.length > query.limit && last ? String(last.id) : null, total };
    },
  });

  table.add({
    method: 'GET',
    url: '/api/v1/directory/users/:id',
    tag: 'directory',
    summary: 'One user: profile, memberships, links and change history',
    params: userParams,
    responses: { 200: { description: 'The user', schema: userDetailSchema }, 404: { description: 'No such user' } },
    handler: async ({ params }) => {
      const found = await directory.user(params.id, HISTORY_LIMIT);
      if (!found)
        throw notFound(
          'USER_NOT_FOUND',
          `there is no user ${params.id}`,
          'Find users with GET /api/v1/directory/departments/{id}/members.',
        );
      return found;
    },
  });
}
