// The client side of presigned downloads, against URLs the S3 store signs for the fake S3: what
// a listing answers, when listings are fetched anew, and how answers are classified.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../test/fake-s3.js';
import type { FakeS3 } from '../../test/fake-s3.js';
import { recordingOpener, testSource } from '../../test/presigned-helpers.js';
import type { RecordedGet, TestSourceOptions } from '../../test/presigned-helpers.js';
import {
  BUCKET,
  PREFIX,
  bytes,
  holds,
  manifestOf,
  recordingProgress,
  scratch,
  testStore,
} from '../../test/s3-helpers.js';
import type { CheckpointStore, ObjectRead } from '../backend.js';
import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import type { S3Store } from '../s3/s3-store.js';
import { fetchCheckpoint } from '../transfer/fetch-checkpoint.js';
import { openPresignedStore } from './presigned-store.js';
import type { PresignedSource } from './presigned-store.js';

const MiB = 1024 * 1024;
const never = new AbortController().signal;

let fake: FakeS3;
let uuid: string;
let signer: S3Store;
let gets: RecordedGet[];
/** The clock of the master and of the client alike. */
let clock: number;

beforeEach(async () => {
  fake = await startFakeS3({ shouldRequireAuth: true });
  uuid = randomUUID();
  signer = testStore(fake.endpoint, uuid);
  gets = [];
  clock = Date.now();
});

afterEach(async () => {
  await fake.close();
});

const keyOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;

/** The presigned store of the checkpoint, its listings expiring `lifetimeS` after `clock`. */
async function open(
  options: TestSourceOptions = {},
): Promise<{ store: CheckpointStore; calls: () => number }> {
  const source = testSource(signer, { clock: () => clock, ...options });
  const recorder = recordingOpener(openKeptAliveBody);
  gets = recorder.gets;
  const store = await openPresignedStore(source.source, {
    openBody: recorder.openBody,
    now: () => clock,
  });
  return { store, calls: () => source.calls };
}

async function text(read: ObjectRead): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of read.body) {
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString();
}

function readAll(store: CheckpointStore, path: string): Promise<string> {
  return store.read(path, { signal: never }).then(text);
}

describe('openPresignedStore', () => {
  it('lists and heads from the listing, never showing its URLs', async () => {
    fake.putObject(BUCKET, keyOf('b.bin'), 'bb');
    fake.putObject(BUCKET, keyOf('a/'), '');
    fake.putObject(BUCKET, keyOf('a/x.json'), '{}');
    const { store, calls } = await open();
    expect(store.type).toBe('s3');
    expect(store.location).toBe(signer.location);
    await store.probe();
    const listed = await store.list();
    expect(listed.map((o) => [o.path, o.size])).toEqual([
      ['a/', 0],
      ['a/x.json', 2],
      ['b.bin', 2],
    ]);
    expect(listed.every((o) => !('url' in o))).toBe(true);
    const head = await store.head?.('b.bin');
    expect(head).toMatchObject({ path: 'b.bin', size: 2 });
    expect(head?.version).toBe(fake.getObject(BUCKET, keyOf('b.bin')).etag);
    expect(head).not.toHaveProperty('url');
    expect(await store.head?.('missing.bin')).toBeUndefined();
    expect(await readAll(store, 'b.bin')).toBe('bb');
    expect(calls()).toBe(1);
    expect(gets).toHaveLength(1); // listing, heads and probes come from the one listing
  });

  it('probes not_found for a checkpoint without objects', async () => {
    const { store } = await open();
    await expect(store.probe()).rejects.toMatchObject({
      name: 'StorageUnreachableError',
      reason: 'not_found',
      storageType: 's3',
    });
  });

  it('fetches listings of short-lived URLs at most once per half their lifetime', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { store, calls } = await open({ lifetimeS: 10 });
    // Ten seconds of URLs, less than the minute of margin: fetched anew after five, not at once.
    const start = clock;
    for (const atMs of [0, 2_000, 4_900]) {
      clock = start + atMs;
      expect(await readAll(store, 'a.bin')).toBe('a');
    }
    expect(calls()).toBe(1);
    clock = start + 5_000;
    expect(await readAll(store, 'a.bin')).toBe('a');
    expect(calls()).toBe(2);
  });

  it('shares one fresh listing among the reads that wait for it', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { store, calls } = await open({
      beforeListing: (n) => (n === 2 ? gate : undefined),
    });
    clock += 590_000;
    const reads = Array.from({ length: 5 }, () => readAll(store, 'a.bin'));
    release();
    expect(await Promise.all(reads)).toEqual(['a', 'a', 'a', 'a', 'a']);
    expect(calls()).toBe(2);
  });

  it('fails the read with the source’s error when no fresh listing can be had', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const down = new Error('the master is down');
    const { store } = await open({
      beforeListing: (n) => {
        if (n > 1) {
          throw down;
        }
      },
    });
    clock += 590_000;
    await expect(readAll(store, 'a.bin')).rejects.toBe(down);
  });

  it('says an object changed when the listing has another version than the one asked for', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { store } = await open();
    const read = store.read('a.bin', { version: '"not-its-etag"', signal: never });
    await expect(read).rejects.toBeInstanceOf(ObjectChangedError);
    expect(gets).toHaveLength(0);
  });

  it('fetches a fresh listing once a 412 shows the object rewritten; the engine starts the file over', async () => {
    const before = bytes(12 * MiB);
    const after = bytes(12 * MiB);
    fake.putObject(BUCKET, keyOf('model.bin'), before);
    const { store, calls } = await open();
    let seen = 0;
    fake.inject({
      kind: 'hook',
      times: 1,
      match: (r) => r.method === 'GET' && r.key === keyOf('model.bin') && ++seen === 2,
      run: () => {
        fake.putObject(BUCKET, keyOf('model.bin'), after);
      },
    });
    const work = await scratch();
    try {
      const manifest = manifestOf({ 'model.bin': after }, { withCrc: false });
      await fetchCheckpoint({
        store,
        manifest,
        dir: work.dir,
        journal: undefined,
        progress: recordingProgress(manifest.totalBytes).progress,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        tuning: {
          connections: 1,
          singleRequestBytes: MiB,
          rangeBytes: 4 * MiB,
          idleTimeoutMs: 30_000,
        },
        signal: never,
      });
      expect(await holds(join(work.dir, 'model.bin'), after)).toBe(true);
    } finally {
      await work.remove();
    }
    expect(gets.map((g) => g.status)).toEqual([206, 412, 206, 206, 206]);
    const newEtag = fake.getObject(BUCKET, keyOf('model.bin')).etag;
    expect(gets.slice(2).every((g) => g.ifMatch === newEtag)).toBe(true);
    expect(calls()).toBe(2);
  });

  it('passes throttling and server errors on as transient, other refusals as they are', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { store } = await open();
    fake.inject({ kind: 'status', status: 503, times: 1 });
    await expect(readAll(store, 'a.bin')).rejects.toMatchObject({
      name: 'TransientStorageError',
      isThrottled: true,
    });
    fake.inject({ kind: 'status', status: 500, times: 1 });
    const err = await readAll(store, 'a.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStorageError);
    expect(err).toMatchObject({ isThrottled: false });
    fake.inject({ kind: 'status', status: 400, times: 1 });
    const bad = await readAll(store, 'a.bin').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(StorageError);
    expect(bad).not.toBeInstanceOf(TransientStorageError);
    expect(bad).not.toBeInstanceOf(StorageUnreachableError);
  });

  it('is read-only', async () => {
    fake.putObject(BUCKET, keyOf('a.bin'), 'a');
    const { store } = await open();
    await expect(store.remove(['a.bin'])).rejects.toBeInstanceOf(StorageError);
    await expect(store.removeAll()).rejects.toBeInstanceOf(StorageError);
    expect(fake.keys(BUCKET)).toEqual([keyOf('a.bin')]);
  });

  it('refuses a listing with a URL that is not http(s), without echoing it', async () => {
    const source: PresignedSource = () =>
      Promise.resolve({
        storageType: 's3',
        location: 's3://b/p',
        expiresAtMs: Date.now() + 60_000,
        objects: [{ path: 'a.bin', size: 1, version: undefined, url: 'ftp://user:secret@host/a' }],
      });
    const err = await openPresignedStore(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toContain('s3://b/p/a.bin');
    expect((err as Error).message).not.toContain('secret');
  });
});
