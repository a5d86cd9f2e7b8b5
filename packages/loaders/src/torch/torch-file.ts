import type { FileHandle } from 'node:fs/promises';

import { LoaderError } from '../errors.js';
import { openForReading, readAt, StorageFile } from '../file-storage.js';
import type { FileStorage } from '../file-storage.js';
import type { TensorMap, TensorMode } from '../types.js';
import { isLegacyTorch, readLegacyFile } from './legacy.js';
import type { PickleValue } from './pickle-values.js';
import { collectTensors } from './tensor-paths.js';
import { resolveTorchGlobal } from './torch-globals.js';
import { TorchArchive } from './torch-zip.js';
import { ZipArchive } from './zip.js';

/** Bytes read first: enough to tell the formats apart, and often all of data.pkl. */
const HEAD_BYTES = 64 * 1024;
const ZIP_LOCAL_MAGIC = 0x04034b50;

export interface ReadTorchOptions {
  /** @default 'eager' */
  tensors?: TensorMode;
  signal?: AbortSignal;
}

export interface TorchFile {
  readonly format: 'zip' | 'legacy';
  /** The unpickled object: dicts as `Map`, tensors as `TorchTensor`, unknown classes inert. */
  readonly root: PickleValue;
  /** Every tensor reachable from `root`, by dotted path. */
  readonly tensors: TensorMap;
}

/** An open torch file: its handle and, for the zip format, its archive. */
export interface OpenTorchFile {
  readonly handle: FileHandle;
  readonly file: StorageFile;
  readonly size: number;
  /** Unset for the legacy format. */
  readonly archive: TorchArchive | undefined;
}

/**
 * Reads a `torch.save` file, zip or legacy format, without Python: the pickle through a
 * restricted unpickler that never runs code, the tensors from their storages. `eager` reads
 * every storage before returning, `lazy` on `tensor.load()`, `index` reads only the pickle.
 * Malformed or truncated input is a {@link LoaderError} naming the file.
 */
export async function readTorchFile(
  absPath: string,
  { tensors: mode = 'eager', signal }: ReadTorchOptions = {},
): Promise<TorchFile> {
  return withTorchFile(absPath, signal, async ({ handle, file, size, archive }) => {
    let format: TorchFile['format'];
    let root: PickleValue;
    let storages: Iterable<FileStorage>;
    if (archive !== undefined) {
      await archive.checkByteOrder(signal);
      root = await archive.unpickleRecord('data.pkl', 'data/', resolveTorchGlobal, signal);
      format = 'zip';
      storages = archive.storages.values();
    } else {
      ({ root, storages } = await readLegacyFile(handle, file, size, signal));
      format = 'legacy';
    }
    const tensors = collectTensors(root, absPath);
    if (mode === 'eager') {
      await file.load(storages, handle, signal);
    }
    return { format, root, tensors };
  });
}

/**
 * Opens a torch file, tells zip from legacy by its first bytes (as torch does) and runs `use`;
 * the handle is closed afterwards (lazy storages reopen the file).
 */
export async function withTorchFile<T>(
  absPath: string,
  signal: AbortSignal | undefined,
  use: (opened: OpenTorchFile) => Promise<T>,
): Promise<T> {
  const handle = await openForReading(absPath);
  try {
    const stat = await handle.stat();
    const file = new StorageFile(absPath, stat);
    const head = await readAt(handle, 0, Math.min(stat.size, HEAD_BYTES), absPath, signal);
    let archive: TorchArchive | undefined;
    if (head.byteLength >= 4 && head.readUInt32LE(0) === ZIP_LOCAL_MAGIC) {
      const zip = await ZipArchive.open(handle, stat.size, absPath, signal, head);
      if (zip === undefined) {
        throw new LoaderError(`${absPath}: the zip archive is truncated (no central directory)`);
      }
      archive = new TorchArchive(zip, file, handle);
    } else if (!isLegacyTorch(head)) {
      throw new LoaderError(`${absPath}: ${describeUnknown(head)}`);
    }
    return await use({ handle, file, size: stat.size, archive });
  } finally {
    await handle.close();
  }
}

function describeUnknown(head: Buffer): string {
  if (head.byteLength === 0) {
    return 'the file is empty';
  }
  if (head.toString('latin1', 257, 262) === 'ustar') {
    return "torch.save's oldest (tar) format is not supported";
  }
  return `not a torch file: neither a zip archive nor a legacy torch pickle (starts with ${head.subarray(0, 8).toString('hex')})`;
}
