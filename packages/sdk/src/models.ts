import type { JsonObject, TrialSummaryMetrics } from '@determined-ts/api';

/** Checkpoint states, without the wire's `STATE_` prefix. */
export type CheckpointState =
  'UNSPECIFIED' | 'ACTIVE' | 'COMPLETED' | 'ERROR' | 'DELETED' | 'PARTIALLY_DELETED';

/** Trial states, without the wire's `STATE_` prefix. */
export type TrialState =
  | 'UNSPECIFIED'
  | 'ACTIVE'
  | 'PAUSED'
  | 'STOPPING_CANCELED'
  | 'STOPPING_KILLED'
  | 'STOPPING_COMPLETED'
  | 'STOPPING_ERROR'
  | 'CANCELED'
  | 'COMPLETED'
  | 'ERROR'
  | 'QUEUED'
  | 'PULLING'
  | 'STARTING'
  | 'RUNNING';

/** A metric value: numbers stay numbers; Determined's "NaN"/"Infinity" strings become the numbers they name. */
export type Metrics = Record<string, unknown>;

/** Where and how a checkpoint was trained (`training` on the wire), decoded. */
export interface CheckpointTraining {
  trialId: number;
  experimentId: number;
  /** The experiment config, with `checkpoint_storage` naming where this checkpoint's files are. */
  experimentConfig: JsonObject;
  hparams: JsonObject;
  trainingMetrics: Metrics | null;
  validationMetrics: Metrics | null;
  /** The searcher metric's value at this checkpoint's step, when validated. */
  searcherMetric: number | undefined;
}

/** The seed API's validation: present when a validation was reported at the checkpoint's step. */
export interface CheckpointValidation {
  state: 'COMPLETED';
  metrics: { validationMetrics: Metrics };
}

/** Everything the master knows about a checkpoint, decoded from the wire. */
export interface CheckpointData {
  uuid: string;
  state: CheckpointState;
  taskId: string;
  allocationId: string | undefined;
  reportTime: Date;
  /** Relative path → size in bytes; directories end with `/`. */
  resources: Record<string, number>;
  metadata: JsonObject;
  /** `null` for checkpoints not made by a trial. */
  training: CheckpointTraining | null;
  storageId: number | undefined;
  /** Relative path → sha256 hex, where the reporter recorded one (a Determined-TS extension). */
  digests: Record<string, string>;
  /**
   * Relative path → CRC32C (8 lowercase hex digits), where the reporter recorded one (a
   * Determined-TS extension; our Core API records one for every file).
   */
  crc32c: Record<string, string>;
  // The seed (v0.12) fields, derived from the ones above.
  /** `checkpoint_storage` of the experiment: where the files live. */
  storageConfig: JsonObject;
  /** `metadata.steps_completed`. */
  batchNumber: number | undefined;
  /** Determined no longer records a start time; this is `reportTime`, as is `endTime`. */
  startTime: Date;
  endTime: Date;
  validation: CheckpointValidation | null;
}

export interface Pagination {
  offset: number;
  limit: number;
  startIndex: number;
  endIndex: number;
  total: number;
}

/** A validation report as a trial summarises it (`bestValidation`, `latestValidation`). */
export interface ValidationSummary {
  stepsCompleted: number;
  endTime: Date;
  metrics: Metrics;
}

export interface TrialData {
  id: number;
  experimentId: number;
  state: TrialState;
  hparams: JsonObject;
  startTime: Date;
  endTime: Date | undefined;
  restarts: number;
  totalBatchesProcessed: number;
  taskId: string | undefined;
  /** Per group (`avg_metrics` = training, `validation_metrics`, custom names), per metric. */
  summaryMetrics: TrialSummaryMetrics | null;
  /** The validation with the best searcher metric, in the experiment's direction. */
  bestValidation: ValidationSummary | null;
  /** The latest validation that reported the searcher metric. */
  latestValidation: ValidationSummary | null;
  /** The best validation's searcher metric value. */
  searcherMetricValue: number | undefined;
  /** The master's best checkpoint of the trial by the searcher metric. */
  bestCheckpointUuid: string | undefined;
  checkpointCount: number;
  /** Bytes in the trial's COMPLETED checkpoints. */
  totalCheckpointSize: number;
}

export interface ExperimentData {
  id: number;
  name: string;
  description: string;
  labels: string[];
  /** The owner's username. */
  username: string;
  state: string;
  archived: boolean;
  config: JsonObject;
  hyperparameters: JsonObject;
  /** `config.searcher.name` (`single`, `custom`, …). */
  searcherType: string;
  /** `config.searcher.metric`. */
  searcherMetric: string | undefined;
  /** `config.searcher.smaller_is_better`, which Determined defaults to true. */
  smallerIsBetter: boolean;
  numTrials: number;
  trialIds: number[];
  /** Mean progress of its trials, 0–1, when they report one. */
  progress: number | undefined;
  checkpointCount: number;
  /** Bytes in its COMPLETED checkpoints. */
  checkpointSize: number;
  /** The best trial's searcher metric value, and that trial. */
  bestTrialSearcherMetric: number | undefined;
  bestTrialId: number | undefined;
  startTime: Date;
  endTime: Date | undefined;
  unmanaged: boolean;
}

/** A user as `GET /api/v1/me` returns it. */
export interface UserData {
  id: number;
  username: string;
  displayName: string;
  admin: boolean;
  active: boolean;
}

/** One report of a metric series, after downsampling. */
export interface MetricPoint {
  batches: number;
  time: Date;
  epoch: number | undefined;
  /** The requested metrics this report has, as numbers (non-numeric values are left out). */
  values: Record<string, number>;
}

/** Where a checkpoint sits on its trial's curves. */
export interface CheckpointMarker {
  uuid: string;
  stepsCompleted: number;
  state: CheckpointState;
  reportTime: Date;
  size: number;
  searcherMetric: number | undefined;
}

/** One line of a trial's logs. */
export interface TrialLogLine {
  id: string;
  timestamp: Date;
  message: string;
  stdtype: string | undefined;
  rankId: number | undefined;
}
