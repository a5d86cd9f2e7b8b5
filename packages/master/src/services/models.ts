import type { JsonObject, ModelDto, ModelSortBy, Pagination } from '@determined-ts/api';
import { encodeTimestamp } from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely, SqlBool, Transaction } from 'kysely';

import type { AppDeps, AuthUser } from '../context.js';
import type { Database, ModelRow } from '../db/schema.js';
import { HttpError, badRequest, forbidden, isUniqueViolation } from '../errors.js';
import { paginate } from './checkpoint-list.js';
import { canonicalJson, parseJsonObject } from './json.js';

/** Our master has one workspace, Determined's default. */
export const DEFAULT_WORKSPACE = { id: 1, name: 'Uncategorized' } as const;

/** Determined's name rules, checked in its order (reference §4.1), plus a length limit. */
export function checkModelName(name: string): void {
  const problem =
    name.replaceAll(' ', '') === ''
      ? 'must not be blank'
      : name.includes('  ')
        ? 'must not contain two consecutive spaces'
        : /[/\\]/.test(name)
          ? 'must not contain / or \\'
          : /^\d+$/.test(name)
            ? 'must not be all digits (a number in a path is a model id)'
            : name.length > 255
              ? 'must be at most 255 characters'
              : undefined;
  if (problem !== undefined) {
    throw badRequest(`invalid model name '${name}': a model name ${problem}`);
  }
}

/** Labels as given, or a 400 for an empty one (a label nobody can click). */
export function checkLabels(labels: readonly string[], { dedupe }: { dedupe: boolean }): string[] {
  if (labels.some((l) => l.trim() === '')) {
    throw badRequest('invalid labels: a label must not be blank');
  }
  return dedupe ? [...new Set(labels)] : [...labels];
}

/** The workspace a request names: only Determined's default one exists here. */
export function resolveWorkspace(
  workspaceId: number | null | undefined,
  workspaceName: string | null | undefined,
): number {
  if (workspaceId != null) {
    if (workspaceId !== DEFAULT_WORKSPACE.id) {
      throw new HttpError('not_found', `workspace '${workspaceId}' not found`);
    }
    return workspaceId;
  }
  if (workspaceName != null && workspaceName !== DEFAULT_WORKSPACE.name) {
    throw new HttpError('not_found', `workspace '${workspaceName}' not found`);
  }
  return DEFAULT_WORKSPACE.id;
}

export const modelNotFound = (ident: string): HttpError =>
  new HttpError('not_found', `model "${ident}" not found`);

/**
 * The model a `{model_name}` path segment names: all digits is an id, anything else an exact,
 * case-sensitive name (which is why a name may not be all digits).
 */
export async function findModel(db: Kysely<Database>, ident: string): Promise<ModelRow> {
  const byId = /^\d+$/.test(ident);
  if (byId && (ident.length > 10 || Number(ident) > 2 ** 31 - 1)) {
    throw modelNotFound(ident);
  }
  const row = await db
    .selectFrom('models')
    .selectAll()
    .where(byId ? 'id' : 'name', '=', byId ? Number(ident) : ident)
    .executeTakeFirst();
  if (row === undefined) {
    throw modelNotFound(ident);
  }
  return row;
}

/**
 * Takes the model's row lock for the rest of the transaction, and reads it fresh. Everything
 * that numbers versions or moves aliases goes through here, so two replicas registering at once
 * get consecutive numbers instead of a unique-key failure.
 */
export async function lockModel(trx: Transaction<Database>, model: ModelRow): Promise<ModelRow> {
  await trx
    .updateTable('models')
    .set((eb) => ({ archived: eb.ref('archived') }))
    .where('id', '=', model.id)
    .execute();
  const row = await trx
    .selectFrom('models')
    .selectAll()
    .where('id', '=', model.id)
    .executeTakeFirst();
  if (row === undefined) {
    throw modelNotFound(model.name);
  }
  return row;
}

/** True when `value` is the JSON `stored` holds, whatever the order of its keys. */
export function sameJson(value: unknown, stored: string): boolean {
  return canonicalJson(value) === canonicalJson(JSON.parse(stored));
}

export function stringArray(text: string): string[] {
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Wire models for rows, with their creators' names and live version counts. */
export async function modelDtos(
  db: Kysely<Database>,
  rows: readonly ModelRow[],
): Promise<ModelDto[]> {
  if (rows.length === 0) {
    return [];
  }
  const ids = rows.map((r) => r.id);
  const counts = await db
    .selectFrom('model_versions')
    .select(['model_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('model_id', 'in', ids)
    .groupBy('model_id')
    .execute();
  const users = await db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('id', 'in', [...new Set(rows.map((r) => r.user_id))])
    .execute();
  const countOf = new Map(counts.map((c) => [c.model_id, Number(c.n)]));
  const nameOf = new Map(users.map((u) => [u.id, u.username]));
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    description: row.description,
    notes: row.notes,
    metadata: parseJsonObject(row.metadata),
    labels: stringArray(row.labels),
    creationTime: encodeTimestamp(new Date(row.created_at)),
    lastUpdatedTime: encodeTimestamp(new Date(row.updated_at)),
    numVersions: countOf.get(row.id) ?? 0,
    userId: row.user_id,
    username: nameOf.get(row.user_id) ?? '',
    workspaceId: row.workspace_id,
    archived: row.archived === 1,
  }));
}

export async function modelDto(db: Kysely<Database>, row: ModelRow): Promise<ModelDto> {
  const [dto] = await modelDtos(db, [row]);
  return dto!;
}

export interface NewModel {
  name: string;
  description?: string | null;
  notes?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
  workspaceId?: number | null;
  workspaceName?: string | null;
}

const duplicateName = (): HttpError =>
  new HttpError('already_exists', 'avoid names equal to other models (case-sensitive)');

async function checkNameFree(db: Kysely<Database>, name: string, exceptId?: number): Promise<void> {
  let query = db.selectFrom('models').select('id').where('name', '=', name);
  if (exceptId !== undefined) {
    query = query.where('id', '!=', exceptId);
  }
  if ((await query.executeTakeFirst()) !== undefined) {
    throw duplicateName();
  }
}

export async function createModel(deps: AppDeps, user: AuthUser, req: NewModel): Promise<ModelDto> {
  checkModelName(req.name);
  const labels = checkLabels(req.labels ?? [], { dedupe: false });
  const workspaceId = resolveWorkspace(req.workspaceId, req.workspaceName);
  const db = deps.db.kysely;
  await checkNameFree(db, req.name);
  const now = deps.clock();
  const row = await db
    .insertInto('models')
    .values({
      name: req.name,
      description: req.description ?? '',
      notes: req.notes ?? '',
      metadata: JSON.stringify(req.metadata ?? {}),
      labels: JSON.stringify(labels),
      user_id: user.id,
      workspace_id: workspaceId,
      archived: 0,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
    .catch((err: unknown) => {
      // Another request created the name between the check and the insert.
      throw isUniqueViolation(err) ? duplicateName() : err;
    });
  return modelDto(db, row);
}

export interface ModelPatch {
  name?: string | null;
  description?: string | null;
  notes?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
  workspaceId?: number | null;
  workspaceName?: string | null;
}

/** The columns a patch changes, compared with what is stored; empty when nothing changes. */
function changedColumns(row: ModelRow, patch: ModelPatch): Partial<ModelRow> {
  const next: Partial<ModelRow> = {};
  if (patch.name != null && patch.name !== row.name) {
    checkModelName(patch.name);
    next.name = patch.name;
  }
  if (patch.description != null && patch.description !== row.description) {
    next.description = patch.description;
  }
  if (patch.notes != null && patch.notes !== row.notes) {
    next.notes = patch.notes;
  }
  if (patch.metadata != null && !sameJson(patch.metadata, row.metadata)) {
    next.metadata = JSON.stringify(patch.metadata);
  }
  if (patch.labels != null) {
    const labels = JSON.stringify(checkLabels(patch.labels, { dedupe: true }));
    if (labels !== row.labels) {
      next.labels = labels;
    }
  }
  if (patch.workspaceId != null || patch.workspaceName != null) {
    const workspaceId = resolveWorkspace(patch.workspaceId, patch.workspaceName);
    if (workspaceId !== row.workspace_id) {
      next.workspace_id = workspaceId;
    }
  }
  return next;
}

/**
 * `PATCH /api/v1/models/{model}`: only fields that differ are written, and only then does
 * `lastUpdatedTime` move. An archived model is read-only (Determined answers 500; we 400).
 */
export async function patchModel(
  deps: AppDeps,
  ident: string,
  patch: ModelPatch,
): Promise<ModelDto> {
  const db = deps.db.kysely;
  const row = await findModel(db, ident);
  if (row.archived === 1) {
    throw new HttpError(
      'failed_precondition',
      `model "${row.name}" is archived and cannot have attributes updated; unarchive it first`,
    );
  }
  const changes = changedColumns(row, patch);
  if (Object.keys(changes).length === 0) {
    return modelDto(db, row);
  }
  if (changes.name !== undefined) {
    await checkNameFree(db, changes.name, row.id);
  }
  const updated = await db
    .updateTable('models')
    .set({ ...changes, updated_at: deps.clock() })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow()
    .catch((err: unknown) => {
      throw isUniqueViolation(err) ? duplicateName() : err;
    });
  return modelDto(db, updated);
}

/** Archive or unarchive: idempotent, and each call moves `lastUpdatedTime`. */
export async function setArchived(deps: AppDeps, ident: string, archived: boolean): Promise<void> {
  const row = await findModel(deps.db.kysely, ident);
  await deps.db.kysely
    .updateTable('models')
    .set({ archived: archived ? 1 : 0, updated_at: deps.clock() })
    .where('id', '=', row.id)
    .execute();
}

/** `POST /models/{model}/move`: a workspace change that, unlike PATCH, keeps `lastUpdatedTime`. */
export async function moveModel(
  deps: AppDeps,
  ident: string,
  destinationWorkspaceId: number,
): Promise<void> {
  const row = await findModel(deps.db.kysely, ident);
  await deps.db.kysely
    .updateTable('models')
    .set({ workspace_id: resolveWorkspace(destinationWorkspaceId, undefined) })
    .where('id', '=', row.id)
    .execute();
}

/** Deletes a model with its versions and aliases; its checkpoints stay. Admin or creator only. */
export async function deleteModel(deps: AppDeps, user: AuthUser, ident: string): Promise<void> {
  const row = await findModel(deps.db.kysely, ident);
  if (!user.admin && user.id !== row.user_id) {
    throw forbidden(
      `only an admin or the user who created model "${row.name}" may delete it: access denied`,
    );
  }
  await deps.db.kysely.transaction().execute(async (trx) => {
    await trx.deleteFrom('model_alias_events').where('model_id', '=', row.id).execute();
    await trx.deleteFrom('model_aliases').where('model_id', '=', row.id).execute();
    await trx.deleteFrom('model_versions').where('model_id', '=', row.id).execute();
    await trx.deleteFrom('models').where('id', '=', row.id).execute();
  });
}

export interface ListModelsOptions {
  sortBy: ModelSortBy;
  descending: boolean;
  offset: number;
  limit: number;
  name?: string;
  description?: string;
  id?: number;
  archived?: boolean;
  labels: string[];
  users: string[];
  userIds: number[];
  workspaceIds: number[];
  workspaceNames: string[];
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (escape `\`). */
function likeSubstring(value: string): string {
  return `%${value.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * `GET /api/v1/models`: Determined's filters (name and description as case-insensitive
 * substrings, labels by overlap), sort with `id` as the tie-break, and paging.
 */
export async function listModels(
  deps: AppDeps,
  opts: ListModelsOptions,
): Promise<{ models: ModelDto[]; pagination: Pagination }> {
  const db = deps.db.kysely;
  let query = db.selectFrom('models');
  if (opts.name !== undefined && opts.name !== '') {
    query = query.where(
      sql<SqlBool>`lower(models.name) like ${likeSubstring(opts.name)} escape '\\'`,
    );
  }
  if (opts.description !== undefined && opts.description !== '') {
    query = query.where(
      sql<SqlBool>`lower(models.description) like ${likeSubstring(opts.description)} escape '\\'`,
    );
  }
  if (opts.id !== undefined && opts.id !== 0) {
    query = query.where('models.id', '=', opts.id);
  }
  if (opts.archived !== undefined) {
    query = query.where('models.archived', '=', opts.archived ? 1 : 0);
  }
  if (opts.labels.length > 0) {
    query = query.where(
      deps.db.dialect === 'sqlite'
        ? sql<SqlBool>`exists (select 1 from json_each(models.labels) where json_each.value in (${sql.join(opts.labels)}))`
        : sql<SqlBool>`models.labels::jsonb ?| cast(${opts.labels} as text[])`,
    );
  }
  if (opts.users.length > 0) {
    query = query.where('models.user_id', 'in', (eb) =>
      eb.selectFrom('users').select('users.id').where('users.username', 'in', opts.users),
    );
  }
  if (opts.userIds.length > 0) {
    query = query.where('models.user_id', 'in', opts.userIds);
  }
  // Workspace ids win over names; names that name no workspace match nothing (Determined would
  // then drop the filter and return every model).
  const workspaces =
    opts.workspaceIds.length > 0
      ? opts.workspaceIds
      : opts.workspaceNames.length > 0
        ? opts.workspaceNames.includes(DEFAULT_WORKSPACE.name)
          ? [DEFAULT_WORKSPACE.id]
          : []
        : undefined;
  if (workspaces !== undefined) {
    query =
      workspaces.length === 0
        ? query.where(sql<SqlBool>`1 = 0`)
        : query.where('models.workspace_id', 'in', workspaces);
  }
  const { n } = await query
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const pagination = paginate(opts.offset, opts.limit, Number(n));
  const want = pagination.endIndex - pagination.startIndex;
  if (want === 0) {
    return { models: [], pagination };
  }
  const direction = opts.descending ? 'desc' : 'asc';
  const key = sortExpression(opts.sortBy);
  let ordered = query.selectAll('models');
  if (key !== undefined) {
    ordered = ordered.orderBy(key, direction);
  }
  const rows = await ordered
    .orderBy('models.id', direction)
    .limit(want)
    .offset(pagination.startIndex)
    .execute();
  return { models: await modelDtos(db, rows), pagination };
}

/**
 * The sort key of `sortBy`, `undefined` for the id alone. Names and descriptions sort without
 * case on both databases (Determined's follow PostgreSQL's collation, roughly the same); every
 * model is in the one workspace, so that sort is the id's.
 */
function sortExpression(sortBy: ModelSortBy) {
  switch (sortBy) {
    case 'SORT_BY_UNSPECIFIED':
    case 'SORT_BY_WORKSPACE':
      return undefined;
    case 'SORT_BY_NAME':
      return sql`lower(models.name)`;
    case 'SORT_BY_DESCRIPTION':
      return sql`lower(models.description)`;
    case 'SORT_BY_CREATION_TIME':
      return sql`models.created_at`;
    case 'SORT_BY_LAST_UPDATED_TIME':
      return sql`models.updated_at`;
    case 'SORT_BY_NUM_VERSIONS':
      return sql`(select count(*) from model_versions where model_versions.model_id = models.id)`;
  }
}

/**
 * `GET /api/v1/model/labels`: every label on any model (archived ones too), the most used
 * first, then alphabetically. Counted here rather than in SQL: a label is counted once per
 * model however often the model repeats it.
 */
export async function modelLabels(deps: AppDeps): Promise<string[]> {
  const rows = await deps.db.kysely.selectFrom('models').select('labels').execute();
  const counts = new Map<string, number>();
  for (const row of rows) {
    for (const label of new Set(stringArray(row.labels))) {
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
  }
  return [...counts]
    .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
    .map(([label]) => label);
}
