import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

import type { AzureStorageConfig } from '../config.js';
import { StorageConfigError, StorageUnreachableError } from '../errors.js';

/** How requests to an account are authorised. */
export type AzureAuth =
  /** Shared key: the control plane signs with it, the data plane with SASes signed from it. */
  | { kind: 'key'; credential: StorageSharedKeyCredential }
  /** A SAS token someone else signed (query string without `?`), sent on every request. */
  | { kind: 'sas'; sas: string }
  /** No credentials: a container with public read access. */
  | { kind: 'anonymous' };

/** An account's blob endpoint and what authorises requests to it. */
export interface AzureAccess {
  /** The blob service URL, without query or trailing `/` (`https://acct.blob.core.windows.net`). */
  serviceUrl: string;
  auth: AzureAuth;
  /** A SHA-256 of the secret (key, SAS, connection string): tells accesses apart in a cache. */
  secretHash: string;
}

/**
 * The query parameters a SAS token is made of (the Python SDK's `QueryStringConstants` plus
 * those of user delegation SASes): a `credential` made of these only is a SAS.
 */
const SAS_PARAMETERS = new Set([
  'sv',
  'ss',
  'srt',
  'sp',
  'se',
  'st',
  'sip',
  'spr',
  'si',
  'sig',
  'sr',
  'sdd',
  'ses',
  'rscc',
  'rscd',
  'rsce',
  'rscl',
  'rsct',
  'skoid',
  'sktid',
  'skt',
  'ske',
  'sks',
  'skv',
  'saoid',
  'suoid',
  'scid',
  'sduoid',
  'skdutid',
]);

/**
 * Whether a `credential` is a SAS token rather than an account key, decided by shape as
 * Determined's Python SDK (azure-storage-blob's `_is_credential_sastoken`) decides: read as a
 * query string (a leading `?` allowed), every parameter is a SAS parameter (`sv`, `sig`, `se`,
 * …). An account key is base64 and never reads so.
 */
export function isSasToken(credential: string): boolean {
  const keys = [...new URLSearchParams(credential.replace(/^\?/, '')).keys()];
  return keys.length > 0 && keys.every((key) => SAS_PARAMETERS.has(key));
}

/**
 * The account an account URL names, for signing with its key, as the Azure SDKs read it: the
 * first path segment of an IP or `localhost` endpoint (azurite's
 * `http://127.0.0.1:10000/devstoreaccount1`), else the first label of the host
 * (`acct.blob.core.windows.net`).
 */
export function accountNameOf(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const name =
    isIP(host) !== 0 || host === 'localhost'
      ? url.pathname.split('/').find((part) => part !== '')
      : host.split('.')[0];
  return name === undefined || name === '' ? undefined : decodeURIComponent(name);
}

function hashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** `account_url` as a URL; a malformed one is refused without being echoed (its query may be a SAS). */
function parseAccountUrl(accountUrl: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(accountUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new StorageConfigError(
      'account_url',
      'checkpoint_storage.account_url must be an http(s) URL',
    );
  }
  return url;
}

function serviceUrlOf(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** What a connection string (an account key one, or a SAS one) gives. */
function fromConnectionString(connectionString: string, where: string): AzureAccess {
  let client: BlobServiceClient;
  try {
    client = BlobServiceClient.fromConnectionString(connectionString);
  } catch (err: unknown) {
    // The library's messages name the faulty part, never its value.
    const why = err instanceof Error ? err.message : String(err);
    throw new StorageConfigError(
      'connection_string',
      `${where} is not an Azure Storage connection string: ${why}`,
    );
  }
  const url = new URL(client.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new StorageConfigError('connection_string', `${where} must name an http(s) endpoint`);
  }
  const serviceUrl = serviceUrlOf(url);
  const secretHash = hashOf(connectionString);
  if (client.credential instanceof StorageSharedKeyCredential) {
    return { serviceUrl, auth: { kind: 'key', credential: client.credential }, secretHash };
  }
  return { serviceUrl, auth: { kind: 'sas', sas: url.search.replace(/^\?/, '') }, secretHash };
}

/**
 * What `account_url` (and `credential`) give, as `BlobServiceClient(account_url, credential)`
 * in Determined's Python SDK: a SAS token or an account key (see `isSasToken`); without a
 * credential, a SAS in the URL's query, else anonymous access.
 */
function fromAccountUrl(accountUrl: string, credential: string | undefined): AzureAccess {
  const url = parseAccountUrl(accountUrl);
  const serviceUrl = serviceUrlOf(url);
  const inUrl = url.search.replace(/^\?/, '');
  if (credential === undefined || credential === '') {
    return inUrl === ''
      ? { serviceUrl, auth: { kind: 'anonymous' }, secretHash: '' }
      : { serviceUrl, auth: { kind: 'sas', sas: inUrl }, secretHash: hashOf(inUrl) };
  }
  if (isSasToken(credential)) {
    const sas = credential.replace(/^\?/, '');
    return { serviceUrl, auth: { kind: 'sas', sas }, secretHash: hashOf(sas) };
  }
  const accountName = accountNameOf(url);
  if (accountName === undefined) {
    throw new StorageConfigError(
      'account_url',
      `cannot tell the storage account from account_url ${serviceUrl} to sign with its key`,
    );
  }
  return {
    serviceUrl,
    auth: { kind: 'key', credential: new StorageSharedKeyCredential(accountName, credential) },
    secretHash: hashOf(credential),
  };
}

/**
 * How to reach an `azure` config's account, first match wins: its `connection_string`; its
 * `account_url` with its `credential`; `AZURE_STORAGE_CONNECTION_STRING` from `env`, unless
 * `account_url` names another account; `account_url` alone (a SAS in its query, or anonymous
 * access to a public container).
 *
 * Throws a `StorageConfigError` for a malformed connection string or account URL, or a
 * `credential` without `account_url`, and a
 * `StorageUnreachableError` (`no_access`) when there are no credentials and no account at all.
 */
export function resolveAzureAccess(
  config: AzureStorageConfig,
  env: Readonly<Record<string, string | undefined>>,
): AzureAccess {
  if (config.connectionString !== undefined && config.connectionString !== '') {
    return fromConnectionString(config.connectionString, 'checkpoint_storage.connection_string');
  }
  const accountUrl = config.accountUrl === '' ? undefined : config.accountUrl;
  if (config.credential !== undefined && config.credential !== '') {
    if (accountUrl === undefined) {
      // Determined's Python SDK refuses it too: a key or a SAS says nothing of the account.
      throw new StorageConfigError(
        'account_url',
        'checkpoint_storage.credential needs account_url, the account it is for',
      );
    }
    return fromAccountUrl(accountUrl, config.credential);
  }
  const fromEnv = env.AZURE_STORAGE_CONNECTION_STRING;
  if (fromEnv !== undefined && fromEnv !== '') {
    const access = fromConnectionString(fromEnv, 'AZURE_STORAGE_CONNECTION_STRING');
    if (
      accountUrl === undefined ||
      serviceUrlOf(parseAccountUrl(accountUrl)) === access.serviceUrl
    ) {
      return access;
    }
  }
  if (accountUrl !== undefined) {
    return fromAccountUrl(accountUrl, undefined);
  }
  throw new StorageUnreachableError(
    'azure',
    'no_access',
    `azure storage credentials are missing for container ${config.container}: set ` +
      'connection_string, or account_url and credential, in checkpoint_storage, or ' +
      'AZURE_STORAGE_CONNECTION_STRING',
  );
}
