import { TERMINAL_TRIAL_STATES } from '@determined-ts/api';

import type { AppDeps } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { getExperiment } from './experiments.js';

/** How many checkpoints a GC keeps: `checkpoint_storage.save_*` of the experiment config. */
export interface GcPolicy {
  saveExperimentBest: number;
  saveTrialBest: number;
  saveTrialLatest: number;
}

/** What a GC with a policy would do to an experiment's checkpoints. */
export interface GcSelection {
  /** The experiment's searcher metric, by which "best" ranks. */
  metricName: string;
  smallerIsBetter: boolean;
  /** Checkpoints to delete, by (trial_id, report_time, uuid). */
  toDelete: CheckpointRow[];
  /** Checkpoints the policy (or a model registration) keeps, in the same order. */
  kept: CheckpointRow[];
}

/** States the rules rank. ACTIVE (still being written) and DELETED are never selected. */
const LIVE_STATES = ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED'] as const;
const ERROR_STATE = 'STATE_ERROR';

const POLICY_FIELDS = ['saveExperimentBest', 'saveTrialBest', 'saveTrialLatest'] as const;

/** DESIGN.md's tie-break: larger steps_completed (none last), later report, smaller uuid. */
function byTieBreak(a: CheckpointRow, b: CheckpointRow): number {
  const sa = a.steps_completed;
  const sb = b.steps_completed;
  if (sa !== sb) {
    if (sa === null) {
      return 1;
    }
    if (sb === null) {
      return -1;
    }
    return sb - sa;
  }
  if (a.report_time !== b.report_time) {
    return b.report_time - a.report_time;
  }
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

/** The searcher value a checkpoint ranks by, or undefined (no validation, NaN, ±Infinity). */
function valueOf(row: CheckpointRow): number | undefined {
  const v = row.searcher_metric;
  return v !== null && Number.isFinite(v) ? v : undefined;
}

/** Rows with a value, best first, then by the tie-break: a strict order, no shared ranks. */
function rankBest(rows: readonly CheckpointRow[], smallerIsBetter: boolean): CheckpointRow[] {
  const sign = smallerIsBetter ? 1 : -1;
  return rows
    .filter((r) => valueOf(r) !== undefined)
    .sort((a, b) => {
      const d = sign * ((valueOf(a) ?? 0) - (valueOf(b) ?? 0));
      return d !== 0 ? d : byTieBreak(a, b);
    });
}

function byOutputOrder(a: CheckpointRow, b: CheckpointRow): number {
  if (a.trial_id !== b.trial_id) {
    return a.trial_id - b.trial_id;
  }
  if (a.report_time !== b.report_time) {
    return a.report_time - b.report_time;
  }
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

function checkPolicy(policy: GcPolicy): void {
  for (const field of POLICY_FIELDS) {
    const n = policy[field];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw badRequest(`invalid ${field} ${String(n)}: expected an integer ≥ 0`);
    }
  }
}

/**
 * Selects which of an experiment's checkpoints a GC with `policy` deletes; the one selection
 * behind `preview_gc` and the collection itself (reference §9.1, §9.7, §9.8).
 *
 * - Only live checkpoints (COMPLETED, PARTIALLY_DELETED) are ranked. A checkpoint is kept if
 *   any rule keeps it: the `saveExperimentBest` best over all trials, the `saveTrialBest` best
 *   of each trial, the `saveTrialLatest` latest of each trial.
 * - Best: by `checkpoints.searcher_metric` in the experiment's direction; checkpoints without a
 *   finite value are never kept as best. Latest: by steps_completed, where a checkpoint without
 *   one ranks after every one with one (never pushes out the real latest). Ties in both: larger
 *   steps_completed, later report_time, smaller uuid.
 * - ERROR checkpoints are always deleted; ACTIVE and DELETED ones are in neither list.
 * - Registered checkpoints (a model version points at them) keep their rank but are always
 *   kept, never deleted.
 * - The latest live checkpoint of a trial that has not ended (the one it would resume from) is
 *   always kept: a policy applied while a run goes on must not cut the ground from under it.
 *   Determined deletes it. (Our trials have no warm-start sources to protect: a trial never
 *   starts from another's checkpoint here.)
 *
 * Throws not-found for an unknown experiment and invalid-argument for a negative or
 * non-integer policy field.
 */
export async function selectForGc(
  deps: AppDeps,
  experimentId: number,
  policy: GcPolicy,
): Promise<GcSelection> {
  checkPolicy(policy);
  const experiment = await getExperiment(deps, experimentId);
  const smallerIsBetter = experiment.smaller_is_better === 1;
  const db = deps.db.kysely;
  const trialIds = db
    .selectFrom('trials')
    .select('trials.id')
    .where('experiment_id', '=', experimentId);
  const rows = await db
    .selectFrom('checkpoints')
    .selectAll()
    .where('trial_id', 'in', trialIds)
    .where('state', 'in', [...LIVE_STATES, ERROR_STATE])
    .execute();
  const registered = new Set(
    (
      await db
        .selectFrom('model_versions')
        .innerJoin('checkpoints', 'checkpoints.id', 'model_versions.checkpoint_id')
        .select('model_versions.checkpoint_id')
        .where('checkpoints.trial_id', 'in', trialIds)
        .execute()
    ).map((r) => r.checkpoint_id),
  );

  const running = new Set(
    (
      await db
        .selectFrom('trials')
        .select('id')
        .where('experiment_id', '=', experimentId)
        .where('state', 'not in', [...TERMINAL_TRIAL_STATES])
        .execute()
    ).map((t) => t.id),
  );

  const live = rows.filter((r) => r.state !== ERROR_STATE);
  const keep = new Set<number>();
  const keepFirst = (ranked: readonly CheckpointRow[], n: number): void => {
    for (const r of ranked.slice(0, n)) {
      keep.add(r.id);
    }
  };
  keepFirst(rankBest(live, smallerIsBetter), policy.saveExperimentBest);
  const byTrial = new Map<number, CheckpointRow[]>();
  for (const r of live) {
    const list = byTrial.get(r.trial_id);
    if (list === undefined) {
      byTrial.set(r.trial_id, [r]);
    } else {
      list.push(r);
    }
  }
  for (const [trialId, trialRows] of byTrial) {
    const latestFirst = [...trialRows].sort(byTieBreak);
    keepFirst(rankBest(trialRows, smallerIsBetter), policy.saveTrialBest);
    keepFirst(latestFirst, Math.max(policy.saveTrialLatest, running.has(trialId) ? 1 : 0));
  }

  const toDelete: CheckpointRow[] = [];
  const kept: CheckpointRow[] = [];
  for (const r of [...rows].sort(byOutputOrder)) {
    (keep.has(r.id) || registered.has(r.id) ? kept : toDelete).push(r);
  }
  return { metricName: experiment.searcher_metric, smallerIsBetter, toDelete, kept };
}
