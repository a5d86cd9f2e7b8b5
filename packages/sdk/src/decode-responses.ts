import type {
  CheckpointDownloadUrlsDto,
  CheckpointDto,
  CheckpointMarkerDto,
  DataPointDto,
  ExperimentDto,
  JsonObject,
  MasterInfoDto,
  TrialDto,
  UserDto,
} from '@determined-ts/api';

import {
  decodeCheckpoint,
  decodeCheckpointMarker,
  decodeDataPoint,
  decodeExperiment,
  decodePagination,
  decodeTrial,
  decodeUser,
} from './decode.js';
import {
  array,
  date,
  fail,
  int,
  isObject,
  object,
  optionalArray,
  optionalInt,
  string,
} from './decode-fields.js';
import type {
  CheckpointData,
  CheckpointMarker,
  ExperimentData,
  MetricPoint,
  Pagination,
  TrialData,
  UserData,
} from './models.js';

/*
 * Whole answers of the calls, as `request({ decode })` takes them: each checks the fields its
 * call reads and throws a TypeError naming the one that is wrong.
 */

export function decodeCheckpointResponse(body: JsonObject): CheckpointData {
  return decodeCheckpoint(body.checkpoint as CheckpointDto);
}

export function decodeTrialResponse(body: JsonObject): TrialData {
  return decodeTrial(body.trial as TrialDto);
}

export function decodeExperimentResponse(body: JsonObject): ExperimentData {
  return decodeExperiment(body.experiment as ExperimentDto);
}

export function decodeUserResponse(body: JsonObject): UserData {
  return decodeUser(body.user as UserDto);
}

/** `POST /api/v1/auth/login`: a token and its user. */
export function decodeLoginResponse(body: JsonObject): { token: string; user: UserData } {
  const token = body.token;
  if (typeof token !== 'string' || token === '') {
    fail('token', 'a non-empty string', token);
  }
  return { token, user: decodeUser(body.user as UserDto) };
}

/** `GET /api/v1/master`: `version` is all Determined promises; our extension is checked when present. */
export function decodeMasterInfo(body: JsonObject): MasterInfoDto {
  string(body.version, 'version');
  const ts = body.determinedTs;
  if (ts !== undefined && ts !== null) {
    const info = object(ts, 'determinedTs');
    if (info.checkpointOrdering !== undefined) {
      string(info.checkpointOrdering, 'determinedTs.checkpointOrdering');
    }
    const urls = info.checkpointDownloadUrls;
    if (urls !== undefined && typeof urls !== 'boolean') {
      fail('determinedTs.checkpointDownloadUrls', 'a boolean', urls);
    }
  }
  return body as unknown as MasterInfoDto;
}

export function decodeExperimentList(body: JsonObject): {
  experiments: ExperimentData[];
  pagination: Pagination;
} {
  return {
    experiments: optionalArray(body.experiments, 'experiments').map((e, i) =>
      decodeExperiment(e as ExperimentDto, `experiments[${i}]`),
    ),
    pagination: decodePagination(body.pagination),
  };
}

export function decodeTrialList(body: JsonObject): {
  trials: TrialData[];
  pagination: Pagination;
} {
  return {
    trials: optionalArray(body.trials, 'trials').map((t, i) =>
      decodeTrial(t as TrialDto, `trials[${i}]`),
    ),
    pagination: decodePagination(body.pagination),
  };
}

/** `GET /api/v1/trials/time-series` for one trial: the points of `group`. */
export function decodeMetricSeries(body: JsonObject, group: string): MetricPoint[] {
  const trials = optionalArray(body.trials, 'trials');
  if (trials.length === 0) {
    return [];
  }
  const metrics = array(object(trials[0], 'trials[0]').metrics, 'trials[0].metrics');
  const index = metrics.findIndex((m) => isObject(m) && m.group === group);
  if (index < 0) {
    return [];
  }
  const field = `trials[0].metrics[${index}]`;
  const series = object(metrics[index], field);
  return optionalArray(series.data, `${field}.data`).map((p, i) =>
    decodeDataPoint(p as DataPointDto, `${field}.data[${i}]`),
  );
}

export function decodeMarkers(body: JsonObject): { markers: CheckpointMarker[]; total: number } {
  return {
    markers: optionalArray(body.markers, 'markers').map((m, i) =>
      decodeCheckpointMarker(m as CheckpointMarkerDto, `markers[${i}]`),
    ),
    total: optionalInt(body.total, 'total', 0),
  };
}

/** `GET /api/v1/checkpoints/{uuid}/download-urls`: sizes as int64 strings, a valid expiry. */
export function decodeDownloadUrls(body: JsonObject): CheckpointDownloadUrlsDto {
  date(body.expiresAt, 'expiresAt');
  return {
    storageType: string(body.storageType, 'storageType'),
    location: string(body.location, 'location'),
    expiresAt: body.expiresAt as string,
    objects: array(body.objects, 'objects').map((value, i) => {
      const field = `objects[${i}]`;
      const o = object(value, field);
      const optional = (key: string): string | undefined =>
        o[key] === undefined || o[key] === null ? undefined : string(o[key], `${field}.${key}`);
      return {
        path: string(o.path, `${field}.path`),
        size: String(int(o.size, `${field}.size`)),
        version: optional('version'),
        crc32c: optional('crc32c'),
        url: optional('url'),
      };
    }),
  };
}

/** `{ experiment }` of the unmanaged flow: the id is what it reads. */
export function decodeCreatedExperiment(body: JsonObject): ExperimentDto {
  const experiment = object(body.experiment, 'experiment');
  int(experiment.id, 'experiment.id');
  return experiment as unknown as ExperimentDto;
}

/** `{ trial }` of the unmanaged flow: its id, and its task id checked where it is used. */
export function decodeCreatedTrial(body: JsonObject): TrialDto {
  const trial = object(body.trial, 'trial');
  int(trial.id, 'trial.id');
  return trial as unknown as TrialDto;
}
