import type { ExperimentDto, MasterInfoDto, TrialDto } from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodeExperiment, decodeTrial } from '../decode.js';
import type { ExperimentData, TrialData } from '../models.js';

export async function getTrial(
  client: Client,
  trialId: number,
  options: { signal?: AbortSignal } = {},
): Promise<TrialData> {
  const res = await client.request<{ trial: TrialDto }>(
    'GET',
    `/api/v1/trials/${trialId}`,
    options,
  );
  return decodeTrial(res.trial);
}

export async function getExperiment(
  client: Client,
  experimentId: number,
  options: { signal?: AbortSignal } = {},
): Promise<ExperimentData> {
  const res = await client.request<{ experiment: ExperimentDto }>(
    'GET',
    `/api/v1/experiments/${experimentId}`,
    options,
  );
  return decodeExperiment(res.experiment);
}

/** `GET /api/v1/master`: needs no session. */
export async function getMasterInfo(
  client: Client,
  options: { signal?: AbortSignal } = {},
): Promise<MasterInfoDto> {
  return client.request<MasterInfoDto>('GET', '/api/v1/master', options);
}
