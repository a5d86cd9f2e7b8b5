import type { ModelAliasDto, ModelAliasEventDto, Pagination } from '@determined-ts/api';
import { ALIAS_NAME_PATTERN, LATEST_VERSION_ALIAS, encodeTimestamp } from '@determined-ts/api';
import type { Kysely, Transaction } from 'kysely';

import type { AppDeps, AuthUser } from '../context.js';
import type { Database, ModelRow } from '../db/schema.js';
import { HttpError, badRequest } from '../errors.js';
import { paginate } from './checkpoint-list.js';
import { findModel, lockModel } from './models.js';
import { findVersion } from './model-versions.js';

/** An alias name that can be set, or a 400 that says what names are. */
export function checkAliasName(alias: string): void {
  if (alias === LATEST_VERSION_ALIAS) {
    throw badRequest(`invalid alias 'latest': it is reserved for the highest version`);
  }
  if (!ALIAS_NAME_PATTERN.test(alias)) {
    throw badRequest(
      `invalid alias '${alias}': expected 1 to 64 lowercase letters, digits, _ or -, starting with a letter`,
    );
  }
}

const aliasNotFound = (alias: string, model: ModelRow): HttpError =>
  new HttpError('not_found', `alias '${alias}' not found for model "${model.name}"`);

async function usernames(db: Kysely<Database>, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) {
    return new Map();
  }
  const rows = await db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((r) => [r.id, r.username]));
}

/** The model's aliases, by name, each with the version it points at. */
async function aliasDtos(
  db: Kysely<Database>,
  model: ModelRow,
  alias?: string,
): Promise<ModelAliasDto[]> {
  let query = db
    .selectFrom('model_aliases')
    .innerJoin('model_versions', 'model_versions.id', 'model_aliases.version_id')
    .select([
      'model_aliases.alias',
      'model_aliases.version_id',
      'model_aliases.user_id',
      'model_aliases.updated_at',
      'model_versions.version',
    ])
    .where('model_aliases.model_id', '=', model.id);
  if (alias !== undefined) {
    query = query.where('model_aliases.alias', '=', alias);
  }
  const rows = await query.orderBy('model_aliases.alias').execute();
  const names = await usernames(
    db,
    rows.map((r) => r.user_id),
  );
  return rows.map((r) => ({
    alias: r.alias,
    version: r.version,
    modelVersionId: r.version_id,
    updatedTime: encodeTimestamp(new Date(r.updated_at)),
    userId: r.user_id,
    username: names.get(r.user_id) ?? '',
  }));
}

/** The version number `alias` points at now, read inside the model's lock. */
async function currentVersion(
  trx: Transaction<Database>,
  model: ModelRow,
  alias: string,
): Promise<{ version: number } | undefined> {
  return trx
    .selectFrom('model_aliases')
    .innerJoin('model_versions', 'model_versions.id', 'model_aliases.version_id')
    .select(['model_versions.version'])
    .where('model_aliases.model_id', '=', model.id)
    .where('model_aliases.alias', '=', alias)
    .executeTakeFirst();
}

/** One entry of the alias's history: `from` null = created, `to` null = removed. */
async function recordChange(
  trx: Transaction<Database>,
  model: ModelRow,
  alias: string,
  user: AuthUser,
  time: number,
  from: number | null,
  to: number | null,
): Promise<void> {
  await trx
    .insertInto('model_alias_events')
    .values({
      model_id: model.id,
      alias,
      from_version: from,
      to_version: to,
      user_id: user.id,
      time,
    })
    .execute();
}

export async function listAliases(deps: AppDeps, ident: string): Promise<ModelAliasDto[]> {
  const db = deps.db.kysely;
  return aliasDtos(db, await findModel(db, ident));
}

export async function getAlias(
  deps: AppDeps,
  ident: string,
  alias: string,
): Promise<ModelAliasDto> {
  const db = deps.db.kysely;
  const model = await findModel(db, ident);
  const [dto] = await aliasDtos(db, model, alias);
  if (dto === undefined) {
    throw aliasNotFound(alias, model);
  }
  return dto;
}

/**
 * Points `alias` at `version`, creating or moving it, and records the change. Pointing it where
 * it already points changes nothing. `expectedVersion` makes it a compare-and-set (0: the alias
 * must not exist yet), so two deploy jobs cannot silently undo each other.
 */
export async function setAlias(
  deps: AppDeps,
  user: AuthUser,
  ident: string,
  alias: string,
  req: { version: number; expectedVersion?: number | null },
): Promise<ModelAliasDto> {
  checkAliasName(alias);
  const db = deps.db.kysely;
  const found = await findModel(db, ident);
  const model = await db.transaction().execute(async (trx) => {
    const model = await lockModel(trx, found);
    if (model.archived === 1) {
      throw new HttpError(
        'failed_precondition',
        `model "${model.name}" is archived and its aliases cannot be set; unarchive it first`,
      );
    }
    const target = await findVersion(trx, model, { kind: 'number', version: req.version }, ident);
    const current = await currentVersion(trx, model, alias);
    if (req.expectedVersion != null && req.expectedVersion !== (current?.version ?? 0)) {
      throw new HttpError(
        'failed_precondition',
        `alias '${alias}' of model "${model.name}" ${current === undefined ? 'does not exist' : `points at version ${current.version}`}, not ${req.expectedVersion === 0 ? 'nowhere' : `version ${req.expectedVersion}`} as expected; nothing changed`,
      );
    }
    if (current?.version === target.version) {
      return model;
    }
    const now = deps.clock();
    const values = { version_id: target.id, user_id: user.id, updated_at: now };
    if (current === undefined) {
      await trx
        .insertInto('model_aliases')
        .values({ model_id: model.id, alias, ...values })
        .execute();
    } else {
      await trx
        .updateTable('model_aliases')
        .set(values)
        .where('model_id', '=', model.id)
        .where('alias', '=', alias)
        .execute();
    }
    await recordChange(trx, model, alias, user, now, current?.version ?? null, target.version);
    return model;
  });
  const [dto] = await aliasDtos(db, model, alias);
  return dto!;
}

/** Removes an alias and records it; allowed on archived models, like deleting a version. */
export async function removeAlias(
  deps: AppDeps,
  user: AuthUser,
  ident: string,
  alias: string,
): Promise<void> {
  const db = deps.db.kysely;
  const found = await findModel(db, ident);
  await db.transaction().execute(async (trx) => {
    const model = await lockModel(trx, found);
    const current = await currentVersion(trx, model, alias);
    if (current === undefined) {
      throw aliasNotFound(alias, model);
    }
    await trx
      .deleteFrom('model_aliases')
      .where('model_id', '=', model.id)
      .where('alias', '=', alias)
      .execute();
    await recordChange(trx, model, alias, user, deps.clock(), current.version, null);
  });
}

/** Every change of the model's aliases (or of one), newest first. */
export async function aliasHistory(
  deps: AppDeps,
  ident: string,
  opts: { alias?: string; offset: number; limit: number },
): Promise<{ events: ModelAliasEventDto[]; pagination: Pagination }> {
  const db = deps.db.kysely;
  const model = await findModel(db, ident);
  let query = db.selectFrom('model_alias_events').where('model_id', '=', model.id);
  if (opts.alias !== undefined && opts.alias !== '') {
    query = query.where('alias', '=', opts.alias);
  }
  const { n } = await query
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const pagination = paginate(opts.offset, opts.limit, Number(n));
  const want = pagination.endIndex - pagination.startIndex;
  const rows =
    want === 0
      ? []
      : await query
          .selectAll()
          .orderBy('id', 'desc')
          .limit(want)
          .offset(pagination.startIndex)
          .execute();
  const names = await usernames(
    db,
    rows.map((r) => r.user_id),
  );
  return {
    events: rows.map((r) => ({
      id: r.id,
      alias: r.alias,
      fromVersion: r.from_version,
      toVersion: r.to_version,
      time: encodeTimestamp(new Date(r.time)),
      userId: r.user_id,
      username: names.get(r.user_id) ?? '',
    })),
    pagination,
  };
}
