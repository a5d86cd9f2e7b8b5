// The azure store against azurite, a real implementation of the Blob service protocol.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { putDeterminedCheckpoint, azureConfig } from '../../test/azure-helpers.js';
import { createContainer, startAzurite } from '../../test/azurite.js';
import type { AzuriteHandle } from '../../test/azurite.js';
import { bytes, crcOf } from '../../test/s3-helpers.js';
import type { ObjectRead } from '../backend.js';
import { crc32cToBase64 } from '../checksum.js';
import {
  IntegrityError,
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
} from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { resolveAzureAccess } from './azure-auth.js';
import { AzureContainer } from './azure-container.js';
import { AzureStore } from './azure-store.js';
import { openAzureStore } from './open-azure.js';

let azurite: AzuriteHandle;

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite.close();
});

async function readAll(read: ObjectRead): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of read.body) {
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

const signal = (): AbortSignal => new AbortController().signal;

/** A fresh container and checkpoint uuid, with the store of that checkpoint. */
async function fresh(): Promise<{ container: ContainerClient; uuid: string; store: AzureStore }> {
  const container = await createContainer(azurite);
  const uuid = randomUUID();
  const store = openAzureStore(azureConfig(azurite, container.containerName), uuid);
  return { container, uuid, store };
}

async function blobNames(container: ContainerClient, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) {
    names.push(blob.name);
  }
  return names;
}

describe('AzureStore', () => {
  it('lists a checkpoint as Determined lays it out: files, and directory markers as directories', async () => {
    const { container, uuid, store } = await fresh();
    const files = {
      'metadata.json': Buffer.from('{"steps_completed":3}'),
      'model.bin': bytes(3000),
      'sub/deep/w.bin': bytes(10),
      'empty.txt': Buffer.alloc(0),
    };
    await putDeterminedCheckpoint(container, uuid, files, {
      dirs: ['sub/', 'sub/deep/', 'logs/'],
    });
    // A marker of the checkpoint itself, and blobs of others: none of them is listed.
    await putDeterminedCheckpoint(container, uuid, {}, { dirs: [''] });
    await putDeterminedCheckpoint(container, `${uuid}-other`, { 'x.bin': bytes(5) });
    const listed = await store.list();
    expect(listed.map((o) => [o.path, o.size])).toEqual([
      ['empty.txt', 0],
      ['logs/', 0],
      ['metadata.json', files['metadata.json'].length],
      ['model.bin', 3000],
      ['sub/', 0],
      ['sub/deep/', 0],
      ['sub/deep/w.bin', 10],
    ]);
    const model = listed.find((o) => o.path === 'model.bin');
    const props = await container.getBlobClient(`${uuid}/model.bin`).getProperties();
    expect(model?.version).toBe(props.etag); // quoted, as GETs carry it
    expect(model?.version).toMatch(/^".+"$/);
    expect(model?.crc32c).toBeUndefined(); // written without our metadata
    expect(listed.filter((o) => o.path.endsWith('/')).every((o) => o.version === undefined)).toBe(
      true,
    );
    expect(store.location).toBe(`azure://${container.containerName}/${uuid}`);
  });

  it('reads a container with a path part under <path>/<uuid>, where Determined writes it', async () => {
    const container = await createContainer(azurite);
    const uuid = randomUUID();
    await putDeterminedCheckpoint(
      container,
      uuid,
      { 'a.bin': bytes(7) },
      {
        containerPath: 'team/a',
        dirs: ['d/'],
      },
    );
    const store = openAzureStore(azureConfig(azurite, `${container.containerName}/team/a/`), uuid);
    expect(store.location).toBe(`azure://${container.containerName}/team/a/${uuid}`);
    expect((await store.list()).map((o) => o.path)).toEqual(['a.bin', 'd/']);
    await store.putObject('b.bin', Buffer.from('b'), 1, undefined);
    expect(await blobNames(container)).toContain(`team/a/${uuid}/b.bin`);
  });

  it('follows List Blobs pages to the end', async () => {
    const { container, uuid } = await fresh();
    const files = Object.fromEntries(
      Array.from({ length: 11 }, (_, i) => [`f${String(i).padStart(2, '0')}`, bytes(1)]),
    );
    await putDeterminedCheckpoint(container, uuid, files);
    const pages = container.listBlobsFlat().byPage({ maxPageSize: 4 });
    const first = await pages.next();
    expect(first.done !== true && first.value.segment.blobItems.length).toBe(4); // azurite pages
    const access = resolveAzureAccess(azureConfig(azurite, container.containerName), {});
    const paged = new AzureContainer({ access, name: container.containerName, listPageSize: 4 });
    const store = new AzureStore(paged, uuid, `azure://${container.containerName}`);
    expect((await store.list()).map((o) => o.path)).toEqual(Object.keys(files));
  });

  it('lists blobs a hierarchical-namespace account marks as folders as directories', async () => {
    const { container, uuid, store } = await fresh();
    await container
      .getBlockBlobClient(`${uuid}/folder`)
      .upload(Buffer.alloc(0), 0, { metadata: { hdi_isfolder: 'true' } });
    await putDeterminedCheckpoint(container, uuid, { 'folder/x': bytes(2) });
    expect((await store.list()).map((o) => [o.path, o.size])).toEqual([
      ['folder/', 0],
      ['folder/x', 2],
    ]);
  });

  it('reads whole blobs and exact ranges, with the version and the CRC32C of its metadata', async () => {
    const { store } = await fresh();
    const data = bytes(100_000);
    await store.putObject('w.bin', data, data.length, crc32cToBase64(crcOf(data)));
    const [listed] = await store.list();
    expect(listed).toMatchObject({ path: 'w.bin', size: data.length, crc32c: crcOf(data) });
    const whole = await store.read('w.bin', { signal: signal(), withChecksum: true });
    expect(whole).toMatchObject({
      size: data.length,
      version: listed?.version,
      crc32c: crcOf(data),
    });
    expect((await readAll(whole)).equals(data)).toBe(true);
    for (const range of [
      { start: 0, end: 1 },
      { start: 1000, end: 65_536 + 3 },
      { start: 99_999, end: 100_000 },
    ]) {
      const part = await store.read('w.bin', { range, version: listed?.version, signal: signal() });
      expect(part.size).toBe(data.length);
      expect((await readAll(part)).equals(data.subarray(range.start, range.end))).toBe(true);
    }
  });

  it('pins reads to a version: a blob overwritten between two ranges fails with ObjectChangedError', async () => {
    const { store } = await fresh();
    const before = bytes(4096);
    await store.putObject('w.bin', before, before.length, undefined);
    const [listed] = await store.list();
    const first = await store.read('w.bin', {
      range: { start: 0, end: 2048 },
      version: listed?.version,
      signal: signal(),
    });
    expect((await readAll(first)).equals(before.subarray(0, 2048))).toBe(true);
    await store.putObject('w.bin', bytes(4096), 4096, undefined);
    const err = await store
      .read('w.bin', {
        range: { start: 2048, end: 4096 },
        version: listed?.version,
        signal: signal(),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectChangedError);
    expect((err as Error).message).toContain('412 ConditionNotMet');
  });

  it('refuses an answer that is not the range asked for', async () => {
    const { container, uuid } = await fresh();
    await putDeterminedCheckpoint(container, uuid, { 'w.bin': bytes(1000) });
    const access = resolveAzureAccess(azureConfig(azurite, container.containerName), {});
    // A transport that loses the range header: the whole blob comes back, with a 200.
    const lossy = new AzureContainer({
      access,
      name: container.containerName,
      openBody: (url, init) => {
        const { 'x-ms-range': _dropped, ...headers } = init.headers;
        return openKeptAliveBody(url, { ...init, headers });
      },
    });
    const store = new AzureStore(lossy, uuid, 'azure://x');
    const err = await store
      .read('w.bin', { range: { start: 10, end: 20 }, signal: signal() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/asked for bytes 10-19, got 200/);
  });

  it('heads a blob: size, version and CRC32C; undefined when missing', async () => {
    const { store } = await fresh();
    const data = bytes(321);
    await store.putObject('h.bin', data, data.length, crc32cToBase64(crcOf(data)));
    const [listed] = await store.list();
    expect(await store.head('h.bin')).toEqual({
      path: 'h.bin',
      size: 321,
      version: listed?.version,
      crc32c: crcOf(data),
    });
    expect(await store.head('missing.bin')).toBeUndefined();
    const read = await store.read('missing.bin', { signal: signal() }).catch((e: unknown) => e);
    expect(read).toBeInstanceOf(StorageError);
    expect(read).not.toBeInstanceOf(StorageUnreachableError);
    expect((read as Error).message).toContain('404 BlobNotFound');
  });

  it('probes: not_found for a checkpoint without blobs and for a missing container', async () => {
    const { store } = await fresh();
    await expect(store.probe()).rejects.toMatchObject({ reason: 'not_found' });
    const gone = openAzureStore(azureConfig(azurite, 'no-such-container'), randomUUID());
    const err = await gone.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'not_found', storageType: 'azure' });
    await expect(gone.head('x')).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('probes: no_access for an account that cannot be reached', async () => {
    const access = resolveAzureAccess(
      azureConfig(azurite, 'c', {
        connectionString: azurite.connectionString.replace(
          azurite.blobEndpoint,
          'http://127.0.0.1:1',
        ),
      }),
      {},
    );
    const unreachable = new AzureContainer({
      access,
      name: 'c',
      retry: { maxTries: 1, retryDelayInMs: 1 },
    });
    const err = await new AzureStore(unreachable, randomUUID(), 'azure://c')
      .probe()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'no_access' });
    expect((err as Error).message).toContain('cannot reach');
  });

  it('writes a blob in one request and in blocks, each with its CRC32C in metadata', async () => {
    const { container, uuid, store } = await fresh();
    const small = bytes(1000);
    await store.putObject(
      'small.bin',
      Readable.from([small]),
      small.length,
      crc32cToBase64(crcOf(small)),
    );
    await store.putObject('dir/', new Uint8Array(0), 0, undefined);
    const parts = [bytes(3000), bytes(3000), bytes(17)];
    const whole = Buffer.concat(parts);
    const upload = await store.startParts('big.bin');
    const sent = await Promise.all(
      [2, 3, 1].map(async (n) => {
        const part = parts[n - 1] ?? Buffer.alloc(0);
        const crc32cBase64 = crc32cToBase64(crcOf(part));
        const etag = await upload.uploadPart(n, Readable.from([part]), part.length, crc32cBase64);
        return { partNumber: n, etag, crc32cBase64 };
      }),
    );
    // Staged blocks are invisible until committed.
    expect(await blobNames(container, `${uuid}/big`)).toEqual([]);
    await upload.complete(sent, crc32cToBase64(crcOf(whole)));
    const big = container.getBlockBlobClient(`${uuid}/big.bin`);
    expect((await big.downloadToBuffer()).equals(whole)).toBe(true);
    expect((await big.getProperties()).metadata).toEqual({ crc32c: crcOf(whole) });
    expect((await big.getBlockList('committed')).committedBlocks?.map((b) => b.size)).toEqual([
      3000, 3000, 17,
    ]);
    const marker = await container.getBlobClient(`${uuid}/dir/`).getProperties();
    expect([marker.contentLength, marker.metadata]).toEqual([0, {}]);
    expect((await store.list()).map((o) => [o.path, o.crc32c])).toEqual([
      ['big.bin', crcOf(whole)],
      ['dir/', undefined],
      ['small.bin', crcOf(small)],
    ]);
  });

  it('commits nothing when a part is not what was staged, and an abort leaves no blob', async () => {
    const { container, uuid, store } = await fresh();
    const upload = await store.startParts('big.bin');
    const part = bytes(100);
    const crc32cBase64 = crc32cToBase64(crcOf(part));
    const etag = await upload.uploadPart(1, part, part.length, crc32cBase64);
    const err = await upload
      .complete(
        [
          { partNumber: 1, etag, crc32cBase64 },
          { partNumber: 2, etag: 'bm90LXN0YWdlZA==', crc32cBase64 },
        ],
        crc32cBase64,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/part 2 has no bytes in Azure, none were sent/);
    await upload.abort();
    expect(await blobNames(container, uuid)).toEqual([]);
  });

  it('stops a listing and an upload under way when their signal aborts', async () => {
    const { container, uuid, store } = await fresh();
    const stopped = new AbortController();
    stopped.abort(new Error('stopped before'));
    await expect(store.list(stopped.signal)).rejects.toThrow('stopped before');
    const abort = new AbortController();
    // A body that sends its first bytes, then stops the upload and never sends the rest.
    const body = new Readable({
      read() {
        if (!abort.signal.aborted) {
          this.push(Buffer.alloc(1000));
          abort.abort(new Error('stopped midway'));
        }
      },
    });
    await expect(store.putObject('w.bin', body, 10_000, undefined, abort.signal)).rejects.toThrow(
      'stopped midway',
    );
    expect(await blobNames(container, uuid)).toEqual([]);
  });

  it('removes the paths asked for, missing ones counted as gone; removeAll leaves no blob of the checkpoint', async () => {
    const { container, uuid, store } = await fresh();
    await putDeterminedCheckpoint(
      container,
      uuid,
      { 'a.bin': bytes(1), 'b.bin': bytes(1), 'd/c.bin': bytes(1) },
      {
        dirs: ['d/'],
      },
    );
    // Another checkpoint whose name starts with this one's: none of its blobs may go.
    await putDeterminedCheckpoint(container, `${uuid}-other`, { 'a.bin': bytes(1) });
    const gone = await store.remove(['a.bin', 'missing.bin', 'd/']);
    expect([...gone].sort()).toEqual(['a.bin', 'd/', 'missing.bin']);
    expect(await blobNames(container, `${uuid}/`)).toEqual([`${uuid}/b.bin`, `${uuid}/d/c.bin`]);
    await putDeterminedCheckpoint(container, uuid, {}, { dirs: [''] }); // the checkpoint's marker
    await store.removeAll();
    expect(await blobNames(container)).toEqual([`${uuid}-other/a.bin`]);
  });
});
