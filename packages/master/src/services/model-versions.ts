import type {
  JsonObject,
  ModelVersionDto,
  ModelVersionSortBy,
  Pagination,
} from '@determined-ts/api';
import { ALIAS_NAME_PATTERN, LATEST_VERSION_ALIAS, encodeTimestamp } from '@determined-ts/api';
import type { Kysely } from 'kysely';

import type { AppDeps, AuthUser } from '../context.js';
import type { Database, ModelRow, ModelVersionRow } from '../db/schema.js';
import { HttpError, badRequest, forbidden, notFound } from '../errors.js';
import { isUuid } from '../http.js';
import { checkpointDtos } from './checkpoint-dto.js';
import { lockRow } from './checkpoints.js';
import { isBeingDeleted } from './deletion-intents.js';
import { paginate } from './checkpoint-list.js';
import { parseJsonObject } from './json.js';
import { checkLabels, findModel, lockModel, modelDto, sameJson, stringArray } from './models.js';

/** What a `{model_version_num}` path segment names. */
export type VersionRef =
  { kind: 'number'; version: number } | { kind: 'latest' } | { kind: 'alias'; alias: string };

/**
 * Parses a version segment: a version number (int32, as Determined's gateway requires),
 * `latest`, or an alias name (our extension). Anything else, such as the `None` that
 * Determined's SDK sends for `get_version(None)`, is a 400 as upstream.
 */
export function parseVersionRef(raw: string): VersionRef {
  if (/^\d+$/.test(raw)) {
    const version = Number(raw);
    if (raw.length > 10 || version > 2 ** 31 - 1) {
      throw badRequest(`invalid model version '${raw}': larger than an int32`);
    }
    return { kind: 'number', version };
  }
  if (raw === LATEST_VERSION_ALIAS) {
    return { kind: 'latest' };
  }
  if (ALIAS_NAME_PATTERN.test(raw)) {
    return { kind: 'alias', alias: raw };
  }
  throw badRequest(
    `invalid model version '${raw}': expected a version number, latest, or an alias (lowercase letters, digits, _ and -, starting with a letter)`,
  );
}

export const versionNotFound = (ref: string | number, ident: string): HttpError =>
  new HttpError('not_found', `version ${ref} for model "${ident}" not found`);

/** The version row a reference names, or a 404 that says which reference failed. */
export async function findVersion(
  db: Kysely<Database>,
  model: ModelRow,
  ref: VersionRef,
  ident: string,
): Promise<ModelVersionRow> {
  let row: ModelVersionRow | undefined;
  switch (ref.kind) {
    case 'number':
      row = await db
        .selectFrom('model_versions')
        .selectAll()
        .where('model_id', '=', model.id)
        .where('version', '=', ref.version)
        .executeTakeFirst();
      if (row === undefined) {
        throw versionNotFound(ref.version, ident);
      }
      return row;
    case 'latest':
      row = await db
        .selectFrom('model_versions')
        .selectAll()
        .where('model_id', '=', model.id)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (row === undefined) {
        throw new HttpError('not_found', `model "${ident}" has no versions`);
      }
      return row;
    case 'alias':
      row = await db
        .selectFrom('model_aliases')
        .innerJoin('model_versions', 'model_versions.id', 'model_aliases.version_id')
        .selectAll('model_versions')
        .where('model_aliases.model_id', '=', model.id)
        .where('model_aliases.alias', '=', ref.alias)
        .executeTakeFirst();
      if (row === undefined) {
        throw new HttpError('not_found', `alias '${ref.alias}' not found for model "${ident}"`);
      }
      return row;
  }
}

/** The model and version a pair of path segments name. */
export async function findModelVersion(
  deps: AppDeps,
  ident: string,
  versionSegment: string,
): Promise<{ model: ModelRow; version: ModelVersionRow }> {
  const ref = parseVersionRef(versionSegment);
  const model = await findModel(deps.db.kysely, ident);
  return { model, version: await findVersion(deps.db.kysely, model, ref, ident) };
}

/**
 * Wire versions of one model's rows: the model as it is now, each checkpoint exactly as
 * `GET /api/v1/checkpoints/{uuid}` shows it, and the aliases pointing at each version.
 */
export async function versionDtos(
  db: Kysely<Database>,
  model: ModelRow,
  rows: readonly ModelVersionRow[],
): Promise<ModelVersionDto[]> {
  if (rows.length === 0) {
    return [];
  }
  const modelWire = await modelDto(db, model);
  const checkpointRows = await db
    .selectFrom('checkpoints')
    .selectAll()
    .where('id', 'in', [...new Set(rows.map((r) => r.checkpoint_id))])
    .execute();
  const checkpoints = await checkpointDtos(db, checkpointRows);
  const checkpointOf = new Map(checkpointRows.map((r, i) => [r.id, checkpoints[i]!]));
  const users = await db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('id', 'in', [...new Set(rows.map((r) => r.user_id))])
    .execute();
  const nameOf = new Map(users.map((u) => [u.id, u.username]));
  const aliases = await db
    .selectFrom('model_aliases')
    .select(['version_id', 'alias'])
    .where(
      'version_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('alias')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    version: row.version,
    model: modelWire,
    checkpoint: checkpointOf.get(row.checkpoint_id)!,
    creationTime: encodeTimestamp(new Date(row.created_at)),
    lastUpdatedTime: encodeTimestamp(new Date(row.updated_at)),
    name: row.name,
    comment: row.comment,
    notes: row.notes,
    metadata: parseJsonObject(row.metadata),
    labels: stringArray(row.labels),
    userId: row.user_id,
    username: nameOf.get(row.user_id) ?? '',
    aliases: aliases.filter((a) => a.version_id === row.id).map((a) => a.alias),
  }));
}

export async function versionDto(
  db: Kysely<Database>,
  model: ModelRow,
  row: ModelVersionRow,
): Promise<ModelVersionDto> {
  const [dto] = await versionDtos(db, model, [row]);
  return dto!;
}

export interface NewVersion {
  checkpointUuid: string;
  name?: string | null;
  comment?: string | null;
  notes?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
}

/**
 * Registers a checkpoint as the model's next version: one more than its highest number, so
 * deleting the highest version frees its number. The model's row lock serialises concurrent
 * registrations (Determined lets them race into a 500).
 */
export async function registerVersion(
  deps: AppDeps,
  user: AuthUser,
  ident: string,
  req: NewVersion,
): Promise<ModelVersionDto> {
  if (!isUuid(req.checkpointUuid)) {
    throw badRequest(`invalid checkpointUuid '${req.checkpointUuid}': expected a UUID`);
  }
  const uuid = req.checkpointUuid.toLowerCase();
  const labels = checkLabels(req.labels ?? [], { dedupe: true });
  const db = deps.db.kysely;
  const found = await findModel(db, ident);
  const { model, row } = await db.transaction().execute(async (trx) => {
    const model = await lockModel(trx, found);
    if (model.archived === 1) {
      throw new HttpError(
        'failed_precondition',
        `model "${model.name}" is archived and cannot register new versions; unarchive it first`,
      );
    }
    const checkpoint = await trx
      .selectFrom('checkpoints')
      .select(['id', 'state'])
      .where('uuid', '=', uuid)
      .executeTakeFirst();
    if (checkpoint === undefined) {
      throw notFound('checkpoint', uuid);
    }
    // Locked, so a deletion recording its intent now waits for this registration or is seen.
    await lockRow(trx, checkpoint.id);
    if (await isBeingDeleted(trx, checkpoint.id)) {
      throw new HttpError(
        'failed_precondition',
        `checkpoint ${uuid} is being deleted and cannot be registered`,
      );
    }
    if (checkpoint.state !== 'STATE_COMPLETED') {
      throw new HttpError(
        'failed_precondition',
        `checkpoint ${uuid} is in ${checkpoint.state} state. checkpoints for model versions must be in a COMPLETED state`,
      );
    }
    const { top } = await trx
      .selectFrom('model_versions')
      .select((eb) => eb.fn.max('version').as('top'))
      .where('model_id', '=', model.id)
      .executeTakeFirstOrThrow();
    const now = deps.clock();
    const row = await trx
      .insertInto('model_versions')
      .values({
        model_id: model.id,
        version: Number(top ?? 0) + 1,
        checkpoint_id: checkpoint.id,
        name: req.name ?? '',
        comment: req.comment ?? '',
        notes: req.notes ?? '',
        metadata: JSON.stringify(req.metadata ?? {}),
        labels: JSON.stringify(labels),
        user_id: user.id,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { model, row };
  });
  return versionDto(db, model, row);
}

export const VERSION_SORT_COLUMNS = {
  SORT_BY_UNSPECIFIED: 'version',
  SORT_BY_VERSION: 'version',
  SORT_BY_CREATION_TIME: 'created_at',
} as const satisfies Record<ModelVersionSortBy, keyof ModelVersionRow>;

/** A model's versions in order, the version number breaking ties, and paged. */
export async function listVersions(
  deps: AppDeps,
  ident: string,
  opts: { sortBy: ModelVersionSortBy; descending: boolean; offset: number; limit: number },
): Promise<{ model: ModelRow; versions: ModelVersionDto[]; pagination: Pagination }> {
  const db = deps.db.kysely;
  const model = await findModel(db, ident);
  const { n } = await db
    .selectFrom('model_versions')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('model_id', '=', model.id)
    .executeTakeFirstOrThrow();
  const pagination = paginate(opts.offset, opts.limit, Number(n));
  const want = pagination.endIndex - pagination.startIndex;
  const direction = opts.descending ? 'desc' : 'asc';
  const rows =
    want === 0
      ? []
      : await db
          .selectFrom('model_versions')
          .selectAll()
          .where('model_id', '=', model.id)
          .orderBy(VERSION_SORT_COLUMNS[opts.sortBy], direction)
          .orderBy('version', direction)
          .limit(want)
          .offset(pagination.startIndex)
          .execute();
  return { model, versions: await versionDtos(db, model, rows), pagination };
}

export interface VersionPatch {
  name?: string | null;
  comment?: string | null;
  notes?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
}

/**
 * `PATCH …/versions/{v}`: what differs is written and moves the version's `lastUpdatedTime`
 * (never the model's). Allowed on archived models, as upstream.
 */
export async function patchVersion(
  deps: AppDeps,
  ident: string,
  versionSegment: string,
  patch: VersionPatch,
): Promise<ModelVersionDto> {
  const db = deps.db.kysely;
  const { model, version } = await findModelVersion(deps, ident, versionSegment);
  const next: Partial<ModelVersionRow> = {};
  for (const key of ['name', 'comment', 'notes'] as const) {
    const value = patch[key];
    if (value != null && value !== version[key]) {
      next[key] = value;
    }
  }
  if (patch.metadata != null && !sameJson(patch.metadata, version.metadata)) {
    next.metadata = JSON.stringify(patch.metadata);
  }
  if (patch.labels != null) {
    const labels = JSON.stringify(checkLabels(patch.labels, { dedupe: true }));
    if (labels !== version.labels) {
      next.labels = labels;
    }
  }
  if (Object.keys(next).length === 0) {
    return versionDto(db, model, version);
  }
  const updated = await db
    .updateTable('model_versions')
    .set({ ...next, updated_at: deps.clock() })
    .where('id', '=', version.id)
    .returningAll()
    .executeTakeFirst();
  if (updated === undefined) {
    throw versionNotFound(versionSegment, ident);
  }
  return versionDto(db, model, updated);
}

/**
 * Deletes one version (its checkpoint stays): an admin, its registrant or the model's creator
 * may, and not while an alias points at it.
 */
export async function deleteVersion(
  deps: AppDeps,
  user: AuthUser,
  ident: string,
  versionSegment: string,
): Promise<void> {
  const { model, version } = await findModelVersion(deps, ident, versionSegment);
  if (!user.admin && user.id !== version.user_id && user.id !== model.user_id) {
    throw forbidden(
      `only an admin, the user who registered version ${version.version} or the creator of model "${model.name}" may delete it: access denied`,
    );
  }
  await deps.db.kysely.transaction().execute(async (trx) => {
    await lockModel(trx, model);
    const aliases = await trx
      .selectFrom('model_aliases')
      .select('alias')
      .where('version_id', '=', version.id)
      .orderBy('alias')
      .execute();
    if (aliases.length > 0) {
      const names = aliases.map((a) => a.alias).join(', ');
      const one = aliases.length === 1;
      throw new HttpError(
        'failed_precondition',
        `cannot delete version ${version.version} of model "${model.name}": alias${one ? '' : 'es'} ${names} point${one ? 's' : ''} at it; move or remove ${one ? 'it' : 'them'} first`,
      );
    }
    await trx.deleteFrom('model_versions').where('id', '=', version.id).execute();
  });
}
