import type { CheckpointDownloadUrlsDto } from '@determined-ts/api';
import { openPresignedStore } from '@determined-ts/storage';
import type { CheckpointStore, PresignedListing } from '@determined-ts/storage';

import { getCheckpointDownloadUrls } from '../api/checkpoints.js';
import { getMasterInfo } from '../api/trials.js';
import type { Client } from '../client.js';
import { ApiError } from '../errors.js';

/** The master's answer as the storage package reads it; sizes and times as numbers. */
function listingOf(dto: CheckpointDownloadUrlsDto): PresignedListing {
  return {
    storageType: dto.storageType,
    location: dto.location,
    expiresAtMs: Date.parse(dto.expiresAt),
    objects: dto.objects.map((o) => ({
      path: o.path,
      size: Number(o.size),
      version: o.version,
      crc32c: o.crc32c,
      url: o.url,
    })),
  };
}

/**
 * A store that reads checkpoint `uuid` through URLs the master signs (S3 presigned, GCS signed,
 * Azure SAS), asking for fresh ones as they near expiry or are refused. `unavailable` says why
 * there is none: a master that does not sign URLs (Determined's), local storage, or credentials
 * that cannot sign. Other failures (the master cannot reach the store) are thrown.
 */
export async function openUrlStore(
  client: Client,
  uuid: string,
  signal: AbortSignal,
): Promise<{ store: CheckpointStore } | { unavailable: string }> {
  const info = await getMasterInfo(client, { signal });
  if (info.determinedTs?.checkpointDownloadUrls !== true) {
    return { unavailable: 'the master does not hand out download URLs' };
  }
  try {
    const store = await openPresignedStore(async (listingSignal) =>
      listingOf(await getCheckpointDownloadUrls(client, uuid, { signal: listingSignal ?? signal })),
    );
    return { store };
  } catch (err: unknown) {
    if (err instanceof ApiError && err.status === 400) {
      return { unavailable: err.message };
    }
    throw err;
  }
}
