/** Paths of the routes the master serves. Parameters are written `:name`. */
export const ROUTES = {
  login: '/api/v1/auth/login',
  logout: '/api/v1/auth/logout',
  me: '/api/v1/me',
  users: '/api/v1/users',
  user: '/api/v1/users/:userId',
  userPassword: '/api/v1/users/:userId/password',
  userByUsername: '/api/v1/users/:username/by-username',
  tokens: '/api/v1/tokens',
  token: '/api/v1/tokens/:tokenId',
  master: '/api/v1/master',
  info: '/info',
  /** Liveness, for load balancers: no database work. */
  health: '/health',
  /** Readiness: the database and the default checkpoint storage answer, not draining. */
  ready: '/ready',
  experiments: '/api/v1/experiments',
  experiment: '/api/v1/experiments/:experimentId',
  experimentByExternalId: '/api/v1/experiments/by-external-id/:externalExperimentId',
  experimentTrials: '/api/v1/experiments/:experimentId/trials',
  experimentCheckpoints: '/api/v1/experiments/:experimentId/checkpoints',
  /** Determined's legacy dry run of a checkpoint GC policy (no `/api/v1`, as upstream). */
  experimentPreviewGc: '/experiments/:experimentId/preview_gc',
  trials: '/api/v1/trials',
  /** Determined's CompareTrials: downsampled metric series of one or more trials. */
  trialsTimeSeries: '/api/v1/trials/time-series',
  trial: '/api/v1/trials/:trialId',
  trialStart: '/api/v1/trials/:trialId/start',
  trialProgress: '/api/v1/trials/:trialId/progress',
  trialMetrics: '/api/v1/trials/:trialId/metrics',
  trialTrainingMetrics: '/api/v1/trials/:trialId/training_metrics',
  trialValidationMetrics: '/api/v1/trials/:trialId/validation_metrics',
  trialCheckpoints: '/api/v1/trials/:trialId/checkpoints',
  /** Determined-TS extension: where a trial's checkpoints sit on its curves (at most `maxMarkers`). */
  trialCheckpointMarkers: '/api/v1/trials/:trialId/checkpoint-markers',
  trialLogs: '/api/v1/trials/:trialId/logs',
  trialMetricsStream: '/api/v1/trials/metrics/trial_metrics',
  trialTrainingMetricsStream: '/api/v1/trials/metrics/training_metrics',
  trialValidationMetricsStream: '/api/v1/trials/metrics/validation_metrics',
  runsStart: '/api/v1/runs/start',
  checkpoints: '/api/v1/checkpoints',
  checkpoint: '/api/v1/checkpoints/:checkpointUuid',
  checkpointsRm: '/api/v1/checkpoints/rm',
  /** Determined-TS extension: delete many checkpoints (named, or of experiments or trials). */
  checkpointsBulkDelete: '/api/v1/checkpoints/bulk-delete',
  /** Determined-TS extension (admins): orphaned files and missing files, both ways; dry run by default. */
  storageReconcile: '/api/v1/storage/reconcile',
  checkpointMetadata: '/api/v1/checkpoints/:checkpointUuid/metadata',
  checkpointMetrics: '/api/v1/checkpoints/:checkpointUuid/metrics',
  checkpointArchive: '/checkpoints/:checkpointUuid',
  /** Links an inference or fine-tuning trial to the checkpoint or model version it used. */
  trialSourceInfo: '/api/v1/trial-source-info',
  /** Determined-TS extension: short-lived URLs that read a checkpoint's objects from its store. */
  checkpointDownloadUrls: '/api/v1/checkpoints/:checkpointUuid/download-urls',
  taskLogs: '/task-logs',
  models: '/api/v1/models',
  model: '/api/v1/models/:modelName',
  modelArchive: '/api/v1/models/:modelName/archive',
  modelUnarchive: '/api/v1/models/:modelName/unarchive',
  modelMove: '/api/v1/models/:modelName/move',
  /** Singular `model`, as Determined spells it. */
  modelLabels: '/api/v1/model/labels',
  modelVersions: '/api/v1/models/:modelName/versions',
  /** `:modelVersionNum` is a version number, or (our extension) an alias or `latest`. */
  modelVersion: '/api/v1/models/:modelName/versions/:modelVersionNum',
  modelVersionMetrics: '/api/v1/models/:modelName/versions/:modelVersionNum/metrics',
  /** Determined-TS extension: a model's aliases. */
  modelAliases: '/api/v1/models/:modelName/aliases',
  modelAlias: '/api/v1/models/:modelName/aliases/:alias',
  modelAliasHistory: '/api/v1/models/:modelName/alias-history',
} as const;

/** Media types `GET /checkpoints/{uuid}` serves, keyed by the `Accept` value that selects them. */
export const ARCHIVE_MEDIA_TYPES = [
  'application/x-tar',
  'application/gzip',
  'application/zip',
] as const;
export type ArchiveMediaType = (typeof ARCHIVE_MEDIA_TYPES)[number];
