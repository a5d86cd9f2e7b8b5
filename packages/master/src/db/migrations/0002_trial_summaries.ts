import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import { computeTrialAggregates, storeTrialAggregates } from '../../services/trial-summary.js';
import type { DialectName } from '../dialect.js';
import type { Database } from '../schema.js';

/**
 * What the web UI lists and sorts by, kept on small rows instead of summed per request: each
 * trial's summary metrics, best and latest validation and best searcher value, and the bytes
 * beside each checkpoint counter. Existing rows are backfilled.
 *
 * The backfill folds metrics with the services' own summary code (trial-summary.ts), so a
 * database migrated now gets exactly what reports maintain from now on.
 */
export function trialSummaries(dialect: DialectName): Migration {
  const int64 = dialect === 'sqlite' ? 'integer' : 'bigint';
  const double = dialect === 'sqlite' ? 'real' : 'double precision';
  const statements = [
    `alter table trials add column summary_metrics text`,
    `alter table trials add column best_validation_id ${int64}`,
    `alter table trials add column latest_validation_id ${int64}`,
    `alter table trials add column searcher_metric_value ${double}`,
    // The best trial of an experiment, and trials sorted by their best value.
    `create index trials_searcher on trials (experiment_id, searcher_metric_value)`,
    `alter table checkpoint_counts add column bytes ${int64} not null default 0`,
    `update checkpoint_counts set bytes = coalesce((select sum(c.size) from checkpoints c
      where c.trial_id = checkpoint_counts.trial_id and c.state = checkpoint_counts.state), 0)`,
    // SORT_BY_SIZE walks this; ties are sorted within equal sizes only.
    `create index checkpoints_size on checkpoints (trial_id, size)`,
    // Everything a checkpoint marker shows, so thinning 100,000 of them reads the index alone
    // and not the wide rows (resources, metadata): a third less time on SQLite.
    `create index checkpoints_markers on checkpoints
      (trial_id, steps_completed, state, searcher_metric, report_time, size, uuid)`,
  ];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const statement of statements) {
        await sql.raw(statement).execute(db);
      }
      await backfillTrials(db as Kysely<Database>);
    },
  };
}

async function backfillTrials(db: Kysely<Database>): Promise<void> {
  let afterId = 0;
  for (;;) {
    const trials = await db
      .selectFrom('trials')
      .innerJoin('experiments', 'experiments.id', 'trials.experiment_id')
      .select(['trials.id', 'experiments.searcher_metric', 'experiments.smaller_is_better'])
      .where('trials.id', '>', afterId)
      .orderBy('trials.id')
      .limit(500)
      .execute();
    for (const trial of trials) {
      const aggregates = await computeTrialAggregates(db, trial.id, {
        metric: trial.searcher_metric,
        smallerIsBetter: trial.smaller_is_better === 1,
      });
      await storeTrialAggregates(db, trial.id, aggregates);
    }
    const last = trials[trials.length - 1];
    if (last === undefined) {
      return;
    }
    afterId = last.id;
  }
}
