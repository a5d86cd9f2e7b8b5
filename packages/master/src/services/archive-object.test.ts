import type { Readable } from 'node:stream';

import { openCheckpointStore } from '@determined-ts/storage';
import type { CheckpointStore } from '@determined-ts/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import type { FakeS3, FakeS3Request } from '../../../storage/test/fake-s3.js';
import { bytes, digestsOf, extractArchive } from '../../test/archives.js';
import { objectEntries } from './archive-object.js';
import type { ObjectReadTuning } from './archive-object.js';
import { createArchiveStream } from './archive.js';

const BUCKET = 'det-test';
const UUID = '00000000-0000-4000-8000-0000000000aa';
const FILES: Record<string, Buffer> = {
  'big.bin': bytes(3 * 2 ** 20 + 17, 3),
  'empty.txt': Buffer.alloc(0),
  'sub/small.txt': Buffer.from('small\n'),
};
const FAST: ObjectReadTuning = { stallMs: 200, attempts: 3, baseDelayMs: 1 };

let fake: FakeS3;
let store: CheckpointStore;

beforeEach(async () => {
  fake = await startFakeS3();
  for (const [name, data] of Object.entries(FILES)) {
    fake.putObject(BUCKET, `ckpts/${UUID}/${name}`, data);
  }
  fake.putObject(BUCKET, `ckpts/${UUID}/sub/`, '');
  store = await openCheckpointStore(
    {
      type: 's3',
      bucket: BUCKET,
      prefix: 'ckpts',
      endpoint_url: fake.endpoint,
      access_key: 'S3RVER',
      secret_key: 'S3RVER',
    },
    UUID,
    { side: 'master', env: {} },
  );
});

afterEach(() => fake.close());

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function tarOf(tuning?: ObjectReadTuning): Promise<Buffer> {
  const entries = objectEntries(store, await store.list(), Date.UTC(2025, 0, 1), tuning);
  return collect(createArchiveStream(entries, 'tar').stream);
}

const objectGets = (): FakeS3Request[] =>
  fake.requests.filter((r) => r.method === 'GET' && r.key !== '');

describe('archives of store objects', () => {
  it('reads each object with content once, whole, pinned to the listed version', async () => {
    const { names, files } = extractArchive(await tarOf(), 'tar');
    expect(names).toEqual(Object.keys(FILES));
    expect(files).toEqual(digestsOf(FILES));
    expect(objectGets().map((r) => [r.key, r.headers.range, r.headers['if-match']])).toEqual([
      [`ckpts/${UUID}/big.bin`, undefined, fake.getObject(BUCKET, `ckpts/${UUID}/big.bin`).etag],
      [
        `ckpts/${UUID}/sub/small.txt`,
        undefined,
        fake.getObject(BUCKET, `ckpts/${UUID}/sub/small.txt`).etag,
      ],
    ]);
  });

  it('asks again from where a stalled read stopped', async () => {
    const key = `ckpts/${UUID}/big.bin`;
    fake.inject({
      kind: 'stall-after',
      bytes: 1000,
      times: 1,
      match: (r) => r.method === 'GET' && r.key === key,
    });
    const { files } = extractArchive(await tarOf(FAST), 'tar');
    expect(files).toEqual(digestsOf(FILES));
    const gets = objectGets().filter((r) => r.key === key);
    const last = (FILES['big.bin']?.length ?? 0) - 1;
    expect(gets.map((r) => [r.headers.range, r.headers['if-match']])).toEqual([
      [undefined, fake.getObject(BUCKET, key).etag],
      [`bytes=1000-${last}`, fake.getObject(BUCKET, key).etag],
    ]);
  });

  it('gives up after its attempts, naming the object', async () => {
    const key = `ckpts/${UUID}/big.bin`;
    fake.inject({
      kind: 'reset-after',
      bytes: 0,
      times: 10,
      match: (r) => r.method === 'GET' && r.key === key,
    });
    await expect(tarOf(FAST)).rejects.toThrow(/archive: cannot read 'big\.bin'/);
    expect(objectGets().filter((r) => r.key === key)).toHaveLength(FAST.attempts);
  });
});
