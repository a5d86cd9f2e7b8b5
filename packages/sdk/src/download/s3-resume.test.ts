import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import type { FakeS3 } from '../../../storage/test/fake-s3.js';
import {
  BUCKET,
  PREFIX,
  bytes,
  bytesAsked,
  crcOf,
  scratch,
} from '../../../storage/test/s3-helpers.js';
import { IntegrityError } from '../errors.js';
import { downloadCheckpoint } from './download.js';
import type { DownloadableCheckpoint } from './download.js';

const MiB = 1024 * 1024;
const CHILD = join(dirname(fileURLToPath(import.meta.url)), '../../test/s3-download-child.ts');

let fake: FakeS3;
let work: { dir: string; remove: () => Promise<void> };

beforeEach(async () => {
  fake = await startFakeS3();
  work = await scratch();
});

afterEach(async () => {
  await fake.close();
  await work.remove();
});

/** A checkpoint of `files` in the fake S3, as a master would describe it. */
function seed(files: Record<string, Buffer>): DownloadableCheckpoint {
  const uuid = randomUUID();
  for (const [path, data] of Object.entries(files)) {
    fake.putObject(BUCKET, `${PREFIX}/${uuid}/${path}`, data, { crc32c: true });
  }
  return {
    uuid,
    state: 'COMPLETED',
    resources: Object.fromEntries(Object.entries(files).map(([p, d]) => [p, d.length])),
    digests: {},
    crc32c: Object.fromEntries(Object.entries(files).map(([p, d]) => [p, crcOf(d)])),
    metadata: { steps_completed: 1 },
    storageConfig: {
      type: 's3',
      bucket: BUCKET,
      prefix: PREFIX,
      endpoint_url: fake.endpoint,
      access_key: 'S3RVER',
      secret_key: 'S3RVER',
    },
  };
}

/**
 * Runs the download in a child process and kills it (SIGKILL: no cleanup of any kind) while
 * the fake S3 holds its `holdAt`-th GET of `key`, after the earlier ones were served.
 */
async function killHalfWay(
  checkpoint: DownloadableCheckpoint,
  target: string,
  key: string,
  holdAt: number,
): Promise<void> {
  let gets = 0;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let onHeld: () => void = () => undefined;
  const reachedHold = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  fake.inject({
    kind: 'hook',
    times: 10_000,
    match: (r) => r.method === 'GET' && r.key === key,
    run: async () => {
      gets += 1;
      if (gets === holdAt) {
        onHeld();
        await held;
      }
    },
  });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', CHILD, JSON.stringify(checkpoint), target],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await Promise.race([
    reachedHold,
    exited.then(() => {
      throw new Error(`the download ended before it was killed: ${stderr}`);
    }),
  ]);
  child.kill('SIGKILL');
  await exited;
  release();
}

describe('download (direct, s3): resuming after the process was killed', () => {
  it('fetches only what is missing, from the journal the killed process left', async () => {
    const data = bytes(64 * MiB);
    const checkpoint = seed({ 'model.bin': data, 'metadata.json': Buffer.from('{"a":1}') });
    const key = `${PREFIX}/${checkpoint.uuid}/model.bin`;
    const target = join(work.dir, 'ckpt');
    // 64 MiB in two 32 MiB ranges on one connection: killed while the second is asked for.
    await killHalfWay(checkpoint, target, key, 2);
    const leftovers = (await readdir(work.dir)).filter((n) => n.includes('.partial-'));
    expect(leftovers).toHaveLength(1);
    const before = fake.requests.length;
    const dir = await downloadCheckpoint(checkpoint, target, { mode: 'direct', concurrency: 1 });
    expect(dir).toBe(target);
    expect((await readFile(join(target, 'model.bin'))).equals(data)).toBe(true);
    // The first range was done: the second run asks for the other, and nothing more.
    const asked = bytesAsked(fake.requests.slice(before), key, data.length);
    expect(asked).toBe(32 * MiB);
    // The target holds the checkpoint and nothing else: no journal, no temp sibling.
    expect((await readdir(target)).sort()).toEqual(['metadata.json', 'model.bin']);
    expect(await readdir(work.dir)).toEqual(['ckpt']);
  });

  it('starts over when the object changed since the killed run', async () => {
    const data = bytes(40 * MiB);
    const checkpoint = seed({ 'model.bin': data });
    const key = `${PREFIX}/${checkpoint.uuid}/model.bin`;
    const target = join(work.dir, 'ckpt');
    await killHalfWay(checkpoint, target, key, 2);
    const changed = bytes(40 * MiB);
    fake.putObject(BUCKET, key, changed, { crc32c: true });
    const before = fake.requests.length;
    // The checkpoint still records the old bytes: the new object must not be taken for them.
    await expect(downloadCheckpoint(checkpoint, target, { mode: 'direct' })).rejects.toThrow(
      IntegrityError,
    );
    expect(bytesAsked(fake.requests.slice(before), key, changed.length)).toBeGreaterThanOrEqual(
      changed.length,
    );
    expect((await readdir(work.dir)).filter((n) => n.includes('.partial-'))).toEqual([]);
  });

  it('keeps the partial download when the network fails, and the next run finishes it', async () => {
    const data = bytes(40 * MiB);
    const checkpoint = seed({ 'model.bin': data });
    const key = `${PREFIX}/${checkpoint.uuid}/model.bin`;
    const target = join(work.dir, 'ckpt');
    // Two 20 MiB ranges: the first arrives, then the store fails until it recovers.
    let isFailing = true;
    let gets = 0;
    fake.inject({
      kind: 'status',
      status: 500,
      times: 1000,
      match: (r) => isFailing && r.method === 'GET' && r.key === key && ++gets > 1,
    });
    const failed = await downloadCheckpoint(checkpoint, target, {
      mode: 'direct',
      concurrency: 1,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ name: 'TransientStorageError' });
    expect((await readdir(work.dir)).filter((n) => n.includes('.partial-'))).toHaveLength(1);
    isFailing = false;
    const before = fake.requests.length;
    await downloadCheckpoint(checkpoint, target, { mode: 'direct', concurrency: 1 });
    expect((await readFile(join(target, 'model.bin'))).equals(data)).toBe(true);
    expect(bytesAsked(fake.requests.slice(before), key, data.length)).toBe(20 * MiB);
    expect(await readdir(work.dir)).toEqual(['ckpt']);
  });

  it('removes the partial download when it is aborted, or fails for another reason', async () => {
    const data = bytes(40 * MiB);
    const checkpoint = seed({ 'model.bin': data });
    const target = join(work.dir, 'ckpt');
    const stop = new AbortController();
    const aborted = downloadCheckpoint(checkpoint, target, {
      mode: 'direct',
      signal: stop.signal,
      onProgress: (e) => {
        if (e.type === 'progress' && e.bytes > 0) {
          stop.abort();
        }
      },
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readdir(work.dir)).toEqual([]);
    const wrong = { ...checkpoint, crc32c: { 'model.bin': '00000000' } };
    await expect(downloadCheckpoint(wrong, target, { mode: 'direct' })).rejects.toThrow(
      IntegrityError,
    );
    expect(await readdir(work.dir)).toEqual([]);
  });
});
