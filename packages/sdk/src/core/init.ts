import { randomUUID } from 'node:crypto';

import type { JsonObject } from '@determined-ts/api';

import { getMasterInfo } from '../api/trials.js';
import { openSession } from '../auth/session.js';
import type { SessionOptions } from '../auth/session.js';
import type { Client } from '../client.js';
import { ArgumentError } from '../errors.js';
import {
  createUnmanagedExperiment,
  createUnmanagedTrial,
  patchTrial,
  startRun,
  startTrial,
} from './api.js';
import { CheckpointContext } from './checkpoint.js';
import { Heartbeat, SILENT_LOGGER } from './heartbeat.js';
import type { CoreLogger } from './heartbeat.js';
import { ReportQueue } from './report-queue.js';
import { resolveStorageConfig } from './storage.js';
import type { CheckpointStorageConfig } from './storage.js';
import { TrainContext } from './train.js';
import type { CoreState } from './train.js';

/** `searcher` of the experiment config; `metric` is what "best checkpoint" ranks by. */
export interface SearcherConfig {
  /** @default 'single' */
  name?: string;
  metric: string;
  /** @default true */
  smaller_is_better?: boolean;
  [key: string]: unknown;
}

/**
 * The unmanaged experiment and trial to create, with Determined's `core_v2.Config` fields
 * (snake_case, as in Determined's YAML).
 */
export interface CoreConfig {
  /** @default `unmanaged-<8 hex digits>` */
  name?: string;
  /** @default { name: 'single', metric: 'unmanaged' } */
  searcher?: SearcherConfig;
  /** The trial's hyperparameters. */
  hparams?: Record<string, unknown>;
  /**
   * Where checkpoints go: a mapping (`{ type: 'directory', container_path }`,
   * `{ type: 'shared_fs', host_path, storage_path? }`), or a shortcut string: `/path` or
   * `file:///path` for `directory` storage, `s3://bucket/prefix`, `gs://bucket/prefix`.
   * @default `$XDG_DATA_HOME/determined/checkpoints` (else `~/.local/share/…`) as `directory`
   */
  checkpoint_storage?: string | CheckpointStorageConfig;
  description?: string;
  labels?: string[];
  data?: Record<string, unknown>;
  workspace?: string;
  project?: string;
  /**
   * Names the experiment so that another `init()` with the same id joins it instead of
   * creating a new one.
   */
  external_experiment_id?: string;
  /**
   * With `external_experiment_id`: names the trial, so that a rerun resumes it (its
   * `info.latestCheckpoint` and `info.stepsCompleted` say where it left off).
   */
  external_trial_id?: string;
}

export interface CoreInitOptions extends Omit<SessionOptions, 'signal'> {
  config: CoreConfig;
  /** An already signed-in client; when given, no login happens. */
  client?: Client;
  /** Receives heartbeat failures, which are never thrown. @default drops them */
  logger?: CoreLogger;
  /** @default 60000 */
  heartbeatIntervalMs?: number;
  /** Delay before the next heartbeat after a failed one. @default 10000 */
  heartbeatRetryMs?: number;
  /** Clock for checkpoint report times. @default Date.now */
  now?: () => number;
  /** Aborts the requests `init` makes. */
  signal?: AbortSignal;
}

/** What `init()` learned about the run; Determined's `core.info` for an unmanaged trial. */
export interface CoreInfo {
  masterUrl: string;
  clusterId: string;
  experimentId: number;
  trialId: number;
  taskId: string;
  /** Sent with every metrics report; grows by one on each `init()` of the same trial. */
  trialRunId: number;
  hparams: JsonObject;
  /** `steps_completed` of the trial's latest checkpoint when this run started, else 0. */
  stepsCompleted: number;
  /** The uuid of that checkpoint, to resume from. */
  latestCheckpoint: string | undefined;
  /** The storage backend id the master assigned to `checkpointStorage`. */
  storageId: number | undefined;
  checkpointStorage: CheckpointStorageConfig;
}

export interface CoreCloseOptions {
  /** What ended the run badly: any value other than `undefined` marks the trial ERROR. */
  error?: unknown;
}

/**
 * A running unmanaged trial: report metrics with `train`, store checkpoints with `checkpoint`,
 * and always `close()` it (in a `finally`), which marks the trial COMPLETED or ERROR.
 */
export class CoreContext {
  readonly info: CoreInfo;
  readonly train: TrainContext;
  readonly checkpoint: CheckpointContext;
  /** The signed-in client the context reports with. */
  readonly client: Client;
  readonly #state: CoreState;
  readonly #heartbeat: Heartbeat;
  #closing: Promise<void> | undefined;

  /** @internal Made by `init()`. */
  constructor(parts: {
    info: CoreInfo;
    state: CoreState;
    train: TrainContext;
    checkpoint: CheckpointContext;
    heartbeat: Heartbeat;
  }) {
    this.info = parts.info;
    this.client = parts.state.client;
    this.train = parts.train;
    this.checkpoint = parts.checkpoint;
    this.#state = parts.state;
    this.#heartbeat = parts.heartbeat;
  }

  /**
   * Ends the run: stops the heartbeat, waits for queued reports and uploads in flight, then
   * marks the trial COMPLETED, or ERROR when `error` is given or a report failed (that report's
   * error is then thrown). Later calls return the same promise.
   */
  close(options: CoreCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.error);
    return this.#closing;
  }

  async #close(error: unknown): Promise<void> {
    this.#state.isClosed = true;
    await this.#heartbeat.stop();
    let flushFailure: { error: unknown } | undefined;
    try {
      await this.#state.queue.flush();
    } catch (err: unknown) {
      flushFailure = { error: err };
    }
    await this.checkpoint.settle();
    const failed = error !== undefined || flushFailure !== undefined;
    await patchTrial(
      this.#state.client,
      this.info.trialId,
      failed ? 'STATE_ERROR' : 'STATE_COMPLETED',
    );
    if (flushFailure !== undefined) {
      throw flushFailure.error;
    }
  }
}

function checkConfig(config: CoreConfig): void {
  if (typeof config !== 'object' || config === null) {
    throw new ArgumentError('config', 'config must be an object');
  }
  for (const key of ['name', 'description', 'workspace', 'project'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') {
      throw new ArgumentError('config', `config.${key} must be a string`);
    }
  }
  for (const key of ['external_experiment_id', 'external_trial_id'] as const) {
    const value = config[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new ArgumentError(key, `config.${key} must be a non-empty string`);
    }
  }
  if (config.external_trial_id !== undefined && config.external_experiment_id === undefined) {
    // Determined's core_v2 does not support this either: a trial id is unique per experiment.
    throw new ArgumentError(
      'external_trial_id',
      'config.external_trial_id needs config.external_experiment_id',
    );
  }
  if (
    config.hparams !== undefined &&
    (typeof config.hparams !== 'object' || config.hparams === null || Array.isArray(config.hparams))
  ) {
    throw new ArgumentError('config', 'config.hparams must be an object');
  }
  if (config.searcher !== undefined && typeof config.searcher.metric !== 'string') {
    throw new ArgumentError('config', 'config.searcher.metric must be a string');
  }
}

/**
 * The experiment config as text for `POST /api/v1/experiments`. JSON is valid YAML, so no YAML
 * library is needed; the keys are the ones core_v2 sends.
 */
function experimentConfigText(config: CoreConfig, storage: CheckpointStorageConfig): string {
  return JSON.stringify({
    name: config.name ?? `unmanaged-${randomUUID().replace(/-/g, '').slice(0, 8)}`,
    data: config.data,
    description: config.description,
    labels: config.labels,
    searcher: config.searcher ?? { name: 'single', metric: 'unmanaged' },
    workspace: config.workspace,
    project: config.project,
    checkpoint_storage: storage,
  });
}

/**
 * Starts an unmanaged trial on a master, as Determined's `core_v2.init()` does: creates (or,
 * with external ids, finds) the experiment and trial, starts a run, registers the checkpoint
 * storage, marks the trial RUNNING and keeps it alive with a heartbeat until `close()`.
 *
 * Throws `ArgumentError` for a bad config, `AuthenticationError` when login fails and
 * `ApiError`/`NetworkError` when the master refuses or cannot be reached.
 *
 * @example
 * const core = await init({
 *   config: { name: 'mnist', searcher: { metric: 'val_loss' }, checkpoint_storage: '/ckpts' },
 * });
 * try {
 *   await core.train.reportValidationMetrics(100, { val_loss: 0.2 });
 *   await core.checkpoint.upload('./out', { steps_completed: 100 });
 *   await core.close();
 * } catch (error) {
 *   await core.close({ error });
 *   throw error;
 * }
 */
export async function init(options: CoreInitOptions): Promise<CoreContext> {
  const { config, signal } = options;
  checkConfig(config);
  const env = options.env ?? process.env;
  const storage = resolveStorageConfig(config.checkpoint_storage, env);
  const client = options.client ?? (await openSession({ ...options, signal }));

  const master = await getMasterInfo(client, { signal });
  const experiment = await createUnmanagedExperiment(
    client,
    experimentConfigText(config, storage),
    config.external_experiment_id,
    { signal },
  );
  const trial = await createUnmanagedTrial(
    client,
    experiment.id,
    config.hparams,
    config.external_trial_id,
    { signal },
  );
  if (typeof trial.taskId !== 'string' || trial.taskId === '') {
    // Checkpoints are tied to their trial by this id; Determined's SDK asserts it too.
    throw new TypeError(`the master created trial ${trial.id} without a taskId`);
  }
  const run = await startTrial(client, trial.id, { signal });
  const storageId = await startRun(client, trial.id, storage, { signal });
  await patchTrial(client, trial.id, 'STATE_RUNNING', { signal });

  const state: CoreState = {
    client,
    trialId: trial.id,
    trialRunId: run.trialRunId,
    queue: new ReportQueue(),
    isClosed: false,
  };
  const heartbeat = new Heartbeat(() => patchTrial(client, trial.id, undefined), {
    intervalMs: options.heartbeatIntervalMs ?? 60_000,
    retryMs: options.heartbeatRetryMs ?? 10_000,
    logger: options.logger ?? SILENT_LOGGER,
  });
  const context = new CoreContext({
    info: {
      masterUrl: client.baseUrl,
      clusterId: master.clusterId,
      experimentId: experiment.id,
      trialId: trial.id,
      taskId: trial.taskId,
      trialRunId: run.trialRunId,
      hparams: trial.hparams,
      stepsCompleted: run.stepsCompleted,
      latestCheckpoint:
        run.latestCheckpoint === undefined || run.latestCheckpoint === ''
          ? undefined
          : run.latestCheckpoint,
      storageId,
      checkpointStorage: storage,
    },
    state,
    train: new TrainContext(state),
    checkpoint: new CheckpointContext(state, {
      taskId: trial.taskId,
      storageId,
      storage,
      now: options.now ?? Date.now,
    }),
    heartbeat,
  });
  heartbeat.start();
  return context;
}
