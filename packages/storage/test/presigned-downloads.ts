// The downloads every signing store must support through presigned URLs: the transfer engine
// reading a store opened with openPresignedStore, whose URLs the store under test signed. Each
// store's test file runs these against its server (fake S3, fake GCS, azurite).
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { CheckpointStore } from '../src/backend.js';
import type { BodyOpener } from '../src/common.js';
import { StorageUnreachableError } from '../src/errors.js';
import { openPresignedStore } from '../src/presigned/presigned-store.js';
import type { PresignedStoreOptions } from '../src/presigned/presigned-store.js';
import { fetchCheckpoint } from '../src/transfer/fetch-checkpoint.js';
import type { TransferTuning } from '../src/transfer/fetch-files.js';
import type { Manifest } from '../src/transfer/manifest.js';
import { ProgressReporter } from '../src/transfer/progress.js';
import type { TransferEvent } from '../src/transfer/progress.js';
import { recordingOpener, testSource } from './presigned-helpers.js';
import type { RecordedGet, TestSource, TestSourceOptions } from './presigned-helpers.js';
import { bytes, holds, manifestOf, scratch } from './s3-helpers.js';

const MiB = 1024 * 1024;
const TUNING: TransferTuning = {
  connections: 4,
  singleRequestBytes: MiB,
  rangeBytes: 4 * MiB,
  idleTimeoutMs: 30_000,
};
const RETRY = { attempts: 6, baseDelayMs: 5, maxDelayMs: 50 };

/** A checkpoint in the store under test, and what clients need to read it. */
export interface PresignBackend {
  /** The store that signs (what the master opens), of a fresh checkpoint. */
  signer: CheckpointStore;
  /** Writes (or rewrites) object `path` of the checkpoint. */
  put(path: string, data: Uint8Array): Promise<void>;
  /**
   * Readies a refusal and returns what arms it: from then on, the next `times` GETs of object
   * `path` are answered 403 by the store's side (the fake, or a proxy in front of it).
   */
  refusal(path: string, times: number): Promise<() => void>;
  /** The transport clients read with. */
  openBody: BodyOpener;
  close(): Promise<void>;
}

/** Runs `action` once, the first time the download has written `bytes` bytes. */
function progressAfter(
  totalBytes: number,
  bytes: number,
  action: () => void,
): { progress: ProgressReporter; events: TransferEvent[] } {
  const events: TransferEvent[] = [];
  let hasRun = false;
  const progress = new ProgressReporter(
    (e) => {
      events.push(e);
      if (!hasRun && e.type === 'progress' && e.bytes >= bytes) {
        hasRun = true;
        action();
      }
    },
    totalBytes,
    0,
    Date.now,
  );
  return { progress, events };
}

export function describePresignedDownloads(
  name: string,
  open: () => Promise<PresignBackend>,
): void {
  describe(`presigned downloads from ${name}`, () => {
    let backend: PresignBackend;
    let work: { dir: string; remove: () => Promise<void> };
    let gets: RecordedGet[];
    let openBody: BodyOpener;

    beforeEach(async () => {
      backend = await open();
      work = await scratch();
      ({ openBody, gets } = recordingOpener(backend.openBody));
    });

    afterEach(async () => {
      await backend.close();
      await work.remove();
    });

    async function presigned(
      options: TestSourceOptions = {},
      storeOptions: PresignedStoreOptions = {},
    ): Promise<{ store: CheckpointStore; source: TestSource }> {
      const source = testSource(backend.signer, options);
      const store = await openPresignedStore(source.source, { openBody, ...storeOptions });
      return { store, source };
    }

    function download(
      store: CheckpointStore,
      manifest: Manifest,
      progress: ProgressReporter,
      tuning: Partial<TransferTuning> = {},
    ): Promise<void> {
      return fetchCheckpoint({
        store,
        manifest,
        dir: work.dir,
        journal: undefined,
        progress,
        retry: RETRY,
        tuning: { ...TUNING, ...tuning },
        signal: new AbortController().signal,
      });
    }

    const modelGets = (): RecordedGet[] =>
      gets.filter((g) => new URL(g.url).pathname.endsWith('/model.bin'));

    it('downloads a 40 MiB object in parallel ranges, byte-exact and verified', async () => {
      const files = { 'model.bin': bytes(40 * MiB + 123), 'metadata.json': Buffer.from('{}') };
      for (const [path, data] of Object.entries(files)) {
        await backend.put(path, data);
      }
      const { store, source } = await presigned();
      expect(store.type).toBe(backend.signer.type);
      expect(store.location).toBe(backend.signer.location);
      const manifest = manifestOf(files);
      await download(store, manifest, progressAfter(manifest.totalBytes, 0, () => {}).progress);
      expect(await holds(join(work.dir, 'model.bin'), files['model.bin'])).toBe(true);
      expect(await holds(join(work.dir, 'metadata.json'), files['metadata.json'])).toBe(true);
      const ranges = modelGets().map((g) => g.range);
      expect(ranges).toHaveLength(11); // 4 MiB ranges, each asked once
      expect(new Set(ranges).size).toBe(11);
      expect(modelGets().every((g) => g.status === 206)).toBe(true);
      expect(source.calls).toBe(1);
    });

    it('fetches fresh URLs before the listing expires, mid-download', async () => {
      const data = bytes(24 * MiB);
      await backend.put('model.bin', data);
      let clock = Date.now();
      const { store, source } = await presigned(
        { clock: () => clock, lifetimeS: 600 },
        { now: () => clock },
      );
      const manifest = manifestOf({ 'model.bin': data });
      // Most of the URLs' lifetime passes once a few MiB are in: the next request refreshes.
      const { progress } = progressAfter(manifest.totalBytes, 2 * MiB, () => {
        clock += 590_000;
      });
      await download(store, manifest, progress);
      expect(await holds(join(work.dir, 'model.bin'), data)).toBe(true);
      expect(source.calls).toBe(2);
      const urlsOf = (n: number): string | undefined =>
        source.listings[n]?.objects.find((o) => o.path === 'model.bin')?.url;
      const used = new Set(modelGets().map((g) => g.url));
      expect(used).toEqual(new Set([urlsOf(0), urlsOf(1)]));
      expect(modelGets().every((g) => g.status === 206)).toBe(true);
    });

    it('fetches fresh URLs once when one is refused mid-download, and asks the same range again', async () => {
      const data = bytes(24 * MiB);
      await backend.put('model.bin', data);
      const arm = await backend.refusal('model.bin', 1);
      const { store, source } = await presigned();
      const manifest = manifestOf({ 'model.bin': data });
      await download(store, manifest, progressAfter(manifest.totalBytes, 2 * MiB, arm).progress);
      expect(await holds(join(work.dir, 'model.bin'), data)).toBe(true);
      expect(source.calls).toBe(2);
      const refused = modelGets().filter((g) => g.status === 403);
      expect(refused).toHaveLength(1);
      const again = modelGets().filter((g) => g.range === refused[0]?.range && g.status === 206);
      expect(again).toHaveLength(1);
      expect(gets.indexOf(again[0] as RecordedGet)).toBeGreaterThan(
        gets.indexOf(refused[0] as RecordedGet),
      );
    });

    it('fails no_access when fresh URLs are refused too', async () => {
      await backend.put('model.bin', bytes(MiB));
      const arm = await backend.refusal('model.bin', 2);
      const { store, source } = await presigned();
      arm();
      const err = await store
        .read('model.bin', {
          range: { start: 0, end: 1000 },
          signal: new AbortController().signal,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageUnreachableError);
      expect(err).toMatchObject({ reason: 'no_access', storageType: backend.signer.type });
      expect(source.calls).toBe(2);
      expect(modelGets().map((g) => g.status)).toEqual([403, 403]);
    });

    it('starts a file over when a fresh listing shows its object rewritten, never mixing versions', async () => {
      const before = bytes(16 * MiB);
      const after = bytes(16 * MiB);
      await backend.put('model.bin', before);
      let clock = Date.now();
      const { store, source } = await presigned(
        {
          clock: () => clock,
          beforeListing: (n) => (n === 2 ? backend.put('model.bin', after) : undefined),
        },
        { now: () => clock },
      );
      const manifest = manifestOf({ 'model.bin': after }, { withCrc: false });
      const { progress, events } = progressAfter(manifest.totalBytes, MiB, () => {
        clock += 590_000;
      });
      await download(store, manifest, progress, { connections: 2 });
      expect(await holds(join(work.dir, 'model.bin'), after)).toBe(true);
      expect(source.calls).toBe(2);
      const versions = source.listings.map(
        (l) => l.objects.find((o) => o.path === 'model.bin')?.version,
      );
      expect(versions[0]).not.toBe(versions[1]);
      // The bytes of the first version were taken back: the file started over.
      const counts = events.flatMap((e) => (e.type === 'progress' ? [e.bytes] : []));
      expect(counts.some((n, i) => i > 0 && n < (counts[i - 1] ?? 0))).toBe(true);
    });
  });
}
