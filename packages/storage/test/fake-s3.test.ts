import { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
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

  describe('objects', () => {
    it('stores, gets and heads an object with an MD5 ETag', async () => {
      const body = patternBytes(3000);
      const put = await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'a/b.bin', Body: body }),
      );
      expect(put.ETag).toBe(`"${md5Hex(body)}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'a/b.bin' }));
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
      expect(got.ETag).toBe(put.ETag);
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'a/b.bin' }));
      expect(head).toMatchObject({ ContentLength: 3000, ETag: put.ETag, AcceptRanges: 'bytes' });
      expect(head.LastModified).toBeInstanceOf(Date);
      expect(fake.requests.map((r) => r.method)).toEqual(['PUT', 'GET', 'HEAD']);
      expect(fake.requests[0]?.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=S3RVER\//,
      );
    });

    it('answers 404 NoSuchKey for a missing object', async () => {
      const get = s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'nope' }));
      expect(await s3Failure(get)).toEqual({ code: 'NoSuchKey', status: 404 });
      const res = await fetch(`${fake.endpoint}/${BUCKET}/nope`);
      expect(res.headers.get('content-type')).toBe('application/xml');
      expect(await res.text()).toMatch(/<Error><Code>NoSuchKey<\/Code><Message>/);
    });

    it('refuses an aws-chunked upload, the SDK default for streamed bodies', async () => {
      const defaults = testS3Client(fake.endpoint, {
        maxAttempts: 1,
        requestChecksumCalculation: 'WHEN_SUPPORTED',
        // The SDK never retries a streamed body, and warns so on the console.
        logger: {
          debug: () => undefined,
          info: () => undefined,
          warn: () => undefined,
          error: () => undefined,
        },
      });
      const put = defaults.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'chunked',
          Body: Readable.from([patternBytes(1000)]),
          ContentLength: 1000,
        }),
      );
      expect(await s3Failure(put)).toEqual({ code: 'NotImplemented', status: 400 });
      expect(fake.requests[0]?.headers['content-encoding']).toBe('aws-chunked');
      expect(fake.keys(BUCKET)).toEqual([]);
      defaults.destroy();
    });

    it('sends a precomputed CRC32C as a plain header, even for a streamed body', async () => {
      const body = patternBytes(1000);
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'k',
          Body: Readable.from([body]),
          ContentLength: body.length,
          ChecksumCRC32C: crc32cBase64(body),
        }),
      );
      expect(put.ChecksumCRC32C).toBe(crc32cBase64(body));
      expect(fake.getObject(BUCKET, 'k').checksum).toEqual({
        crc32c: crc32cBase64(body),
        type: 'FULL_OBJECT',
      });
    });

    it('refuses a PUT whose x-amz-checksum-crc32c does not match (BadDigest)', async () => {
      const put = s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'k',
          Body: patternBytes(100),
          ChecksumCRC32C: crc32cBase64(patternBytes(100, 2)),
        }),
      );
      expect(await s3Failure(put)).toEqual({ code: 'BadDigest', status: 400 });
      expect(fake.keys(BUCKET)).toEqual([]);
    });

    it('refuses a chunked PUT without Content-Length (MissingContentLength)', async () => {
      const res = await fetch(`${fake.endpoint}/${BUCKET}/k`, {
        method: 'PUT',
        body: Readable.toWeb(Readable.from([Buffer.from('abc')])),
        duplex: 'half',
      });
      expect(res.status).toBe(411);
      expect(await res.text()).toContain('<Code>MissingContentLength</Code>');
    });

    it('deletes one object with 204, whether or not it exists', async () => {
      fake.putObject(BUCKET, 'k', 'x');
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'k' }));
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'k' }));
      expect(fake.keys(BUCKET)).toEqual([]);
      const res = await fetch(`${fake.endpoint}/${BUCKET}/k`, { method: 'DELETE' });
      expect(res.status).toBe(204);
    });

    it('answers an unknown operation with 501 NotImplemented', async () => {
      fake.putObject(BUCKET, 'k', 'x');
      const res = await fetch(`${fake.endpoint}/${BUCKET}/k?tagging`);
      expect(res.status).toBe(501);
      expect(res.headers.get('content-type')).toBe('application/xml');
      expect(await res.text()).toContain('<Code>NotImplemented</Code>');
    });
  });

  describe('ranges and conditions', () => {
    const body = patternBytes(1000);
    const range = async (spec: string) => {
      fake.putObject(BUCKET, 'r', body);
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'r', Range: spec }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      return { status: got.$metadata.httpStatusCode, contentRange: got.ContentRange, bytes };
    };

    it('serves bytes=a-b with 206 and Content-Range', async () => {
      expect(await range('bytes=10-19')).toEqual({
        status: 206,
        contentRange: 'bytes 10-19/1000',
        bytes: body.subarray(10, 20),
      });
    });

    it('serves an open-ended range, and clamps an end past the object', async () => {
      expect(await range('bytes=990-')).toMatchObject({ contentRange: 'bytes 990-999/1000' });
      expect(await range('bytes=995-5000')).toEqual({
        status: 206,
        contentRange: 'bytes 995-999/1000',
        bytes: body.subarray(995),
      });
    });

    it('serves bytes=-n as the last n bytes (s3rver serves the first n + 1)', async () => {
      expect(await range('bytes=-100')).toEqual({
        status: 206,
        contentRange: 'bytes 900-999/1000',
        bytes: body.subarray(900),
      });
      expect(await range('bytes=-5000')).toMatchObject({ contentRange: 'bytes 0-999/1000' });
    });

    it('answers an unsatisfiable range with 416 InvalidRange and bytes */size', async () => {
      fake.putObject(BUCKET, 'r', body);
      for (const spec of ['bytes=1000-', 'bytes=-0']) {
        const res = await fetch(`${fake.endpoint}/${BUCKET}/r`, { headers: { range: spec } });
        expect(res.status).toBe(416);
        expect(res.headers.get('content-range')).toBe('bytes */1000');
        expect(await res.text()).toContain('<Code>InvalidRange</Code>');
      }
    });

    it('answers 412 to an If-Match naming another ETag, and serves a matching or * one', async () => {
      const { etag } = fake.putObject(BUCKET, 'r', body);
      const stale = s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'r', Range: 'bytes=0-9', IfMatch: '"0abc"' }),
      );
      expect(await s3Failure(stale)).toEqual({ code: 'PreconditionFailed', status: 412 });
      for (const ifMatch of [etag, '*']) {
        const got = await s3.send(
          new GetObjectCommand({ Bucket: BUCKET, Key: 'r', Range: 'bytes=0-9', IfMatch: ifMatch }),
        );
        expect(got.ContentLength).toBe(10);
        await got.Body!.transformToByteArray();
      }
    });

    it('answers 304 to a matching If-None-Match', async () => {
      const { etag } = fake.putObject(BUCKET, 'r', body);
      const res = await fetch(`${fake.endpoint}/${BUCKET}/r`, {
        headers: { 'if-none-match': etag },
      });
      expect(res.status).toBe(304);
      expect(res.headers.get('etag')).toBe(etag);
    });

    it('sends the CRC32C only on whole-object GETs and HEADs in checksum mode', async () => {
      fake.putObject(BUCKET, 'r', body, { crc32c: true });
      const whole = await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'r', ChecksumMode: 'ENABLED' }),
      );
      await whole.Body!.transformToByteArray(); // the SDK validates the CRC32C as it reads
      expect(whole).toMatchObject({
        ChecksumCRC32C: crc32cBase64(body),
        ChecksumType: 'FULL_OBJECT',
      });
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: 'r', ChecksumMode: 'ENABLED' }),
      );
      expect(head).toMatchObject({
        ChecksumCRC32C: crc32cBase64(body),
        ChecksumType: 'FULL_OBJECT',
      });
      const ranged = await s3.send(
        new GetObjectCommand({
          Bucket: BUCKET,
          Key: 'r',
          Range: 'bytes=0-',
          ChecksumMode: 'ENABLED',
        }),
      );
      await ranged.Body!.transformToByteArray();
      expect(ranged.ChecksumCRC32C).toBeUndefined();
      const plain = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'r' }));
      expect(plain.ChecksumCRC32C).toBeUndefined();
    });
  });

  describe('clock', () => {
    it('refuses a request signed an hour off its clock (RequestTimeTooSkewed)', async () => {
      const skewed = await startFakeS3({ now: () => Date.now() + 3_600_000 });
      const client = testS3Client(skewed.endpoint, { maxAttempts: 1 });
      // Not a HEAD: its error has no body, so the SDK could only name it by status.
      const get = client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' }));
      expect(await s3Failure(get)).toEqual({ code: 'RequestTimeTooSkewed', status: 403 });
      client.destroy();
      await skewed.close();
    });

    it('refuses an expired presigned URL', async () => {
      fake.putObject(BUCKET, 'k', 'x');
      const signedAt = new Date(Date.now() - 120_000).toISOString().replace(/[-:]|\.\d+/g, '');
      const url = `${fake.endpoint}/${BUCKET}/k?X-Amz-Date=${signedAt}&X-Amz-Expires=60&X-Amz-Signature=00`;
      const res = await fetch(url);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Message>Request has expired</Message>');
    });
  });
});
