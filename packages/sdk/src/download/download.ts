import { lstat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import {
  DEFAULT_TUNING,
  JOURNAL_NAME,
  Journal,
  ProgressReporter,
  StorageUnreachableError,
  TransientStorageError,
  abortReason,
  buildManifest,
  commitTarget,
  createTempSibling,
  fetchCheckpoint,
  inspectTarget,
  openCheckpointStore,
  pruneTemp,
  releaseTempSibling,
  removeQuietly,
} from '@determined-ts/storage';
import type {
  CheckpointStore,
  Manifest,
  RetryPolicy,
  StoredObject,
  TransferTuning,
} from '@determined-ts/storage';

import type { Client } from '../client.js';
import {
  ArgumentError,
  CheckpointStateError,
  IntegrityError,
  NetworkError,
  StorageError,
} from '../errors.js';
import type { CheckpointData } from '../models.js';
import { DEFAULT_IDLE_TIMEOUT_MS, archiveUrl, checkIdleTimeout, fetchArchive } from './archive.js';
import type { DownloadEvent, DownloadMode, DownloadOptions } from './events.js';
import { openUrlStore } from './presigned.js';

/** What a download needs of a checkpoint: its data, and the session it came from (master mode). */
export type DownloadableCheckpoint = Pick<
  CheckpointData,
  'uuid' | 'state' | 'resources' | 'digests' | 'crc32c' | 'metadata' | 'storageConfig'
> & { readonly client?: Client | undefined };

const MODES: readonly DownloadMode[] = ['auto', 'direct', 'presigned', 'master'];
const DOWNLOADABLE_STATES = new Set(['COMPLETED', 'PARTIALLY_DELETED']);
const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000 };
const DEFAULT_PROGRESS_INTERVAL_MS = 100;

/**
 * Downloads a checkpoint's files into `path` (default `checkpoints/<uuid>` under the current
 * directory) and resolves to the absolute target directory.
 *
 * The target appears complete or not at all: files go to a temporary sibling that is renamed
 * into place. A target that already holds the complete checkpoint is left as it is; an empty
 * directory is filled; a non-empty, incomplete one is an error (nothing of it is touched).
 * Sizes are checked against `resources`, and CRC32C and sha256 against what the checkpoint
 * recorded (IntegrityError). Only COMPLETED and PARTIALLY_DELETED checkpoints download
 * (CheckpointStateError). Transient failures are retried with backoff; a direct download from
 * an object store that fails anyway (or is killed) is taken up where it stopped by the next
 * download of the same checkpoint into the same target. `metadata.json` is written from the
 * checkpoint's metadata when the files lack one, as Determined's SDK does.
 *
 * @example
 * const dir = await downloadCheckpoint(best, undefined, {
 *   onProgress: (e) => e.type === 'progress' && console.log(e.bytes, '/', e.totalBytes),
 * });
 */
export async function downloadCheckpoint(
  checkpoint: DownloadableCheckpoint,
  path?: string,
  options: DownloadOptions = {},
): Promise<string> {
  let target = '';
  const onProgress = options.onProgress;
  await runDownload(checkpoint, path, options, (event) => {
    if (event.type === 'done') {
      target = event.path;
    }
    onProgress?.(event);
  });
  return target;
}

/**
 * The async-iterator twin of {@link downloadCheckpoint}: yields `start` (totals known before the
 * first byte), `progress`, `file`, then `done`. Leaving the loop early aborts the download and
 * removes what it wrote; a failure is thrown from the loop.
 */
export async function* downloadCheckpointIter(
  checkpoint: DownloadableCheckpoint,
  path?: string,
  options: DownloadOptions = {},
): AsyncGenerator<DownloadEvent, void, undefined> {
  const queue: DownloadEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  const stop = new AbortController();
  const signal =
    options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  const run = runDownload(checkpoint, path, { ...options, signal }, (event) => {
    options.onProgress?.(event);
    queue.push(event);
    wake?.();
  }).then(
    () => {
      finished = true;
      wake?.();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      const event = queue.shift();
      if (event !== undefined) {
        yield event;
        continue;
      }
      if (finished) {
        break;
      }
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
    }
    if (failure !== undefined) {
      throw failure.error;
    }
  } finally {
    if (!finished) {
      stop.abort(new DOMException('The download was abandoned', 'AbortError'));
    }
    await run;
  }
}

async function runDownload(
  checkpoint: DownloadableCheckpoint,
  path: string | undefined,
  options: DownloadOptions,
  emit: (event: DownloadEvent) => void,
): Promise<void> {
  const mode = options.mode ?? 'auto';
  if (!MODES.includes(mode)) {
    throw new ArgumentError(
      'download-mode',
      `mode must be one of ${MODES.join(', ')}, got ${String(mode)}`,
    );
  }
  const idleTimeoutMs = checkIdleTimeout(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  const { uuid } = checkpoint;
  if (!DOWNLOADABLE_STATES.has(checkpoint.state)) {
    throw new CheckpointStateError(
      uuid,
      checkpoint.state,
      `checkpoint ${uuid} is ${checkpoint.state}: only COMPLETED or PARTIALLY_DELETED checkpoints can be downloaded`,
    );
  }
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  // Nothing is read or written before the checkpoint's own data is checked: its uuid names its
  // place in storage and the default target, its resources every file.
  if (!isPlainName(uuid)) {
    throw new IntegrityError(
      uuid,
      `refusing checkpoint uuid ${JSON.stringify(uuid)}: it is not a plain name`,
    );
  }
  const target = resolve(path ?? join('checkpoints', uuid));
  let manifest = manifestOf(checkpoint);
  if ((await inspectTarget(target, manifest, uuid)) === 'complete') {
    emit({ type: 'done', path: target, totalBytes: manifest.totalBytes, skipped: true });
    return;
  }

  const client = checkpoint.client;
  const retry: RetryPolicy = { ...(client?.retry ?? DEFAULT_RETRY), ...options.retry };
  const source = await pickSource(checkpoint, mode, options, signal);
  let listing: StoredObject[] | undefined;
  if (source.kind !== 'master' && manifest.files.length === 0 && manifest.dirs.length === 0) {
    // No resources recorded (very old or foreign checkpoints): take what storage holds.
    listing = await source.store.list(signal);
    manifest = buildManifest(Object.fromEntries(listing.map((e) => [e.path, e.size])), {});
  }

  const progress = new ProgressReporter(
    emit,
    manifest.totalBytes,
    options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS,
    options.clock ?? Date.now,
  );
  emit({
    type: 'start',
    totalBytes: manifest.totalBytes,
    totalFiles: manifest.files.length,
    mode: source.kind,
    source: source.kind === 'master' ? archiveUrl(source.client, uuid) : source.store.location,
  });
  // Downloads from the store keep a journal in their temp directory, so that one killed
  // half-way (or failed for the network) is taken up by the next download of the checkpoint to
  // the target, directly or through URLs alike: the objects are the same.
  const journalSource = source.kind === 'master' ? undefined : `${source.store.location}#${uuid}`;
  const isResumable = journalSource !== undefined && options.resume !== false;
  const temp = await createTempSibling(target, {
    canResume: isResumable
      ? (dir) => Journal.isOf(join(dir, JOURNAL_NAME), journalSource)
      : undefined,
  });
  let journal: Journal | undefined;
  try {
    if (source.kind !== 'master') {
      journal = isResumable ? Journal.open(join(temp, JOURNAL_NAME), journalSource) : undefined;
      await fetchCheckpoint({
        store: source.store,
        manifest,
        listing,
        dir: temp,
        journal,
        progress,
        retry,
        tuning: tuningOf(options, idleTimeoutMs),
        signal,
      });
    } else {
      await fetchArchive({
        client: source.client,
        uuid,
        manifest,
        dir: temp,
        progress,
        retry,
        signal,
        idleTimeoutMs,
      });
    }
    journal?.close();
    journal = undefined;
    if (isResumable) {
      await pruneTemp(temp, manifest); // an adopted temp may hold files no longer listed
    }
    await writeMetadataIfMissing(temp, checkpoint);
    progress.flush();
    signal.throwIfAborted();
    await commitTarget(temp, target, manifest, uuid);
  } catch (err: unknown) {
    journal?.close();
    if (isResumable && !signal.aborted && isWorthResuming(err)) {
      throw err; // the temp directory and its journal stay for the next download to take up
    }
    await removeQuietly(temp);
    throw signal.aborted ? abortReason(signal) : err;
  } finally {
    releaseTempSibling(temp);
  }
  emit({ type: 'done', path: target, totalBytes: manifest.totalBytes, skipped: false });
}

/** A name that stays one directory below `checkpoints/`. */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/** The checkpoint's manifest; a resource path or size it refuses names the checkpoint. */
function manifestOf(checkpoint: DownloadableCheckpoint): Manifest {
  try {
    return buildManifest(checkpoint.resources, checkpoint.digests, checkpoint.crc32c);
  } catch (err: unknown) {
    if (err instanceof IntegrityError) {
      throw new IntegrityError(err.path, `checkpoint ${checkpoint.uuid}: ${err.message}`);
    }
    throw err;
  }
}

/** Failures of the network or the store, after retries: the next attempt may well succeed. */
function isWorthResuming(err: unknown): boolean {
  return err instanceof TransientStorageError || err instanceof NetworkError;
}

function tuningOf(options: DownloadOptions, idleTimeoutMs: number): TransferTuning {
  const connections = options.concurrency ?? DEFAULT_TUNING.connections;
  if (!Number.isSafeInteger(connections) || connections < 1) {
    throw new ArgumentError(
      'concurrency',
      `concurrency must be a positive integer, got ${String(options.concurrency)}`,
    );
  }
  return { ...DEFAULT_TUNING, connections, idleTimeoutMs };
}

type Source =
  { kind: 'direct' | 'presigned'; store: CheckpointStore } | { kind: 'master'; client: Client };

/**
 * Where the bytes come from. In `auto` mode only storage that is unreachable from here (not
 * found, no credentials, no access, no route) falls back, whatever its type (Determined's SDK
 * never falls back for azure, whose archives its master refuses): to URLs the master signs,
 * then, where it signs none (local storage, Determined's master), to the master's archive.
 */
async function pickSource(
  checkpoint: DownloadableCheckpoint,
  mode: DownloadMode,
  options: DownloadOptions,
  signal: AbortSignal,
): Promise<Source> {
  const { client, uuid } = checkpoint;
  const viaMaster = (): Source => {
    if (client === undefined) {
      throw new StorageError(
        `checkpoint ${uuid}: master mode needs the session the checkpoint was fetched with ` +
          '(checkpoint.client)',
      );
    }
    return { kind: 'master', client };
  };
  const viaUrls = async (): Promise<Source | { unavailable: string }> => {
    if (client === undefined) {
      return { unavailable: 'the checkpoint was not fetched through a master session' };
    }
    const urls = await openUrlStore(client, uuid, signal);
    return 'store' in urls ? { kind: 'presigned', store: urls.store } : urls;
  };
  if (mode === 'master') {
    return viaMaster();
  }
  if (mode === 'presigned') {
    const urls = await viaUrls();
    if ('unavailable' in urls) {
      throw new StorageError(`checkpoint ${uuid}: no download URLs: ${urls.unavailable}`);
    }
    return urls;
  }
  try {
    const store =
      options.storage === undefined
        ? await openCheckpointStore(checkpoint.storageConfig, uuid, {
            env: options.env ?? process.env,
            signal,
          })
        : await options.storage(checkpoint.storageConfig, uuid, signal);
    await store.probe(signal);
    return { kind: 'direct', store };
  } catch (err: unknown) {
    const canFallBack =
      mode === 'auto' && err instanceof StorageUnreachableError && client !== undefined;
    if (canFallBack) {
      const urls = await viaUrls();
      return 'unavailable' in urls ? viaMaster() : urls;
    }
    throw err;
  }
}

async function writeMetadataIfMissing(
  dir: string,
  checkpoint: DownloadableCheckpoint,
): Promise<void> {
  const file = join(dir, 'metadata.json');
  const exists = await lstat(file).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await writeFile(file, `${JSON.stringify(checkpoint.metadata, null, 2)}\n`, { flag: 'wx' });
  }
}
