// Direct downloads from a real S3 implementation (s3rver) through a proxy that breaks the
// connections: whatever the network does, a download either completes with every byte checked
// or fails with a typed error, and never leaves a partial target behind.
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFaultProxy } from '../../../storage/test/fault-proxy.js';
import type { Fault } from '../../../storage/test/fault-proxy.js';
import { BUCKET, PREFIX, bytes, crcOf, scratch } from '../../../storage/test/s3-helpers.js';
import {
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startS3rver,
  testS3Client,
} from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { IntegrityError, StorageError } from '../errors.js';
import { downloadCheckpoint } from './download.js';
import type { DownloadableCheckpoint } from './download.js';

const MiB = 1024 * 1024;
const FILES = {
  'model.bin': bytes(40 * MiB + 123),
  'tokenizer.json': bytes(20_000),
  'sub/config.json': Buffer.from('{"layers":2}'),
};

let s3rver: S3rverHandle;
let work: { dir: string; remove: () => Promise<void> };
let uuid: string;

beforeAll(async () => {
  s3rver = await startS3rver();
  work = await scratch();
  uuid = randomUUID();
  const client = testS3Client(s3rver.endpoint);
  for (const [path, data] of Object.entries(FILES)) {
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${uuid}/${path}`, Body: data }),
    );
  }
});

afterAll(async () => {
  await s3rver.close();
  await work.remove();
});

/** The checkpoint, as a master describes it, read through `endpoint`. */
function checkpointAt(endpoint: string): DownloadableCheckpoint {
  return {
    uuid,
    state: 'COMPLETED',
    resources: Object.fromEntries(Object.entries(FILES).map(([p, d]) => [p, d.length])),
    digests: {},
    crc32c: Object.fromEntries(Object.entries(FILES).map(([p, d]) => [p, crcOf(d)])),
    metadata: { steps_completed: 1 },
    storageConfig: {
      type: 's3',
      bucket: BUCKET,
      prefix: PREFIX,
      endpoint_url: endpoint,
      access_key: S3RVER_ACCESS_KEY_ID,
      secret_key: S3RVER_SECRET_ACCESS_KEY,
    },
  };
}

const FAST_RETRY = { attempts: 6, baseDelayMs: 5, maxDelayMs: 50 };

/** Downloads through a proxy with `fault`; returns the target, or the error. */
async function downloadThrough(
  fault: Fault & { times: number },
  name: string,
): Promise<{ target: string; error: unknown }> {
  const proxy = await startFaultProxy(s3rver.endpoint, fault);
  const target = join(work.dir, name);
  try {
    await downloadCheckpoint(checkpointAt(proxy.url), target, {
      mode: 'direct',
      retry: FAST_RETRY,
      idleTimeoutMs: 1000,
      resume: false,
    });
    return { target, error: undefined };
  } catch (error: unknown) {
    return { target, error };
  } finally {
    await proxy.close();
  }
}

async function expectComplete(target: string): Promise<void> {
  for (const [path, data] of Object.entries(FILES)) {
    expect((await readFile(join(target, path))).equals(data), path).toBe(true);
  }
}

/** Nothing of the download is left: no target, no temp sibling. */
async function expectNothingLeft(name: string): Promise<void> {
  const left = (await readdir(work.dir)).filter((n) => n === name || n.startsWith(`.${name}.`));
  expect(left).toEqual([]);
}

describe('download (direct, s3 through a faulty network)', () => {
  it.each<[string, Fault & { times: number }]>([
    ['resets mid-body', { cutAfter: 3 * MiB, times: 3 }],
    ['truncated bodies (clean close)', { endAfter: 2 * MiB, times: 3 }],
    ['a stalled body', { stallAfter: MiB, times: 1 }],
    ['503 SlowDown bursts', { status503: true, times: 3 }],
  ])('completes, every byte checked, despite %s', async (label, fault) => {
    const name = `ok-${label.replaceAll(/\W+/g, '-')}`;
    const { target, error } = await downloadThrough(fault, name);
    expect(error).toBeUndefined();
    await expectComplete(target);
    expect((await readdir(work.dir)).filter((n) => n.startsWith(`.${name}.`))).toEqual([]);
  });

  it('completes when one connection flipped a byte: the file is fetched again and checked', async () => {
    // The listing's connection comes first; flip bytes in the next three answers' bodies.
    const { target, error } = await downloadThrough({ flipAt: 100_000, times: 4 }, 'flip-once');
    expect(error).toBeUndefined();
    await expectComplete(target);
  });

  it('never keeps corrupted bytes: every connection flips a byte of its first answer', async () => {
    // Kept-alive connections carry several answers; only the first of each is corrupted. The
    // engine refetches what fails its CRC32C: it completes with the right bytes, or fails with
    // an IntegrityError and leaves nothing.
    const { target, error } = await downloadThrough(
      { flipAt: 100_000, times: 1000 },
      'flip-always',
    );
    if (error === undefined) {
      await expectComplete(target);
    } else {
      expect(error).toBeInstanceOf(IntegrityError);
      await expectNothingLeft('flip-always');
    }
  });

  it('fails with a typed error, leaving nothing, when no answer ever arrives whole', async () => {
    // Cut before any answer's head is through: the store cannot be reached from here.
    const { error } = await downloadThrough({ cutAfter: 10, times: 1000 }, 'cut-always');
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ name: 'StorageUnreachableError', reason: 'no_access' });
    await expectNothingLeft('cut-always');
  });

  it('keeps going while every connection makes some progress before it drops', async () => {
    const { target, error } = await downloadThrough({ cutAfter: 2 * MiB, times: 60 }, 'cut-often');
    expect(error).toBeUndefined();
    await expectComplete(target);
  });
});
