import type { JsonObject } from '@determined-ts/api';

import { StorageError } from '../errors.js';

/** One object of a checkpoint in storage. */
export interface StorageEntry {
  /** Checkpoint-relative and `/`-separated; directories end with `/`. */
  path: string;
  /** Size in bytes; 0 for directories. */
  size: number;
}

/** A byte range of one object; `end` is exclusive. Omitted bounds mean the start or the end. */
export interface ReadOptions {
  start?: number;
  end?: number;
  signal?: AbortSignal;
}

/**
 * The files of one checkpoint in one storage: what the download engine reads from. Local
 * filesystems (`directory`, `shared_fs`) implement it now; object stores (s3, gcs, azure) will
 * implement the same shape, with ranged reads for resuming and parallel chunks.
 */
export interface StorageBackend {
  /** Where the files are, for progress events and errors, e.g. `directory:/data/ckpt/<uuid>`. */
  readonly source: string;
  /**
   * Checks that the checkpoint is reachable. Throws {@link StorageUnreachableError} when it is
   * not found or not accessible (which lets `auto` mode fall back to the master).
   */
  probe(signal?: AbortSignal): Promise<void>;
  /** Every object of the checkpoint, directories included. Links are refused. */
  list(signal?: AbortSignal): Promise<StorageEntry[]>;
  /** One object, or `undefined` when it does not exist. */
  stat(path: string, signal?: AbortSignal): Promise<StorageEntry | undefined>;
  /** Reads an object (or a range of it) as a stream of chunks. */
  read(path: string, options?: ReadOptions): AsyncIterable<Uint8Array>;
  /**
   * For local storage: the object's absolute path, checked to be a regular file inside the
   * checkpoint reached without links, so the engine may let the kernel copy it.
   */
  localFile?(path: string): Promise<string>;
}

/** Finds the storage holding a checkpoint's files; see `resolveDirectStorage` for the default. */
export type StorageResolver = (
  storageConfig: JsonObject,
  uuid: string,
  signal?: AbortSignal,
) => Promise<StorageBackend>;

/** Why a checkpoint's storage cannot be read directly. */
export type UnreachableReason = 'not_found' | 'no_access' | 'unsupported';

/**
 * The checkpoint's files cannot be read directly from here: not found, not accessible, or a
 * storage type without direct access. In `auto` mode this (and only this) makes a download fall
 * back to the master, except for azure storage, as in Determined.
 */
export class StorageUnreachableError extends StorageError {
  readonly reason: UnreachableReason;
  readonly storageType: string;

  constructor(
    storageType: string,
    reason: UnreachableReason,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'StorageUnreachableError';
    this.reason = reason;
    this.storageType = storageType;
  }
}
