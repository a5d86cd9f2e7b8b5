import { MODEL_SORT_BY, MODEL_VERSION_SORT_BY, ORDER_BY, ROUTES } from '@determined-ts/api';
import type { ModelSortBy } from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest } from '../errors.js';
import {
  int32,
  jsonObject,
  queryAll,
  queryBool,
  queryEnum,
  queryIds,
  queryInt,
  queryOne,
  readBody,
} from '../http.js';
import { sourceFilter } from './checkpoints.js';
import { sourceTrialMetrics } from '../services/trial-source-infos.js';
import {
  createModel,
  deleteModel,
  findModel,
  listModels,
  modelDto,
  modelLabels,
  moveModel,
  patchModel,
  setArchived,
} from '../services/models.js';
import {
  aliasHistory,
  getAlias,
  listAliases,
  removeAlias,
  setAlias,
} from '../services/model-aliases.js';
import {
  deleteVersion,
  findModelVersion,
  listVersions,
  patchVersion,
  registerVersion,
  versionDto,
} from '../services/model-versions.js';

// Determined's SDK sends explicit nulls for everything it does not set: null means "not given".
const text = z.string().max(65_536).nullish();
const labels = z.array(z.string().max(255)).max(1000).nullish();

const postModelBody = z.object({
  name: z.string(),
  description: text,
  notes: text,
  metadata: jsonObject.nullish(),
  labels,
  workspaceName: z.string().nullish(),
  workspaceId: int32.nullish(),
});

const patchModelBody = postModelBody.partial().extend({ name: z.string().nullish() });

const moveBody = z.object({
  modelName: z.string().nullish(),
  destinationWorkspaceId: int32,
});

const postVersionBody = z.object({
  checkpointUuid: z.string(),
  modelName: z.string().nullish(),
  name: text,
  comment: text,
  notes: text,
  metadata: jsonObject.nullish(),
  labels,
});

// `checkpoint` is accepted and ignored, as upstream: a version cannot be repointed.
const patchVersionBody = postVersionBody.omit({ checkpointUuid: true, modelName: true });

const putAliasBody = z.object({
  version: int32.refine((n) => n > 0, 'expected a version number ≥ 1'),
  expectedVersion: int32.refine((n) => n >= 0, 'expected a version number, or 0').nullish(),
});

// SQLite refuses LIKE patterns past 50,000 bytes; no model name comes near this.
const MAX_FILTER = 4096;

function filterText(c: Context, name: string): string | undefined {
  const value = queryOne(c, name);
  if (value !== undefined && value.length > MAX_FILTER) {
    throw badRequest(`invalid ${name}: a filter has at most ${MAX_FILTER} characters`);
  }
  return value;
}

/** The `{model_name}` segment, percent-decoded by the router: a name or a numeric id. */
const modelParam = (c: Context): string => c.req.param('modelName') ?? '';
const versionParam = (c: Context): string => c.req.param('modelVersionNum') ?? '';

/**
 * `sortBy` of `GET /api/v1/models` by name or by number. Determined's enum has no 3, so the
 * numbers are not positions in {@link MODEL_SORT_BY}.
 */
const MODEL_SORT_NUMBERS: Record<string, ModelSortBy> = {
  0: 'SORT_BY_UNSPECIFIED',
  1: 'SORT_BY_NAME',
  2: 'SORT_BY_DESCRIPTION',
  4: 'SORT_BY_CREATION_TIME',
  5: 'SORT_BY_LAST_UPDATED_TIME',
  6: 'SORT_BY_NUM_VERSIONS',
  7: 'SORT_BY_WORKSPACE',
};

function modelSortBy(c: Context): ModelSortBy {
  const raw = queryOne(c, 'sortBy');
  if (raw === undefined || raw === '') {
    return 'SORT_BY_UNSPECIFIED';
  }
  const byNumber = /^\d+$/.test(raw) ? MODEL_SORT_NUMBERS[raw] : undefined;
  if (byNumber !== undefined || (MODEL_SORT_BY as readonly string[]).includes(raw)) {
    return byNumber ?? (raw as ModelSortBy);
  }
  throw badRequest(`invalid sortBy '${raw}': expected one of ${MODEL_SORT_BY.join(', ')}`);
}

/** Actions without a body still refuse one that is not JSON, before doing anything. */
const noBody = z.object({});

function paging(c: Context): { offset: number; limit: number } {
  return { offset: queryInt(c, 'offset') ?? 0, limit: queryInt(c, 'limit', { min: 0 }) ?? 0 };
}

/** Determined's model registry (reference: model-registry-wire.md) and our aliases. */
export function modelRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.db.kysely;

  app.post(ROUTES.models, async (c) => {
    const body = await readBody(c, postModelBody);
    return c.json({ model: await createModel(deps, c.get('user'), body) });
  });

  app.get(ROUTES.models, async (c) => {
    const archived = queryBool(c, 'archived');
    const id = queryInt(c, 'id', { min: 0 });
    const name = filterText(c, 'name');
    const description = filterText(c, 'description');
    const result = await listModels(deps, {
      sortBy: modelSortBy(c),
      descending: queryEnum(c, ORDER_BY, 'orderBy') === 'ORDER_BY_DESC',
      ...paging(c),
      ...(name === undefined ? {} : { name }),
      ...(description === undefined ? {} : { description }),
      ...(id === undefined ? {} : { id }),
      ...(archived === undefined ? {} : { archived }),
      labels: queryAll(c, 'labels'),
      users: queryAll(c, 'users'),
      userIds: queryIds(c, 'userIds'),
      workspaceIds: queryIds(c, 'workspaceIds'),
      workspaceNames: queryAll(c, 'workspaceNames'),
    });
    return c.json(result);
  });

  app.get(ROUTES.modelLabels, async (c) => {
    // Every model is in workspace 1; another workspace has no models and so no labels.
    const workspaceId = queryInt(c, 'workspaceId', { min: 0 }) ?? 0;
    return c.json({ labels: workspaceId > 1 ? [] : await modelLabels(deps) });
  });

  app.get(ROUTES.model, async (c) =>
    c.json({ model: await modelDto(db, await findModel(db, modelParam(c))) }),
  );

  app.patch(ROUTES.model, async (c) => {
    const body = await readBody(c, patchModelBody);
    return c.json({ model: await patchModel(deps, modelParam(c), body) });
  });

  app.delete(ROUTES.model, async (c) => {
    await readBody(c, noBody);
    await deleteModel(deps, c.get('user'), modelParam(c));
    return c.json({});
  });

  app.post(ROUTES.modelArchive, async (c) => {
    await readBody(c, noBody);
    await setArchived(deps, modelParam(c), true);
    return c.json({});
  });

  app.post(ROUTES.modelUnarchive, async (c) => {
    await readBody(c, noBody);
    await setArchived(deps, modelParam(c), false);
    return c.json({});
  });

  app.post(ROUTES.modelMove, async (c) => {
    const body = await readBody(c, moveBody);
    await moveModel(deps, modelParam(c), body.destinationWorkspaceId);
    return c.json({});
  });

  app.get(ROUTES.modelVersions, async (c) => {
    const { model, versions, pagination } = await listVersions(deps, modelParam(c), {
      sortBy: queryEnum(c, MODEL_VERSION_SORT_BY, 'sortBy') ?? 'SORT_BY_UNSPECIFIED',
      descending: queryEnum(c, ORDER_BY, 'orderBy') === 'ORDER_BY_DESC',
      ...paging(c),
    });
    return c.json({ model: await modelDto(db, model), modelVersions: versions, pagination });
  });

  app.post(ROUTES.modelVersions, async (c) => {
    const body = await readBody(c, postVersionBody);
    // The path names the model; a `modelName` in the body is ignored, as upstream.
    return c.json({
      modelVersion: await registerVersion(deps, c.get('user'), modelParam(c), body),
    });
  });

  app.get(ROUTES.modelVersion, async (c) => {
    const { model, version } = await findModelVersion(deps, modelParam(c), versionParam(c));
    return c.json({ modelVersion: await versionDto(db, model, version) });
  });

  app.patch(ROUTES.modelVersion, async (c) => {
    const body = await readBody(c, patchVersionBody);
    return c.json({
      modelVersion: await patchVersion(deps, modelParam(c), versionParam(c), body),
    });
  });

  app.delete(ROUTES.modelVersion, async (c) => {
    await readBody(c, noBody);
    await deleteVersion(deps, c.get('user'), modelParam(c), versionParam(c));
    return c.json({});
  });

  app.get(ROUTES.modelVersionMetrics, async (c) => {
    const filter = sourceFilter(c);
    const { version } = await findModelVersion(deps, modelParam(c), versionParam(c));
    return c.json({
      metrics: await sourceTrialMetrics(deps, { modelVersionId: version.id }, filter),
    });
  });

  app.get(ROUTES.modelAliases, async (c) =>
    c.json({ aliases: await listAliases(deps, modelParam(c)) }),
  );

  app.get(ROUTES.modelAlias, async (c) =>
    c.json({ alias: await getAlias(deps, modelParam(c), c.req.param('alias')) }),
  );

  app.put(ROUTES.modelAlias, async (c) => {
    const body = await readBody(c, putAliasBody);
    const alias = await setAlias(deps, c.get('user'), modelParam(c), c.req.param('alias'), body);
    return c.json({ alias });
  });

  app.delete(ROUTES.modelAlias, async (c) => {
    await readBody(c, noBody);
    await removeAlias(deps, c.get('user'), modelParam(c), c.req.param('alias'));
    return c.json({});
  });

  app.get(ROUTES.modelAliasHistory, async (c) => {
    const alias = queryOne(c, 'alias');
    return c.json(
      await aliasHistory(deps, modelParam(c), {
        ...(alias === undefined ? {} : { alias }),
        ...paging(c),
      }),
    );
  });

  return app;
}
