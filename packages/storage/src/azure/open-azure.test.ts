// Every way an `azure` checkpoint_storage block can carry (or lack) credentials, through
// openCheckpointStore, against azurite.
import { randomUUID } from 'node:crypto';

import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { JsonObject } from '@determined-ts/api';

import { putDeterminedCheckpoint } from '../../test/azure-helpers.js';
import { createContainer, startAzurite } from '../../test/azurite.js';
import type { AzuriteHandle } from '../../test/azurite.js';
import { bytes } from '../../test/s3-helpers.js';
import type { CheckpointStore, ObjectRead } from '../backend.js';
import type { BodyOpener } from '../common.js';
import { StorageConfigError, StorageUnreachableError } from '../errors.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { openCheckpointStore } from '../open.js';
import type { AzureStore } from './azure-store.js';
import { splitContainer } from './open-azure.js';
import type { AzureOpenOptions } from './open-azure.js';

let azurite: AzuriteHandle;
let container: ContainerClient;
let publicContainer: ContainerClient;
const uuid = randomUUID();
const DATA = bytes(5000);

beforeAll(async () => {
  azurite = await startAzurite();
  container = await createContainer(azurite);
  publicContainer = await createContainer(azurite, { isPublic: true });
  for (const c of [container, publicContainer]) {
    await putDeterminedCheckpoint(c, uuid, { 'w.bin': DATA }, { dirs: ['d/'] });
  }
});

afterAll(async () => {
  await azurite.close();
});

/** A SAS for the whole account, as a user would paste it into `credential`. */
function accountSas(permissions = 'rwdlac'): string {
  return generateAccountSASQueryParameters(
    {
      services: AccountSASServices.parse('b').toString(),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      permissions: AccountSASPermissions.parse(permissions),
      expiresOn: new Date(Date.now() + 60 * 60 * 1000),
    },
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  ).toString();
}

function open(
  block: JsonObject,
  { env, openBody }: AzureOpenOptions = {},
): Promise<CheckpointStore> {
  return openCheckpointStore({ type: 'azure', ...block }, uuid, { env, azure: { openBody } });
}

async function readAll(read: ObjectRead): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of read.body) {
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Probes, lists and reads the checkpoint's file, ranged and pinned, through `store`. */
async function expectReadable(store: CheckpointStore): Promise<void> {
  await store.probe();
  const listed = await store.list();
  expect(listed.map((o) => o.path)).toEqual(['d/', 'w.bin']);
  const read = await store.read('w.bin', {
    range: { start: 100, end: 4000 },
    version: listed[1]?.version,
    signal: new AbortController().signal,
  });
  expect((await readAll(read)).equals(DATA.subarray(100, 4000))).toBe(true);
}

/** A transport that records the URLs it is asked to GET. */
function recording(): { openBody: BodyOpener; urls: URL[] } {
  const urls: URL[] = [];
  return {
    urls,
    openBody: (url, init) => {
      urls.push(new URL(url));
      return openKeptAliveBody(url, init);
    },
  };
}

describe('openAzureStore credentials', () => {
  it('reads with connection_string, signing its own read-only SAS for the data plane', async () => {
    const { openBody, urls } = recording();
    const store = await open(
      { container: container.containerName, connection_string: azurite.connectionString },
      { openBody },
    );
    await expectReadable(store);
    expect(Object.fromEntries(urls[0]?.searchParams ?? [])).toMatchObject({ sr: 'c', sp: 'r' });
  });

  it('reads with account_url and an account key as credential', async () => {
    const store = await open({
      container: container.containerName,
      account_url: azurite.accountUrl,
      credential: azurite.accountKey,
    });
    await expectReadable(store);
  });

  it("reads and writes with account_url and a SAS token as credential, sending the user's SAS", async () => {
    const sas = accountSas();
    const { openBody, urls } = recording();
    const store = await open(
      { container: container.containerName, account_url: azurite.accountUrl, credential: sas },
      { openBody },
    );
    await expectReadable(store);
    expect(urls[0]?.search).toBe(`?${sas}`);
    const writer = store as AzureStore;
    await writer.putObject('new.bin', Buffer.from('x'), 1, undefined);
    expect(await writer.head('new.bin')).toMatchObject({ size: 1 });
    expect(await writer.remove(['new.bin'])).toEqual(new Set(['new.bin']));
  });

  it('reads with a SAS connection string', async () => {
    const store = await open({
      container: container.containerName,
      connection_string: `BlobEndpoint=${azurite.accountUrl};SharedAccessSignature=${accountSas('rl')}`,
    });
    await expectReadable(store);
  });

  it('reads with AZURE_STORAGE_CONNECTION_STRING from the env it is given', async () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    await expectReadable(await open({ container: container.containerName }, { env }));
    // The same account named by account_url takes it too.
    await expectReadable(
      await open({ container: container.containerName, account_url: azurite.accountUrl }, { env }),
    );
  });

  it('reads a public container anonymously with account_url alone, and cannot write there', async () => {
    const { openBody, urls } = recording();
    const store = await open(
      { container: publicContainer.containerName, account_url: azurite.accountUrl },
      { openBody },
    );
    await expectReadable(store);
    expect(urls[0]?.search).toBe('');
    const err = await (store as AzureStore)
      .putObject('x.bin', Buffer.from('x'), 1, undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'no_access' });
  });

  it('goes anonymous rather than lend env credentials to another account URL', async () => {
    // The same emulator under another name: to the store, another account.
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString.replace('127.0.0.1', 'localhost'),
    };
    const store = await open(
      { container: container.containerName, account_url: azurite.accountUrl },
      { env },
    );
    expect((store as AzureStore).container.urls.blobReadUrl('x')).not.toContain('?');
    const err = await store.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect((err as Error).message).toMatch(/AuthorizationFailure|ResourceNotFound/);
  });

  it('throws a typed error saying credentials are missing when there are none', async () => {
    const err = await open(
      { container: container.containerName },
      { env: { AZURE_STORAGE_CONNECTION_STRING: undefined } },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ storageType: 'azure', reason: 'no_access' });
    expect((err as Error).message).toMatch(/credentials are missing/);
  });

  it('is refused (no_access) with a wrong key, on the control plane and the data plane', async () => {
    const wrongKey = Buffer.alloc(64, 1).toString('base64');
    const byUrl = await open({
      container: container.containerName,
      account_url: azurite.accountUrl,
      credential: wrongKey,
    });
    await expect(byUrl.probe()).rejects.toMatchObject({
      name: 'StorageUnreachableError',
      reason: 'no_access',
    });
    const byString = await open({
      container: container.containerName,
      connection_string: azurite.connectionString.replace(azurite.accountKey, wrongKey),
    });
    const err = await byString
      .read('w.bin', { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnreachableError);
    expect(err).toMatchObject({ reason: 'no_access' });
    expect((err as Error).message).toMatch(/403 AuthenticationFailed|403 AuthorizationFailure/);
    expect((err as Error).message).not.toContain('sig=');
  });

  it('refuses a malformed connection string as a config error', async () => {
    await expect(
      open({ container: container.containerName, connection_string: 'nonsense' }),
    ).rejects.toBeInstanceOf(StorageConfigError);
  });

  it('locates checkpoints as the web UI does: under account_url when given, never with its SAS', async () => {
    const byString = await open({
      container: `${container.containerName}/`,
      connection_string: azurite.connectionString,
    });
    expect(byString.location).toBe(`azure://${container.containerName}/${uuid}`);
    const byUrl = await open({
      container: container.containerName,
      account_url: `${azurite.accountUrl}/?${accountSas('rl')}`,
    });
    expect(byUrl.location).toBe(`${azurite.accountUrl}/${container.containerName}/${uuid}`);
  });

  it('shares one container client among stores of the same account, credentials and container', async () => {
    const block = {
      container: container.containerName,
      connection_string: azurite.connectionString,
    };
    const a = (await open(block)) as AzureStore;
    const b = (await openCheckpointStore({ type: 'azure', ...block }, randomUUID())) as AzureStore;
    expect(a.container).toBe(b.container);
    const other = (await open({
      container: container.containerName,
      account_url: azurite.accountUrl,
      credential: azurite.accountKey,
    })) as AzureStore;
    expect(other.container).not.toBe(a.container);
  });

  it('hands out read URLs of one blob that expire when asked, usable by anyone', async () => {
    const store = (await open({
      container: container.containerName,
      connection_string: azurite.connectionString,
    })) as AzureStore;
    const url = store.container.urls.blobReadUrl(`${uuid}/w.bin`, new Date(Date.now() + 60_000));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(DATA)).toBe(true);
    // The SAS is for that blob only.
    const elsewhere = new URL(url);
    elsewhere.pathname = elsewhere.pathname.replace('w.bin', 'd/');
    expect((await fetch(elsewhere)).status).toBe(403);
  });
});

describe('splitContainer', () => {
  it('takes the first segment as the container and the rest as a path in it', () => {
    expect(splitContainer('ckpts')).toEqual({ name: 'ckpts', prefix: '' });
    expect(splitContainer('ckpts/')).toEqual({ name: 'ckpts', prefix: '' });
    expect(splitContainer('ckpts/team//a/./')).toEqual({ name: 'ckpts', prefix: 'team/a' });
  });

  it('refuses a path that climbs out, and an empty container name', () => {
    for (const container of ['ckpts/../other', '/ckpts', '']) {
      expect(() => splitContainer(container), container).toThrow(StorageConfigError);
    }
  });
});
