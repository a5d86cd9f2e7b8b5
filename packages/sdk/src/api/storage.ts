import { ROUTES } from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';

import type { Client } from '../client.js';
import { array, int, object, string } from '../decode-fields.js';
import { ArgumentError } from '../errors.js';

/**
 * An entry of a storage root (a local directory, or the prefix of an S3, GCS or Azure storage)
 * named like a checkpoint that no live checkpoint owns.
 */
export interface StorageOrphan {
  /** The storage root it is in. */
  storage: string;
  uuid: string;
  bytes: number;
  modifiedTime: string;
}

/** A live checkpoint whose files are gone, or differ in size from its recorded resources. */
export interface CheckpointFileMismatch {
  uuid: string;
  state: string;
  missingPaths: string[];
  changedPaths: string[];
  /** Set when its store could not be read: then nothing about it is known, or changed. */
  error: string | undefined;
}

export interface ReconcileResult {
  orphans: StorageOrphan[];
  missing: CheckpointFileMismatch[];
  /** Storage roots that could not be scanned, and orphans that could not be deleted. */
  storageErrors: { storage: string; error: string }[];
  /** What `apply` changed; `null` on a dry run. */
  applied: { orphansDeleted: number; bytesFreed: number; checkpointsUpdated: number } | null;
}

export interface ReconcileStorageOptions {
  /**
   * Delete the orphans and record what is really stored as each mismatched checkpoint's
   * resources (DELETED when nothing is left).
   * @default false
   */
  apply?: boolean;
  /**
   * Entries modified more recently than this are never orphans (a checkpoint being uploaded).
   * @default 3600
   */
  graceSeconds?: number;
  signal?: AbortSignal;
}

const strings = (value: unknown, field: string): string[] =>
  array(value, field).map((s, i) => string(s, `${field}[${i}]`));

function decodeReconcile(res: JsonObject): ReconcileResult {
  const applied = res.applied === null ? null : object(res.applied, 'applied');
  return {
    orphans: array(res.orphans, 'orphans').map((v, i) => {
      const o = object(v, `orphans[${i}]`);
      return {
        storage: string(o.storage, `orphans[${i}].storage`),
        uuid: string(o.uuid, `orphans[${i}].uuid`),
        bytes: int(o.bytes, `orphans[${i}].bytes`),
        modifiedTime: string(o.modifiedTime, `orphans[${i}].modifiedTime`),
      };
    }),
    missing: array(res.missing, 'missing').map((v, i) => {
      const m = object(v, `missing[${i}]`);
      return {
        uuid: string(m.uuid, `missing[${i}].uuid`),
        state: string(m.state, `missing[${i}].state`),
        missingPaths: strings(m.missingPaths, `missing[${i}].missingPaths`),
        changedPaths: strings(m.changedPaths, `missing[${i}].changedPaths`),
        error: m.error === undefined ? undefined : string(m.error, `missing[${i}].error`),
      };
    }),
    storageErrors: (res.storageErrors === undefined
      ? []
      : array(res.storageErrors, 'storageErrors')
    ).map((v, i) => {
      const e = object(v, `storageErrors[${i}]`);
      return {
        storage: string(e.storage, `storageErrors[${i}].storage`),
        error: string(e.error, `storageErrors[${i}].error`),
      };
    }),
    applied:
      applied === null
        ? null
        : {
            orphansDeleted: int(applied.orphansDeleted, 'applied.orphansDeleted'),
            bytesFreed: int(applied.bytesFreed, 'applied.bytesFreed'),
            checkpointsUpdated: int(applied.checkpointsUpdated, 'applied.checkpointsUpdated'),
          },
  };
}

/**
 * Compares checkpoint storage with the master's records, both ways
 * (`POST /api/v1/storage/reconcile`, ours, admins only): entries of the storage roots the
 * master knows (local directories and object store prefixes) that no live checkpoint owns, and
 * live checkpoints whose files are gone or changed. A dry run unless `apply`, which deletes the
 * orphans and drops missing files from the records (changed files are only reported).
 *
 * @example
 * const { orphans, missing } = await reconcileStorage(client, {});
 */
export async function reconcileStorage(
  client: Client,
  { apply = false, graceSeconds = 3600, signal }: ReconcileStorageOptions,
): Promise<ReconcileResult> {
  if (!Number.isSafeInteger(graceSeconds) || graceSeconds < 0) {
    throw new ArgumentError(
      'graceSeconds',
      `graceSeconds must be a non-negative integer, got ${String(graceSeconds)}`,
    );
  }
  return client.request('POST', ROUTES.storageReconcile, {
    body: { apply, graceSeconds },
    signal,
    decode: decodeReconcile,
  });
}
