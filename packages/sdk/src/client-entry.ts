// The browser-safe part of the SDK: no Node built-ins are reachable from here.
export { createClient, createApiError } from './client.js';
export type {
  BodyOpener,
  Client,
  ClientOptions,
  FetchLike,
  RequestOptions,
  RetryPolicy,
  StreamedResponse,
} from './client.js';
export {
  getCheckpoint,
  getCheckpointDownloadUrls,
  listCheckpoints,
  listCheckpointsPage,
} from './api/checkpoints.js';
export type {
  CheckpointSort,
  CheckpointSortAttr,
  ListCheckpointsOptions,
} from './api/checkpoints.js';
export { BULK_DELETE_STATES, bulkDeleteCheckpoints } from './api/bulk-delete.js';
export type { BulkDeleteRequest, BulkDeleteResult, BulkDeleteState } from './api/bulk-delete.js';
export { listExperiments, listTrials } from './api/experiments.js';
export { previewGc, setGcPolicy } from './api/gc.js';
export { reconcileStorage } from './api/storage.js';
export type {
  CheckpointFileMismatch,
  ReconcileResult,
  ReconcileStorageOptions,
  StorageOrphan,
} from './api/storage.js';
export type { GcCheckpoint, GcPolicy, GcPreview, GcResult, GcSummary } from './api/gc.js';
export type { ExperimentSortKey, ListExperimentsOptions, TrialSortKey } from './api/experiments.js';
export { getCheckpointMarkers, getTrialLogs, getTrialMetricSeries } from './api/metrics.js';
export type { MetricSeriesOptions, TrialLogsOptions } from './api/metrics.js';
export { getExperiment, getMasterInfo, getTrial } from './api/trials.js';
export { createAccessToken, listAccessTokens, patchAccessToken } from './api/tokens.js';
export type {
  AccessTokenInfo,
  CreateAccessTokenOptions,
  ListAccessTokensOptions,
} from './api/tokens.js';
export { getCurrentUser, login, logout } from './api/users.js';
export {
  archiveModel,
  createModel,
  decodeModel,
  decodeModelAlias,
  decodeModelAliasEvent,
  decodeModelVersion,
  deleteModel,
  deleteModelVersion,
  getLatestModelVersion,
  getModel,
  getModelAlias,
  getModelAliasHistory,
  getModelLabels,
  getModelVersion,
  getModelVersionMetrics,
  hasModelAliases,
  listModelAliases,
  listModels,
  listModelsPage,
  listModelVersions,
  listModelVersionsPage,
  patchModel,
  patchModelVersion,
  registerModelVersion,
  removeModelAlias,
  setModelAlias,
  unarchiveModel,
} from './api/models.js';
export type {
  CreateModelOptions,
  ListModelVersionsOptions,
  ListModelsOptions,
  ModelAlias,
  ModelAliasEvent,
  ModelAliasHistoryOptions,
  ModelData,
  ModelRef,
  ModelVersionData,
  RegisterModelVersionOptions,
  SourceTrialMetrics,
} from './api/models.js';
export {
  decodeCheckpoint,
  decodeCheckpointMarker,
  decodeDataPoint,
  decodeExperiment,
  decodeMetrics,
  decodeTrial,
  decodeTrialLog,
  decodeUser,
} from './decode.js';
export {
  ApiError,
  ArgumentError,
  AuthenticationError,
  CheckpointStateError,
  IntegrityError,
  NetworkError,
  NoCheckpointError,
  StorageError,
  UnexpectedResponseError,
  UnsupportedFeatureError,
} from './errors.js';
export type {
  CheckpointData,
  CheckpointMarker,
  CheckpointState,
  CheckpointTraining,
  CheckpointValidation,
  ExperimentData,
  MetricPoint,
  Metrics,
  Pagination,
  TrialData,
  TrialLogLine,
  TrialState,
  UserData,
  ValidationSummary,
} from './models.js';
export { SELECTION_RULES, checkSelection, pickBest, pickLatest, tieBreak } from './selection.js';
export type { CheckpointSelection, TopCheckpointOptions } from './selection.js';
