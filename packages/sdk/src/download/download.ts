import { lstat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { abortReason } from '../client.js';
import type { Client, RetryPolicy } from '../client.js';
import { ArgumentError, CheckpointStateError, StorageError } from '../errors.js';
import type { CheckpointData } from '../models.js';
import { StorageUnreachableError } from '../storage/backend.js';
import type { StorageBackend } from '../storage/backend.js';
import { resolveDirectStorage } from '../storage/resolve.js';
import { archiveUrl, fetchArchive } from './archive.js';
import { copyDirect } from './direct.js';
import type { DownloadEvent, DownloadMode, DownloadOptions } from './events.js';
import { buildManifest } from './manifest.js';
import { ProgressReporter } from './progress.js';
import { commitTarget, createTempSibling, inspectTarget, removeQuietly } from './target.js';

/** What a download needs of a checkpoint: its data, and the session it came from (master mode). */
export type DownloadableCheckpoint = Pick<
  CheckpointData,
  'uuid' | 'state' | 'resources' | 'digests' | 'metadata' | 'storageConfig'
> & { readonly client?: Client | undefined };

const MODES: readonly DownloadMode[] = ['auto', 'direct', 'master'];
const DOWNLOADABLE_STATES = new Set(['COMPLETED', 'PARTIALLY_DELETED']);
const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000 };
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_PROGRESS_INTERVAL_MS = 100;

/**
 * Downloads a checkpoint's files into `path` (default `checkpoints/<uuid>` under the current
 * directory) and resolves to the absolute target directory.
 *
 * The target appears complete or not at all: files go to a temporary sibling that is renamed
 * into place. A target that already holds the complete checkpoint is left as it is; an empty
 * directory is filled; a non-empty, incomplete one is an error (nothing of it is touched).
 * Sizes are checked against `resources` and sha256 against `digests` where known (IntegrityError).
 * Only COMPLETED and PARTIALLY_DELETED checkpoints download (CheckpointStateError). Transient
 * failures are retried with backoff. `metadata.json` is written from the checkpoint's metadata
 * when the files lack one, as Determined's SDK does.
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
  const target = resolve(path ?? join('checkpoints', uuid));
  let manifest = buildManifest(checkpoint.resources, checkpoint.digests);
  if ((await inspectTarget(target, manifest, uuid)) === 'complete') {
    emit({ type: 'done', path: target, totalBytes: manifest.totalBytes, skipped: true });
    return;
  }

  const client = checkpoint.client;
  const retry: RetryPolicy = { ...(client?.retry ?? DEFAULT_RETRY), ...options.retry };
  const source = await pickSource(checkpoint, mode, options, signal);
  if (source.kind === 'direct' && manifest.files.length === 0 && manifest.dirs.length === 0) {
    // No resources recorded (very old or foreign checkpoints): take what storage holds.
    const listed = await source.backend.list(signal);
    manifest = buildManifest(Object.fromEntries(listed.map((e) => [e.path, e.size])), {});
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
    source: source.kind === 'direct' ? source.backend.source : archiveUrl(source.client, uuid),
  });
  const temp = await createTempSibling(target);
  try {
    if (source.kind === 'direct') {
      await copyDirect({
        backend: source.backend,
        manifest,
        dir: temp,
        progress,
        retry,
        concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
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
        idleTimeoutMs: options.idleTimeoutMs,
      });
    }
    await writeMetadataIfMissing(temp, checkpoint);
    progress.flush();
    signal.throwIfAborted();
    await commitTarget(temp, target, manifest, uuid);
  } catch (err: unknown) {
    await removeQuietly(temp);
    throw signal.aborted ? abortReason(signal) : err;
  }
  emit({ type: 'done', path: target, totalBytes: manifest.totalBytes, skipped: false });
}

type Source = { kind: 'direct'; backend: StorageBackend } | { kind: 'master'; client: Client };

/**
 * Where the bytes come from. In `auto` mode only storage that is unreachable from here falls
 * back to the master, and azure never does (as in Determined's SDK).
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
  if (mode === 'master') {
    return viaMaster();
  }
  const resolver = options.storage ?? resolveDirectStorage;
  try {
    return { kind: 'direct', backend: await resolver(checkpoint.storageConfig, uuid, signal) };
  } catch (err: unknown) {
    const canFallBack =
      mode === 'auto' &&
      err instanceof StorageUnreachableError &&
      checkpoint.storageConfig.type !== 'azure' &&
      client !== undefined;
    if (canFallBack) {
      return viaMaster();
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
