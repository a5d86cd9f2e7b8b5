import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ArgumentError, StorageError } from '../errors.js';
import { resolveStorageConfig, storageBasePath, storageFromShortcut } from './storage.js';

describe('storageFromShortcut', () => {
  it('reads paths and file URLs as directory storage, as core_v2 does off-cluster', () => {
    expect(storageFromShortcut('/data/ckpts')).toEqual({
      type: 'directory',
      container_path: '/data/ckpts',
    });
    expect(storageFromShortcut('file:///data/ckpts')).toEqual({
      type: 'directory',
      container_path: '/data/ckpts',
    });
    expect(storageFromShortcut('rel/dir')).toEqual({
      type: 'directory',
      container_path: resolve('rel/dir'),
    });
  });

  it('reads s3:// and gs:// as cloud storage with a prefix', () => {
    expect(storageFromShortcut('s3://bucket/some/prefix')).toEqual({
      type: 's3',
      bucket: 'bucket',
      prefix: 'some/prefix',
    });
    expect(storageFromShortcut('gs://b')).toEqual({ type: 'gcs', bucket: 'b', prefix: '' });
  });

  it('refuses what Determined refuses', () => {
    for (const bad of ['', 'http://x/y', 'file://host/x', 's3://b/p?x=1', '/a#b', 'azure://c']) {
      expect(() => storageFromShortcut(bad), bad).toThrow(ArgumentError);
    }
  });
});

describe('resolveStorageConfig', () => {
  it("defaults to Determined's user data dir", () => {
    expect(resolveStorageConfig(undefined, { XDG_DATA_HOME: '/xdg' })).toEqual({
      type: 'directory',
      container_path: '/xdg/determined/checkpoints',
    });
    expect(resolveStorageConfig(undefined, { HOME: '/home/u' })).toEqual({
      type: 'directory',
      container_path: '/home/u/.local/share/determined/checkpoints',
    });
  });

  it('passes mappings through and refuses ones without a type', () => {
    const s3 = { type: 's3', bucket: 'b', endpoint_url: 'http://x' };
    expect(resolveStorageConfig(s3, {})).toBe(s3);
    expect(() =>
      resolveStorageConfig({ container_path: '/x' } as unknown as { type: string }, {}),
    ).toThrow(ArgumentError);
  });
});

describe('storageBasePath', () => {
  it('is container_path for directory storage', () => {
    expect(storageBasePath({ type: 'directory', container_path: '/a/b/' })).toBe('/a/b/');
  });

  it('is host_path[/storage_path] for shared_fs, with storage_path kept inside', () => {
    expect(storageBasePath({ type: 'shared_fs', host_path: '/h' })).toBe('/h');
    expect(storageBasePath({ type: 'shared_fs', host_path: '/h', storage_path: 's/t' })).toBe(
      '/h/s/t',
    );
    expect(storageBasePath({ type: 'shared_fs', host_path: '/h', storage_path: '/h/in' })).toBe(
      '/h/in',
    );
    for (const storage_path of ['..', '../x', '/elsewhere']) {
      expect(() => storageBasePath({ type: 'shared_fs', host_path: '/h', storage_path })).toThrow(
        /must be a subdirectory of host_path/,
      );
    }
  });

  it('refuses relative paths and cloud types with a StorageError', () => {
    expect(() => storageBasePath({ type: 'directory', container_path: 'rel' })).toThrow(
      StorageError,
    );
    for (const type of ['s3', 'gcs', 'azure']) {
      expect(() => storageBasePath({ type, bucket: 'b' })).toThrow(/is not a filesystem/);
    }
  });
});
