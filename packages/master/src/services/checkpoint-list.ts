import type { CheckpointSortBy, CheckpointState, OrderBy, Pagination } from '@determined-ts/api';
import { sql } from 'kysely';
import type { Expression, Kysely, SelectQueryBuilder, SqlBool } from 'kysely';

import type { DialectName } from '../db/dialect.js';
import type { CheckpointRow, Database } from '../db/schema.js';
import { badRequest } from '../errors.js';

/** What to list: one trial's checkpoints, or all of an experiment's. */
export type CheckpointScope = { trialId: number } | { experimentId: number };

export interface ListCheckpointsOptions {
  sortByAttr: CheckpointSortBy | undefined;
  sortByMetric: string | undefined;
  orderBy: OrderBy | undefined;
  states: readonly CheckpointState[];
  offset: number;
  limit: number;
  /** The experiment's searcher, for SORT_BY_SEARCHER_METRIC and the default direction. */
  searcher: { metric: string; smallerIsBetter: boolean };
}

type Query = SelectQueryBuilder<Database, 'checkpoints', CheckpointRow>;
type Direction = 'asc' | 'desc';

/** The sort key as an SQL expression over `checkpoints` (NULL where a checkpoint has none). */
interface SortKey {
  expr: Expression<unknown> | undefined;
  direction: Direction;
  /**
   * The tie-break already starts with this order (steps, descending). Ordering by the key again
   * would only hurt: PostgreSQL reads a plain `desc` as nulls first, which no index matches, and
   * so sorted a whole trial to find the latest checkpoint.
   */
  impliedByTieBreak?: boolean;
}

const STATE_ORDER = sql`case checkpoints.state
  when 'STATE_ACTIVE' then 1 when 'STATE_COMPLETED' then 2 when 'STATE_ERROR' then 3
  when 'STATE_DELETED' then 4 when 'STATE_PARTIALLY_DELETED' then 5 else 0 end`;

/**
 * The numeric value of validation metric `name` at the checkpoint's step, or NULL when the
 * validation is missing or the value is not a finite number (NaN/Infinity arrive as strings).
 */
function validationMetricExpr(dialect: DialectName, name: string): Expression<unknown> {
  const live = sql`from metrics v where v.trial_id = checkpoints.trial_id
    and v.metric_group = 'validation' and v.archived = 0
    and v.total_batches = checkpoints.steps_completed`;
  if (dialect === 'sqlite') {
    const path = `$."${name}"`;
    return sql`(select case when json_type(v.avg_metrics, ${path}) in ('integer', 'real')
      then json_extract(v.avg_metrics, ${path}) end ${live})`;
  }
  return sql`(select case when jsonb_typeof(v.avg_metrics::jsonb -> ${name}) = 'number'
    then (v.avg_metrics::jsonb ->> ${name})::float8 end ${live})`;
}

function sortKey(dialect: DialectName, opts: ListCheckpointsOptions): SortKey {
  const explicit: Direction | undefined =
    opts.orderBy === 'ORDER_BY_ASC' ? 'asc' : opts.orderBy === 'ORDER_BY_DESC' ? 'desc' : undefined;
  const searcherDirection: Direction = opts.searcher.smallerIsBetter ? 'asc' : 'desc';
  if (opts.sortByMetric !== undefined) {
    if (/["\\]/.test(opts.sortByMetric) || opts.sortByMetric === '') {
      throw badRequest(
        `invalid sortByMetric '${opts.sortByMetric}': must be non-empty without '"' or '\\'`,
      );
    }
    // Sorting by the searcher metric by name is the indexed column.
    const expr =
      opts.sortByMetric === opts.searcher.metric
        ? sql.ref('checkpoints.searcher_metric')
        : validationMetricExpr(dialect, opts.sortByMetric);
    const direction =
      explicit ?? (opts.sortByMetric === opts.searcher.metric ? searcherDirection : 'asc');
    return { expr, direction };
  }
  const direction = explicit ?? 'asc';
  const attr = opts.sortByAttr ?? 'SORT_BY_UNSPECIFIED';
  switch (attr) {
    case 'SORT_BY_SEARCHER_METRIC':
      // Our rule: with no orderBy, best first in the searcher's direction.
      return {
        expr: sql.ref('checkpoints.searcher_metric'),
        direction: explicit ?? searcherDirection,
      };
    case 'SORT_BY_BATCH_NUMBER':
      return {
        expr: sql.ref('checkpoints.steps_completed'),
        direction,
        impliedByTieBreak: direction === 'desc',
      };
    case 'SORT_BY_UUID':
      return { expr: sql.ref('checkpoints.uuid'), direction };
    case 'SORT_BY_TRIAL_ID':
      return { expr: sql.ref('checkpoints.trial_id'), direction };
    case 'SORT_BY_END_TIME':
      return { expr: sql.ref('checkpoints.report_time'), direction };
    case 'SORT_BY_STATE':
      return { expr: STATE_ORDER, direction };
    case 'SORT_BY_SIZE':
      // Our extension; within a trial a walk down `checkpoints_size`.
      return { expr: sql.ref('checkpoints.size'), direction };
    case 'SORT_BY_UNSPECIFIED':
      return { expr: undefined, direction };
    default: {
      const never: never = attr;
      throw badRequest(`unsupported sortByAttr ${String(never)}`);
    }
  }
}

/**
 * The fixed tie-break of DESIGN.md: larger step (none last), then later report, then smaller
 * uuid. SQLite sorts NULL lowest, so plain `desc` already puts it last; PostgreSQL is told, and
 * its index is declared the same way.
 */
function withTieBreak(query: Query, dialect: DialectName): Query {
  return query
    .orderBy('checkpoints.steps_completed', (ob) =>
      dialect === 'sqlite' ? ob.desc() : ob.desc().nullsLast(),
    )
    .orderBy('checkpoints.report_time', 'desc')
    .orderBy('checkpoints.uuid', 'asc');
}

function baseQuery(
  db: Kysely<Database>,
  scope: CheckpointScope,
  states: readonly CheckpointState[],
): Query {
  let query = db.selectFrom('checkpoints').selectAll('checkpoints');
  if ('trialId' in scope) {
    query = query.where('checkpoints.trial_id', '=', scope.trialId);
  } else {
    query = query.where(
      'checkpoints.trial_id',
      'in',
      db
        .selectFrom('trials')
        .select('trials.id')
        .where('trials.experiment_id', '=', scope.experimentId),
    );
  }
  return states.length > 0 ? query.where('checkpoints.state', 'in', states) : query;
}

async function countAll(
  db: Kysely<Database>,
  scope: CheckpointScope,
  states: readonly CheckpointState[],
): Promise<number> {
  if ('trialId' in scope) {
    // The per-state counters make this exact without touching the checkpoints.
    let query = db
      .selectFrom('checkpoint_counts')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('n'), sql<number>`0`).as('n'))
      .where('trial_id', '=', scope.trialId);
    if (states.length > 0) {
      query = query.where('state', 'in', states);
    }
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.n);
  }
  const row = await baseQuery(db, scope, states)
    .clearSelect()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Applies Determined's pagination rules: negative offsets count from the end, limit 0 = all. */
export function paginate(offset: number, limit: number, total: number): Pagination {
  const startIndex = offset < 0 ? total + offset : offset;
  if (startIndex < 0 || startIndex > total) {
    throw badRequest(`offset out of bounds: ${offset} with ${total} items`);
  }
  const endIndex = limit === 0 ? total : Math.min(startIndex + limit, total);
  return { offset, limit, startIndex, endIndex, total };
}

/**
 * Lists checkpoints in the order DESIGN.md defines ("Semantics we define"): by the key, with
 * checkpoints lacking it last in both directions, then by the fixed tie-break.
 *
 * Rows with the key and rows without are fetched as two ranges, so each is one walk down an
 * index (`checkpoints_metric_asc`/`_desc`, `checkpoints_latest`) instead of a sort of the trial.
 */
export async function listCheckpoints(
  db: Kysely<Database>,
  dialect: DialectName,
  scope: CheckpointScope,
  opts: ListCheckpointsOptions,
): Promise<{ rows: CheckpointRow[]; pagination: Pagination }> {
  const key = sortKey(dialect, opts);
  const total = await countAll(db, scope, opts.states);
  const pagination = paginate(opts.offset, opts.limit, total);
  const want = pagination.endIndex - pagination.startIndex;
  if (want === 0) {
    return { rows: [], pagination };
  }
  const base = baseQuery(db, scope, opts.states);
  if (key.expr === undefined) {
    const rows = await withTieBreak(base.orderBy('checkpoints.trial_id'), dialect)
      .limit(want)
      .offset(pagination.startIndex)
      .execute();
    return { rows, pagination };
  }
  const expr = key.expr;
  const present = base.where(sql<SqlBool>`${expr} is not null`);
  const keyed = withTieBreak(
    key.impliedByTieBreak === true ? present : present.orderBy(expr, key.direction),
    dialect,
  );
  const rows = await keyed.limit(want).offset(pagination.startIndex).execute();
  if (rows.length === want) {
    return { rows, pagination };
  }
  // The page runs past the keyed rows: the rest come from the rows without the key.
  const keyedCount =
    rows.length > 0
      ? pagination.startIndex + rows.length
      : Number(
          (
            await base
              .where(sql<SqlBool>`${expr} is not null`)
              .clearSelect()
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
  const unkeyedOffset = Math.max(0, pagination.startIndex - keyedCount);
  const rest = await withTieBreak(base.where(sql<SqlBool>`${expr} is null`), dialect)
    .limit(want - rows.length)
    .offset(unkeyedOffset)
    .execute();
  return { rows: [...rows, ...rest], pagination };
}
