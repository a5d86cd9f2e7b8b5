import type { JsonObject, MetricSummary, TrialSummaryMetrics } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  decodeDouble,
  encodeDouble,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { Database } from '../db/schema.js';
import { parseJsonObject } from './json.js';

/*
 * A trial's `summary_metrics`, `best_validation_id`, `latest_validation_id` and
 * `searcher_metric_value`, as Determined keeps them (master/internal/db/postgres_trial.go):
 * folded in by each report, recomputed from the live rows when a report archives some.
 */

/** The key of a metric group in `summary_metrics` (Determined's TrialSummaryMetricsJSONPath). */
export function summaryKey(group: string): string {
  if (group === METRIC_GROUP_TRAINING) {
    return 'avg_metrics';
  }
  return group === METRIC_GROUP_VALIDATION ? 'validation_metrics' : group;
}

// Determined's pythonISOFormatRegex: strings that look like Python isoformat() are dates.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

/** A metric value's summary type, and its number when it is one (NaN/Infinity strings too). */
function classify(value: unknown): { type: string; number?: number } {
  switch (typeof value) {
    case 'number':
      return { type: 'number', number: value };
    case 'string': {
      const special = decodeDouble(value);
      if (special !== undefined) {
        return { type: 'number', number: special };
      }
      return { type: ISO_DATE.test(value) ? 'date' : 'string' };
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'object':
      return { type: value === null ? 'null' : Array.isArray(value) ? 'array' : 'object' };
    // Not in JSON; Determined's fallback.
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      return { type: 'string' };
  }
}

const asNumber = (value: unknown): number => decodeDouble(value) ?? 0;

/**
 * Folds one report's metrics into its group's summaries (Determined's
 * calculateNewSummaryMetrics): a metric seen with two types becomes `string` and loses its
 * statistics; numbers keep count, sum, min, max and mean, with NaN and infinities as the wire
 * strings. `last` is set separately ({@link setLast}).
 */
export function foldMetrics(group: Record<string, MetricSummary>, metrics: JsonObject): void {
  for (const [name, value] of Object.entries(metrics)) {
    const { type, number } = classify(value);
    const previous = group[name];
    // A metric becoming a string keeps its `last`: a report that is not its group's latest
    // (an earlier step) leaves `last` as it is.
    const summary: MetricSummary =
      previous === undefined
        ? { type }
        : previous.type !== type
          ? { type: 'string', last: previous.last ?? null }
          : previous;
    group[name] = summary;
    if (summary.type !== 'number' || number === undefined) {
      continue;
    }
    if (summary.count === undefined) {
      const encoded = encodeDouble(number);
      Object.assign(summary, { count: 1, sum: encoded, min: encoded, max: encoded, mean: encoded });
      continue;
    }
    const count = summary.count + 1;
    const sum = asNumber(summary.sum) + number;
    summary.count = count;
    summary.sum = encodeDouble(sum);
    summary.min = encodeDouble(Math.min(asNumber(summary.min), number));
    summary.max = encodeDouble(Math.max(asNumber(summary.max), number));
    summary.mean = encodeDouble(sum / count);
  }
}

/** Sets every metric's `last` to its value in the group's latest report (null when absent). */
export function setLast(group: Record<string, MetricSummary>, latest: JsonObject): void {
  for (const [name, summary] of Object.entries(group)) {
    summary.last = latest[name] ?? null;
  }
}

/** Gives a metric first seen in a report that is not its group's latest a `last` of null. */
export function fillLast(group: Record<string, MetricSummary>): void {
  for (const summary of Object.values(group)) {
    summary.last ??= null;
  }
}

/** The searcher's metric and direction, as an experiment stores them. */
export interface Searcher {
  metric: string;
  smallerIsBetter: boolean;
}

/** True when `a` is a better searcher value than `b` in the searcher's direction. */
export function isBetter(searcher: Searcher, a: number, b: number): boolean {
  return searcher.smallerIsBetter ? a < b : a > b;
}

/** What a trial row keeps about its reports. */
export interface TrialAggregates {
  summary: TrialSummaryMetrics | null;
  bestValidationId: number | null;
  latestValidationId: number | null;
  searcherMetricValue: number | null;
}

/**
 * Recomputes a trial's aggregates from its live metrics, paging through them in the order of
 * the `metrics_live` index (group, then step), so each page is one index range.
 *
 * - best validation: the finite searcher value best in the searcher's direction; ties go to
 *   the larger step (live validations have distinct steps);
 * - latest validation, and each metric's `last`: the report at the largest step among the
 *   validations that hold the searcher metric (any non-null value), resp. the group's reports.
 *   By step, not by arrival or end time: reports of one trial from two workers, or through two
 *   replicas with their own clocks, may arrive out of step order, and the report of the latest
 *   step is the one a summary means (a restarted trial's rows past its step are archived).
 */
export async function computeTrialAggregates(
  db: Kysely<Database>,
  trialId: number,
  searcher: Searcher,
  pageSize = 1000,
): Promise<TrialAggregates> {
  const summary: TrialSummaryMetrics = {};
  // Rows come in step order within each group: the last one seen is the latest.
  const latestByGroup = new Map<string, JsonObject>();
  let best: { id: number; value: number; steps: number } | undefined;
  let latestId: number | undefined;
  let after: { group: string; steps: number } | undefined;
  for (;;) {
    const rows = await db
      .selectFrom('metrics')
      .select(['id', 'metric_group', 'total_batches', 'avg_metrics'])
      .where('trial_id', '=', trialId)
      // Literal, so that SQLite matches the partial index metrics_live.
      .where('archived', '=', sql.lit(0))
      .$if(after !== undefined, (qb) =>
        qb.where(
          sql<boolean>`(metric_group, total_batches) > (${after?.group ?? ''}, ${after?.steps ?? 0})`,
        ),
      )
      .orderBy('metric_group')
      .orderBy('total_batches')
      .limit(pageSize)
      .execute();
    for (const row of rows) {
      const metrics = parseJsonObject(row.avg_metrics);
      const key = summaryKey(row.metric_group);
      foldMetrics((summary[key] ??= {}), metrics);
      latestByGroup.set(key, metrics);
      if (row.metric_group !== METRIC_GROUP_VALIDATION) {
        continue;
      }
      const raw = metrics[searcher.metric];
      if (raw === undefined || raw === null) {
        continue;
      }
      latestId = row.id;
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        continue;
      }
      if (
        best === undefined ||
        isBetter(searcher, raw, best.value) ||
        (raw === best.value && row.total_batches > best.steps)
      ) {
        best = { id: row.id, value: raw, steps: row.total_batches };
      }
    }
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < pageSize) {
      break;
    }
    after = { group: last.metric_group, steps: last.total_batches };
  }
  for (const [key, metrics] of latestByGroup) {
    const group = summary[key];
    if (group !== undefined) {
      setLast(group, metrics);
    }
  }
  return {
    summary: latestByGroup.size === 0 ? null : summary,
    bestValidationId: best?.id ?? null,
    latestValidationId: latestId ?? null,
    searcherMetricValue: best?.value ?? null,
  };
}

/** Writes recomputed aggregates onto the trial row. */
export async function storeTrialAggregates(
  db: Kysely<Database>,
  trialId: number,
  aggregates: TrialAggregates,
): Promise<void> {
  await db
    .updateTable('trials')
    .set({
      summary_metrics: aggregates.summary === null ? null : JSON.stringify(aggregates.summary),
      best_validation_id: aggregates.bestValidationId,
      latest_validation_id: aggregates.latestValidationId,
      searcher_metric_value: aggregates.searcherMetricValue,
    })
    .where('id', '=', trialId)
    .execute();
}
