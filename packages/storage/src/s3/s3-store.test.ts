import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../test/fake-s3.js';
import type { FakeS3 } from '../../test/fake-s3.js';
import { BUCKET, PREFIX, bytes, crcOf, s3Config, testStore } from '../../test/s3-helpers.js';
import { IntegrityError, ObjectChangedError, StorageUnreachableError } from '../errors.js';
import { openCheckpointStore } from '../open.js';
import { encodeKey } from './s3-bucket.js';
import { openS3Store } from './open-s3.js';
import type { S3Store } from './s3-store.js';

let fake: FakeS3;
let uuid: string;
let store: S3Store;
const never = new AbortController().signal;

beforeEach(async () => {
  fake = await startFakeS3();
  uuid = randomUUID();
  store = testStore(fake.endpoint, uuid);
});

afterEach(async () => {
  await fake.close();
});

const keyOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

async function readAll(read: { body: AsyncIterable<Uint8Array> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of read.body) {
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

describe('S3Store', () => {
  it('lays a checkpoint out as Determined does: <prefix>/<uuid>/<path>, directory markers as directories', async () => {
    fake.putObject(BUCKET, keyOf('model.bin'), 'weights');
    fake.putObject(BUCKET, keyOf('sub/'), '');
    fake.putObject(BUCKET, keyOf('sub/x.json'), '{}');
    fake.putObject(BUCKET, keyOf(''), ''); // a marker for the checkpoint directory itself
    fake.putObject(BUCKET, `${PREFIX}/${uuid}-other/model.bin`, 'not ours');
    expect(store.location).toBe(`s3://${BUCKET}/${PREFIX}/${uuid}`);
    const listed = await store.list();
    expect(listed.map((o) => [o.path, o.size])).toEqual([
      ['model.bin', 7],
      ['sub/', 0],
      ['sub/x.json', 2],
    ]);
    expect(listed[0]?.version).toBe(fake.getObject(BUCKET, keyOf('model.bin')).etag);
    expect(listed[1]?.version).toBeUndefined();
  });

  it('lists past 1,000 keys (markers), in order', async () => {
    const names = Array.from({ length: 2345 }, (_, i) => `f/${String(i).padStart(5, '0')}`);
    for (const name of names) {
      fake.putObject(BUCKET, keyOf(name), 'x');
    }
    const listed = await store.list();
    expect(listed.map((o) => o.path)).toEqual(names);
    expect(fake.requests.filter((r) => r.query.has('prefix'))).toHaveLength(3);
  });

  it('puts the checkpoint at the bucket root when the prefix is empty', async () => {
    const rooted = openS3Store(s3Config(fake.endpoint, ''), uuid, { env: {} });
    fake.putObject(BUCKET, `${uuid}/a.bin`, 'a');
    expect(rooted.location).toBe(`s3://${BUCKET}/${uuid}`);
    expect((await rooted.list()).map((o) => o.path)).toEqual(['a.bin']);
  });

  it('refuses a key that would climb out of the download', async () => {
    fake.putObject(BUCKET, keyOf('../escape.bin'), 'x');
    await expect(store.list()).rejects.toThrow(IntegrityError);
  });

  it('reads keys that need escaping (spaces, unicode, reserved characters)', async () => {
    const name = "dir with space/é (1)!*'.bin";
    fake.putObject(BUCKET, keyOf(name), 'odd');
    expect((await store.list()).map((o) => o.path)).toEqual([name]);
    expect((await readAll(await store.read(name, { signal: never }))).toString()).toBe('odd');
    expect(encodeKey("a b/é!'()*")).toBe('a%20b/%C3%A9%21%27%28%29%2A');
  });

  it('reads whole objects with the store checksum, and exact ranges pinned to a version', async () => {
    const data = bytes(10_000);
    fake.putObject(BUCKET, keyOf('w.bin'), data, { crc32c: true });
    const whole = await store.read('w.bin', { withChecksum: true, signal: never });
    expect(whole.size).toBe(10_000);
    expect(whole.crc32c).toBe(crcOf(data));
    expect((await readAll(whole)).equals(data)).toBe(true);
    const version = whole.version;
    const part = await store.read('w.bin', {
      range: { start: 100, end: 250 },
      version,
      signal: never,
    });
    expect(part.size).toBe(10_000);
    expect(part.crc32c).toBeUndefined(); // S3 sends no whole-object checksum with a range
    expect((await readAll(part)).equals(data.subarray(100, 250))).toBe(true);
    const last = fake.requests.at(-1);
    expect(last?.headers.range).toBe('bytes=100-249');
    expect(last?.headers['if-match']).toBe(version);
    expect(last?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=S3RVER\//);
  });

  it('says an object changed when its version is no longer the one asked for', async () => {
    fake.putObject(BUCKET, keyOf('w.bin'), 'one');
    const { version } = await store.read('w.bin', { signal: never });
    fake.putObject(BUCKET, keyOf('w.bin'), 'two');
    await expect(
      store.read('w.bin', { range: { start: 0, end: 2 }, version, signal: never }),
    ).rejects.toThrow(ObjectChangedError);
  });

  it('probes: a checkpoint with no objects is not_found', async () => {
    await expect(store.probe()).rejects.toMatchObject({
      name: 'StorageUnreachableError',
      reason: 'not_found',
    });
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    await store.probe();
  });

  it('probes: access denied and a missing bucket are unreachable, for auto mode to fall back', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    fake.inject({ kind: 'status', status: 403, times: 1 });
    await expect(store.probe()).rejects.toMatchObject({ reason: 'no_access' });
    const other = openS3Store({ ...s3Config(fake.endpoint), bucket: 'no-such-bucket' }, uuid, {
      env: {},
    });
    await expect(other.probe()).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('probes: no credentials anywhere is no_access, saying where credentials come from', async () => {
    const config = { ...s3Config(fake.endpoint), accessKey: undefined, secretKey: undefined };
    const anonymous = openS3Store(config, uuid, { env: {} });
    const err = await anonymous.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'no_access' });
    expect((err as Error).message).toMatch(/no AWS credentials.*access_key/);
    // The data plane says the same.
    await expect(anonymous.read('a.bin', { signal: never })).rejects.toMatchObject({
      reason: 'no_access',
    });
  });

  it('probes: an endpoint nobody listens on is unreachable (no route), not a hang', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const closed = openS3Store(s3Config(`http://127.0.0.1:${port}`), uuid, { env: {} });
    await expect(closed.probe()).rejects.toMatchObject({ reason: 'no_access' });
  });

  it('deletes named objects (missing ones count as deleted) and whole checkpoints', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    fake.putObject(BUCKET, keyOf('sub/'), '');
    fake.putObject(BUCKET, keyOf('sub/b.bin'), 'b');
    fake.putObject(BUCKET, keyOf('stray.tmp'), 'left by a trainer');
    const gone = await store.remove(['a.bin', 'missing.bin']);
    expect([...gone].sort()).toEqual(['a.bin', 'missing.bin']);
    expect(fake.keys(BUCKET)).toEqual([keyOf('stray.tmp'), keyOf('sub/'), keyOf('sub/b.bin')]);
    await store.removeAll();
    expect(fake.keys(BUCKET)).toEqual([]);
  });

  it('is what openCheckpointStore gives for an s3 config, with the config keys as credentials', async () => {
    const opened = await openCheckpointStore(
      {
        type: 's3',
        bucket: BUCKET,
        prefix: `/${PREFIX}/`,
        endpoint_url: fake.endpoint,
        access_key: 'S3RVER',
        secret_key: 'S3RVER',
        save_trial_best: 1,
      },
      uuid,
    );
    expect(opened.location).toBe(`s3://${BUCKET}/${PREFIX}/${uuid}`);
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    await opened.probe();
    expect(fake.requests.at(-1)?.headers.authorization).toMatch(/Credential=S3RVER\//);
  });

  it('signs every request as S3 checks it: a wrong secret is refused, as S3 would', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    // The fake checks SigV4 signatures independently of the AWS SDK, our GETs' included.
    const good = testStore(fake.endpoint, uuid);
    await good.probe();
    const read = await good.read('a.bin', { range: { start: 0, end: 1 }, signal: never });
    expect((await readAll(read)).toString()).toBe('a');
    const wrong = openS3Store({ ...s3Config(fake.endpoint), secretKey: 'not-the-secret' }, uuid, {
      env: {},
    });
    await expect(wrong.probe()).rejects.toMatchObject({ reason: 'no_access' });
    await expect(wrong.read('a.bin', { signal: never })).rejects.toThrow(/SignatureDoesNotMatch/);
  });
});
