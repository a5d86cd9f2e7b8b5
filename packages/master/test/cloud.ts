// Checkpoints in GCS (the storage package's fake GCS) and Azure (azurite) for master tests,
// laid out as Determined's Python SDK uploads them: files and zero-byte `dir/` markers under
// `<prefix>/<uuid>/` in a bucket, or `<uuid>/` in a container.
import { ContainerClient } from '@azure/storage-blob';

import type { AzuriteHandle } from '../../storage/test/azurite.js';
import type { FakeGcs } from '../../storage/test/fake-gcs.js';

export const GCS_BUCKET = 'det-test';

/**
 * `resources` as the SDK reports a checkpoint of `files`: files with their sizes, and each
 * directory as `dir/` with "0".
 */
export function resourcesOf(files: Record<string, Buffer>): Record<string, string> {
  const resources: Record<string, string> = {};
  for (const [name, body] of Object.entries(files)) {
    resources[name] = String(body.length);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      resources[`${parts.slice(0, i).join('/')}/`] = '0';
    }
  }
  return resources;
}

/** A checkpoint store as a test sees it: where to put a checkpoint, and what is left of one. */
export interface CloudBackend {
  /** `gcs` or `azure`. */
  type: string;
  /** The experiment's `checkpoint_storage` as YAML flow text for `seedTrial`. */
  storageYaml(place: string): string;
  /** Puts a checkpoint's files and markers; returns its `resources`. */
  putCheckpoint(
    place: string,
    uuid: string,
    files: Record<string, Buffer>,
  ): Promise<Record<string, string>>;
  /** Puts one object of a checkpoint (a stray file no resource names). */
  putObject(place: string, uuid: string, path: string, body: Buffer): Promise<void>;
  /** The checkpoint's objects, relative to it, sorted. */
  objectsOf(place: string, uuid: string): Promise<string[]>;
  /** `gs://…` or `azure://…`: where the master says the checkpoint is. */
  location(place: string, uuid: string): string;
}

/** GCS on the fake: `place` is the prefix; the master finds the fake through `STORAGE_EMULATOR_HOST`. */
export function gcsBackend(gcs: FakeGcs): CloudBackend {
  const put = (place: string, uuid: string, path: string, body: Buffer): void => {
    gcs.putObject(GCS_BUCKET, `${place}/${uuid}/${path}`, body);
  };
  return {
    type: 'gcs',
    storageYaml: (place) => `{type: gcs, bucket: ${GCS_BUCKET}, prefix: ${place}}`,
    putCheckpoint: (place, uuid, files) => {
      const resources = resourcesOf(files);
      for (const name of Object.keys(resources)) {
        put(place, uuid, name, files[name] ?? Buffer.alloc(0));
      }
      return Promise.resolve(resources);
    },
    putObject: (place, uuid, path, body) => Promise.resolve(put(place, uuid, path, body)),
    objectsOf: (place, uuid) => {
      const base = `${place}/${uuid}/`;
      return Promise.resolve(
        gcs
          .names(GCS_BUCKET)
          .filter((n) => n.startsWith(base))
          .map((n) => n.slice(base.length))
          .sort(),
      );
    },
    location: (place, uuid) => `gs://${GCS_BUCKET}/${place}/${uuid}`,
  };
}

/**
 * Azure on azurite: `place` is the container (created on first use). `hasCredentials: false`
 * leaves the connection string out of the experiment's config, for the master to find its own.
 */
export function azureBackend(
  azurite: AzuriteHandle,
  { hasCredentials = true }: { hasCredentials?: boolean } = {},
): CloudBackend {
  const container = async (place: string): Promise<ContainerClient> => {
    const client = new ContainerClient(azurite.connectionString, place);
    await client.createIfNotExists();
    return client;
  };
  const put = async (place: string, uuid: string, path: string, body: Buffer): Promise<void> => {
    await (await container(place)).getBlockBlobClient(`${uuid}/${path}`).uploadData(body);
  };
  return {
    type: 'azure',
    storageYaml: (place) =>
      hasCredentials
        ? `{type: azure, container: ${place}, connection_string: "${azurite.connectionString}"}`
        : `{type: azure, container: ${place}}`,
    putCheckpoint: async (place, uuid, files) => {
      const resources = resourcesOf(files);
      for (const name of Object.keys(resources)) {
        await put(place, uuid, name, files[name] ?? Buffer.alloc(0));
      }
      return resources;
    },
    putObject: put,
    objectsOf: async (place, uuid) => {
      const names: string[] = [];
      const base = `${uuid}/`;
      for await (const blob of (await container(place)).listBlobsFlat({ prefix: base })) {
        names.push(blob.name.slice(base.length));
      }
      return names.sort();
    },
    location: (place, uuid) => `azure://${place}/${uuid}`,
  };
}
