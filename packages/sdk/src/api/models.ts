import { ROUTES } from '@determined-ts/api';
import type {
  JsonObject,
  ModelSortBy,
  ModelVersionSortBy,
  PatchModelRequest,
  PatchModelVersionRequest,
  PostModelRequest,
  PostModelVersionRequest,
} from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodePagination } from '../decode.js';
import { array, date, int, object, optionalArray, string } from '../decode-fields.js';
import { decodeModel, decodeModelVersion, optStrings } from '../decode-registry.js';
import type { ModelData, ModelVersionData } from '../decode-registry.js';
import type { Pagination } from '../models.js';
import { modelPath, orderQuery, readAllPages, versionSegment } from './registry-common.js';
import type { ModelRef, Query, Signal } from './registry-common.js';

/*
 * The model registry (`/api/v1/models…`), as Determined's REST API spells it. Every function
 * takes a model by name or numeric id; a version by number, or (Determined-TS masters) by alias
 * or `latest`. The aliases themselves are in model-aliases.ts.
 */

export {
  decodeModel,
  decodeModelAlias,
  decodeModelAliasEvent,
  decodeModelVersion,
} from '../decode-registry.js';
export type {
  ModelAlias,
  ModelAliasEvent,
  ModelData,
  ModelVersionData,
} from '../decode-registry.js';
export {
  getModelAlias,
  getModelAliasHistory,
  listModelAliases,
  removeModelAlias,
  setModelAlias,
} from './model-aliases.js';
export type { ModelAliasHistoryOptions } from './model-aliases.js';
export { hasModelAliases } from './registry-common.js';
export type { ModelRef } from './registry-common.js';

export interface CreateModelOptions extends Signal {
  name: string;
  /** @default '' */
  description?: string;
  /** @default {} */
  metadata?: JsonObject;
  /** @default [] */
  labels?: string[];
  /** Markdown readme. @default '' */
  notes?: string;
  /** @default 'Uncategorized' (workspace 1) */
  workspaceName?: string;
}

/**
 * Creates a model. An `ApiError` with status 400 for an invalid name (blank, two spaces in a
 * row, `/` or `\`, all digits), 409 when the name is taken (names are case-sensitive).
 */
export async function createModel(client: Client, options: CreateModelOptions): Promise<ModelData> {
  const body: PostModelRequest = {
    name: options.name,
    description: options.description ?? null,
    metadata: options.metadata ?? null,
    labels: options.labels ?? null,
    notes: options.notes ?? null,
    workspaceName: options.workspaceName ?? null,
  };
  return client.request('POST', ROUTES.models, {
    body,
    signal: options.signal,
    decode: (res) => decodeModel(res.model),
  });
}

/** Fetches a model by name or id; a missing one is an `ApiError` with status 404. */
export async function getModel(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<ModelData> {
  return client.request('GET', modelPath(ROUTES.model, nameOrId), {
    signal: options.signal,
    decode: (res) => decodeModel(res.model),
  });
}

export interface ListModelsOptions extends Signal {
  /** @default the master's: 'SORT_BY_UNSPECIFIED' (by id) */
  sortBy?: ModelSortBy;
  /** @default 'asc' */
  orderBy?: 'asc' | 'desc';
  /** Case-insensitive substring of the name. */
  name?: string;
  /** Case-insensitive substring of the description. */
  description?: string;
  modelId?: number;
  /** Models carrying any of these labels. */
  labels?: readonly string[];
  /** `true`: only archived ones; `false`: only the others. @default both */
  archived?: boolean;
  /** Creators' usernames. */
  users?: readonly string[];
  workspaceNames?: readonly string[];
  /** Wins over `workspaceNames`. */
  workspaceIds?: readonly number[];
  /** @default 0 */
  offset?: number;
  /** Rows per page; `listModels` reads every page of this size. @default the master's (all) */
  limit?: number;
}

function modelsQuery(options: ListModelsOptions): Query {
  return {
    sortBy: options.sortBy,
    orderBy: orderQuery(options.orderBy),
    name: options.name,
    description: options.description,
    id: options.modelId,
    labels: options.labels,
    archived: options.archived === undefined ? undefined : String(options.archived),
    users: options.users,
    workspaceNames: options.workspaceNames,
    workspaceIds: options.workspaceIds,
  };
}

/** One page of models matching the filters. */
export async function listModelsPage(
  client: Client,
  options: ListModelsOptions = {},
): Promise<{ models: ModelData[]; pagination: Pagination }> {
  return client.request('GET', ROUTES.models, {
    query: { ...modelsQuery(options), offset: options.offset, limit: options.limit },
    signal: options.signal,
    decode: (res) => ({
      models: array(res.models, 'models').map((m, i) => decodeModel(m, `models[${i}]`)),
      pagination: decodePagination(res.pagination),
    }),
  });
}

/** Every model matching the filters (archived ones too unless `archived` says), page by page. */
export async function listModels(
  client: Client,
  options: ListModelsOptions = {},
): Promise<ModelData[]> {
  return readAllPages(client, ROUTES.models, modelsQuery(options), options, async (query) => {
    const { models, pagination } = await listModelsPage(client, {
      ...options,
      offset: query.offset as number,
    });
    return { items: models, pagination };
  });
}

/** Every label of the models, the most used first. */
export async function getModelLabels(
  client: Client,
  options: Signal & { workspaceId?: number } = {},
): Promise<string[]> {
  return client.request('GET', ROUTES.modelLabels, {
    query: { workspaceId: options.workspaceId },
    signal: options.signal,
    decode: (res) => optStrings(res.labels, 'labels'),
  });
}

/**
 * Changes the given fields of a model (`metadata` and `labels` replace the stored ones) and
 * returns the model. An `ApiError` 400 when the model is archived. Determined's master answers
 * with zeros in `id`, `userId`, `workspaceId` and `numVersions`; ours with the whole model.
 */
export async function patchModel(
  client: Client,
  nameOrId: ModelRef,
  patch: PatchModelRequest,
  options: Signal = {},
): Promise<ModelData> {
  return client.request('PATCH', modelPath(ROUTES.model, nameOrId), {
    body: patch,
    signal: options.signal,
    decode: (res) => decodeModel(res.model),
  });
}

/** Archives a model (idempotent): it stays readable but takes no new versions or patches. */
export async function archiveModel(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<void> {
  await client.request('POST', modelPath(ROUTES.modelArchive, nameOrId), options);
}

/** Unarchives a model (idempotent). */
export async function unarchiveModel(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<void> {
  await client.request('POST', modelPath(ROUTES.modelUnarchive, nameOrId), options);
}

/**
 * Deletes a model with its versions (never their checkpoints), and its aliases. An `ApiError`
 * 403 unless the caller is an admin or the model's creator.
 */
export async function deleteModel(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<void> {
  await client.request('DELETE', modelPath(ROUTES.model, nameOrId), options);
}

// ---------------------------------------------------------------------------------------------
// Versions.

export interface RegisterModelVersionOptions extends Signal {
  name?: string;
  comment?: string;
  metadata?: JsonObject;
  labels?: string[];
  notes?: string;
}

/**
 * Registers a COMPLETED checkpoint as the model's next version (1 + the highest number). An
 * `ApiError` 404 for an unknown checkpoint, 400 when it is not COMPLETED or the model is
 * archived. The same checkpoint may be registered any number of times.
 */
export async function registerModelVersion(
  client: Client,
  nameOrId: ModelRef,
  checkpointUuid: string,
  options: RegisterModelVersionOptions = {},
): Promise<ModelVersionData> {
  const body: PostModelVersionRequest = {
    checkpointUuid,
    ...(typeof nameOrId === 'string' ? { modelName: nameOrId } : {}),
    name: options.name ?? null,
    comment: options.comment ?? null,
    metadata: options.metadata ?? null,
    labels: options.labels ?? null,
    notes: options.notes ?? null,
  };
  return client.request('POST', modelPath(ROUTES.modelVersions, nameOrId), {
    body,
    signal: options.signal,
    decode: (res) => decodeModelVersion(res.modelVersion),
  });
}

/**
 * Fetches one version: by number, or (Determined-TS masters) by alias or `latest`. A missing
 * version or alias is an `ApiError` 404; an alias against a master without model aliases is an
 * `UnsupportedFeatureError`.
 */
export async function getModelVersion(
  client: Client,
  nameOrId: ModelRef,
  versionOrAlias: number | string,
  options: Signal = {},
): Promise<ModelVersionData> {
  const version = await versionSegment(client, versionOrAlias, options);
  return client.request(
    'GET',
    modelPath(ROUTES.modelVersion, nameOrId, { modelVersionNum: version }),
    {
      signal: options.signal,
      decode: (res) => decodeModelVersion(res.modelVersion),
    },
  );
}

/** The version with the highest number, or `null` when the model has none. */
export async function getLatestModelVersion(
  client: Client,
  nameOrId: ModelRef,
  options: Signal = {},
): Promise<ModelVersionData | null> {
  const { modelVersions } = await listModelVersionsPage(client, nameOrId, {
    sortBy: 'SORT_BY_VERSION',
    orderBy: 'desc',
    limit: 1,
    signal: options.signal,
  });
  return modelVersions[0] ?? null;
}

export interface ListModelVersionsOptions extends Signal {
  /** @default 'SORT_BY_VERSION' (the master's default) */
  sortBy?: ModelVersionSortBy;
  /** @default 'asc' (the master's default) */
  orderBy?: 'asc' | 'desc';
  /** @default 0 */
  offset?: number;
  /** Rows per page; `listModelVersions` reads every page of this size. @default all */
  limit?: number;
}

function versionsQuery(options: ListModelVersionsOptions): Query {
  return { sortBy: options.sortBy, orderBy: orderQuery(options.orderBy) };
}

/** One page of a model's versions, with the model. */
export async function listModelVersionsPage(
  client: Client,
  nameOrId: ModelRef,
  options: ListModelVersionsOptions = {},
): Promise<{ model: ModelData; modelVersions: ModelVersionData[]; pagination: Pagination }> {
  return client.request('GET', modelPath(ROUTES.modelVersions, nameOrId), {
    query: { ...versionsQuery(options), offset: options.offset, limit: options.limit },
    signal: options.signal,
    decode: (res) => {
      const model = decodeModel(res.model);
      const modelVersions = array(res.modelVersions, 'modelVersions').map((v, i) => {
        const version = decodeModelVersion(v, `modelVersions[${i}]`);
        // Determined's master sends each version's model with workspaceId 0: the top one is right.
        return version.model.id === model.id ? { ...version, model } : version;
      });
      return { model, modelVersions, pagination: decodePagination(res.pagination) };
    },
  });
}

/** Every version of a model, page by page. */
export async function listModelVersions(
  client: Client,
  nameOrId: ModelRef,
  options: ListModelVersionsOptions = {},
): Promise<ModelVersionData[]> {
  const path = modelPath(ROUTES.modelVersions, nameOrId);
  return readAllPages(client, path, versionsQuery(options), options, async (query) => {
    const page = await listModelVersionsPage(client, nameOrId, {
      ...options,
      offset: query.offset as number,
    });
    return { items: page.modelVersions, pagination: page.pagination };
  });
}

/**
 * Changes the given fields of a version (`metadata` and `labels` replace the stored ones) and
 * returns it. The version is a number, or an alias on Determined-TS masters.
 */
export async function patchModelVersion(
  client: Client,
  nameOrId: ModelRef,
  versionOrAlias: number | string,
  patch: PatchModelVersionRequest,
  options: Signal = {},
): Promise<ModelVersionData> {
  const version = await versionSegment(client, versionOrAlias, options);
  return client.request(
    'PATCH',
    modelPath(ROUTES.modelVersion, nameOrId, { modelVersionNum: version }),
    { body: patch, signal: options.signal, decode: (res) => decodeModelVersion(res.modelVersion) },
  );
}

/**
 * Deletes a version (never its checkpoint). An `ApiError` 403 unless the caller is an admin, its
 * registrant or the model's creator; 400 while an alias points at it.
 */
export async function deleteModelVersion(
  client: Client,
  nameOrId: ModelRef,
  versionOrAlias: number | string,
  options: Signal = {},
): Promise<void> {
  const version = await versionSegment(client, versionOrAlias, options);
  await client.request(
    'DELETE',
    modelPath(ROUTES.modelVersion, nameOrId, { modelVersionNum: version }),
    options,
  );
}

/** A metrics report of a trial that used a model version (an inference or fine-tuning task). */
export interface SourceTrialMetrics {
  trialId: number;
  trialRunId: number;
  stepsCompleted: number;
  endTime: Date;
  group: string;
  /** The averaged metrics (the validation metrics for the `validation` group). */
  metrics: JsonObject;
}

function decodeSourceTrialMetrics(value: unknown, field: string): SourceTrialMetrics {
  const report = object(value, field);
  const group = string(report.group, `${field}.group`);
  const all = object(report.metrics, `${field}.metrics`);
  const key = group === 'validation' ? 'validation_metrics' : 'avg_metrics';
  return {
    trialId: int(report.trialId, `${field}.trialId`),
    trialRunId: int(report.trialRunId, `${field}.trialRunId`),
    stepsCompleted: int(report.totalBatches, `${field}.totalBatches`),
    endTime: date(report.endTime, `${field}.endTime`),
    group,
    metrics: all[key] === undefined ? {} : object(all[key], `${field}.metrics.${key}`),
  };
}

/**
 * What the trials that used a model version reported (Determined's `iter_metrics`): tasks link
 * themselves with `POST /api/v1/trial-source-info`. `group` narrows to one metric group; `type`
 * to inference or fine-tuning tasks (default: both).
 */
export async function getModelVersionMetrics(
  client: Client,
  nameOrId: ModelRef,
  versionOrAlias: number | string,
  options: Signal & { group?: string; type?: 'inference' | 'fine-tuning' } = {},
): Promise<SourceTrialMetrics[]> {
  const version = await versionSegment(client, versionOrAlias, options);
  const type =
    options.type === undefined
      ? undefined
      : options.type === 'inference'
        ? 'TRIAL_SOURCE_INFO_TYPE_INFERENCE'
        : 'TRIAL_SOURCE_INFO_TYPE_FINE_TUNING';
  return client.request(
    'GET',
    modelPath(ROUTES.modelVersionMetrics, nameOrId, { modelVersionNum: version }),
    {
      signal: options.signal,
      query: { metricGroup: options.group, trialSourceInfoType: type },
      decode: (body) =>
        optionalArray(body.metrics, 'metrics').map((m, i) =>
          decodeSourceTrialMetrics(m, `metrics[${i}]`),
        ),
    },
  );
}
