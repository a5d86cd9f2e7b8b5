import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';

import { LoaderError } from '../errors.js';
import {
  describeError,
  FileStorage,
  loadStorages,
  rangeSource,
  StorageFile,
} from '../file-storage.js';
import { DTYPE_BYTES, Tensor } from '../tensor.js';
import type { TensorMap, TensorMode } from '../types.js';
import { crc32cOf, hex32, maskCrc } from './crc32c.js';
import { isNumeric, tfDType } from './dtypes.js';
import type { TfDType } from './dtypes.js';
import { decodeBundleEntry, decodeBundleHeader } from './proto.js';
import type { BundleEntryMessage, BundleHeaderMessage } from './proto.js';
import { readTable } from './sstable.js';

/** The TensorBundle format version this reader implements (TensorFlow's kTensorBundleVersion). */
const BUNDLE_VERSION = 1;
const BIG_ENDIAN = 1;

/** A variable kept without a numeric tensor: strings, resources, quantized or partitioned ones. */
export interface OpaqueVariable {
  readonly dtype: TfDType;
  /** Dimensions as stored. */
  readonly shape: readonly number[];
  /** Why it has no tensor. */
  readonly reason: string;
}

export interface TensorBundle {
  /** Numeric variables by name, in the index's (sorted) order. */
  readonly tensors: TensorMap;
  readonly opaque: ReadonlyMap<string, OpaqueVariable>;
}

/**
 * Reads the TensorBundle at `prefix` (`…/variables/variables`): the `prefix.index` table,
 * whose "" key holds the header and every other key a variable's entry, and the bytes of each
 * variable from `prefix.data-SSSSS-of-NNNNN`, checked against the entry's CRC-32C whenever they
 * are read (at once, or on `tensor.load()` in lazy and index modes).
 */
export async function readTensorBundle(
  prefix: string,
  { tensors: mode = 'eager', signal }: { tensors?: TensorMode; signal?: AbortSignal } = {},
): Promise<TensorBundle> {
  const indexPath = `${prefix}.index`;
  let indexBytes: Uint8Array;
  try {
    indexBytes = await readFile(indexPath);
  } catch (err: unknown) {
    throw new LoaderError(`${indexPath}: cannot read (${describeError(err)})`, { cause: err });
  }
  const [first, ...rest] = readTable(indexBytes, indexPath);
  if (first === undefined || first.key.length !== 0) {
    throw new LoaderError(`${indexPath}: no bundle header (the table has no "" key)`);
  }
  const header = decodeBundleHeader(first.value, `${indexPath}: header`);
  checkHeader(header, indexPath);
  const shardPaths = Array.from(
    { length: header.num_shards },
    (_, shard) => `${prefix}.data-${pad5(shard)}-of-${pad5(header.num_shards)}`,
  );
  const shardFiles = new Map<string, StorageFile>();
  const tensors = new Map<string, Tensor>();
  const opaque = new Map<string, OpaqueVariable>();
  const storages: FileStorage[] = [];
  const names = new TextDecoder();
  for (const { key, value } of rest) {
    // Keys starting with a zero byte hold the slices of a partitioned variable, which is
    // reported on its own entry.
    if (key[0] === 0) {
      continue;
    }
    const name = names.decode(key);
    const where = `${indexPath}: variable ${name}`;
    const entry = decodeBundleEntry(value, where);
    const dtype = tfDType(entry.dtype);
    const shape = shapeOf(entry, where);
    if (entry.slices.length > 0) {
      opaque.set(name, { dtype, shape, reason: 'partitioned variable (slices are not read)' });
    } else if (!isNumeric(dtype)) {
      opaque.set(name, { dtype, shape, reason: `${dtype} is not a numeric dtype` });
    } else {
      const dataPath = shardPaths[entry.shard_id];
      if (dataPath === undefined) {
        throw new LoaderError(
          `${where}: in shard ${entry.shard_id}, the header says ${header.num_shards} shards`,
        );
      }
      const needed = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
      if (entry.size !== needed) {
        throw new LoaderError(
          `${where}: ${dtype} [${shape.join(', ')}] needs ${needed} bytes, the entry says ${entry.size}`,
        );
      }
      const file = await indexShard(dataPath, shardFiles);
      if (entry.offset < 0 || entry.offset + entry.size > file.size) {
        throw new LoaderError(
          `${where}: bytes [${entry.offset}, ${entry.offset + entry.size}) run past the end of ` +
            `${basename(dataPath)} (${file.size} bytes)`,
        );
      }
      const storage = new FileStorage(file, name, entry.size, {
        source: rangeSource(entry.offset, entry.size),
        check: (bytes) => checkCrc(bytes, entry.crc32c, `${dataPath}: variable ${name}`),
      });
      storages.push(storage);
      tensors.set(name, new Tensor({ dtype, shape, storage }));
    }
  }
  if (mode === 'eager') {
    await loadStorages(storages, signal);
  }
  return { tensors, opaque };
}

function checkHeader(header: BundleHeaderMessage, indexPath: string): void {
  if (header.endianness === BIG_ENDIAN) {
    throw new LoaderError(`${indexPath}: big-endian bundles are not supported`);
  }
  const version = header.version;
  if (
    version !== null &&
    (version.min_consumer > BUNDLE_VERSION || version.bad_consumers.includes(BUNDLE_VERSION))
  ) {
    throw new LoaderError(
      `${indexPath}: bundle format version ${version.producer} needs a reader newer than version ${BUNDLE_VERSION}`,
    );
  }
  if (header.num_shards < 1) {
    throw new LoaderError(`${indexPath}: header says ${header.num_shards} data shards`);
  }
}

function shapeOf(entry: BundleEntryMessage, where: string): number[] {
  const dims = (entry.shape?.dim ?? []).map((d) => d.size);
  if (entry.shape?.unknown_rank === true || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new LoaderError(`${where}: stored shape is not fully known`);
  }
  return dims;
}

/** The data shard at `path` as it is now (lazy reads refuse it once changed). */
async function indexShard(path: string, known: Map<string, StorageFile>): Promise<StorageFile> {
  let file = known.get(path);
  if (file !== undefined) {
    return file;
  }
  try {
    file = new StorageFile(path, await stat(path));
    known.set(path, file);
    return file;
  } catch (err: unknown) {
    throw new LoaderError(`${path}: cannot read data shard (${describeError(err)})`, {
      cause: err,
    });
  }
}

function checkCrc(bytes: ArrayBuffer, stored: number, where: string): void {
  const actual = maskCrc(crc32cOf(new Uint8Array(bytes)));
  if (actual !== stored) {
    throw new LoaderError(
      `${where}: crc32c mismatch (stored ${hex32(stored)}, computed ${hex32(actual)}): the data file is corrupt`,
    );
  }
}

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}
