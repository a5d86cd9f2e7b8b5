// Helpers for tests of the azure store and the transfer engine against azurite.
import type { ContainerClient } from '@azure/storage-blob';

import type { BodyOpener } from '../src/common.js';
import type { AzureStorageConfig } from '../src/config.js';
import { rawBodyOpener } from '../src/http/raw-body.js';
import type { AzuriteHandle } from './azurite.js';

/**
 * Writes a checkpoint as Determined's Python SDK does (`AzureStorageManager.upload`): each file
 * at `posixpath.join(container_path, uuid, path)` in the container (`containerPath` is the part
 * of the config's `container` after its first segment), each directory as a zero-byte blob
 * ending in `/`, no metadata.
 */
export async function putDeterminedCheckpoint(
  container: ContainerClient,
  uuid: string,
  files: Readonly<Record<string, Uint8Array>>,
  { dirs = [], containerPath = '' }: { dirs?: readonly string[]; containerPath?: string } = {},
): Promise<void> {
  const base = containerPath === '' ? uuid : `${containerPath}/${uuid}`;
  for (const [path, data] of Object.entries(files)) {
    await container.getBlockBlobClient(`${base}/${path}`).upload(data, data.byteLength);
  }
  for (const dir of dirs) {
    await container.getBlockBlobClient(`${base}/${dir}`).upload(Buffer.alloc(0), 0);
  }
}

/** An `azure` config for a container of the emulator, with its connection string. */
export function azureConfig(
  azurite: AzuriteHandle,
  container: string,
  overrides: Partial<AzureStorageConfig> = {},
): AzureStorageConfig {
  return {
    type: 'azure',
    container,
    connectionString: azurite.connectionString,
    accountUrl: undefined,
    credential: undefined,
    ...overrides,
  };
}

/**
 * A transport that sends blob GETs to `proxy` instead of the emulator, one connection each (no
 * keep-alive), so a fault proxy's "first N connections" are the first N GETs.
 */
export function bodiesThrough(azurite: AzuriteHandle, proxy: string): BodyOpener {
  const open = rawBodyOpener();
  return (url, init) => open(url.replace(azurite.blobEndpoint, proxy), init);
}
