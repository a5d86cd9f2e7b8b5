import type { ExperimentSortBy, OrderBy, TrialSortBy } from '@determined-ts/api';

import type { Client } from '../client.js';
import { decodeExperimentList, decodeTrialList } from '../decode-responses.js';
import type { ExperimentData, Pagination, TrialData } from '../models.js';

/** Sort keys of {@link listExperiments}, named for the fields they sort by. */
export type ExperimentSortKey =
  | 'id'
  | 'name'
  | 'state'
  | 'numTrials'
  | 'startTime'
  | 'endTime'
  | 'checkpointCount'
  | 'checkpointSize'
  | 'searcherMetric'
  | 'user'
  | 'progress';

const EXPERIMENT_SORT: Record<ExperimentSortKey, ExperimentSortBy> = {
  id: 'SORT_BY_ID',
  name: 'SORT_BY_NAME',
  state: 'SORT_BY_STATE',
  numTrials: 'SORT_BY_NUM_TRIALS',
  startTime: 'SORT_BY_START_TIME',
  endTime: 'SORT_BY_END_TIME',
  checkpointCount: 'SORT_BY_CHECKPOINT_COUNT',
  checkpointSize: 'SORT_BY_CHECKPOINT_SIZE',
  searcherMetric: 'SORT_BY_SEARCHER_METRIC_VAL',
  user: 'SORT_BY_USER',
  progress: 'SORT_BY_PROGRESS',
};

/** Sort keys of {@link listTrials}. */
export type TrialSortKey =
  | 'id'
  | 'state'
  | 'startTime'
  | 'endTime'
  | 'bestValidation'
  | 'latestValidation'
  | 'batches'
  | 'checkpointSize'
  | 'restarts'
  | 'duration';

const TRIAL_SORT: Record<TrialSortKey, TrialSortBy> = {
  id: 'SORT_BY_ID',
  state: 'SORT_BY_STATE',
  startTime: 'SORT_BY_START_TIME',
  endTime: 'SORT_BY_END_TIME',
  bestValidation: 'SORT_BY_BEST_VALIDATION_METRIC',
  latestValidation: 'SORT_BY_LATEST_VALIDATION_METRIC',
  batches: 'SORT_BY_BATCHES_PROCESSED',
  checkpointSize: 'SORT_BY_CHECKPOINT_SIZE',
  restarts: 'SORT_BY_RESTARTS',
  duration: 'SORT_BY_DURATION',
};

interface PageOptions<K> {
  /** @default 0 */
  offset?: number;
  /** Rows to return; 0 or omitted: all of them. */
  limit?: number;
  sortBy?: K;
  /** @default 'asc' */
  orderBy?: 'asc' | 'desc';
  /** Only these states, without the wire's `STATE_` prefix (e.g. `COMPLETED`). */
  states?: readonly string[];
  signal?: AbortSignal;
}

export interface ListExperimentsOptions extends PageOptions<ExperimentSortKey> {
  /** Case-insensitive substring of the name. */
  name?: string;
  /** Owners' usernames. */
  users?: readonly string[];
}

function order(orderBy: 'asc' | 'desc' | undefined): OrderBy | undefined {
  return orderBy === undefined ? undefined : orderBy === 'asc' ? 'ORDER_BY_ASC' : 'ORDER_BY_DESC';
}

function pageQuery<K extends string>(
  options: PageOptions<K>,
  sortKeys: Record<K, string>,
): Record<string, string | readonly string[] | undefined> {
  return {
    sortBy: options.sortBy === undefined ? undefined : sortKeys[options.sortBy],
    orderBy: order(options.orderBy),
    offset: options.offset === undefined ? undefined : String(options.offset),
    limit: options.limit === undefined ? undefined : String(options.limit),
    states: options.states?.map((s) => `STATE_${s}`),
  };
}

/** One page of experiments, sorted and filtered by the master. */
export async function listExperiments(
  client: Client,
  options: ListExperimentsOptions = {},
): Promise<{ experiments: ExperimentData[]; pagination: Pagination }> {
  return client.request('GET', '/api/v1/experiments', {
    query: {
      ...pageQuery(options, EXPERIMENT_SORT),
      name: options.name === '' ? undefined : options.name,
      users: options.users,
    },
    signal: options.signal,
    decode: decodeExperimentList,
  });
}

/** One page of an experiment's trials, sorted by the master. */
export async function listTrials(
  client: Client,
  experimentId: number,
  options: PageOptions<TrialSortKey> = {},
): Promise<{ trials: TrialData[]; pagination: Pagination }> {
  return client.request('GET', `/api/v1/experiments/${experimentId}/trials`, {
    query: pageQuery(options, TRIAL_SORT),
    signal: options.signal,
    decode: decodeTrialList,
  });
}
