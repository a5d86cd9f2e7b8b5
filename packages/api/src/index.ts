export {
  CHECKPOINT_SORT_BY,
  CHECKPOINT_STATES,
  EXPERIMENT_SORT_BY,
  EXPERIMENT_STATES,
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  METRIC_TYPES,
  ORDER_BY,
  TERMINAL_TRIAL_STATES,
  TRIAL_SORT_BY,
  TRIAL_STATES,
} from './enums.js';
export type {
  CheckpointSortBy,
  CheckpointState,
  ExperimentSortBy,
  ExperimentState,
  MetricType,
  OrderBy,
  TrialSortBy,
  TrialState,
} from './enums.js';
export { ERROR_CODES, errorCodeFromReason } from './errors.js';
export type { ErrorBody, ErrorCode } from './errors.js';
export {
  CLIENT_PASSWORD_SALT,
  clientHashPassword,
  decodeDouble,
  decodeInt64,
  encodeDouble,
  encodeTimestamp,
} from './json.js';
export { ARCHIVE_MEDIA_TYPES, ROUTES } from './routes.js';
export type { ArchiveMediaType } from './routes.js';
export { CHECKPOINT_ORDERING_RULES } from './wire.js';
export type {
  CheckpointDto,
  CheckpointMarkerDto,
  CheckpointMarkersResponse,
  CompareTrialsResponse,
  DataPointDto,
  DownsampledMetricsDto,
  CheckpointTrainingMetadata,
  CheckpointWorkload,
  CheckpointDownloadUrlDto,
  CheckpointDownloadUrlsDto,
  DeterminedTsInfo,
  ExperimentDto,
  Int64String,
  JsonObject,
  LoginRequest,
  LoginResponse,
  MasterInfoDto,
  Metrics,
  MetricSummary,
  MetricsReportDto,
  MetricsWorkload,
  Pagination,
  ReportTrialMetricsRequest,
  Timestamp,
  TrialDto,
  TrialLogDto,
  TrialMetrics,
  TrialSummaryMetrics,
  UserDto,
  WireDouble,
} from './wire.js';
