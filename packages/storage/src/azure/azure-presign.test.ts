import { randomUUID } from 'node:crypto';

import {
  ContainerSASPermissions,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { azureConfig } from '../../test/azure-helpers.js';
import { createContainer, startAzurite } from '../../test/azurite.js';
import type { AzuriteHandle } from '../../test/azurite.js';
import { startFaultProxy } from '../../test/fault-proxy.js';
import type { FaultProxy } from '../../test/fault-proxy.js';
import { describePresignedDownloads } from '../../test/presigned-downloads.js';
import type { StoredObject } from '../backend.js';
import { rawBodyOpener } from '../http/raw-body.js';
import { AZURE_API_VERSION } from './azure-sas.js';
import type { AzureStore } from './azure-store.js';
import { openAzureStore } from './open-azure.js';

let azurite: AzuriteHandle;
let container: ContainerClient;
let uuid: string;
let store: AzureStore;

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);

afterAll(async () => {
  await azurite.close();
});

beforeEach(async () => {
  container = await createContainer(azurite);
  uuid = randomUUID();
  store = openAzureStore(azureConfig(azurite, container.containerName), uuid);
});

async function put(path: string, data: string | Uint8Array, into = container): Promise<void> {
  await into.getBlockBlobClient(`${uuid}/${path}`).upload(data, Buffer.byteLength(data));
}

async function listed(path: string): Promise<StoredObject> {
  const found = (await store.list()).find((o) => o.path === path);
  if (found === undefined) {
    throw new Error(`${path} is not listed`);
  }
  return found;
}

/** A read-only SAS for the whole container, valid until `expiresOn`, as a user would give it. */
function containerSas(expiresOn: Date): string {
  return generateBlobSASQueryParameters(
    {
      containerName: container.containerName,
      permissions: ContainerSASPermissions.parse('rl'),
      expiresOn,
      protocol: SASProtocol.HttpsAndHttp,
      version: AZURE_API_VERSION,
    },
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  ).toString();
}

/** Fetches `url` until it answers `status` (a SAS lapses on the server's clock), at most 10 s. */
async function untilStatus(url: string, status: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(url);
    await res.body?.cancel();
    if (res.status === status) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`still ${res.status}, not ${status}, after 10 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('AzureStore.presignRead', () => {
  it('signs a read-only SAS for one blob that plain fetch reads, If-Match pinning it', async () => {
    await put('model.bin', 'the weights');
    const object = await listed('model.bin');
    const before = Date.now();
    const { url, expiresAtMs } = await store.presignRead(object, 900);
    expect(expiresAtMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 900_000);
    const blobUrl = `${azurite.accountUrl}/${container.containerName}/${uuid}/model.bin`;
    expect(url.startsWith(`${blobUrl}?`)).toBe(true);
    const q = new URL(url).searchParams;
    expect(Object.fromEntries(q)).toMatchObject({ sr: 'b', sp: 'r' });
    expect(Date.parse(q.get('se') ?? '')).toBe(expiresAtMs);

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(await whole.text()).toBe('the weights');
    const headers = { range: 'bytes=4-10', 'if-match': object.version ?? '' };
    const ranged = await fetch(url, { headers });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('weights');
    await put('model.bin', 'new weights');
    const stale = await fetch(url, { headers });
    expect(stale.status).toBe(412);
    await stale.body?.cancel();
    // Without its SAS the blob of this private container is not readable.
    const anonymous = await fetch(blobUrl);
    expect(anonymous.status).toBe(403);
    await anonymous.body?.cancel();
  });

  it('signs a SAS that stops working once expired', async () => {
    await put('a.bin', 'a');
    const { url, expiresAtMs } = await store.presignRead(await listed('a.bin'), 1);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 1000);
    await untilStatus(url, 403);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAtMs);
  });

  it('signs a SAS that opens its blob only', async () => {
    await put('a.bin', 'a');
    await put('b.bin', 'b');
    const { url } = await store.presignRead(await listed('a.bin'), 60);
    const other = await fetch(url.replace('/a.bin?', '/b.bin?'));
    expect(other.status).toBe(403);
    await other.body?.cancel();
  });

  it("hands out the store's own SAS with its own expiry", async () => {
    await put('a.bin', 'a');
    const object = await listed('a.bin');
    const expiresOn = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 3600_000);
    const sas = containerSas(expiresOn);
    const sasStore = openAzureStore(
      {
        type: 'azure',
        container: container.containerName,
        connectionString: undefined,
        accountUrl: azurite.accountUrl,
        credential: sas,
      },
      uuid,
    );
    const { url, expiresAtMs } = await sasStore.presignRead(object, 900);
    expect(expiresAtMs).toBe(expiresOn.getTime());
    expect(new URL(url).search).toBe(`?${sas}`);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a');
  });

  it('hands out the plain URL of a public container, reporting the lifetime asked for', async () => {
    const open = await createContainer(azurite, { isPublic: true });
    await put('a.bin', 'a', open);
    const anonymous = openAzureStore(
      {
        type: 'azure',
        container: open.containerName,
        connectionString: undefined,
        accountUrl: azurite.accountUrl,
        credential: undefined,
      },
      uuid,
      { env: {} },
    );
    const object = (await anonymous.list()).find((o) => o.path === 'a.bin');
    expect(object).toBeDefined();
    const before = Date.now();
    const { url, expiresAtMs } = await anonymous.presignRead(object as StoredObject, 900);
    expect(url).toBe(`${azurite.accountUrl}/${open.containerName}/${uuid}/a.bin`);
    expect(expiresAtMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 900_000);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a');
  });
});

describePresignedDownloads('Azure', async () => {
  const blobs = await createContainer(azurite);
  const id = randomUUID();
  const proxies: FaultProxy[] = [];
  // One connection per GET, so that a proxy's first connections are the first GETs sent to it.
  const open = rawBodyOpener();
  let via: string | undefined;
  return {
    signer: openAzureStore(azureConfig(azurite, blobs.containerName), id),
    put: async (path, data) => {
      await blobs.getBlockBlobClient(`${id}/${path}`).upload(data, data.byteLength);
    },
    refusal: async (_path, times) => {
      // In front of the emulator: azurite takes no injected faults.
      const proxy = await startFaultProxy(azurite.blobEndpoint, { status403: true, times });
      proxies.push(proxy);
      return () => {
        via = proxy.url;
      };
    },
    openBody: (url, init) =>
      open(via === undefined ? url : url.replace(azurite.blobEndpoint, via), init),
    close: async () => {
      for (const proxy of proxies) {
        await proxy.close();
      }
    },
  };
});
