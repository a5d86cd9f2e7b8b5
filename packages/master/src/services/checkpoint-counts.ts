import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';

/**
 * Checkpoint states that count towards a trial's or an experiment's checkpoint count and size
 * (`checkpointCount`, `totalCheckpointSize`, `checkpointSize`).
 */
export const COUNTED_STATES = ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED'];

/** Largest IN list sent in one query. */
const IN_CHUNK = 5000;

/** Runs `fn` over `ids` in chunks that stay under both databases' bound-parameter limits. */
export async function chunked<T>(
  ids: readonly number[],
  fn: (chunk: number[]) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_CHUNK) {
    out.push(...(await fn(ids.slice(i, i + IN_CHUNK))));
  }
  return out;
}

const counted = sql.join(COUNTED_STATES.map((s) => sql.lit(s)));

/** A trial's checkpoint count (`n`) or size (`bytes`), from the counters; `trials` in scope. */
export function trialCheckpointTotal(column: 'n' | 'bytes'): RawBuilder<number> {
  return sql<number>`(select coalesce(sum(cc.${sql.raw(column)}), 0) from checkpoint_counts cc
    where cc.trial_id = trials.id and cc.state in (${counted}))`;
}

/** An experiment's checkpoint count or size, from the counters; `experiments` in scope. */
export function experimentCheckpointTotal(column: 'n' | 'bytes'): RawBuilder<number> {
  return sql<number>`(select coalesce(sum(cc.${sql.raw(column)}), 0) from checkpoint_counts cc
    join trials t on t.id = cc.trial_id
    where t.experiment_id = experiments.id and cc.state in (${counted}))`;
}
