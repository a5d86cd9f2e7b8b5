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
  /** A JavaScript caller passed a value of the wrong type (the TS types rule these out). */
  types: 'argument-types',
} as const;

const SELECTION_KEYS = new Set(['latest', 'best', 'uuid', 'sortBy', 'smallerIsBetter', 'signal']);

/**
 * Checks the argument rules, in the seed's order, before any request is made. As Python's
 * `None` in the seed, `null` and `undefined` both mean "not set"; `false` does too for
 * `latest`/`best`, and an empty-string uuid counts as set.
 */
export function checkSelection(input: unknown): void {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ArgumentError(
      SELECTION_RULES.types,
      `the selection must be an object, got ${input === null ? 'null' : typeof input}`,
    );
  }
  const selection = input as Record<string, unknown>;
  for (const key of Object.keys(selection)) {
    if (!SELECTION_KEYS.has(key)) {
      // Catches Python spellings such as `sort_by`, which would otherwise be ignored.
      throw new ArgumentError(SELECTION_RULES.types, `unknown option '${key}'`);
    }
  }
  const expect = (field: string, type: 'boolean' | 'string'): void => {
    const value = selection[field];
    if (value != null && typeof value !== type) {
      throw new ArgumentError(
        SELECTION_RULES.types,
        `${field} must be a ${type}, got ${JSON.stringify(value) ?? typeof value}`,
      );
    }
  };
  expect('latest', 'boolean');
  expect('best', 'boolean');
  expect('uuid', 'string');
  expect('sortBy', 'string');
  expect('smallerIsBetter', 'boolean');
  const count =
    Number(selection.latest === true) +
    Number(selection.best === true) +
    Number(selection.uuid != null);
  if (count !== 1) {
    throw new ArgumentError(
      SELECTION_RULES.exactlyOne,
      `exactly one of latest, best or uuid must be set (got ${count})`,
    );
  }
  if ((selection.sortBy == null) !== (selection.smallerIsBetter == null)) {
    throw new ArgumentError(
      SELECTION_RULES.together,
      'sortBy and smallerIsBetter must be set together',
    );
  }
  if (selection.sortBy != null && selection.best !== true) {
    throw new ArgumentError(
      SELECTION_RULES.onlyWithBest,
      'sortBy and smallerIsBetter can only be used with best',
    );
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
