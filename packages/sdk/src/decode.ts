import type {
  CheckpointDto,
  CheckpointMarkerDto,
  DataPointDto,
  ExperimentDto,
  TrialDto,
  TrialLogDto,
  UserDto,
} from '@determined-ts/api';
import { decodeDouble, decodeInt64 } from '@determined-ts/api';

import {
  array,
  date,
  fail,
  int,
  isObject,
  keyOf,
  object,
  optionalDate,
  optionalInt,
  stripState,
} from './decode-fields.js';

import type {
  CheckpointData,
  CheckpointMarker,
  CheckpointState,
  ExperimentData,
  MetricPoint,
  Metrics,
  Pagination,
  TrialData,
  TrialLogLine,
  TrialState,
  UserData,
  ValidationSummary,
} from './models.js';

/*
 * The one place wire JSON becomes SDK values: int64 strings become numbers, "NaN"/"Infinity"
 * strings become numbers, STATE_ prefixes go, and optional fields a real master omits get their
 * defaults. Anything malformed throws a TypeError naming the field (`field trial.id: expected an
 * integer, got "x"`), never a half-built object; `field` arguments name where a value sits in
 * its response (`checkpoints[3]`).
 */

/**
 * Checkpoint ids are UUIDs. The format is not enforced (tests and old tools use others), but an id
 * that is not one plain path segment could name a directory outside `checkpoints/`.
 */
function isCheckpointId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value !== '' &&
    value !== '.' &&
    value !== '..' &&
    !/[/\\\0]/.test(value)
  );
}

/** Decodes Determined's non-finite metric strings inside a metrics object; other values pass through. */
export function decodeMetrics(value: unknown): Metrics | null {
  if (!isObject(value)) {
    return null;
  }
  const out: Metrics = {};
  for (const [key, v] of Object.entries(value)) {
    const d = typeof v === 'string' ? decodeDouble(v) : undefined;
    out[key] = d ?? v;
  }
  return out;
}

/** `checkpointv1.Checkpoint`; `field` names where it sits in its response, for errors. */
export function decodeCheckpoint(dto: CheckpointDto, field = 'checkpoint'): CheckpointData {
  const c = object(dto, field);
  if (!isCheckpointId(c.uuid)) {
    fail(`${field}.uuid`, 'a UUID', c.uuid);
  }
  // Determined always sends the map (`{}` when empty): a missing one is not "no files".
  const resources: Record<string, number> = {};
  for (const [path, size] of Object.entries(object(c.resources, `${field}.resources`))) {
    resources[path] = int(size, keyOf(`${field}.resources`, path));
  }
  const metadata = isObject(c.metadata) ? c.metadata : {};
  const t = isObject(c.training) ? c.training : undefined;
  const trialId = t === undefined ? undefined : decodeInt64(t.trialId);
  const experimentConfig =
    t !== undefined && isObject(t.experimentConfig) ? t.experimentConfig : {};
  const training =
    t === undefined || trialId === undefined || trialId === 0
      ? null
      : {
          trialId,
          experimentId: int(t.experimentId, `${field}.training.experimentId`),
          experimentConfig,
          hparams: isObject(t.hparams) ? t.hparams : {},
          trainingMetrics: decodeMetrics(
            isObject(t.trainingMetrics) ? t.trainingMetrics.avgMetrics : null,
          ),
          validationMetrics: decodeMetrics(
            isObject(t.validationMetrics) ? t.validationMetrics.avgMetrics : null,
          ),
          searcherMetric: decodeDouble(t.searcherMetric),
        };
  const reportTime = date(c.reportTime, `${field}.reportTime`);
  const steps = decodeInt64(metadata.steps_completed);
  const storage = experimentConfig.checkpoint_storage;
  const strings = (value: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [path, v] of Object.entries(isObject(value) ? value : {})) {
      if (typeof v === 'string') {
        out[path] = v;
      }
    }
    return out;
  };
  return {
    uuid: c.uuid,
    state: stripState<CheckpointState>(c.state, `${field}.state`),
    taskId: typeof c.taskId === 'string' ? c.taskId : '',
    allocationId: typeof c.allocationId === 'string' ? c.allocationId : undefined,
    reportTime,
    resources,
    metadata,
    training,
    storageId: decodeInt64(c.storageId),
    digests: strings(c.digests),
    crc32c: strings(c.crc32c),
    storageConfig: isObject(storage) ? storage : {},
    batchNumber: steps,
    startTime: reportTime,
    endTime: reportTime,
    validation:
      training?.validationMetrics == null
        ? null
        : { state: 'COMPLETED', metrics: { validationMetrics: training.validationMetrics } },
  };
}

/** `MetricsWorkload.metrics` is a `commonv1.Metrics`; older masters sent snake_case keys. */
function decodeValidation(value: unknown, field: string): ValidationSummary | null {
  if (!isObject(value)) {
    return null;
  }
  const m = isObject(value.metrics) ? value.metrics : {};
  return {
    stepsCompleted: optionalInt(value.totalBatches, `${field}.totalBatches`, 0),
    endTime: date(value.endTime, `${field}.endTime`),
    metrics: decodeMetrics(m.avgMetrics ?? m.avg_metrics) ?? {},
  };
}

/** `trialv1.Trial`; `field` names where it sits in its response, for errors. */
export function decodeTrial(dto: TrialDto, field = 'trial'): TrialData {
  object(dto, field);
  const best = isObject(dto.bestCheckpoint) ? dto.bestCheckpoint : undefined;
  return {
    id: int(dto.id, `${field}.id`),
    experimentId: int(dto.experimentId, `${field}.experimentId`),
    state: stripState<TrialState>(dto.state, `${field}.state`),
    hparams: isObject(dto.hparams) ? dto.hparams : {},
    startTime: date(dto.startTime, `${field}.startTime`),
    endTime: optionalDate(dto.endTime, `${field}.endTime`),
    restarts: optionalInt(dto.restarts, `${field}.restarts`, 0),
    totalBatchesProcessed: optionalInt(
      dto.totalBatchesProcessed,
      `${field}.totalBatchesProcessed`,
      0,
    ),
    taskId: typeof dto.taskId === 'string' && dto.taskId !== '' ? dto.taskId : undefined,
    summaryMetrics: isObject(dto.summaryMetrics) ? dto.summaryMetrics : null,
    bestValidation: decodeValidation(dto.bestValidation, `${field}.bestValidation`),
    latestValidation: decodeValidation(dto.latestValidation, `${field}.latestValidation`),
    searcherMetricValue: decodeDouble(dto.searcherMetricValue),
    bestCheckpointUuid:
      best !== undefined && typeof best.uuid === 'string' && best.uuid !== ''
        ? best.uuid
        : undefined,
    checkpointCount: optionalInt(dto.checkpointCount, `${field}.checkpointCount`, 0),
    totalCheckpointSize: optionalInt(dto.totalCheckpointSize, `${field}.totalCheckpointSize`, 0),
  };
}

/** `experimentv1.Experiment`; `field` names where it sits in its response, for errors. */
export function decodeExperiment(dto: ExperimentDto, field = 'experiment'): ExperimentData {
  object(dto, field);
  const config = isObject(dto.config) ? dto.config : {};
  const searcher = isObject(config.searcher) ? config.searcher : {};
  const searcherType =
    typeof dto.searcherType === 'string' && dto.searcherType !== ''
      ? dto.searcherType
      : typeof searcher.name === 'string'
        ? searcher.name
        : '';
  return {
    id: int(dto.id, `${field}.id`),
    name: typeof dto.name === 'string' ? dto.name : '',
    description: typeof dto.description === 'string' ? dto.description : '',
    labels: Array.isArray(dto.labels)
      ? dto.labels.filter((l): l is string => typeof l === 'string')
      : [],
    username: typeof dto.username === 'string' ? dto.username : '',
    state: typeof dto.state === 'string' ? dto.state.replace(/^STATE_/, '') : 'UNSPECIFIED',
    archived: dto.archived === true,
    config,
    hyperparameters: isObject(dto.hyperparameters)
      ? dto.hyperparameters
      : isObject(config.hyperparameters)
        ? config.hyperparameters
        : {},
    searcherType,
    searcherMetric: typeof searcher.metric === 'string' ? searcher.metric : undefined,
    smallerIsBetter:
      typeof searcher.smaller_is_better === 'boolean' ? searcher.smaller_is_better : true,
    numTrials: optionalInt(dto.numTrials, `${field}.numTrials`, 0),
    trialIds: Array.isArray(dto.trialIds)
      ? dto.trialIds.map((id, i) => int(id, `${field}.trialIds[${i}]`))
      : [],
    progress: typeof dto.progress === 'number' ? dto.progress : undefined,
    checkpointCount: optionalInt(dto.checkpointCount, `${field}.checkpointCount`, 0),
    checkpointSize: optionalInt(dto.checkpointSize, `${field}.checkpointSize`, 0),
    bestTrialSearcherMetric: decodeDouble(dto.bestTrialSearcherMetric),
    bestTrialId: decodeInt64(dto.bestTrialId),
    startTime: date(dto.startTime, `${field}.startTime`),
    endTime: optionalDate(dto.endTime, `${field}.endTime`),
    unmanaged: dto.unmanaged === true,
  };
}

/** `userv1.User`. */
export function decodeUser(dto: UserDto, field = 'user'): UserData {
  if (typeof object(dto, field).username !== 'string') {
    fail(`${field}.username`, 'a string', dto.username);
  }
  return {
    id: optionalInt(dto.id, `${field}.id`, 0),
    username: dto.username,
    displayName: typeof dto.displayName === 'string' ? dto.displayName : '',
    admin: dto.admin === true,
    active: dto.active !== false,
  };
}

/** A data point of `GET /api/v1/trials/time-series`. */
export function decodeDataPoint(dto: DataPointDto, field = 'dataPoint'): MetricPoint {
  object(dto, field);
  const values: Record<string, number> = {};
  for (const [name, v] of Object.entries(isObject(dto.values) ? dto.values : {})) {
    const n = decodeDouble(v);
    if (n !== undefined) {
      values[name] = n;
    }
  }
  return {
    batches: int(dto.batches, `${field}.batches`),
    time: date(dto.time, `${field}.time`),
    epoch: decodeDouble(dto.epoch),
    values,
  };
}

export function decodeCheckpointMarker(
  dto: CheckpointMarkerDto,
  field = 'marker',
): CheckpointMarker {
  if (typeof object(dto, field).uuid !== 'string') {
    fail(`${field}.uuid`, 'a string', dto.uuid);
  }
  return {
    uuid: dto.uuid,
    stepsCompleted: int(dto.stepsCompleted, `${field}.stepsCompleted`),
    state: stripState<CheckpointState>(dto.state, `${field}.state`),
    reportTime: date(dto.reportTime, `${field}.reportTime`),
    size: optionalInt(dto.size, `${field}.size`, 0),
    searcherMetric: decodeDouble(dto.searcherMetric),
  };
}

export function decodeTrialLog(dto: TrialLogDto, field = 'log'): TrialLogLine {
  object(dto, field);
  const message = typeof dto.message === 'string' ? dto.message : dto.log;
  return {
    id: typeof dto.id === 'string' ? dto.id : String(dto.id),
    timestamp: date(dto.timestamp, `${field}.timestamp`),
    message: typeof message === 'string' ? message : '',
    stdtype: typeof dto.stdtype === 'string' ? dto.stdtype : undefined,
    rankId: decodeInt64(dto.rankId),
  };
}

/** `commonv1.Pagination`: five int32 numbers (or int strings), all present. */
export function decodePagination(value: unknown, field = 'pagination'): Pagination {
  const p = object(value, field);
  return {
    offset: int(p.offset, `${field}.offset`),
    limit: int(p.limit, `${field}.limit`),
    startIndex: int(p.startIndex, `${field}.startIndex`),
    endIndex: int(p.endIndex, `${field}.endIndex`),
    total: int(p.total, `${field}.total`),
  };
}

/** A checkpoint listing (`{ checkpoints, pagination }`) of a trial or an experiment. */
export function decodeCheckpointList(value: unknown): {
  checkpoints: CheckpointData[];
  pagination: Pagination;
} {
  const list = object(value, 'response');
  return {
    checkpoints: array(list.checkpoints, 'checkpoints').map((c, i) =>
      decodeCheckpoint(c as CheckpointDto, `checkpoints[${i}]`),
    ),
    pagination: decodePagination(list.pagination),
  };
}
