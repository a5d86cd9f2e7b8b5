import { randomUUID } from 'node:crypto';

import { getMasterInfo } from '../api/trials.js';
import { openSession } from '../auth/session.js';
import type { SessionOptions } from '../auth/session.js';
import type { Client } from '../client.js';
import { ArgumentError } from '../errors.js';
import {
  createUnmanagedExperiment,
  createUnmanagedTrial,
  patchTrial,
  postTaskLogs,
  startRun,
  startTrial,
} from './api.js';
import { CheckpointContext } from './checkpoint.js';
import { CoreContext } from './context.js';
import { Heartbeat, SILENT_LOGGER } from './heartbeat.js';
import type { CoreLogger } from './heartbeat.js';
import { LogShipper } from './log-shipper.js';
import { teeWrites } from './output-tee.js';
import type { TeeableStream } from './output-tee.js';
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
  /**
   * Receives the failures that are never thrown: heartbeats, log shipping, closing on exit.
   * @default drops them
   */
  logger?: CoreLogger;
  /** @default 60000 */
  heartbeatIntervalMs?: number;
  /** Delay before the next heartbeat after a failed one. @default 10000 */
  heartbeatRetryMs?: number;
  /**
   * Tee what the process writes to stdout and stderr into the trial's task logs (what
   * `det trial logs` shows), as Determined's core_v2 always does for unmanaged trials. The
   * output still reaches the terminal. Output of child processes is not seen.
   * @default true
   */
  shipOutput?: boolean;
  /** The streams `shipOutput` tees. @default process.stdout and process.stderr */
  outputStreams?: { stdout: TeeableStream; stderr: TeeableStream };
  /** How often log lines are posted to the master. @default 1000 */
  logFlushIntervalMs?: number;
  /**
   * About the most memory log lines may take while the master cannot take them; beyond it the
   * oldest are dropped, and the logs say how many.
   * @default 8 MiB
   */
  logBufferBytes?: number;
  /**
   * Close the trial when the process ends without `close()`, as core_v2's exit hooks do:
   * - an uncaught exception or unhandled rejection: ERROR; the error is printed and the process
   *   exits with code 1, as Node does;
   * - SIGINT or SIGTERM: ERROR; then the process dies of the signal, as it would have;
   * - the script ends (the event loop runs dry): COMPLETED, or ERROR when `process.exitCode` is
   *   not 0.
   *
   * Each applies only while nothing else listens for that event (a listener of your own keeps
   * Node's default from applying, and ours steps aside too). `process.exit()` runs no
   * asynchronous code, so it leaves the trial RUNNING: close before calling it.
   * @default true
   */
  closeOnExit?: boolean;
  /** Clock for checkpoint report and log times. @default Date.now */
  now?: () => number;
  /** Aborts the requests `init` makes. */
  signal?: AbortSignal;
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
 * storage, marks the trial RUNNING and keeps it alive with a heartbeat until `close()`. From
 * then on the process's output goes to the trial's logs too (`shipOutput`), and a process that
 * dies or ends without `close()` closes the trial (`closeOnExit`).
 *
 * `run(fn)` closes the trial COMPLETED when `fn` succeeds and ERROR when it throws. (`await
 * using` cannot do this: a disposer is not told whether its block threw.)
 *
 * Throws `ArgumentError` for a bad config, `AuthenticationError` when login fails and
 * `ApiError`/`NetworkError` when the master refuses or cannot be reached.
 *
 * @example
 * const core = await init({
 *   config: { name: 'mnist', searcher: { metric: 'val_loss' }, checkpoint_storage: '/ckpts' },
 * });
 * await core.run(async () => {
 *   await core.train.reportValidationMetrics(100, { val_loss: 0.2 });
 *   await core.checkpoint.upload('./out', { steps_completed: 100 });
 * });
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
  const logger = options.logger ?? SILENT_LOGGER;
  const now = options.now ?? Date.now;
  const heartbeat = new Heartbeat(() => patchTrial(client, trial.id, undefined), {
    intervalMs: options.heartbeatIntervalMs ?? 60_000,
    retryMs: options.heartbeatRetryMs ?? 10_000,
    logger,
  });
  const logs = new LogShipper({
    taskId: trial.taskId,
    post: (entries) =>
      postTaskLogs(client, entries, { signal: AbortSignal.timeout(LOG_POST_TIMEOUT_MS) }),
    now,
    flushIntervalMs: options.logFlushIntervalMs ?? 1000,
    maxBufferBytes: options.logBufferBytes ?? 8 * 1024 * 1024,
    logger,
  });
  const stopCapture = captureOutput(logs, options);
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
      env,
      now,
    }),
    heartbeat,
    logs,
    logger,
    stopCapture,
    closeOnExit: options.closeOnExit ?? true,
  });
  heartbeat.start();
  logs.start();
  return context;
}

/** A post that hangs must not hold the logs back forever: it is given up and retried. */
const LOG_POST_TIMEOUT_MS = 30_000;

/** Tees stdout and stderr into `logs` when `shipOutput` is on; returns what stops it. */
function captureOutput(logs: LogShipper, options: CoreInitOptions): () => void {
  if (options.shipOutput === false) {
    return () => undefined;
  }
  const streams = options.outputStreams ?? { stdout: process.stdout, stderr: process.stderr };
  const stops = [
    teeWrites(streams.stdout, (chunk, encoding) => logs.capture('stdout', chunk, encoding)),
    teeWrites(streams.stderr, (chunk, encoding) => logs.capture('stderr', chunk, encoding)),
  ];
  return () => {
    for (const stop of stops.splice(0)) {
      stop();
    }
  };
}
