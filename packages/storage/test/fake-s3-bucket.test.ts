import { createHash } from 'node:crypto';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { crc32cBase64, md5Hex, patternBytes } from './digests.js';
import { startFakeS3 } from './fake-s3.js';
import type { FakeS3 } from './fake-s3.js';
import { s3Failure, testS3Client } from './s3rver.js';

const BUCKET = 'det-test';

describe('startFakeS3', () => {
  let fake: FakeS3;
  let s3: S3Client;

  beforeEach(async () => {
    fake = await startFakeS3({ minPartBytes: 1024 });
    s3 = testS3Client(fake.endpoint, { maxAttempts: 1 });
  });

  afterEach(async () => {
    s3.destroy();
    await fake.close();
  });

  describe('listing and bulk delete', () => {
    // Sorted by UTF-8 bytes; `&`, `<` and `"` prove the XML escaping both ways.
    const keys = Array.from({ length: 2500 }, (_, i) => `ckpt/${String(i).padStart(5, '0')}`);
    keys.push('ckpt/a&b', 'ckpt/a<b', 'ckpt/a"b');
    keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

    beforeEach(() => {
      for (const key of keys) {
        fake.putObject(BUCKET, key, key);
      }
      fake.putObject(BUCKET, 'other/x', 'x');
    });

    it('pages ListObjects (v1) by marker over 2,503 keys', async () => {
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await s3.send(
          new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'ckpt/', Marker: marker }),
        );
        const pageKeys = (page.Contents ?? []).map((o) => o.Key ?? '');
        seen.push(...pageKeys);
        pageSizes.push(pageKeys.length);
        expect(page.NextMarker).toBeUndefined(); // only sent with a delimiter, as S3 does
        if (page.IsTruncated !== true) {
          break;
        }
        marker = pageKeys.at(-1);
      }
      expect(pageSizes).toEqual([1000, 1000, 503]);
      expect(seen).toEqual(keys);
    });

    it('pages ListObjectsV2 by continuation token over 2,503 keys', async () => {
      const seen: string[] = [];
      const counts: (number | undefined)[] = [];
      let token: string | undefined;
      for (;;) {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ckpt/', ContinuationToken: token }),
        );
        seen.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
        counts.push(page.KeyCount);
        if (page.IsTruncated !== true) {
          expect(page.NextContinuationToken).toBeUndefined();
          break;
        }
        token = page.NextContinuationToken;
      }
      expect(counts).toEqual([1000, 1000, 503]);
      expect(seen).toEqual(keys);
    });

    it('reports each object with its size, quoted ETag and storage class', async () => {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ckpt/a', MaxKeys: 5000 }),
      );
      expect(page.MaxKeys).toBe(1000); // capped, as S3 does
      expect(page.Contents?.[0]).toMatchObject({
        Key: 'ckpt/a"b',
        Size: 'ckpt/a"b'.length,
        ETag: `"${md5Hex(Buffer.from('ckpt/a"b'))}"`,
        StorageClass: 'STANDARD',
      });
    });

    it('rolls keys up into CommonPrefixes with a delimiter, paging by NextMarker', async () => {
      fake.putObject(BUCKET, 'top', 't');
      const entries: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await s3.send(
          new ListObjectsCommand({ Bucket: BUCKET, Delimiter: '/', MaxKeys: 1, Marker: marker }),
        );
        entries.push(
          ...(page.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
          ...(page.Contents ?? []).map((o) => o.Key ?? ''),
        );
        if (page.IsTruncated !== true) {
          break;
        }
        marker = page.NextMarker;
      }
      expect(entries).toEqual(['ckpt/', 'other/', 'top']);
    });

    it('deletes many keys at once, missing ones included', async () => {
      const out = await s3.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: { Objects: [{ Key: 'ckpt/a&b' }, { Key: 'other/x' }, { Key: 'never' }] },
        }),
      );
      expect(out.Deleted?.map((d) => d.Key)).toEqual(['ckpt/a&b', 'other/x', 'never']);
      expect(fake.keys(BUCKET)).toHaveLength(keys.length - 1);
    });

    it('refuses a DeleteObjects of more than 1,000 keys (MalformedXML)', async () => {
      const del = s3.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: { Objects: keys.slice(0, 1001).map((Key) => ({ Key })) },
        }),
      );
      expect(await s3Failure(del)).toEqual({ code: 'MalformedXML', status: 400 });
      expect(fake.keys(BUCKET)).toHaveLength(keys.length + 1);
    });
  });

  describe('multipart uploads', () => {
    const parts = [patternBytes(2048, 1), patternBytes(2048, 2), patternBytes(100, 3)];
    const whole = Buffer.concat(parts);

    async function uploadParts(options: { ChecksumType?: 'FULL_OBJECT' | 'COMPOSITE' } = {}) {
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mp',
          ChecksumAlgorithm: 'CRC32C',
          ...options,
        }),
      );
      const done = [];
      for (const [i, part] of parts.entries()) {
        const out = await s3.send(
          new UploadPartCommand({
            Bucket: BUCKET,
            Key: 'mp',
            UploadId,
            PartNumber: i + 1,
            Body: part,
            ChecksumCRC32C: crc32cBase64(part),
          }),
        );
        done.push({ PartNumber: i + 1, ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C });
      }
      return { UploadId, done };
    }

    it('completes with an -N ETag and a verified FULL_OBJECT CRC32C', async () => {
      const { UploadId, done } = await uploadParts({ ChecksumType: 'FULL_OBJECT' });
      expect(fake.pendingUploads()).toEqual([{ bucket: BUCKET, key: 'mp', uploadId: UploadId }]);
      const out = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mp',
          UploadId,
          MultipartUpload: { Parts: done },
          ChecksumCRC32C: crc32cBase64(whole),
          ChecksumType: 'FULL_OBJECT',
        }),
      );
      const md5s = Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()));
      expect(out.ETag).toBe(`"${md5Hex(md5s)}-3"`);
      expect(fake.pendingUploads()).toEqual([]);
      const got = await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'mp', ChecksumMode: 'ENABLED' }),
      );
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(whole);
      expect(got).toMatchObject({
        ChecksumCRC32C: crc32cBase64(whole),
        ChecksumType: 'FULL_OBJECT',
      });
    });

    it('refuses a FULL_OBJECT completion with the wrong CRC32C (BadDigest), keeping the upload', async () => {
      const { UploadId, done } = await uploadParts({ ChecksumType: 'FULL_OBJECT' });
      const complete = s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mp',
          UploadId,
          MultipartUpload: { Parts: done },
          ChecksumCRC32C: crc32cBase64(parts[0]!),
        }),
      );
      expect(await s3Failure(complete)).toEqual({ code: 'BadDigest', status: 400 });
      expect(fake.keys(BUCKET)).toEqual([]);
      expect(fake.pendingUploads()).toHaveLength(1);
    });

    it('reports a COMPOSITE checksum with its -N suffix, and each part by partNumber', async () => {
      const { UploadId, done } = await uploadParts();
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mp',
          UploadId,
          MultipartUpload: { Parts: done },
        }),
      );
      const composite = crc32cBase64(
        Buffer.concat(parts.map((p) => Buffer.from(crc32cBase64(p), 'base64'))),
      );
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: 'mp', ChecksumMode: 'ENABLED' }),
      );
      expect(head).toMatchObject({ ChecksumCRC32C: `${composite}-3`, ChecksumType: 'COMPOSITE' });
      const part2 = await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'mp', PartNumber: 2, ChecksumMode: 'ENABLED' }),
      );
      expect(Buffer.from(await part2.Body!.transformToByteArray())).toEqual(parts[1]);
      expect(part2).toMatchObject({
        ContentRange: 'bytes 2048-4095/4196',
        PartsCount: 3,
        ChecksumCRC32C: crc32cBase64(parts[1]!),
      });
    });

    it('refuses parts below the minimum size, out of order, or with a wrong ETag', async () => {
      const { UploadId, done } = await uploadParts();
      const complete = (Parts: typeof done) =>
        s3Failure(
          s3.send(
            new CompleteMultipartUploadCommand({
              Bucket: BUCKET,
              Key: 'mp',
              UploadId,
              MultipartUpload: { Parts },
            }),
          ),
        );
      const [p1, p2, p3] = done;
      expect(await complete([p1!, p3!, p2!])).toEqual({ code: 'EntityTooSmall', status: 400 });
      expect(await complete([p2!, p1!])).toEqual({ code: 'InvalidPartOrder', status: 400 });
      expect(await complete([{ ...p1!, ETag: '"00"' }])).toEqual({
        code: 'InvalidPart',
        status: 400,
      });
    });

    it('lists the parts of an upload, then aborts it', async () => {
      const { UploadId } = await uploadParts();
      const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp', UploadId }));
      expect(listed.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([
        [1, 2048],
        [2, 2048],
        [3, 100],
      ]);
      await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp', UploadId }));
      expect(fake.pendingUploads()).toEqual([]);
      const again = s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp', UploadId }));
      expect(await s3Failure(again)).toEqual({ code: 'NoSuchUpload', status: 404 });
    });
  });
});
