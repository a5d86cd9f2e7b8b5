import { homedir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';

import { StorageConfigError, parseStorageShortcut, sharedFsSubdir } from '@determined-ts/storage';

import { ArgumentError, StorageError } from '../errors.js';

/**
 * An experiment's `checkpoint_storage` block, keys as in Determined's YAML: `{ type: 'directory',
 * container_path }`, `{ type: 'shared_fs', host_path, storage_path? }`, or a cloud type.
 */
export interface CheckpointStorageConfig {
  type: string;
  [key: string]: unknown;
}

/**
 * Expands a `checkpoint_storage` string as Determined's Core API does off-cluster
 * (`storage.shared._shortcut_to_config(…, on_cluster=False)`): `/path` or `file:///path` is a
 * `directory` storage, `s3://bucket/prefix` and `gs://bucket/prefix` are cloud storage. A
 * relative path is resolved against the working directory, because the master only accepts
 * absolute ones.
 */
export function storageFromShortcut(shortcut: string): CheckpointStorageConfig {
  try {
    return parseStorageShortcut(shortcut) as CheckpointStorageConfig;
  } catch (err: unknown) {
    if (err instanceof StorageConfigError) {
      throw new ArgumentError('checkpoint_storage', err.message);
    }
    throw err;
  }
}

/**
 * The storage an unmanaged trial writes to: the given config (a shortcut is expanded), else
 * Determined's default, `<user data dir>/determined/checkpoints` as `directory` storage.
 */
export function resolveStorageConfig(
  value: string | CheckpointStorageConfig | undefined,
  env: Record<string, string | undefined>,
): CheckpointStorageConfig {
  if (value === undefined) {
    // appdirs.user_data_dir("determined") on Linux: $XDG_DATA_HOME, else ~/.local/share.
    const dataHome = env.XDG_DATA_HOME ?? join(env.HOME ?? homedir(), '.local', 'share');
    return { type: 'directory', container_path: join(dataHome, 'determined', 'checkpoints') };
  }
  if (typeof value === 'string') {
    return storageFromShortcut(value);
  }
  if (typeof value !== 'object' || value === null || typeof value.type !== 'string') {
    throw new ArgumentError(
      'checkpoint_storage',
      "checkpoint_storage must be a path, a URL shortcut or a mapping with a 'type'",
    );
  }
  return value;
}

function absolutePathKey(config: CheckpointStorageConfig, key: string): string {
  const value = config[key];
  if (typeof value !== 'string' || !isAbsolute(value)) {
    throw new StorageError(
      `${config.type} checkpoint storage needs an absolute ${key}, got ${JSON.stringify(value)}`,
    );
  }
  return normalize(value);
}

/** Whether checkpoints of this storage are directories on a filesystem (else objects in a store). */
export function isLocalStorage(config: CheckpointStorageConfig): boolean {
  return config.type === 'directory' || config.type === 'shared_fs';
}

/**
 * The directory that holds `<uuid>/` checkpoint directories for filesystem storage, as
 * Determined's `SharedFSStorageManager` computes it off-cluster. Other types throw a
 * `StorageError` (they are object stores).
 */
export function storageBasePath(config: CheckpointStorageConfig): string {
  switch (config.type) {
    case 'directory':
      return absolutePathKey(config, 'container_path');
    case 'shared_fs': {
      const host = absolutePathKey(config, 'host_path');
      return join(host, sharedFsSubdir(host, config.storage_path));
    }
    default:
      throw new StorageError(`checkpoint storage type '${config.type}' is not a filesystem`);
  }
}
