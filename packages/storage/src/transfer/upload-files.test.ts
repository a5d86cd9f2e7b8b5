import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../test/fake-s3.js';
import type { FakeS3 } from '../../test/fake-s3.js';
import { BUCKET, PREFIX, bytes, crcOf, scratch, testStore } from '../../test/s3-helpers.js';
import { startS3rver, testS3Client } from '../../test/s3rver.js';
import { crc32cToBase64 } from '../checksum.js';
import { StorageError } from '../errors.js';
import { partBytesFor, uploadFiles } from './upload-files.js';
import type { UploadSource, UploadTuning } from './upload-files.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const RETRY = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
/** Parts of 5 MiB (S3's least) from 6 MiB on, so tests exercise multipart quickly. */
const TUNING: UploadTuning = { connections: 4, singleRequestBytes: 6 * MiB, minPartBytes: 5 * MiB };

let work: { dir: string; remove: () => Promise<void> };

beforeEach(async () => {
  work = await scratch();
});

afterEach(async () => {
  await work.remove();
});

async function fileSource(path: string, data: Uint8Array): Promise<UploadSource> {
  const file = join(work.dir, path.replaceAll('/', '_'));
  await writeFile(file, data);
  return { path, size: data.length, file };
}

describe('partBytesFor', () => {
  it('grows the part size with the object to stay under 9,000 parts', () => {
    const tuning = { connections: 4, singleRequestBytes: 32 * MiB, minPartBytes: 16 * MiB };
    expect(partBytesFor(1024 * MiB, tuning)).toBe(16 * MiB);
    expect(partBytesFor(500 * 1024 * MiB, tuning)).toBe(57 * MiB);
    expect(
      Math.ceil((500 * 1024 * MiB) / partBytesFor(500 * 1024 * MiB, tuning)),
    ).toBeLessThanOrEqual(9000);
  });
});

describe('uploadFiles (fake S3: strict about checksums and parts)', () => {
  let fake: FakeS3;
  let uuid: string;
  beforeEach(async () => {
    fake = await startFakeS3();
    uuid = randomUUID();
  });
  afterEach(async () => {
    await fake.close();
  });
  const keyOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

  it('writes small files in one PUT and large ones in parts, each with its CRC32C', async () => {
    const big = bytes(13 * MiB + 5);
    const small = bytes(100 * KiB);
    const sources = [
      await fileSource('model.bin', big),
      await fileSource('sub/small.bin', small),
      { path: 'metadata.json', size: 2, bytes: Buffer.from('{}') },
    ];
    const crcs = await uploadFiles({
      writer: testStore(fake.endpoint, uuid),
      files: sources,
      dirs: ['sub/'],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(crcs).toEqual({
      'model.bin': crcOf(big),
      'sub/small.bin': crcOf(small),
      'metadata.json': crcOf(Buffer.from('{}')),
    });
    expect(fake.getObject(BUCKET, keyOf('model.bin')).body.equals(big)).toBe(true);
    expect(fake.getObject(BUCKET, keyOf('sub/small.bin')).body.equals(small)).toBe(true);
    expect(fake.getObject(BUCKET, keyOf('sub/')).body.length).toBe(0);
    // Multipart with a FULL_OBJECT CRC32C the fake verified, and per-part checksums.
    const stored = fake.getObject(BUCKET, keyOf('model.bin'));
    expect(stored.etag).toMatch(/-3"$/);
    expect(stored.checksum).toEqual({ type: 'FULL_OBJECT', crc32c: crc32cToBase64(crcOf(big)) });
    const parts = fake.requests.filter((r) => r.query.has('partNumber'));
    expect(parts).toHaveLength(3);
    expect(parts.every((r) => r.headers['x-amz-checksum-crc32c'] !== undefined)).toBe(true);
    const put = fake.requests.find((r) => r.method === 'PUT' && r.key === keyOf('sub/small.bin'));
    expect(put?.headers['x-amz-checksum-crc32c']).toBe(crc32cToBase64(crcOf(small)));
    // Never the aws-chunked framing that corrupts S3-compatible servers.
    expect(fake.requests.some((r) => r.headers['content-encoding']?.includes('aws-chunked'))).toBe(
      false,
    );
    expect(fake.pendingUploads()).toEqual([]);
  });

  it('sends a part again when the store finds it corrupted on the way (BadDigest)', async () => {
    const big = bytes(11 * MiB);
    fake.inject({
      kind: 'flip',
      target: 'request',
      at: 1000,
      times: 1,
      match: (r) => r.query.get('partNumber') === '2',
    });
    await uploadFiles({
      writer: testStore(fake.endpoint, uuid),
      files: [await fileSource('model.bin', big)],
      dirs: [],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(fake.getObject(BUCKET, keyOf('model.bin')).body.equals(big)).toBe(true);
    expect(fake.requests.filter((r) => r.query.get('partNumber') === '2')).toHaveLength(2);
  });

  it('retries throttled and failed requests, re-reading the bytes from disk', async () => {
    const data = bytes(7 * MiB);
    fake.inject({ kind: 'status', status: 503, times: 2, match: (r) => r.method === 'PUT' });
    fake.inject({ kind: 'reset-after', bytes: 0, times: 1, match: (r) => r.method === 'PUT' });
    await uploadFiles({
      writer: testStore(fake.endpoint, uuid),
      files: [await fileSource('w.bin', data), await fileSource('x.bin', bytes(10))],
      dirs: [],
      tuning: TUNING,
      retry: RETRY,
    });
    expect(fake.getObject(BUCKET, keyOf('w.bin')).body.equals(data)).toBe(true);
    expect(fake.pendingFaults()).toBe(0);
  });

  it('aborts a multipart upload that fails, leaving no parts behind', async () => {
    fake.inject({
      kind: 'status',
      status: 403,
      times: 1,
      match: (r) => r.query.get('partNumber') === '2',
    });
    const err = await uploadFiles({
      writer: testStore(fake.endpoint, uuid),
      files: [await fileSource('model.bin', bytes(12 * MiB))],
      dirs: [],
      tuning: TUNING,
      retry: RETRY,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(fake.pendingUploads()).toEqual([]);
    expect(fake.keys(BUCKET)).toEqual([]);
  });
});

describe('uploadFiles (s3rver: a real S3 implementation)', () => {
  it('writes objects s3rver stores byte for byte, markers included', async () => {
    const s3rver = await startS3rver();
    try {
      const uuid = randomUUID();
      const big = bytes(12 * MiB + 1);
      const small = bytes(3000);
      await uploadFiles({
        writer: testStore(s3rver.endpoint, uuid),
        files: [await fileSource('big.bin', big), await fileSource('d/small.bin', small)],
        dirs: ['d/'],
        tuning: TUNING,
        retry: RETRY,
      });
      const client = testS3Client(s3rver.endpoint);
      for (const [path, data] of [
        ['big.bin', big],
        ['d/small.bin', small],
      ] as const) {
        const res = await client.send(
          new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${uuid}/${path}` }),
        );
        expect(Buffer.from((await res.Body?.transformToByteArray()) ?? []).equals(data), path).toBe(
          true,
        );
      }
      const marker = await client.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${uuid}/d/` }),
      );
      expect(marker.ContentLength).toBe(0);
    } finally {
      await s3rver.close();
    }
  });
});
