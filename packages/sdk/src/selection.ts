import { ArgumentError } from './errors.js';
import type { CheckpointData } from './models.js';

/** Options of `topCheckpoint`: both or neither. */
export interface TopCheckpointOptions {
  sortBy?: string;
  smallerIsBetter?: boolean;
  signal?: AbortSignal;
}

/**
 * Exactly one of `latest`, `best` or `uuid` (DESIGN.md "Argument rules"). The types enforce
 * it; {@link checkSelection} repeats the check for JavaScript callers.
 */
export type CheckpointSelection =
  | {
      latest: true;
      best?: never;
      uuid?: never;
      sortBy?: never;
      smallerIsBetter?: never;
      signal?: AbortSignal;
    }
  | {
      best: true;
      latest?: never;
      uuid?: never;
      sortBy?: string;
      smallerIsBetter?: boolean;
      signal?: AbortSignal;
    }
  | {
      uuid: string;
      latest?: never;
      best?: never;
      sortBy?: never;
      smallerIsBetter?: never;
      signal?: AbortSignal;
    };

/** The rules' names, carried by `ArgumentError.rule`. */
export const SELECTION_RULES = {
  exactlyOne: 'exactly-one-of-latest-best-uuid',
  together: 'sortBy-and-smallerIsBetter-together',
  onlyWithBest: 'sortBy-only-with-best',
} as const;

/** Checks the argument rules, in the seed's order, before any request is made. */
export function checkSelection(selection: {
  latest?: unknown;
  best?: unknown;
  uuid?: unknown;
  sortBy?: unknown;
  smallerIsBetter?: unknown;
}): void {
  const count =
    Number(selection.latest === true) +
    Number(selection.best === true) +
    Number(selection.uuid !== undefined);
  if (count !== 1) {
    throw new ArgumentError(
      SELECTION_RULES.exactlyOne,
      `exactly one of latest, best or uuid must be set (got ${count})`,
    );
  }
  if ((selection.sortBy === undefined) !== (selection.smallerIsBetter === undefined)) {
    throw new ArgumentError(
      SELECTION_RULES.together,
      'sortBy and smallerIsBetter must be set together',
    );
  }
  if (selection.sortBy !== undefined && selection.best !== true) {
    throw new ArgumentError(
      SELECTION_RULES.onlyWithBest,
      'sortBy and smallerIsBetter can only be used with best',
    );
  }
  if (selection.uuid !== undefined && typeof selection.uuid !== 'string') {
    throw new ArgumentError(SELECTION_RULES.exactlyOne, 'uuid must be a string');
  }
}

/** The value of `metric` in a checkpoint's validation when it is a finite number. */
export function metricValue(checkpoint: CheckpointData, metric: string): number | undefined {
  const value = checkpoint.training?.validationMetrics?.[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The fixed tie-break: larger step, later report, smaller uuid. Negative when `a` ranks first. */
export function tieBreak(a: CheckpointData, b: CheckpointData): number {
  const stepsA = a.batchNumber ?? Number.NEGATIVE_INFINITY;
  const stepsB = b.batchNumber ?? Number.NEGATIVE_INFINITY;
  if (stepsA !== stepsB) {
    return stepsB - stepsA;
  }
  const timeDiff = b.reportTime.getTime() - a.reportTime.getTime();
  if (timeDiff !== 0) {
    return timeDiff;
  }
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

/**
 * The best checkpoint by DESIGN.md's rules: COMPLETED, with a finite value for `metric` in the
 * validation at its step, best in `smallerIsBetter`'s direction, ties by {@link tieBreak}.
 */
export function pickBest(
  checkpoints: Iterable<CheckpointData>,
  metric: string,
  smallerIsBetter: boolean,
): CheckpointData | undefined {
  let best: { checkpoint: CheckpointData; value: number } | undefined;
  for (const checkpoint of checkpoints) {
    const value = checkpoint.state === 'COMPLETED' ? metricValue(checkpoint, metric) : undefined;
    if (value === undefined) {
      continue;
    }
    if (best === undefined) {
      best = { checkpoint, value };
      continue;
    }
    const better = smallerIsBetter ? value < best.value : value > best.value;
    if (better || (value === best.value && tieBreak(checkpoint, best.checkpoint) < 0)) {
      best = { checkpoint, value };
    }
  }
  return best?.checkpoint;
}

/** The latest checkpoint: COMPLETED with the largest step, ties by {@link tieBreak}. */
export function pickLatest(checkpoints: Iterable<CheckpointData>): CheckpointData | undefined {
  let latest: CheckpointData | undefined;
  for (const checkpoint of checkpoints) {
    if (checkpoint.state !== 'COMPLETED' || checkpoint.batchNumber === undefined) {
      continue;
    }
    if (latest === undefined || tieBreak(checkpoint, latest) < 0) {
      latest = checkpoint;
    }
  }
  return latest;
}
