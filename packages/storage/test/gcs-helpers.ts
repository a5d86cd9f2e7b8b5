// Helpers for tests of the GCS backend and the transfer engine against the fake GCS.
import { randomUUID } from 'node:crypto';

import type { GcsStorageConfig } from '../src/config.js';
import { openGcsStore } from '../src/gcs/open-gcs.js';
import type { GcsOpenOptions } from '../src/gcs/open-gcs.js';
import type { GcsStore } from '../src/gcs/gcs-store.js';
import type { FakeGcsRequest } from './fake-gcs.js';

export { bytes, crcOf, holds, manifestOf, recordingProgress, scratch } from './s3-helpers.js';

export const BUCKET = 'det-test';
export const PREFIX = 'runs/exp';

/** A `gcs` storage config (the bucket the fake has). */
export function gcsConfig(prefix = PREFIX): GcsStorageConfig {
  return { type: 'gcs', bucket: BUCKET, prefix };
}

/** The environment that points Google's clients, and ours, at `endpoint` (an emulator). */
export function gcsEnv(endpoint: string): Record<string, string> {
  return { STORAGE_EMULATOR_HOST: endpoint };
}

/** The store of a checkpoint uuid (a fresh one by default) at the emulator `endpoint`. */
export function testGcsStore(
  endpoint: string,
  uuid: string = randomUUID(),
  options: Omit<GcsOpenOptions, 'env'> = {},
): GcsStore {
  return openGcsStore(gcsConfig(), uuid, { ...options, env: gcsEnv(endpoint) });
}

/** The media downloads (`alt=media`) the fake served for object `name`. */
export function mediaGets(requests: readonly FakeGcsRequest[], name: string): FakeGcsRequest[] {
  return requests.filter(
    (r) => r.method === 'GET' && r.name === name && r.query.get('alt') === 'media',
  );
}

/** Sums the bytes of the media downloads of `name` (a whole one counts `size`). */
export function bytesAsked(
  requests: readonly FakeGcsRequest[],
  name: string,
  size: number,
): number {
  let total = 0;
  for (const r of mediaGets(requests, name)) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.headers.range ?? '');
    total += m === null ? size : Number(m[2]) - Number(m[1]) + 1;
  }
  return total;
}
