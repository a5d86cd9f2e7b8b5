import type {
  CheckpointDownloadUrlsDto,
  CheckpointSortBy,
  CheckpointState as WireCheckpointState,
  OrderBy,
  Pagination,
} from '@determined-ts/api';

import { buildUrl } from '../client.js';
import type { Client } from '../client.js';
import { decodeCheckpointList } from '../decode.js';
import { decodeCheckpointResponse, decodeDownloadUrls } from '../decode-responses.js';
import { UnexpectedResponseError } from '../errors.js';
import type { CheckpointData, CheckpointState } from '../models.js';

/** Sort keys for checkpoint listings: an attribute, or the name of a validation metric. */
export type CheckpointSort = { attr: CheckpointSortAttr } | { metric: string };

/** `size` (total bytes) is a Determined-TS extension; Determined's master refuses it. */
export type CheckpointSortAttr =
  'uuid' | 'trialId' | 'batchNumber' | 'endTime' | 'state' | 'searcherMetric' | 'size';

const ATTRS: Record<CheckpointSortAttr, CheckpointSortBy> = {
  uuid: 'SORT_BY_UUID',
  trialId: 'SORT_BY_TRIAL_ID',
  batchNumber: 'SORT_BY_BATCH_NUMBER',
  endTime: 'SORT_BY_END_TIME',
  state: 'SORT_BY_STATE',
  searcherMetric: 'SORT_BY_SEARCHER_METRIC',
  size: 'SORT_BY_SIZE',
};

export interface ListCheckpointsOptions {
  /** @default { attr: 'searcherMetric' } */
  sortBy?: CheckpointSort;
  /** Omitted: the master's default direction (ours: best first for the searcher metric). */
  orderBy?: 'asc' | 'desc';
  states?: readonly CheckpointState[];
  /** Stop after this many; all pages are read when omitted. */
  maxResults?: number;
  /** Rows per request when reading all pages. @default 1000 */
  pageSize?: number;
  signal?: AbortSignal;
}

/** The query parameters of a checkpoint listing, as Determined's REST API spells them. */
export function checkpointQuery(
  options: Omit<ListCheckpointsOptions, 'maxResults' | 'pageSize' | 'signal'>,
): Record<string, string | readonly string[] | undefined> {
  const sortBy = options.sortBy ?? { attr: 'searcherMetric' };
  const order: OrderBy | undefined =
    options.orderBy === undefined
      ? undefined
      : options.orderBy === 'asc'
        ? 'ORDER_BY_ASC'
        : 'ORDER_BY_DESC';
  return {
    ...('attr' in sortBy ? { sortByAttr: ATTRS[sortBy.attr] } : { sortByMetric: sortBy.metric }),
    orderBy: order,
    states: options.states?.map((s): WireCheckpointState => `STATE_${s}`),
  };
}

/** One page of checkpoints. */
export async function listCheckpointsPage(
  client: Client,
  scope: { trialId: number } | { experimentId: number },
  options: ListCheckpointsOptions & { offset: number; limit: number },
): Promise<{ checkpoints: CheckpointData[]; pagination: Pagination }> {
  return client.request('GET', listingPath(scope), {
    query: pageQuery(options),
    signal: options.signal,
    decode: decodeCheckpointList,
  });
}

function listingPath(scope: { trialId: number } | { experimentId: number }): string {
  return 'trialId' in scope
    ? `/api/v1/trials/${scope.trialId}/checkpoints`
    : `/api/v1/experiments/${scope.experimentId}/checkpoints`;
}

function pageQuery(
  options: ListCheckpointsOptions & { offset: number; limit: number },
): Record<string, string | readonly string[] | undefined> {
  return {
    ...checkpointQuery(options),
    offset: String(options.offset),
    limit: String(options.limit),
  };
}

/**
 * Lists checkpoints of a trial or an experiment in the master's order, reading pages as it goes.
 * Stops at `maxResults` or when the master says there are no more.
 */
export async function* listCheckpoints(
  client: Client,
  scope: { trialId: number } | { experimentId: number },
  options: ListCheckpointsOptions = {},
): AsyncGenerator<CheckpointData> {
  const pageSize = options.pageSize ?? 1000;
  let remaining = options.maxResults ?? Number.POSITIVE_INFINITY;
  let offset = 0;
  while (remaining > 0) {
    const limit = Math.min(pageSize, remaining);
    const { checkpoints, pagination } = await listCheckpointsPage(client, scope, {
      ...options,
      offset,
      limit,
    });
    for (const c of checkpoints) {
      yield c;
    }
    remaining -= checkpoints.length;
    if (checkpoints.length === 0 || pagination.endIndex >= pagination.total) {
      return;
    }
    if (pagination.endIndex <= offset) {
      // A page that does not advance would make this loop forever.
      throw new UnexpectedResponseError({
        method: 'GET',
        url: buildUrl(client.baseUrl, listingPath(scope), pageQuery({ ...options, offset, limit })),
        status: 200,
        problem: `field pagination.endIndex: ${pagination.endIndex} does not advance past offset ${offset}`,
        body: JSON.stringify({ pagination }),
      });
    }
    offset = pagination.endIndex;
  }
}

/** Fetches one checkpoint by uuid; a missing one is an `ApiError` with code `not_found`. */
export async function getCheckpoint(
  client: Client,
  uuid: string,
  options: { signal?: AbortSignal } = {},
): Promise<CheckpointData> {
  return client.request('GET', `/api/v1/checkpoints/${encodeURIComponent(uuid)}`, {
    signal: options.signal,
    decode: decodeCheckpointResponse,
  });
}

/**
 * `GET /api/v1/checkpoints/{uuid}/download-urls` (Determined-TS masters, which advertise
 * `determinedTs.checkpointDownloadUrls`): each object of a checkpoint in an object store with a
 * URL that reads it with no credentials until `expiresAt`. An `ApiError` (400) when the
 * checkpoint's storage gives no URLs (local storage, credentials that cannot sign).
 */
export async function getCheckpointDownloadUrls(
  client: Client,
  uuid: string,
  options: { expiresInSeconds?: number; signal?: AbortSignal } = {},
): Promise<CheckpointDownloadUrlsDto> {
  return client.request('GET', `/api/v1/checkpoints/${encodeURIComponent(uuid)}/download-urls`, {
    query: { expiresInSeconds: options.expiresInSeconds },
    signal: options.signal,
    decode: decodeDownloadUrls,
  });
}
