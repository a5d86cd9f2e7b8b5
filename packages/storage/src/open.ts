import type { JsonObject } from '@determined-ts/api';

import type { CheckpointStore } from './backend.js';
import { parseStorageConfig } from './config.js';
import { StorageUnreachableError } from './errors.js';
import { openLocalStore } from './local/resolve.js';
import type { AzureOpenOptions } from './azure/open-azure.js';
import type { GcsOpenOptions } from './gcs/open-gcs.js';
import type { S3OpenOptions } from './s3/open-s3.js';

export interface OpenStoreOptions {
  /**
   * Whose view of local storage: a `client` takes the first reachable shared_fs path in the
   * order of Determined's Python SDK (host path first), the `master` the container mount when
   * it exists. @default 'client'
   */
  side?: 'client' | 'master';
  /**
   * What object stores read of the environment when the config does not say: the AWS region
   * (`AWS_REGION`, `AWS_DEFAULT_REGION`), `GOOGLE_APPLICATION_CREDENTIALS` and
   * `STORAGE_EMULATOR_HOST` for GCS, `AZURE_STORAGE_CONNECTION_STRING` for Azure. Clients pass
   * `process.env`, the master the variables it was configured with. @default {}
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** S3: credentials to use when the config has none, and a transport for tests. */
  s3?: Omit<S3OpenOptions, 'env'>;
  /** GCS: a transport for tests. */
  gcs?: Omit<GcsOpenOptions, 'env'>;
  /** Azure: a transport for tests. */
  azure?: Omit<AzureOpenOptions, 'env'>;
  signal?: AbortSignal;
}

/**
 * The store holding checkpoint `uuid` under an experiment's `checkpoint_storage`. Throws a
 * `StorageConfigError` for a malformed config, and a `StorageUnreachableError` when a client
 * finds no local directory of the checkpoint. Object stores are not contacted here: `probe` or
 * `list` the store.
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
      return openS3Store(config, uuid, { ...options.s3, env: options.env });
    }
    case 'gcs': {
      const { openGcsStore } = await import('./gcs/open-gcs.js');
      return openGcsStore(config, uuid, { ...options.gcs, env: options.env });
    }
    case 'azure': {
      const { openAzureStore } = await import('./azure/open-azure.js');
      return openAzureStore(config, uuid, { ...options.azure, env: options.env });
    }
    default: {
      const unknown: never = config;
      throw new StorageUnreachableError(String(unknown), 'unsupported', 'unknown storage type');
    }
  }
}
