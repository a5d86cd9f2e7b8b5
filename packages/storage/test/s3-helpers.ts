// Helpers for tests of the S3 backend and the transfer engine against the fake S3 and s3rver.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { crc32c, crc32cHex } from '../src/checksum.js';
import type { S3StorageConfig } from '../src/config.js';
import { openS3Store } from '../src/s3/open-s3.js';
import type { S3Store } from '../src/s3/s3-store.js';
import { buildManifest } from '../src/transfer/manifest.js';
import type { Manifest } from '../src/transfer/manifest.js';
import { ProgressReporter } from '../src/transfer/progress.js';
import type { TransferEvent } from '../src/transfer/progress.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from './s3rver.js';

export const BUCKET = 'det-test';
export const PREFIX = 'runs/exp';

/** An `s3` storage config for a test endpoint (s3rver's keys; the fake takes any). */
export function s3Config(endpoint: string, prefix = PREFIX): S3StorageConfig {
  return {
    type: 's3',
    bucket: BUCKET,
    prefix,
    accessKey: S3RVER_ACCESS_KEY_ID,
    secretKey: S3RVER_SECRET_ACCESS_KEY,
    endpointUrl: endpoint,
  };
}

/** The store of a fresh checkpoint uuid at `endpoint`. */
export function testStore(endpoint: string, uuid: string = randomUUID()): S3Store {
  return openS3Store(s3Config(endpoint), uuid, { env: {} });
}

/** Random bytes that differ from file to file. */
export function bytes(size: number): Buffer {
  return randomBytes(size);
}

export function crcOf(data: Uint8Array): string {
  return crc32cHex(crc32c(data));
}

/** The manifest of `files` as a report recording their sizes and CRC32Cs would give it. */
export function manifestOf(
  files: Record<string, Uint8Array>,
  { withCrc = true, dirs = [] }: { withCrc?: boolean; dirs?: string[] } = {},
): Manifest {
  const resources: Record<string, number> = {};
  const crcs: Record<string, string> = {};
  for (const [path, data] of Object.entries(files)) {
    resources[path] = data.byteLength;
    crcs[path] = crcOf(data);
  }
  for (const d of dirs) {
    resources[d] = 0;
  }
  return buildManifest(resources, {}, withCrc ? crcs : {});
}

/** A progress reporter that keeps every event, emitted at once. */
export function recordingProgress(total: number): {
  progress: ProgressReporter;
  events: TransferEvent[];
} {
  const events: TransferEvent[] = [];
  return { progress: new ProgressReporter((e) => events.push(e), total, 0, Date.now), events };
}

/** A scratch directory, removed by the returned function. */
export async function scratch(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'det-storage-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Whether `path` holds exactly `expected`. */
export async function holds(path: string, expected: Uint8Array): Promise<boolean> {
  return (await readFile(path)).equals(expected);
}

/** Sums the bytes of the GET ranges the fake served for `key` (a whole GET counts `size`). */
export function bytesAsked(
  requests: readonly { method: string; key: string; headers: Readonly<Record<string, string>> }[],
  key: string,
  size: number,
): number {
  let total = 0;
  for (const r of requests) {
    if (r.method !== 'GET' || r.key !== key) {
      continue;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.headers.range ?? '');
    total += m === null ? size : Number(m[2]) - Number(m[1]) + 1;
  }
  return total;
}
