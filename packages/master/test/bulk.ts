import { sql } from 'kysely';

import type { Db } from '../src/db/connect.js';

/**
 * Seeds a large database in a few set-based statements (no HTTP, no per-row round trips):
 * `experiments` experiments owned by `determined`, one trial each with a searcher value, and
 * `checkpoints` COMPLETED checkpoints in the first trial, with their counters, and
 * `trainingReports` training reports (`loss`, `lr`) in that trial. Returns the id of the big
 * trial and its experiment.
 */
export async function seedScale(
  db: Db,
  {
    experiments,
    checkpoints,
    trainingReports = 0,
  }: { experiments: number; checkpoints: number; trainingReports?: number },
): Promise<{ experimentId: number; trialId: number }> {
  const k = db.kysely;
  const t0 = Date.parse('2025-01-01T00:00:00Z');
  const series = (n: number) =>
    db.dialect === 'postgres'
      ? sql`select generate_series(1, ${sql.lit(n)}) as i`
      : sql`with recursive s(i) as (select 1 union all select i + 1 from s where i < ${sql.lit(n)})
          select i from s`;
  const owner = await k
    .selectFrom('users')
    .select('id')
    .where('username', '=', 'determined')
    .executeTakeFirstOrThrow();
  const firstExperiment = Number(
    (
      await k
        .selectFrom('experiments')
        .select((eb) => eb.fn.max('id').as('m'))
        .executeTakeFirst()
    )?.m ?? 0,
  );
  await sql`insert into experiments (name, description, owner_id, state, config, original_config,
      searcher_name, searcher_metric, smaller_is_better, unmanaged, archived, labels, notes,
      start_time)
    select 'exp-' || i, '', ${owner.id}, 'STATE_ACTIVE',
      '{"searcher":{"name":"single","metric":"loss","smaller_is_better":true}}', '', 'single',
      'loss', i % 2, 1, 0, '[]', '', ${sql.lit(t0)} + i
    from (${series(experiments)}) s`.execute(k);
  await sql`insert into trials (experiment_id, task_id, state, hparams, run_id, restarts,
      start_time, total_batches, searcher_metric_value)
    select e.id, 'bulk-' || e.id, 'STATE_ACTIVE', '{}', 1, 0, ${sql.lit(t0)}, 0,
      case when e.id % 3 = 0 then null else (e.id * 7 % 1000) / 1000.0 end
    from experiments e where e.id > ${firstExperiment}`.execute(k);
  const big = await k
    .selectFrom('trials')
    .select(['id', 'experiment_id', 'task_id'])
    .where('experiment_id', '>', firstExperiment)
    .orderBy('id')
    .limit(1)
    .executeTakeFirstOrThrow();
  const uuid =
    db.dialect === 'postgres'
      ? sql`'00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0')`
      : sql`printf('00000000-0000-4000-9000-%012x', i)`;
  await sql`insert into checkpoints (uuid, trial_id, task_id, report_time, state, resources,
      metadata, size, steps_completed, searcher_metric)
    select ${uuid}, ${big.id}, ${big.task_id}, ${sql.lit(t0)} + i, 'STATE_COMPLETED', '{}',
      '{"steps_completed": ' || i || '}', i * 37 % 1000, i, (i * 7919 % 100000) / 100000.0
    from (${series(checkpoints)}) s`.execute(k);
  await sql`insert into checkpoint_counts (trial_id, state, n, bytes)
    select t.id, 'STATE_COMPLETED', 1, t.id % 500 from trials t
    where t.experiment_id > ${firstExperiment} and t.id <> ${big.id}`.execute(k);
  await sql`insert into checkpoint_counts (trial_id, state, n, bytes)
    select ${big.id}, 'STATE_COMPLETED', count(*), sum(size) from checkpoints
    where trial_id = ${big.id}`.execute(k);
  // Training reports at steps 1..trainingReports of the big trial, for its curves.
  await sql`insert into metrics (trial_id, trial_run_id, metric_group, total_batches, end_time,
      avg_metrics, batch_metrics, archived)
    select ${big.id}, 1, 'training', i, ${sql.lit(t0)} + i,
      '{"loss": ' || (1.0 / i) || ', "lr": 0.1}', null, 0
    from (${series(Math.max(trainingReports, 1))}) s where i <= ${trainingReports}`.execute(k);
  if (db.dialect === 'postgres') {
    await sql`analyze`.execute(k);
  }
  return { experimentId: big.experiment_id, trialId: big.id };
}
