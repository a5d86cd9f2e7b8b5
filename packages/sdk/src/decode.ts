import type {
  CheckpointDto,
  CheckpointMarkerDto,
  DataPointDto,
  ExperimentDto,
  JsonObject,
  TrialDto,
  TrialLogDto,
  UserDto,
} from '@determined-ts/api';
import { decodeDouble, decodeInt64 } from '@determined-ts/api';

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
 * defaults. Anything malformed throws a TypeError naming the field, never a half-built object.
 */

function fail(field: string, value: unknown): never {
  throw new TypeError(
    `unexpected ${field} in master response: ${JSON.stringify(value)?.slice(0, 200)}`,
  );
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stripState<T extends string>(value: unknown, field: string): T {
  if (typeof value !== 'string' || !value.startsWith('STATE_')) {
    fail(field, value);
  }
  return value.slice('STATE_'.length) as T;
}

function date(value: unknown, field: string): Date {
  const d = typeof value === 'string' ? new Date(value) : undefined;
  if (d === undefined || Number.isNaN(d.getTime())) {
    fail(field, value);
  }
  return d;
}

function optionalDate(value: unknown, field: string): Date | undefined {
  return value === undefined || value === null || value === '' ? undefined : date(value, field);
}

function int(value: unknown, field: string): number {
  const n = decodeInt64(value);
  if (n === undefined) {
    fail(field, value);
  }
  return n;
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

export function decodeCheckpoint(dto: CheckpointDto): CheckpointData {
  if (!isObject(dto) || typeof dto.uuid !== 'string') {
    fail('checkpoint', dto);
  }
  const resources: Record<string, number> = {};
  for (const [path, size] of Object.entries(isObject(dto.resources) ? dto.resources : {})) {
    resources[path] = int(size, `resources[${path}]`);
  }
  const metadata = isObject(dto.metadata) ? dto.metadata : {};
  const t = isObject(dto.training) ? dto.training : undefined;
  const trialId = t === undefined ? undefined : decodeInt64(t.trialId);
  const experimentConfig =
    t !== undefined && isObject(t.experimentConfig) ? t.experimentConfig : {};
  const training =
    t === undefined || trialId === undefined || trialId === 0
      ? null
      : {
          trialId,
          experimentId: int(t.experimentId, 'training.experimentId'),
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
  const reportTime = date(dto.reportTime, 'reportTime');
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
    uuid: dto.uuid,
    state: stripState<CheckpointState>(dto.state, 'checkpoint.state'),
    taskId: typeof dto.taskId === 'string' ? dto.taskId : '',
    allocationId: typeof dto.allocationId === 'string' ? dto.allocationId : undefined,
    reportTime,
    resources,
    metadata,
    training,
    storageId: decodeInt64(dto.storageId),
    digests: strings(dto.digests),
    crc32c: strings(dto.crc32c),
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
    stepsCompleted: decodeInt64(value.totalBatches) ?? 0,
    endTime: date(value.endTime, `${field}.endTime`),
    metrics: decodeMetrics(m.avgMetrics ?? m.avg_metrics) ?? {},
  };
}

export function decodeTrial(dto: TrialDto): TrialData {
  if (!isObject(dto)) {
    fail('trial', dto);
  }
  const best = isObject(dto.bestCheckpoint) ? dto.bestCheckpoint : undefined;
  return {
    id: int(dto.id, 'trial.id'),
    experimentId: int(dto.experimentId, 'trial.experimentId'),
    state: stripState<TrialState>(dto.state, 'trial.state'),
    hparams: isObject(dto.hparams) ? dto.hparams : {},
    startTime: date(dto.startTime, 'trial.startTime'),
    endTime: optionalDate(dto.endTime, 'trial.endTime'),
    restarts: decodeInt64(dto.restarts) ?? 0,
    totalBatchesProcessed: decodeInt64(dto.totalBatchesProcessed) ?? 0,
    taskId: typeof dto.taskId === 'string' && dto.taskId !== '' ? dto.taskId : undefined,
    summaryMetrics: isObject(dto.summaryMetrics) ? dto.summaryMetrics : null,
    bestValidation: decodeValidation(dto.bestValidation, 'trial.bestValidation'),
    latestValidation: decodeValidation(dto.latestValidation, 'trial.latestValidation'),
    searcherMetricValue: decodeDouble(dto.searcherMetricValue),
    bestCheckpointUuid:
      best !== undefined && typeof best.uuid === 'string' && best.uuid !== ''
        ? best.uuid
        : undefined,
    checkpointCount: decodeInt64(dto.checkpointCount) ?? 0,
    totalCheckpointSize: decodeInt64(dto.totalCheckpointSize) ?? 0,
  };
}

export function decodeExperiment(dto: ExperimentDto): ExperimentData {
  if (!isObject(dto)) {
    fail('experiment', dto);
  }
  const config = isObject(dto.config) ? dto.config : {};
  const searcher = isObject(config.searcher) ? config.searcher : {};
  const searcherType =
    typeof dto.searcherType === 'string' && dto.searcherType !== ''
      ? dto.searcherType
      : typeof searcher.name === 'string'
        ? searcher.name
        : '';
  return {
    id: int(dto.id, 'experiment.id'),
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
    numTrials: decodeInt64(dto.numTrials) ?? 0,
    trialIds: Array.isArray(dto.trialIds)
      ? dto.trialIds.map((id) => int(id, 'experiment.trialIds'))
      : [],
    progress: typeof dto.progress === 'number' ? dto.progress : undefined,
    checkpointCount: decodeInt64(dto.checkpointCount) ?? 0,
    checkpointSize: decodeInt64(dto.checkpointSize) ?? 0,
    bestTrialSearcherMetric: decodeDouble(dto.bestTrialSearcherMetric),
    bestTrialId: decodeInt64(dto.bestTrialId),
    startTime: date(dto.startTime, 'experiment.startTime'),
    endTime: optionalDate(dto.endTime, 'experiment.endTime'),
    unmanaged: dto.unmanaged === true,
  };
}

/** `userv1.User`. */
export function decodeUser(dto: UserDto): UserData {
  if (!isObject(dto) || typeof dto.username !== 'string') {
    fail('user', dto);
  }
  return {
    id: decodeInt64(dto.id) ?? 0,
    username: dto.username,
    displayName: typeof dto.displayName === 'string' ? dto.displayName : '',
    admin: dto.admin === true,
    active: dto.active !== false,
  };
}

/** A data point of `GET /api/v1/trials/time-series`. */
export function decodeDataPoint(dto: DataPointDto): MetricPoint {
  if (!isObject(dto)) {
    fail('data point', dto);
  }
  const values: Record<string, number> = {};
  for (const [name, v] of Object.entries(isObject(dto.values) ? dto.values : {})) {
    const n = decodeDouble(v);
    if (n !== undefined) {
      values[name] = n;
    }
  }
  return {
    batches: int(dto.batches, 'dataPoint.batches'),
    time: date(dto.time, 'dataPoint.time'),
    epoch: decodeDouble(dto.epoch),
    values,
  };
}

export function decodeCheckpointMarker(dto: CheckpointMarkerDto): CheckpointMarker {
  if (!isObject(dto) || typeof dto.uuid !== 'string') {
    fail('checkpoint marker', dto);
  }
  return {
    uuid: dto.uuid,
    stepsCompleted: int(dto.stepsCompleted, 'marker.stepsCompleted'),
    state: stripState<CheckpointState>(dto.state, 'marker.state'),
    reportTime: date(dto.reportTime, 'marker.reportTime'),
    size: decodeInt64(dto.size) ?? 0,
    searcherMetric: decodeDouble(dto.searcherMetric),
  };
}

export function decodeTrialLog(dto: TrialLogDto): TrialLogLine {
  if (!isObject(dto)) {
    fail('trial log', dto);
  }
  const message = typeof dto.message === 'string' ? dto.message : dto.log;
  return {
    id: typeof dto.id === 'string' ? dto.id : String(dto.id),
    timestamp: date(dto.timestamp, 'log.timestamp'),
    message: typeof message === 'string' ? message : '',
    stdtype: typeof dto.stdtype === 'string' ? dto.stdtype : undefined,
    rankId: decodeInt64(dto.rankId),
  };
}

/** `commonv1.Pagination`: five int32 numbers (or int strings), all present. */
export function decodePagination(value: unknown): Pagination {
  if (!isObject(value)) {
    fail('pagination', value);
  }
  return {
    offset: int(value.offset, 'pagination.offset'),
    limit: int(value.limit, 'pagination.limit'),
    startIndex: int(value.startIndex, 'pagination.startIndex'),
    endIndex: int(value.endIndex, 'pagination.endIndex'),
    total: int(value.total, 'pagination.total'),
  };
}

/** A checkpoint listing (`{ checkpoints, pagination }`) of a trial or an experiment. */
export function decodeCheckpointList(value: unknown): {
  checkpoints: CheckpointData[];
  pagination: Pagination;
} {
  if (!isObject(value) || !Array.isArray(value.checkpoints)) {
    fail('checkpoints', isObject(value) ? value.checkpoints : value);
  }
  return {
    checkpoints: value.checkpoints.map((c) => decodeCheckpoint(c as CheckpointDto)),
    pagination: decodePagination(value.pagination),
  };
}
