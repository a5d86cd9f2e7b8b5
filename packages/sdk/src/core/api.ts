// The wire calls of Determined's unmanaged (core_v2) flow, one function each
// (determined-ai/determined: harness/determined/experimental/core_v2/_unmanaged.py).
import { ROUTES } from '@determined-ts/api';
import type { ExperimentDto, TrialDto, TrialState } from '@determined-ts/api';

import type { Client } from '../client.js';
import { int, optionalInt } from '../decode-fields.js';
import { decodeCreatedExperiment, decodeCreatedTrial } from '../decode-responses.js';
import type { TaskLogEntry } from './log-shipper.js';

type Signal = { signal?: AbortSignal };

/** `POST /api/v1/experiments`, or `PUT …/by-external-id/{id}` which returns the existing one. */
export async function createUnmanagedExperiment(
  client: Client,
  config: string,
  externalId: string | undefined,
  { signal }: Signal = {},
): Promise<ExperimentDto> {
  const body = { config, unmanaged: true };
  return externalId === undefined
    ? client.request('POST', '/api/v1/experiments', {
        body,
        signal,
        decode: decodeCreatedExperiment,
      })
    : client.request(
        'PUT',
        `/api/v1/experiments/by-external-id/${encodeURIComponent(externalId)}`,
        { body, signal, decode: decodeCreatedExperiment },
      );
}

/** `POST /api/v1/trials`, or `PUT /api/v1/trials` with an external id (idempotent). */
export async function createUnmanagedTrial(
  client: Client,
  experimentId: number,
  hparams: Record<string, unknown> | undefined,
  externalId: string | undefined,
  { signal }: Signal = {},
): Promise<TrialDto> {
  const create = { experimentId, ...(hparams === undefined ? {} : { hparams }), unmanaged: true };
  return externalId === undefined
    ? client.request('POST', '/api/v1/trials', {
        body: create,
        signal,
        decode: decodeCreatedTrial,
      })
    : client.request('PUT', '/api/v1/trials', {
        body: { createTrialRequest: create, externalTrialId: externalId },
        signal,
        decode: decodeCreatedTrial,
      });
}

export interface StartTrialResponse {
  trialRunId: number;
  stepsCompleted: number;
  latestCheckpoint?: string;
}

/** `POST /api/v1/trials/{id}/start` with `resume: true`: a new run id, and where to resume. */
export function startTrial(
  client: Client,
  trialId: number,
  { signal }: Signal = {},
): Promise<StartTrialResponse> {
  // Not retried: each start makes a new run id.
  return client.request('POST', `/api/v1/trials/${trialId}/start`, {
    body: { trialId, resume: true },
    signal,
    decode: (res): StartTrialResponse => {
      const latest = res.latestCheckpoint;
      return {
        trialRunId: int(res.trialRunId, 'trialRunId'),
        stepsCompleted: optionalInt(res.stepsCompleted, 'stepsCompleted', 0),
        latestCheckpoint: typeof latest === 'string' ? latest : undefined,
      };
    },
  });
}

/** `POST /api/v1/runs/start`: registers the storage the run writes to; the master dedupes it. */
export async function startRun(
  client: Client,
  trialId: number,
  checkpointStorage: Record<string, unknown>,
  { signal }: Signal = {},
): Promise<number | undefined> {
  return client.request('POST', '/api/v1/runs/start', {
    body: { runId: trialId, checkpointStorage },
    signal,
    idempotent: true,
    decode: (res) =>
      res.storageId === undefined || res.storageId === null
        ? undefined
        : int(res.storageId, 'storageId'),
  });
}

/** `PATCH /api/v1/trials/{id}`: with a state it moves the trial; without, it is a heartbeat. */
export async function patchTrial(
  client: Client,
  trialId: number,
  state: TrialState | undefined,
  { signal }: Signal = {},
): Promise<void> {
  await client.request('PATCH', `/api/v1/trials/${trialId}`, {
    body: state === undefined ? { trialId } : { trialId, state },
    signal,
    // Setting the state a trial already has is a no-op, on our master and on Determined's.
    idempotent: true,
  });
}

/** `POST /api/v1/trials/{id}/metrics`. */
export async function postMetrics(
  client: Client,
  report: {
    trialId: number;
    trialRunId: number;
    group: string;
    stepsCompleted: number;
    avgMetrics: Record<string, unknown>;
  },
  { signal }: Signal = {},
): Promise<void> {
  await client.request('POST', `/api/v1/trials/${report.trialId}/metrics`, {
    body: {
      group: report.group,
      metrics: {
        trialId: report.trialId,
        trialRunId: report.trialRunId,
        stepsCompleted: report.stepsCompleted,
        reportTime: null,
        metrics: { avgMetrics: report.avgMetrics, batchMetrics: null },
      },
    },
    signal,
    // A repeated report of the same values merges into the first, so a retry is safe.
    idempotent: true,
  });
}

/** `POST /api/v1/trials/{id}/progress`. */
export async function postProgress(
  client: Client,
  trialId: number,
  progress: number,
  { signal }: Signal = {},
): Promise<void> {
  await client.request('POST', `/api/v1/trials/${trialId}/progress`, {
    body: { trialId, progress, isRaw: true },
    signal,
    idempotent: true,
  });
}

/**
 * The body of `POST /api/v1/checkpoints`: a bare `checkpointv1.Checkpoint`, plus our `crc32c`
 * and `digests` (sha256) extensions.
 */
export interface ReportCheckpointBody {
  uuid: string;
  taskId: string;
  allocationId: string | null;
  reportTime: string;
  state: 'STATE_COMPLETED';
  resources: Record<string, string>;
  metadata: Record<string, unknown>;
  training: Record<string, never>;
  storageId: number | null;
  crc32c: Record<string, string>;
  digests?: Record<string, string>;
}

/** `POST /api/v1/checkpoints`. Our master treats an identical repeat as a no-op. */
export async function reportCheckpoint(
  client: Client,
  body: ReportCheckpointBody,
  { signal }: Signal = {},
): Promise<void> {
  await client.request('POST', '/api/v1/checkpoints', { body, signal, idempotent: true });
}

/**
 * `POST /task-logs` (no `/api/v1` prefix). Not retried here: the log shipper keeps a failed
 * batch and sends it again on its next tick.
 */
export async function postTaskLogs(
  client: Client,
  entries: TaskLogEntry[],
  { signal }: Signal = {},
): Promise<void> {
  await client.request('POST', ROUTES.taskLogs, { body: entries, signal });
}
