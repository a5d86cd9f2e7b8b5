import type { Kysely } from 'kysely';

import type { AppDeps } from '../context.js';
import type { CheckpointRow, Database } from '../db/schema.js';
import { lockRow } from './checkpoints.js';
import { refuseRegistered } from './registered-checkpoints.js';

/**
 * Records the intent to delete `rows` (table `checkpoint_deletions`), in one transaction that
 * locks each checkpoint and refuses registered ones: a concurrent registration either comes
 * first (and this is refused) or finds the intent (and is refused). Returns the ids of the
 * checkpoints to delete: those not DELETED already.
 */
export async function recordIntents(
  deps: AppDeps,
  rows: readonly CheckpointRow[],
  reason: string,
): Promise<number[]> {
  return deps.db.kysely.transaction().execute(async (trx) => {
    const current: CheckpointRow[] = [];
    // In id order, so two deletions of overlapping sets cannot deadlock on PostgreSQL.
    for (const row of [...rows].sort((a, b) => a.id - b.id)) {
      current.push(await lockRow(trx, row.id));
    }
    await refuseRegistered(trx, current, 'deleted');
    const live = current.filter((r) => r.state !== 'STATE_DELETED');
    if (live.length > 0) {
      await trx
        .insertInto('checkpoint_deletions')
        .values(live.map((r) => ({ checkpoint_id: r.id, requested_at: deps.clock(), reason })))
        .onConflict((oc) => oc.column('checkpoint_id').doNothing())
        .execute();
    }
    return live.map((r) => r.id);
  });
}

/** Drops the intent: done (in the transaction that marks the checkpoint) or given up. */
export async function dropIntent(db: Kysely<Database>, checkpointId: number): Promise<void> {
  await db.deleteFrom('checkpoint_deletions').where('checkpoint_id', '=', checkpointId).execute();
}

/** Whether a deletion of the checkpoint is under way (so it may not be registered). */
export async function isBeingDeleted(db: Kysely<Database>, checkpointId: number): Promise<boolean> {
  const row = await db
    .selectFrom('checkpoint_deletions')
    .select('checkpoint_id')
    .where('checkpoint_id', '=', checkpointId)
    .executeTakeFirst();
  return row !== undefined;
}
