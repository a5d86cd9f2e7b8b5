import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { StorageError, StorageUnreachableError } from '../errors.js';
import { localCandidates, openLocalStore } from './resolve.js';

const U = '0b7cbd3c-1f6f-4f62-9b43-2d7e4f3a9c11';

describe('localCandidates', () => {
  it('puts directory checkpoints at <container_path>/<uuid>', () => {
    expect(localCandidates({ type: 'directory', container_path: '/data' }, U)).toEqual([
      `/data/${U}`,
    ]);
  });

  it('tries the shared_fs host path, then the container mount', () => {
    expect(localCandidates({ type: 'shared_fs', host_path: '/mnt/fs' }, U)).toEqual([
      `/mnt/fs/${U}`,
      `/determined_shared_fs/${U}`,
    ]);
  });

  it('takes storage_path relative to host_path, or absolute inside it', () => {
    const expected = [`/mnt/fs/ckpt/${U}`, `/determined_shared_fs/ckpt/${U}`];
    expect(
      localCandidates({ type: 'shared_fs', host_path: '/mnt/fs', storage_path: 'ckpt' }, U),
    ).toEqual(expected);
    expect(
      localCandidates({ type: 'shared_fs', host_path: '/mnt/fs', storage_path: '/mnt/fs/ckpt' }, U),
    ).toEqual(expected);
  });

  it('refuses a storage_path outside host_path', () => {
    expect(() =>
      localCandidates({ type: 'shared_fs', host_path: '/mnt/fs', storage_path: '/etc' }, U),
    ).toThrow(StorageError);
  });

  it('has no local candidates for object stores', () => {
    expect(localCandidates({ type: 's3', bucket: 'b' }, U)).toBeUndefined();
  });
});

describe('openLocalStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'det-resolve-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes, on the master, the container mount when it exists, else the host path', async () => {
    const store = await openLocalStore({ type: 'shared_fs', host_path: dir }, U, {
      side: 'master',
    });
    expect(store?.location).toBe(join(dir, U)); // no /determined_shared_fs on this machine
  });

  it('returns the first candidate that exists', async () => {
    await mkdir(join(dir, 'ckpt', U), { recursive: true });
    const store = await openLocalStore(
      { type: 'shared_fs', host_path: dir, storage_path: 'ckpt' },
      U,
    );
    expect(store?.type).toBe('shared_fs');
    expect(store?.location).toBe(join(dir, 'ckpt', U));
  });

  it('says not_found, naming every path tried, when none exists', async () => {
    const err = await openLocalStore({ type: 'shared_fs', host_path: dir }, U).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'not_found', storageType: 'shared_fs' });
    expect((err as Error).message).toContain(join(dir, U));
    expect((err as Error).message).toContain(`/determined_shared_fs/${U}`);
  });
});
