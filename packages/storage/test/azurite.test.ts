import { connect } from 'node:net';

import { describe, expect, it } from 'vitest';

import { AZURITE_ACCOUNT_NAME, createContainer, startAzurite } from './azurite.js';

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startAzurite', () => {
  it('starts emulators side by side that store blobs under the well-known account', async () => {
    const [a, b] = await Promise.all([startAzurite(), startAzurite()]);
    try {
      expect(a.blobEndpoint).not.toBe(b.blobEndpoint);
      expect(a.accountUrl).toBe(`${a.blobEndpoint}/${AZURITE_ACCOUNT_NAME}`);
      const container = await createContainer(a, { name: 'shared-name' });
      await container.getBlockBlobClient('x/y.bin').upload(Buffer.from('hello'), 5);
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat()) {
        names.push(blob.name);
      }
      expect(names).toEqual(['x/y.bin']);
      // The other emulator has nothing of it: the same container name is free there.
      await createContainer(b, { name: 'shared-name' });
      expect(
        await b.service.getContainerClient('shared-name').getBlobClient('x/y.bin').exists(),
      ).toBe(false);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('close() kills the emulator and frees its port', async () => {
    const azurite = await startAzurite();
    const port = Number(new URL(azurite.blobEndpoint).port);
    expect(isAlive(azurite.pid)).toBe(true);
    await azurite.close();
    expect(isAlive(azurite.pid)).toBe(false);
    expect(await refuses(port)).toBe(true);
    await azurite.close(); // twice is harmless
  });
});
