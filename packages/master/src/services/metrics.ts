import { isDeepStrictEqual } from 'node:util';

import type { JsonObject, MetricsReportDto, TrialSummaryMetrics } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  encodeTimestamp,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely, RawBuilder, Transaction } from 'kysely';

import type { AppDeps } from '../context.js';
import type { Database, MetricRow } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { finiteMetric } from './config.js';
import { parseJsonObject } from './json.js';
import {
  computeTrialAggregates,
  fillLast,
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
 *
 * Idempotent, so that a client (the SDK, or a load balancer) may retry a report whose answer it
 * lost: the same report again, from the same run (same group, steps, metrics and batch
 * metrics), answers as the first did and changes nothing, and two copies racing leave one row.
 */
export async function reportMetrics(deps: AppDeps, report: MetricsReport): Promise<void> {
  checkGroup(report.group);
  for (const key of ['epoch', 'epochs']) {
    const value = report.avgMetrics[key];
    if (value !== undefined && typeof value !== 'number') {
      throw badRequest(`metric '${key}' must be a number, got ${JSON.stringify(value)}`);
    }
  }
  const row: NewMetricRow = {
    trialId: report.trialId,
    runId: report.trialRunId,
    group: report.group,
    steps: report.stepsCompleted,
    endTime: report.reportTime ?? deps.clock(),
    avgMetrics: JSON.stringify(report.avgMetrics),
    batchMetrics:
      report.batchMetrics === null || report.batchMetrics.length === 0
        ? null
        : JSON.stringify(report.batchMetrics),
  };
  const twoStepWrite = deps.db.twoStepWrite;
  if (twoStepWrite === undefined) {
    // Through the write runner: reports arriving together share one commit's fsync.
    await deps.db.write(async (trx) => {
      const stored = await storeOnSqlite(trx, row);
      for (const statement of await followUp(() => trx, stored, report, row)) {
        await statement.execute(trx);
      }
    });
    return;
  }
  // PostgreSQL: the store call, then the follow-up writes, each batched with other reports'.
  const { kysely } = deps.db;
  await twoStepWrite({
    key: row.trialId,
    first: storeCall(row).compile(kysely),
    then: async (rows, db) => {
      const stored = storedOnPostgres(rows[0] as StoreResult | undefined);
      return (await followUp(db, stored, report, row)).map((s) => s.compile(kysely));
    },
  });
}

/**
 * Checks what storing the report found and returns the writes that complete it: the merged
 * row, the checkpoints' searcher value, the trial's aggregates. `db` runs the rare reads
 * (a restarted trial's recomputation, a tie for best) in the report's transaction.
 */
async function followUp(
  db: () => Kysely<Database>,
  stored: Stored | undefined,
  report: MetricsReport,
  row: NewMetricRow,
): Promise<RawBuilder<unknown>[]> {
  if (stored === undefined) {
    throw notFound('trial', report.trialId);
  }
  const { trial } = stored;
  if (report.trialRunId !== trial.run_id) {
    throw badRequest(
      `invalid run id, ${report.trialRunId} (reported) != ${trial.run_id} (expected)`,
    );
  }
  let merged = report.avgMetrics;
  let added = report.avgMetrics;
  let rowId: number;
  const statements: RawBuilder<unknown>[] = [];
  if (stored.existing === undefined) {
    rowId = stored.insertedId;
  } else {
    const { existing } = stored;
    merged = mergeReport(existing, report);
    // Keys already in the row were counted when they arrived (a re-sent key must be equal).
    const old = parseJsonObject(existing.avgMetrics);
    added = Object.fromEntries(Object.entries(report.avgMetrics).filter(([k]) => !(k in old)));
    rowId = existing.id;
    const newBatch = existing.batchMetrics === null && row.batchMetrics !== null;
    if (Object.keys(added).length === 0 && !newBatch && !stored.archivedAny) {
      // A repeat of what is stored (a retried report): nothing to change.
      return [];
    }
    statements.push(sql`update metrics set avg_metrics = ${JSON.stringify(merged)},
        end_time = ${row.endTime}, batch_metrics = coalesce(batch_metrics, ${row.batchMetrics})
      where id = ${existing.id}`);
  }
  const searcher = {
    metric: trial.searcher_metric,
    smallerIsBetter: Number(trial.smaller_is_better) === 1,
  };
  if (report.group === METRIC_GROUP_VALIDATION) {
    statements.push(sql`update checkpoints set searcher_metric = ${finiteMetric(merged, searcher.metric)}
      where trial_id = ${row.trialId} and steps_completed = ${row.steps}`);
  }
  // A report that archived earlier ones (a restarted trial) recomputes everything from the
  // live rows; any other folds itself into what the trial row holds.
  const aggregates = stored.archivedAny
    ? await computeTrialAggregates(db(), report.trialId, searcher)
    : await foldReport(db, stored, searcher, report.group, {
        id: rowId,
        steps: row.steps,
        added,
        merged,
      });
  const totalBatches =
    report.group === METRIC_GROUP_TRAINING
      ? Math.max(Number(trial.total_batches), row.steps)
      : Number(trial.total_batches);
  statements.push(sql`update trials set summary_metrics = ${
    aggregates.summary === null ? null : JSON.stringify(aggregates.summary)
  }, best_validation_id = ${aggregates.bestValidationId},
      latest_validation_id = ${aggregates.latestValidationId},
      searcher_metric_value = ${aggregates.searcherMetricValue},
      total_batches = ${totalBatches}
    where id = ${row.trialId}`);
  return statements;
}

/** A report's row as stored, its JSON already encoded. */
interface NewMetricRow {
  trialId: number;
  runId: number;
  group: string;
  steps: number;
  endTime: number;
  avgMetrics: string;
  batchMetrics: string | null;
}

/** The live row of the report's group and step that the report merges into. */
interface ExistingRow {
  id: number;
  avgMetrics: string;
  batchMetrics: string | null;
}

/**
 * What storing a report found: the trial (locked), whether earlier runs' rows were archived,
 * the new row's id or the live row already holding the group and step, and where the report
 * stands among the live ones (for `last` and the latest validation, which go by step). When
 * the run id is not the trial's, nothing was written.
 */
type Stored = { trial: TrialForReport; archivedAny: boolean } & Standing &
  ({ existing: undefined; insertedId: number } | { existing: ExistingRow });

/** Where a stored report stands among the trial's live reports. */
interface Standing {
  /** A live report of the same group is at a later step. */
  hasLater: boolean;
  /** The step of the trial's latest validation, read for validation reports only. */
  latestValidationSteps: number | null;
}

/** What `report_metrics_store` returns: the trial, and what it did. */
type StoreResult = TrialForReport & {
  archived_any: boolean | null;
  inserted_id: number | null;
  existing_id: number | null;
  existing_avg_metrics: string | null;
  existing_batch_metrics: string | null;
  has_later: boolean | null;
  latest_validation_steps: number | null;
};

/**
 * Locks the trial, archives what earlier runs reported at or past the step, and inserts the
 * row unless the slot is taken, in one statement (`report_metrics_store`, migration 0007).
 */
function storeCall(row: NewMetricRow): RawBuilder<StoreResult> {
  return sql<StoreResult>`select * from report_metrics_store(${row.trialId}, ${row.runId},
    ${row.group}, ${row.steps}, ${row.endTime}, ${row.avgMetrics}, ${row.batchMetrics})`;
}

function storedOnPostgres(result: StoreResult | undefined): Stored | undefined {
  if (result === undefined) {
    return undefined;
  }
  const archivedAny = result.archived_any === true;
  const standing: Standing = {
    hasLater: result.has_later === true,
    latestValidationSteps:
      result.latest_validation_steps === null ? null : Number(result.latest_validation_steps),
  };
  if (result.existing_id !== null) {
    return {
      trial: result,
      archivedAny,
      ...standing,
      existing: {
        id: result.existing_id,
        avgMetrics: result.existing_avg_metrics ?? '{}',
        batchMetrics: result.existing_batch_metrics,
      },
    };
  }
  // A run id that is not the trial's returns the trial alone; the caller refuses it.
  return {
    trial: result,
    archivedAny,
    ...standing,
    existing: undefined,
    insertedId: result.inserted_id ?? 0,
  };
}

/** The same steps as `report_metrics_store`, one statement each: in-process, they cost little. */
async function storeOnSqlite(
  trx: Transaction<Database>,
  row: NewMetricRow,
): Promise<Stored | undefined> {
  // This statement and the archiving below run for every report; written as SQL they cost a
  // third of what kysely's builder takes to assemble them.
  const [trial] = (
    await sql<TrialForReport>`
      select t.run_id, t.total_batches, t.summary_metrics, t.best_validation_id,
        t.latest_validation_id, t.searcher_metric_value, e.searcher_metric, e.smaller_is_better
      from trials t join experiments e on e.id = t.experiment_id
      where t.id = ${row.trialId}`.execute(trx)
  ).rows;
  if (trial === undefined) {
    return undefined;
  }
  if (trial.run_id !== row.runId) {
    return {
      trial,
      archivedAny: false,
      hasLater: false,
      latestValidationSteps: null,
      existing: undefined,
      insertedId: 0,
    };
  }
  // Only a restarted trial (run 2 on) can hold rows of earlier runs to archive.
  // `archived = 0` is a literal, not a parameter: SQLite re-prepares a statement on every run
  // when a bound value decided whether a partial index (metrics_live_steps) applies.
  const { rows: archived } =
    row.runId > 1
      ? await sql<{ metric_group: string; total_batches: number }>`
          update metrics set archived = 1
          where trial_id = ${row.trialId} and archived = 0 and total_batches >= ${row.steps}
            and (total_batches > ${row.steps} or metric_group = ${row.group})
            and trial_run_id < ${row.runId}
          returning metric_group, total_batches`.execute(trx)
      : { rows: [] };
  for (const gone of archived) {
    if (gone.metric_group === METRIC_GROUP_VALIDATION) {
      await syncSearcherMetric(trx, row.trialId, gone.total_batches, null);
    }
  }
  const archivedAny = archived.length > 0;
  // Most reports are of a new step: try the insert first, and read the live report of this
  // group and step only when it already holds the slot (one statement fewer per report).
  const inserted = await trx
    .insertInto('metrics')
    .values({
      trial_id: row.trialId,
      trial_run_id: row.runId,
      metric_group: row.group,
      total_batches: row.steps,
      end_time: row.endTime,
      avg_metrics: row.avgMetrics,
      batch_metrics: row.batchMetrics,
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
  const standing = await standingOnSqlite(trx, row, trial);
  if (inserted !== undefined) {
    return { trial, archivedAny, ...standing, existing: undefined, insertedId: inserted.id };
  }
  const existing = await trx
    .selectFrom('metrics')
    .select(['id', 'avg_metrics', 'batch_metrics'])
    .where('trial_id', '=', row.trialId)
    .where('metric_group', '=', row.group)
    .where('total_batches', '=', row.steps)
    .where('archived', '=', sql.lit(0))
    .executeTakeFirstOrThrow();
  return {
    trial,
    archivedAny,
    ...standing,
    existing: {
      id: existing.id,
      avgMetrics: existing.avg_metrics,
      batchMetrics: existing.batch_metrics,
    },
  };
}

/** The two reads at the end of `report_metrics_store`. */
async function standingOnSqlite(
  trx: Transaction<Database>,
  row: NewMetricRow,
  trial: TrialForReport,
): Promise<Standing> {
  const { rows: later } = await sql`
    select 1 from metrics
    where trial_id = ${row.trialId} and metric_group = ${row.group} and archived = 0
      and total_batches > ${row.steps}
    limit 1`.execute(trx);
  let latestValidationSteps: number | null = null;
  if (row.group === METRIC_GROUP_VALIDATION && trial.latest_validation_id !== null) {
    const { rows } = await sql<{ total_batches: number }>`
      select total_batches from metrics where id = ${trial.latest_validation_id}`.execute(trx);
    latestValidationSteps = rows[0]?.total_batches ?? null;
  }
  return { hasLater: later.length > 0, latestValidationSteps };
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
 * merged row as the group's latest unless a live report of the group is at a later step, and
 * the row as a best or latest validation candidate.
 */
async function foldReport(
  db: () => Kysely<Database>,
  { trial, hasLater, latestValidationSteps }: Stored,
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
  if (hasLater) {
    fillLast(groupSummary);
  } else {
    setLast(groupSummary, row.merged);
  }
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
  if (
    raw !== undefined &&
    raw !== null &&
    (latestValidationSteps === null || row.steps >= latestValidationSteps)
  ) {
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
    const current = await db()
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

/**
 * The report's metrics merged into the row it re-reports. A key already there must come with the
 * same value, and batch metrics already there may only be sent again unchanged: a retry repeats
 * the report, a different value at the same step is a second, conflicting report.
 */
function mergeReport(existing: ExistingRow, report: MetricsReport): JsonObject {
  const old = parseJsonObject(existing.avgMetrics);
  for (const [key, value] of Object.entries(report.avgMetrics)) {
    if (key in old && !isDeepStrictEqual(old[key], value)) {
      throw new HttpError(
        'failed_precondition',
        `metric '${key}' of group '${report.group}' at step ${report.stepsCompleted} was already reported with a different value`,
      );
    }
  }
  if (
    existing.batchMetrics !== null &&
    report.batchMetrics !== null &&
    report.batchMetrics.length > 0 &&
    !isDeepStrictEqual(JSON.parse(existing.batchMetrics), report.batchMetrics)
  ) {
    throw new HttpError(
      'failed_precondition',
      `batch metrics of group '${report.group}' at step ${report.stepsCompleted} were already reported with different values`,
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
