import { describe, expect, it } from 'vitest';

import {
  MASKED,
  checkpointLocation,
  maskSecrets,
  normalizePath,
  normalizePrefix,
} from './storage-location';

const UUID = 'aaaaaaaa-1111-2222-3333-444444444444';

describe('checkpointLocation', () => {
  it('gives s3://bucket/prefix/uuid for s3', () => {
    expect(checkpointLocation({ type: 's3', bucket: 'ckpts', prefix: 'team/run' }, UUID)).toBe(
      `s3://ckpts/team/run/${UUID}`,
    );
  });

  it('gives s3://bucket/uuid for s3 without a prefix', () => {
    for (const prefix of [undefined, null, '', '/', '.', '//']) {
      expect(
        checkpointLocation({ type: 's3', bucket: 'ckpts', prefix }, UUID),
        String(prefix),
      ).toBe(`s3://ckpts/${UUID}`);
    }
    expect(checkpointLocation({ type: 's3', bucket: 'ckpts' }, UUID)).toBe(`s3://ckpts/${UUID}`);
  });

  it('normalises the s3 prefix as Determined does', () => {
    const at = (prefix: string) => checkpointLocation({ type: 's3', bucket: 'b', prefix }, UUID);
    expect(at('/a//b/./c/')).toBe(`s3://b/a/b/c/${UUID}`);
    expect(at('/ckpts')).toBe(`s3://b/ckpts/${UUID}`);
    expect(at('x//')).toBe(`s3://b/x/${UUID}`);
    expect(at('a/../b')).toBe(`s3://b/b/${UUID}`);
  });

  it('shows no s3 location for a prefix that climbs out of the bucket, which Determined refuses', () => {
    expect(checkpointLocation({ type: 's3', bucket: 'b', prefix: '../x' }, UUID)).toBeUndefined();
    expect(
      checkpointLocation({ type: 's3', bucket: 'b', prefix: 'a/../..' }, UUID),
    ).toBeUndefined();
  });

  it('never shows the s3 keys or the endpoint credentials', () => {
    const location = checkpointLocation(
      {
        type: 's3',
        bucket: 'b',
        prefix: 'p',
        access_key: 'AKIAEXAMPLE',
        secret_key: 'wJalrXUtnFEMI',
        endpoint_url: 'https://minio.test:9000',
      },
      UUID,
    );
    expect(location).toBe(`s3://b/p/${UUID}`);
  });

  it('gives gs://bucket/prefix/uuid for gcs, with the same prefix rule', () => {
    expect(checkpointLocation({ type: 'gcs', bucket: 'g', prefix: '/a//b/./c/' }, UUID)).toBe(
      `gs://g/a/b/c/${UUID}`,
    );
    expect(checkpointLocation({ type: 'gcs', bucket: 'g', prefix: '/' }, UUID)).toBe(
      `gs://g/${UUID}`,
    );
    expect(checkpointLocation({ type: 'gcs', bucket: 'g' }, UUID)).toBe(`gs://g/${UUID}`);
  });

  it('gives azure://container/uuid for azure, keeping a sub-path and trimming its trailing slash', () => {
    expect(
      checkpointLocation({ type: 'azure', container: 'models', connection_string: 'secret' }, UUID),
    ).toBe(`azure://models/${UUID}`);
    expect(checkpointLocation({ type: 'azure', container: 'models/runs/' }, UUID)).toBe(
      `azure://models/runs/${UUID}`,
    );
  });

  it('gives <account_url>/container/uuid for azure with an account URL', () => {
    expect(
      checkpointLocation(
        {
          type: 'azure',
          container: 'models/',
          account_url: 'https://acct.blob.core.windows.net/',
          credential: 'sv=2024&sig=abc',
        },
        UUID,
      ),
    ).toBe(`https://acct.blob.core.windows.net/models/${UUID}`);
  });

  it('drops a SAS token or user info from the azure account URL', () => {
    expect(
      checkpointLocation(
        {
          type: 'azure',
          container: 'c',
          account_url: 'https://user:pw@acct.blob.core.windows.net/?sv=2024&sig=abc#x',
        },
        UUID,
      ),
    ).toBe(`https://acct.blob.core.windows.net/c/${UUID}`);
  });

  it('gives <container_path>/uuid for directory', () => {
    expect(checkpointLocation({ type: 'directory', container_path: '/data/ckpts' }, UUID)).toBe(
      `/data/ckpts/${UUID}`,
    );
    expect(checkpointLocation({ type: 'directory', container_path: '/data/ckpts/' }, UUID)).toBe(
      `/data/ckpts/${UUID}`,
    );
    expect(checkpointLocation({ type: 'directory', container_path: '/' }, UUID)).toBe(`/${UUID}`);
  });

  it('gives <host_path>/uuid for shared_fs without a storage_path', () => {
    expect(checkpointLocation({ type: 'shared_fs', host_path: '/mnt/nfs' }, UUID)).toBe(
      `/mnt/nfs/${UUID}`,
    );
  });

  it('joins a relative shared_fs storage_path to host_path', () => {
    expect(
      checkpointLocation(
        { type: 'shared_fs', host_path: '/mnt/nfs/', storage_path: 'determined/ckpts' },
        UUID,
      ),
    ).toBe(`/mnt/nfs/determined/ckpts/${UUID}`);
    expect(
      checkpointLocation(
        { type: 'shared_fs', host_path: '/mnt/nfs', storage_path: './a//b/' },
        UUID,
      ),
    ).toBe(`/mnt/nfs/a/b/${UUID}`);
  });

  it('uses an absolute shared_fs storage_path as is', () => {
    expect(
      checkpointLocation(
        { type: 'shared_fs', host_path: '/mnt/nfs', storage_path: '/mnt/nfs/ckpts' },
        UUID,
      ),
    ).toBe(`/mnt/nfs/ckpts/${UUID}`);
  });

  it('shows nothing for a missing config, an unknown type, or a config missing its place', () => {
    for (const storage of [
      null,
      undefined,
      {},
      { type: 'hdfs', hdfs_url: 'hdfs://x' },
      { type: 42 },
      { type: 's3' },
      { type: 's3', bucket: '' },
      { type: 's3', bucket: 'b', prefix: 7 },
      { type: 'gcs', prefix: 'p' },
      { type: 'azure', account_url: 'https://acct.blob.core.windows.net' },
      { type: 'azure', container: '/' },
      { type: 'directory' },
      { type: 'shared_fs', storage_path: 'x' },
    ]) {
      expect(checkpointLocation(storage, UUID), JSON.stringify(storage)).toBeUndefined();
    }
  });
});

describe('normalizePrefix', () => {
  it("follows os.path.normpath(prefix).lstrip('/')", () => {
    expect(normalizePrefix('/a//b/./c/')).toBe('a/b/c');
    expect(normalizePrefix('//x/y')).toBe('x/y');
    expect(normalizePrefix('///x')).toBe('x');
    expect(normalizePrefix('/../x')).toBe('x');
    expect(normalizePrefix('a/./b/..')).toBe('a');
    expect(normalizePrefix('./a')).toBe('a');
  });

  it("means no prefix for an absent one, '', '/' and '.'", () => {
    for (const prefix of [undefined, null, '', '/', '.']) {
      expect(normalizePrefix(prefix), String(prefix)).toBe('');
    }
  });

  it('refuses a prefix that climbs out, or one that is not a string', () => {
    expect(normalizePrefix('../x')).toBeUndefined();
    expect(normalizePrefix('a/b/../../..')).toBeUndefined();
    expect(normalizePrefix(['a'])).toBeUndefined();
  });
});

describe('normalizePath', () => {
  it("matches Python's posixpath.normpath", () => {
    // Expected values are Python 3's os.path.normpath on these inputs.
    const cases: [string, string][] = [
      ['/a//b/./c/', '/a/b/c'],
      ['a/../b', 'b'],
      ['//x/y', '//x/y'],
      ['///x', '/x'],
      ['../x', '../x'],
      ['/../x', '/x'],
      ['a/b/../../..', '..'],
      ['.', '.'],
      ['', '.'],
      ['/', '/'],
    ];
    for (const [path, expected] of cases) {
      expect(normalizePath(path), path).toBe(expected);
    }
  });
});

describe('maskSecrets', () => {
  it('masks s3 and azure credentials and keeps the other keys', () => {
    expect(
      maskSecrets({
        type: 's3',
        bucket: 'b',
        prefix: 'p',
        access_key: 'AKIAEXAMPLE',
        secret_key: 'wJalrXUtnFEMI',
        endpoint_url: 'https://minio.test',
      }),
    ).toEqual({
      type: 's3',
      bucket: 'b',
      prefix: 'p',
      access_key: MASKED,
      secret_key: MASKED,
      endpoint_url: 'https://minio.test',
    });
    expect(
      maskSecrets({
        type: 'azure',
        container: 'c',
        account_url: 'https://acct.blob.core.windows.net',
        credential: 'sig',
        connection_string: 'AccountKey=k',
      }),
    ).toEqual({
      type: 'azure',
      container: 'c',
      account_url: 'https://acct.blob.core.windows.net',
      credential: MASKED,
      connection_string: MASKED,
    });
  });

  it('masks credentials nested in objects and arrays', () => {
    const masked = maskSecrets({ type: 'x', auth: { secret_key: 's' }, list: [{ password: 'p' }] });
    expect(masked).toEqual({
      type: 'x',
      auth: { secret_key: MASKED },
      list: [{ password: MASKED }],
    });
  });

  it('leaves an unset credential unset and does not change its argument', () => {
    const storage = { type: 's3', bucket: 'b', access_key: null, secret_key: 'k' };
    expect(maskSecrets(storage)).toEqual({ ...storage, secret_key: MASKED });
    expect(storage.secret_key).toBe('k');
  });
});
