import type { FileHandle } from 'node:fs/promises';

import { LoaderError } from '../errors.js';
import { FileStorage, readAt } from '../file-storage.js';
import type { StorageFile, StorageSource } from '../file-storage.js';
import { DTYPE_BYTES } from '../tensor.js';
import { TruncatedPickleError, unpickle } from './pickle.js';
import type { PickleValue } from './pickle-values.js';
import { resolveTorchGlobal } from './torch-globals.js';
import { StorageRef, StorageType } from './torch-tensor.js';

/** The number the legacy format starts with (`torch.serialization.MAGIC_NUMBER`). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** The pickles come first; read this much, and four times more while they run past it. */
const FIRST_READ_BYTES = 1024 * 1024;
/** Each storage's bytes follow an 8-byte element count. */
const COUNT_BYTES = 8;

export interface LegacyFile {
  root: PickleValue;
  storages: readonly FileStorage[];
}

/** Whether `head` starts like a legacy torch file: protocol 2, then a LONG1 magic number. */
export function isLegacyTorch(head: Uint8Array): boolean {
  return head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a;
}

/**
 * Reads a file of torch's legacy format (`_use_new_zipfile_serialization=False`): pickles of
 * the magic number, the protocol version, sys_info, the object and the sorted storage keys,
 * then each storage as an 8-byte element count and its bytes. No storage bytes are read here.
 */
export async function readLegacyFile(
  handle: FileHandle,
  file: StorageFile,
  fileSize: number,
  signal?: AbortSignal,
): Promise<LegacyFile> {
  for (
    let length = Math.min(fileSize, FIRST_READ_BYTES);
    ;
    length = Math.min(fileSize, length * 4)
  ) {
    const head = await readAt(handle, 0, length, file.path, signal);
    try {
      return parseLegacy(head, file, fileSize);
    } catch (err: unknown) {
      if (!(err instanceof TruncatedPickleError) || length === fileSize) {
        throw err;
      }
    }
  }
}

function parseLegacy(head: Buffer, file: StorageFile, fileSize: number): LegacyFile {
  const where = file.path;
  const storages = new Map<string, LegacyStorage>();
  let at = 0;
  const next = (persistentLoad?: (pid: PickleValue) => PickleValue): PickleValue => {
    const result = unpickle(head, {
      where,
      start: at,
      resolveGlobal: resolveTorchGlobal,
      persistentLoad,
    });
    at = result.end;
    return result.value;
  };
  if (next() !== LEGACY_MAGIC) {
    throw new LoaderError(`${where}: not a torch file (wrong magic number)`);
  }
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) {
    throw new LoaderError(`${where}: legacy torch protocol ${String(protocol)} is not supported`);
  }
  const sysInfo = next();
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) {
    throw new LoaderError(`${where}: big-endian tensors are not supported`);
  }
  const root = next((pid) => legacyPersistentLoad(pid, storages, file));
  const keys = next();
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    throw new LoaderError(`${where}: the storage key list is malformed`);
  }
  let offset = at;
  for (const key of keys) {
    const listed = storages.get(key);
    if (listed === undefined) {
      throw new LoaderError(`${where}: storage ${key} is listed but no tensor uses it`);
    }
    const spanStart = offset;
    const spanEnd = offset + COUNT_BYTES + listed.root.byteLength;
    const checkCount = (bytes: Buffer, at: number): void => {
      const count = bytes.readBigInt64LE(at);
      if (count !== BigInt(listed.numel)) {
        throw new LoaderError(
          `${where}: storage ${key} has ${count} elements, the pickle says ${listed.numel}`,
        );
      }
    };
    const sourceAt = (byteOffset: number): StorageSource => ({
      spanStart,
      spanEnd,
      headerSize: COUNT_BYTES,
      dataStart: (bytes, at) => {
        checkCount(bytes, at);
        return COUNT_BYTES + byteOffset;
      },
    });
    listed.root.source = sourceAt(0);
    for (const view of listed.views.values()) {
      view.storage.source = sourceAt(view.byteOffset);
    }
    offset = spanEnd;
  }
  if (offset > fileSize) {
    throw new LoaderError(`${where}: the file is truncated (${fileSize} of ${offset} bytes)`);
  }
  const used = [...storages.values()].flatMap((listed) => [
    ...(listed.isRootUsed ? [listed.root] : []),
    ...[...listed.views.values()].map((view) => view.storage),
  ]);
  return { root, storages: used };
}

/** A storage the file lists, and the views of it that tensors use. */
interface LegacyStorage {
  root: FileStorage;
  numel: number;
  /** Whether a tensor uses the root itself, not only views of it. */
  isRootUsed: boolean;
  views: Map<string, { storage: FileStorage; byteOffset: number }>;
}

/**
 * `('storage', StorageType, root_key, location, numel, view_metadata)`; view_metadata, when
 * set, is `(view_key, offset, size)` in elements of the root storage, and the view becomes a
 * storage of its own, as torch makes it. Legacy `nn.Module` saves also carry
 * `('module', cls, source_file, source)`, which stands for `cls`.
 */
function legacyPersistentLoad(
  pid: PickleValue,
  storages: Map<string, LegacyStorage>,
  file: StorageFile,
): PickleValue {
  const [kind, type, key, , numel, view] = Array.isArray(pid) ? (pid as PickleValue[]) : [];
  if (kind === 'module') {
    return type;
  }
  if (kind !== 'storage' || typeof key !== 'string' || typeof numel !== 'number') {
    throw new LoaderError('a persistent id that is not a torch storage');
  }
  if (!(type instanceof StorageType)) {
    throw new LoaderError(`storage ${key} has an unsupported storage type`);
  }
  const elementBytes = DTYPE_BYTES[type.dtype];
  let listed = storages.get(key);
  if (listed === undefined) {
    const root = new FileStorage(file, `storage ${key}`, numel * elementBytes);
    listed = { root, numel, isRootUsed: false, views: new Map() };
    storages.set(key, listed);
  } else if (listed.root.byteLength !== numel * elementBytes) {
    throw new LoaderError(`storage ${key} is named with two different sizes`);
  }
  if (view === undefined || view === null) {
    listed.isRootUsed = true;
    return new StorageRef(listed.root, type.dtype);
  }
  const [viewKey, offset, size] = Array.isArray(view) ? (view as PickleValue[]) : [];
  if (
    typeof viewKey !== 'string' ||
    typeof offset !== 'number' ||
    typeof size !== 'number' ||
    offset < 0 ||
    size < 0 ||
    offset + size > numel
  ) {
    throw new LoaderError(`storage ${key} has a malformed view`);
  }
  let viewed = listed.views.get(viewKey);
  if (viewed === undefined) {
    const storage = new FileStorage(file, `storage ${viewKey}`, size * elementBytes);
    viewed = { storage, byteOffset: offset * elementBytes };
    listed.views.set(viewKey, viewed);
  }
  return new StorageRef(viewed.storage, type.dtype);
}
