import { uncompress } from 'snappyjs';

import { LoaderError } from '../errors.js';
import { describeError } from '../file-storage.js';
import { crc32cOf, hex32, maskCrc } from './crc32c.js';

/**
 * A reader for the LevelDB table format TensorFlow uses for `variables.index`
 * (tensorflow/core/lib/io/table): data blocks of prefix-compressed keys, an index block that
 * points at them, and a fixed 48-byte footer. The whole file is in memory: an index holds one
 * small entry per variable.
 */

const FOOTER_BYTES = 48;
/** The footer's last 8 bytes, 0xdb4775248b80fb57 little-endian. */
const MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/** Each block is followed by its compression type (1 byte) and masked CRC-32C (4 bytes). */
const TRAILER_BYTES = 5;
const NO_COMPRESSION = 0;
const SNAPPY_COMPRESSION = 1;
/** Refuse a snappy block claiming to inflate past this rather than allocate it. */
const MAX_BLOCK_BYTES = 256 << 20;

export interface TableEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

/** Every entry of the table, in key order. `path` names the file in errors. */
export function readTable(bytes: Uint8Array, path: string): TableEntry[] {
  if (bytes.length < FOOTER_BYTES) {
    throw new LoaderError(`${path}: ${bytes.length} bytes, too short for a table footer`);
  }
  const footer = bytes.subarray(bytes.length - FOOTER_BYTES);
  if (!MAGIC.every((byte, i) => footer[FOOTER_BYTES - MAGIC.length + i] === byte)) {
    throw new LoaderError(`${path}: no table magic number at the end (truncated or not an index)`);
  }
  const cursor = new Cursor(footer, `${path}: footer`);
  cursor.handle(); // the metaindex block: TensorFlow writes no meta blocks worth reading
  const indexHandle = cursor.handle();
  const index = blockEntries(readBlock(bytes, indexHandle, path), `${path}: index block`);
  const entries: TableEntry[] = [];
  for (const { value } of index) {
    const handle = new Cursor(value, `${path}: index entry`).handle();
    const where = `${path}: block at ${handle.offset}`;
    for (const entry of blockEntries(readBlock(bytes, handle, path), where)) {
      entries.push(entry);
    }
  }
  return entries;
}

function readBlock(bytes: Uint8Array, handle: BlockHandle, path: string): Uint8Array {
  const where = `${path}: block at ${handle.offset}`;
  const end = handle.offset + handle.size;
  if (end + TRAILER_BYTES > bytes.length) {
    throw new LoaderError(
      `${where}: ${handle.size} bytes plus trailer run past the end of the ${bytes.length}-byte file`,
    );
  }
  const contents = bytes.subarray(handle.offset, end);
  const type = bytes.subarray(end, end + 1);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end + 1, 4).getUint32(0, true);
  const actual = maskCrc(crc32cOf(contents, type));
  if (stored !== actual) {
    throw new LoaderError(
      `${where}: checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`,
    );
  }
  if (type[0] === NO_COMPRESSION) {
    return contents;
  }
  if (type[0] !== SNAPPY_COMPRESSION) {
    throw new LoaderError(`${where}: unsupported compression type ${type[0]}`);
  }
  try {
    return uncompress(contents, MAX_BLOCK_BYTES);
  } catch (err: unknown) {
    throw new LoaderError(`${where}: bad snappy data (${describeError(err)})`, { cause: err });
  }
}

/** The entries of one block: keys share a prefix with the key before, restarts are not needed. */
function blockEntries(block: Uint8Array, where: string): TableEntry[] {
  if (block.length < 4) {
    throw new LoaderError(`${where}: ${block.length} bytes, too short for a block`);
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const restarts = view.getUint32(block.length - 4, true);
  if (restarts > (block.length - 4) / 4) {
    throw new LoaderError(`${where}: ${restarts} restart points do not fit ${block.length} bytes`);
  }
  const cursor = new Cursor(block.subarray(0, block.length - 4 - 4 * restarts), where);
  const entries: TableEntry[] = [];
  let previous = new Uint8Array(0);
  while (!cursor.done) {
    const shared = cursor.varint();
    const unshared = cursor.varint();
    const valueLength = cursor.varint();
    if (shared > previous.length) {
      throw new LoaderError(
        `${where}: key shares ${shared} bytes with a ${previous.length}-byte key`,
      );
    }
    const key = new Uint8Array(shared + unshared);
    key.set(previous.subarray(0, shared));
    key.set(cursor.bytes(unshared), shared);
    entries.push({ key, value: cursor.bytes(valueLength) });
    previous = key;
  }
  return entries;
}

/** Reads varints and byte runs, failing with a {@link LoaderError} past the end. */
class Cursor {
  readonly #data: Uint8Array;
  readonly #where: string;
  #at = 0;

  constructor(data: Uint8Array, where: string) {
    this.#data = data;
    this.#where = where;
  }

  get done(): boolean {
    return this.#at >= this.#data.length;
  }

  /** An unsigned LEB128 varint; table offsets and sizes stay far below 2^53. */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const byte = this.#data[this.#at];
      if (byte === undefined) {
        throw new LoaderError(`${this.#where}: truncated varint at byte ${this.#at}`);
      }
      this.#at += 1;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) {
          break;
        }
        return value;
      }
    }
    throw new LoaderError(`${this.#where}: varint too large at byte ${this.#at}`);
  }

  bytes(length: number): Uint8Array {
    if (this.#at + length > this.#data.length) {
      throw new LoaderError(
        `${this.#where}: ${length} bytes at byte ${this.#at} run past the end (${this.#data.length})`,
      );
    }
    const run = this.#data.subarray(this.#at, this.#at + length);
    this.#at += length;
    return run;
  }

  handle(): BlockHandle {
    return { offset: this.varint(), size: this.varint() };
  }
}
