import type { JsonObject } from '@determined-ts/api';

import type { CheckpointStore } from './backend.js';
import { parseStorageConfig } from './config.js';
import { StorageUnreachableError } from './errors.js';
import { openLocalStore } from './local/resolve.js';
import type { S3OpenOptions } from './s3/open-s3.js';

export interface OpenStoreOptions {
  /**
   * Whose view of local storage: a `client` takes the first reachable shared_fs path in the
   * order of Determined's Python SDK (host path first), the `master` the container mount when
   * it exists. @default 'client'
   */
  side?: 'client' | 'master';
  /** S3: the environment (region) and the credentials to use when the config has none. */
  s3?: S3OpenOptions;
  signal?: AbortSignal;
}

/**
 * The store holding checkpoint `uuid` under an experiment's `checkpoint_storage`. Throws a
 * `StorageConfigError` for a malformed config, and a `StorageUnreachableError` when a client
 * finds no local directory of the checkpoint, or for a type read only through the master for
 * now (gcs, azure). Object stores are not contacted here: `probe` or `list` the store.
 */
export async function openCheckpointStore(
  storageConfig: JsonObject,
  uuid: string,
  options: OpenStoreOptions = {},
): Promise<CheckpointStore> {
  const config = parseStorageConfig(storageConfig);
  switch (config.type) {
    case 'directory':
    case 'shared_fs': {
      const store = await openLocalStore(storageConfig, uuid, {
        side: options.side,
        signal: options.signal,
      });
      if (store === undefined) {
        throw new StorageUnreachableError(
          config.type,
          'unsupported',
          `no local path for ${config.type} storage`,
        );
      }
      return store;
    }
    case 's3': {
      // Loaded on first use: the AWS SDK takes a while to import, and most users of local
      // storage never need it.
      const { openS3Store } = await import('./s3/open-s3.js');
      return openS3Store(config, uuid, options.s3);
    }
    case 'gcs':
    case 'azure':
      throw new StorageUnreachableError(
        config.type,
        'unsupported',
        `direct access to ${config.type} storage is not supported yet`,
      );
    default: {
      const unknown: never = config;
      throw new StorageUnreachableError(String(unknown), 'unsupported', 'unknown storage type');
    }
  }
}
