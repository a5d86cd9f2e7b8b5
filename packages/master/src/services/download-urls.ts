import type { CheckpointDownloadUrlDto, CheckpointDownloadUrlsDto } from '@determined-ts/api';
import { StorageUnreachableError, forEachInLanes } from '@determined-ts/storage';
import type { PresignedRead } from '@determined-ts/storage';

import type { AppDeps } from '../context.js';
import { HttpError, badRequest } from '../errors.js';
import { storageConfigs } from './checkpoint-dto.js';
import { getDownloadableRow } from './checkpoints.js';
import { openStore, storeFailure } from './storage.js';

/** How long URLs live unless asked otherwise: long enough for a large download to start. */
export const DEFAULT_URL_LIFETIME_S = 15 * 60;
/** The longest a client may ask for: a leaked URL should not outlive the afternoon. */
export const MAX_URL_LIFETIME_S = 60 * 60;
/** Objects signed at once: signing is local work, or one IAM call each for GCS without a key. */
const SIGNING_LANES = 16;

/**
 * URLs that read the objects of checkpoint `uuid` straight from its store with no credentials,
 * for `lifetimeS` seconds (less where the store's credentials expire sooner). 400 for a state
 * that cannot be downloaded or storage that gives no URLs (local storage, credentials that
 * cannot sign), 404 when no object of it is in storage, 502 when the store cannot be reached.
 * Access is the same as the checkpoint's: any signed-in user may read it, as in Determined.
 */
export async function checkpointDownloadUrls(
  deps: AppDeps,
  uuid: string,
  lifetimeS: number,
  signal?: AbortSignal,
): Promise<CheckpointDownloadUrlsDto> {
  const row = await getDownloadableRow(deps, uuid);
  const storage = (await storageConfigs(deps.db.kysely, [row])).get(uuid) ?? {};
  const noUrls = (why: string): HttpError =>
    badRequest(`download URLs are not available for checkpoint ${uuid}: ${why}`);
  const store = await openStore(deps.settings, storage, uuid, (refusal) =>
    noUrls(refusal.problem ?? `${refusal.type} storage is not reachable from the master`),
  );
  const presign = store.presignRead?.bind(store);
  if (presign === undefined) {
    throw noUrls(`${store.type} storage is read through the master (GET /checkpoints/${uuid})`);
  }
  const notFound = (): HttpError =>
    new HttpError(
      'not_found',
      `files of checkpoint '${uuid}' not found in ${store.type} storage at ${store.location}`,
    );
  try {
    const objects = await store.list(signal);
    if (objects.length === 0) {
      throw notFound();
    }
    const signed = new Map<string, PresignedRead>();
    const files = objects.filter((o) => !o.path.endsWith('/'));
    await forEachInLanes(
      files,
      SIGNING_LANES,
      signal ?? new AbortController().signal,
      async (o) => {
        signed.set(o.path, await presign(o, lifetimeS, signal));
      },
    );
    const expiresAtMs = Math.min(...[...signed.values()].map((s) => s.expiresAtMs));
    return {
      storageType: store.type,
      location: store.location,
      expiresAt: new Date(
        Number.isFinite(expiresAtMs) ? expiresAtMs : deps.clock() + lifetimeS * 1000,
      ).toISOString(),
      objects: objects.map((o): CheckpointDownloadUrlDto => {
        const url = signed.get(o.path)?.url;
        return {
          path: o.path,
          size: String(o.size),
          ...(o.version === undefined ? {} : { version: o.version }),
          ...(o.crc32c === undefined ? {} : { crc32c: o.crc32c }),
          ...(url === undefined ? {} : { url }),
        };
      }),
    };
  } catch (err: unknown) {
    if (err instanceof HttpError) {
      throw err;
    }
    if (err instanceof StorageUnreachableError && err.reason === 'unsupported') {
      throw noUrls(err.message);
    }
    if (err instanceof StorageUnreachableError && err.reason === 'not_found') {
      throw notFound();
    }
    throw storeFailure(err, store, 'sign URLs for');
  }
}
