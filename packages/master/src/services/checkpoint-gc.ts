import type { CheckpointStore } from '@determined-ts/storage';

import type { AppDeps } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { storageConfigs } from './checkpoint-dto.js';
import { lockRow, setResources } from './checkpoints.js';
import { selectForGc } from './gc-selection.js';
import type { GcPolicy } from './gc-selection.js';
import { dropIntent, recordIntents } from './deletion-intents.js';
import { parseJsonObject } from './json.js';
import { deleteFromStore, openStore, storeFailure } from './storage.js';

/** What a collection did: each checkpoint is either deleted (its bytes freed) or failed. */
export interface GcOutcome {
  deleted: { uuid: string; bytes: number }[];
  failed: { uuid: string; error: string }[];
  freedBytes: number;
}

/** A storage the master cannot handle, as a 400 naming the checkpoint (nothing is deleted). */
const refusal = (uuid: string) => (r: { type: string; problem: string | undefined }) =>
  badRequest(
    `cannot delete files of checkpoint ${uuid}: ${r.problem ?? `${r.type} storage is not reachable from the master`}`,
  );

/**
 * Deletes one checkpoint whose intent is recorded: its files first (a missing file counts as
 * deleted), then, in its own transaction, DELETED with sizes and counters updated and the
 * intent gone. A store that fails leaves the checkpoint as it was, drops the intent and says
 * why; only a crash leaves the intent, for {@link resumePendingDeletions}.
 */
async function deleteOne(
  deps: AppDeps,
  checkpointId: number,
): Promise<{ uuid: string; bytes: number } | { uuid: string; error: string }> {
  const db = deps.db.kysely;
  const row = await db
    .selectFrom('checkpoints')
    .selectAll()
    .where('id', '=', checkpointId)
    .executeTakeFirstOrThrow();
  let store: CheckpointStore | undefined;
  try {
    const storage = (await storageConfigs(db, [row])).get(row.uuid) ?? {};
    store = await openStore(deps.settings, storage, row.uuid, refusal(row.uuid));
    const resources = parseJsonObject(row.resources) as Record<string, number>;
    await deleteFromStore(store, Object.keys(resources), resources, { wholeCheckpoint: true });
  } catch (err: unknown) {
    const failure =
      store === undefined || err instanceof HttpError
        ? err
        : storeFailure(err, store, `delete files of checkpoint ${row.uuid} from`);
    if (!(failure instanceof HttpError)) {
      throw failure; // a bug, not the store
    }
    await dropIntent(db, checkpointId);
    return { uuid: row.uuid, error: failure.message };
  }
  await db.transaction().execute(async (trx) => {
    await setResources(trx, await lockRow(trx, row.id), {});
    await dropIntent(trx, checkpointId);
  });
  return { uuid: row.uuid, bytes: row.size };
}

/** Deletes checkpoints one at a time, storage first; failures do not stop the others. */
export async function deleteCheckpoints(
  deps: AppDeps,
  rows: readonly CheckpointRow[],
  reason: string,
): Promise<GcOutcome> {
  const ids = await recordIntents(deps, rows, reason);
  return runDeletions(deps, ids);
}

async function runDeletions(
  deps: AppDeps,
  ids: readonly number[],
  signal?: AbortSignal,
): Promise<GcOutcome> {
  const outcome: GcOutcome = { deleted: [], failed: [], freedBytes: 0 };
  for (const id of ids) {
    if (signal?.aborted === true) {
      break; // shutting down: the intents left are resumed at the next start
    }
    const result = await deleteOne(deps, id);
    if ('error' in result) {
      outcome.failed.push(result);
    } else {
      outcome.deleted.push(result);
      outcome.freedBytes += result.bytes;
    }
  }
  return outcome;
}

/**
 * Collects an experiment's garbage with `policy`: exactly what `preview_gc` with the same policy
 * lists (the one selection function), storage first, checkpoint by checkpoint.
 */
export async function collectGarbage(
  deps: AppDeps,
  experimentId: number,
  policy: GcPolicy,
): Promise<GcOutcome> {
  const { toDelete } = await selectForGc(deps, experimentId, policy);
  return deleteCheckpoints(deps, toDelete, `gc-policy of experiment ${experimentId}`);
}

/**
 * Finishes the deletions a master stopped in the middle of (killed, crashed): called at start,
 * in the background. Each is redone from the start; files already gone count as deleted. An
 * abort (shutdown) stops between checkpoints.
 */
export async function resumePendingDeletions(
  deps: AppDeps,
  signal?: AbortSignal,
): Promise<GcOutcome> {
  const pending = await deps.db.kysely
    .selectFrom('checkpoint_deletions')
    .select('checkpoint_id')
    .orderBy('requested_at')
    .orderBy('checkpoint_id')
    .execute();
  const outcome = await runDeletions(
    deps,
    pending.map((p) => p.checkpoint_id),
    signal,
  );
  if (pending.length > 0) {
    deps.logger.info('resumed checkpoint deletions', {
      deleted: outcome.deleted.length,
      failed: outcome.failed,
      freedBytes: outcome.freedBytes,
    });
  }
  return outcome;
}

/**
 * Saves `policy` into the experiment's `checkpoint_storage` (the rest of the block untouched),
 * then collects with it: the new policy, not the one stored before (Determined collects with
 * the old one).
 */
export async function setGcPolicy(
  deps: AppDeps,
  experimentId: number,
  policy: GcPolicy,
): Promise<GcOutcome> {
  const db = deps.db.kysely;
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('experiments')
      .select('config')
      .where('id', '=', experimentId)
      .executeTakeFirst();
    if (row === undefined) {
      throw notFound('experiment', experimentId);
    }
    const config = parseJsonObject(row.config);
    const storage = parseJsonObject(JSON.stringify(config.checkpoint_storage ?? {}));
    config.checkpoint_storage = {
      ...storage,
      save_experiment_best: policy.saveExperimentBest,
      save_trial_best: policy.saveTrialBest,
      save_trial_latest: policy.saveTrialLatest,
    };
    await trx
      .updateTable('experiments')
      .set({ config: JSON.stringify(config) })
      .where('id', '=', experimentId)
      .execute();
  });
  return collectGarbage(deps, experimentId, policy);
}
