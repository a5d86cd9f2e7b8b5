import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  DEFAULT_UPLOAD_TUNING,
  crc32c,
  crc32cHex,
  openCheckpointStore,
  uploadFiles,
} from '@determined-ts/storage';
import type { CheckpointStore, ObjectWriter, UploadSource } from '@determined-ts/storage';

import { getCheckpoint } from '../api/checkpoints.js';
import { downloadCheckpoint } from '../download/download.js';
import type { DownloadOptions } from '../download/events.js';
import { ArgumentError, StorageError } from '../errors.js';
import { reportCheckpoint } from './api.js';
import { syncParents, syncTreeDirs, writeFileSynced } from './fsync.js';
import { toWireObject } from './json.js';
import type { CheckpointStorageConfig } from './storage.js';
import { isLocalStorage, storageBasePath } from './storage.js';
import { checkOpen } from './train.js';
import type { CoreState } from './train.js';
import { copyTree, hashFile, hashTree, walkTree } from './tree.js';
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
  /**
   * Record each file's sha256 besides its CRC32C (downloads then check both). CRC32C alone
   * catches corruption at a fraction of the cost; sha256 is for when a cryptographic digest is
   * wanted.
   * @default false
   */
  sha256?: boolean;
  signal?: AbortSignal;
}

const METADATA_FILE = 'metadata.json';

/** What the checkpoint context needs beyond the shared state. @internal */
export interface CheckpointDeps {
  taskId: string;
  storageId: number | undefined;
  storage: CheckpointStorageConfig;
  /** Object stores are set up from it (`AWS_REGION`); credentials come from AWS's chain. */
  env: Readonly<Record<string, string | undefined>>;
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

/** `metadata.json` as Python's json.dump(indent=2) writes it. */
function metadataText(metadata: Record<string, unknown>): string {
  return JSON.stringify(metadata, null, 2);
}

/** Whether a store can be written object by object (s3, gcs, azure). */
function isObjectWriter(store: CheckpointStore): store is CheckpointStore & ObjectWriter {
  return 'putObject' in store && 'startParts' in store;
}

/**
 * Stores checkpoints of a trial, as Determined's `core.checkpoint` does: files go to the
 * experiment's checkpoint storage under a new uuid, then the checkpoint is reported to the
 * master. Supports `directory`, `shared_fs` and `s3` storage.
 *
 * Each checkpoint appears whole or not at all. On a filesystem, files are written to a hidden
 * sibling directory and renamed to `<uuid>/` once complete, and synced to disk before the
 * checkpoint is reported, so a checkpoint the master knows survives a crash of this machine. In
 * an object store, `<prefix>/<uuid>/…` is reported only once every object is written (the store
 * checks each against its CRC32C), and what a failed upload wrote is deleted. Every file's
 * CRC32C (and sha256, when asked) is recorded with the master (a Determined-TS extension that
 * downloads verify).
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
   * reports it with `resources` (directories as `sub/` with size 0) and checksums, and returns
   * its uuid. `dir` is not modified.
   *
   * Throws `ArgumentError` for metadata without `steps_completed`, `StorageError` for links out
   * of `dir`, storage that refuses the files (an unreachable store, missing credentials) and
   * file-system failures; nothing is left in storage then. A failed report (`ApiError`) leaves
   * the stored files in place.
   */
  upload(
    dir: string,
    metadata: CheckpointMetadata,
    options: CheckpointUploadOptions = {},
  ): Promise<string> {
    return this.#track(async () => {
      this.#checkShard(options);
      const treeOptions = {
        skip: (rel: string) => rel === METADATA_FILE,
        sha256: options.sha256,
        signal: options.signal,
      };
      if (!isLocalStorage(this.#deps.storage)) {
        return this.#storeRemote(metadata, options, () => sourcesOf(dir, treeOptions));
      }
      return this.#storeLocal(metadata, options, async (staging) => {
        try {
          return await copyTree(dir, staging, treeOptions);
        } catch (err: unknown) {
          throw asStorageError(err, `cannot upload ${dir}`);
        }
      });
    });
  }

  /**
   * Gives `fill` a fresh directory to write the checkpoint's files into, then stores and
   * reports it as {@link upload} does, and returns the uuid (Determined's `store_path`). For
   * filesystem storage the directory is inside the checkpoint storage, a hidden staging one
   * renamed to `<uuid>/` after `fill` returns, so writing in place saves a copy; for object
   * stores it is a temporary local directory, uploaded then removed. Do not keep its path. It
   * may hold only regular files and directories. If `fill` throws, nothing is stored and its
   * error is rethrown.
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
      const treeOptions = {
        skip: (rel: string) => rel === METADATA_FILE,
        sha256: options.sha256,
        signal: options.signal,
      };
      if (!isLocalStorage(this.#deps.storage)) {
        const local = await mkdtemp(join(tmpdir(), 'det-checkpoint-'));
        try {
          return await this.#storeRemote(metadata, options, async (uuid) => {
            await fill(local, uuid);
            return sourcesOf(local, treeOptions);
          });
        } finally {
          await rm(local, { recursive: true, force: true });
        }
      }
      return this.#storeLocal(metadata, options, async (staging, uuid) => {
        await fill(staging, uuid);
        try {
          return await hashTree(staging, treeOptions);
        } catch (err: unknown) {
          throw asStorageError(err, `cannot store checkpoint ${uuid}`);
        }
      });
    });
  }

  /**
   * Downloads the checkpoint `uuid` (of any trial) into `dir` and resolves to the target
   * directory, as Determined's `core.checkpoint.download`, with the SDK's download guarantees
   * (complete or absent, sizes and checksums checked). Works after `close()` too.
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
   * The filesystem path of `upload` and `storePath`: a staging directory next to the final one,
   * filled by `fill`, completed with `metadata.json`, renamed into place, then reported.
   */
  async #storeLocal(
    metadata: CheckpointMetadata,
    options: CheckpointUploadOptions,
    fill: (staging: string, uuid: string) => Promise<TreeManifest>,
  ): Promise<string> {
    const { signal } = options;
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
        // It replaces a metadata.json of the caller's, as in Determined, which writes the
        // metadata into the checkpoint directory first. A metadata.json that `fill` wrote is
        // replaced, never written through (it may be a link).
        await rm(join(staging, METADATA_FILE), { force: true });
        const text = metadataText(wireMetadata);
        await writeFileSynced(join(staging, METADATA_FILE), text);
        recordMetadata(manifest, text, options.sha256 === true);
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
    await this.#report(uuid, wireMetadata, manifest, signal);
    return uuid;
  }

  /**
   * The object-store path of `upload` and `storePath`: every object (the files, directory
   * markers and `metadata.json`) is written under `<prefix>/<uuid>/`, then the checkpoint is
   * reported. A failed upload deletes what it wrote.
   */
  async #storeRemote(
    metadata: CheckpointMetadata,
    options: CheckpointUploadOptions,
    collect: (
      uuid: string,
    ) => Promise<{ sources: UploadSource[]; dirs: string[]; sha256: Record<string, string> }>,
  ): Promise<string> {
    const wireMetadata = checkMetadata(metadata);
    const uuid = randomUUID();
    const { signal } = options;
    const { sources, dirs, sha256 } = await collect(uuid);
    const text = metadataText(wireMetadata);
    const metadataBytes = Buffer.from(text);
    sources.push({ path: METADATA_FILE, size: metadataBytes.length, bytes: metadataBytes });
    let store: CheckpointStore;
    try {
      store = await openCheckpointStore(this.#deps.storage, uuid, { env: this.#deps.env });
    } catch (err: unknown) {
      throw asStorageError(err, `cannot open checkpoint storage for ${uuid}`);
    }
    if (!isObjectWriter(store)) {
      throw new StorageError(
        `uploading checkpoints to ${this.#deps.storage.type} storage is not supported`,
      );
    }
    let crcs: Record<string, string>;
    try {
      crcs = await uploadFiles({
        writer: store,
        files: sources,
        dirs,
        tuning: DEFAULT_UPLOAD_TUNING,
        retry: this.#state.client.retry,
        signal,
      });
    } catch (err: unknown) {
      // An unreported checkpoint is garbage: remove what made it into the store.
      await store.removeAll().catch(() => {
        // Best effort: the original error matters more than leftover objects.
      });
      throw asStorageError(err, `cannot upload checkpoint ${uuid} to ${store.location}`);
    }
    const manifest: TreeManifest = { resources: {}, digests: sha256, crc32c: crcs };
    for (const dir of dirs) {
      manifest.resources[dir] = 0;
    }
    for (const source of sources) {
      manifest.resources[source.path] = source.size;
    }
    if (options.sha256 === true) {
      manifest.digests[METADATA_FILE] = createHash('sha256').update(text).digest('hex');
    }
    await this.#report(uuid, wireMetadata, manifest, signal);
    return uuid;
  }

  async #report(
    uuid: string,
    metadata: Record<string, unknown>,
    manifest: TreeManifest,
    signal: AbortSignal | undefined,
  ): Promise<void> {
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
        metadata,
        training: {},
        storageId: this.#deps.storageId ?? null,
        crc32c: manifest.crc32c,
        ...(Object.keys(manifest.digests).length === 0 ? {} : { digests: manifest.digests }),
      },
      { signal },
    );
  }
}

/** Adds the `metadata.json` the upload wrote to a manifest. */
function recordMetadata(manifest: TreeManifest, text: string, withSha256: boolean): void {
  const bytes = Buffer.from(text);
  manifest.resources[METADATA_FILE] = bytes.length;
  manifest.crc32c[METADATA_FILE] = crc32cHex(crc32c(bytes));
  if (withSha256) {
    manifest.digests[METADATA_FILE] = createHash('sha256').update(bytes).digest('hex');
  }
}

/**
 * The files and directories of `dir` as upload sources, checked as `walkTree` checks them, and
 * their sha256s when asked for (CRC32Cs are computed by the upload itself).
 */
async function sourcesOf(
  dir: string,
  options: {
    skip: (rel: string) => boolean;
    sha256?: boolean | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<{ sources: UploadSource[]; dirs: string[]; sha256: Record<string, string> }> {
  let walk;
  try {
    walk = await walkTree(dir, options);
  } catch (err: unknown) {
    throw asStorageError(err, `cannot upload ${dir}`);
  }
  const sha256: Record<string, string> = {};
  if (options.sha256 === true) {
    for (const f of walk.files) {
      const result = await hashFile(f.from, { sha256: true, sync: false, signal: options.signal });
      if (result.sha256 !== undefined) {
        sha256[f.rel] = result.sha256;
      }
    }
  }
  return {
    sources: walk.files.map((f) => ({ path: f.rel, size: f.stats.size, file: f.from })),
    dirs: [...walk.dirs.keys()],
    sha256,
  };
}
