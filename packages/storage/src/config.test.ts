import { describe, expect, it } from 'vitest';

import { checkpointKeyPrefix, normalizePrefix, parseStorageConfig } from './config.js';
import { StorageConfigError } from './errors.js';

describe('normalizePrefix', () => {
  // Determined's own cases (harness/tests/storage/test_s3.py).
  it.each([
    [undefined, ''],
    ['', ''],
    ['/', ''],
    ['///', ''],
    ['foo', 'foo'],
    ['/foo', 'foo'],
    ['/foo/', 'foo'],
    ['./foo/', 'foo'],
    ['/./foo/', 'foo'],
    ['/fo..o/', 'fo..o'],
    ['a//b/./c/', 'a/b/c'],
  ])('normalises %j to %j', (prefix, expected) => {
    expect(normalizePrefix(prefix)).toBe(expected);
  });

  it.each(['/foo/..', '../foo', 'fo/../o', '..'])('refuses %j, which climbs out', (prefix) => {
    expect(() => normalizePrefix(prefix)).toThrow(StorageConfigError);
  });
});

describe('checkpointKeyPrefix', () => {
  it('puts a checkpoint under the prefix, or at the bucket root without one', () => {
    expect(checkpointKeyPrefix('a/b', 'u')).toBe('a/b/u');
    expect(checkpointKeyPrefix('', 'u')).toBe('u');
  });
});

describe('parseStorageConfig', () => {
  it('reads an s3 block with every key, and the GC policy keys', () => {
    expect(
      parseStorageConfig({
        type: 's3',
        bucket: 'b',
        prefix: '/runs/',
        access_key: 'AK',
        secret_key: 'SK',
        endpoint_url: 'http://127.0.0.1:9000/',
        save_trial_best: 1,
      }),
    ).toEqual({
      type: 's3',
      bucket: 'b',
      prefix: 'runs',
      accessKey: 'AK',
      secretKey: 'SK',
      endpointUrl: 'http://127.0.0.1:9000',
    });
  });

  it('takes null for unset optional keys, as Determined writes them', () => {
    expect(
      parseStorageConfig({ type: 's3', bucket: 'b', prefix: null, endpoint_url: null }),
    ).toMatchObject({
      prefix: '',
      endpointUrl: undefined,
    });
  });

  it.each([
    [{ type: 'nfs' }, 'type'],
    [{ type: 'toString' }, 'type'],
    [{ type: 's3' }, 'bucket'],
    [{ type: 's3', bucket: '' }, 'bucket'],
    [{ type: 's3', bucket: 'b', prefix: '../x' }, 'prefix'],
    [{ type: 's3', bucket: 'b', endpoint_url: 'ftp://x' }, 'endpoint_url'],
    [{ type: 's3', bucket: 'b', endpoint_url: 'http://u:p@x' }, 'endpoint_url'],
    [{ type: 's3', bucket: 'b', access_key: 'AK' }, 'secret_key'],
    [{ type: 's3', bucket: 'b', prefix: 7 }, 'prefix'],
    [{ type: 'directory', container_path: 'relative' }, 'container_path'],
    [{ type: 'shared_fs' }, 'host_path'],
    [{ type: 'gcs' }, 'bucket'],
    [{ type: 'azure' }, 'container'],
  ])('refuses %j, naming %s', (raw, key) => {
    let error: unknown;
    try {
      parseStorageConfig(raw, { isStrict: true });
    } catch (err: unknown) {
      error = err;
    }
    expect(error).toBeInstanceOf(StorageConfigError);
    expect(error).toMatchObject({ key });
    expect((error as Error).message).toContain(key);
  });

  it('refuses unknown keys of cloud types only when strict (the master), not on clients', () => {
    const raw = { type: 's3', bucket: 'b', region: 'eu-west-1' };
    expect(() => parseStorageConfig(raw, { isStrict: true })).toThrow(
      /region is not a key of s3 storage/,
    );
    expect(parseStorageConfig(raw)).toMatchObject({ bucket: 'b' });
    // Local types carry legacy keys (checkpoint_path, propagation) and stay lenient.
    expect(
      parseStorageConfig({ type: 'shared_fs', host_path: '/h', foo: 1 }, { isStrict: true }),
    ).toMatchObject({
      hostPath: '/h',
    });
  });

  it('refuses a block that is not a mapping', () => {
    expect(() => parseStorageConfig('s3://b')).toThrow(StorageConfigError);
    expect(() => parseStorageConfig(null)).toThrow(StorageConfigError);
    expect(() => parseStorageConfig([])).toThrow(StorageConfigError);
  });
});
