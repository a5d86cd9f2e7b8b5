import { isDeepStrictEqual } from 'node:util';

import type { JsonObject, MetricsReportDto, TrialSummaryMetrics } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  encodeTimestamp,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';

import type { AppDeps } from '../context.js';
import type { Database, MetricRow } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { finiteMetric } from './config.js';
import { parseJsonObject } from './json.js';
import {
  computeTrialAggregates,
  foldMetrics,
  isBetter,
  setLast,
  summaryKey,
} from './trial-summary.js';
import type { Searcher, TrialAggregates } from './trial-summary.js';

/** One metrics report, as `POST /api/v1/trials/{id}/metrics` carries it. */
export interface MetricsReport {
  trialId: number;
  trialRunId: number;
  stepsCompleted: number;
  reportTime: number | undefined;
  group: string;
  avgMetrics: JsonObject;
  batchMetrics: JsonObject[] | null;
}

/** Checks a metric group name as Determined does: non-empty, no `.`. */
export function checkGroup(group: string): void {
  if (group === '' || group.includes('.') || group.length > 255) {
    throw badRequest(`invalid metric group '${group}': must be 1-255 characters without '.'`);
  }
}

/** Sets the searcher value on every checkpoint of the trial at `steps`. */
async function syncSearcherMetric(
  trx: Transaction<Database>,
  trialId: number,
  steps: number,
  value: number | null,
): Promise<void> {
  await trx
    .updateTable('checkpoints')
    .set({ searcher_metric: value })
    .where('trial_id', '=', trialId)
    .where('steps_completed', '=', steps)
    .execute();
}

/**
 * Stores a metrics report.
 *
 * Mirrors Determined (`master/internal/db/postgres_trials.go`): the run id must be the trial's
 * current one; a report from a later run archives what earlier runs reported past its step
 * (a restarted trial forgets what it is replaying); re-reporting the same group and step in
 * the same run merges keys, and a different value for a key already reported is an error.
 * A validation report also refreshes the searcher value of the checkpoints at its step.
 */
export async function reportMetrics(deps: AppDeps, report: MetricsReport): Promise<void> {
  checkGroup(report.group);
  for (const key of ['epoch', 'epochs']) {
    const value = report.avgMetrics[key];
    if (value !== undefined && typeof value !== 'number') {
      throw badRequest(`metric '${key}' must be a number, got ${JSON.stringify(value)}`);
    }
  }
  // Every report rewrites its trial's summary, so on PostgreSQL it locks the trial row first
  // (as Determined does); the lock also keeps a validation and a checkpoint report from missing
  // each other (see `reportCheckpoint`).
  const lockTrial = deps.db.dialect === 'postgres' ? sql`for update of t` : sql``;
  // Through the write runner: on SQLite, reports arriving together share one commit's fsync.
  await deps.db.write(async (trx) => {
    // This statement and the archiving below run for every report; written as SQL they cost a
    // third of what kysely's builder takes to assemble them.
    const [trial] = (
      await sql<TrialForReport>`
        select t.run_id, t.total_batches, t.summary_metrics, t.best_validation_id,
          t.latest_validation_id, t.searcher_metric_value, e.searcher_metric, e.smaller_is_better
        from trials t join experiments e on e.id = t.experiment_id
        where t.id = ${report.trialId}
        ${lockTrial}`.execute(trx)
    ).rows;
    if (trial === undefined) {
      throw notFound('trial', report.trialId);
    }
    if (report.trialRunId !== trial.run_id) {
      throw badRequest(
        `invalid run id, ${report.trialRunId} (reported) != ${trial.run_id} (expected)`,
      );
    }
    const steps = report.stepsCompleted;
    // `archived = 0` is a literal, not a parameter: SQLite re-prepares a statement on every run
    // when a bound value decided whether a partial index (metrics_live) applies.
    const { rows: archived } = await sql<{ metric_group: string; total_batches: number }>`
      update metrics set archived = 1
      where trial_id = ${report.trialId} and archived = 0 and trial_run_id < ${report.trialRunId}
        and (total_batches > ${steps} or (metric_group = ${report.group} and total_batches >= ${steps}))
      returning metric_group, total_batches`.execute(trx);
    for (const row of archived) {
      if (row.metric_group === METRIC_GROUP_VALIDATION) {
        await syncSearcherMetric(trx, report.trialId, row.total_batches, null);
      }
    }
    const endTime = report.reportTime ?? deps.clock();
    let merged = report.avgMetrics;
    let added = report.avgMetrics;
    // Most reports are of a new step: try the insert first, and merge only when a live report of
    // this group and step already holds the slot (one statement fewer per report).
    const inserted = await trx
      .insertInto('metrics')
      .values({
        trial_id: report.trialId,
        trial_run_id: report.trialRunId,
        metric_group: report.group,
        total_batches: steps,
        end_time: endTime,
        avg_metrics: JSON.stringify(report.avgMetrics),
        batch_metrics:
          report.batchMetrics === null || report.batchMetrics.length === 0
            ? null
            : JSON.stringify(report.batchMetrics),
        archived: 0,
      })
      .onConflict((oc) =>
        oc
          .columns(['trial_id', 'metric_group', 'total_batches'])
          .where('archived', '=', sql.lit(0))
          .doNothing(),
      )
      .returning('id')
      .executeTakeFirst();
    let rowId: number;
    if (inserted === undefined) {
      const existing = await trx
        .selectFrom('metrics')
        .selectAll()
        .where('trial_id', '=', report.trialId)
        .where('metric_group', '=', report.group)
        .where('total_batches', '=', steps)
        .where('archived', '=', sql.lit(0))
        .executeTakeFirstOrThrow();
      merged = mergeReport(existing, report);
      // Keys already in the row were counted when they arrived (a re-sent key must be equal).
      const old = parseJsonObject(existing.avg_metrics);
      added = Object.fromEntries(Object.entries(report.avgMetrics).filter(([k]) => !(k in old)));
      rowId = existing.id;
      await trx
        .updateTable('metrics')
        .set({
          avg_metrics: JSON.stringify(merged),
          end_time: endTime,
          ...(report.batchMetrics !== null && report.batchMetrics.length > 0
            ? { batch_metrics: JSON.stringify(report.batchMetrics) }
            : {}),
        })
        .where('id', '=', existing.id)
        .execute();
    } else {
      rowId = inserted.id;
    }
    const searcher = {
      metric: trial.searcher_metric,
      smallerIsBetter: Number(trial.smaller_is_better) === 1,
    };
    if (report.group === METRIC_GROUP_VALIDATION) {
      await syncSearcherMetric(trx, report.trialId, steps, finiteMetric(merged, searcher.metric));
    }
    // A report that archived earlier ones (a restarted trial) recomputes everything from the
    // live rows; any other folds itself into what the trial row holds.
    const aggregates =
      archived.length > 0
        ? await computeTrialAggregates(trx, report.trialId, searcher)
        : await foldReport(trx, trial, searcher, report.group, {
            id: rowId,
            steps,
            added,
            merged,
          });
    const totalBatches =
      report.group === METRIC_GROUP_TRAINING
        ? Math.max(Number(trial.total_batches), steps)
        : Number(trial.total_batches);
    await sql`
      update trials set summary_metrics = ${
        aggregates.summary === null ? null : JSON.stringify(aggregates.summary)
      }, best_validation_id = ${aggregates.bestValidationId},
        latest_validation_id = ${aggregates.latestValidationId},
        searcher_metric_value = ${aggregates.searcherMetricValue},
        total_batches = ${totalBatches}
      where id = ${report.trialId}`.execute(trx);
  });
}

/** The trial row (and searcher) a report reads, locked on PostgreSQL. */
interface TrialForReport {
  run_id: number;
  total_batches: number;
  summary_metrics: string | null;
  best_validation_id: number | null;
  latest_validation_id: number | null;
  searcher_metric_value: number | null;
  searcher_metric: string;
  smaller_is_better: number;
}

/**
 * Folds one stored report into the trial's aggregates: the new keys into the summary, the
 * merged row as the group's latest, and the row as a best or latest validation candidate.
 */
async function foldReport(
  trx: Transaction<Database>,
  trial: TrialForReport,
  searcher: Searcher,
  group: string,
  row: { id: number; steps: number; added: JsonObject; merged: JsonObject },
): Promise<TrialAggregates> {
  const summary: TrialSummaryMetrics =
    trial.summary_metrics === null
      ? {}
      : (JSON.parse(trial.summary_metrics) as TrialSummaryMetrics);
  const groupSummary = (summary[summaryKey(group)] ??= {});
  foldMetrics(groupSummary, row.added);
  setLast(groupSummary, row.merged);
  const aggregates: TrialAggregates = {
    summary,
    bestValidationId: trial.best_validation_id,
    latestValidationId: trial.latest_validation_id,
    searcherMetricValue: trial.searcher_metric_value,
  };
  if (group !== METRIC_GROUP_VALIDATION) {
    return aggregates;
  }
  const raw = row.merged[searcher.metric];
  if (raw !== undefined && raw !== null) {
    aggregates.latestValidationId = row.id;
  }
  const value = finiteMetric(row.merged, searcher.metric);
  const best = aggregates.searcherMetricValue;
  if (value === null || row.id === aggregates.bestValidationId) {
    return aggregates;
  }
  let wins = best === null || isBetter(searcher, value, best);
  if (!wins && value === best && aggregates.bestValidationId !== null) {
    // A tie goes to the larger step: look the current best's step up.
    const current = await trx
      .selectFrom('metrics')
      .select('total_batches')
      .where('id', '=', aggregates.bestValidationId)
      .executeTakeFirst();
    wins = current === undefined || row.steps > current.total_batches;
  }
  if (wins) {
    aggregates.bestValidationId = row.id;
    aggregates.searcherMetricValue = value;
  }
  return aggregates;
}

function mergeReport(existing: MetricRow, report: MetricsReport): JsonObject {
  const old = parseJsonObject(existing.avg_metrics);
  for (const [key, value] of Object.entries(report.avgMetrics)) {
    if (key in old && !isDeepStrictEqual(old[key], value)) {
      throw new HttpError(
        'failed_precondition',
        `metric '${key}' of group '${report.group}' at step ${report.stepsCompleted} was already reported with a different value`,
      );
    }
  }
  if (
    existing.batch_metrics !== null &&
    report.batchMetrics !== null &&
    report.batchMetrics.length > 0
  ) {
    throw new HttpError(
      'failed_precondition',
      `batch metrics of group '${report.group}' at step ${report.stepsCompleted} were already reported`,
    );
  }
  return { ...old, ...report.avgMetrics };
}

/**
 * Formats a stored row as Determined's `MetricsReport`: validation rows hold their metrics under
 * `validation_metrics`, every other group under `avg_metrics` (plus `batch_metrics`).
 */
export function toMetricsReportDto(row: MetricRow): MetricsReportDto {
  const avg = parseJsonObject(row.avg_metrics);
  const metrics: JsonObject =
    row.metric_group === METRIC_GROUP_VALIDATION
      ? { validation_metrics: avg }
      : {
          avg_metrics: avg,
          ...(row.batch_metrics === null
            ? {}
            : { batch_metrics: JSON.parse(row.batch_metrics) as unknown }),
        };
  return {
    id: row.id,
    trialId: row.trial_id,
    trialRunId: row.trial_run_id,
    totalBatches: row.total_batches,
    endTime: encodeTimestamp(new Date(row.end_time)),
    metrics,
    group: row.metric_group,
    archived: row.archived === 1,
    runId: row.trial_id,
  };
}

/** Pages through the live metrics of some trials in one group, oldest step first. */
export async function* iterMetrics(
  db: Kysely<Database>,
  trialIds: readonly number[],
  group: string | undefined,
  pageSize = 1000,
): AsyncGenerator<MetricRow[]> {
  let afterId = 0;
  for (;;) {
    let query = db
      .selectFrom('metrics')
      .selectAll()
      .where('trial_id', 'in', trialIds)
      .where('archived', '=', sql.lit(0))
      .where('id', '>', afterId);
    if (group !== undefined) {
      query = query.where('metric_group', '=', group);
    }
    const rows = await query.orderBy('id').limit(pageSize).execute();
    if (rows.length === 0) {
      return;
    }
    yield rows;
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < pageSize) {
      return;
    }
    afterId = last.id;
  }
}
