import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from '../../../storage/test/fake-s3.js';
import type { FakeS3 } from '../../../storage/test/fake-s3.js';
import { getCheckpoint, listCheckpointsPage } from '../api/checkpoints.js';
import { ArgumentError, StorageError } from '../errors.js';
import {
  crc32cOf,
  inProcessMaster,
  makeTree,
  readTree,
  recordingFetch,
  sha256,
} from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import { init } from './init.js';
import type { CoreContext } from './context.js';
import type { CoreConfig } from './init.js';

describe('core.checkpoint', () => {
  let m: TestMaster;
  let core: CoreContext;
  let storage: string;
  let rec: ReturnType<typeof recordingFetch>;

  const start = async (config: Partial<CoreConfig> = {}): Promise<CoreContext> =>
    init({
      master: m.url,
      fetch: rec.fetch,
      env: m.env,
      config: { searcher: { metric: 'loss' }, checkpoint_storage: storage, ...config },
    });

  beforeEach(async () => {
    m = await inProcessMaster();
    storage = join(m.dir, 'storage');
    rec = recordingFetch(m.fetch);
    core = await start();
  });
  afterEach(async () => {
    await core.close();
    await m.close();
  });

  /** Names in the storage directory: only complete checkpoints, never staging leftovers. */
  const storageEntries = async (): Promise<string[]> =>
    (await readdir(storage).catch(() => [])).sort();

  /** The body of the latest checkpoint report. */
  const lastReport = (): Record<string, unknown> | undefined =>
    rec.calls.findLast((c) => c.path === '/api/v1/checkpoints')?.body as
      Record<string, unknown> | undefined;

  it('stores nested dirs, empty files and empty dirs byte for byte, and reports them', async () => {
    const src = join(m.dir, 'src');
    const tree = {
      'a.bin': new Uint8Array([0, 1, 2, 255]),
      'empty.txt': '',
      'deep/er/still/x.json': '{"x":1}',
      'deep/er/y.txt': 'y',
      'only-empty-dirs/inner': null,
      'unicode-é.txt': 'é',
    };
    await makeTree(src, tree);
    const before = await readTree(src);
    const uuid = await core.checkpoint.upload(src, { steps_completed: 7, format: 'raw' });

    expect(await storageEntries()).toEqual([uuid]);
    const stored = await readTree(join(storage, uuid));
    const metadataText = '{\n  "steps_completed": 7,\n  "format": "raw"\n}';
    expect(stored).toEqual({ ...before, 'metadata.json': Buffer.from(metadataText) });
    // The source directory is left as it was.
    expect(await readTree(src)).toEqual(before);

    const report = rec.calls.find((c) => c.path === '/api/v1/checkpoints')?.body;
    expect(report).toEqual({
      uuid,
      taskId: core.info.taskId,
      allocationId: null,
      reportTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      state: 'STATE_COMPLETED',
      resources: {
        'a.bin': '4',
        'deep/': '0',
        'deep/er/': '0',
        'deep/er/still/': '0',
        'deep/er/still/x.json': '7',
        'deep/er/y.txt': '1',
        'empty.txt': '0',
        'metadata.json': String(metadataText.length),
        'only-empty-dirs/': '0',
        'only-empty-dirs/inner/': '0',
        'unicode-é.txt': '2',
      },
      metadata: { steps_completed: 7, format: 'raw' },
      training: {},
      storageId: core.info.storageId,
      // Every file's CRC32C; sha256 digests only when asked for.
      crc32c: {
        'a.bin': crc32cOf(new Uint8Array([0, 1, 2, 255])),
        'deep/er/still/x.json': crc32cOf('{"x":1}'),
        'deep/er/y.txt': crc32cOf('y'),
        'empty.txt': crc32cOf(''),
        'metadata.json': crc32cOf(metadataText),
        'unicode-é.txt': crc32cOf('é'),
      },
    });
    const checkpoint = await getCheckpoint(core.client, uuid);
    expect(checkpoint.resources['a.bin']).toBe(4);
    expect(checkpoint.digests).toEqual({});
  });

  it('records every file’s CRC32C with the master, which returns it', async () => {
    const src = join(m.dir, 'src');
    await makeTree(src, { 'w.bin': new Uint8Array(5000).fill(9), 'sub/x.txt': 'x', 'sub/e': null });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 1 });
    const checkpoint = await getCheckpoint(core.client, uuid);
    expect(checkpoint.crc32c).toEqual({
      'w.bin': crc32cOf(new Uint8Array(5000).fill(9)),
      'sub/x.txt': crc32cOf('x'),
      'metadata.json': crc32cOf(await readFile(join(storage, uuid, 'metadata.json'))),
    });
  });

  it('records sha256 digests besides CRC32Cs when asked', async () => {
    const src = join(m.dir, 'src');
    await makeTree(src, { 'w.bin': 'weights', 'sub/x.txt': 'x', 'sub/e': null });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 2 }, { sha256: true });
    const metadataText = await readFile(join(storage, uuid, 'metadata.json'));
    const digests = {
      'w.bin': sha256('weights'),
      'sub/x.txt': sha256('x'),
      'metadata.json': sha256(metadataText),
    };
    expect(lastReport()).toMatchObject({
      digests,
      crc32c: {
        'w.bin': crc32cOf('weights'),
        'sub/x.txt': crc32cOf('x'),
        'metadata.json': crc32cOf(metadataText),
      },
    });
    expect((await getCheckpoint(core.client, uuid)).digests).toEqual(digests);
  });

  it('downloads what it uploaded, directly and through the master', async () => {
    const src = join(m.dir, 'src');
    await makeTree(src, { 'w.bin': new Uint8Array(5000).fill(3), 'd/e.txt': '', 'd/f': null });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 2 });
    const stored = await readTree(join(storage, uuid));
    const direct = await core.checkpoint.download(uuid, join(m.dir, 'direct'), { mode: 'direct' });
    expect(await readTree(direct)).toEqual(stored);

    await core.close();
    // The master's archive holds regular files only; the empty directory 'd/f/' listed in
    // resources is recreated from them.
    const viaMaster = await core.checkpoint.download(uuid, join(m.dir, 'via-master'), {
      mode: 'master',
    });
    expect(await readTree(viaMaster)).toEqual(stored);
  });

  it('uploads an empty directory as a checkpoint holding only metadata.json', async () => {
    const src = join(m.dir, 'empty');
    await mkdir(src);
    const uuid = await core.checkpoint.upload(src, { steps_completed: 0 });
    expect(Object.keys(await readTree(join(storage, uuid)))).toEqual(['metadata.json']);
    expect((await getCheckpoint(core.client, uuid)).resources).toEqual({
      'metadata.json': '{\n  "steps_completed": 0\n}'.length,
    });
  });

  it("replaces the source's metadata.json with the given metadata", async () => {
    const src = join(m.dir, 'with-meta');
    await makeTree(src, { 'metadata.json': '{"old":true}', 'w.bin': 'w' });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 3, note: 'new' });
    expect(JSON.parse(await readFile(join(storage, uuid, 'metadata.json'), 'utf8'))).toEqual({
      steps_completed: 3,
      note: 'new',
    });
    expect(await readFile(join(src, 'metadata.json'), 'utf8')).toBe('{"old":true}');
  });

  it('stores the target of a link inside the directory, never the link', async () => {
    const src = join(m.dir, 'links');
    await makeTree(src, { 'real/w.bin': 'weights', 'top.txt': 'top' });
    await symlink('real/w.bin', join(src, 'alias.bin'));
    await symlink('real', join(src, 'alias-dir'));
    const uuid = await core.checkpoint.upload(src, { steps_completed: 1 });
    const stored = await readTree(join(storage, uuid));
    expect(stored['alias.bin']).toEqual(Buffer.from('weights'));
    expect(stored['alias-dir/w.bin']).toEqual(Buffer.from('weights'));
    const entries = await readdir(join(storage, uuid), { withFileTypes: true });
    expect(entries.some((e) => e.isSymbolicLink())).toBe(false);
  });

  it('refuses links that leave the directory or loop, and leaves nothing in storage', async () => {
    const outside = join(m.dir, 'secret.txt');
    await writeFile(outside, 'secret');
    const escaping = join(m.dir, 'escaping');
    await makeTree(escaping, { 'a.txt': 'a' });
    await symlink(outside, join(escaping, 'z-link'));
    await expect(core.checkpoint.upload(escaping, { steps_completed: 1 })).rejects.toThrow(
      /refusing 'z-link': a symbolic link to .*secret\.txt, outside the checkpoint directory/,
    );
    const looping = join(m.dir, 'looping');
    await makeTree(looping, { 'sub/a.txt': 'a' });
    await symlink('..', join(looping, 'sub', 'up'));
    await expect(core.checkpoint.upload(looping, { steps_completed: 1 })).rejects.toThrow(
      /refusing 'sub\/up': a symbolic link that loops back/,
    );
    const dangling = join(m.dir, 'dangling');
    await makeTree(dangling, {});
    await symlink('nowhere', join(dangling, 'gone'));
    await expect(core.checkpoint.upload(dangling, { steps_completed: 1 })).rejects.toBeInstanceOf(
      StorageError,
    );
    expect(await storageEntries()).toEqual([]);
    expect(rec.calls.some((c) => c.path === '/api/v1/checkpoints')).toBe(false);
  });

  it('refuses a missing directory, metadata without steps_completed, and sharding', async () => {
    await expect(
      core.checkpoint.upload(join(m.dir, 'missing'), { steps_completed: 1 }),
    ).rejects.toBeInstanceOf(StorageError);
    await makeTree(join(m.dir, 'ok'), { a: 'a' });
    await expect(
      core.checkpoint.upload(join(m.dir, 'ok'), {} as { steps_completed: number }),
    ).rejects.toMatchObject({ name: 'ArgumentError', rule: 'steps_completed' });
    await expect(
      core.checkpoint.upload(join(m.dir, 'ok'), { steps_completed: -1 }),
    ).rejects.toBeInstanceOf(ArgumentError);
    await expect(
      core.checkpoint.upload(
        join(m.dir, 'ok'),
        { steps_completed: 1 },
        {
          shard: true as unknown as false,
        },
      ),
    ).rejects.toMatchObject({ rule: 'shard' });
    expect(await storageEntries()).toEqual([]);
  });

  it('stores into shared_fs host_path/storage_path', async () => {
    await core.close();
    const host = join(m.dir, 'host');
    core = await start({
      checkpoint_storage: { type: 'shared_fs', host_path: host, storage_path: 'ckpt' },
    });
    await makeTree(join(m.dir, 'ok'), { a: 'a' });
    const uuid = await core.checkpoint.upload(join(m.dir, 'ok'), { steps_completed: 1 });
    expect(await readFile(join(host, 'ckpt', uuid, 'a'), 'utf8')).toBe('a');
  });

  it('storePath: fills a directory in storage, then reports it', async () => {
    let seen = '';
    const uuid = await core.checkpoint.storePath({ steps_completed: 9 }, async (path, id) => {
      seen = id;
      expect(path.startsWith(storage)).toBe(true);
      await makeTree(path, { 'model.bin': 'm', 'nested/empty': null, 'metadata.json': 'mine' });
    });
    expect(uuid).toBe(seen);
    expect(await storageEntries()).toEqual([uuid]);
    const stored = await readTree(join(storage, uuid));
    expect(Object.keys(stored).sort()).toEqual([
      'metadata.json',
      'model.bin',
      'nested/',
      'nested/empty/',
    ]);
    expect(JSON.parse(String(stored['metadata.json']))).toEqual({ steps_completed: 9 });
    const report = lastReport();
    expect(report?.crc32c).toEqual({
      'model.bin': crc32cOf('m'),
      'metadata.json': crc32cOf(stored['metadata.json'] ?? ''),
    });
    expect(report).not.toHaveProperty('digests');
    const checkpoint = await getCheckpoint(core.client, uuid);
    expect(checkpoint.digests).toEqual({});
    expect(checkpoint.resources['nested/empty/']).toBe(0);
  });

  it('storePath: records sha256 digests besides CRC32Cs when asked', async () => {
    const uuid = await core.checkpoint.storePath(
      { steps_completed: 4 },
      async (path) => {
        await makeTree(path, { 'model.bin': 'm', 'sub/s.txt': 's' });
      },
      { sha256: true },
    );
    const metadataText = await readFile(join(storage, uuid, 'metadata.json'));
    const digests = {
      'model.bin': sha256('m'),
      'sub/s.txt': sha256('s'),
      'metadata.json': sha256(metadataText),
    };
    expect(lastReport()).toMatchObject({
      digests,
      crc32c: {
        'model.bin': crc32cOf('m'),
        'sub/s.txt': crc32cOf('s'),
        'metadata.json': crc32cOf(metadataText),
      },
    });
    expect((await getCheckpoint(core.client, uuid)).digests).toEqual(digests);
  });

  it('storePath: a failing fill or a link stores and reports nothing', async () => {
    await expect(
      core.checkpoint.storePath({ steps_completed: 1 }, async (path) => {
        await writeFile(join(path, 'half.bin'), 'half');
        throw new Error('fill failed');
      }),
    ).rejects.toThrow('fill failed');
    await expect(
      core.checkpoint.storePath({ steps_completed: 1 }, async (path) => {
        await writeFile(join(path, 'a'), 'a');
        await symlink('a', join(path, 'b'));
      }),
    ).rejects.toThrow(/regular files or directories, not symbolic links/);
    expect(await storageEntries()).toEqual([]);
    const { checkpoints } = await listCheckpointsPage(
      core.client,
      { trialId: core.info.trialId },
      { offset: 0, limit: 0 },
    );
    expect(checkpoints).toEqual([]);
  });

  it('waits for uploads in flight before close marks the trial COMPLETED', async () => {
    await makeTree(join(m.dir, 'big'), { 'w.bin': new Uint8Array(3 << 20).fill(7) });
    const upload = core.checkpoint.upload(join(m.dir, 'big'), { steps_completed: 1 });
    await core.close();
    const uuid = await upload;
    const reportAt = rec.calls.findIndex((c) => c.path === '/api/v1/checkpoints');
    const completedAt = rec.calls.findIndex(
      (c) =>
        c.method === 'PATCH' &&
        (c.body as { state?: string } | undefined)?.state === 'STATE_COMPLETED',
    );
    expect(reportAt).toBeGreaterThan(-1);
    expect(completedAt).toBeGreaterThan(reportAt);
    expect((await getCheckpoint(core.client, uuid)).resources['w.bin']).toBe(3 << 20);
  });
});

describe('core.checkpoint (s3 storage)', () => {
  let m: TestMaster;
  let fake: FakeS3;
  let core: CoreContext;
  let rec: ReturnType<typeof recordingFetch>;

  beforeEach(async () => {
    m = await inProcessMaster();
    fake = await startFakeS3();
    rec = recordingFetch(m.fetch);
    core = await init({
      master: m.url,
      fetch: rec.fetch,
      env: m.env,
      config: {
        searcher: { metric: 'loss' },
        checkpoint_storage: {
          type: 's3',
          bucket: 'det-test',
          prefix: 'ckpts',
          endpoint_url: fake.endpoint,
          access_key: 'S3RVER',
          secret_key: 'S3RVER',
        },
      },
    });
  });
  afterEach(async () => {
    await core.close();
    await fake.close();
    await m.close();
  });

  const reports = (): unknown[] =>
    rec.calls.filter((c) => c.path === '/api/v1/checkpoints').map((c) => c.body);

  it('uploads files and directories under <prefix>/<uuid>/, reports them, and downloads them back', async () => {
    const src = join(m.dir, 'src');
    const weights = new Uint8Array(3000).fill(5);
    await makeTree(src, { 'w.bin': weights, 'sub/x.txt': 'x', 'sub/e': null });
    const uuid = await core.checkpoint.upload(src, { steps_completed: 3 });

    const metadataText = '{\n  "steps_completed": 3\n}';
    const key = (path: string): string => `ckpts/${uuid}/${path}`;
    expect(fake.keys('det-test')).toEqual(
      ['metadata.json', 'sub/', 'sub/e/', 'sub/x.txt', 'w.bin'].map(key),
    );
    expect(fake.getObject('det-test', key('w.bin')).body.equals(weights)).toBe(true);
    expect(fake.getObject('det-test', key('metadata.json')).body.toString()).toBe(metadataText);
    expect(reports()).toEqual([
      expect.objectContaining({
        uuid,
        resources: {
          'metadata.json': String(metadataText.length),
          'sub/': '0',
          'sub/e/': '0',
          'sub/x.txt': '1',
          'w.bin': '3000',
        },
        crc32c: {
          'metadata.json': crc32cOf(metadataText),
          'sub/x.txt': crc32cOf('x'),
          'w.bin': crc32cOf(weights),
        },
      }),
    ]);
    expect(reports()[0]).not.toHaveProperty('digests');

    const events: string[] = [];
    const dir = await core.checkpoint.download(uuid, join(m.dir, 'out'), {
      mode: 'direct',
      env: {},
      onProgress: (e) => {
        if (e.type === 'start') {
          events.push(e.source);
        }
      },
    });
    expect(events).toEqual([`s3://det-test/ckpts/${uuid}`]);
    expect(await readTree(dir)).toEqual({
      'metadata.json': Buffer.from(metadataText),
      'sub/': null,
      'sub/e/': null,
      'sub/x.txt': Buffer.from('x'),
      'w.bin': Buffer.from(weights),
    });
  });

  it('storePath: uploads what fill wrote into a local directory, then removes it', async () => {
    let local = '';
    const uuid = await core.checkpoint.storePath(
      { steps_completed: 1 },
      async (path) => {
        local = path;
        await makeTree(path, { 'model.bin': 'm' });
      },
      { sha256: true },
    );
    await expect(lstat(local)).rejects.toThrow(/ENOENT/);
    expect(fake.getObject('det-test', `ckpts/${uuid}/model.bin`).body.toString()).toBe('m');
    expect(reports()).toEqual([
      expect.objectContaining({
        crc32c: expect.objectContaining({ 'model.bin': crc32cOf('m') }) as unknown,
        digests: expect.objectContaining({ 'model.bin': sha256('m') }) as unknown,
      }),
    ]);
  });

  it('deletes what it wrote when the store refuses an object, and reports nothing', async () => {
    const src = join(m.dir, 'src');
    await makeTree(src, { 'a.bin': 'a', 'b.bin': 'b', 'c.bin': 'c' });
    fake.inject({
      kind: 'status',
      status: 403,
      times: 1,
      match: (r) => r.method === 'PUT' && r.key.endsWith('/b.bin'),
    });
    await expect(core.checkpoint.upload(src, { steps_completed: 1 })).rejects.toBeInstanceOf(
      StorageError,
    );
    expect(fake.keys('det-test')).toEqual([]);
    expect(reports()).toEqual([]);
  });
});
