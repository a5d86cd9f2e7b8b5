/** Checkpoint states as Determined spells them on the wire (`checkpointv1.State`). */
export const CHECKPOINT_STATES = [
  'STATE_UNSPECIFIED',
  'STATE_ACTIVE',
  'STATE_COMPLETED',
  'STATE_ERROR',
  'STATE_DELETED',
  'STATE_PARTIALLY_DELETED',
] as const;
export type CheckpointState = (typeof CHECKPOINT_STATES)[number];

/** Trial states (`trialv1.State`). */
export const TRIAL_STATES = [
  'STATE_UNSPECIFIED',
  'STATE_ACTIVE',
  'STATE_PAUSED',
  'STATE_STOPPING_CANCELED',
  'STATE_STOPPING_KILLED',
  'STATE_STOPPING_COMPLETED',
  'STATE_STOPPING_ERROR',
  'STATE_CANCELED',
  'STATE_COMPLETED',
  'STATE_ERROR',
  'STATE_QUEUED',
  'STATE_PULLING',
  'STATE_STARTING',
  'STATE_RUNNING',
] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

/** Trial states after which a trial never changes again. */
export const TERMINAL_TRIAL_STATES = [
  'STATE_CANCELED',
  'STATE_COMPLETED',
  'STATE_ERROR',
] as const satisfies readonly TrialState[];

/** Experiment states (`experimentv1.State`). */
export const EXPERIMENT_STATES = [
  ...TRIAL_STATES,
  'STATE_DELETING',
  'STATE_DELETE_FAILED',
  'STATE_DELETED',
] as const;
export type ExperimentState = (typeof EXPERIMENT_STATES)[number];

/** Sort direction (`apiv1.OrderBy`). */
export const ORDER_BY = ['ORDER_BY_UNSPECIFIED', 'ORDER_BY_ASC', 'ORDER_BY_DESC'] as const;
export type OrderBy = (typeof ORDER_BY)[number];

/** Checkpoint sort keys (`checkpointv1.SortBy`). */
export const CHECKPOINT_SORT_BY = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_UUID',
  'SORT_BY_TRIAL_ID',
  'SORT_BY_BATCH_NUMBER',
  'SORT_BY_END_TIME',
  'SORT_BY_STATE',
  'SORT_BY_SEARCHER_METRIC',
  // Determined-TS extension: total bytes of the checkpoint's files.
  'SORT_BY_SIZE',
] as const;
export type CheckpointSortBy = (typeof CHECKPOINT_SORT_BY)[number];

/** Trial sort keys accepted by `GET /api/v1/experiments/{id}/trials` (`GetExperimentTrialsRequest.SortBy`). */
export const TRIAL_SORT_BY = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_ID',
  'SORT_BY_START_TIME',
  'SORT_BY_END_TIME',
  'SORT_BY_STATE',
  'SORT_BY_BEST_VALIDATION_METRIC',
  'SORT_BY_LATEST_VALIDATION_METRIC',
  'SORT_BY_BATCHES_PROCESSED',
  'SORT_BY_DURATION',
  'SORT_BY_RESTARTS',
  'SORT_BY_CHECKPOINT_SIZE',
  'SORT_BY_LOG_RETENTION_DAYS',
] as const;
export type TrialSortBy = (typeof TRIAL_SORT_BY)[number];

/** Experiment sort keys accepted by `GET /api/v1/experiments`. */
export const EXPERIMENT_SORT_BY = [
  'SORT_BY_UNSPECIFIED',
  'SORT_BY_ID',
  'SORT_BY_DESCRIPTION',
  'SORT_BY_START_TIME',
  'SORT_BY_END_TIME',
  'SORT_BY_STATE',
  'SORT_BY_NUM_TRIALS',
  'SORT_BY_PROGRESS',
  'SORT_BY_USER',
  'SORT_BY_NAME',
  'SORT_BY_FORKED_FROM',
  'SORT_BY_RESOURCE_POOL',
  'SORT_BY_PROJECT_ID',
  'SORT_BY_CHECKPOINT_SIZE',
  'SORT_BY_CHECKPOINT_COUNT',
  'SORT_BY_SEARCHER_METRIC_VAL',
] as const;
export type ExperimentSortBy = (typeof EXPERIMENT_SORT_BY)[number];

/** The metric groups with a fixed meaning; any other non-empty name without `.` is a custom group. */
export const METRIC_GROUP_TRAINING = 'training';
export const METRIC_GROUP_VALIDATION = 'validation';

/** `metricv1.MetricType`, the deprecated twin of a metric group in downsampled series. */
export const METRIC_TYPES = [
  'METRIC_TYPE_UNSPECIFIED',
  'METRIC_TYPE_TRAINING',
  'METRIC_TYPE_VALIDATION',
  'METRIC_TYPE_PROFILING',
] as const;
export type MetricType = (typeof METRIC_TYPES)[number];
