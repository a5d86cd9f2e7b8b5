import type { TrialLogDto } from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodeTrialLog } from '../decode.js';
import { decodeMarkers, decodeMetricSeries } from '../decode-responses.js';
import type { CheckpointMarker, MetricPoint, TrialLogLine } from '../models.js';

export interface MetricSeriesOptions {
  /** `training`, `validation` or a custom group. */
  group: string;
  /** Only these metrics; all of the group's when omitted. */
  metricNames?: readonly string[];
  /** At most this many points; the master downsamples longer series. @default 1000 */
  maxDatapoints?: number;
  /** Only reports after this many batches. */
  startBatches?: number;
  /** Only reports before this many batches. */
  endBatches?: number;
  signal?: AbortSignal;
}

/** A trial's reports of one metric group in step order, downsampled by the master. */
export async function getTrialMetricSeries(
  client: Client,
  trialId: number,
  options: MetricSeriesOptions,
): Promise<MetricPoint[]> {
  return client.request('GET', '/api/v1/trials/time-series', {
    query: {
      trialIds: [trialId],
      group: options.group,
      metricNames: options.metricNames,
      maxDatapoints: options.maxDatapoints ?? 1000,
      startBatches: options.startBatches,
      endBatches: options.endBatches,
    },
    signal: options.signal,
    decode: (body) => decodeMetricSeries(body, options.group),
  });
}

/**
 * Where a trial's checkpoints sit on its curves, in step order: at most `maxMarkers`, always
 * with the best and the latest COMPLETED ones; `total` is how many there are.
 */
export async function getCheckpointMarkers(
  client: Client,
  trialId: number,
  options: { maxMarkers?: number; signal?: AbortSignal } = {},
): Promise<{ markers: CheckpointMarker[]; total: number }> {
  return client.request('GET', `/api/v1/trials/${trialId}/checkpoint-markers`, {
    query: { maxMarkers: options.maxMarkers },
    signal: options.signal,
    decode: decodeMarkers,
  });
}

export interface TrialLogsOptions {
  /** At most this many lines; all of them when omitted. */
  limit?: number;
  /** The last `limit` lines instead of the first. */
  tail?: boolean;
  /** Only lines containing this text. */
  searchText?: string;
  signal?: AbortSignal;
}

/** A trial's log lines, oldest first. */
export async function getTrialLogs(
  client: Client,
  trialId: number,
  options: TrialLogsOptions = {},
): Promise<TrialLogLine[]> {
  const lines: TrialLogLine[] = [];
  const stream = client.stream(`/api/v1/trials/${trialId}/logs`, {
    query: {
      limit: options.limit,
      orderBy: options.tail === true ? 'ORDER_BY_DESC' : undefined,
      searchText: options.searchText === '' ? undefined : options.searchText,
    },
    signal: options.signal,
    decode: (result) => decodeTrialLog(result as TrialLogDto),
  });
  for await (const line of stream) {
    lines.push(line);
  }
  return options.tail === true ? lines.reverse() : lines;
}
