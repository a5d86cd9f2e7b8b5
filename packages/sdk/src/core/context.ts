import { inspect } from 'node:util';

import type { JsonObject } from '@determined-ts/api';

import type { Client } from '../client.js';
import { ArgumentError } from '../errors.js';
import { patchTrial } from './api.js';
import type { CheckpointContext } from './checkpoint.js';
import { watchProcessExit } from './exit-hooks.js';
import type { ExitReason } from './exit-hooks.js';
import type { CoreLogger, Heartbeat } from './heartbeat.js';
import { LOG_LEVELS } from './log-shipper.js';
import type { LogLevel, LogShipper } from './log-shipper.js';
import type { CheckpointStorageConfig } from './storage.js';
import { checkOpen } from './train.js';
import type { CoreState, TrainContext } from './train.js';

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
  /**
   * What ended the run badly: any value other than `undefined` marks the trial ERROR, and is
   * written to the trial's logs.
   */
  error?: unknown;
}

/** The parts `init()` assembles a context from. @internal */
export interface CoreParts {
  info: CoreInfo;
  state: CoreState;
  train: TrainContext;
  checkpoint: CheckpointContext;
  heartbeat: Heartbeat;
  logs: LogShipper;
  logger: CoreLogger;
  /** Stops teeing stdout/stderr into `logs` (a no-op when output is not shipped). */
  stopCapture: () => void;
  /** Close the trial when the process ends without `close()` (see `CoreInitOptions`). */
  closeOnExit: boolean;
}

function describeError(error: unknown): string {
  return typeof error === 'string' ? error : inspect(error);
}

/**
 * A running unmanaged trial: report metrics with `train`, store checkpoints with `checkpoint`,
 * and end it with `close()`, which marks the trial COMPLETED or ERROR. `run(fn)` does the
 * closing for you.
 */
export class CoreContext {
  readonly info: CoreInfo;
  readonly train: TrainContext;
  readonly checkpoint: CheckpointContext;
  /** The signed-in client the context reports with. */
  readonly client: Client;
  readonly #parts: CoreParts;
  readonly #unwatch: () => void;
  #closing: Promise<void> | undefined;

  /** @internal Made by `init()`. */
  constructor(parts: CoreParts) {
    this.info = parts.info;
    this.client = parts.state.client;
    this.train = parts.train;
    this.checkpoint = parts.checkpoint;
    this.#parts = parts;
    this.#unwatch = parts.closeOnExit
      ? watchProcessExit((reason) => this.#closeForExit(reason))
      : () => undefined;
  }

  /**
   * Runs `fn`, then closes the trial: COMPLETED when `fn` resolves (its value is returned),
   * ERROR when it throws or rejects, and that error is then rethrown as is (a failure to close
   * is only logged then, so it cannot hide the error). The robust way to never leave a trial
   * RUNNING.
   *
   * @example
   * const core = await init({ config: { searcher: { metric: 'val_loss' } } });
   * await core.run(async () => {
   *   await core.train.reportValidationMetrics(100, { val_loss: 0.2 });
   * });
   */
  async run<T>(fn: (core: CoreContext) => T | Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await fn(this);
    } catch (error: unknown) {
      await this.close({ error }).catch((closeError: unknown) => {
        const message = closeError instanceof Error ? closeError.message : String(closeError);
        this.#parts.logger.warn(
          `closing trial ${this.info.trialId} after a failure failed too: ${message}`,
          closeError,
        );
      });
      throw error;
    }
    await this.close();
    return result;
  }

  /**
   * Sends `message` to the trial's logs at `level`, with the next batch of shipped output; each
   * of its lines becomes a log line. It is not printed. Throws `ArgumentError` for a bad level
   * or after `close()`.
   */
  log(message: string, level: LogLevel = 'info'): void {
    checkOpen(this.#parts.state);
    if (typeof message !== 'string') {
      throw new ArgumentError('message', `a log message must be a string, got ${typeof message}`);
    }
    if (!LOG_LEVELS.includes(level)) {
      throw new ArgumentError(
        'level',
        `log level must be one of ${LOG_LEVELS.join(', ')}; got ${String(level)}`,
      );
    }
    this.#parts.logs.log(message, level);
  }

  /**
   * Ends the run: stops the heartbeat, waits for queued reports and uploads in flight, ships
   * the remaining logs, then marks the trial COMPLETED, or ERROR when `error` is given or a
   * report failed (that report's error is then thrown). Later calls return the same promise.
   */
  close(options: CoreCloseOptions = {}): Promise<void> {
    const failure = options.error === undefined ? undefined : { error: options.error };
    this.#closing ??= this.#close(failure, true);
    return this.#closing;
  }

  /**
   * Closes on the process's way out. Never throws: a failure goes to the logger. An
   * uncaught error was already printed to the (teed) stderr, so it is not logged twice.
   */
  async #closeForExit(reason: ExitReason): Promise<void> {
    let failure: { error: unknown } | undefined;
    if (reason.kind === 'error') {
      failure = { error: reason.error };
    } else if (reason.kind === 'signal') {
      failure = { error: `interrupted by ${reason.signal}` };
    } else if (reason.exitCode !== 0) {
      failure = { error: `the process is exiting with code ${reason.exitCode}` };
    }
    this.#closing ??= this.#close(failure, reason.kind !== 'error');
    await this.#closing.catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      this.#parts.logger.warn(`closing trial ${this.info.trialId} failed: ${message}`, err);
    });
  }

  async #close(failure: { error: unknown } | undefined, shouldLogError: boolean): Promise<void> {
    const { state, heartbeat, logs, checkpoint } = this.#parts;
    state.isClosed = true;
    try {
      await heartbeat.stop();
      let flushFailure: { error: unknown } | undefined;
      try {
        await state.queue.flush();
      } catch (err: unknown) {
        flushFailure = { error: err };
      }
      await checkpoint.settle();
      if (failure !== undefined && shouldLogError) {
        logs.log(`the trial failed: ${describeError(failure.error)}`, 'error');
      }
      // Before the final state, unlike core_v2: a trial that shows as ended has all its logs.
      this.#parts.stopCapture();
      await logs.close();
      const failed = failure !== undefined || flushFailure !== undefined;
      await patchTrial(state.client, this.info.trialId, failed ? 'STATE_ERROR' : 'STATE_COMPLETED');
      if (flushFailure !== undefined) {
        throw flushFailure.error;
      }
    } finally {
      this.#parts.stopCapture();
      this.#unwatch();
    }
  }
}
