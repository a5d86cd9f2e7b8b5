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
export { getCheckpoint, listCheckpoints, listCheckpointsPage } from './api/checkpoints.js';
export type { CheckpointSort, ListCheckpointsOptions } from './api/checkpoints.js';
export { getExperiment, getMasterInfo, getTrial } from './api/trials.js';
export { decodeCheckpoint, decodeExperiment, decodeMetrics, decodeTrial } from './decode.js';
export {
  ApiError,
  ArgumentError,
  AuthenticationError,
  CheckpointStateError,
  IntegrityError,
  NetworkError,
  NoCheckpointError,
  StorageError,
} from './errors.js';
export type {
  CheckpointData,
  CheckpointState,
  CheckpointTraining,
  CheckpointValidation,
  ExperimentData,
  Metrics,
  Pagination,
  TrialData,
  TrialState,
} from './models.js';
export { SELECTION_RULES, checkSelection, pickBest, pickLatest, tieBreak } from './selection.js';
export type { CheckpointSelection, TopCheckpointOptions } from './selection.js';
