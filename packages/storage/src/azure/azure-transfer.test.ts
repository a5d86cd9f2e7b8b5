// The transfer engine on the azure store, against azurite, with a proxy that breaks the data
// plane's connections: every download completes with every byte checked, or fails typed.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { azureConfig, bodiesThrough, putDeterminedCheckpoint } from '../../test/azure-helpers.js';
import { createContainer, startAzurite } from '../../test/azurite.js';
import type { AzuriteHandle } from '../../test/azurite.js';
import { startFaultProxy } from '../../test/fault-proxy.js';
import type { Exchange, Fault } from '../../test/fault-proxy.js';
import {
  bytes,
  crcOf,
  holds,
  manifestOf,
  recordingProgress,
  scratch,
} from '../../test/s3-helpers.js';
import type { BodyOpener } from '../common.js';
import { IntegrityError } from '../errors.js';
import { rawBodyOpener } from '../http/raw-body.js';
import { openCheckpointStore } from '../open.js';
import { fetchCheckpoint } from '../transfer/fetch-checkpoint.js';
import type { TransferTuning } from '../transfer/fetch-files.js';
import type { Manifest } from '../transfer/manifest.js';
import { uploadFiles } from '../transfer/upload-files.js';
import { AZURE_API_VERSION } from './azure-sas.js';
import type { AzureStore } from './azure-store.js';
import { openAzureStore } from './open-azure.js';

const MiB = 1024 * 1024;
const RANGE = 4 * MiB;
const TUNING: TransferTuning = {
  connections: 4,
  singleRequestBytes: MiB,
  rangeBytes: RANGE,
  idleTimeoutMs: 30_000,
};
const RETRY = { attempts: 6, baseDelayMs: 5, maxDelayMs: 50 };

const FILES = {
  'model.bin': bytes(40 * MiB + 123),
  'tokenizer.json': bytes(20_000),
  'sub/config.json': Buffer.from('{"layers":2}'),
};
const MODEL = FILES['model.bin'];

let azurite: AzuriteHandle;
let container: ContainerClient;
let work: { dir: string; remove: () => Promise<void> };
/** The checkpoint uploadFiles wrote, and what it returned. */
const uuid = randomUUID();
let uploadedCrcs: Record<string, string>;

beforeAll(async () => {
  azurite = await startAzurite();
  container = await createContainer(azurite);
  work = await scratch();
  uploadedCrcs = await uploadFiles({
    writer: openAzureStore(azureConfig(azurite, container.containerName), uuid),
    files: Object.entries(FILES).map(([path, data]) => ({ path, size: data.length, bytes: data })),
    dirs: ['sub/', 'empty/'],
    tuning: { connections: 4, singleRequestBytes: 8 * MiB, minPartBytes: 8 * MiB },
    retry: RETRY,
  });
}, 60_000);

afterAll(async () => {
  await azurite.close();
  await work.remove();
});

/** The uploaded checkpoint's store, its blob bodies read through `openBody`. */
function storeVia(openBody: BodyOpener, of = uuid): AzureStore {
  return openAzureStore(azureConfig(azurite, container.containerName), of, { openBody });
}

async function fetchInto(
  store: AzureStore,
  manifest: Manifest,
  options: { tuning?: Partial<TransferTuning>; signal?: AbortSignal } = {},
): Promise<string> {
  const dir = join(work.dir, randomUUID());
  await mkdir(dir);
  await fetchCheckpoint({
    store,
    manifest,
    dir,
    journal: undefined,
    progress: recordingProgress(manifest.totalBytes).progress,
    retry: RETRY,
    tuning: { ...TUNING, ...options.tuning },
    signal: options.signal ?? new AbortController().signal,
  });
  return dir;
}

/** Fetches `manifest` with blob bodies through a proxy with `fault`; returns the dir or the error. */
async function fetchThrough(
  fault: Fault & { times: number },
  manifest: Manifest,
  tuning: Partial<TransferTuning> = {},
): Promise<{ dir: string | undefined; error: unknown; exchanges: Exchange[] }> {
  const proxy = await startFaultProxy(azurite.blobEndpoint, fault);
  try {
    const dir = await fetchInto(storeVia(bodiesThrough(azurite, proxy.url)), manifest, { tuning });
    return { dir, error: undefined, exchanges: proxy.exchanges };
  } catch (error: unknown) {
    return { dir: undefined, error, exchanges: proxy.exchanges };
  } finally {
    await proxy.close();
  }
}

/** The byte ranges the GETs asked for, `[first, last]`, in the order they were sent. */
function rangesAsked(exchanges: readonly Exchange[]): [number, number][] {
  return exchanges.flatMap((e) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(e.requestHeaders?.get('x-ms-range') ?? '');
    return m === null ? [] : [[Number(m[1]), Number(m[2])] as [number, number]];
  });
}

const modelOnly = (withCrc: boolean): Manifest => manifestOf({ 'model.bin': MODEL }, { withCrc });

describe('azure checkpoints through the transfer engine', () => {
  it('uploads with uploadFiles: small files in one Put Blob, large ones in blocks, all with their CRC32C', async () => {
    expect(uploadedCrcs).toEqual(
      Object.fromEntries(Object.entries(FILES).map(([path, data]) => [path, crcOf(data)])),
    );
    const model = container.getBlockBlobClient(`${uuid}/model.bin`);
    expect((await model.getProperties()).metadata).toEqual({ crc32c: crcOf(MODEL) });
    const blocks = (await model.getBlockList('committed')).committedBlocks ?? [];
    expect(blocks.map((b) => b.size)).toEqual([...Array<number>(5).fill(8 * MiB), 123]);
    const tokenizer = container.getBlockBlobClient(`${uuid}/tokenizer.json`);
    expect((await tokenizer.getBlockList('committed')).committedBlocks).toEqual([]);
    const listed = await storeVia(rawBodyOpener()).list();
    expect(listed.map((o) => [o.path, o.size, o.crc32c])).toEqual([
      ['empty/', 0, undefined],
      ['model.bin', MODEL.length, crcOf(MODEL)],
      ['sub/', 0, undefined],
      ['sub/config.json', FILES['sub/config.json'].length, crcOf(FILES['sub/config.json'])],
      ['tokenizer.json', FILES['tokenizer.json'].length, crcOf(FILES['tokenizer.json'])],
    ]);
  });

  it('downloads in parallel ranges pinned to the ETag, checked against the metadata CRC32C', async () => {
    const manifest = manifestOf(FILES, { withCrc: false, dirs: ['empty/'] });
    const { dir, error, exchanges } = await fetchThrough({ times: 0 }, manifest);
    expect(error).toBeUndefined();
    for (const [path, data] of Object.entries(FILES)) {
      expect(await holds(join(dir ?? '', path), data), path).toBe(true);
    }
    expect((await stat(join(dir ?? '', 'empty'))).isDirectory()).toBe(true);
    const etag = (await container.getBlobClient(`${uuid}/model.bin`).getProperties()).etag;
    const ranged = exchanges.filter((e) => e.requestHeaders?.has('x-ms-range') === true);
    expect(ranged).toHaveLength(Math.ceil(MODEL.length / RANGE));
    expect(ranged.every((e) => e.requestHeaders?.get('if-match') === etag)).toBe(true);
    expect(ranged.every((e) => e.status === 206)).toBe(true);
    expect(
      exchanges.every((e) => e.requestHeaders?.get('x-ms-version') === AZURE_API_VERSION),
    ).toBe(true);
    // Small files: one whole GET each.
    expect(exchanges.length - ranged.length).toBe(2);
  });

  it('fetches a file again when one answer had a flipped byte, then checks it', async () => {
    const { dir, error, exchanges } = await fetchThrough(
      { flipAt: 100_000, times: 1 },
      modelOnly(false),
    );
    expect(error).toBeUndefined();
    expect(await holds(join(dir ?? '', 'model.bin'), MODEL)).toBe(true);
    expect(rangesAsked(exchanges)).toHaveLength(2 * Math.ceil(MODEL.length / RANGE));
  });

  it("fails with an IntegrityError when every answer is corrupted, caught by the blob's metadata CRC32C", async () => {
    const { error } = await fetchThrough({ flipAt: 100_000, times: 1000 }, modelOnly(false));
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toContain(`CRC32C ${crcOf(MODEL)} the store keeps`);
  });

  it('resumes ranges cut mid-body from the last byte written', async () => {
    const { dir, error, exchanges } = await fetchThrough(
      { cutAfter: 1.5 * MiB, times: 3 },
      modelOnly(true),
    );
    expect(error).toBeUndefined();
    expect(await holds(join(dir ?? '', 'model.bin'), MODEL)).toBe(true);
    const ranges = rangesAsked(exchanges);
    const resumed = ranges.filter(([first]) => first % RANGE !== 0);
    expect(resumed).toHaveLength(3);
    const asked = ranges.reduce((sum, [first, last]) => sum + last - first + 1, 0);
    expect(asked).toBeLessThan(MODEL.length + 3 * RANGE);
  });

  it('retries 503 answers, with fewer connections', async () => {
    const { dir, error, exchanges } = await fetchThrough(
      { status503: true, times: 3 },
      modelOnly(true),
    );
    expect(error).toBeUndefined();
    expect(await holds(join(dir ?? '', 'model.bin'), MODEL)).toBe(true);
    expect(exchanges.slice(0, 3).map((e) => e.status)).toEqual([503, 503, 503]);
    expect(exchanges.slice(3).every((e) => e.status === 206)).toBe(true);
  });

  it('drops a stalled body after the idle timeout and goes on from its last byte', async () => {
    const { dir, error } = await fetchThrough({ stallAfter: MiB, times: 1 }, modelOnly(true), {
      idleTimeoutMs: 300,
    });
    expect(error).toBeUndefined();
    expect(await holds(join(dir ?? '', 'model.bin'), MODEL)).toBe(true);
  });

  it('stops at once when its signal aborts, even with a body stalled', async () => {
    const proxy = await startFaultProxy(azurite.blobEndpoint, { stallAfter: 0, times: 1000 });
    try {
      const abort = new AbortController();
      const fetching = fetchInto(storeVia(bodiesThrough(azurite, proxy.url)), modelOnly(true), {
        signal: abort.signal,
      });
      await vi.waitFor(() => expect(proxy.exchanges.length).toBeGreaterThan(0));
      abort.abort(new Error('user stopped it'));
      await expect(fetching).rejects.toThrow('user stopped it');
    } finally {
      await proxy.close();
    }
  });

  it('starts a file over when its blob is overwritten mid-download, never mixing versions', async () => {
    const of = randomUUID();
    const writer = storeVia(rawBodyOpener(), of);
    const before = bytes(4 * MiB);
    const after = bytes(4 * MiB);
    await uploadFiles({
      writer,
      files: [{ path: 'w.bin', size: before.length, bytes: before }],
      dirs: [],
      tuning: { connections: 1, singleRequestBytes: 8 * MiB, minPartBytes: 8 * MiB },
      retry: RETRY,
    });
    const open = rawBodyOpener();
    const statuses: number[] = [];
    const overwriting: BodyOpener = async (url, init) => {
      if (statuses.length === 1) {
        await writer.putObject('w.bin', after, after.length, undefined);
      }
      const res = await open(url, init);
      statuses.push(res.status);
      return res;
    };
    const dir = await fetchInto(
      storeVia(overwriting, of),
      manifestOf({ 'w.bin': before }, { withCrc: false }),
      {
        tuning: { connections: 1, rangeBytes: MiB },
      },
    );
    expect(await holds(join(dir, 'w.bin'), after)).toBe(true);
    expect(statuses.slice(0, 2)).toEqual([206, 412]);
  });

  it("fetches a checkpoint Determined's Python SDK wrote, opened from its checkpoint_storage", async () => {
    const of = randomUUID();
    const files = { 'a.bin': bytes(2 * MiB + 5), 'deep/b.txt': Buffer.from('b') };
    await putDeterminedCheckpoint(container, of, files, { dirs: ['deep/', 'logs/'] });
    const store = await openCheckpointStore(
      {
        type: 'azure',
        container: container.containerName,
        connection_string: azurite.connectionString,
      },
      of,
    );
    await store.probe();
    // No metadata CRC32C on such blobs: the checkpoint's recorded CRC32Cs and sizes check them.
    expect((await store.list()).every((o) => o.crc32c === undefined)).toBe(true);
    const manifest = manifestOf(files, { dirs: ['logs/'] });
    const dir = join(work.dir, randomUUID());
    await mkdir(dir);
    await fetchCheckpoint({
      store,
      manifest,
      dir,
      journal: undefined,
      progress: recordingProgress(manifest.totalBytes).progress,
      retry: RETRY,
      tuning: TUNING,
      signal: new AbortController().signal,
    });
    for (const [path, data] of Object.entries(files)) {
      expect(await holds(join(dir, path), data), path).toBe(true);
    }
    expect((await readdir(dir)).sort()).toEqual(['a.bin', 'deep', 'logs']);
  });
});
