import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/**
 * Best and latest of one state (what the SDK asks: `states=STATE_COMPLETED&limit=1`) as a walk
 * down an index whatever the database knows of its tables (issue 16).
 *
 * The sort indexes of 0001 start with `trial_id` and then the sort key, so a state filter is
 * checked row by row. A PostgreSQL that never gathered statistics (autovacuum off, no ANALYZE)
 * guesses that a state filter keeps few rows, fetches the whole trial through
 * `checkpoints_markers` and sorts it: 640 ms for a trial of 1,000,000 checkpoints. With the
 * state right after the trial, both equalities are a prefix and the sort is the index order, so
 * the first row answers, with statistics or without. The 0001 indexes stay for listings of every
 * state.
 */
export function checkpointStateOrder(dialect: DialectName): Migration {
  const descNullsLast = dialect === 'sqlite' ? 'desc' : 'desc nulls last';
  const statements = [
    `create index checkpoints_state_metric_asc on checkpoints
      (trial_id, state, searcher_metric asc, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
    `create index checkpoints_state_metric_desc on checkpoints
      (trial_id, state, searcher_metric desc, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
    `create index checkpoints_state_latest on checkpoints
      (trial_id, state, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
  ];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const statement of statements) {
        await sql.raw(statement).execute(db);
      }
    },
  };
}
