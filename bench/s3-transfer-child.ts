/**
 * Our client for `s3-transfer.ts`, one operation per process so that its peak RSS and CPU are
 * the operation's own: `node --import tsx --conditions=source bench/s3-transfer-child.ts
 * <mode> <spec.json>`, where mode is
 *
 *   download     downloadCheckpoint(checkpoint, target, { mode: 'direct' }), default settings
 *   upload       uploadFiles of one file (multipart 16 MiB × 4 in flight, DEFAULT_UPLOAD_TUNING)
 *   lib-storage  @aws-sdk/lib-storage Upload, queueSize 4 × 16 MiB (only when it is installed)
 *
 * Modules (the SDK, the storage package and the AWS SDK) are loaded before the clock starts:
 * loading them is a fixed cost of the process (about 1 CPU-s under tsx), not of the transfer.
 * Prints `progress <bytes>` for every progress event when the spec asks, then
 * `RESULT {seconds, cpuSeconds, rssBeforeMiB, maxRssMiB, ...}`.
 */
import { readFileSync } from 'node:fs';

import { S3Client } from '@aws-sdk/client-s3';

import { downloadCheckpoint } from '../packages/sdk/src/download/download.js';
import type { DownloadableCheckpoint } from '../packages/sdk/src/download/download.js';
import type { S3StorageConfig } from '../packages/storage/src/config.js';
import { openS3Store } from '../packages/storage/src/s3/open-s3.js';
import {
  DEFAULT_UPLOAD_TUNING,
  uploadFiles,
} from '../packages/storage/src/transfer/upload-files.js';

export interface DownloadSpec {
  checkpoint: DownloadableCheckpoint;
  target: string;
  /** Print every progress event (progressIntervalMs 0). */
  isProgressPrinted?: boolean;
}

export interface UploadSpec {
  config: S3StorageConfig;
  uuid: string;
  path: string;
  file: string;
  size: number;
}

export interface LibStorageSpec {
  endpoint: string;
  bucket: string;
  key: string;
  file: string;
}

/** The one export of @aws-sdk/lib-storage used here (not a dependency: typed by hand). */
interface LibStorage {
  Upload: new (options: {
    client: S3Client;
    params: { Bucket: string; Key: string; Body: NodeJS.ReadableStream };
    queueSize: number;
    partSize: number;
  }) => { done(): Promise<unknown> };
}

const MIB = 1024 * 1024;
const [mode = '', specFile = ''] = process.argv.slice(2);
const spec: unknown = JSON.parse(readFileSync(specFile, 'utf8'));

const mib = (bytes: number): number => bytes / MIB;
const rssBeforeMiB = mib(process.memoryUsage().rss);
const extra: Record<string, unknown> = {};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
switch (mode) {
  case 'download': {
    const { checkpoint, target, isProgressPrinted } = spec as DownloadSpec;
    await downloadCheckpoint(checkpoint, target, {
      mode: 'direct',
      ...(isProgressPrinted === true
        ? {
            progressIntervalMs: 0,
            onProgress: (event) => {
              if (event.type === 'progress') {
                extra.firstProgressBytes ??= event.bytes;
                process.stdout.write(`progress ${event.bytes}\n`);
              }
            },
          }
        : {}),
    });
    break;
  }
  case 'upload': {
    const { config, uuid, path, file, size } = spec as UploadSpec;
    const crcs = await uploadFiles({
      writer: openS3Store(config, uuid, { env: {} }),
      files: [{ path, size, file }],
      dirs: [],
      tuning: DEFAULT_UPLOAD_TUNING,
      retry: { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 },
    });
    extra.crc32c = crcs[path];
    break;
  }
  case 'lib-storage': {
    const { endpoint, bucket, key, file } = spec as LibStorageSpec;
    const { createReadStream } = await import('node:fs');
    const name = '@aws-sdk/lib-storage'; // not a dependency: resolved at run time, if at all
    const { Upload } = (await import(name)) as LibStorage;
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      // The SDK's default (aws-chunked CRC32 trailers) is stored verbatim by s3rver.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: createReadStream(file) },
      queueSize: 4,
      partSize: 16 * MIB,
    }).done();
    client.destroy();
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const result = {
  seconds,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  rssBeforeMiB,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
  ...extra,
};
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
// Keep-alive sockets of the S3 client would hold the process open for a while.
process.exit(0);
