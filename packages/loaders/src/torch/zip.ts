import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { crc32, inflateRaw } from 'node:zlib';

import { LoaderError } from '../errors.js';
import { readAt } from '../file-storage.js';

const inflateRawAsync = promisify(inflateRaw);

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
/** A local header's fixed part; its name and extra field follow. */
export const LOCAL_HEADER_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_U32 = 0xffffffff;
/** The EOCD, its comment (≤ 64 KiB) and the zip64 locator and record all fit in this tail. */
const TAIL_BYTES = 128 * 1024;

export const STORED = 0;
export const DEFLATED = 8;

/** One file of the archive, as its central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly headerOffset: number;
  /**
   * Where the next entry (or the central directory) starts: this entry's local header, data
   * and data descriptor all lie before it, so one read of the span gets all of them.
   */
  readonly spanEnd: number;
}

/**
 * A zip file's central directory, read from its end (zip64 included, so offsets and sizes past
 * 4 GiB work). Entries' bytes are not read here: stored ones are read in place by their
 * absolute data offset, small ones through {@link readEntry}.
 */
export class ZipArchive {
  /** Names the file in errors. */
  readonly where: string;
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** File bytes already read (its head and tail), so small entries there cost no read. */
  readonly #known: readonly { start: number; bytes: Buffer }[];

  private constructor(
    where: string,
    entries: ReadonlyMap<string, ZipEntry>,
    known: readonly { start: number; bytes: Buffer }[],
  ) {
    this.where = where;
    this.entries = entries;
    this.#known = known;
  }

  /**
   * Reads the central directory; `undefined` when the file has no end-of-central-directory
   * record. `head`, the file's first bytes if already read, serves later reads it covers
   * (torch writes data.pkl first).
   */
  static async open(
    handle: FileHandle,
    fileSize: number,
    where: string,
    signal?: AbortSignal,
    head: Buffer = Buffer.alloc(0),
  ): Promise<ZipArchive | undefined> {
    const tailStart = Math.max(0, fileSize - TAIL_BYTES);
    const tail = await readAt(handle, tailStart, fileSize - tailStart, where, signal);
    const eocd = findEndOfCentralDirectory(tail);
    if (eocd === undefined) {
      return undefined;
    }
    const directory = await readDirectoryLocation(handle, tail, tailStart, eocd, where, signal);
    if (directory.offset + directory.size > tailStart + eocd) {
      throw new LoaderError(`${where}: the zip central directory lies past its end record`);
    }
    const central =
      directory.offset >= tailStart
        ? tail.subarray(directory.offset - tailStart, directory.offset - tailStart + directory.size)
        : await readAt(handle, directory.offset, directory.size, where, signal);
    const entries = parseCentralDirectory(central, directory, where);
    return new ZipArchive(where, entries, [
      { start: 0, bytes: head },
      { start: tailStart, bytes: tail },
    ]);
  }

  /**
   * Where an entry's data starts, relative to its header, from the first
   * {@link LOCAL_HEADER_SIZE} bytes of its local header, found at `bytes[at]`. The local name and extra lengths are
   * the ones that count: torch pads records to 64 bytes with a local extra field that the
   * central directory does not repeat.
   */
  dataStartIn(entry: ZipEntry, bytes: Buffer, at: number): number {
    if (at + LOCAL_HEADER_SIZE > bytes.byteLength || bytes.readUInt32LE(at) !== LOCAL_SIGNATURE) {
      throw new LoaderError(
        `${this.where}: no local zip header for ${entry.name} at byte ${entry.headerOffset}`,
      );
    }
    const start = LOCAL_HEADER_SIZE + bytes.readUInt16LE(at + 26) + bytes.readUInt16LE(at + 28);
    if (entry.headerOffset + start + entry.compressedSize > entry.spanEnd) {
      throw new LoaderError(`${this.where}: zip entry ${entry.name} overlaps the next one`);
    }
    return start;
  }

  /** The absolute offset of an entry's data (at most one small read of its local header). */
  async dataOffset(handle: FileHandle, entry: ZipEntry, signal?: AbortSignal): Promise<number> {
    const header = await this.#read(handle, entry.headerOffset, LOCAL_HEADER_SIZE, signal);
    return entry.headerOffset + this.dataStartIn(entry, header, 0);
  }

  /** An entry's whole content, inflated when deflated and checked against its CRC-32. */
  async readEntry(handle: FileHandle, entry: ZipEntry, signal?: AbortSignal): Promise<Buffer> {
    const offset = await this.dataOffset(handle, entry, signal);
    const raw = await this.#read(handle, offset, entry.compressedSize, signal);
    let bytes: Buffer;
    if (entry.method === STORED) {
      bytes = raw;
    } else if (entry.method === DEFLATED) {
      try {
        bytes = await inflateRawAsync(raw);
      } catch (err: unknown) {
        throw new LoaderError(`${this.where}: zip entry ${entry.name} does not inflate`, {
          cause: err,
        });
      }
    } else {
      throw new LoaderError(
        `${this.where}: zip entry ${entry.name} uses compression method ${entry.method} (only stored and deflated are supported)`,
      );
    }
    if (bytes.byteLength !== entry.size || crc32(bytes) !== entry.crc32) {
      throw new LoaderError(`${this.where}: zip entry ${entry.name} is corrupt (size or CRC-32)`);
    }
    return bytes;
  }

  async #read(
    handle: FileHandle,
    position: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    for (const { start, bytes } of this.#known) {
      if (position >= start && position + length <= start + bytes.byteLength) {
        return bytes.subarray(position - start, position - start + length);
      }
    }
    return readAt(handle, position, length, this.where, signal);
  }
}

interface DirectoryLocation {
  readonly offset: number;
  readonly size: number;
  readonly count: number;
}

/** The EOCD's position in `tail`: the last signature whose comment length fits the file. */
function findEndOfCentralDirectory(tail: Buffer): number | undefined {
  for (let at = tail.byteLength - EOCD_SIZE; at >= 0; at -= 1) {
    if (
      tail.readUInt32LE(at) === EOCD_SIGNATURE &&
      at + EOCD_SIZE + tail.readUInt16LE(at + 20) <= tail.byteLength
    ) {
      return at;
    }
  }
  return undefined;
}

async function readDirectoryLocation(
  handle: FileHandle,
  tail: Buffer,
  tailStart: number,
  eocd: number,
  where: string,
  signal?: AbortSignal,
): Promise<DirectoryLocation> {
  const locator = eocd - ZIP64_LOCATOR_SIZE;
  if (locator < 0 || tail.readUInt32LE(locator) !== ZIP64_LOCATOR_SIGNATURE) {
    if (tail.readUInt16LE(eocd + 4) !== 0 || tail.readUInt16LE(eocd + 6) !== 0) {
      throw new LoaderError(`${where}: multi-disk zip archives are not supported`);
    }
    return {
      count: tail.readUInt16LE(eocd + 10),
      size: tail.readUInt32LE(eocd + 12),
      offset: tail.readUInt32LE(eocd + 16),
    };
  }
  const recordOffset = safeNumber(tail.readBigUInt64LE(locator + 8), where);
  const record =
    recordOffset >= tailStart && recordOffset + ZIP64_EOCD_SIZE <= tailStart + tail.byteLength
      ? tail.subarray(recordOffset - tailStart, recordOffset - tailStart + ZIP64_EOCD_SIZE)
      : await readAt(handle, recordOffset, ZIP64_EOCD_SIZE, where, signal);
  if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) {
    throw new LoaderError(
      `${where}: no zip64 end-of-central-directory record at byte ${recordOffset}`,
    );
  }
  if (record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0) {
    throw new LoaderError(`${where}: multi-disk zip archives are not supported`);
  }
  return {
    count: safeNumber(record.readBigUInt64LE(32), where),
    size: safeNumber(record.readBigUInt64LE(40), where),
    offset: safeNumber(record.readBigUInt64LE(48), where),
  };
}

function parseCentralDirectory(
  central: Buffer,
  directory: DirectoryLocation,
  where: string,
): Map<string, ZipEntry> {
  const found: { -readonly [K in keyof ZipEntry]: ZipEntry[K] }[] = [];
  let at = 0;
  for (let i = 0; i < directory.count; i += 1) {
    if (at + CENTRAL_SIZE > central.byteLength || central.readUInt32LE(at) !== CENTRAL_SIGNATURE) {
      throw new LoaderError(`${where}: zip central directory entry ${i} is malformed`);
    }
    const nameLength = central.readUInt16LE(at + 28);
    const extraLength = central.readUInt16LE(at + 30);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + central.readUInt16LE(at + 32);
    if (next > central.byteLength) {
      throw new LoaderError(`${where}: zip central directory entry ${i} is truncated`);
    }
    const name = central.toString('utf8', at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
    if ((central.readUInt16LE(at + 8) & 1) !== 0) {
      throw new LoaderError(`${where}: zip entry ${name} is encrypted`);
    }
    let size: number = central.readUInt32LE(at + 24);
    let compressedSize: number = central.readUInt32LE(at + 20);
    let headerOffset: number = central.readUInt32LE(at + 42);
    if (size === MAX_U32 || compressedSize === MAX_U32 || headerOffset === MAX_U32) {
      // The zip64 extra field holds, in this order, only the fields whose 32-bit slot is full.
      const extraStart = at + CENTRAL_SIZE + nameLength;
      const wide = zip64Values(central.subarray(extraStart, extraStart + extraLength), where, name);
      size = size === MAX_U32 ? wide() : size;
      compressedSize = compressedSize === MAX_U32 ? wide() : compressedSize;
      headerOffset = headerOffset === MAX_U32 ? wide() : headerOffset;
    }
    found.push({
      name,
      method: central.readUInt16LE(at + 10),
      compressedSize,
      size,
      crc32: central.readUInt32LE(at + 16),
      headerOffset,
      spanEnd: 0,
    });
    at = next;
  }
  const byOffset = [...found].sort((a, b) => a.headerOffset - b.headerOffset);
  byOffset.forEach((entry, i) => {
    entry.spanEnd = byOffset[i + 1]?.headerOffset ?? directory.offset;
  });
  return new Map(found.map((entry) => [entry.name, entry]));
}

/** Reads the zip64 extra field's 64-bit values one by one. */
function zip64Values(extra: Buffer, where: string, name: string): () => number {
  let values: Buffer | undefined;
  for (let at = 0; at + 4 <= extra.byteLength;) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === ZIP64_EXTRA_ID) {
      values = extra.subarray(at + 4, Math.min(at + 4 + length, extra.byteLength));
      break;
    }
    at += 4 + length;
  }
  let read = 0;
  return () => {
    if (values === undefined || read + 8 > values.byteLength) {
      throw new LoaderError(`${where}: zip entry ${name} lacks its zip64 sizes`);
    }
    const value = safeNumber(values.readBigUInt64LE(read), where);
    read += 8;
    return value;
  };
}

function safeNumber(value: bigint, where: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new LoaderError(`${where}: zip offset or size ${value} is too large`);
  }
  return Number(value);
}
