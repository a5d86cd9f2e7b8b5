import { lstat, mkdir, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  LocalStore,
  STALE_TEMP_AGE_MS,
  StorageUnreachableError,
  TransientStorageError,
  createTempSibling,
} from '@determined-ts/storage';
import type {
  CheckpointStore,
  ObjectRead,
  ObjectReadOptions,
  StoreResolver,
} from '@determined-ts/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import { deadPid, hostTagOf, leftover } from '../../../storage/test/temp-siblings.js';
import { inProcessMaster, makeTree } from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import {
  crc32cOf,
  partialDirs,
  readTree,
  startDownloadMaster,
  writeTree,
} from '../../test/download-helpers.js';
import type { DownloadMaster } from '../../test/download-helpers.js';
import { getCheckpoint } from '../api/checkpoints.js';
import { Checkpoint } from '../checkpoint.js';
import { init } from '../core/init.js';
import { ArgumentError, CheckpointStateError, IntegrityError, StorageError } from '../errors.js';
import { downloadCheckpoint } from './download.js';
import type { DownloadEvent } from './events.js';

let m: DownloadMaster;

beforeEach(async () => {
  m = await startDownloadMaster();
});

afterEach(async () => {
  await m.close();
});

const TREE = {
  'metadata.json': '{"framework":"test"}',
  'model.bin': 'weights'.repeat(1000),
  'sub/': null,
  'sub/deep/state.json': '{"step":3}',
  'empty/': null,
};

/** `s3` storage in the fake S3's bucket, under `ckpts/`. */
function s3Storage(endpoint: string): Record<string, string> {
  return {
    type: 's3',
    bucket: 'det-test',
    prefix: 'ckpts',
    endpoint_url: endpoint,
    access_key: 'S3RVER',
    secret_key: 'S3RVER',
  };
}

/** The same checkpoint with some of its data changed, as another master might describe it. */
function variant(c: Checkpoint, change: Partial<Checkpoint>): Checkpoint {
  return new Checkpoint({ ...c, ...change }, c.client);
}

const archiveRequests = (): number =>
  m.requests.filter((r) => r.startsWith('GET /checkpoints/')).length;

/** An `errno` error, as `node:fs` throws them. */
function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * Opens directory storage as a store without `localFile`, so that downloads take the ranged
 * engine as they do from object stores. `onRead` sees each read (the options it was asked
 * with) and may hand back another in its place.
 */
function rangedStore(
  onRead: (path: string, read: ObjectRead, options: ObjectReadOptions) => ObjectRead,
): StoreResolver {
  return (config, uuid) => {
    const local = new LocalStore('directory', join(String(config.container_path), uuid));
    const store: CheckpointStore = {
      type: local.type,
      location: local.location,
      probe: () => local.probe(),
      list: () => local.list(),
      read: async (path, options) => onRead(path, await local.read(path, options), options),
      remove: (paths) => local.remove(paths),
      removeAll: () => local.removeAll(),
    };
    return Promise.resolve(store);
  };
}

/** `read` with a body that yields the first `keepBytes` of it, then throws `error`. */
function failingAfter(read: ObjectRead, keepBytes: number, error: Error): ObjectRead {
  async function* body(): AsyncGenerator<Uint8Array> {
    let sent = 0;
    for await (const chunk of read.body) {
      const piece = chunk.subarray(0, Math.max(0, keepBytes - sent));
      if (piece.byteLength > 0) {
        sent += piece.byteLength;
        yield piece;
      }
      if (sent >= keepBytes) {
        throw error;
      }
    }
  }
  return { ...read, body: body() };
}

describe('download (direct)', () => {
  it('copies every file and directory of directory storage into checkpoints/<uuid>', async () => {
    const c = await m.seed(TREE);
    const cwd = process.cwd();
    process.chdir(m.workDir);
    let dir: string;
    try {
      dir = await c.download();
    } finally {
      process.chdir(cwd);
    }
    expect(dir).toBe(join(m.workDir, 'checkpoints', c.uuid));
    expect(await readTree(dir)).toEqual({
      'metadata.json': TREE['metadata.json'],
      'model.bin': TREE['model.bin'],
      'sub/': null,
      'sub/deep/': null,
      'sub/deep/state.json': TREE['sub/deep/state.json'],
      'empty/': null,
    });
    expect(archiveRequests()).toBe(0);
    expect(await partialDirs(join(m.workDir, 'checkpoints'))).toEqual([]);
  });

  it('takes the options as the only argument, with the default target', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const cwd = process.cwd();
    process.chdir(m.workDir);
    try {
      const events: DownloadEvent[] = [];
      for await (const e of c.downloadIter({ mode: 'master' })) {
        events.push(e);
      }
      expect(events[0]).toMatchObject({ type: 'start', mode: 'master' });
      expect(events.at(-1)).toMatchObject({ path: join(m.workDir, 'checkpoints', c.uuid) });
      expect(await c.download({ mode: 'direct' })).toBe(join(m.workDir, 'checkpoints', c.uuid));
    } finally {
      process.chdir(cwd);
    }
  });

  it('reads shared_fs storage at <host_path>/<storage_path>/<uuid>', async () => {
    const host = join(m.workDir, 'shared');
    const c = await m.seed(
      { 'a.txt': 'shared' },
      { storage: { type: 'shared_fs', host_path: host, storage_path: 'ckpts' } },
    );
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), {
      mode: 'direct',
      onProgress: (e) => events.push(e),
    });
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('shared');
    expect(events[0]).toMatchObject({
      type: 'start',
      mode: 'direct',
      source: join(host, 'ckpts', c.uuid),
    });
  });

  it('writes metadata.json from the checkpoint metadata when the files lack one', async () => {
    const c = await m.seed({ 'model.bin': 'w' });
    const dir = await c.download(join(m.workDir, 'out'));
    expect(JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'))).toEqual(c.metadata);
  });

  it('keeps the metadata.json the checkpoint has', async () => {
    const c = await m.seed({ 'metadata.json': '{"mine":true}' });
    const dir = await c.download(join(m.workDir, 'out'));
    expect(await readFile(join(dir, 'metadata.json'), 'utf8')).toBe('{"mine":true}');
  });

  it('fails with IntegrityError and leaves nothing when a sha256 does not match', async () => {
    const c = await m.seed({ 'a.bin': 'good bytes', 'b.bin': 'other' }, { crc32c: false });
    await writeFile(join(m.storageDir, c.uuid, 'a.bin'), 'evil bytes'); // same size
    const target = join(m.workDir, 'out');
    const err = await c.download(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).path).toBe('a.bin');
    expect((err as Error).message).toMatch(/sha256/);
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('fails with IntegrityError naming the file when a byte flipped in storage breaks its CRC32C', async () => {
    // As the Core API records checkpoints: CRC32C only.
    const c = await m.seed({ 'a.bin': 'good bytes', 'b.bin': 'other' }, { digests: false });
    expect(c.crc32c).toEqual({ 'a.bin': crc32cOf('good bytes'), 'b.bin': crc32cOf('other') });
    const file = await open(join(m.storageDir, c.uuid, 'a.bin'), 'r+');
    await file.write(Buffer.from('G'), 0, 1, 0); // same size, one byte changed
    await file.close();
    const target = join(m.workDir, 'out');
    const err = await c.download(target, { mode: 'direct' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).path).toBe('a.bin');
    expect((err as Error).message).toMatch(/^a\.bin: CRC32C [0-9a-f]{8} does not match/);
    expect((err as Error).message).toContain(crc32cOf('good bytes'));
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('fails when a file has another size than resources list (no checksums recorded)', async () => {
    const c = await m.seed({ 'a.bin': '12345' }, { digests: false, crc32c: false });
    await writeFile(join(m.storageDir, c.uuid, 'a.bin'), '1234567');
    const target = join(m.workDir, 'out');
    await expect(c.download(target)).rejects.toThrow(/a\.bin: got 7 bytes.*list 5/);
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('fails when a file is shorter than resources list (checksums recorded)', async () => {
    const c = await m.seed({ 'a.bin': '12345' });
    await writeFile(join(m.storageDir, c.uuid, 'a.bin'), '123');
    await expect(c.download(join(m.workDir, 'out'))).rejects.toBeInstanceOf(IntegrityError);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('fails when a resource is missing from storage', async () => {
    const c = await m.seed({ 'a.bin': 'a', 'b.bin': 'b' });
    await rm(join(m.storageDir, c.uuid, 'b.bin'));
    await expect(c.download(join(m.workDir, 'out'), { mode: 'direct' })).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('refuses a resource that is a symlink, and one reached through a linked directory', async () => {
    const outside = join(m.workDir, 'secret');
    await writeTree(outside, { 'key.pem': 'secret!' });
    const c = await m.seed({ 'a.bin': 'a' }, { digests: false });
    const root = join(m.storageDir, c.uuid);
    await symlink(join(outside, 'key.pem'), join(root, 'link.pem'));
    await symlink(outside, join(root, 'linkdir'));
    for (const name of ['link.pem', 'linkdir/key.pem']) {
      const evil = variant(c, { resources: { 'a.bin': 1, [name]: 7 } });
      const err = await evil.download(join(m.workDir, 'out')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/link/);
      await expect(lstat(join(m.workDir, 'out'))).rejects.toThrow(/ENOENT/);
    }
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it.each([['../evil'], ['/etc/passwd'], ['a/../../evil'], ['C:/evil'], ['a\\..\\evil']])(
    'refuses the resource path %s before touching anything',
    async (name) => {
      const c = await m.seed({ 'a.bin': 'a' });
      const evil = variant(c, { resources: { 'a.bin': 1, [name]: 4 } });
      const err = await evil.download(join(m.workDir, 'out')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/refusing path/);
      expect(await readdir(m.workDir)).toEqual(['storage']);
    },
  );

  it('retries a file whose read fails transiently, and counts its bytes once', async () => {
    const c = await m.seed({ 'a.bin': 'x'.repeat(10_000), 'b.bin': 'y'.repeat(5000) });
    const reads: string[] = [];
    let failures = 0;
    const flaky = rangedStore((path, read, options) => {
      reads.push(`${path}@${options.range?.start ?? 0}`);
      if (path !== 'a.bin' || failures > 0) {
        return read;
      }
      failures += 1;
      return failingAfter(read, 4000, fsError('EIO', 'i/o error, read'));
    });
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), {
      storage: flaky,
      retry: { baseDelayMs: 0 },
      progressIntervalMs: 0,
      onProgress: (e) => events.push(e),
    });
    expect(failures).toBe(1);
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe('x'.repeat(10_000));
    // The retry asks only for the bytes the failed read did not deliver.
    expect(reads.filter((r) => r.startsWith('a.bin')).sort()).toEqual(['a.bin@0', 'a.bin@4000']);
    expect(events[0]).toMatchObject({ type: 'start', source: join(m.storageDir, c.uuid) });
    const bytes = events.flatMap((e) => (e.type === 'progress' ? [e.bytes] : []));
    expect(Math.max(...bytes)).toBe(15_000);
    expect(events.filter((e) => e.type === 'progress').at(-1)).toMatchObject({
      bytes: 15_000,
      totalBytes: 15_000,
    });
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('does not retry a failure that is not transient', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    let reads = 0;
    const broken = rangedStore((_path, read) => {
      reads += 1;
      return failingAfter(read, 0, fsError('EACCES', 'permission denied'));
    });
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { storage: broken, retry: { baseDelayMs: 0 } })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/EACCES/);
    expect(err).not.toBeInstanceOf(TransientStorageError);
    expect(reads).toBe(1);
    // Not worth resuming: nothing of the download is kept.
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('keeps the partial download when reads keep failing transiently, for the next one to finish', async () => {
    const c = await m.seed({ 'a.bin': 'x'.repeat(5000), 'b.bin': 'y'.repeat(10_000) });
    let isFailing = true;
    const reads: string[] = [];
    const store = rangedStore((path, read, options) => {
      reads.push(`${path}@${options.range?.start ?? 0}`);
      return isFailing && path === 'a.bin'
        ? failingAfter(read, 0, fsError('EIO', 'i/o error, read'))
        : read;
    });
    const target = join(m.workDir, 'out');
    // One connection, largest file first: b.bin is complete before a.bin fails.
    const options = { storage: store, concurrency: 1, retry: { attempts: 2, baseDelayMs: 0 } };
    const err = await c.download(target, options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStorageError);
    expect(reads).toEqual(['b.bin@0', 'a.bin@0', 'a.bin@0']);
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    const [temp, ...others] = await partialDirs(m.workDir);
    expect(others).toEqual([]);
    expect(await readdir(join(m.workDir, temp ?? ''))).toContain('.det-download-journal');

    isFailing = false;
    reads.length = 0;
    const dir = await c.download(target, options);
    expect(reads).toEqual(['a.bin@0']); // b.bin is taken from the partial download
    expect(await readTree(dir)).toEqual({
      'a.bin': 'x'.repeat(5000),
      'b.bin': 'y'.repeat(10_000),
      'metadata.json': `${JSON.stringify(c.metadata, null, 2)}\n`,
    });
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('removes the partial download on a transient failure when told not to resume', async () => {
    const c = await m.seed({ 'a.bin': 'x'.repeat(10_000) });
    const store = rangedStore((_path, read) =>
      failingAfter(read, 0, fsError('EIO', 'i/o error, read')),
    );
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { storage: store, resume: false, retry: { attempts: 2, baseDelayMs: 0 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStorageError);
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });
});

describe('download (target)', () => {
  it('does not fetch again into a target that holds the complete checkpoint', async () => {
    const c = await m.seed(TREE);
    const target = join(m.workDir, 'out');
    await c.download(target);
    await rm(join(m.storageDir, c.uuid), { recursive: true }); // nothing left to fetch from
    const events: DownloadEvent[] = [];
    for await (const e of c.downloadIter(target)) {
      events.push(e);
    }
    const total = Object.values(c.resources).reduce((a, b) => a + b, 0);
    expect(events).toEqual([{ type: 'done', path: target, totalBytes: total, skipped: true }]);
    expect(archiveRequests()).toBe(0);
  });

  it('does not take a target holding only metadata.json for a complete download', async () => {
    const c = await m.seed(TREE);
    const target = join(m.workDir, 'out');
    await writeTree(target, { 'metadata.json': TREE['metadata.json'] });
    const err = await c.download(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/not empty and does not hold checkpoint .* complete/);
    expect((err as Error).message).toMatch(/missing/);
    expect(await readTree(target)).toEqual({ 'metadata.json': TREE['metadata.json'] });
  });

  it.each([
    ['sha256', { crc32c: false }],
    ['CRC32C', { digests: false }],
  ])(
    'does not take a target whose files have the right sizes but another %s',
    async (_checksum, recorded) => {
      const c = await m.seed({ 'a.bin': 'aaaa' }, recorded);
      const target = join(m.workDir, 'out');
      await c.download(target);
      await writeFile(join(target, 'a.bin'), 'bbbb');
      await expect(c.download(target)).rejects.toThrow(
        /a\.bin does not match its recorded checksum/,
      );
      expect(await readFile(join(target, 'a.bin'), 'utf8')).toBe('bbbb');
    },
  );

  it('does not take a target with a truncated file', async () => {
    const c = await m.seed({ 'a.bin': 'aaaa' }, { digests: false });
    const target = join(m.workDir, 'out');
    await c.download(target);
    await writeFile(join(target, 'a.bin'), 'aa');
    await expect(c.download(target)).rejects.toThrow(/a\.bin has 2 bytes, expected 4/);
  });

  it('fills an existing empty directory', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const target = join(m.workDir, 'out');
    await mkdir(target);
    const dir = await c.download(target);
    expect(await readTree(dir)).toMatchObject({ 'a.bin': 'a' });
  });

  it('refuses a target that is a file', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const target = join(m.workDir, 'out');
    await writeFile(target, 'not a dir');
    await expect(c.download(target)).rejects.toThrow(/not a directory/);
  });

  it('leaves nothing behind when aborted mid-download', async () => {
    const c = await m.seed({ 'a.bin': 'a'.repeat(1000), 'b.bin': 'b'.repeat(1000) });
    const target = join(m.workDir, 'out');
    const abort = new AbortController();
    const err = await c
      .download(target, {
        signal: abort.signal,
        concurrency: 1,
        onProgress: (e) => {
          if (e.type === 'file') {
            abort.abort();
          }
        },
      })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('leaves nothing behind when the iterator is abandoned', async () => {
    const c = await m.seed({ 'a.bin': 'a'.repeat(1000), 'b.bin': 'b'.repeat(1000) });
    const target = join(m.workDir, 'out');
    for await (const e of c.downloadIter(target)) {
      if (e.type === 'start') {
        break;
      }
    }
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('stops the download when onProgress throws', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const target = join(m.workDir, 'out');
    await expect(
      c.download(target, {
        onProgress: (e) => {
          if (e.type === 'file') {
            throw new Error('consumer failed');
          }
        },
      }),
    ).rejects.toThrow('consumer failed');
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });
});

describe('download (states and modes)', () => {
  it.each([['ACTIVE'], ['ERROR'], ['UNSPECIFIED']] as const)(
    'refuses a %s checkpoint with CheckpointStateError',
    async (state) => {
      const c = variant(await m.seed({ 'a.bin': 'a' }), { state });
      const err = await c.download(join(m.workDir, 'out')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointStateError);
      expect(err).toMatchObject({ state, uuid: c.uuid });
    },
  );

  it('refuses a checkpoint the master deleted', async () => {
    const seeded = await m.seed({ 'a.bin': 'a' });
    await m.deleteCheckpoint(seeded.uuid);
    const { getCheckpoint } = await import('../api/checkpoints.js');
    const c = new Checkpoint(await getCheckpoint(m.client, seeded.uuid), m.client);
    expect(c.state).toBe('DELETED');
    await expect(c.download(join(m.workDir, 'out'))).rejects.toBeInstanceOf(CheckpointStateError);
  });

  it('downloads what is left of a PARTIALLY_DELETED checkpoint', async () => {
    const seeded = await m.seed({ 'keep.bin': 'k', 'drop.bin': 'd' });
    await m.removeFiles(seeded.uuid, ['drop.bin']);
    const { getCheckpoint } = await import('../api/checkpoints.js');
    const c = new Checkpoint(await getCheckpoint(m.client, seeded.uuid), m.client);
    expect(c.state).toBe('PARTIALLY_DELETED');
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect(await readTree(dir)).toEqual({
      'keep.bin': 'k',
      'metadata.json': `${JSON.stringify(c.metadata, null, 2)}\n`,
    });
  });

  it('rejects an unknown mode', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const mode = 'fast' as 'auto';
    await expect(c.download(join(m.workDir, 'out'), { mode })).rejects.toBeInstanceOf(
      ArgumentError,
    );
  });

  it('falls back to the master in auto mode when the storage is not reachable here', async () => {
    const seeded = await m.seed({ 'a.bin': 'from master' });
    // As seen from another machine: the directory the config names does not exist here.
    const c = variant(seeded, {
      storageConfig: { type: 'directory', container_path: join(m.workDir, 'elsewhere') },
    });
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), { onProgress: (e) => events.push(e) });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe('from master');
    expect(events[0]).toMatchObject({ type: 'start', mode: 'master' });
    expect(archiveRequests()).toBe(1);
  });

  it('does not fall back in direct mode', async () => {
    const seeded = await m.seed({ 'a.bin': 'a' });
    const c = variant(seeded, {
      storageConfig: { type: 'directory', container_path: join(m.workDir, 'elsewhere') },
    });
    const err = await c
      .download(join(m.workDir, 'out'), { mode: 'direct' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'not_found' });
    expect(archiveRequests()).toBe(0);
  });

  it('falls back to the master for azure storage it cannot reach, as Determined never does', async () => {
    const seeded = await m.seed({ 'a.bin': 'from master' });
    // An account on a port where nothing listens: as a laptop outside the storage's network sees it.
    const connectionString =
      'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;' +
      'BlobEndpoint=http://127.0.0.1:9/acct;';
    const c = variant(seeded, {
      storageConfig: { type: 'azure', container: 'c', connection_string: connectionString },
    });
    const direct = await c
      .download(join(m.workDir, 'direct'), { mode: 'direct' })
      .catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(StorageUnreachableError);
    expect(direct).toMatchObject({ reason: 'no_access', storageType: 'azure' });
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), { onProgress: (e) => events.push(e) });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe('from master');
    expect(events[0]).toMatchObject({ type: 'start', mode: 'master' });
    expect(archiveRequests()).toBe(1);
  });

  it('reads s3 storage directly, one GET per object', async () => {
    const fake = await startFakeS3();
    try {
      const seeded = await m.seed({ 'a.bin': 'from s3', 'sub/b.bin': 'b'.repeat(3000) });
      for (const path of ['a.bin', 'sub/b.bin']) {
        const bytes = await readFile(join(m.storageDir, seeded.uuid, path));
        fake.putObject('det-test', `ckpts/${seeded.uuid}/${path}`, bytes, { crc32c: true });
      }
      const c = variant(seeded, { storageConfig: s3Storage(fake.endpoint) });
      const events: DownloadEvent[] = [];
      const dir = await c.download(join(m.workDir, 'out'), {
        mode: 'direct',
        env: {},
        onProgress: (e) => events.push(e),
      });
      expect(await readTree(dir)).toEqual({
        'a.bin': 'from s3',
        'metadata.json': `${JSON.stringify(c.metadata, null, 2)}\n`,
        'sub/': null,
        'sub/b.bin': 'b'.repeat(3000),
      });
      expect(events[0]).toMatchObject({
        type: 'start',
        mode: 'direct',
        source: `s3://det-test/ckpts/${c.uuid}`,
      });
      expect(fake.requests.filter((r) => r.method === 'GET' && r.key !== '').length).toBe(2);
      expect(archiveRequests()).toBe(0);
      expect(await partialDirs(m.workDir)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('falls back to the master in auto mode when s3 storage lacks the checkpoint', async () => {
    const fake = await startFakeS3();
    try {
      const seeded = await m.seed({ 'a.bin': 'a' });
      // The bucket holds nothing of it: the master still reads the real (directory) storage.
      const c = variant(seeded, { storageConfig: s3Storage(fake.endpoint) });
      const events: DownloadEvent[] = [];
      const dir = await c.download(join(m.workDir, 'out'), {
        env: {},
        onProgress: (e) => events.push(e),
      });
      expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe('a');
      expect(events[0]).toMatchObject({ type: 'start', mode: 'master' });
      expect(fake.requests.length).toBeGreaterThan(0);
      expect(archiveRequests()).toBe(1);
    } finally {
      await fake.close();
    }
  });
});

describe('downloadIter', () => {
  it('yields start with the totals first, then progress and file events, then done', async () => {
    const c = await m.seed({ 'a.bin': 'a'.repeat(3000), 'b.bin': 'b'.repeat(2000), 'd/': null });
    const target = join(m.workDir, 'out');
    const events: DownloadEvent[] = [];
    let filesAtStart: string[] | undefined;
    for await (const e of c.downloadIter(target, { progressIntervalMs: 0 })) {
      if (e.type === 'start') {
        filesAtStart = await readdir(m.workDir);
      }
      events.push(e);
    }
    expect(events[0]).toEqual({
      type: 'start',
      totalBytes: 5000,
      totalFiles: 2,
      mode: 'direct',
      source: join(m.storageDir, c.uuid),
    });
    // Nothing of the target existed yet when start arrived.
    expect(filesAtStart?.filter((n) => n !== 'storage')).toEqual([]);
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    const bytes = progress.map((e) => e.bytes);
    expect([...bytes].sort((a, b) => a - b)).toEqual(bytes);
    expect(progress.at(-1)).toMatchObject({ bytes: 5000, totalBytes: 5000 });
    expect(
      events
        .filter((e) => e.type === 'file')
        .map((e) => [e.path, e.bytes])
        .sort(),
    ).toEqual([
      ['a.bin', 3000],
      ['b.bin', 2000],
    ]);
    expect(events.at(-1)).toEqual({ type: 'done', path: target, totalBytes: 5000, skipped: false });
  });

  it('throttles progress events by the injected clock', async () => {
    // Several MiB, so the archive arrives in many chunks whatever the master's read size.
    const c = await m.seed({ 'a.bin': 'a'.repeat(3 * 1024 * 1024 + 7) });
    const events: DownloadEvent[] = [];
    await c.download(join(m.workDir, 'out'), {
      mode: 'master',
      clock: () => 0, // time stands still: only the first and the final progress go out
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.type === 'progress')).toHaveLength(2);
  });
});

describe('download (stale temp siblings)', () => {
  let dir: string;
  let target: string;
  let master: TestMaster;
  beforeEach(async () => {
    master = await inProcessMaster();
    dir = join(master.dir, 'downloads');
    target = join(dir, 'ckpt');
    await mkdir(dir);
  });
  afterEach(async () => {
    await master.close();
  });

  it('a download sweeps the stale leftovers of its target, and leaves only the target', async () => {
    const core = await init({
      master: master.url,
      fetch: master.fetch,
      env: master.env,
      shipOutput: false,
      closeOnExit: false,
      config: { searcher: { metric: 'loss' }, checkpoint_storage: join(master.dir, 'storage') },
    });
    await makeTree(join(master.dir, 'src'), { 'w.bin': 'weights' });
    const uuid = await core.run(() =>
      core.checkpoint.upload(join(master.dir, 'src'), { steps_completed: 1 }),
    );
    const tag = hostTagOf(await createTempSibling(join(dir, 'probe')));
    const old = STALE_TEMP_AGE_MS + 60_000;
    await leftover(dir, `.ckpt.partial-${deadPid()}-${tag}-0123456789ab`, old);
    const checkpoint = await getCheckpoint(core.client, uuid);
    await downloadCheckpoint({ ...checkpoint, client: core.client }, target);
    expect((await readdir(dir)).filter((n) => n.includes('ckpt'))).toEqual(['ckpt']);
  });
});
