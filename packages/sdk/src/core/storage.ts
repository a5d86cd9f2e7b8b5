import { homedir } from 'node:os';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ArgumentError, StorageError } from '../errors.js';
import { sharedFsSubdir } from '../storage/resolve.js';

/**
 * An experiment's `checkpoint_storage` block, keys as in Determined's YAML: `{ type: 'directory',
 * container_path }`, `{ type: 'shared_fs', host_path, storage_path? }`, or a cloud type.
 */
export interface CheckpointStorageConfig {
  type: string;
  [key: string]: unknown;
}

/** Determined's URL schemes for `checkpoint_storage` shortcuts, and the storage type each names. */
const CLOUD_SCHEMES = { s3: 's3', gs: 'gcs' } as const satisfies Record<string, string>;

/**
 * Expands a `checkpoint_storage` string as Determined's Core API does off-cluster
 * (`storage.shared._shortcut_to_config(…, on_cluster=False)`): `/path` or `file:///path` is a
 * `directory` storage, `s3://bucket/prefix` and `gs://bucket/prefix` are cloud storage. A
 * relative path is resolved against the working directory, because the master only accepts
 * absolute ones.
 */
export function storageFromShortcut(shortcut: string): CheckpointStorageConfig {
  const malformed = (why: string): ArgumentError =>
    new ArgumentError('checkpoint_storage', `malformed checkpoint_storage "${shortcut}": ${why}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(shortcut)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (shortcut === '') {
      throw malformed('it is empty');
    }
    if (/[?#]/.test(shortcut)) {
      throw malformed('a path must not contain a query or fragment');
    }
    return { type: 'directory', container_path: resolve(shortcut) };
  }
  let url: URL;
  try {
    url = new URL(shortcut);
  } catch {
    throw malformed('not a URL');
  }
  if (url.search !== '' || url.hash !== '') {
    throw malformed('a query or fragment is not allowed');
  }
  if (scheme === 'file') {
    if (url.host !== '') {
      throw malformed('a host in a file URL is not allowed');
    }
    return { type: 'directory', container_path: fileURLToPath(url) };
  }
  if (scheme === 's3' || scheme === 'gs') {
    return {
      type: CLOUD_SCHEMES[scheme],
      bucket: url.host,
      prefix: decodeURIComponent(url.pathname.replace(/^\/+/, '')),
    };
  }
  throw malformed('only paths, file://, s3:// and gs:// shortcuts are supported');
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

/**
 * The directory that holds `<uuid>/` checkpoint directories for filesystem storage, as
 * Determined's `SharedFSStorageManager` computes it off-cluster. Other types throw a
 * `StorageError`: writing to cloud storage from TypeScript is a later feature.
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
      throw new StorageError(
        `checkpoint storage type '${config.type}' is not supported by the TypeScript Core API yet ` +
          `(writing to s3, gcs and azure is a later feature); use 'directory' or 'shared_fs' storage`,
      );
  }
}
