import { randomUUID } from 'node:crypto';

import type {
  CheckpointState,
  JsonObject,
  MetricsWorkload,
  TrialDto,
  TrialState,
  TrialSummaryMetrics,
} from '@determined-ts/api';
import { TERMINAL_TRIAL_STATES, encodeDouble, encodeTimestamp } from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { AppDeps } from '../context.js';
import type { DialectName } from '../db/dialect.js';
import type { CheckpointRow, Database, MetricRow, TrialRow } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { COUNTED_STATES, chunked } from './checkpoint-counts.js';
import { getExperiment, refreshExperimentState } from './experiments.js';
import { parseJsonObject } from './json.js';

export async function getTrial(deps: AppDeps, id: number): Promise<TrialRow> {
  const row = await deps.db.kysely
    .selectFrom('trials')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (row === undefined) {
    throw notFound('trial', id);
  }
  return row;
}

/** Creates a trial in an unmanaged experiment; idempotent per (experiment, `externalId`). */
export async function createTrial(
  deps: AppDeps,
  req: { experimentId: number; hparams: JsonObject; unmanaged: boolean; externalId?: string },
): Promise<TrialRow> {
  const experiment = await getExperiment(deps, req.experimentId);
  if (experiment.unmanaged !== 1 || !req.unmanaged) {
    throw badRequest('only unmanaged trials can be created: pass unmanaged: true');
  }
  const db = deps.db.kysely;
  const find = (): Promise<TrialRow | undefined> =>
    db
      .selectFrom('trials')
      .selectAll()
      .where('experiment_id', '=', req.experimentId)
      .where('external_id', '=', req.externalId ?? '')
      .executeTakeFirst();
  if (req.externalId !== undefined) {
    const existing = await find();
    if (existing !== undefined) {
      return existing;
    }
  }
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('trials')
        .values({
          experiment_id: req.experimentId,
          // The Python SDK asserts a truthy taskId and later reports checkpoints and logs by it.
          task_id: `trial.${randomUUID()}`,
          state: 'STATE_ACTIVE',
          hparams: JSON.stringify(req.hparams),
          run_id: 0,
          restarts: 0,
          start_time: deps.clock(),
          end_time: null,
          external_id: req.externalId ?? null,
          total_batches: 0,
          progress: null,
          storage_id: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await refreshExperimentState(trx, req.experimentId, deps.clock());
      return row;
    });
  } catch (err: unknown) {
    if (req.externalId !== undefined) {
      const existing = await find();
      if (existing !== undefined) {
        return existing;
      }
    }
    throw err;
  }
}

/** Starts a new run of a trial: the run id that metric reports must carry from now on. */
export async function startTrial(
  deps: AppDeps,
  trialId: number,
  resume: boolean,
): Promise<{ trialRunId: number; stepsCompleted: number; latestCheckpoint?: string }> {
  const db = deps.db.kysely;
  return db.transaction().execute(async (trx) => {
    // Locked on PostgreSQL: two starts at once (a retry on another replica while the first
    // still runs) would otherwise both read run N and both answer N + 1.
    const trial = await trx
      .selectFrom('trials')
      .selectAll()
      .where('id', '=', trialId)
      .$if(deps.db.dialect === 'postgres', (qb) => qb.forUpdate())
      .executeTakeFirst();
    if (trial === undefined) {
      throw notFound('trial', trialId);
    }
    if (!resume && trial.run_id > 0) {
      throw new HttpError(
        'failed_precondition',
        `trial ${trialId} has already started; pass resume: true to continue it`,
      );
    }
    const runId = trial.run_id + 1;
    await trx
      .updateTable('trials')
      .set({ run_id: runId, restarts: Math.max(0, runId - 1) })
      .where('id', '=', trialId)
      .execute();
    if (!resume) {
      return { trialRunId: runId, stepsCompleted: 0 };
    }
    const latest = await trx
      .selectFrom('checkpoints')
      .select(['uuid', 'steps_completed'])
      .where('trial_id', '=', trialId)
      .where('state', '=', 'STATE_COMPLETED')
      .where('steps_completed', 'is not', null)
      // As checkpoints_latest is declared: PostgreSQL reads a plain `desc` as nulls first, which
      // no index matches, and sorted the whole trial on every resume.
      .orderBy('steps_completed', (ob) =>
        deps.db.dialect === 'sqlite' ? ob.desc() : ob.desc().nullsLast(),
      )
      .orderBy('report_time', 'desc')
      .orderBy('uuid', 'asc')
      .limit(1)
      .executeTakeFirst();
    return latest === undefined
      ? { trialRunId: runId, stepsCompleted: 0 }
      : {
          trialRunId: runId,
          stepsCompleted: latest.steps_completed ?? 0,
          latestCheckpoint: latest.uuid,
        };
  });
}

/**
 * Changes a trial's state. A patch without a state is the Core API's heartbeat and changes
 * nothing. A finished trial may only go back to running, which is how an unmanaged trial resumes.
 */
export async function patchTrialState(
  deps: AppDeps,
  trialId: number,
  state: TrialState | undefined,
): Promise<TrialRow> {
  const trial = await getTrial(deps, trialId);
  if (state === undefined || state === trial.state) {
    return trial;
  }
  if (state === 'STATE_UNSPECIFIED') {
    throw badRequest('invalid state STATE_UNSPECIFIED for a trial');
  }
  const terminal: readonly string[] = TERMINAL_TRIAL_STATES;
  const wasTerminal = terminal.includes(trial.state);
  if (wasTerminal && state !== 'STATE_RUNNING' && state !== 'STATE_ACTIVE') {
    throw new HttpError(
      'failed_precondition',
      `trial ${trialId} is already ${trial.state}; it can only be resumed (STATE_RUNNING)`,
    );
  }
  const now = deps.clock();
  const isTerminal = terminal.includes(state);
  await deps.db.kysely.transaction().execute(async (trx) => {
    await trx
      .updateTable('trials')
      .set({ state, end_time: isTerminal ? now : null })
      .where('id', '=', trialId)
      .execute();
    if (isTerminal || wasTerminal) {
      await refreshExperimentState(trx, trial.experiment_id, now);
    }
  });
  return getTrial(deps, trialId);
}

export async function setTrialProgress(
  deps: AppDeps,
  trialId: number,
  progress: number,
): Promise<void> {
  await getTrial(deps, trialId);
  await deps.db.kysely.updateTable('trials').set({ progress }).where('id', '=', trialId).execute();
}

/** Checkpoint totals of a set of trials, from the per-state counters (no checkpoint is read). */
async function checkpointTotals(
  db: Kysely<Database>,
  trialIds: readonly number[],
): Promise<Map<number, { count: number; size: number }>> {
  const rows = await chunked(trialIds, (chunk) =>
    db
      .selectFrom('checkpoint_counts')
      .select((eb) => [
        'trial_id',
        eb.fn.sum<number>('n').as('n'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('trial_id', 'in', chunk)
      .where('state', 'in', COUNTED_STATES)
      .groupBy('trial_id')
      .execute(),
  );
  return new Map(rows.map((r) => [r.trial_id, { count: Number(r.n), size: Number(r.bytes) }]));
}

/**
 * Each trial's best COMPLETED checkpoint by the searcher metric, in one query: per trial, one
 * walk down `checkpoints_metric_asc` or `_desc` (the experiment's direction), ties as DESIGN.md.
 */
async function bestCheckpoints(
  db: Kysely<Database>,
  dialect: DialectName,
  trialIds: readonly number[],
): Promise<Map<number, BestCheckpointRow>> {
  const nullsLast = dialect === 'postgres' ? sql` nulls last` : sql``;
  const pick = (direction: 'asc' | 'desc') => sql`(select c.id from checkpoints c
    where c.trial_id = t.id and c.state = 'STATE_COMPLETED' and c.searcher_metric is not null
    order by c.searcher_metric ${sql.raw(direction)}, c.steps_completed desc${nullsLast},
      c.report_time desc, c.uuid asc
    limit 1)`;
  const picked = await chunked(trialIds, async (chunk) => {
    const { rows } = await sql<{ best_id: number | null }>`
      select case when e.smaller_is_better = 1 then ${pick('asc')} else ${pick('desc')} end
        as best_id
      from trials t join experiments e on e.id = t.experiment_id
      where t.id in (${sql.join(chunk)})`.execute(db);
    return rows.flatMap((r) => (r.best_id === null ? [] : [Number(r.best_id)]));
  });
  const rows = await chunked(picked, (chunk) =>
    db
      .selectFrom('checkpoints')
      .select([
        'trial_id',
        'uuid',
        'report_time',
        'state',
        'resources',
        'steps_completed',
        'metadata',
      ])
      .where('id', 'in', chunk)
      .execute(),
  );
  return new Map(rows.map((r) => [r.trial_id, r]));
}

type BestCheckpointRow = Pick<
  CheckpointRow,
  'trial_id' | 'uuid' | 'report_time' | 'state' | 'resources' | 'steps_completed' | 'metadata'
>;

/** The validation rows trials point at as best and latest, by id. */
async function validationRows(
  db: Kysely<Database>,
  rows: readonly TrialRow[],
): Promise<Map<number, Pick<MetricRow, 'id' | 'total_batches' | 'end_time' | 'avg_metrics'>>> {
  const ids = [
    ...new Set(
      rows.flatMap((r) =>
        [r.best_validation_id, r.latest_validation_id].filter((id): id is number => id !== null),
      ),
    ),
  ];
  const found = await chunked(ids, (chunk) =>
    db
      .selectFrom('metrics')
      .select(['id', 'total_batches', 'end_time', 'avg_metrics'])
      .where('id', 'in', chunk)
      .execute(),
  );
  return new Map(found.map((m) => [m.id, m]));
}

/**
 * A validation as Determined's trials carry it (`MetricsWorkload`). Determined's SQL builds
 * `{avg_metrics: …}` (master/static/srv/proto_get_trials_plus.sql), which becomes the proto
 * `commonv1.Metrics` and so `avgMetrics` on the wire: its Python SDK reads that key.
 */
function toMetricsWorkload(
  row: Pick<MetricRow, 'total_batches' | 'end_time' | 'avg_metrics'> | undefined,
): MetricsWorkload | null {
  return row === undefined
    ? null
    : {
        endTime: encodeTimestamp(new Date(row.end_time)),
        totalBatches: row.total_batches,
        numInputs: 0,
        metrics: { avgMetrics: parseJsonObject(row.avg_metrics), batchMetrics: [] },
      };
}

/**
 * Builds wire trials for rows with a fixed number of queries whatever their count: checkpoint
 * totals from the counters, each trial's best checkpoint, and the best and latest validations.
 */
export async function trialDtos(deps: AppDeps, rows: readonly TrialRow[]): Promise<TrialDto[]> {
  const db = deps.db.kysely;
  const ids = rows.map((r) => r.id);
  const totals = await checkpointTotals(db, ids);
  const bests = await bestCheckpoints(db, deps.db.dialect, ids);
  const validations = await validationRows(db, rows);
  return rows.map((row) => {
    const best = bests.get(row.id);
    const total = totals.get(row.id) ?? { count: 0, size: 0 };
    const validation = (id: number | null) =>
      toMetricsWorkload(id === null ? undefined : validations.get(id));
    return {
      id: row.id,
      experimentId: row.experiment_id,
      startTime: encodeTimestamp(new Date(row.start_time)),
      ...(row.end_time === null ? {} : { endTime: encodeTimestamp(new Date(row.end_time)) }),
      state: row.state as TrialState,
      restarts: row.restarts,
      hparams: parseJsonObject(row.hparams),
      totalBatchesProcessed: row.total_batches,
      bestValidation: validation(row.best_validation_id),
      latestValidation: validation(row.latest_validation_id),
      bestCheckpoint:
        best === undefined
          ? null
          : {
              uuid: best.uuid,
              endTime: encodeTimestamp(new Date(best.report_time)),
              state: best.state as CheckpointState,
              resources: stringifySizes(parseJsonObject(best.resources)),
              totalBatches: best.steps_completed ?? 0,
              metadata: parseJsonObject(best.metadata),
            },
      runnerState: '',
      wallClockTime: 0,
      warmStartCheckpointUuid: '',
      taskId: row.task_id,
      taskIds: [row.task_id],
      totalCheckpointSize: String(total.size),
      checkpointCount: total.count,
      summaryMetrics:
        row.summary_metrics === null
          ? null
          : (JSON.parse(row.summary_metrics) as TrialSummaryMetrics),
      ...(row.searcher_metric_value === null
        ? {}
        : { searcherMetricValue: encodeDouble(row.searcher_metric_value) }),
      ...(row.external_id === null ? {} : { externalTrialId: row.external_id }),
    };
  });
}

/** Resources are stored as numbers and sent as int64 strings. */
export function stringifySizes(resources: JsonObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, size] of Object.entries(resources)) {
    out[path] = String(size);
  }
  return out;
}
