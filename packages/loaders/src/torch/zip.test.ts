import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OWN_TORCH_FIXTURES } from '../../test/torch-expected.js';
import { DEFLATED, STORED, ZipArchive } from './zip.js';

async function withZip<T>(
  file: string,
  use: (zip: ZipArchive | undefined, read: (name: string) => Promise<Buffer>) => Promise<T>,
): Promise<T> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const zip = await ZipArchive.open(handle, size, file);
    const read = async (name: string): Promise<Buffer> => {
      const entry = zip?.entries.get(name);
      if (zip === undefined || entry === undefined) {
        throw new Error(`no ${name}`);
      }
      return zip.readEntry(handle, entry);
    };
    return await use(zip, read);
  } finally {
    await handle.close();
  }
}

const own = (name: string): string => path.join(OWN_TORCH_FIXTURES, name);

describe('ZipArchive', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'zip-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('reads sizes and offsets from zip64 records and extra fields', async () => {
    const original = await withZip(own('views.pt'), (_, read) => read('views/data.pkl'));
    await withZip(own('zip64.pt'), async (zip, read) => {
      const entry = zip?.entries.get('archive/data.pkl');
      expect(entry?.size).toBe(original.byteLength);
      expect(entry?.method).toBe(STORED);
      // The local header's 13-byte padding field is not in the central directory.
      expect(await read('archive/data.pkl')).toEqual(original);
    });
  });

  it('finds an entry data offset from its local header, past torch’s alignment padding', async () => {
    const handle = await open(own('views.pt'), 'r');
    try {
      const zip = await ZipArchive.open(handle, (await handle.stat()).size, 'views.pt');
      const entry = zip?.entries.get('views/data/0');
      const offset = entry === undefined ? -1 : await zip?.dataOffset(handle, entry);
      expect(offset).toBeGreaterThan(entry?.headerOffset ?? 0);
      expect((offset ?? 0) % 64).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('inflates deflated entries (TorchScript code)', async () => {
    await withZip(own('scripted.pt'), async (zip, read) => {
      expect(zip?.entries.get('scripted/code/__torch__.py')?.method).toBe(DEFLATED);
      expect((await read('scripted/code/__torch__.py')).toString()).toContain('class Tiny(Module)');
    });
  });

  it('checks each entry against its CRC-32', async () => {
    const bytes = await readFile(own('scripted.pt'));
    const handle = await open(own('scripted.pt'), 'r');
    let offset = 0;
    try {
      const zip = await ZipArchive.open(handle, bytes.byteLength, 'scripted.pt');
      const entry = zip?.entries.get('scripted/constants.pkl');
      offset = entry === undefined ? 0 : ((await zip?.dataOffset(handle, entry)) ?? 0);
    } finally {
      await handle.close();
    }
    bytes.writeUInt8(bytes.readUInt8(offset + 1) ^ 0xff, offset + 1);
    const file = path.join(scratch, 'crc.pt');
    await writeFile(file, bytes);
    await withZip(file, async (_, read) => {
      await expect(read('scripted/constants.pkl')).rejects.toThrow(/corrupt/);
    });
  });

  it('says undefined for a file without an end-of-central-directory record', async () => {
    const file = path.join(scratch, 'plain.bin');
    await writeFile(file, Buffer.alloc(100, 7));
    expect(await withZip(file, (zip) => Promise.resolve(zip))).toBeUndefined();
  });

  it('rejects a central directory that points past the file', async () => {
    const bytes = await readFile(own('views.pt'));
    const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const zip64Record = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
    bytes.writeBigUInt64LE(BigInt(bytes.byteLength * 2), zip64Record + 48);
    bytes.writeUInt32LE(bytes.byteLength * 2, eocd + 16);
    const file = path.join(scratch, 'bad-cd.pt');
    await writeFile(file, bytes);
    await expect(withZip(file, (zip) => Promise.resolve(zip))).rejects.toThrow(/central directory/);
  });
});
