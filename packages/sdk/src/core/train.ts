import { METRIC_GROUP_TRAINING, METRIC_GROUP_VALIDATION } from '@determined-ts/api';

import type { Client } from '../client.js';
import { ArgumentError } from '../errors.js';
import { postMetrics, postProgress } from './api.js';
import { toWireObject } from './json.js';
import type { ReportQueue } from './report-queue.js';

/** The state a Core context shares with its parts. @internal */
export interface CoreState {
  readonly client: Client;
  readonly trialId: number;
  readonly trialRunId: number;
  readonly queue: ReportQueue;
  isClosed: boolean;
}

/** Throws when the context was closed; reports and uploads after `close()` are a usage error. */
export function checkOpen(state: CoreState): void {
  if (state.isClosed) {
    throw new ArgumentError(
      'closed',
      `the Core context of trial ${state.trialId} is closed; call init() again to resume it`,
    );
  }
}

function checkSteps(steps: unknown): number {
  // The master's stepsCompleted is an int32.
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 0 || steps > 2 ** 31 - 1) {
    throw new ArgumentError(
      'steps_completed',
      `steps must be an integer from 0 to 2^31-1, got ${String(steps)}`,
    );
  }
  return steps;
}

/**
 * Reports metrics and progress of a trial, as Determined's `core.train` does. Reports are sent
 * in call order, one at a time, in the background; each call returns a promise that resolves
 * when the master has acknowledged that report. A failed report stops reporting: the call
 * after it throws the failure, and so does `close()`.
 */
export class TrainContext {
  readonly #state: CoreState;

  /** @internal Made by `init()`. */
  constructor(state: CoreState) {
    this.#state = state;
  }

  /**
   * Reports training metrics at `steps` (batches completed). NaN and ±Infinity are sent as
   * Determined's strings.
   *
   * Throws at once (`ArgumentError`) for bad arguments, after `close()`, or with the error of an
   * earlier report that failed.
   */
  reportTrainingMetrics(steps: number, metrics: Record<string, unknown>): Promise<void> {
    return this.reportMetrics(METRIC_GROUP_TRAINING, steps, metrics);
  }

  /**
   * Reports validation metrics at `steps`. The experiment's searcher metric among them is what
   * "best checkpoint" ranks by. A `null` or `undefined` value is refused, as Determined does.
   */
  reportValidationMetrics(steps: number, metrics: Record<string, unknown>): Promise<void> {
    checkOpen(this.#state);
    for (const [name, value] of Object.entries(metrics)) {
      if (value === null || value === undefined) {
        throw new ArgumentError(
          'metrics',
          `validation metric '${name}' has no value (${String(value)})`,
        );
      }
    }
    return this.reportMetrics(METRIC_GROUP_VALIDATION, steps, metrics);
  }

  /**
   * Reports metrics of any group (`training` and `validation` are the built-in ones). Reporting
   * the same group and steps twice merges the keys; a key may not change its value.
   */
  reportMetrics(group: string, steps: number, metrics: Record<string, unknown>): Promise<void> {
    checkOpen(this.#state);
    if (typeof group !== 'string' || group === '' || group.includes('.')) {
      throw new ArgumentError(
        'group',
        `metric group must be a non-empty string without '.', got ${JSON.stringify(group)}`,
      );
    }
    const stepsCompleted = checkSteps(steps);
    // Copied now: a caller reusing its metrics object must not change a queued report.
    const avgMetrics = toWireObject(metrics, 'metrics');
    const { client, trialId, trialRunId, queue } = this.#state;
    return queue.push(() =>
      postMetrics(client, { trialId, trialRunId, group, stepsCompleted, avgMetrics }),
    );
  }

  /** Reports progress as a fraction from 0 to 1 (shown by the web UI). */
  reportProgress(fraction: number): Promise<void> {
    checkOpen(this.#state);
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new ArgumentError(
        'progress',
        `progress must be a number from 0 to 1, got ${String(fraction)}`,
      );
    }
    const { client, trialId, queue } = this.#state;
    return queue.push(() => postProgress(client, trialId, fraction));
  }
}
