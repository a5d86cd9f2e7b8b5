import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/**
 * The metric-report path (issue 16), made to cost the same whatever the trial holds and
 * whether or not the database has statistics.
 *
 * `metrics_live_steps`: every report archives the live rows of earlier runs at or past its step.
 * With only `metrics_trial_run` (trial, run) and `metrics_live` (trial, group, steps), a
 * PostgreSQL without statistics (autovacuum off, no ANALYZE) walked every live row of the trial
 * on every report: 8 ms at 150,000 rows, holding the trial's lock. Keyed by steps, the archive
 * step visits only rows at or past the reported step: none, or the training row a validation
 * shares its step with. It replaces `metrics_trial_run`, which served that statement alone.
 *
 * On PostgreSQL, `report_metrics_store` does in one round trip what a report did in four (lock
 * the trial, archive, insert, read the row the report merges into), and says whether the report
 * is its group's latest: whether a live report of the group is at a later step, and the step of
 * the trial's latest validation (see `services/metrics.ts`).
 * PL/pgSQL keeps each statement's plan for the session, so none is parsed or planned per report.
 * Creating a function needs only the CREATE privilege the migrations use anyway.
 */
export function ingestIndexes(dialect: DialectName): Migration {
  const statements = [
    `create index metrics_live_steps on metrics (trial_id, total_batches) where archived = 0`,
    `drop index metrics_trial_run`,
    ...(dialect === 'postgres' ? [REPORT_METRICS_STORE] : []),
  ];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const statement of statements) {
        await sql.raw(statement).execute(db);
      }
    },
  };
}

// `#variable_conflict use_column`: the output columns are named as the table columns they
// carry, and inside the statements a bare name means the column.
const REPORT_METRICS_STORE = `
create function report_metrics_store(
  p_trial_id bigint, p_run_id integer, p_group text, p_steps bigint, p_end_time bigint,
  p_avg_metrics text, p_batch_metrics text)
returns table (
  run_id integer, total_batches bigint, summary_metrics text, best_validation_id bigint,
  latest_validation_id bigint, searcher_metric_value double precision, searcher_metric text,
  smaller_is_better integer, archived_any boolean, inserted_id bigint, existing_id bigint,
  existing_avg_metrics text, existing_batch_metrics text, has_later boolean,
  latest_validation_steps bigint)
language plpgsql as $$
#variable_conflict use_column
declare
  archived_validation_steps bigint[];
begin
  select t.run_id, t.total_batches, t.summary_metrics, t.best_validation_id,
      t.latest_validation_id, t.searcher_metric_value, e.searcher_metric, e.smaller_is_better
    into run_id, total_batches, summary_metrics, best_validation_id,
      latest_validation_id, searcher_metric_value, searcher_metric, smaller_is_better
    from trials t join experiments e on e.id = t.experiment_id
    where t.id = p_trial_id
    for update of t;
  if not found then
    return;
  end if;
  if run_id <> p_run_id then
    return next;
    return;
  end if;
  -- Only a restarted trial (run 2 on) can hold rows of earlier runs to archive.
  if p_run_id > 1 then
    with gone as (
      update metrics set archived = 1
      where trial_id = p_trial_id and archived = 0 and total_batches >= p_steps
        and (total_batches > p_steps or metric_group = p_group) and trial_run_id < p_run_id
      returning metric_group, total_batches)
    select count(*) > 0,
        array_agg(gone.total_batches) filter (where gone.metric_group = 'validation')
      into archived_any, archived_validation_steps
      from gone;
    if archived_validation_steps is not null then
      update checkpoints set searcher_metric = null
      where trial_id = p_trial_id and steps_completed = any (archived_validation_steps);
    end if;
  end if;
  -- The trial's lock keeps other reports of it out: a plain insert when the slot is free
  -- costs less than a speculative one (on conflict).
  select id, avg_metrics, batch_metrics
    into existing_id, existing_avg_metrics, existing_batch_metrics
    from metrics
    where trial_id = p_trial_id and metric_group = p_group and total_batches = p_steps
      and archived = 0;
  if existing_id is null then
    insert into metrics (trial_id, trial_run_id, metric_group, total_batches, end_time,
        avg_metrics, batch_metrics, archived)
      values (p_trial_id, p_run_id, p_group, p_steps, p_end_time, p_avg_metrics,
        p_batch_metrics, 0)
      returning id into inserted_id;
  end if;
  has_later := exists (select 1 from metrics m
    where m.trial_id = p_trial_id and m.metric_group = p_group and m.archived = 0
      and m.total_batches > p_steps);
  if p_group = 'validation' and latest_validation_id is not null then
    select m.total_batches into latest_validation_steps from metrics m
      where m.id = latest_validation_id;
  end if;
  return next;
end
$$`;
