import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';

import { LoaderError } from './errors.js';
import type { TensorStorage } from './tensor.js';

/** The most one read call asks for: reads above 2 GiB fail on Linux, so stay well below. */
export const MAX_READ_BYTES = 1 << 30;
/** Big reads are split into chunks this size and read in parallel on libuv's pool. */
const CHUNK_BYTES = 64 << 20;
/** Storages up to this size are read together with their neighbours and copied out. */
const SMALL_STORAGE_BYTES = 1 << 20;
/** Largest read of coalesced small storages. */
const GROUP_BYTES = 16 << 20;
/** A gap between neighbours this short is cheaper to read than to seek over. */
const MAX_GAP_BYTES = 64 << 10;
/** libuv's default thread pool has 4 threads: more reads in flight only queue. */
const READ_CONCURRENCY = 4;

/** Opens a file for reading; a missing or unreadable file is a {@link LoaderError} naming it. */
export async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err: unknown) {
    throw new LoaderError(`${path}: cannot open (${describeError(err)})`, { cause: err });
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Fills `target` from the file at `position`, in chunks read in parallel (so a multi-GiB
 * storage is no problem). A file that ends early is a {@link LoaderError}.
 */
export async function readInto(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  where: string,
  signal?: AbortSignal,
): Promise<void> {
  const chunks: Promise<void>[] = [];
  for (let start = 0; start < target.byteLength; start += CHUNK_BYTES) {
    const chunk = target.subarray(start, Math.min(start + CHUNK_BYTES, target.byteLength));
    chunks.push(fillChunk(handle, chunk, position + start, where, signal));
  }
  await Promise.all(chunks);
}

async function fillChunk(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  where: string,
  signal?: AbortSignal,
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    signal?.throwIfAborted();
    const length = Math.min(MAX_READ_BYTES, target.byteLength - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new LoaderError(
        `${where}: the file is truncated: it ends at byte ${position + done}, ${target.byteLength - done} bytes short`,
      );
    }
    done += bytesRead;
  }
}

/** Reads `length` bytes at `position` into a new Buffer. */
export async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  where: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  await readInto(handle, bytes, position, where, signal);
  return bytes;
}

/** Where a storage's bytes are in its file: an optional header, then the data. */
export interface StorageSource {
  /** The span holding the header and the data (and nothing another storage needs). */
  readonly spanStart: number;
  readonly spanEnd: number;
  /** Bytes at `spanStart` that {@link dataStart} needs. */
  readonly headerSize: number;
  /**
   * Checks the header, found at `bytes[at]` (at least `headerSize` bytes), and returns where
   * the data starts, relative to `spanStart`.
   */
  dataStart(bytes: Buffer, at: number): number;
}

/** A source with no header: `byteLength` bytes at `position` (safetensors, TensorBundle). */
export function rangeSource(position: number, byteLength: number): StorageSource {
  return { spanStart: position, spanEnd: position + byteLength, headerSize: 0, dataStart: () => 0 };
}

interface LoadRequest {
  storage: FileStorage;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Errors of single storages (a bad header, a checksum), which do not fail their neighbours. */
type StorageFailures = Map<FileStorage, unknown>;

/** The file storages are in, as it was when indexed (later reads refuse a changed file). */
export class StorageFile {
  readonly path: string;
  readonly size: number;
  readonly #mtimeMs: number;
  /** Lazy loads asked for in the same tick, read together with one open. */
  #queue: LoadRequest[] = [];

  constructor(path: string, stat: { size: number; mtimeMs: number }) {
    this.path = path;
    this.size = stat.size;
    this.#mtimeMs = stat.mtimeMs;
  }

  /** Reads `storages` that are not loaded yet through `handle`, the one indexed (eager mode). */
  async load(
    storages: Iterable<FileStorage>,
    handle: FileHandle,
    signal?: AbortSignal,
  ): Promise<void> {
    throwFirst(await this.#read(handle, storages, signal));
  }

  /** Opens the file again, refusing it if changed since indexed, and reads `storages`. */
  async reload(storages: Iterable<FileStorage>, signal?: AbortSignal): Promise<StorageFailures> {
    const handle = await openForReading(this.path);
    try {
      const stat = await handle.stat();
      if (stat.size !== this.size || stat.mtimeMs !== this.#mtimeMs) {
        throw new LoaderError(`${this.path}: the file changed since it was indexed`);
      }
      return await this.#read(handle, storages, signal);
    } finally {
      await handle.close();
    }
  }

  /**
   * Reads one storage later (lazy mode). Requests made in the same tick (`Promise.all` over
   * many `tensor.load()`) share one open and coalesced reads; such a batch heeds a signal only
   * when it holds a single request.
   */
  request(storage: FileStorage, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#queue.length === 0) {
        queueMicrotask(() => void this.#flush());
      }
      this.#queue.push({ storage, signal, resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    try {
      const signal = batch.length === 1 ? batch[0]?.signal : undefined;
      const failures = await this.reload(
        batch.map((request) => request.storage),
        signal,
      );
      for (const { storage, resolve, reject } of batch) {
        if (failures.has(storage)) {
          reject(failures.get(storage));
        } else {
          resolve();
        }
      }
    } catch (err: unknown) {
      batch.forEach((request) => request.reject(err));
    }
  }

  #read(
    handle: FileHandle,
    storages: Iterable<FileStorage>,
    signal: AbortSignal | undefined,
  ): Promise<StorageFailures> {
    const pending = [...new Set(storages)].filter((storage) => storage.bytes === undefined);
    return readStorages(handle, pending, this.path, signal);
  }
}

/** Reads every storage that is not loaded yet, one open per file (eager mode). */
export async function loadStorages(
  storages: readonly FileStorage[],
  signal?: AbortSignal,
): Promise<void> {
  const byFile = new Map<StorageFile, FileStorage[]>();
  for (const storage of storages) {
    const list = byFile.get(storage.file) ?? [];
    list.push(storage);
    byFile.set(storage.file, list);
  }
  for (const [file, list] of byFile) {
    throwFirst(await file.reload(list, signal));
  }
}

function throwFirst(failures: StorageFailures): void {
  for (const err of failures.values()) {
    throw err;
  }
}

export interface FileStorageOptions {
  /** Where the bytes are; a storage may learn it later (see {@link FileStorage.source}). */
  source?: StorageSource;
  /** Runs on the bytes however they were read (a checksum, say) and throws to refuse them. */
  check?: (bytes: ArrayBuffer) => void;
}

/** A storage in a file: one ArrayBuffer, read on first use or eagerly by the loader. */
export class FileStorage implements TensorStorage {
  readonly file: StorageFile;
  readonly byteLength: number;
  /** The storage's name in the file: a tensor, a zip record, a legacy storage key. */
  readonly #name: string;
  readonly #check: ((bytes: ArrayBuffer) => void) | undefined;
  #source: StorageSource | undefined;
  #bytes: ArrayBuffer | undefined;
  #pending: Promise<ArrayBuffer> | undefined;

  constructor(
    file: StorageFile,
    name: string,
    byteLength: number,
    { source, check }: FileStorageOptions = {},
  ) {
    this.file = file;
    this.#name = name;
    this.byteLength = byteLength;
    this.#source = source;
    this.#check = check;
  }

  /** `model.safetensors:fc1.weight` (made on demand: a file can hold many thousand storages). */
  get key(): string {
    return `${basename(this.file.path)}:${this.#name}`;
  }

  get bytes(): ArrayBuffer | undefined {
    return this.#bytes;
  }

  /** Where the bytes are; legacy torch files tell only after the object pickle. */
  get source(): StorageSource {
    if (this.#source === undefined) {
      throw new LoaderError(`${this.key}: the file lists no bytes for this storage`);
    }
    return this.#source;
  }

  set source(source: StorageSource) {
    this.#source = source;
  }

  load(signal?: AbortSignal): Promise<ArrayBuffer> {
    if (this.#bytes !== undefined) {
      return Promise.resolve(this.#bytes);
    }
    this.#pending ??= this.file.request(this, signal).then(
      () => this.#loaded(),
      (err: unknown) => {
        this.#pending = undefined;
        throw err;
      },
    );
    return this.#pending;
  }

  /** Takes exactly `byteLength` bytes read for it, after its check. */
  fill(bytes: ArrayBuffer): void {
    this.#check?.(bytes);
    this.#bytes = bytes;
  }

  #loaded(): ArrayBuffer {
    if (this.#bytes === undefined) {
      throw new LoaderError(`${this.key}: storage was not read`);
    }
    return this.#bytes;
  }
}

/**
 * Reads storages with few calls: big ones straight into their own ArrayBuffer (in parallel
 * chunks), small neighbours in one read per group, then copied out. A file of 20,000 tiny
 * tensors costs a few hundred read calls, not 20,000.
 */
async function readStorages(
  handle: FileHandle,
  storages: readonly FileStorage[],
  where: string,
  signal?: AbortSignal,
): Promise<StorageFailures> {
  const failures: StorageFailures = new Map();
  const sorted = [...storages].sort((a, b) => a.source.spanStart - b.source.spanStart);
  const tasks: (() => Promise<void>)[] = [];
  let group: FileStorage[] = [];
  const flush = (): void => {
    const members = group;
    const [only] = members;
    if (only !== undefined && members.length === 1 && only.source.headerSize === 0) {
      // Alone and headerless: read straight into its buffer, no copy.
      tasks.push(() => readLarge(handle, only, where, failures, signal));
    } else if (members.length > 0) {
      tasks.push(() => readGroup(handle, members, where, failures, signal));
    }
    group = [];
  };
  for (const storage of sorted) {
    const { spanStart, spanEnd } = storage.source;
    const isSmall =
      storage.byteLength <= SMALL_STORAGE_BYTES &&
      spanEnd - spanStart <= storage.byteLength + MAX_GAP_BYTES;
    if (!isSmall) {
      tasks.push(() => readLarge(handle, storage, where, failures, signal));
      continue;
    }
    const first = group[0]?.source;
    const last = group.at(-1)?.source;
    if (
      first !== undefined &&
      last !== undefined &&
      (spanStart - last.spanEnd > MAX_GAP_BYTES || spanEnd - first.spanStart > GROUP_BYTES)
    ) {
      flush();
    }
    group.push(storage);
  }
  flush();
  await runBounded(tasks, READ_CONCURRENCY);
  return failures;
}

async function readLarge(
  handle: FileHandle,
  storage: FileStorage,
  where: string,
  failures: StorageFailures,
  signal?: AbortSignal,
): Promise<void> {
  const source = storage.source;
  let dataStart = source.spanStart;
  if (source.headerSize > 0) {
    const header = await readAt(handle, source.spanStart, source.headerSize, where, signal);
    const at = settle(storage, failures, () => source.dataStart(header, 0));
    if (at === undefined) {
      return;
    }
    dataStart += at;
  }
  if (dataStart + storage.byteLength > source.spanEnd) {
    failures.set(storage, new LoaderError(`${storage.key}: the storage runs past its record`));
    return;
  }
  const bytes = new ArrayBuffer(storage.byteLength);
  await readInto(handle, new Uint8Array(bytes), dataStart, where, signal);
  settle(storage, failures, () => storage.fill(bytes));
}

async function readGroup(
  handle: FileHandle,
  group: readonly FileStorage[],
  where: string,
  failures: StorageFailures,
  signal?: AbortSignal,
): Promise<void> {
  const start = group[0]?.source.spanStart ?? 0;
  const end = group.reduce((max, storage) => Math.max(max, storage.source.spanEnd), start);
  const chunkBytes = new ArrayBuffer(end - start);
  const chunk = Buffer.from(chunkBytes);
  await readInto(handle, chunk, start, where, signal);
  for (const storage of group) {
    settle(storage, failures, () => {
      const source = storage.source;
      const at = source.spanStart - start;
      if (at + source.headerSize > chunk.byteLength) {
        throw new LoaderError(`${storage.key}: the storage's header runs past its record`);
      }
      const dataStart = at + source.dataStart(chunk, at);
      if (dataStart + storage.byteLength > source.spanEnd - start) {
        throw new LoaderError(`${storage.key}: the storage runs past its record`);
      }
      storage.fill(chunkBytes.slice(dataStart, dataStart + storage.byteLength));
    });
  }
}

/** Runs `step` for one storage, recording its error instead of failing the others. */
function settle<T>(storage: FileStorage, failures: StorageFailures, step: () => T): T | undefined {
  try {
    return step();
  } catch (err: unknown) {
    failures.set(storage, err);
    return undefined;
  }
}

/** Runs `tasks` with at most `limit` in flight; after a failure no new task starts. */
async function runBounded(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let hasFailed = false;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && !hasFailed) {
      const task = tasks[next];
      next += 1;
      try {
        await task?.();
      } catch (err: unknown) {
        hasFailed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
