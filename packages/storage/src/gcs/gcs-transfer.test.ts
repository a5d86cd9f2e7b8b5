// The transfer engine reading GCS: parallel ranges pinned to a generation, verified against the
// CRC32Cs GCS keeps, through resets, stalls, throttling, corrupted bytes and rewrites.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeGcs } from '../../test/fake-gcs.js';
import type { FakeGcs, FakeGcsRequest } from '../../test/fake-gcs.js';
import { startFaultProxy } from '../../test/fault-proxy.js';
import {
  BUCKET,
  PREFIX,
  bytes,
  bytesAsked,
  crcOf,
  holds,
  manifestOf,
  mediaGets,
  recordingProgress,
  scratch,
  testGcsStore,
} from '../../test/gcs-helpers.js';
import { IntegrityError, ObjectChangedError, TransientStorageError } from '../errors.js';
import { openRawBody } from '../http/raw-body.js';
import { fetchFiles } from '../transfer/fetch-files.js';
import type { TransferTuning } from '../transfer/fetch-files.js';
import { Journal } from '../transfer/journal.js';
import type { Manifest } from '../transfer/manifest.js';
import type { GcsStore } from './gcs-store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small ranges so a test file of a few hundred KiB takes many requests. */
const TUNING: TransferTuning = {
  connections: 4,
  singleRequestBytes: 64 * KiB,
  rangeBytes: 64 * KiB,
  idleTimeoutMs: 30_000,
};
const RETRY = { attempts: 6, baseDelayMs: 1, maxDelayMs: 5 };

let fake: FakeGcs;
let work: { dir: string; remove: () => Promise<void> };
let uuid: string;
let store: GcsStore;

beforeEach(async () => {
  fake = await startFakeGcs();
  work = await scratch();
  uuid = randomUUID();
  store = testGcsStore(fake.endpoint, uuid);
});

afterEach(async () => {
  await fake.close();
  await work.remove();
});

const nameOf = (path: string): string => `${PREFIX}/${uuid}/${path}`;
const isMediaOf =
  (path: string) =>
  (r: FakeGcsRequest): boolean =>
    r.name === nameOf(path) && r.query.get('alt') === 'media';

function put(files: Record<string, Uint8Array>): void {
  for (const [path, data] of Object.entries(files)) {
    fake.putObject(BUCKET, nameOf(path), data);
  }
}

async function fetchInto(
  manifest: Manifest,
  options: {
    store?: GcsStore;
    tuning?: Partial<TransferTuning>;
    journal?: Journal;
    signal?: AbortSignal;
  } = {},
): Promise<void> {
  const from = options.store ?? store;
  const listing = new Map((await from.list()).map((o) => [o.path, o]));
  await fetchFiles({
    store: from,
    manifest,
    listing,
    dir: work.dir,
    journal: options.journal,
    progress: recordingProgress(manifest.totalBytes).progress,
    retry: RETRY,
    tuning: { ...TUNING, ...options.tuning },
    signal: options.signal ?? new AbortController().signal,
  });
}

describe('fetchFiles from GCS', () => {
  it('fetches a 40 MiB object in parallel ranges pinned to its generation, every byte checked', async () => {
    const data = bytes(40 * MiB + 123);
    const { generation } = fake.putObject(BUCKET, nameOf('model.bin'), data);
    put({ 'metadata.json': Buffer.from('{}') });
    await fetchInto(manifestOf({ 'model.bin': data, 'metadata.json': Buffer.from('{}') }), {
      tuning: { singleRequestBytes: 32 * MiB, rangeBytes: undefined },
    });
    expect(await holds(join(work.dir, 'model.bin'), data)).toBe(true);
    // 8 MiB ranges (two per connection, at least 8 MiB), each asked once, all pinned.
    const gets = mediaGets(fake.requests, nameOf('model.bin'));
    expect(gets).toHaveLength(6);
    expect(gets.every((r) => r.query.get('generation') === generation)).toBe(true);
    expect(gets.every((r) => /^bytes=\d+-\d+$/.test(r.headers.range ?? ''))).toBe(true);
    expect(bytesAsked(fake.requests, nameOf('model.bin'), data.length)).toBe(data.length);
    // The whole-object CRC32C of a ranged file came from one metadata request.
    const heads = fake.requests.filter(
      (r) => r.name === nameOf('model.bin') && r.query.get('alt') !== 'media',
    );
    expect(heads).toHaveLength(1);
  });

  it('resumes a range from the last byte written after resets, short bodies and 5xx', async () => {
    const data = bytes(500 * KiB);
    put({ 'w.bin': data });
    const match = isMediaOf('w.bin');
    fake.inject({ kind: 'reset-after', bytes: 10 * KiB, times: 2, match });
    fake.inject({ kind: 'end-after', bytes: 20 * KiB, times: 1, match });
    fake.inject({ kind: 'status', status: 500, times: 2, match });
    await fetchInto(manifestOf({ 'w.bin': data }));
    expect(await holds(join(work.dir, 'w.bin'), data)).toBe(true);
    expect(fake.pendingFaults()).toBe(0);
    // A retry asks only for what is missing: some range was asked for from mid-way.
    const starts = mediaGets(fake.requests, nameOf('w.bin')).map((r) =>
      Number(/^bytes=(\d+)-/.exec(r.headers.range ?? '')?.[1]),
    );
    expect(starts.some((start) => start % (64 * KiB) !== 0)).toBe(true);
    expect(bytesAsked(fake.requests, nameOf('w.bin'), data.length)).toBeLessThanOrEqual(
      data.length + 5 * 64 * KiB,
    );
  });

  it('completes through 503 and 429 throttling of downloads and listings', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`f${i}.bin`, bytes(8 * KiB)] as const),
    );
    put(files);
    fake.inject({ kind: 'status', status: 503, times: 2, match: (r) => r.name === '' });
    fake.inject({
      kind: 'status',
      status: 503,
      times: 6,
      match: (r) => r.query.get('alt') === 'media',
    });
    fake.inject({
      kind: 'status',
      status: 429,
      times: 2,
      match: (r) => r.query.get('alt') === 'media',
    });
    await fetchInto(manifestOf(files));
    for (const [path, data] of Object.entries(files)) {
      expect(await holds(join(work.dir, path), data), path).toBe(true);
    }
    expect(fake.pendingFaults()).toBe(0);
  });

  it('gives up with a TransientStorageError when GCS keeps failing', async () => {
    put({ 'w.bin': bytes(10) });
    fake.inject({ kind: 'status', status: 500, times: 100, match: isMediaOf('w.bin') });
    const err = await fetchInto(manifestOf({ 'w.bin': bytes(10) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStorageError);
    expect((err as Error).message).toMatch(/500 backendError/);
  });

  it('drops a stalled body after the idle timeout and asks for the rest', async () => {
    const data = bytes(200 * KiB);
    put({ 'w.bin': data });
    fake.inject({ kind: 'stall-after', bytes: 16 * KiB, times: 1, match: isMediaOf('w.bin') });
    await fetchInto(manifestOf({ 'w.bin': data }), { tuning: { idleTimeoutMs: 300 } });
    expect(await holds(join(work.dir, 'w.bin'), data)).toBe(true);
  });

  it('checks a ranged file against the CRC32C GCS keeps when the checkpoint recorded none', async () => {
    const data = bytes(300 * KiB);
    put({ 'w.bin': data });
    // Every ranged GET corrupted: the file fails its check, is fetched again, fails again.
    fake.inject({ kind: 'flip', at: 7, times: 1000, match: isMediaOf('w.bin') });
    const err = await fetchInto(manifestOf({ 'w.bin': data }, { withCrc: false })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(`CRC32C ${crcOf(data)} the store keeps`);
  });

  it('starts a file over when its object is rewritten mid-download, never mixing generations', async () => {
    const before = bytes(400 * KiB);
    const after = bytes(400 * KiB);
    const first = fake.putObject(BUCKET, nameOf('w.bin'), before);
    let gets = 0;
    let second = '';
    fake.inject({
      kind: 'hook',
      times: 1000,
      match: isMediaOf('w.bin'),
      run: () => {
        gets += 1;
        if (gets === 3) {
          second = fake.putObject(BUCKET, nameOf('w.bin'), after).generation;
        }
      },
    });
    // The checkpoint recorded the new bytes: the download must end with exactly those.
    await fetchInto(manifestOf({ 'w.bin': after }));
    expect(await holds(join(work.dir, 'w.bin'), after)).toBe(true);
    // Pinned to the listed generation until it was gone, then (started over) to the new one.
    const pinned = mediaGets(fake.requests, nameOf('w.bin')).map((r) => r.query.get('generation'));
    expect(new Set(pinned.filter((g) => g !== null))).toEqual(new Set([first.generation, second]));
  });

  it('fails with an IntegrityError when the rewritten object is not what the checkpoint recorded', async () => {
    const before = bytes(400 * KiB);
    put({ 'w.bin': before });
    let gets = 0;
    fake.inject({
      kind: 'hook',
      times: 1000,
      match: isMediaOf('w.bin'),
      run: () => {
        gets += 1;
        if (gets === 2) {
          fake.putObject(BUCKET, nameOf('w.bin'), bytes(400 * KiB));
        }
      },
    });
    const err = await fetchInto(manifestOf({ 'w.bin': before })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
  });

  it('gives up on an object that keeps changing', async () => {
    put({ 'w.bin': bytes(300 * KiB) });
    fake.inject({
      kind: 'hook',
      times: 1000,
      match: isMediaOf('w.bin'),
      run: () => void fake.putObject(BUCKET, nameOf('w.bin'), bytes(300 * KiB)),
    });
    const err = await fetchInto(
      manifestOf({ 'w.bin': bytes(300 * KiB) }, { withCrc: false }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectChangedError);
  });

  it('takes up a stopped download from its journal, pinned to the same generation', async () => {
    const data = bytes(1024 * KiB);
    const { generation } = fake.putObject(BUCKET, nameOf('w.bin'), data);
    const manifest = manifestOf({ 'w.bin': data });
    const journalPath = join(work.dir, '.journal');
    const source = `gcs-test#${uuid}`;
    const stop = new AbortController();
    let served = 0;
    fake.inject({
      kind: 'hook',
      times: 1000,
      match: isMediaOf('w.bin'),
      run: () => {
        served += 1;
        if (served === 9) {
          stop.abort(new Error('killed'));
        }
      },
    });
    const first = Journal.open(journalPath, source);
    await expect(
      fetchInto(manifest, { journal: first, signal: stop.signal, tuning: { connections: 1 } }),
    ).rejects.toThrow('killed');
    first.close();
    const askedBefore = bytesAsked(fake.requests, nameOf('w.bin'), data.length);
    const requestsBefore = fake.requests.length;
    const second = Journal.open(journalPath, source);
    await fetchInto(manifest, { journal: second });
    second.close();
    expect(await holds(join(work.dir, 'w.bin'), data)).toBe(true);
    const later = fake.requests.slice(requestsBefore);
    const askedAfter = bytesAsked(later, nameOf('w.bin'), data.length);
    expect(askedAfter).toBeGreaterThan(0);
    expect(askedAfter).toBeLessThanOrEqual(data.length - askedBefore + 64 * KiB);
    expect(
      mediaGets(later, nameOf('w.bin')).every((r) => r.query.get('generation') === generation),
    ).toBe(true);
  });
});

describe('fetchFiles from GCS through a faulty network (fault proxy)', () => {
  const data = bytes(2 * MiB);
  const tuning = { rangeBytes: 256 * KiB };

  it('catches bytes corrupted on the way and fetches the file again', async () => {
    put({ 'w.bin': data });
    // Without keep-alive every GET opens a connection: the first ones (listing, metadata and the
    // first ranges) get a byte flipped past the small JSON answers.
    const proxy = await startFaultProxy(fake.endpoint, { flipAt: 100_000, times: 4 });
    try {
      const through = testGcsStore(proxy.url, uuid, { openBody: openRawBody });
      await fetchInto(manifestOf({ 'w.bin': data }), { store: through, tuning });
      expect(await holds(join(work.dir, 'w.bin'), data)).toBe(true);
      expect(bytesAsked(fake.requests, nameOf('w.bin'), data.length)).toBeGreaterThan(data.length);
    } finally {
      await proxy.close();
    }
  });

  it('fails with an IntegrityError, never keeping corrupted bytes, when every answer is corrupted', async () => {
    put({ 'w.bin': data });
    const proxy = await startFaultProxy(fake.endpoint, { flipAt: 100_000, times: 1000 });
    try {
      const through = testGcsStore(proxy.url, uuid, { openBody: openRawBody });
      const err = await fetchInto(manifestOf({ 'w.bin': data }), { store: through, tuning }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err).toMatchObject({ path: 'w.bin' });
    } finally {
      await proxy.close();
    }
  });

  it('resumes after connections are cut mid-body', async () => {
    put({ 'w.bin': data });
    const proxy = await startFaultProxy(fake.endpoint, { cutAfter: 150_000, times: 6 });
    try {
      const through = testGcsStore(proxy.url, uuid, { openBody: openRawBody });
      await fetchInto(manifestOf({ 'w.bin': data }), { store: through, tuning });
      expect(await holds(join(work.dir, 'w.bin'), data)).toBe(true);
      expect(proxy.exchanges.filter((e) => e.status === 206).length).toBeGreaterThan(8);
    } finally {
      await proxy.close();
    }
  });
});
