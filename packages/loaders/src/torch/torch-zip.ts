import type { FileHandle } from 'node:fs/promises';

import { LoaderError } from '../errors.js';
import { FileStorage } from '../file-storage.js';
import type { StorageFile, StorageSource } from '../file-storage.js';
import { DTYPE_BYTES } from '../tensor.js';
import { unpickle } from './pickle.js';
import type { PickleValue } from './pickle-values.js';
import { StorageRef, StorageType } from './torch-tensor.js';
import { LOCAL_HEADER_SIZE, STORED } from './zip.js';
import type { ZipArchive, ZipEntry } from './zip.js';

/**
 * A torch zip archive: records under one folder named after the file (`<name>/data.pkl`,
 * `<name>/data/0`, …), tensor bytes as stored records.
 */
export class TorchArchive {
  readonly zip: ZipArchive;
  /** The records' folder, with its trailing slash. */
  readonly prefix: string;
  readonly #file: StorageFile;
  readonly #handle: FileHandle;
  /** One storage per record, shared by every tensor that names it. */
  readonly storages = new Map<string, FileStorage>();

  constructor(zip: ZipArchive, file: StorageFile, handle: FileHandle) {
    // torch takes the folder of the first record as the archive's name.
    const first = zip.entries.keys().next().value ?? '';
    const slash = first.indexOf('/');
    if (slash < 0) {
      throw new LoaderError(`${zip.where}: a zip without a record folder is not a torch archive`);
    }
    this.zip = zip;
    this.prefix = first.slice(0, slash + 1);
    this.#file = file;
    this.#handle = handle;
  }

  /** The record `name` (relative to the archive folder), if present. */
  find(name: string): ZipEntry | undefined {
    return this.zip.entries.get(this.prefix + name);
  }

  async read(name: string, signal?: AbortSignal): Promise<Buffer> {
    const entry = this.find(name);
    if (entry === undefined) {
      throw new LoaderError(`${this.zip.where}: the archive has no ${this.prefix}${name}`);
    }
    return this.zip.readEntry(this.#handle, entry, signal);
  }

  /** Refuses big-endian archives (torch ≥ 2.1 records the byte order it wrote). */
  async checkByteOrder(signal?: AbortSignal): Promise<void> {
    if (this.find('byteorder') === undefined) {
      return;
    }
    const order = (await this.read('byteorder', signal)).toString('utf8').trim();
    if (order !== 'little') {
      throw new LoaderError(`${this.zip.where}: ${order}-endian tensors are not supported`);
    }
  }

  /**
   * Unpickles a record; its persistent ids `('storage', StorageType, key, location, numel)`
   * become storages read from `<tensorDir><key>`.
   */
  async unpickleRecord(
    name: string,
    tensorDir: string,
    resolveGlobal: (qualifiedName: string) => PickleValue,
    signal?: AbortSignal,
  ): Promise<PickleValue> {
    const where = `${this.zip.where}:${this.prefix}${name}`;
    const bytes = await this.read(name, signal);
    return unpickle(bytes, {
      where,
      resolveGlobal,
      persistentLoad: (pid) => this.#storageRef(pid, tensorDir),
    }).value;
  }

  #storageRef(pid: PickleValue, tensorDir: string): StorageRef {
    // Index access, not destructuring: this runs once per tensor.
    const fields = Array.isArray(pid) ? (pid as PickleValue[]) : [];
    const kind = fields[0];
    const type = fields[1];
    const key = fields[2];
    const numel = fields[4];
    if (kind !== 'storage' || typeof key !== 'string' || typeof numel !== 'number') {
      throw new LoaderError('a persistent id that is not a torch storage');
    }
    if (!(type instanceof StorageType)) {
      throw new LoaderError(`storage ${key} has an unsupported storage type`);
    }
    const name = this.prefix + tensorDir + key;
    let storage = this.storages.get(name);
    if (storage === undefined) {
      storage = this.#openStorage(name);
      this.storages.set(name, storage);
    }
    if (numel * DTYPE_BYTES[type.dtype] > storage.byteLength) {
      throw new LoaderError(
        `${storage.key}: ${numel} ${type.dtype} elements do not fit its ${storage.byteLength} bytes`,
      );
    }
    return new StorageRef(storage, type.dtype);
  }

  #openStorage(name: string): FileStorage {
    const entry = this.zip.entries.get(name);
    if (entry === undefined) {
      throw new LoaderError(`${this.zip.where}:${name}: the archive lacks this tensor record`);
    }
    if (entry.method !== STORED) {
      throw new LoaderError(
        `${this.zip.where}:${name}: compressed tensor records are not supported`,
      );
    }
    return new FileStorage(this.#file, name, entry.size, {
      source: new RecordSource(this.zip, entry),
    });
  }
}

/** A stored record's bytes: its local header, then the data. */
class RecordSource implements StorageSource {
  readonly #zip: ZipArchive;
  readonly #entry: ZipEntry;

  constructor(zip: ZipArchive, entry: ZipEntry) {
    this.#zip = zip;
    this.#entry = entry;
  }

  get spanStart(): number {
    return this.#entry.headerOffset;
  }

  get spanEnd(): number {
    return this.#entry.spanEnd;
  }

  get headerSize(): number {
    return LOCAL_HEADER_SIZE;
  }

  dataStart(bytes: Buffer, at: number): number {
    return this.#zip.dataStartIn(this.#entry, bytes, at);
  }
}
