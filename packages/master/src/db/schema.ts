import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/*
 * Row types mirror the tables exactly (snake_case). Conventions shared by both dialects:
 * times are integer milliseconds since the epoch, booleans are 0/1 integers, and JSON is stored
 * as text. One representation on SQLite and PostgreSQL keeps the repositories dialect-free.
 */

export interface UsersTable {
  id: Generated<number>;
  username: string;
  display_name: string;
  admin: number;
  active: number;
  /** scrypt of the client-side hash; NULL means the empty password. */
  password_hash: string | null;
  modified_at: number;
  last_auth_at: number | null;
}

export interface SessionsTable {
  id: Generated<number>;
  user_id: number;
  /** sha256 of the bearer token: the token itself is never stored. */
  token_hash: string;
  created_at: number;
  expires_at: number;
}

export interface AccessTokensTable {
  id: Generated<number>;
  user_id: number;
  /** sha256 of the token, as for sessions. */
  token_hash: string;
  description: string;
  /** A `TokenScope`. */
  scope: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface ExperimentsTable {
  id: Generated<number>;
  name: string;
  description: string;
  owner_id: number;
  state: string;
  config: string;
  original_config: string;
  searcher_name: string;
  searcher_metric: string;
  smaller_is_better: number;
  unmanaged: number;
  external_id: string | null;
  archived: number;
  labels: string;
  notes: string;
  start_time: number;
  end_time: number | null;
}

export interface TrialsTable {
  id: Generated<number>;
  experiment_id: number;
  task_id: string;
  state: string;
  hparams: string;
  /** Incremented by each `POST /trials/{id}/start`; metric reports must carry it. */
  run_id: number;
  restarts: number;
  start_time: number;
  end_time: number | null;
  external_id: string | null;
  total_batches: number;
  progress: number | null;
  storage_id: number | null;
  /**
   * JSON of Determined's `summary_metrics` (see services/trial-summary.ts), or NULL before the
   * trial's first report. Kept in step by each metrics report, in the same transaction.
   */
  summary_metrics: string | null;
  /** The live validation (metrics row) with the best finite searcher metric, or NULL. */
  best_validation_id: number | null;
  /** The most recent live validation that holds the searcher metric, or NULL. */
  latest_validation_id: number | null;
  /** The best validation's searcher metric, raw (not sign-flipped): always finite, or NULL. */
  searcher_metric_value: number | null;
}

export interface StorageBackendsTable {
  id: Generated<number>;
  /** Canonical JSON of the storage config: identical configs share one row. */
  config: string;
}

export interface MetricsTable {
  id: Generated<number>;
  trial_id: number;
  trial_run_id: number;
  metric_group: string;
  total_batches: number;
  end_time: number;
  /** JSON of the report's `avgMetrics`. */
  avg_metrics: string;
  /** JSON array of the report's `batchMetrics`, or NULL. */
  batch_metrics: string | null;
  archived: number;
}

export interface CheckpointsTable {
  id: Generated<number>;
  uuid: string;
  trial_id: number;
  task_id: string;
  allocation_id: string | null;
  report_time: number;
  state: string;
  resources: string;
  metadata: string;
  size: number;
  steps_completed: number | null;
  storage_id: number | null;
  /** JSON `{path: sha256 hex}` of the files the reporter hashed, or NULL. */
  digests: string | null;
  /**
   * JSON `{path: CRC32C as 8 hex digits}` of the files the reporter checksummed, or NULL
   * (migration 0003; rows written before it have none).
   */
  crc32c: ColumnType<string | null, string | null | undefined, string | null>;
  /**
   * The finite value of the searcher metric in the validation at (trial_id, steps_completed),
   * or NULL. Kept in step by the services whenever either side changes, so that "best" is an
   * index lookup; the validation itself is still joined at read time.
   */
  searcher_metric: number | null;
}

/** Number and bytes of checkpoints per (trial, state), so totals and sizes need no scan. */
export interface CheckpointCountsTable {
  trial_id: number;
  state: string;
  n: number;
  /** Sum of `checkpoints.size` over the same rows, so listings never sum the checkpoints. */
  bytes: ColumnType<number, number | undefined, number>;
}

export interface TaskLogsTable {
  id: Generated<number>;
  task_id: string;
  trial_id: number;
  timestamp: number;
  rank_id: number | null;
  stdtype: string | null;
  log: string;
}

export interface ClusterInfoTable {
  cluster_id: string;
}

export interface ModelsTable {
  id: Generated<number>;
  name: string;
  description: string;
  notes: string;
  /** JSON object. */
  metadata: string;
  /** JSON array of strings, in the order given. */
  labels: string;
  user_id: number;
  workspace_id: number;
  archived: number;
  created_at: number;
  updated_at: number;
}

export interface ModelVersionsTable {
  id: Generated<number>;
  model_id: number;
  version: number;
  checkpoint_id: number;
  name: string;
  comment: string;
  notes: string;
  metadata: string;
  labels: string;
  user_id: number;
  created_at: number;
  updated_at: number;
}

export interface ModelAliasesTable {
  model_id: number;
  alias: string;
  version_id: number;
  user_id: number;
  updated_at: number;
}

export interface ModelAliasEventsTable {
  id: Generated<number>;
  model_id: number;
  alias: string;
  /** NULL when the event created the alias. */
  from_version: number | null;
  /** NULL when the event removed the alias. */
  to_version: number | null;
  user_id: number;
  time: number;
}

export interface TrialSourceInfosTable {
  trial_id: number;
  checkpoint_id: number;
  /** Set when the trial used the checkpoint as this model version. */
  model_version_id: number | null;
  /** `TRIAL_SOURCE_INFO_TYPE_INFERENCE` or `TRIAL_SOURCE_INFO_TYPE_FINE_TUNING`. */
  type: string;
}

export interface CheckpointDeletionsTable {
  checkpoint_id: number;
  requested_at: number;
  /** Why: `gc-policy` (experiment N), `delete` (a DELETE /api/v1/checkpoints). */
  reason: string;
}

export interface Database {
  cluster_info: ClusterInfoTable;
  users: UsersTable;
  sessions: SessionsTable;
  access_tokens: AccessTokensTable;
  experiments: ExperimentsTable;
  trials: TrialsTable;
  storage_backends: StorageBackendsTable;
  metrics: MetricsTable;
  checkpoints: CheckpointsTable;
  checkpoint_counts: CheckpointCountsTable;
  task_logs: TaskLogsTable;
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  model_alias_events: ModelAliasEventsTable;
  trial_source_infos: TrialSourceInfosTable;
  checkpoint_deletions: CheckpointDeletionsTable;
}

export type UserRow = Selectable<UsersTable>;
export type AccessTokenRow = Selectable<AccessTokensTable>;
export type ExperimentRow = Selectable<ExperimentsTable>;
export type NewExperimentRow = Insertable<ExperimentsTable>;
export type TrialRow = Selectable<TrialsTable>;
export type MetricRow = Selectable<MetricsTable>;
export type CheckpointRow = Selectable<CheckpointsTable>;
export type TaskLogRow = Selectable<TaskLogsTable>;
export type ModelRow = Selectable<ModelsTable>;
export type ModelVersionRow = Selectable<ModelVersionsTable>;
export type ModelAliasRow = Selectable<ModelAliasesTable>;
export type ModelAliasEventRow = Selectable<ModelAliasEventsTable>;
