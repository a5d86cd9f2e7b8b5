import { readdir, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { LoaderError } from './errors.js';
import {
  describeError,
  FileStorage,
  openForReading,
  rangeSource,
  readAt,
  StorageFile,
} from './file-storage.js';
import { DTYPE_BYTES, Tensor } from './tensor.js';
import type { DType } from './tensor.js';
import type { TensorMap, TensorMode } from './types.js';

/** safetensors' own element type names, as its header spells them. */
const SAFETENSORS_DTYPES = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U64: 'uint64',
  U32: 'uint32',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
  C64: 'complex64',
} as const satisfies Record<string, DType>;

/** The safetensors library refuses larger headers; refusing them first avoids a huge allocation. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const INDEX_SUFFIX = '.safetensors.index.json';

export interface ReadSafetensorsOptions {
  /** @default 'eager' */
  tensors?: TensorMode;
  signal?: AbortSignal;
}

export interface SafetensorsContents {
  /** Tensors in the order of their bytes in the file(s). */
  readonly tensors: TensorMap;
  /** The header's `__metadata__` (string to string); with several files, the first file's value wins. */
  readonly headerMetadata: Readonly<Record<string, string>>;
}

export interface SafetensorsDirContents extends SafetensorsContents {
  /** The files read, relative to the directory. */
  readonly files: readonly string[];
}

interface HeaderEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Reads one `.safetensors` file: an 8-byte little-endian header length, a JSON header, then the
 * data, with offsets relative to the data start. Every tensor gets its own `ArrayBuffer`, so
 * views are aligned even when the data start is not (the safetensors library does not pad).
 * Malformed input (bad JSON, offsets past the end or overlapping, sizes that disagree with
 * dtype × shape, an unsupported dtype) is a `LoaderError` naming the file.
 */
export async function readSafetensors(
  absPath: string,
  { tensors: mode = 'eager', signal }: ReadSafetensorsOptions = {},
): Promise<SafetensorsContents> {
  const handle = await openForReading(absPath);
  try {
    const stat = await handle.stat();
    const file = new StorageFile(absPath, stat);
    const { entries, headerMetadata, dataStart } = await readHeader(
      handle,
      absPath,
      stat.size,
      signal,
    );
    const tensorMap = new Map<string, Tensor>();
    const storages = entries.map((entry) => {
      const byteLength = entry.end - entry.begin;
      const storage = new FileStorage(file, entry.name, byteLength, {
        source: rangeSource(dataStart + entry.begin, byteLength),
      });
      tensorMap.set(entry.name, new Tensor({ dtype: entry.dtype, shape: entry.shape, storage }));
      return storage;
    });
    if (mode === 'eager') {
      await file.load(storages, handle, signal);
    }
    return { tensors: tensorMap, headerMetadata };
  } finally {
    await handle.close();
  }
}

/**
 * Reads every safetensors file of a directory into one map: the shards a
 * `*.safetensors.index.json` names (checking each tensor is in the shard it says), or else all
 * `*.safetensors` files. A tensor name found in two files is an error.
 */
export async function readSafetensorsDir(
  dir: string,
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsDirContents> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err: unknown) {
    throw new LoaderError(`${dir}: cannot list (${describeError(err)})`, { cause: err });
  }
  const indexes = names.filter((name) => name.endsWith(INDEX_SUFFIX));
  const weightMap = new Map<string, string>();
  for (const index of indexes) {
    for (const [tensor, file] of await readIndex(join(dir, index))) {
      weightMap.set(tensor, file);
    }
  }
  const files =
    indexes.length > 0
      ? [...new Set(weightMap.values())].sort()
      : names.filter((name) => name.endsWith('.safetensors'));
  if (files.length === 0) {
    throw new LoaderError(`${dir}: no .safetensors files`);
  }
  const tensors = new Map<string, Tensor>();
  const headerMetadata: Record<string, string> = {};
  for (const file of files) {
    const contents = await readSafetensors(join(dir, file), options);
    for (const [name, tensor] of contents.tensors) {
      if (tensors.has(name)) {
        throw new LoaderError(`${join(dir, file)}: tensor ${name} is also in another file`);
      }
      const expectedFile = weightMap.get(name);
      if (indexes.length > 0 && expectedFile !== file) {
        throw new LoaderError(
          `${join(dir, file)}: holds tensor ${name}, which the index places in ${expectedFile ?? 'no file'}`,
        );
      }
      tensors.set(name, tensor);
    }
    for (const [key, value] of Object.entries(contents.headerMetadata)) {
      headerMetadata[key] ??= value;
    }
  }
  const missing = [...weightMap.keys()].filter((name) => !tensors.has(name));
  if (missing.length > 0) {
    throw new LoaderError(
      `${dir}: the index lists tensors no shard holds: ${missing.slice(0, 5).join(', ')}`,
    );
  }
  return { files, tensors, headerMetadata };
}

async function readIndex(path: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err: unknown) {
    throw new LoaderError(`${path}: not a JSON index (${describeError(err)})`, { cause: err });
  }
  const weightMap = isObject(parsed) ? parsed['weight_map'] : undefined;
  if (!isObject(weightMap)) {
    throw new LoaderError(`${path}: no "weight_map" object`);
  }
  const result = new Map<string, string>();
  for (const [tensor, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || !/^[^/\\]+\.safetensors$/.test(file)) {
      throw new LoaderError(`${path}: weight_map[${tensor}] is not a .safetensors file name`);
    }
    result.set(tensor, file);
  }
  return result;
}

async function readHeader(
  handle: FileHandle,
  path: string,
  fileBytes: number,
  signal?: AbortSignal,
): Promise<{ entries: HeaderEntry[]; headerMetadata: Record<string, string>; dataStart: number }> {
  if (fileBytes < 8) {
    throw new LoaderError(`${path}: ${fileBytes} bytes, too short for a safetensors header`);
  }
  const headerBytes = (await readAt(handle, 0, 8, path, signal)).readBigUInt64LE(0);
  if (headerBytes > BigInt(Math.min(MAX_HEADER_BYTES, fileBytes - 8))) {
    throw new LoaderError(
      `${path}: header length ${headerBytes} does not fit a ${fileBytes}-byte file (limit ${MAX_HEADER_BYTES})`,
    );
  }
  const headerLength = Number(headerBytes);
  const raw = await readAt(handle, 8, headerLength, path, signal);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (err: unknown) {
    throw new LoaderError(`${path}: header is not valid JSON (${describeError(err)})`, {
      cause: err,
    });
  }
  if (!isObject(header)) {
    throw new LoaderError(`${path}: header is not a JSON object`);
  }
  const dataStart = 8 + headerLength;
  const dataBytes = fileBytes - dataStart;
  let headerMetadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      headerMetadata = parseMetadata(path, value);
    } else {
      entries.push(parseEntry(path, name, value, dataBytes));
    }
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i += 1) {
    const previous = entries[i - 1] as HeaderEntry;
    const entry = entries[i] as HeaderEntry;
    if (entry.begin < previous.end) {
      throw new LoaderError(
        `${path}: tensors ${previous.name} [${previous.begin}, ${previous.end}) and ${entry.name} [${entry.begin}, ${entry.end}) overlap`,
      );
    }
  }
  return { entries, headerMetadata, dataStart };
}

function parseMetadata(path: string, value: unknown): Record<string, string> {
  if (!isObject(value)) {
    throw new LoaderError(`${path}: ${METADATA_KEY} is not an object`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw new LoaderError(`${path}: ${METADATA_KEY}.${key} is not a string`);
    }
    metadata[key] = item;
  }
  return metadata;
}

function parseEntry(path: string, name: string, value: unknown, dataBytes: number): HeaderEntry {
  const where = `${path}: tensor ${name}`;
  if (!isObject(value)) {
    throw new LoaderError(`${where}: header entry is not an object`);
  }
  const { dtype: rawDtype, shape, data_offsets: offsets } = value;
  if (typeof rawDtype !== 'string') {
    throw new LoaderError(`${where}: dtype is missing`);
  }
  if (!Object.hasOwn(SAFETENSORS_DTYPES, rawDtype)) {
    throw new LoaderError(
      `${where}: unsupported dtype ${rawDtype} (supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`,
    );
  }
  const dtype = SAFETENSORS_DTYPES[rawDtype as keyof typeof SAFETENSORS_DTYPES];
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new LoaderError(`${where}: shape is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new LoaderError(`${where}: data_offsets is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    throw new LoaderError(
      `${where}: data_offsets [${begin}, ${end}] outside the ${dataBytes} data bytes of the file`,
    );
  }
  const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  if (expected !== end - begin) {
    throw new LoaderError(
      `${where}: ${rawDtype} [${shape.join(', ')}] needs ${expected} bytes, data_offsets span ${end - begin}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
