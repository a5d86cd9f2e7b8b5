import type { CheckpointState } from '@determined-ts/api';

import type { AppDeps } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { deleteCheckpoints } from './checkpoint-gc.js';
import type { GcOutcome } from './checkpoint-gc.js';
import { getRows } from './checkpoints.js';
import { getExperiment } from './experiments.js';
import { refuseRegistered } from './registered-checkpoints.js';
import { getTrial } from './trials.js';

/** States a bulk delete may select: never ACTIVE (still being written) nor DELETED. */
export const DELETABLE_STATES = [
  'STATE_COMPLETED',
  'STATE_PARTIALLY_DELETED',
  'STATE_ERROR',
] as const satisfies readonly CheckpointState[];

export interface BulkDeleteRequest {
  checkpointUuids: string[];
  experimentIds: number[];
  trialIds: number[];
  /** Narrows the experiments' and trials' checkpoints; @default every deletable state */
  states: (typeof DELETABLE_STATES)[number][];
  dryRun: boolean;
}

export interface BulkDeleteResult extends GcOutcome {
  /** What would go (dry run) or went: count and bytes before anything is deleted. */
  selected: { count: number; bytes: number; uuids: string[] };
  /** Checkpoints of the experiments or trials left alone, and why (registered as a version). */
  skipped: { uuid: string; reason: string }[];
  dryRun: boolean;
}

/**
 * Deletes many checkpoints in one call (Determined-TS): those named, and those of whole
 * experiments or trials in the given states, each with the guarantees of a GC (an intent, files
 * first, then DELETED; a store that fails leaves its checkpoint as it was). Named checkpoints
 * that are registered refuse the whole request, as `DELETE /api/v1/checkpoints` does; the
 * registered ones among an experiment's or a trial's are skipped and listed.
 */
export async function bulkDelete(deps: AppDeps, req: BulkDeleteRequest): Promise<BulkDeleteResult> {
  if (req.checkpointUuids.length + req.experimentIds.length + req.trialIds.length === 0) {
    throw badRequest('say what to delete: checkpointUuids, experimentIds or trialIds');
  }
  const named = req.checkpointUuids.length === 0 ? [] : await getRows(deps, req.checkpointUuids);
  const active = named.find((r) => r.state === 'STATE_ACTIVE');
  if (active !== undefined) {
    throw badRequest(
      `checkpoint ${active.uuid} is ACTIVE (still being written); it cannot be deleted`,
    );
  }
  await refuseRegistered(deps.db.kysely, named, 'deleted');
  for (const id of req.experimentIds) {
    await getExperiment(deps, id);
  }
  for (const id of req.trialIds) {
    await getTrial(deps, id);
  }
  const db = deps.db.kysely;
  let scoped: CheckpointRow[] = [];
  if (req.experimentIds.length + req.trialIds.length > 0) {
    const states = req.states.length > 0 ? req.states : [...DELETABLE_STATES];
    scoped = await db
      .selectFrom('checkpoints')
      .selectAll()
      .where('state', 'in', states)
      .where((eb) =>
        eb.or([
          ...(req.trialIds.length > 0 ? [eb('trial_id', 'in', req.trialIds)] : []),
          ...(req.experimentIds.length > 0
            ? [
                eb(
                  'trial_id',
                  'in',
                  eb
                    .selectFrom('trials')
                    .select('trials.id')
                    .where('trials.experiment_id', 'in', req.experimentIds),
                ),
              ]
            : []),
        ]),
      )
      .orderBy('trial_id')
      .orderBy('report_time')
      .orderBy('uuid')
      .execute();
  }
  const registered = await registrations(deps, scoped);
  const skipped = scoped
    .filter((r) => registered.has(r.id))
    .map((r) => ({ uuid: r.uuid, reason: `registered as ${registered.get(r.id)}` }));
  const seen = new Set<number>();
  const rows = [...named.filter((r) => r.state !== 'STATE_DELETED'), ...scoped]
    .filter((r) => !registered.has(r.id))
    .filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
  const selected = {
    count: rows.length,
    bytes: rows.reduce((sum, r) => sum + r.size, 0),
    uuids: rows.map((r) => r.uuid),
  };
  if (req.dryRun) {
    return { deleted: [], failed: [], freedBytes: 0, selected, skipped, dryRun: true };
  }
  const outcome = await deleteCheckpoints(deps, rows, 'bulk delete');
  return { ...outcome, selected, skipped, dryRun: false };
}

/** Registered checkpoints among `rows`: id → "version N of model M". */
async function registrations(
  deps: AppDeps,
  rows: readonly CheckpointRow[],
): Promise<Map<number, string>> {
  if (rows.length === 0) {
    return new Map();
  }
  const found = await deps.db.kysely
    .selectFrom('model_versions')
    .innerJoin('models', 'models.id', 'model_versions.model_id')
    .select(['model_versions.checkpoint_id', 'model_versions.version', 'models.name'])
    .where(
      'model_versions.checkpoint_id',
      'in',
      rows.map((r) => r.id),
    )
    .execute();
  return new Map(found.map((f) => [f.checkpoint_id, `version ${f.version} of model "${f.name}"`]));
}
