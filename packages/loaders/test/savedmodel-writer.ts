import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { crc32c } from '@node-rs/crc32';
import { Writer } from 'protobufjs';
import { compress } from 'snappyjs';

/**
 * Test-only writers for TensorFlow's SavedModel and TensorBundle formats, so a plain clone can
 * test the reader on cases the reference fixtures lack (several blocks and shards, every
 * dtype). Field numbers are written out by hand from TensorFlow's .proto files, independently
 * of the reader's schema, so a wrong number on either side shows up.
 */

/** TensorFlow `DataType` enum values used by the tests. */
export const TF = {
  float: 1,
  double: 2,
  int32: 3,
  uint8: 4,
  string: 7,
  int64: 9,
  bool: 10,
  bfloat16: 14,
  half: 19,
  resource: 20,
} as const;

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

const tag = (field: number, wireType: number): number => (field << 3) | wireType;

function message(write: (w: Writer) => void): Uint8Array {
  const w = Writer.create();
  write(w);
  return w.finish();
}

function maskedCrc(...parts: Uint8Array[]): number {
  const crc = parts.reduce((state, part) => crc32c(part, state), 0);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** TensorShapeProto: `dims` null means unknown rank. */
function shape(w: Writer, field: number, dims: readonly number[] | null): void {
  w.uint32(tag(field, BYTES)).fork();
  for (const size of dims ?? []) {
    w.uint32(tag(2, BYTES)).fork().uint32(tag(1, VARINT)).int64(size).ldelim();
  }
  if (dims === null) {
    w.uint32(tag(3, VARINT)).bool(true);
  }
  w.ldelim();
}

export interface BundleVariable {
  name: string;
  dtype: number;
  shape: number[];
  /** Little-endian element bytes; omitted for non-numeric dtypes. */
  bytes?: Uint8Array;
  shard?: number;
}

export interface BundleOptions {
  shards?: number;
  /** Entries per data block (every block starts a restart point, later keys share prefixes). */
  entriesPerBlock?: number;
  snappy?: boolean;
  /** Overrides the header's endianness (1 = big). */
  endianness?: number;
  /** Overrides the size written in every entry. */
  sizeDelta?: number;
}

/** Writes `prefix.index` and `prefix.data-*`, as TensorFlow's BundleWriter lays them out. */
export async function writeTensorBundle(
  prefix: string,
  variables: readonly BundleVariable[],
  {
    shards = 1,
    entriesPerBlock = 2,
    snappy = true,
    endianness = 0,
    sizeDelta = 0,
  }: BundleOptions = {},
): Promise<void> {
  await mkdir(dirname(prefix), { recursive: true });
  const sorted = [...variables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const data = Array.from({ length: shards }, () => [] as Uint8Array[]);
  const offsets = new Array<number>(shards).fill(0);
  const header = message((w) => {
    w.uint32(tag(1, VARINT)).int32(shards);
    w.uint32(tag(2, VARINT)).int32(endianness);
    w.uint32(tag(3, BYTES)).fork().uint32(tag(1, VARINT)).int32(1).ldelim();
  });
  const entries: [string, Uint8Array][] = [['', header]];
  for (const variable of sorted) {
    const shard = variable.shard ?? 0;
    const bytes = variable.bytes ?? new Uint8Array(0);
    const offset = offsets[shard] ?? 0;
    data[shard]?.push(bytes);
    offsets[shard] = offset + bytes.length;
    entries.push([
      variable.name,
      message((w) => {
        w.uint32(tag(1, VARINT)).int32(variable.dtype);
        shape(w, 2, variable.shape);
        w.uint32(tag(3, VARINT)).int32(shard);
        w.uint32(tag(4, VARINT)).int64(offset);
        w.uint32(tag(5, VARINT)).int64(bytes.length + sizeDelta);
        w.uint32(tag(6, FIXED32)).fixed32(maskedCrc(bytes));
      }),
    ]);
  }
  for (let shard = 0; shard < shards; shard += 1) {
    const name = `${prefix}.data-${String(shard).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}`;
    await writeFile(name, Buffer.concat(data[shard] ?? []));
  }
  await writeFile(`${prefix}.index`, table(entries, entriesPerBlock, snappy));
}

/** A LevelDB table: data blocks, an empty metaindex block, an index block, the footer. */
function table(entries: [string, Uint8Array][], perBlock: number, snappy: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const append = (contents: Uint8Array, compressed: boolean): [number, number] => {
    const body = compressed ? compress(contents) : contents;
    const type = Uint8Array.of(compressed ? 1 : 0);
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, maskedCrc(body, type), true);
    const handle: [number, number] = [size, body.length];
    parts.push(body, type, crc);
    size += body.length + 5;
    return handle;
  };
  const index: [string, Uint8Array][] = [];
  for (let i = 0; i < entries.length; i += perBlock) {
    const chunk = entries.slice(i, i + perBlock);
    const [offset, length] = append(block(chunk), snappy);
    index.push([chunk.at(-1)?.[0] ?? '', blockHandle(offset, length)]);
  }
  const meta = append(block([]), false);
  const indexHandle = append(block(index), false);
  const footer = new Uint8Array(48);
  footer.set(blockHandle(...meta));
  footer.set(blockHandle(...indexHandle), blockHandle(...meta).length);
  new DataView(footer.buffer).setBigUint64(40, 0xdb4775248b80fb57n, true);
  parts.push(footer);
  return Buffer.concat(parts);
}

function blockHandle(offset: number, length: number): Uint8Array {
  return message((w) => w.uint64(offset).uint64(length));
}

/** One block: the first key whole (its only restart point), each later key sharing a prefix. */
function block(entries: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  let previous = Buffer.alloc(0);
  for (const [name, value] of entries) {
    const key = Buffer.from(name);
    let shared = 0;
    while (shared < key.length && shared < previous.length && key[shared] === previous[shared]) {
      shared += 1;
    }
    parts.push(
      message((w) =>
        w
          .uint32(shared)
          .uint32(key.length - shared)
          .uint32(value.length),
      ),
      key.subarray(shared),
      value,
    );
    previous = key;
  }
  const restarts = Buffer.alloc(8);
  restarts.writeUInt32LE(0, 0);
  restarts.writeUInt32LE(1, 4);
  parts.push(restarts);
  return Buffer.concat(parts);
}

export interface SignatureSpec {
  method: string;
  inputs: Record<string, { name: string; dtype: number; shape: number[] | null }>;
  outputs: Record<string, { name: string; dtype: number; shape: number[] | null }>;
}

export interface MetaGraphSpec {
  tags: string[];
  version?: string;
  signatures: Record<string, SignatureSpec>;
}

/**
 * A saved_model.pb holding `graphs`, each with a junk GraphDef and an unknown MetaInfoDef field
 * (the reader must skip both) besides the fields it reads.
 */
export function savedModelBytes(graphs: readonly MetaGraphSpec[]): Uint8Array {
  return message((w) => {
    w.uint32(tag(1, VARINT)).int64(1);
    for (const graph of graphs) {
      w.uint32(tag(2, BYTES)).fork();
      w.uint32(tag(1, BYTES)).fork();
      for (const t of graph.tags) {
        w.uint32(tag(4, BYTES)).string(t);
      }
      if (graph.version !== undefined) {
        w.uint32(tag(5, BYTES)).string(graph.version);
      }
      w.uint32(tag(99, FIXED64)).fixed64(7);
      w.ldelim();
      w.uint32(tag(2, BYTES)).bytes(Uint8Array.of(0x0a, 0x03, 0x61, 0x62, 0x63));
      for (const [key, signature] of Object.entries(graph.signatures)) {
        w.uint32(tag(5, BYTES)).fork().uint32(tag(1, BYTES)).string(key);
        w.uint32(tag(2, BYTES)).fork();
        tensorInfos(w, 1, signature.inputs);
        tensorInfos(w, 2, signature.outputs);
        w.uint32(tag(3, BYTES)).string(signature.method);
        w.ldelim().ldelim();
      }
      w.ldelim();
    }
  });
}

function tensorInfos(w: Writer, field: number, infos: SignatureSpec['inputs']): void {
  for (const [key, info] of Object.entries(infos)) {
    w.uint32(tag(field, BYTES)).fork().uint32(tag(1, BYTES)).string(key);
    w.uint32(tag(2, BYTES)).fork();
    w.uint32(tag(1, BYTES)).string(info.name);
    w.uint32(tag(2, VARINT)).int32(info.dtype);
    shape(w, 3, info.shape);
    w.ldelim().ldelim();
  }
}
