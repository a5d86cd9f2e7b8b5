// The check of a master's database against the ledger of the clients that wrote to it.
import { isDeepStrictEqual } from 'node:util';

import type { JsonObject } from '@determined-ts/api';
import type { Kysely } from 'kysely';

import type { Database } from '../src/db/schema.js';
import { computeTrialAggregates } from '../src/services/trial-summary.js';
import { LOAD_SEARCHER } from './crash-load.js';
import type { Ledger, LoadTrial, Write } from './crash-load.js';

/** What the check found: counts for the report, and every problem (none when all holds). */
export interface CheckResult {
  problems: string[];
  unackedPresent: { metrics: number; checkpoints: number };
  unackedAbsent: { metrics: number; checkpoints: number };
}

/**
 * Checks a database against a ledger: every acknowledged write is stored exactly as sent, every
 * unacknowledged one is stored exactly as sent or not at all, nothing else is stored, and the
 * trials' denormalized columns (summaries, best and latest validations, total batches,
 * checkpoint counters, checkpoints' searcher values) agree with the rows.
 */
export async function checkAgainstLedger(
  db: Kysely<Database>,
  ledger: Ledger,
  trials: readonly LoadTrial[],
): Promise<CheckResult> {
  const problems: string[] = [];
  const result: CheckResult = {
    problems,
    unackedPresent: { metrics: 0, checkpoints: 0 },
    unackedAbsent: { metrics: 0, checkpoints: 0 },
  };
  const trialIds = trials.map((t) => t.id);
  const metricRows = await db
    .selectFrom('metrics')
    .selectAll()
    .where('trial_id', 'in', trialIds)
    .execute();
  const checkpointRows = await db
    .selectFrom('checkpoints')
    .selectAll()
    .where('trial_id', 'in', trialIds)
    .execute();

  const metricKey = (trialId: number, group: string, steps: number): string =>
    `${trialId}/${group}/${steps}`;
  const rowsByKey = new Map<string, (typeof metricRows)[number][]>();
  for (const row of metricRows) {
    const key = metricKey(row.trial_id, row.metric_group, row.total_batches);
    rowsByKey.set(key, [...(rowsByKey.get(key) ?? []), row]);
  }
  const checkpointByUuid = new Map(checkpointRows.map((r) => [r.uuid, r]));
  if (checkpointByUuid.size !== checkpointRows.length) {
    problems.push('duplicate checkpoint uuids');
  }

  const sent = new Set<string>();
  const checkWrite = (write: Write, isAcked: boolean): void => {
    if (write.metrics !== undefined) {
      const key = metricKey(write.trial.id, write.metrics.group, write.steps);
      sent.add(key);
      const rows = rowsByKey.get(key) ?? [];
      if (rows.length === 0) {
        if (isAcked) {
          problems.push(`acknowledged metrics ${key} are missing`);
        } else {
          result.unackedAbsent.metrics += 1;
        }
        return;
      }
      if (!isAcked) {
        result.unackedPresent.metrics += 1;
      }
      const [row] = rows;
      if (
        rows.length !== 1 ||
        row === undefined ||
        row.archived !== 0 ||
        row.trial_run_id !== write.trial.runId ||
        row.batch_metrics !== null ||
        !isDeepStrictEqual(JSON.parse(row.avg_metrics), write.metrics.avgMetrics)
      ) {
        problems.push(
          `metrics ${key} stored as ${JSON.stringify(rows)}, sent ${JSON.stringify(write.body)}`,
        );
      }
      return;
    }
    const checkpoint = write.checkpoint;
    if (checkpoint === undefined) {
      return;
    }
    sent.add(checkpoint.uuid);
    const row = checkpointByUuid.get(checkpoint.uuid);
    if (row === undefined) {
      if (isAcked) {
        problems.push(`acknowledged checkpoint ${checkpoint.uuid} is missing`);
      } else {
        result.unackedAbsent.checkpoints += 1;
      }
      return;
    }
    if (!isAcked) {
      result.unackedPresent.checkpoints += 1;
    }
    const sizes = Object.fromEntries(
      Object.entries(checkpoint.resources).map(([path, size]) => [path, Number(size)]),
    );
    const isWhole =
      row.trial_id === write.trial.id &&
      row.task_id === write.trial.taskId &&
      row.state === 'STATE_COMPLETED' &&
      row.allocation_id === null &&
      row.digests === null &&
      row.steps_completed === write.steps &&
      row.report_time === Date.parse(checkpoint.reportTime) &&
      row.size === Object.values(sizes).reduce((a, b) => a + b, 0) &&
      isDeepStrictEqual(JSON.parse(row.resources), sizes) &&
      isDeepStrictEqual(JSON.parse(row.metadata), checkpoint.metadata);
    if (!isWhole) {
      problems.push(`checkpoint ${checkpoint.uuid} is not stored as sent: ${JSON.stringify(row)}`);
    }
  };
  for (const write of ledger.acked) {
    checkWrite(write, true);
  }
  for (const write of ledger.unacked) {
    checkWrite(write, false);
  }
  for (const key of rowsByKey.keys()) {
    if (!sent.has(key)) {
      problems.push(`metrics ${key} were stored but never sent`);
    }
  }
  for (const uuid of checkpointByUuid.keys()) {
    if (!sent.has(uuid)) {
      problems.push(`checkpoint ${uuid} was stored but never sent`);
    }
  }

  // Each checkpoint's searcher value is its live validation's, at its step.
  for (const row of checkpointRows) {
    const validation = rowsByKey.get(
      metricKey(row.trial_id, 'validation', row.steps_completed ?? -1),
    );
    const value =
      validation?.[0] === undefined
        ? null
        : (JSON.parse(validation[0].avg_metrics) as JsonObject).validation_loss;
    if (row.searcher_metric !== (value ?? null)) {
      problems.push(
        `checkpoint ${row.uuid} has searcher_metric ${row.searcher_metric}, its validation ${String(value)}`,
      );
    }
  }

  const counts = await db
    .selectFrom('checkpoint_counts')
    .selectAll()
    .where('trial_id', 'in', trialIds)
    .execute();
  const trialRows = await db.selectFrom('trials').selectAll().where('id', 'in', trialIds).execute();
  for (const trial of trialRows) {
    const mine = checkpointRows.filter((r) => r.trial_id === trial.id);
    const expected =
      mine.length === 0
        ? []
        : [
            {
              state: 'STATE_COMPLETED',
              n: mine.length,
              bytes: mine.reduce((a, r) => a + r.size, 0),
            },
          ];
    const stored = counts
      .filter((c) => c.trial_id === trial.id && (c.n !== 0 || c.bytes !== 0))
      .map((c) => ({ state: c.state, n: Number(c.n), bytes: Number(c.bytes) }));
    if (!isDeepStrictEqual(stored, expected)) {
      problems.push(
        `trial ${trial.id} checkpoint counts ${JSON.stringify(stored)}, rows say ${JSON.stringify(expected)}`,
      );
    }
    const trainingSteps = metricRows
      .filter((r) => r.trial_id === trial.id && r.metric_group === 'training')
      .map((r) => r.total_batches);
    if (Number(trial.total_batches) !== Math.max(0, ...trainingSteps)) {
      problems.push(
        `trial ${trial.id} total_batches ${trial.total_batches}, rows say ${Math.max(0, ...trainingSteps)}`,
      );
    }
    const aggregates = await computeTrialAggregates(db, trial.id, LOAD_SEARCHER);
    const onRow = {
      summary:
        trial.summary_metrics === null ? null : (JSON.parse(trial.summary_metrics) as unknown),
      bestValidationId: trial.best_validation_id,
      latestValidationId: trial.latest_validation_id,
      searcherMetricValue: trial.searcher_metric_value,
    };
    if (!isDeepStrictEqual(onRow, aggregates)) {
      problems.push(
        `trial ${trial.id} aggregates ${JSON.stringify(onRow)}, rows say ${JSON.stringify(aggregates)}`,
      );
    }
  }
  return result;
}
