import type {
  ExperimentSortBy,
  ExperimentState,
  OrderBy,
  Pagination,
  TrialSortBy,
  TrialState,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Expression, Kysely, OrderByItemBuilder, SqlBool } from 'kysely';

import type { Database, ExperimentRow, TrialRow } from '../db/schema.js';
import { experimentCheckpointTotal, trialCheckpointTotal } from './checkpoint-counts.js';
import { paginate } from './checkpoint-list.js';

/*
 * The experiment and trial listings. Every sort key is an SQL expression over small tables
 * (experiments, trials, users, the checkpoint counters), never over checkpoints or metrics, so a
 * page of 10,000 experiments costs a scan of those and a sort. Rows without the key come last in
 * both directions, then ties go by id in the requested direction.
 */

type Direction = 'asc' | 'desc';

/** A sort key: the expression, and whether it can be NULL (then NULLs are put last). */
interface Key {
  expr: Expression<unknown>;
  nullable: boolean;
}

const col = (name: string, nullable = false): Key => ({ expr: sql.ref(name), nullable });

function experimentKey(sortBy: ExperimentSortBy): Key {
  switch (sortBy) {
    // We have no forks, resource pools or projects: all values are equal, so those sort by id.
    case 'SORT_BY_UNSPECIFIED':
    case 'SORT_BY_ID':
    case 'SORT_BY_FORKED_FROM':
    case 'SORT_BY_RESOURCE_POOL':
    case 'SORT_BY_PROJECT_ID':
      return col('experiments.id');
    case 'SORT_BY_DESCRIPTION':
      return col('experiments.description');
    case 'SORT_BY_NAME':
      return col('experiments.name');
    case 'SORT_BY_START_TIME':
      return col('experiments.start_time');
    case 'SORT_BY_END_TIME':
      return col('experiments.end_time', true);
    case 'SORT_BY_STATE':
      return col('experiments.state');
    case 'SORT_BY_USER':
      return {
        expr: sql`(select u.username from users u where u.id = experiments.owner_id)`,
        nullable: false,
      };
    case 'SORT_BY_NUM_TRIALS':
      return {
        expr: sql`(select count(*) from trials t where t.experiment_id = experiments.id)`,
        nullable: false,
      };
    case 'SORT_BY_PROGRESS':
      // Mean progress of the trials that reported one; none reported: missing.
      return {
        expr: sql`(select avg(t.progress) from trials t where t.experiment_id = experiments.id)`,
        nullable: true,
      };
    case 'SORT_BY_CHECKPOINT_SIZE':
      return { expr: experimentCheckpointTotal('bytes'), nullable: false };
    case 'SORT_BY_CHECKPOINT_COUNT':
      return { expr: experimentCheckpointTotal('n'), nullable: false };
    case 'SORT_BY_SEARCHER_METRIC_VAL':
      // The best trial's raw value (as Determined sorts it), each experiment in its direction;
      // one `trials_searcher` lookup per experiment.
      return {
        expr: sql`(case when experiments.smaller_is_better = 1
          then (select min(t.searcher_metric_value) from trials t where t.experiment_id = experiments.id)
          else (select max(t.searcher_metric_value) from trials t where t.experiment_id = experiments.id)
          end)`,
        nullable: true,
      };
    default: {
      const never: never = sortBy;
      throw new Error(`unsupported sortBy ${String(never)}`);
    }
  }
}

export interface ExperimentListQuery {
  sortBy: ExperimentSortBy;
  orderBy: OrderBy | undefined;
  /** Case-insensitive substring of the name. */
  name: string | undefined;
  states: readonly ExperimentState[];
  /** Owners' usernames (Determined's `users`). */
  users: readonly string[];
  offset: number;
  limit: number;
}

/** One page of experiments, filtered and sorted in the database. */
export async function listExperiments(
  db: Kysely<Database>,
  q: ExperimentListQuery,
): Promise<{ rows: ExperimentRow[]; pagination: Pagination }> {
  let base = db.selectFrom('experiments');
  if (q.name !== undefined && q.name !== '') {
    // A case-insensitive substring match on both databases; LIKE wildcards match literally.
    const pattern = `%${q.name.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    base = base.where(sql<SqlBool>`lower(experiments.name) like lower(${pattern}) escape '\\'`);
  }
  if (q.states.length > 0) {
    base = base.where('experiments.state', 'in', q.states);
  }
  if (q.users.length > 0) {
    base = base.where('experiments.owner_id', 'in', (eb) =>
      eb.selectFrom('users').select('users.id').where('users.username', 'in', q.users),
    );
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const pagination = paginate(q.offset, q.limit, Number(n));
  const direction: Direction = q.orderBy === 'ORDER_BY_DESC' ? 'desc' : 'asc';
  const key = experimentKey(q.sortBy);
  const rows = await base
    .selectAll('experiments')
    .orderBy(key.expr, orderOf(key, direction))
    .orderBy('experiments.id', direction)
    .limit(pagination.endIndex - pagination.startIndex)
    .offset(pagination.startIndex)
    .execute();
  return { rows, pagination };
}

/** What trial sort keys need to know about the experiment and the request. */
interface TrialKeyContext {
  dialect: 'sqlite' | 'postgres';
  searcherMetric: string;
  smallerIsBetter: boolean;
  now: number;
}

function trialKey(sortBy: TrialSortBy, ctx: TrialKeyContext): Key {
  // Metric keys are signed by the searcher's direction, as Determined sorts them: ascending is
  // best first.
  const sign = ctx.smallerIsBetter ? 1 : -1;
  switch (sortBy) {
    // We keep no log retention: every trial has the same (none), so that sorts by id.
    case 'SORT_BY_UNSPECIFIED':
    case 'SORT_BY_ID':
    case 'SORT_BY_LOG_RETENTION_DAYS':
      return col('trials.id');
    case 'SORT_BY_START_TIME':
      return col('trials.start_time');
    case 'SORT_BY_END_TIME':
      return col('trials.end_time', true);
    case 'SORT_BY_STATE':
      return col('trials.state');
    case 'SORT_BY_BATCHES_PROCESSED':
      return col('trials.total_batches');
    case 'SORT_BY_RESTARTS':
      return col('trials.restarts');
    case 'SORT_BY_BEST_VALIDATION_METRIC':
      return { expr: sql`(trials.searcher_metric_value * ${sql.lit(sign)})`, nullable: true };
    case 'SORT_BY_LATEST_VALIDATION_METRIC':
      return {
        expr: sql`(${latestValue(ctx.dialect, ctx.searcherMetric)} * ${sql.lit(sign)})`,
        nullable: true,
      };
    case 'SORT_BY_CHECKPOINT_SIZE':
      return { expr: trialCheckpointTotal('bytes'), nullable: false };
    case 'SORT_BY_DURATION':
      // As Determined: a trial still running has lasted until now.
      return {
        expr: sql`(coalesce(trials.end_time, ${ctx.now}) - trials.start_time)`,
        nullable: false,
      };
    default: {
      const never: never = sortBy;
      throw new Error(`unsupported sortBy ${String(never)}`);
    }
  }
}

/** The searcher value of the trial's latest validation when it is a finite number, else NULL. */
function latestValue(dialect: 'sqlite' | 'postgres', metric: string): Expression<unknown> {
  const row = sql`from metrics v where v.id = trials.latest_validation_id`;
  if (dialect === 'postgres') {
    return sql`(select case when jsonb_typeof(v.avg_metrics::jsonb -> ${metric}) = 'number'
      then (v.avg_metrics::jsonb ->> ${metric})::float8 end ${row})`;
  }
  // An SQLite JSON path cannot name a key holding `"`; such a metric sorts as missing.
  if (metric.includes('"')) {
    return sql`null`;
  }
  const path = `$."${metric}"`;
  return sql`(select case when json_type(v.avg_metrics, ${path}) in ('integer', 'real')
    then json_extract(v.avg_metrics, ${path}) end ${row})`;
}

export interface TrialListQuery {
  sortBy: TrialSortBy;
  orderBy: OrderBy | undefined;
  states: readonly TrialState[];
  offset: number;
  limit: number;
}

/** One page of an experiment's trials, filtered and sorted in the database. */
export async function listTrials(
  db: Kysely<Database>,
  experiment: Pick<ExperimentRow, 'id' | 'searcher_metric' | 'smaller_is_better'>,
  q: TrialListQuery,
  ctx: { dialect: 'sqlite' | 'postgres'; now: number },
): Promise<{ rows: TrialRow[]; pagination: Pagination }> {
  let base = db.selectFrom('trials').where('trials.experiment_id', '=', experiment.id);
  if (q.states.length > 0) {
    base = base.where('trials.state', 'in', q.states);
  }
  const { n } = await base
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const pagination = paginate(q.offset, q.limit, Number(n));
  const key = trialKey(q.sortBy, {
    ...ctx,
    searcherMetric: experiment.searcher_metric,
    smallerIsBetter: experiment.smaller_is_better === 1,
  });
  const direction: Direction = q.orderBy === 'ORDER_BY_DESC' ? 'desc' : 'asc';
  const rows = await base
    .selectAll('trials')
    .orderBy(key.expr, orderOf(key, direction))
    .orderBy('trials.id', direction)
    .limit(pagination.endIndex - pagination.startIndex)
    .offset(pagination.startIndex)
    .execute();
  return { rows, pagination };
}

/** The ORDER BY modifiers of a key: its direction, and NULLs last when it can be NULL. */
function orderOf(key: Key, direction: Direction) {
  return (ob: OrderByItemBuilder): OrderByItemBuilder => {
    const directed = direction === 'asc' ? ob.asc() : ob.desc();
    return key.nullable ? directed.nullsLast() : directed;
  };
}
