/**
 * The servers of `cloud-transfer.ts`, each in a process of its own whose CPU is read from
 * procfs: the in-repo fake GCS (through `cloud-gcs-server.ts`) and azurite 3.35 (through the
 * storage package's test helper), each holding the benchmark's object, and the URL curl reads
 * it from.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import {
  BlobSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

import { AZURE_API_VERSION, encodeBlobName } from '../packages/storage/src/azure/azure-sas.js';
import { startAzurite } from '../packages/storage/test/azurite.js';
import { CHILD_ENV, MIB, processCpuSeconds } from './s3-lib.js';
import type { S3rverProcess } from './s3-lib.js';

export const STORES = ['gcs', 'azure'] as const;
export type StoreKind = (typeof STORES)[number];

/** The object every case reads, as the benchmark wrote it. */
export interface BenchObject {
  /** The checkpoint's uuid: the object is `[<prefix>/]<uuid>/big.bin`. */
  uuid: string;
  src: string;
  size: number;
  crc: string;
}

/**
 * A server holding the object. Its process handle has the shape s3-harness's `measure` reads
 * (`cpuSeconds`), so the S3 benchmark's rounds run against it unchanged.
 */
export interface CloudServer {
  kind: StoreKind;
  process: S3rverProcess;
  /** The checkpoint's `storageConfig`, as the master would hand it out (wire spelling). */
  storageConfig: Record<string, unknown>;
  /** What the SDK's `openCheckpointStore` reads of the environment for this store. */
  env: Record<string, string>;
  /** The object's name in its bucket or container. */
  objectName: string;
  /** The object's URL for curl: anonymous (fake GCS) or with a read SAS (azurite). */
  curlUrl: string;
  /** The server's name for tables. */
  label: string;
}

export const BUCKET = 'bench';
export const PREFIX = 'det';
const OBJECT = 'big.bin';

/** Fake GCS in its own process, holding the object; ready once it printed its endpoint. */
async function startGcs(object: BenchObject): Promise<CloudServer> {
  const name = `${PREFIX}/${object.uuid}/${OBJECT}`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=source',
      join(import.meta.dirname, 'cloud-gcs-server.ts'),
      BUCKET,
      name,
      object.src,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: CHILD_ENV },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /^READY (\S+)$/m.exec(out);
      if (m?.[1] !== undefined) {
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`fake GCS exited (${code}) before it served`)));
  });
  const pid = child.pid ?? 0;
  return {
    kind: 'gcs',
    label: 'fake GCS',
    process: {
      endpoint,
      port: Number(new URL(endpoint).port),
      cpuSeconds: () => processCpuSeconds(pid),
      close: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    },
    storageConfig: { type: 'gcs', bucket: BUCKET, prefix: PREFIX },
    env: { STORAGE_EMULATOR_HOST: endpoint },
    objectName: name,
    curlUrl: `${endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}?alt=media`,
  };
}

/**
 * azurite-blob (in memory) in its own process, with container `bench` holding the object at
 * `<uuid>/big.bin`, where Determined puts a checkpoint's files; curl reads it with a blob SAS
 * signed by the emulator's account key, as our reads are (with a container SAS).
 */
async function startAzure(object: BenchObject): Promise<CloudServer> {
  const azurite = await startAzurite();
  try {
    const container = azurite.service.getContainerClient(BUCKET);
    await container.create();
    const name = `${object.uuid}/${OBJECT}`;
    await container
      .getBlockBlobClient(name)
      .uploadFile(object.src, { blockSize: 8 * MIB, concurrency: 4 });
    const sas = generateBlobSASQueryParameters(
      {
        containerName: BUCKET,
        blobName: name,
        permissions: BlobSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + 24 * 3600 * 1000),
        version: AZURE_API_VERSION,
      },
      new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
    ).toString();
    return {
      kind: 'azure',
      label: 'azurite',
      process: {
        endpoint: azurite.blobEndpoint,
        port: Number(new URL(azurite.blobEndpoint).port),
        cpuSeconds: () => processCpuSeconds(azurite.pid),
        close: () => azurite.close(),
      },
      storageConfig: {
        type: 'azure',
        container: BUCKET,
        connection_string: azurite.connectionString,
      },
      env: {},
      objectName: name,
      curlUrl: `${azurite.accountUrl}/${BUCKET}/${encodeBlobName(name)}?${sas}`,
    };
  } catch (err: unknown) {
    await azurite.close();
    throw err;
  }
}

/** The server of `kind`, holding `object`. */
export function startCloudServer(kind: StoreKind, object: BenchObject): Promise<CloudServer> {
  switch (kind) {
    case 'gcs':
      return startGcs(object);
    case 'azure':
      return startAzure(object);
    default: {
      const unknown: never = kind;
      throw new Error(`unknown store ${String(unknown)}`);
    }
  }
}
