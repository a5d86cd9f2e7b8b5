import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { crc32cBase64, differingOffsets, patternBytes } from './digests.js';
import { startFakeS3 } from './fake-s3.js';
import type { FakeS3 } from './fake-s3.js';
import { rawGet, rawRequest } from './raw-http.js';
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

  describe('faults', () => {
    const body = patternBytes(64 * 1024);

    it('answers matching requests with an S3 error status, then serves normally', async () => {
      fake.putObject(BUCKET, 'k', body);
      fake.inject({ kind: 'status', status: 503, times: 2, match: (r) => r.method === 'GET' });
      const get = () => s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' }));
      expect(await s3Failure(get())).toEqual({ code: 'SlowDown', status: 503 });
      await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'k' })); // does not match
      expect(await s3Failure(get())).toEqual({ code: 'SlowDown', status: 503 });
      expect(fake.pendingFaults()).toBe(0);
      expect((await get()).ContentLength).toBe(body.length);
    });

    it('resets the connection after the given body bytes', async () => {
      fake.putObject(BUCKET, 'k', body);
      fake.inject({ kind: 'reset-after', bytes: 1000, times: 1 });
      const exchange = rawGet(fake.endpoint, `/${BUCKET}/k`);
      expect(await exchange.ending).toBe('reset');
      const { head, body: received } = exchange.received();
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toContain(`content-length: ${body.length}`);
      expect(received).toEqual(body.subarray(0, 1000));
    });

    it('ends the connection cleanly short of Content-Length', async () => {
      fake.putObject(BUCKET, 'k', body);
      fake.inject({ kind: 'end-after', bytes: 1000, times: 1 });
      const exchange = rawGet(fake.endpoint, `/${BUCKET}/k`);
      expect(await exchange.ending).toBe('end');
      expect(exchange.received().body).toEqual(body.subarray(0, 1000));
    });

    it('stalls after the given body bytes and holds the socket until close()', async () => {
      fake.putObject(BUCKET, 'k', body);
      fake.inject({ kind: 'stall-after', bytes: 1000, times: 1 });
      const exchange = rawGet(fake.endpoint, `/${BUCKET}/k`);
      await vi.waitFor(() => expect(exchange.received().body.length).toBe(1000));
      await fake.close();
      await exchange.ending; // nothing more came before close() cut it
      expect(exchange.received().body).toEqual(body.subarray(0, 1000));
      fake = await startFakeS3(); // for afterEach
    });

    it('withholds the head too when the response has no body', async () => {
      fake.inject({ kind: 'end-after', bytes: 0, times: 1 });
      const put = rawRequest(
        fake.endpoint,
        `PUT /${BUCKET}/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc`,
      );
      expect(await put.ending).toBe('end');
      expect(put.received().head).toBe('');
      expect(fake.getObject(BUCKET, 'k').body.toString()).toBe('abc'); // it did take effect
    });

    it('flips one response byte, leaving the stored object intact', async () => {
      fake.putObject(BUCKET, 'k', body);
      fake.inject({ kind: 'flip', at: 5, times: 1 });
      const get = async () =>
        Buffer.from(await (await fetch(`${fake.endpoint}/${BUCKET}/k`)).arrayBuffer());
      const flipped = await get();
      expect(flipped.length).toBe(body.length);
      expect(differingOffsets(flipped, body)).toEqual([5]);
      expect(flipped[5]).toBe(body[5]! ^ 0xff);
      expect(differingOffsets(await get(), body)).toEqual([]);
    });

    it('flips one request byte, so a checksummed upload fails with BadDigest', async () => {
      fake.inject({ kind: 'flip', at: 0, target: 'request', times: 1 });
      const res = await fetch(`${fake.endpoint}/${BUCKET}/k`, {
        method: 'PUT',
        body: body,
        headers: { 'x-amz-checksum-crc32c': crc32cBase64(body) },
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('<Code>BadDigest</Code>');
      expect(fake.keys(BUCKET)).toEqual([]);
    });

    it('flips one request byte, so a SigV4-signed upload fails its payload hash', async () => {
      fake.inject({ kind: 'flip', at: 0, target: 'request', times: 1 });
      const put = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: body }));
      expect(await s3Failure(put)).toEqual({ code: 'XAmzContentSHA256Mismatch', status: 400 });
    });

    it('runs a hook before answering, e.g. to replace the object mid-download', async () => {
      const { etag } = fake.putObject(BUCKET, 'k', body);
      fake.inject({
        kind: 'hook',
        times: 1,
        match: (r) => r.headers.range === 'bytes=1024-2047',
        run: () => void fake.putObject(BUCKET, 'k', patternBytes(body.length, 9)),
      });
      const ranged = (Range: string) =>
        s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k', Range, IfMatch: etag }));
      await (await ranged('bytes=0-1023')).Body!.transformToByteArray();
      expect(await s3Failure(ranged('bytes=1024-2047'))).toEqual({
        code: 'PreconditionFailed',
        status: 412,
      });
    });

    it('ignores a client that left mid-upload while a hook held its request', async () => {
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let onArrived = (): void => undefined;
      const arrived = new Promise<void>((resolve) => (onArrived = resolve));
      fake.inject({
        kind: 'hook',
        times: 1,
        run: async () => {
          onArrived();
          await held;
        },
      });
      const put = rawRequest(
        fake.endpoint,
        `PUT /${BUCKET}/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234`,
      );
      await arrived;
      put.socket.destroy();
      release();
      // The fake answers the next request, and stored nothing of the 5 bytes it got.
      const head = s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'k' }));
      expect(await s3Failure(head)).toMatchObject({ status: 404 });
      expect(fake.keys(BUCKET)).toEqual([]);
    });

    it('drops a request on arrival, so nothing is stored', async () => {
      fake.inject({ kind: 'drop-request', times: 1 });
      const put = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: body }));
      await expect(put).rejects.toThrow();
      expect(fake.keys(BUCKET)).toEqual([]);
      expect(fake.requests).toHaveLength(1);
    });
  });
});
