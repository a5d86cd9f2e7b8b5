import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LoaderError } from './errors.js';
import { FileStorage, loadStorages, rangeSource, readAt, StorageFile } from './file-storage.js';

/** [position, byteLength]: tiny neighbours, an overlapping pair, one past the small limit. */
const RANGES: readonly (readonly [number, number])[] = [
  [0, 10],
  [10, 7],
  [40, 100],
  [100, 60],
  [5000, 3 << 20],
  [(3 << 20) + 5000, 1],
];
const FILE_BYTES = (3 << 20) + 6000;

describe('file storages', () => {
  let dir: string;
  let path: string;
  let content: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-storage-'));
    path = join(dir, 'data.bin');
    content = randomBytes(FILE_BYTES);
    await writeFile(path, content);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function storagesOf(
    file: string,
    check?: (index: number) => (bytes: ArrayBuffer) => void,
  ): Promise<FileStorage[]> {
    const storageFile = new StorageFile(file, await stat(file));
    return RANGES.map(
      ([position, byteLength], i) =>
        new FileStorage(storageFile, `t${i}`, byteLength, {
          source: rangeSource(position, byteLength),
          check: check?.(i),
        }),
    );
  }

  /** Compares with `equals`: vitest's deep equality takes seconds on a few MiB. */
  function expectBytes(storages: readonly FileStorage[]): void {
    const mismatched = storages.filter((storage, i) => {
      const [position, byteLength] = RANGES[i] ?? [0, 0];
      const expected = content.subarray(position, position + byteLength);
      return !Buffer.from(storage.bytes ?? new ArrayBuffer(0)).equals(expected);
    });
    expect(mismatched.map((storage) => storage.key)).toEqual([]);
  }

  it('reads each storage into its own buffer, eagerly through an open handle', async () => {
    const storages = await storagesOf(path);
    const handle = await open(path, 'r');
    try {
      await storages[0]?.file.load(storages, handle);
    } finally {
      await handle.close();
    }
    expectBytes(storages);
    expect(storages.every((s) => s.bytes?.byteLength === s.byteLength)).toBe(true);
  });

  it('reads lazy loads of the same tick together, and with loadStorages', async () => {
    const lazy = await storagesOf(path);
    await Promise.all(lazy.map((storage) => storage.load()));
    expectBytes(lazy);
    const eager = await storagesOf(path);
    await loadStorages(eager);
    expectBytes(eager);
  });

  it('refuses the bytes a check throws on, without failing the others of the batch', async () => {
    const refuse = (): void => {
      throw new LoaderError('t2: checksum mismatch');
    };
    const storages = await storagesOf(path, (i) => (i === 2 ? refuse : () => undefined));
    const results = await Promise.allSettled(storages.map((storage) => storage.load()));
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(storages[2]?.bytes).toBeUndefined();
    await expect(loadStorages(await storagesOf(path, () => refuse))).rejects.toThrow(
      /checksum mismatch/,
    );
  });

  it('refuses a lazy load from a file changed since indexed, and a truncated file', async () => {
    const changed = join(dir, 'changed.bin');
    await writeFile(changed, content);
    const storages = await storagesOf(changed);
    await appendFile(changed, 'x');
    await expect(storages[0]?.load()).rejects.toThrow(/changed since it was indexed/);

    const short = join(dir, 'short.bin');
    await writeFile(short, content.subarray(0, 1000));
    const handle = await open(short, 'r');
    try {
      await expect(readAt(handle, 900, 200, short)).rejects.toThrow(
        /short\.bin: the file is truncated: it ends at byte 1000, 100 bytes short/,
      );
    } finally {
      await handle.close();
    }
  });

  it('names the file and the storage in keys and errors', async () => {
    const missing = new StorageFile(join(dir, 'absent.bin'), { size: 0, mtimeMs: 0 });
    const orphan = new FileStorage(missing, 'w', 4, { source: rangeSource(0, 4) });
    expect(orphan.key).toBe('absent.bin:w');
    await expect(orphan.load()).rejects.toThrow(/absent\.bin: cannot open/);
  });
});
