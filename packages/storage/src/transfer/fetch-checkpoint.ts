import type { CheckpointStore, StoredObject } from '../backend.js';
import type { RetryPolicy } from '../common.js';
import { copyLocalFiles } from '../local/local-copy.js';
import { fetchFiles } from './fetch-files.js';
import type { TransferTuning } from './fetch-files.js';
import type { Journal } from './journal.js';
import type { Manifest } from './manifest.js';
import type { ProgressReporter } from './progress.js';

export interface CheckpointFetch {
  store: CheckpointStore;
  manifest: Manifest;
  /** The store's listing, when the caller already has it; object stores are listed otherwise. */
  listing?: readonly StoredObject[] | undefined;
  /** The (temporary) directory being filled. */
  dir: string;
  journal: Journal | undefined;
  progress: ProgressReporter;
  retry: RetryPolicy;
  tuning: TransferTuning;
  signal: AbortSignal;
}

/**
 * Fetches a checkpoint's files from its store into `dir`: kernel copies for local stores,
 * the ranged engine for object stores (see `copyLocalFiles` and `fetchFiles`).
 */
export async function fetchCheckpoint(job: CheckpointFetch): Promise<void> {
  const { store } = job;
  if (store.localFile !== undefined) {
    await copyLocalFiles({
      ...job,
      localFile: store.localFile.bind(store),
      concurrency: job.tuning.connections,
    });
    return;
  }
  const listing = job.listing ?? (await store.list(job.signal));
  await fetchFiles({ ...job, listing: new Map(listing.map((o) => [o.path, o])) });
}
