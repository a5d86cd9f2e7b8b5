import type { CheckpointDto, JsonObject, Pagination, Timestamp } from './wire.js';

/** `GetModels` sort keys (`modelv1.GetModelsRequest.SortBy`); there is no value 3 upstream. */
export const MODEL_SORT_BY = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_NAME',
  'SORT_BY_DESCRIPTION',
  'SORT_BY_CREATION_TIME',
  'SORT_BY_LAST_UPDATED_TIME',
  'SORT_BY_NUM_VERSIONS',
  'SORT_BY_WORKSPACE',
] as const;
export type ModelSortBy = (typeof MODEL_SORT_BY)[number];

/** `GetModelVersions` sort keys. */
export const MODEL_VERSION_SORT_BY = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_VERSION',
  'SORT_BY_CREATION_TIME',
] as const;
export type ModelVersionSortBy = (typeof MODEL_VERSION_SORT_BY)[number];

/**
 * Alias names: lowercase, starting with a letter, at most 64 characters of `a-z 0-9 _ -`.
 * Never all digits (a version number) and never `latest`, which every version path accepts as
 * "the highest version".
 */
export const ALIAS_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
/** The version segment that always means the model's highest version number. */
export const LATEST_VERSION_ALIAS = 'latest';

/** `modelv1.Model`. Every integer is int32 (a plain JSON number). */
export interface ModelDto {
  id: number;
  name: string;
  description: string;
  /** Markdown readme of the model. */
  notes: string;
  metadata: JsonObject;
  labels: string[];
  creationTime: Timestamp;
  lastUpdatedTime: Timestamp;
  numVersions: number;
  /** The creator. */
  userId: number;
  username: string;
  workspaceId: number;
  archived: boolean;
}

/** `modelv1.ModelVersion`. */
export interface ModelVersionDto {
  /** Global id across every model; not the version number. */
  id: number;
  /** Per-model number: 1 + the highest existing one. */
  version: number;
  model: ModelDto;
  /** Exactly what `GET /api/v1/checkpoints/{uuid}` answers. */
  checkpoint: CheckpointDto;
  creationTime: Timestamp;
  lastUpdatedTime: Timestamp;
  name: string;
  comment: string;
  notes: string;
  metadata: JsonObject;
  labels: string[];
  /** The user who registered it. */
  userId: number;
  username: string;
  /** Determined-TS extension: the aliases that point at this version, sorted by name. */
  aliases?: string[];
}

/** `POST /api/v1/models`. `null` means "not given" for every field. */
export interface PostModelRequest {
  name: string;
  description?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
  notes?: string | null;
  workspaceName?: string | null;
  workspaceId?: number | null;
}

/** `PATCH /api/v1/models/{model}`: the whole body; absent or `null` leaves a field unchanged. */
export interface PatchModelRequest {
  name?: string | null;
  description?: string | null;
  notes?: string | null;
  /** Replaces the stored object. */
  metadata?: JsonObject | null;
  /** Replaces the stored labels (duplicates dropped, first kept). */
  labels?: string[] | null;
  workspaceName?: string | null;
  /** Wins over `workspaceName`. */
  workspaceId?: number | null;
}

/** `POST /api/v1/models/{model}/versions`. The path's model wins over `modelName`. */
export interface PostModelVersionRequest {
  checkpointUuid: string;
  modelName?: string | null;
  name?: string | null;
  comment?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
  notes?: string | null;
}

/** `PATCH /api/v1/models/{model}/versions/{version}`; a `checkpoint` field is ignored. */
export interface PatchModelVersionRequest {
  name?: string | null;
  comment?: string | null;
  notes?: string | null;
  metadata?: JsonObject | null;
  labels?: string[] | null;
}

export interface GetModelResponse {
  model: ModelDto;
}
export interface GetModelsResponse {
  models: ModelDto[];
  pagination: Pagination;
}
export interface GetModelLabelsResponse {
  labels: string[];
}
export interface GetModelVersionResponse {
  modelVersion: ModelVersionDto;
}
export interface GetModelVersionsResponse {
  model: ModelDto;
  modelVersions: ModelVersionDto[];
  pagination: Pagination;
}

/** Determined-TS extension: a named pointer from a model to one of its versions. */
export interface ModelAliasDto {
  alias: string;
  /** The version number it points at. */
  version: number;
  /** The global id of that version. */
  modelVersionId: number;
  /** When it was last set or moved, and by whom. */
  updatedTime: Timestamp;
  userId: number;
  username: string;
}

/** Determined-TS extension: one change of an alias. `fromVersion` null = created, `toVersion` null = removed. */
export interface ModelAliasEventDto {
  id: number;
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  time: Timestamp;
  userId: number;
  username: string;
}

/** `PUT /api/v1/models/{model}/aliases/{alias}`: point the alias at `version` (creates or moves it). */
export interface PutModelAliasRequest {
  version: number;
  /**
   * Compare-and-set: when given, the alias must currently point at this version (`0` = must
   * not exist yet), else 400 FailedPrecondition and nothing changes.
   */
  expectedVersion?: number | null;
}
export interface PutModelAliasResponse {
  alias: ModelAliasDto;
}
export interface GetModelAliasesResponse {
  aliases: ModelAliasDto[];
}
/** Newest first. */
export interface GetModelAliasHistoryResponse {
  events: ModelAliasEventDto[];
  pagination: Pagination;
}
