/** Reading or writing checkpoint storage failed. */
export class StorageError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/**
 * Bytes do not match what was recorded for them (size, CRC32C or sha256), a store answered with
 * something other than what was asked for, or an archive is bad. `path` names the file, `''`
 * when the failure is not one file's.
 */
export class IntegrityError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.name = 'IntegrityError';
    this.path = path;
  }
}

/** Why a checkpoint's storage cannot be read directly. */
export type UnreachableReason = 'not_found' | 'no_access' | 'unsupported';

/**
 * The checkpoint's files cannot be read directly from here: not found, not accessible (no
 * credentials, or the store refused them), or a storage type without direct access. In `auto`
 * mode this (and only this) makes a download fall back to the master, except for azure storage,
 * as in Determined.
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

/**
 * An object changed while it was being read: its version (S3 ETag, GCS generation) is no longer
 * the one the first bytes came from. Never retried as such: the engine starts the file over.
 */
export class ObjectChangedError extends StorageError {
  readonly key: string;

  constructor(key: string, message: string) {
    super(message);
    this.name = 'ObjectChangedError';
    this.key = key;
  }
}

/** A `checkpoint_storage` block is malformed; `key` names the offending key (`type`, `bucket`, …). */
export class StorageConfigError extends StorageError {
  readonly key: string;

  constructor(key: string, message: string) {
    super(message);
    this.name = 'StorageConfigError';
    this.key = key;
  }
}

/**
 * A failure worth another attempt: a 5xx, throttling (429, 503 SlowDown), a dropped, stalled
 * or short connection. The transfer engine retries it with backoff (and, when `isThrottled`,
 * with fewer connections); once attempts run out, `cause` is what went wrong.
 */
export class TransientStorageError extends StorageError {
  readonly isThrottled: boolean;

  constructor(message: string, options: { cause?: unknown; isThrottled?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientStorageError';
    this.isThrottled = options.isThrottled ?? false;
  }
}
