import type { CheckpointState, ExperimentState, MetricType, TrialState } from './enums.js';

/** A JSON object with free-form keys (a `google.protobuf.Struct` on the wire). */
export type JsonObject = { [key: string]: unknown };

/** int64 values travel as decimal strings. */
export type Int64String = string;

/** A double on the wire: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`. */
export type WireDouble = number | 'NaN' | 'Infinity' | '-Infinity';

/** RFC 3339 UTC timestamp, e.g. `2025-01-01T00:00:00.123Z`. */
export type Timestamp = string;

/** `commonv1.Metrics`: the averaged metrics of a report, plus per-batch ones. */
export interface Metrics {
  avgMetrics: JsonObject | null;
  batchMetrics: JsonObject[];
}

/** `commonv1.Pagination`. */
export interface Pagination {
  offset: number;
  limit: number;
  startIndex: number;
  endIndex: number;
  total: number;
}

/** `checkpointv1.CheckpointTrainingMetadata`. */
export interface CheckpointTrainingMetadata {
  trialId?: number;
  experimentId?: number;
  experimentConfig: JsonObject | null;
  hparams: JsonObject | null;
  trainingMetrics: Metrics;
  validationMetrics: Metrics;
  /** The raw (unsigned) value of the searcher metric at this checkpoint's step. */
  searcherMetric?: WireDouble;
}

/** `checkpointv1.Checkpoint`, plus our `digests` and `crc32c` extensions. */
export interface CheckpointDto {
  uuid: string;
  taskId: string;
  allocationId?: string;
  reportTime: Timestamp;
  /** Relative path → size in bytes; directories end with `/` and have size `"0"`. */
  resources: Record<string, Int64String>;
  metadata: JsonObject;
  state: CheckpointState;
  training: CheckpointTrainingMetadata;
  storageId?: number;
  /**
   * Determined-TS extension: relative path → lowercase hex sha256 of the file's bytes, for the
   * files whose digest the reporter computed. Determined's own master ignores this field.
   */
  digests?: Record<string, string>;
  /**
   * Determined-TS extension: relative path → CRC32C (Castagnoli) of the file's bytes, as 8
   * lowercase hex digits, for the files whose checksum the reporter computed. Combinable, so
   * ranged downloads verify it while they stream.
   */
  crc32c?: Record<string, string>;
}

/** `userv1.User`. */
export interface UserDto {
  id: number;
  username: string;
  admin: boolean;
  active: boolean;
  displayName: string;
  agentUserGroup: null;
  remote: boolean;
  modifiedAt: Timestamp;
  lastAuthAt?: Timestamp;
}

/** `POST /api/v1/auth/login` request. */
export interface LoginRequest {
  username: string;
  password: string;
  /** True when `password` is already the client-side salted hash (see `clientHashPassword`). */
  isHashed?: boolean;
}

export interface LoginResponse {
  token: string;
  user: UserDto;
}

/**
 * What an access token may do: Determined-TS's extension of Determined's access tokens, which
 * can do everything their user can. `full` is that; the others narrow it (see the master's
 * `auth/scopes.ts` for the exact routes).
 */
export const TOKEN_SCOPES = ['full', 'read-only', 'download-only', 'report-only'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** `userv1.TokenInfo`, plus our `scope`. */
export interface TokenInfoDto {
  id: number;
  userId: number;
  expiry: Timestamp;
  createdAt: Timestamp;
  tokenType: 'TOKEN_TYPE_ACCESS_TOKEN';
  revoked: boolean;
  description: string;
  scope: TokenScope;
}

/** `POST /api/v1/tokens` request; `scope` is ours. */
export interface PostAccessTokenRequest {
  userId: number;
  /** A Go duration (`72h`, `90m`), or `-1` for the longest the master allows. */
  lifespan?: string;
  description?: string;
  scope?: TokenScope;
}

export interface PostAccessTokenResponse {
  token: string;
  tokenId: number;
}

export interface GetAccessTokensResponse {
  tokenInfo: TokenInfoDto[];
  pagination: Pagination;
}

/** `PATCH /api/v1/tokens/{id}` request. */
export interface PatchAccessTokenRequest {
  tokenId?: number;
  description?: string | null;
  setRevoked?: boolean;
}

export interface PatchAccessTokenResponse {
  tokenInfo: TokenInfoDto;
}

/** `trialv1.Trial`. */
export interface TrialDto {
  id: number;
  experimentId: number;
  startTime: Timestamp;
  endTime?: Timestamp;
  state: TrialState;
  restarts: number;
  hparams: JsonObject;
  totalBatchesProcessed: number;
  bestValidation: MetricsWorkload | null;
  latestValidation: MetricsWorkload | null;
  bestCheckpoint: CheckpointWorkload | null;
  runnerState: string;
  wallClockTime: number;
  warmStartCheckpointUuid: string;
  taskId: string;
  taskIds: string[];
  totalCheckpointSize: Int64String;
  checkpointCount: number;
  summaryMetrics: TrialSummaryMetrics | null;
  /** The best validation's searcher metric, raw (not sign-flipped). */
  searcherMetricValue?: WireDouble;
  externalTrialId?: string;
}

/** `trialv1.MetricsWorkload`. */
export interface MetricsWorkload {
  endTime: Timestamp;
  totalBatches: number;
  numInputs: number;
  metrics: Metrics;
}

/** `trialv1.CheckpointWorkload`. */
export interface CheckpointWorkload {
  uuid: string;
  endTime: Timestamp;
  state: CheckpointState;
  resources: Record<string, Int64String>;
  totalBatches: number;
  metadata: JsonObject;
}

/** `experimentv1.Experiment`. */
export interface ExperimentDto {
  id: number;
  name: string;
  description: string;
  labels: string[];
  startTime: Timestamp;
  endTime?: Timestamp;
  state: ExperimentState;
  archived: boolean;
  numTrials: number;
  trialIds: number[];
  displayName: string;
  userId: number;
  username: string;
  resourcePool: string;
  searcherType: string;
  searcherMetric: string;
  hyperparameters: JsonObject;
  notes: string;
  jobId: string;
  forkedFrom: number | null;
  progress: number | null;
  projectId: number;
  projectName: string;
  workspaceId: number;
  workspaceName: string;
  parentArchived: boolean;
  config: JsonObject;
  originalConfig: string;
  projectOwnerId: number;
  checkpointSize: Int64String;
  checkpointCount: number;
  bestTrialSearcherMetric?: WireDouble;
  bestTrialId?: number;
  unmanaged: boolean;
  externalExperimentId?: string;
}

/** `POST /api/v1/trials/{id}/metrics` body (`ReportTrialMetricsRequest`). */
export interface ReportTrialMetricsRequest {
  group: string;
  metrics: TrialMetrics;
}

/** `trialv1.TrialMetrics`. */
export interface TrialMetrics {
  trialId: number;
  trialRunId: number;
  stepsCompleted?: number;
  reportTime?: Timestamp | null;
  metrics: { avgMetrics: JsonObject; batchMetrics?: JsonObject[] | null };
}

/** `trialv1.MetricsReport`, as streamed by `GET /api/v1/trials/metrics/trial_metrics`. */
export interface MetricsReportDto {
  id: number;
  trialId: number;
  trialRunId: number;
  totalBatches: number;
  endTime: Timestamp;
  metrics: JsonObject;
  group: string;
  archived: boolean;
  runId: number;
}

/** `GET /api/v1/master`. `determinedTs` is our extension; see {@link DeterminedTsInfo}. */
export interface MasterInfoDto {
  version: string;
  masterId: string;
  clusterId: string;
  clusterName: string;
  telemetryEnabled: boolean;
  hasCustomLogo: boolean;
  externalLoginUri: string;
  externalLogoutUri: string;
  branding: string;
  rbacEnabled: boolean;
  strictJobQueueControl: boolean;
  product: string;
  userManagementEnabled: boolean;
  featureSwitches: string[];
  clusterMessage: null;
  ssoProviders: unknown[];
  determinedTs: DeterminedTsInfo;
}

/**
 * What a Determined-TS master promises beyond Determined's API. A client that sees
 * `checkpointOrdering === CHECKPOINT_ORDERING_RULES` may ask the server for the best or latest
 * checkpoint with `limit=1`; against any other master it must sort for itself.
 */
export interface DeterminedTsInfo {
  checkpointOrdering: string;
  checkpointDigests: boolean;
  /** `GET /api/v1/checkpoints/{uuid}/download-urls` is served (see CheckpointDownloadUrlsDto). */
  checkpointDownloadUrls?: boolean;
  /** Access tokens take a `scope` (see {@link TokenScope}). */
  accessTokenScopes?: boolean;
  /** Models have aliases (`/api/v1/models/{model}/aliases`), accepted wherever a version number is. */
  modelAliases?: boolean;
}

/** One object of a checkpoint and the URL that reads it; directories have no URL. */
export interface CheckpointDownloadUrlDto {
  /** Checkpoint-relative, `/`-separated; directories end with `/`. */
  path: string;
  /** Size in bytes, as a decimal string (int64 on the wire). */
  size: string;
  /** What pins the bytes (an ETag, a GCS generation); send it as `If-Match` for s3 and azure. */
  version?: string;
  /** The store's CRC32C of the whole object, 8 lowercase hex digits, where it keeps one. */
  crc32c?: string;
  url?: string;
}

/**
 * `GET /api/v1/checkpoints/{uuid}/download-urls` (a Determined-TS extension): URLs that read the
 * checkpoint's objects straight from its object store with no credentials (S3 presigned, GCS V4
 * signed, Azure SAS), valid until `expiresAt`, for clients that hold no storage credentials.
 */
export interface CheckpointDownloadUrlsDto {
  /** The checkpoint's storage type: s3, gcs or azure. */
  storageType: string;
  /** Where the checkpoint is (`s3://bucket/prefix/<uuid>`); never a URL with credentials. */
  location: string;
  /** RFC 3339; the earliest expiry of the URLs. */
  expiresAt: string;
  objects: CheckpointDownloadUrlDto[];
}

/**
 * Version tag of the checkpoint-ordering rules in DESIGN.md ("Semantics we define"):
 * searcher direction when no orderBy, missing or non-finite values last in both directions,
 * ties by larger steps_completed, later reportTime, then smaller uuid.
 */
export const CHECKPOINT_ORDERING_RULES = 'determined-ts/1';

/**
 * What a trial has reported per metric, keyed by `avg_metrics` (the training group),
 * `validation_metrics` (the validation group) or the name of a custom group, then by metric name.
 */
export type TrialSummaryMetrics = Record<string, Record<string, MetricSummary>>;

/**
 * One metric's summary. `type` is `number`, `string`, `boolean`, `date`, `object`, `array` or
 * `null` (a metric reported with two types becomes `string`); the statistics are for numbers only.
 */
export interface MetricSummary {
  type: string;
  count?: number;
  sum?: WireDouble;
  min?: WireDouble;
  max?: WireDouble;
  mean?: WireDouble;
  /** The value of the latest report. */
  last?: unknown;
}

/** `experimentv1.DataPoint`: one (possibly downsampled) report. */
export interface DataPointDto {
  batches: number;
  /** The requested metrics at this report; a metric the report lacks is absent. */
  values: JsonObject;
  time: Timestamp;
  epoch?: number;
}

/** `trialv1.DownsampledMetrics`: one metric group's series. */
export interface DownsampledMetricsDto {
  data: DataPointDto[];
  type: MetricType;
  group: string;
}

/** `GET /api/v1/trials/time-series` (Determined's CompareTrials) response. */
export interface CompareTrialsResponse {
  trials: { trial: TrialDto; metrics: DownsampledMetricsDto[] }[];
}

/** Determined-TS extension: one checkpoint's place on a trial's curves. */
export interface CheckpointMarkerDto {
  uuid: string;
  stepsCompleted: number;
  state: CheckpointState;
  reportTime: Timestamp;
  size: Int64String;
  /** The raw searcher metric of the validation at this step, when there is one. */
  searcherMetric?: WireDouble;
}

/**
 * `GET /api/v1/trials/{id}/checkpoint-markers` response: the checkpoints (not DELETED) in step
 * order, thinned to at most `maxMarkers` (one per step bucket, the best by the searcher metric,
 * and always the best and the latest COMPLETED ones); `total` counts them before thinning.
 */
export interface CheckpointMarkersResponse {
  markers: CheckpointMarkerDto[];
  total: number;
}

/** One line of `GET /api/v1/trials/{id}/logs` (`TrialLogsResponse`). */
export interface TrialLogDto {
  id: string;
  trialId: number;
  timestamp: Timestamp;
  message: string;
  level: string;
  log: string;
  rankId?: number;
  stdtype?: string;
}
