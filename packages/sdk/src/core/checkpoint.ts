import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { getCheckpoint } from '../api/checkpoints.js';
import { downloadCheckpoint } from '../download/download.js';
import type { DownloadOptions } from '../download/events.js';
import { ArgumentError, StorageError } from '../errors.js';
import { reportCheckpoint } from './api.js';
import { syncParents, syncTreeDirs, writeFileSynced } from './fsync.js';
import { toWireObject } from './json.js';
import type { CheckpointStorageConfig } from './storage.js';
import { storageBasePath } from './storage.js';
import { checkOpen } from './train.js';
import type { CoreState } from './train.js';
import { copyTree, hashTree } from './tree.js';
import type { TreeManifest } from './tree.js';

/** Checkpoint metadata: free-form, but `steps_completed` is required, as in Determined's SDK. */
export interface CheckpointMetadata {
  /** Batches completed when the checkpoint was taken; links it to the metrics of that step. */
  steps_completed: number;
  [key: string]: unknown;
}

export interface CheckpointUploadOptions {
  /**
   * Sharded uploads (every rank writing part of one checkpoint) need a distributed context,
   * which the TypeScript Core API does not have; only `false` is accepted.
   * @default false
   */
  shard?: false;
  signal?: AbortSignal;
}

const METADATA_FILE = 'metadata.json';

/** What the checkpoint context needs beyond the shared state. @internal */
export interface CheckpointDeps {
  taskId: string;
  storageId: number | undefined;
  storage: CheckpointStorageConfig;
  now: () => number;
}

function checkMetadata(metadata: unknown): Record<string, unknown> {
  const wire = toWireObject(metadata, 'metadata');
  const steps = wire.steps_completed;
  if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 0) {
    // Determined's SDK refuses to report without it; the master sorts and joins metrics by it.
    throw new ArgumentError(
      'steps_completed',
      `checkpoint metadata needs steps_completed, a non-negative integer; got ${JSON.stringify(steps)}`,
    );
  }
  return wire;
}

function asStorageError(err: unknown, what: string): unknown {
  if (err instanceof StorageError || err instanceof ArgumentError) {
    return err;
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return err;
  }
  return new StorageError(`${what}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/**
 * Stores checkpoints of a trial, as Determined's `core.checkpoint` does: files go to the
 * experiment's checkpoint storage under a new uuid, then the checkpoint is reported to the
 * master. Supports `directory` and `shared_fs` storage.
 *
 * Each checkpoint appears whole or not at all: files are written to a hidden sibling directory
 * and renamed to `<uuid>/` once complete. Files and directories are synced to disk before the
 * checkpoint is reported, so a checkpoint the master knows survives a crash of this machine.
 * Every file's sha256 is recorded with the master (a Determined-TS extension that downloads
 * verify).
 */
export class CheckpointContext {
  readonly #state: CoreState;
  readonly #deps: CheckpointDeps;
  readonly #inFlight = new Set<Promise<unknown>>();

  /** @internal Made by `init()`. */
  constructor(state: CoreState, deps: CheckpointDeps) {
    this.#state = state;
    this.#deps = deps;
  }

  /**
   * Copies the files of `dir` (not `dir` itself) into storage as a new checkpoint, writes
   * `metadata.json` (= `metadata`; it replaces a `metadata.json` in `dir`, as in Determined),
   * reports it with `resources` (directories as `sub/` with size 0) and sha256 digests, and
   * returns its uuid. `dir` is not modified.
   *
   * Throws `ArgumentError` for metadata without `steps_completed`, `StorageError` for cloud
   * storage (a later feature), links out of `dir` and file-system failures; nothing is left in
   * storage then. A failed report (`ApiError`) leaves the stored files in place.
   */
  upload(
    dir: string,
    metadata: CheckpointMetadata,
    options: CheckpointUploadOptions = {},
  ): Promise<string> {
    return this.#track(async () => {
      this.#checkShard(options);
      return this.#store(metadata, options.signal, async (staging) => {
        try {
          return await copyTree(dir, staging, {
            skip: (rel) => rel === METADATA_FILE,
            signal: options.signal,
          });
        } catch (err: unknown) {
          throw asStorageError(err, `cannot upload ${dir}`);
        }
      });
    });
  }

  /**
   * Gives `fill` a fresh directory inside the checkpoint storage to write the checkpoint's files
   * into, then stores and reports it as {@link upload} does, and returns the uuid (Determined's
   * `store_path`). Writing in place saves a copy. The directory is a hidden staging one, renamed
   * to `<uuid>/` after `fill` returns, so do not keep its path. It may hold only regular files
   * and directories. If `fill` throws, nothing is stored and its error is rethrown.
   *
   * @example
   * const uuid = await core.checkpoint.storePath({ steps_completed: 100 }, async (path) => {
   *   await writeFile(join(path, 'model.bin'), weights);
   * });
   */
  storePath(
    metadata: CheckpointMetadata,
    fill: (path: string, uuid: string) => Promise<void>,
    options: CheckpointUploadOptions = {},
  ): Promise<string> {
    return this.#track(async () => {
      this.#checkShard(options);
      return this.#store(metadata, options.signal, async (staging, uuid) => {
        await fill(staging, uuid);
        try {
          return await hashTree(staging, {
            skip: (rel) => rel === METADATA_FILE,
            signal: options.signal,
          });
        } catch (err: unknown) {
          throw asStorageError(err, `cannot store checkpoint ${uuid}`);
        }
      });
    });
  }

  /**
   * Downloads the checkpoint `uuid` (of any trial) into `dir` and resolves to the target
   * directory, as Determined's `core.checkpoint.download`, with the SDK's download guarantees
   * (complete or absent, sizes and digests checked). Works after `close()` too.
   */
  async download(uuid: string, dir: string, options: DownloadOptions = {}): Promise<string> {
    const client = this.#state.client;
    const data = await getCheckpoint(client, uuid, { signal: options.signal });
    return downloadCheckpoint({ ...data, client }, dir, options);
  }

  /** Resolves once every upload started so far has settled; used by `close()`. @internal */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #track<T>(run: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      checkOpen(this.#state);
      promise = run();
    } catch (err: unknown) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.#inFlight.add(promise);
    const forget = (): void => {
      this.#inFlight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  #checkShard(options: CheckpointUploadOptions): void {
    if ((options.shard as boolean | undefined) === true) {
      throw new ArgumentError(
        'shard',
        'sharded checkpoint uploads need a distributed context, which the TypeScript Core API does not have',
      );
    }
  }

  /**
   * The common path of `upload` and `storePath`: a staging directory next to the final one,
   * filled by `fill`, completed with `metadata.json`, renamed into place, then reported.
   */
  async #store(
    metadata: CheckpointMetadata,
    signal: AbortSignal | undefined,
    fill: (staging: string, uuid: string) => Promise<TreeManifest>,
  ): Promise<string> {
    const wireMetadata = checkMetadata(metadata);
    const base = storageBasePath(this.#deps.storage);
    const uuid = randomUUID();
    // Hidden, and named so that no reader mistakes it for a checkpoint directory.
    const staging = join(base, `.${uuid}.partial`);
    const final = join(base, uuid);
    let manifest: TreeManifest;
    let isPlaced = false;
    try {
      let firstCreated: string | undefined;
      try {
        firstCreated = await mkdir(base, { recursive: true });
        await mkdir(staging);
      } catch (err: unknown) {
        throw asStorageError(err, `cannot write to checkpoint storage ${base}`);
      }
      manifest = await fill(staging, uuid);
      signal?.throwIfAborted();
      try {
        // Python's json.dump(indent=2) layout. It replaces a metadata.json of the caller's, as
        // in Determined, which writes the metadata into the checkpoint directory first.
        const text = JSON.stringify(wireMetadata, null, 2);
        // A metadata.json that `fill` wrote is replaced, never written through (it may be a link).
        await rm(join(staging, METADATA_FILE), { force: true });
        await writeFileSynced(join(staging, METADATA_FILE), text);
        const bytes = Buffer.byteLength(text);
        manifest.resources[METADATA_FILE] = bytes;
        manifest.digests[METADATA_FILE] = createHash('sha256').update(text).digest('hex');
        // Every file was synced as it was written. Once the master has the report, the
        // checkpoint must survive a crash: sync the directories bottom-up, rename the whole
        // tree into place, then sync the directory that now names it.
        const dirs = Object.keys(manifest.resources).filter((rel) => rel.endsWith('/'));
        await syncTreeDirs(staging, dirs);
        await rename(staging, final);
        isPlaced = true;
        await syncParents(base, firstCreated);
      } catch (err: unknown) {
        throw asStorageError(err, `cannot store checkpoint ${uuid} in ${base}`);
      }
    } catch (err: unknown) {
      // An unreported checkpoint is garbage, wherever it got to.
      await rm(isPlaced ? final : staging, { recursive: true, force: true }).catch(() => {
        // Best effort: the original error matters more than a leftover directory.
      });
      throw err;
    }
    await reportCheckpoint(
      this.#state.client,
      {
        uuid,
        taskId: this.#deps.taskId,
        // Off-cluster there is no allocation; core_v2 sends none either.
        allocationId: null,
        reportTime: new Date(this.#deps.now()).toISOString(),
        state: 'STATE_COMPLETED',
        resources: Object.fromEntries(
          Object.entries(manifest.resources).map(([path, size]) => [path, String(size)]),
        ),
        metadata: wireMetadata,
        training: {},
        storageId: this.#deps.storageId ?? null,
        digests: manifest.digests,
      },
      { signal },
    );
    return uuid;
  }
}
