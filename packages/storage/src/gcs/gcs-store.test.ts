import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeGcs } from '../../test/fake-gcs.js';
import type { FakeGcs } from '../../test/fake-gcs.js';
import {
  BUCKET,
  PREFIX,
  bytes,
  crcOf,
  gcsConfig,
  gcsEnv,
  mediaGets,
  testGcsStore,
} from '../../test/gcs-helpers.js';
import type { BodyOpener } from '../common.js';
import { IntegrityError, ObjectChangedError, StorageError } from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { openCheckpointStore } from '../open.js';
import type { GcsStore } from './gcs-store.js';
import { openGcsStore } from './open-gcs.js';

let fake: FakeGcs;
let uuid: string;
let store: GcsStore;
const never = new AbortController().signal;

beforeEach(async () => {
  fake = await startFakeGcs();
  uuid = randomUUID();
  store = testGcsStore(fake.endpoint, uuid);
});

afterEach(async () => {
  await fake.close();
});

const nameOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

async function readAll(read: { body: AsyncIterable<Uint8Array> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of read.body) {
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('GcsStore: layout and listing', () => {
  it('lays a checkpoint out as Determined does: <prefix>/<uuid>/<path>, directory markers as directories', async () => {
    const model = fake.putObject(BUCKET, nameOf('model.bin'), 'weights');
    fake.putObject(BUCKET, nameOf('sub/'), '');
    fake.putObject(BUCKET, nameOf('sub/x.json'), '{}');
    fake.putObject(BUCKET, nameOf(''), ''); // a marker for the checkpoint directory itself
    fake.putObject(BUCKET, `${PREFIX}/${uuid}-other/model.bin`, 'not ours');
    expect(store.location).toBe(`gs://${BUCKET}/${PREFIX}/${uuid}`);
    const listed = await store.list();
    expect(listed.map((o) => [o.path, o.size])).toEqual([
      ['model.bin', 7],
      ['sub/', 0],
      ['sub/x.json', 2],
    ]);
    // The version is the generation; the listing carries each object's CRC32C.
    expect(listed[0]).toMatchObject({
      version: model.generation,
      crc32c: crcOf(Buffer.from('weights')),
    });
    expect(listed[0]?.mtimeMs).toBe(model.updated.getTime());
    expect(listed[1]?.version).toBeUndefined();
    expect(listed[1]?.crc32c).toBeUndefined();
    // An emulator gets no credentials.
    expect(fake.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('lists past a page, in order', async () => {
    const names = Array.from({ length: 234 }, (_, i) => `f/${String(i).padStart(5, '0')}`);
    for (const name of names) {
      fake.putObject(BUCKET, nameOf(name), 'x');
    }
    expect((await store.list()).map((o) => o.path)).toEqual(names);
    const pages = fake.requests.filter((r) => r.method === 'GET' && r.name === '');
    expect(pages.map((r) => r.query.has('pageToken'))).toEqual([false, true, true]);
    expect(pages.every((r) => r.query.get('prefix') === `${PREFIX}/${uuid}/`)).toBe(true);
  });

  it('puts the checkpoint at the bucket root when the prefix is empty', async () => {
    const rooted = openGcsStore(gcsConfig(''), uuid, { env: gcsEnv(fake.endpoint) });
    fake.putObject(BUCKET, `${uuid}/a.bin`, 'a');
    expect(rooted.location).toBe(`gs://${BUCKET}/${uuid}`);
    expect((await rooted.list()).map((o) => o.path)).toEqual(['a.bin']);
  });

  it('takes a bare host:port STORAGE_EMULATOR_HOST as plain HTTP', async () => {
    const bare = openGcsStore(gcsConfig(), uuid, {
      env: { STORAGE_EMULATOR_HOST: new URL(fake.endpoint).host },
    });
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    expect((await bare.list()).map((o) => o.path)).toEqual(['a.bin']);
    expect((await readAll(await bare.read('a.bin', { signal: never }))).toString()).toBe('a');
  });

  it('refuses an object name that would climb out of the download', async () => {
    fake.putObject(BUCKET, nameOf('../escape.bin'), 'x');
    await expect(store.list()).rejects.toThrow(IntegrityError);
  });

  it('reads names that need escaping (spaces, unicode, reserved characters)', async () => {
    const name = "dir with space/é (1)!*'#?%+&=.bin";
    fake.putObject(BUCKET, nameOf(name), 'odd');
    expect((await store.list()).map((o) => o.path)).toEqual([name]);
    expect((await readAll(await store.read(name, { signal: never }))).toString()).toBe('odd');
    expect((await store.head(name))?.size).toBe(3);
  });

  it('retries a listing through 503s and 500s', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    fake.inject({ kind: 'status', status: 503, times: 2 });
    fake.inject({ kind: 'status', status: 500, times: 1 });
    expect((await store.list()).map((o) => o.path)).toEqual(['a.bin']);
    expect(fake.pendingFaults()).toBe(0);
    expect(fake.requests).toHaveLength(4);
  });
});

describe('GcsStore: reads', () => {
  it('reads whole objects with their CRC32C from x-goog-hash, and exact ranges pinned to a generation', async () => {
    const data = bytes(10_000);
    const stored = fake.putObject(BUCKET, nameOf('w.bin'), data);
    const whole = await store.read('w.bin', { withChecksum: true, signal: never });
    expect(whole).toMatchObject({ size: 10_000, version: stored.generation, crc32c: crcOf(data) });
    expect((await readAll(whole)).equals(data)).toBe(true);
    const part = await store.read('w.bin', {
      range: { start: 100, end: 250 },
      version: whole.version,
      signal: never,
    });
    expect(part).toMatchObject({ size: 10_000, version: stored.generation, crc32c: undefined });
    expect((await readAll(part)).equals(data.subarray(100, 250))).toBe(true);
    const last = mediaGets(fake.requests, nameOf('w.bin')).at(-1);
    expect(last?.headers.range).toBe('bytes=100-249');
    expect(last?.query.get('generation')).toBe(stored.generation);
    expect(last?.headers.authorization).toBeUndefined();
  });

  it('says an object changed when its generation is gone, never serving the new bytes', async () => {
    fake.putObject(BUCKET, nameOf('w.bin'), 'one');
    const { version } = await store.read('w.bin', { signal: never });
    fake.putObject(BUCKET, nameOf('w.bin'), 'two');
    const err = await store
      .read('w.bin', { range: { start: 0, end: 2 }, version, signal: never })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectChangedError);
    expect((err as Error).message).toContain(`generation ${version} is gone`);
  });

  it('refuses an answer that is not the range asked for', async () => {
    fake.putObject(BUCKET, nameOf('w.bin'), bytes(1000));
    // A transport that loses the Range header: the whole object comes back, with a 200.
    const lossy: BodyOpener = (url, init) => {
      const { range: _range, ...headers } = init.headers;
      return openKeptAliveBody(url, { ...init, headers });
    };
    const leaky = testGcsStore(fake.endpoint, uuid, { openBody: lossy });
    const err = await leaky
      .read('w.bin', { range: { start: 10, end: 20 }, signal: never })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/asked for bytes 10-19, got 200/);
  });

  it('reads the stored bytes of a gzip-encoded object, whose size and CRC32C describe them', async () => {
    const gz = gzipSync(Buffer.from('hello '.repeat(1000)));
    fake.putObject(BUCKET, nameOf('log.txt'), gz, { contentEncoding: 'gzip' });
    const [listed] = await store.list();
    const read = await store.read('log.txt', { withChecksum: true, signal: never });
    expect(read.size).toBe(gz.length);
    expect(read.crc32c).toBe(listed?.crc32c);
    expect((await readAll(read)).equals(gz)).toBe(true);
    const part = await store.read('log.txt', { range: { start: 5, end: 15 }, signal: never });
    expect((await readAll(part)).equals(gz.subarray(5, 15))).toBe(true);
  });

  it('heads an object: size, generation and CRC32C; undefined when missing', async () => {
    const data = bytes(300);
    const stored = fake.putObject(BUCKET, nameOf('w.bin'), data);
    expect(await store.head('w.bin')).toEqual({
      path: 'w.bin',
      size: 300,
      version: stored.generation,
      crc32c: crcOf(data),
      mtimeMs: stored.updated.getTime(),
    });
    expect(await store.head('missing.bin')).toBeUndefined();
  });

  it('fails a read of a missing object with a StorageError, not retried', async () => {
    const err = await store.read('missing.bin', { signal: never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/404 no such object/);
    expect(mediaGets(fake.requests, nameOf('missing.bin'))).toHaveLength(1);
  });
});

describe('GcsStore: probe', () => {
  it('finds a checkpoint with no objects not_found', async () => {
    await expect(store.probe()).rejects.toMatchObject({
      name: 'StorageUnreachableError',
      reason: 'not_found',
    });
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    await store.probe();
  });

  it('finds access denied no_access, naming credentials, and a missing bucket not_found', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    fake.inject({ kind: 'status', status: 403, times: 1 });
    const err = await store.probe().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StorageUnreachableError', reason: 'no_access' });
    expect((err as Error).message).toMatch(/credentials are missing or access was denied/);
    fake.inject({
      kind: 'status',
      status: 401,
      times: 1,
      match: (r) => r.query.get('alt') === 'media',
    });
    await expect(store.read('a.bin', { signal: never })).rejects.toMatchObject({
      reason: 'no_access',
    });
    const other = openGcsStore({ ...gcsConfig(), bucket: 'no-such-bucket' }, uuid, {
      env: gcsEnv(fake.endpoint),
    });
    await expect(other.probe()).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('finds an endpoint nobody listens on no_access (no route), without hanging', async () => {
    const closed = openGcsStore(gcsConfig(), uuid, {
      env: gcsEnv(`http://127.0.0.1:${await closedPort()}`),
    });
    await expect(closed.probe()).rejects.toMatchObject({ reason: 'no_access' });
  });
});

describe('GcsStore: deletes', () => {
  it('deletes named objects (missing ones count as deleted) and whole checkpoints', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    fake.putObject(BUCKET, nameOf('sub/'), '');
    fake.putObject(BUCKET, nameOf('sub/b.bin'), 'b');
    for (let i = 0; i < 20; i += 1) {
      fake.putObject(BUCKET, nameOf(`many/${i}.bin`), 'm');
    }
    fake.putObject(BUCKET, nameOf('stray.tmp'), 'left by a trainer');
    fake.putObject(BUCKET, `${PREFIX}/${uuid}-other/a.bin`, 'not ours');
    const gone = await store.remove(['a.bin', 'missing.bin', 'sub/b.bin']);
    expect([...gone].sort()).toEqual(['a.bin', 'missing.bin', 'sub/b.bin']);
    expect(fake.names(BUCKET)).toContain(nameOf('sub/'));
    expect(fake.names(BUCKET)).not.toContain(nameOf('a.bin'));
    await store.removeAll();
    expect(fake.names(BUCKET)).toEqual([`${PREFIX}/${uuid}-other/a.bin`]);
  });

  it('leaves out of the result what it could not delete, and removeAll says so', async () => {
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    fake.putObject(BUCKET, nameOf('b.bin'), 'b');
    const refuse = (r: { method: string; name: string }): boolean =>
      r.method === 'DELETE' && r.name === nameOf('b.bin');
    fake.inject({ kind: 'status', status: 400, times: 2, match: refuse });
    expect([...(await store.remove(['a.bin', 'b.bin']))]).toEqual(['a.bin']);
    const err = await store.removeAll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/1 of 1 objects could not be deleted/);
    expect(fake.names(BUCKET)).toEqual([nameOf('b.bin')]);
  });
});

describe('openCheckpointStore (gcs)', () => {
  it('opens a gcs store at the emulator its env names', async () => {
    const opened = await openCheckpointStore(
      { type: 'gcs', bucket: BUCKET, prefix: `/${PREFIX}/`, save_trial_best: 1 },
      uuid,
      { env: gcsEnv(fake.endpoint) },
    );
    expect(opened.type).toBe('gcs');
    expect(opened.location).toBe(`gs://${BUCKET}/${PREFIX}/${uuid}`);
    fake.putObject(BUCKET, nameOf('a.bin'), 'a');
    await opened.probe();
    expect((await opened.list()).map((o) => o.path)).toEqual(['a.bin']);
  });
});
