import type { MasterInfoDto } from '@determined-ts/api';

import type { Client } from '../client.js';
import {
  decodeExperimentResponse,
  decodeMasterInfo,
  decodeTrialResponse,
} from '../decode-responses.js';
import type { ExperimentData, TrialData } from '../models.js';

export async function getTrial(
  client: Client,
  trialId: number,
  options: { signal?: AbortSignal } = {},
): Promise<TrialData> {
  return client.request('GET', `/api/v1/trials/${trialId}`, {
    signal: options.signal,
    decode: decodeTrialResponse,
  });
}

export async function getExperiment(
  client: Client,
  experimentId: number,
  options: { signal?: AbortSignal } = {},
): Promise<ExperimentData> {
  return client.request('GET', `/api/v1/experiments/${experimentId}`, {
    signal: options.signal,
    decode: decodeExperimentResponse,
  });
}

/** `GET /api/v1/master`: needs no session. */
export async function getMasterInfo(
  client: Client,
  options: { signal?: AbortSignal } = {},
): Promise<MasterInfoDto> {
  return client.request('GET', '/api/v1/master', {
    signal: options.signal,
    decode: decodeMasterInfo,
  });
}
