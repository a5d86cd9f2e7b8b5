import type { JsonObject } from '@determined-ts/api';

/** One object of a checkpoint in storage. */
export interface StoredObject {
  /** Checkpoint-relative and `/`-separated; directories (and directory markers) end with `/`. */
  path: string;
  /** Size in bytes; 0 for directories. */
  size: number;
  /**
   * What pins this object's bytes: the S3 ETag, the GCS generation, `<size>:<mtime>` of a local
   * file. `undefined` when the store has none.
   */
  version: string | undefined;
  /** The store's own CRC32C of the whole object (8 lowercase hex digits), when it keeps one. */
  crc32c?: string | undefined;
  /** Its last modification, in ms since the epoch, when the store says. */
  mtimeMs?: number | undefined;
}

/**
 * A top-level entry of an object store's root (the prefix checkpoints are stored under): every
 * object whose key continues `<root>/<name>/`.
 */
export interface RootEntry {
  name: string;
  /** Bytes of all its objects. */
  bytes: number;
  objects: number;
  /** The last modification of its newest object, when the store says. */
  newestMtimeMs: number | undefined;
}

/** Bytes `[start, end)` of an object. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectReadOptions {
  /** The bytes to read; the whole object when omitted. */
  range?: ByteRange | undefined;
  /** Read only this version: a changed object fails with `ObjectChangedError`, never mixes. */
  version?: string | undefined;
  /** Ask for the store's whole-object CRC32C too, where a response carries it. */
  withChecksum?: boolean | undefined;
  /** Aborting it ends the read: the opening, and a body being read, reject with its reason. */
  signal: AbortSignal;
}

/** One read of an object (one request, for object stores). */
export interface ObjectRead {
  /** The version the bytes belong to. */
  version: string | undefined;
  /** The size of the whole object. */
  size: number;
  /** The store's CRC32C of the whole object, when the response carried it. */
  crc32c: string | undefined;
  /**
   * Exactly the bytes asked for, to iterate once. A chunk may be a view of a buffer the next
   * read reuses: use it before asking for the next. Throws when the connection drops or the
   * body ends short: a `TransientStorageError`, or the transport's own error (a system error
   * such as ECONNRESET), which callers classify.
   */
  body: AsyncIterable<Uint8Array>;
  /** Stops the body and frees the connection. Safe to call twice. */
  cancel(): void;
}

/**
 * A URL that reads one object with no credentials until `expiresAtMs`: a GET of it, with a
 * `Range` header and, for s3 and azure, `If-Match: <version>` (unsigned headers every store
 * takes), answers as the store does.
 */
export interface PresignedRead {
  url: string;
  /**
   * Until when the URL works, in ms since the epoch by the signer's clock. A URL that never
   * expires (an anonymous public Azure container) reports the lifetime asked for, so that every
   * expiry is a finite time a listing can carry as JSON.
   */
  expiresAtMs: number;
}

/**
 * The objects of one checkpoint in one store: what the transfer engine reads from and the
 * master deletes from. Local filesystems (`directory`, `shared_fs`), object stores (`s3`,
 * `gcs`, `azure`) and reads through presigned URLs implement it.
 *
 * Failures are typed: `StorageUnreachableError` when the checkpoint cannot be reached at all
 * (not found, no credentials or no permission), `ObjectChangedError` when a pinned version is
 * gone, `TransientStorageError` for what is worth another attempt (5xx, throttling, dropped or
 * stalled connections), `StorageError` for the rest.
 */
export interface CheckpointStore {
  /** The `checkpoint_storage` type: `directory`, `shared_fs`, `s3`, … */
  readonly type: string;
  /** Where the checkpoint is, as a user writes it: `s3://bucket/prefix/<uuid>`, `/data/<uuid>`. */
  readonly location: string;
  /** Checks that the checkpoint is there and readable (StorageUnreachableError if not). */
  probe(signal?: AbortSignal): Promise<void>;
  /**
   * Every object of the checkpoint, directories included, sorted by path. Local stores refuse
   * links below the checkpoint.
   */
  list(signal?: AbortSignal): Promise<StoredObject[]>;
  /** Opens a read of one object, or of a range of it. */
  read(path: string, options: ObjectReadOptions): Promise<ObjectRead>;
  /**
   * One object's size, version and (where the store keeps one) whole-object CRC32C, which a
   * listing does not carry: for checking files fetched in ranges. `undefined` when missing.
   */
  head?(path: string, signal?: AbortSignal): Promise<StoredObject | undefined>;
  /**
   * For local storage: the object's absolute path, checked to be a regular file inside the
   * checkpoint reached without links, so the engine may let the kernel copy it.
   */
  localFile?(path: string): Promise<string>;
  /**
   * Signs a GET of `object` (a file of `list`) valid for `expiresInS` seconds, less where the
   * credentials allow less: at most 7 days (S3's and GCS's limit), and never past the expiry of
   * temporary credentials or of a SAS the store was given. Stores that cannot sign (local ones)
   * leave it out; a store whose credentials cannot sign throws a `StorageUnreachableError`
   * (`unsupported`). Nothing is logged: the URL is a credential.
   */
  presignRead?(
    object: StoredObject,
    expiresInS: number,
    signal?: AbortSignal,
  ): Promise<PresignedRead>;
  /**
   * Object stores: the top-level entries of the root this checkpoint lives under (the
   * checkpoint itself and its siblings), from one listing of the whole root, sorted by name.
   * Objects right at the root, with no `/` after their name, are not entries. For finding
   * stored checkpoints the database no longer knows.
   */
  listRoot?(signal?: AbortSignal): Promise<RootEntry[]>;
  /**
   * Deletes the named objects (files, and directories once empty) and returns the names gone
   * afterwards: deleted, or missing already. What could not be deleted stays, and is not in the
   * result.
   */
  remove(paths: readonly string[], signal?: AbortSignal): Promise<Set<string>>;
  /**
   * Deletes every object of the checkpoint, listed in its resources or not; throws a
   * `StorageError` when some could not be deleted.
   */
  removeAll(signal?: AbortSignal): Promise<void>;
}

/** Finds the store holding a checkpoint's files; see `openCheckpointStore` for the default. */
export type StoreResolver = (
  storageConfig: JsonObject,
  uuid: string,
  signal?: AbortSignal,
) => Promise<CheckpointStore>;
