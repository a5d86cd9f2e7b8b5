import { existsSync } from 'node:fs';

import { GetObjectCommand, ListObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';

import { startS3rver, testS3Client } from './s3rver.js';

const BUCKET = 'det-test';

describe('startS3rver', () => {
  it('serves put, list and get to the SDK, and removes its directory on close', async () => {
    const server = await startS3rver();
    const s3 = testS3Client(server.endpoint);
    try {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/b.txt', Body: 'hello' }));
      const listed = await s3.send(new ListObjectsCommand({ Bucket: BUCKET }));
      expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([['a/b.txt', 5]]);
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'a/b.txt' }));
      expect(await got.Body!.transformToString()).toBe('hello');
    } finally {
      s3.destroy();
      await server.close();
    }
    expect(existsSync(server.dir)).toBe(false);
  });
});
