import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';

import type { AzureStorageConfig } from '../config.js';
import { StorageConfigError, StorageUnreachableError } from '../errors.js';
import { accountNameOf, isSasToken, resolveAzureAccess } from './azure-auth.js';

const KEY = Buffer.alloc(64, 7).toString('base64');
const OTHER_KEY = Buffer.alloc(64, 9).toString('base64');
const SAS = 'sv=2025-01-05&ss=b&srt=sco&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=abc%3D';

function config(overrides: Partial<AzureStorageConfig>): AzureStorageConfig {
  return {
    type: 'azure',
    container: 'ckpts',
    connectionString: undefined,
    accountUrl: undefined,
    credential: undefined,
    ...overrides,
  };
}

const keyString = (account: string, key = KEY): string =>
  `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=${key};EndpointSuffix=core.windows.net`;

describe('isSasToken', () => {
  it.each([
    [SAS, true],
    [`?${SAS}`, true],
    ['sv=2025-01-05&sr=c&sp=r&se=2030-01-01&sig=x', true],
    [KEY, false], // base64 with '=' padding reads as one unknown parameter
    ['c2VjcmV0', false],
    ['sv=2025-01-05&sig=x&extra=1', false],
    ['', false],
  ])('%s → %s', (credential, expected) => {
    expect(isSasToken(credential)).toBe(expected);
  });
});

describe('accountNameOf', () => {
  it.each([
    ['https://acct.blob.core.windows.net', 'acct'],
    ['https://acct.blob.core.windows.net/', 'acct'],
    ['http://127.0.0.1:10000/devstoreaccount1', 'devstoreaccount1'],
    ['http://localhost:10000/devstoreaccount1/', 'devstoreaccount1'],
    ['http://[::1]:10000/devstoreaccount1', 'devstoreaccount1'],
    ['http://127.0.0.1:10000', undefined],
  ])('%s → %s', (url, expected) => {
    expect(accountNameOf(new URL(url))).toBe(expected);
  });
});

describe('resolveAzureAccess', () => {
  it('takes connection_string first, with the account key it carries', () => {
    const access = resolveAzureAccess(
      config({
        connectionString: keyString('first'),
        accountUrl: 'https://second.blob.core.windows.net',
        credential: KEY,
      }),
      { AZURE_STORAGE_CONNECTION_STRING: keyString('third') },
    );
    expect(access.serviceUrl).toBe('https://first.blob.core.windows.net');
    expect(access.auth.kind).toBe('key');
    expect(access.auth.kind === 'key' && access.auth.credential.accountName).toBe('first');
  });

  it('reads a SAS connection string as a SAS', () => {
    const access = resolveAzureAccess(
      config({
        connectionString: `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${SAS}`,
      }),
      {},
    );
    expect(access).toMatchObject({
      serviceUrl: 'https://acct.blob.core.windows.net',
      auth: { kind: 'sas', sas: SAS },
    });
  });

  it('takes account_url with credential next: an account key, or a SAS token by its shape', () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: keyString('other') };
    const withKey = resolveAzureAccess(
      config({ accountUrl: 'https://acct.blob.core.windows.net/', credential: KEY }),
      env,
    );
    expect(withKey.serviceUrl).toBe('https://acct.blob.core.windows.net');
    if (withKey.auth.kind !== 'key') {
      throw new Error(`expected a key, got ${withKey.auth.kind}`);
    }
    expect(withKey.auth.credential).toBeInstanceOf(StorageSharedKeyCredential);
    expect(withKey.auth.credential.accountName).toBe('acct');
    const withSas = resolveAzureAccess(
      config({ accountUrl: 'https://acct.blob.core.windows.net', credential: `?${SAS}` }),
      env,
    );
    expect(withSas.auth).toEqual({ kind: 'sas', sas: SAS });
  });

  it('takes AZURE_STORAGE_CONNECTION_STRING from env when the config has no credentials', () => {
    const access = resolveAzureAccess(config({}), {
      AZURE_STORAGE_CONNECTION_STRING: keyString('fromenv'),
    });
    expect(access.serviceUrl).toBe('https://fromenv.blob.core.windows.net');
    expect(access.auth.kind).toBe('key');
  });

  it("ignores env credentials for another account than account_url's, going anonymous", () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: keyString('fromenv') };
    const same = resolveAzureAccess(
      config({ accountUrl: 'https://FROMENV.blob.core.windows.net/' }),
      env,
    );
    expect(same.auth.kind).toBe('key');
    const other = resolveAzureAccess(
      config({ accountUrl: 'https://public.blob.core.windows.net' }),
      env,
    );
    expect(other).toEqual({
      serviceUrl: 'https://public.blob.core.windows.net',
      auth: { kind: 'anonymous' },
      secretHash: '',
    });
  });

  it('takes a SAS from the query of a lone account_url', () => {
    const access = resolveAzureAccess(
      config({ accountUrl: `https://acct.blob.core.windows.net/?${SAS}` }),
      {},
    );
    expect(access).toMatchObject({
      serviceUrl: 'https://acct.blob.core.windows.net',
      auth: { kind: 'sas', sas: SAS },
    });
  });

  it('throws a typed no_access error saying credentials are missing when there is nothing', () => {
    const err = (() => {
      try {
        return resolveAzureAccess(config({}), { AZURE_STORAGE_CONNECTION_STRING: '' });
      } catch (e: unknown) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ storageType: 'azure', reason: 'no_access' });
    expect((err as Error).message).toContain('credentials are missing');
  });

  it('refuses malformed connection strings and account URLs without echoing them', () => {
    const secret = 'AccountKey=not-a-connection-string';
    expect(() => resolveAzureAccess(config({ connectionString: secret }), {})).toThrow(
      StorageConfigError,
    );
    try {
      resolveAzureAccess(config({ accountUrl: 'ftp://acct/?sig=secret', credential: KEY }), {});
      throw new Error('expected a StorageConfigError');
    } catch (err: unknown) {
      expect(err).toMatchObject({ name: 'StorageConfigError', key: 'account_url' });
      expect((err as Error).message).not.toContain('secret');
    }
  });

  it('refuses a credential without account_url, whatever env holds', () => {
    expect(() =>
      resolveAzureAccess(config({ credential: KEY }), {
        AZURE_STORAGE_CONNECTION_STRING: keyString('fromenv'),
      }),
    ).toThrow(expect.objectContaining({ name: 'StorageConfigError', key: 'account_url' }));
  });

  it('tells accesses to one account apart by a hash of their secret', () => {
    const a = resolveAzureAccess(config({ connectionString: keyString('acct', KEY) }), {});
    const b = resolveAzureAccess(config({ connectionString: keyString('acct', OTHER_KEY) }), {});
    expect(a.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.secretHash).not.toBe(b.secretHash);
    expect(a.serviceUrl).toBe(b.serviceUrl);
  });
});
