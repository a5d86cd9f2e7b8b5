import type {
  DataPointDto,
  DownsampledMetricsDto,
  JsonObject,
  MetricType,
} from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  encodeTimestamp,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';

import type { DialectName } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { parseJsonObject } from './json.js';

/** Most points one series may be asked for. */
export const MAX_DATAPOINTS = 10_000;

/** What to sample from each trial (`GET /api/v1/trials/time-series`). */
export interface SeriesQuery {
  /** Metric groups, each a series; sorted by name, as Determined orders them. */
  groups: readonly string[];
  /** The metrics to return; empty means every metric of each report. */
  metricNames: readonly string[];
  maxDatapoints: number;
  /** Inclusive step range; `endBatches` undefined means no upper bound. */
  startBatches: number;
  endBatches: number | undefined;
}

/** `metricv1.MetricType` of a group: training and validation have one, custom groups none. */
export function metricTypeOf(group: string): MetricType {
  if (group === METRIC_GROUP_TRAINING) {
    return 'METRIC_TYPE_TRAINING';
  }
  return group === METRIC_GROUP_VALIDATION ? 'METRIC_TYPE_VALIDATION' : 'METRIC_TYPE_UNSPECIFIED';
}

/** True when a report holds metric `name` with a non-null value. */
function holds(dialect: DialectName, name: string): RawBuilder<boolean> {
  if (dialect === 'postgres') {
    return sql<boolean>`coalesce(jsonb_typeof(m.avg_metrics::jsonb -> ${name}), 'null') <> 'null'`;
  }
  if (name.includes('"')) {
    // A JSON path cannot name such a key: look it up among the report's keys instead.
    return sql<boolean>`exists (select 1 from json_each(m.avg_metrics) j
      where j.key = ${name} and j.type <> 'null')`;
  }
  return sql<boolean>`coalesce(json_type(m.avg_metrics, ${`$."${name}"`}), 'null') <> 'null'`;
}

/**
 * One trial's series of one group: its live reports in the step range, ordered by step. When
 * metric names are given, only reports holding at least one of them count.
 *
 * Downsampling, when n reports count and n > `maxDatapoints` (m): the reports of rank r
 * (0-based, by step) where `floor(r·(m-1)/(n-1))` steps up are kept, i.e. rank 0 and the first
 * rank past each multiple of (n-1)/(m-1): exactly m points, evenly spread over the ranks, the
 * first and the last report always among them. With m = 1, the last report alone. The
 * database numbers and counts the ranks (a window over the step index) and returns only the
 * chosen rows.
 */
export async function sampleSeries(
  db: Kysely<Database>,
  dialect: DialectName,
  trialId: number,
  group: string,
  q: SeriesQuery,
): Promise<DownsampledMetricsDto | undefined> {
  const where = sql.join(
    [
      sql`m.trial_id = ${trialId}`,
      sql`m.metric_group = ${group}`,
      // Literal, so that SQLite matches the partial index metrics_live.
      sql`m.archived = 0`,
      sql`m.total_batches >= ${q.startBatches}`,
      ...(q.endBatches === undefined ? [] : [sql`m.total_batches <= ${q.endBatches}`]),
      ...(q.metricNames.length === 0
        ? []
        : [
            sql`(${sql.join(
              q.metricNames.map((name) => holds(dialect, name)),
              sql` or `,
            )})`,
          ]),
    ],
    sql` and `,
  );
  // One pass: the database numbers the ranks and counts the reports in the same window, so the
  // metric filter (a JSON lookup per report) runs once.
  const m = sql.lit(q.maxDatapoints - 1);
  const picked =
    q.maxDatapoints === 1
      ? sql`k.r = k.n - 1`
      : // Integer division on both databases: the bucket of rank r is floor(r·(m-1)/(n-1)).
        sql`(k.r = 0 or (k.r * ${m}) / nullif(k.n - 1, 0) <> ((k.r - 1) * ${m}) / nullif(k.n - 1, 0))`;
  const { rows } = await sql<{ total_batches: number; end_time: number; avg_metrics: string }>`
    select m.total_batches, m.end_time, m.avg_metrics
    from (select m.id, row_number() over (order by m.total_batches) - 1 as r,
                 count(*) over () as n
          from metrics m where ${where}) k
    join metrics m on m.id = k.id
    where k.n <= ${sql.lit(q.maxDatapoints)} or ${picked}
    order by m.total_batches`.execute(db);
  if (rows.length === 0) {
    return undefined;
  }
  return {
    data: rows.map((row) => toDataPoint(row, q.metricNames)),
    type: metricTypeOf(group),
    group,
  };
}

function toDataPoint(
  row: { total_batches: number; end_time: number; avg_metrics: string },
  names: readonly string[],
): DataPointDto {
  const metrics = parseJsonObject(row.avg_metrics);
  const values: JsonObject = {};
  for (const name of names.length === 0 ? Object.keys(metrics) : names) {
    const value = metrics[name];
    if (value !== undefined && value !== null) {
      values[name] = value;
    }
  }
  // Determined's x-axis epoch: `epochs`, or the legacy `epoch` (both checked numeric on report).
  const epoch = typeof metrics.epochs === 'number' ? metrics.epochs : metrics.epoch;
  return {
    batches: Number(row.total_batches),
    values,
    time: encodeTimestamp(new Date(Number(row.end_time))),
    ...(typeof epoch === 'number' ? { epoch } : {}),
  };
}
