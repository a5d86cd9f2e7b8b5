import type { CheckpointDto, CheckpointState, JsonObject } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  decodeDouble,
  encodeDouble,
  encodeTimestamp,
} from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { CheckpointRow, Database } from '../db/schema.js';
import { parseJsonObject } from './json.js';
import { stringifySizes } from './trials.js';

/** Largest IN list sent in one query. */
const IN_CHUNK = 5000;

/** What a checkpoint DTO needs besides its own row, loaded once per batch of rows. */
interface Related {
  trials: Map<number, { experimentId: number; hparams: JsonObject }>;
  experiments: Map<number, { config: JsonObject; searcherMetric: string }>;
  storages: Map<number, JsonObject>;
  /** `${trialId}/${group}/${steps}` → avg metrics of the live report. */
  metrics: Map<string, JsonObject>;
}

async function loadRelated(
  db: Kysely<Database>,
  rows: readonly CheckpointRow[],
  { withMetrics = true } = {},
): Promise<Related> {
  const trialIds = [...new Set(rows.map((r) => r.trial_id))];
  const storageIds = [
    ...new Set(rows.flatMap((r) => (r.storage_id === null ? [] : [r.storage_id]))),
  ];
  const steps = [
    ...new Set(rows.flatMap((r) => (r.steps_completed === null ? [] : [r.steps_completed]))),
  ];
  const related: Related = {
    trials: new Map(),
    experiments: new Map(),
    storages: new Map(),
    metrics: new Map(),
  };
  if (trialIds.length === 0) {
    return related;
  }
  const trials = await db
    .selectFrom('trials')
    .innerJoin('experiments', 'experiments.id', 'trials.experiment_id')
    .select([
      'trials.id',
      'trials.experiment_id',
      'trials.hparams',
      'experiments.config',
      'experiments.searcher_metric',
    ])
    .where('trials.id', 'in', trialIds)
    .execute();
  for (const t of trials) {
    related.trials.set(t.id, {
      experimentId: t.experiment_id,
      hparams: parseJsonObject(t.hparams),
    });
    if (!related.experiments.has(t.experiment_id)) {
      related.experiments.set(t.experiment_id, {
        config: parseJsonObject(t.config),
        searcherMetric: t.searcher_metric,
      });
    }
  }
  if (storageIds.length > 0) {
    const storages = await db
      .selectFrom('storage_backends')
      .selectAll()
      .where('id', 'in', storageIds)
      .execute();
    for (const s of storages) {
      related.storages.set(s.id, parseJsonObject(s.config));
    }
  }
  // Chunked: a page of every checkpoint of a big trial would exceed the databases'
  // bound-parameter limits in one IN list.
  for (let i = 0; withMetrics && i < steps.length; i += IN_CHUNK) {
    const metrics = await db
      .selectFrom('metrics')
      .select(['trial_id', 'metric_group', 'total_batches', 'avg_metrics'])
      .where('trial_id', 'in', trialIds)
      .where('total_batches', 'in', steps.slice(i, i + IN_CHUNK))
      .where('metric_group', 'in', [METRIC_GROUP_TRAINING, METRIC_GROUP_VALIDATION])
      // Literal: a bound value here makes SQLite re-prepare (it picks metrics_live by it).
      .where('archived', '=', sql.lit(0))
      .execute();
    for (const m of metrics) {
      related.metrics.set(
        `${m.trial_id}/${m.metric_group}/${m.total_batches}`,
        parseJsonObject(m.avg_metrics),
      );
    }
  }
  return related;
}

/**
 * The storage config a checkpoint's files live in: the backend it was reported with, else its
 * experiment's `checkpoint_storage`.
 */
export function storageConfigOf(
  row: CheckpointRow,
  experimentConfig: JsonObject,
  storages: Map<number, JsonObject>,
): JsonObject {
  const backend = row.storage_id === null ? undefined : storages.get(row.storage_id);
  if (backend !== undefined) {
    return backend;
  }
  const fromConfig = experimentConfig.checkpoint_storage;
  return fromConfig !== null && typeof fromConfig === 'object' ? (fromConfig as JsonObject) : {};
}

function toCheckpointDto(row: CheckpointRow, related: Related): CheckpointDto {
  const trial = related.trials.get(row.trial_id);
  const experiment = trial === undefined ? undefined : related.experiments.get(trial.experimentId);
  const at = (group: string): JsonObject | null =>
    row.steps_completed === null
      ? null
      : (related.metrics.get(`${row.trial_id}/${group}/${row.steps_completed}`) ?? null);
  const validation = at(METRIC_GROUP_VALIDATION);
  const searcherDouble =
    experiment === undefined ? undefined : decodeDouble(validation?.[experiment.searcherMetric]);
  // Determined's SDK builds its storage manager from experimentConfig.checkpoint_storage, so it
  // must name where this checkpoint's files really are.
  const experimentConfig =
    experiment === undefined
      ? null
      : {
          ...experiment.config,
          checkpoint_storage: storageConfigOf(row, experiment.config, related.storages),
        };
  const digests =
    row.digests === null ? undefined : (JSON.parse(row.digests) as Record<string, string>);
  const crc32c =
    row.crc32c === null ? undefined : (JSON.parse(row.crc32c) as Record<string, string>);
  return {
    uuid: row.uuid,
    taskId: row.task_id,
    ...(row.allocation_id === null ? {} : { allocationId: row.allocation_id }),
    reportTime: encodeTimestamp(new Date(row.report_time)),
    resources: stringifySizes(parseJsonObject(row.resources)),
    metadata: parseJsonObject(row.metadata),
    state: row.state as CheckpointState,
    training: {
      ...(trial === undefined ? {} : { trialId: row.trial_id, experimentId: trial.experimentId }),
      experimentConfig,
      hparams: trial?.hparams ?? null,
      trainingMetrics: { avgMetrics: at(METRIC_GROUP_TRAINING), batchMetrics: [] },
      validationMetrics: { avgMetrics: validation, batchMetrics: [] },
      ...(searcherDouble === undefined ? {} : { searcherMetric: encodeDouble(searcherDouble) }),
    },
    ...(row.storage_id === null ? {} : { storageId: row.storage_id }),
    ...(digests === undefined ? {} : { digests }),
    ...(crc32c === undefined ? {} : { crc32c }),
  };
}

/** Builds wire checkpoints for rows, joining each to its trial, experiment and metrics at read time. */
export async function checkpointDtos(
  db: Kysely<Database>,
  rows: readonly CheckpointRow[],
): Promise<CheckpointDto[]> {
  const related = await loadRelated(db, rows);
  return rows.map((row) => toCheckpointDto(row, related));
}

/** The storage config of each row, keyed by uuid (for deletes and archives). */
export async function storageConfigs(
  db: Kysely<Database>,
  rows: readonly CheckpointRow[],
): Promise<Map<string, JsonObject>> {
  const related = await loadRelated(db, rows, { withMetrics: false });
  const out = new Map<string, JsonObject>();
  for (const row of rows) {
    const trial = related.trials.get(row.trial_id);
    const experiment =
      trial === undefined ? undefined : related.experiments.get(trial.experimentId);
    out.set(row.uuid, storageConfigOf(row, experiment?.config ?? {}, related.storages));
  }
  return out;
}
