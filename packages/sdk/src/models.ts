import type { JsonObject } from '@determined-ts/api';

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
  summaryMetrics: JsonObject | null;
}

export interface ExperimentData {
  id: number;
  name: string;
  state: string;
  config: JsonObject;
  /** `config.searcher.metric`. */
  searcherMetric: string | undefined;
  /** `config.searcher.smaller_is_better`, which Determined defaults to true. */
  smallerIsBetter: boolean;
  numTrials: number;
  trialIds: number[];
  startTime: Date;
  endTime: Date | undefined;
  unmanaged: boolean;
}
