import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';

import { Storage } from '@google-cloud/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { crc32cBase64, patternBytes } from './digests.js';
import { startFakeGcs } from './fake-gcs.js';
import type { FakeGcs } from './fake-gcs.js';

const BUCKET = 'det-test';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request with node:http, which (unlike fetch) leaves encodings and framing alone. */
function send(
  endpoint: string,
  method: string,
  path: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${endpoint}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const objectPath = (name: string, query = ''): string =>
  `/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}${query}`;

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
}

/** A JSON API multipart upload body: metadata, then the bytes. */
function multipart(
  metadata: object,
  data: Buffer,
): { headers: Record<string, string>; body: Buffer } {
  const head = `--b\r\ncontent-type: application/json\r\n\r\n${JSON.stringify(metadata)}\r\n--b\r\n\r\n`;
  return {
    headers: { 'content-type': 'multipart/related; boundary=b' },
    body: Buffer.concat([Buffer.from(head), data, Buffer.from('\r\n--b--\r\n')]),
  };
}

describe('startFakeGcs', () => {
  let fake: FakeGcs;
  const body = patternBytes(10_000);

  beforeEach(async () => {
    fake = await startFakeGcs({ maxPageSize: 3, minPartBytes: 1024 });
  });

  afterEach(async () => {
    await fake.close();
  });

  describe('JSON API', () => {
    it('lists by prefix in pages of at most maxPageSize, with an opaque page token', async () => {
      for (const name of ['a/1', 'a/2', 'a/3', 'a/4', 'b/1']) {
        fake.putObject(BUCKET, name, 'x');
      }
      const first = json(await send(fake.endpoint, 'GET', `/storage/v1/b/${BUCKET}/o?prefix=a/`));
      const items = first.items as { name: string; size: string; crc32c: string }[];
      expect(items.map((i) => i.name)).toEqual(['a/1', 'a/2', 'a/3']);
      expect(items[0]).toMatchObject({ size: '1', crc32c: crc32cBase64(Buffer.from('x')) });
      const token = encodeURIComponent(String(first.nextPageToken));
      const second = json(
        await send(fake.endpoint, 'GET', `/storage/v1/b/${BUCKET}/o?prefix=a/&pageToken=${token}`),
      );
      expect((second.items as { name: string }[]).map((i) => i.name)).toEqual(['a/4']);
      expect(second.nextPageToken).toBeUndefined();
      const small = json(
        await send(fake.endpoint, 'GET', `/storage/v1/b/${BUCKET}/o?maxResults=1`),
      );
      expect((small.items as unknown[]).length).toBe(1);
    });

    it('gives every write a new, larger generation; an old one is gone (404)', async () => {
      const one = fake.putObject(BUCKET, 'k', 'one');
      const two = fake.putObject(BUCKET, 'k', 'two');
      expect(BigInt(two.generation)).toBeGreaterThan(BigInt(one.generation));
      const old = await send(
        fake.endpoint,
        'GET',
        objectPath('k', `?alt=media&generation=${one.generation}`),
      );
      expect(old.status).toBe(404);
      expect(json(old)).toMatchObject({ error: { code: 404, errors: [{ reason: 'notFound' }] } });
      const current = await send(
        fake.endpoint,
        'GET',
        objectPath('k', `?alt=media&generation=${two.generation}`),
      );
      expect(current.body.toString()).toBe('two');
      const meta = await send(
        fake.endpoint,
        'GET',
        objectPath('k', `?ifGenerationMatch=${one.generation}`),
      );
      expect(meta.status).toBe(412);
    });

    it('serves media with x-goog-generation and x-goog-hash, and strict ranges', async () => {
      const stored = fake.putObject(BUCKET, 'k', body);
      const whole = await send(fake.endpoint, 'GET', objectPath('k', '?alt=media'));
      expect(whole.status).toBe(200);
      expect(whole.headers['content-length']).toBe(String(body.length));
      expect(whole.headers['x-goog-generation']).toBe(stored.generation);
      expect(whole.headers['x-goog-hash']).toBe(`crc32c=${stored.crc32c},md5=${stored.md5}`);
      const ranged = await send(fake.endpoint, 'GET', objectPath('k', '?alt=media'), {
        headers: { range: 'bytes=100-199' },
      });
      expect(ranged.status).toBe(206);
      expect(ranged.headers['content-range']).toBe(`bytes 100-199/${body.length}`);
      expect(ranged.body.equals(body.subarray(100, 200))).toBe(true);
      const suffix = await send(fake.endpoint, 'GET', objectPath('k', '?alt=media'), {
        headers: { range: 'bytes=-10' },
      });
      expect(suffix.body.equals(body.subarray(body.length - 10))).toBe(true);
      const past = await send(fake.endpoint, 'GET', objectPath('k', '?alt=media'), {
        headers: { range: `bytes=${body.length}-` },
      });
      expect(past.status).toBe(416);
      expect(past.headers['content-range']).toBe(`bytes */${body.length}`);
    });

    it('serves a gzip-encoded object as stored only to clients that accept gzip', async () => {
      const gz = gzipSync(body);
      fake.putObject(BUCKET, 'k.gz', gz, { contentEncoding: 'gzip' });
      const raw = await send(fake.endpoint, 'GET', objectPath('k.gz', '?alt=media'), {
        headers: { 'accept-encoding': 'gzip', range: 'bytes=0-9' },
      });
      expect(raw.status).toBe(206);
      expect(raw.body.equals(gz.subarray(0, 10))).toBe(true);
      const transcoded = await send(fake.endpoint, 'GET', objectPath('k.gz', '?alt=media'), {
        headers: { range: 'bytes=0-9' },
      });
      expect(transcoded.status).toBe(200); // the range is ignored, as GCS does
      expect(transcoded.body.equals(body)).toBe(true);
    });

    it('takes a multipart upload, checking the CRC32C and MD5 its metadata names', async () => {
      const bad = multipart({ name: 'up', crc32c: crc32cBase64(Buffer.from('other')) }, body);
      const refused = await send(
        fake.endpoint,
        'POST',
        `/upload/storage/v1/b/${BUCKET}/o?uploadType=multipart`,
        bad,
      );
      expect(refused.status).toBe(400);
      expect(json(refused)).toMatchObject({
        error: { message: expect.stringMatching(/Provided CRC32C/) as unknown },
      });
      expect(fake.names(BUCKET)).toEqual([]);
      const good = multipart({ name: 'up', crc32c: crc32cBase64(body) }, body);
      const taken = await send(
        fake.endpoint,
        'POST',
        `/upload/storage/v1/b/${BUCKET}/o?uploadType=multipart`,
        good,
      );
      expect(taken.status).toBe(200);
      expect(json(taken)).toMatchObject({
        name: 'up',
        size: String(body.length),
        generation: fake.getObject(BUCKET, 'up').generation,
      });
      expect(fake.getObject(BUCKET, 'up').body.equals(body)).toBe(true);
    });

    it('deletes objects (404 for a missing one) and refuses what it does not implement', async () => {
      fake.putObject(BUCKET, 'k', 'x');
      expect((await send(fake.endpoint, 'DELETE', objectPath('k'))).status).toBe(204);
      expect((await send(fake.endpoint, 'DELETE', objectPath('k'))).status).toBe(404);
      expect(
        (await send(fake.endpoint, 'GET', `/storage/v1/b/${BUCKET}/o?delimiter=/`)).status,
      ).toBe(501);
      // An object name's `/` must be escaped in the JSON API's paths.
      fake.putObject(BUCKET, 'a/b', 'x');
      expect((await send(fake.endpoint, 'GET', `/storage/v1/b/${BUCKET}/o/a/b`)).status).toBe(501);
      expect((await send(fake.endpoint, 'GET', objectPath('a/b'))).status).toBe(200);
      expect((await send(fake.endpoint, 'GET', '/storage/v1/b/no-such/o')).status).toBe(404);
    });
  });

  describe('XML API multipart uploads', () => {
    const path = `/${BUCKET}/dir/big.bin`;

    async function initiate(): Promise<string> {
      const started = await send(fake.endpoint, 'POST', `${path}?uploads`);
      return /<UploadId>([^<]+)<\/UploadId>/.exec(started.body.toString())?.[1] ?? '';
    }

    async function part(
      uploadId: string,
      n: number,
      data: Buffer,
      hash = crc32cBase64(data),
    ): Promise<Answer> {
      return send(fake.endpoint, 'PUT', `${path}?partNumber=${n}&uploadId=${uploadId}`, {
        headers: { 'x-goog-hash': `crc32c=${hash}` },
        body: data,
      });
    }

    function completion(parts: { n: number; etag: string }[]): Buffer {
      const xml = parts.map(
        (p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${p.etag}</ETag></Part>`,
      );
      return Buffer.from(`<CompleteMultipartUpload>${xml.join('')}</CompleteMultipartUpload>`);
    }

    it('assembles checked parts into an object with a CRC32C and no MD5', async () => {
      const uploadId = await initiate();
      const a = body.subarray(0, 6000);
      const b = body.subarray(6000);
      expect((await part(uploadId, 1, a, crc32cBase64(b))).status).toBe(400); // BadDigest
      const etagB = String((await part(uploadId, 2, b)).headers.etag);
      const etagA = String((await part(uploadId, 1, a)).headers.etag);
      const done = await send(fake.endpoint, 'POST', `${path}?uploadId=${uploadId}`, {
        body: completion([
          { n: 1, etag: etagA },
          { n: 2, etag: etagB },
        ]),
      });
      expect(done.status).toBe(200);
      const stored = fake.getObject(BUCKET, 'dir/big.bin');
      expect(done.headers['x-goog-generation']).toBe(stored.generation);
      expect(stored.body.equals(body)).toBe(true);
      expect(stored).toMatchObject({ crc32c: crc32cBase64(body), md5: undefined });
      expect(fake.pendingUploads()).toEqual([]);
    });

    it('refuses small parts, unknown ETags and unknown uploads; aborts', async () => {
      const uploadId = await initiate();
      const etag1 = String((await part(uploadId, 1, body.subarray(0, 100))).headers.etag);
      const etag2 = String((await part(uploadId, 2, body.subarray(100))).headers.etag);
      const small = await send(fake.endpoint, 'POST', `${path}?uploadId=${uploadId}`, {
        body: completion([
          { n: 1, etag: etag1 },
          { n: 2, etag: etag2 },
        ]),
      });
      expect(small.body.toString()).toContain('<Code>EntityTooSmall</Code>');
      const wrong = await send(fake.endpoint, 'POST', `${path}?uploadId=${uploadId}`, {
        body: completion([{ n: 2, etag: '"nope"' }]),
      });
      expect(wrong.body.toString()).toContain('<Code>InvalidPart</Code>');
      expect((await send(fake.endpoint, 'DELETE', `${path}?uploadId=${uploadId}`)).status).toBe(
        204,
      );
      expect((await part(uploadId, 3, body)).status).toBe(404);
      expect(fake.pendingUploads()).toEqual([]);
      expect(fake.names(BUCKET)).toEqual([]);
    });
  });

  describe('with @google-cloud/storage', () => {
    it('serves the library: listing, metadata, downloads validated by CRC32C, simple uploads, deletes', async () => {
      const storage = new Storage({
        apiEndpoint: fake.endpoint,
        retryOptions: { autoRetry: false },
      });
      storage.baseUrl = `${fake.endpoint}/storage/v1`;
      const bucket = storage.bucket(BUCKET);
      await bucket.file('sub/up.bin').save(body, { resumable: false });
      expect(fake.getObject(BUCKET, 'sub/up.bin').body.equals(body)).toBe(true);
      const [files] = await bucket.getFiles({ prefix: 'sub/' });
      expect(files.map((f) => f.name)).toEqual(['sub/up.bin']);
      const [downloaded] = await bucket.file('sub/up.bin').download({ validation: 'crc32c' });
      expect(downloaded.equals(body)).toBe(true);
      const [metadata] = await bucket.file('sub/up.bin').getMetadata();
      expect(metadata.crc32c).toBe(crc32cBase64(body));
      await bucket.file('sub/up.bin').delete();
      expect(fake.names(BUCKET)).toEqual([]);
    });
  });
});
