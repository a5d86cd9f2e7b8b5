import { ROUTES } from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';

import type { Client } from '../client.js';
import { array, fail, int, object, string } from '../decode-fields.js';
import { ArgumentError } from '../errors.js';
import { decodeGcResult } from './gc.js';
import type { GcResult } from './gc.js';

/** The states a bulk delete may select by: never ACTIVE (still being written) nor DELETED. */
export const BULK_DELETE_STATES = ['COMPLETED', 'PARTIALLY_DELETED', 'ERROR'] as const;
export type BulkDeleteState = (typeof BULK_DELETE_STATES)[number];

/** What to delete: named checkpoints, and those of whole experiments or trials. */
export interface BulkDeleteRequest {
  /** Checkpoints to delete whatever their experiment; a registered one refuses the request. */
  checkpointUuids?: string[];
  /** Every checkpoint of these experiments in `states`; registered ones are skipped. */
  experimentIds?: number[];
  /** Every checkpoint of these trials in `states`; registered ones are skipped. */
  trialIds?: number[];
  /**
   * Narrows the experiments' and trials' checkpoints (not the named ones).
   * @default every state in BULK_DELETE_STATES
   */
  states?: BulkDeleteState[];
  /**
   * Only say what would be deleted.
   * @default false
   */
  dryRun?: boolean;
}

/** What a bulk delete did (or, in a dry run, would do), checkpoint by checkpoint. */
export interface BulkDeleteResult extends GcResult {
  /** The checkpoints it deletes, with their total size, counted before anything is deleted. */
  selected: { count: number; bytes: number; uuids: string[] };
  /** Checkpoints of the experiments or trials left alone, and why (registered as a version). */
  skipped: { uuid: string; reason: string }[];
  dryRun: boolean;
}

function checkRequest(request: BulkDeleteRequest): void {
  const { checkpointUuids = [], experimentIds = [], trialIds = [], states = [] } = request;
  if (checkpointUuids.length + experimentIds.length + trialIds.length === 0) {
    throw new ArgumentError(
      'selection',
      'say what to delete: checkpointUuids, experimentIds or trialIds',
    );
  }
  for (const [key, ids] of [
    ['experimentIds', experimentIds],
    ['trialIds', trialIds],
  ] as const) {
    const bad = ids.find((id) => !Number.isSafeInteger(id) || id <= 0);
    if (bad !== undefined) {
      throw new ArgumentError(key, `${key} must hold positive integers, got ${String(bad)}`);
    }
  }
  const badState = states.find((s) => !(BULK_DELETE_STATES as readonly string[]).includes(s));
  if (badState !== undefined) {
    throw new ArgumentError(
      'states',
      `states must be among ${BULK_DELETE_STATES.join(', ')}, got ${String(badState)}`,
    );
  }
}

function decodeBulkDelete(res: JsonObject): BulkDeleteResult {
  const selected = object(res.selected, 'selected');
  const dryRun = res.dryRun;
  return {
    ...decodeGcResult(res, ''),
    selected: {
      count: int(selected.count, 'selected.count'),
      bytes: int(selected.bytes, 'selected.bytes'),
      uuids: array(selected.uuids, 'selected.uuids').map((u, i) =>
        string(u, `selected.uuids[${i}]`),
      ),
    },
    skipped: array(res.skipped, 'skipped').map((s, i) => {
      const entry = object(s, `skipped[${i}]`);
      return {
        uuid: string(entry.uuid, `skipped[${i}].uuid`),
        reason: string(entry.reason, `skipped[${i}].reason`),
      };
    }),
    dryRun: typeof dryRun === 'boolean' ? dryRun : fail('dryRun', 'a boolean', dryRun),
  };
}

/**
 * Deletes many checkpoints in one call, for good (`POST /api/v1/checkpoints/bulk-delete`, a
 * Determined-TS route): each one's files first, then its record, as a GC does. A checkpoint whose
 * storage fails is left as it was and listed in `failed`; nothing stops halfway. Throws an
 * ArgumentError before asking when nothing is selected, and an ApiError when a named checkpoint
 * is unknown, ACTIVE or registered as a model version.
 *
 * @example
 * const preview = await bulkDeleteCheckpoints(client, { experimentIds: [7], states: ['ERROR'], dryRun: true });
 * console.log(`would free ${preview.selected.bytes} bytes`);
 */
export async function bulkDeleteCheckpoints(
  client: Client,
  request: BulkDeleteRequest,
  options: { signal?: AbortSignal } = {},
): Promise<BulkDeleteResult> {
  checkRequest(request);
  return client.request('POST', ROUTES.checkpointsBulkDelete, {
    body: {
      checkpointUuids: request.checkpointUuids ?? [],
      experimentIds: request.experimentIds ?? [],
      trialIds: request.trialIds ?? [],
      // The wire spells states as Determined's proto enum does.
      states: (request.states ?? []).map((s) => `STATE_${s}`),
      dryRun: request.dryRun ?? false,
    },
    signal: options.signal,
    decode: decodeBulkDelete,
  });
}
