import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { LoaderError } from './errors.js';
import { readSafetensors, readSafetensorsDir } from './safetensors.js';
import { bfloat16ToFloat32, halfToFloat32 } from './tensor.js';
import type { Tensor } from './tensor.js';

const OWN_FIXTURES = fileURLToPath(new URL('../test/fixtures/safetensors/', import.meta.url));
const SHARED_FIXTURES = fileURLToPath(
  new URL('../../../../shared/fixtures/safetensors/', import.meta.url),
);

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  sha256: string;
  values?: (number | string | boolean)[];
}

const DTYPE_NAMES: Record<string, string> = {
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
};

function sha256(tensor: Tensor): string {
  const array = tensor.toArray();
  return createHash('sha256')
    .update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
    .digest('hex');
}

/** Elements as JSON would hold them: numbers, 64-bit integers as strings, booleans. */
function plainValues(tensor: Tensor): (number | string | boolean)[] {
  const array = tensor.toArray();
  if (tensor.dtype === 'float16') {
    return [...halfToFloat32(array as Uint16Array)];
  }
  if (tensor.dtype === 'bfloat16') {
    return [...bfloat16ToFloat32(array as Uint16Array)];
  }
  if (tensor.dtype === 'bool') {
    return [...(array as Uint8Array)].map((v) => v !== 0);
  }
  if (array instanceof BigInt64Array || array instanceof BigUint64Array) {
    return [...array].map(String);
  }
  return [...(array as Float32Array)];
}

function expectTensor(tensor: Tensor | undefined, expected: ExpectedTensor): void {
  expect(tensor).toBeDefined();
  const t = tensor as Tensor;
  expect(t.dtype).toBe(DTYPE_NAMES[expected.dtype]);
  expect(t.shape).toEqual(expected.shape);
  expect(t.storageOffset).toBe(0);
  expect(t.isContiguous).toBe(true);
  expect(sha256(t)).toBe(expected.sha256);
  if (expected.values !== undefined) {
    expect(plainValues(t)).toEqual(expected.values);
  }
}

async function readExpected(path: string): Promise<Record<string, ExpectedTensor>> {
  const json = JSON.parse(await readFile(`${path}.expected.json`, 'utf8')) as {
    tensors: Record<string, ExpectedTensor>;
  };
  return json.tensors;
}

async function listSafetensors(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((name) => name.endsWith('.safetensors')).sort();
}

describe('readSafetensors (committed fixtures)', () => {
  const file = join(OWN_FIXTURES, 'all_dtypes.safetensors');

  it('reads every dtype, a 0-d and an empty tensor from an unaligned data start', async () => {
    const expected = await readExpected(file);
    const { tensors, headerMetadata } = await readSafetensors(file);
    expect(headerMetadata).toEqual({ format: 'pt', note: 'unaligned data start' });
    expect([...tensors.keys()]).toEqual(Object.keys(expected));
    for (const [name, want] of Object.entries(expected)) {
      expectTensor(tensors.get(name), want);
    }
    // The file's data start is odd, so every view proves the bytes were copied to aligned buffers.
    const raw = await readFile(file);
    expect((8 + Number(raw.readBigUInt64LE(0))) % 2).toBe(1);
  });

  it('reads no bytes in index mode and loads them on demand', async () => {
    const expected = await readExpected(file);
    const { tensors } = await readSafetensors(file, { tensors: 'index' });
    const f32 = tensors.get('f32');
    expect(f32?.isLoaded).toBe(false);
    expect(f32?.shape).toEqual([2, 3]);
    expect(() => f32?.view()).toThrow(LoaderError);
    await f32?.load();
    expectTensor(f32, expected['f32'] as ExpectedTensor);
    expect(tensors.get('f64')?.isLoaded).toBe(false);
  });

  it('loads lazily, one storage at a time', async () => {
    const { tensors } = await readSafetensors(file, { tensors: 'lazy' });
    const i64 = await tensors.get('i64')?.load();
    expect(i64?.isLoaded).toBe(true);
    expect(tensors.get('u8')?.isLoaded).toBe(false);
  });

  it('reads a tensor bigger than one read chunk, across the chunk boundaries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safetensors-big-'));
    try {
      // 64 MiB + 3 elements after an odd data start: the read is split, the view stays aligned.
      const count = (64 << 20) / 4 + 3;
      const values = new Int32Array(count).map((_, i) => i ^ 0x5a5a5a5a);
      let json = JSON.stringify({
        big: { dtype: 'I32', shape: [count], data_offsets: [0, count * 4] },
      });
      while ((8 + json.length) % 4 !== 1) {
        json += ' ';
      }
      const header = Buffer.from(json);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      const path = join(dir, 'big.safetensors');
      await writeFile(path, Buffer.concat([length, header, Buffer.from(values.buffer)]));
      const { tensors } = await readSafetensors(path);
      const read = tensors.get('big')?.toArray() as Int32Array;
      expect(read.length).toBe(count);
      expect(Buffer.compare(Buffer.from(read.buffer), Buffer.from(values.buffer))).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('merges the shards an index names into one map', async () => {
    const dir = join(OWN_FIXTURES, 'sharded');
    const result = await readSafetensorsDir(dir);
    expect(result.files).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    expect(result.headerMetadata).toEqual({ format: 'pt' });
    expect([...result.tensors.keys()]).toEqual(['embed.weight', 'head.weight', 'head.bias']);
    for (const shard of result.files) {
      for (const [name, want] of Object.entries(await readExpected(join(dir, shard)))) {
        expectTensor(result.tensors.get(name), want);
      }
    }
  });
});

describe('readSafetensors rejects bad input', () => {
  let dir: string;
  let good: Buffer;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safetensors-'));
    good = await readFile(join(OWN_FIXTURES, 'all_dtypes.safetensors'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A file with `header` as its JSON header and `dataBytes` zero bytes of data. */
  function withHeader(header: unknown, dataBytes: number): Buffer {
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([length, json, Buffer.alloc(dataBytes)]);
  }

  async function expectRejected(bytes: Uint8Array, message: RegExp): Promise<void> {
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, bytes);
    const error = await readSafetensors(path).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(message);
  }

  it('a truncated file', async () => {
    await expectRejected(good.subarray(0, good.length - 5), /outside the 143 data bytes/);
  });

  it('a file shorter than the length prefix', async () => {
    await expectRejected(good.subarray(0, 5), /too short/);
  });

  it('a header length past the end of the file', async () => {
    const bytes = Buffer.from(good);
    bytes.writeBigUInt64LE(BigInt(good.length));
    await expectRejected(bytes, /header length \d+ does not fit/);
  });

  it('a header length of 2^64 - 1', async () => {
    const bytes = Buffer.from(good);
    bytes.writeBigUInt64LE(2n ** 64n - 1n);
    await expectRejected(bytes, /does not fit/);
  });

  it('a header that is not JSON', async () => {
    const bytes = Buffer.from(good);
    bytes[8] = 0x5b; // '[' where '{' was: the JSON no longer parses
    await expectRejected(bytes, /not valid JSON/);
  });

  it('a header that is JSON but not an object', async () => {
    await expectRejected(withHeader([1, 2], 0), /not a JSON object/);
  });

  it('overlapping tensors', async () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    await expectRejected(withHeader(header, 12), /tensors a \[0, 8\) and b \[4, 12\) overlap/);
  });

  it('offsets that disagree with dtype and shape', async () => {
    const header = { a: { dtype: 'F64', shape: [2, 2], data_offsets: [0, 16] } };
    await expectRejected(
      withHeader(header, 16),
      /F64 \[2, 2\] needs 32 bytes, data_offsets span 16/,
    );
  });

  it('offsets past the data', async () => {
    const header = { a: { dtype: 'U8', shape: [4], data_offsets: [8, 12] } };
    await expectRejected(withHeader(header, 10), /outside the 10 data bytes/);
  });

  it('an unsupported dtype', async () => {
    const header = { a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } };
    await expectRejected(withHeader(header, 4), /tensor a: unsupported dtype F8_E4M3/);
  });

  it('a malformed shape', async () => {
    const header = { a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } };
    await expectRejected(withHeader(header, 0), /shape is not a list of non-negative integers/);
  });

  it('non-string metadata', async () => {
    await expectRejected(
      withHeader({ __metadata__: { n: 1 } }, 0),
      /__metadata__\.n is not a string/,
    );
  });

  it('a missing file', async () => {
    await expect(readSafetensors(join(dir, 'absent.safetensors'))).rejects.toThrow(
      /absent\.safetensors: cannot open/,
    );
  });

  it('a shard that holds a tensor the index places elsewhere', async () => {
    await cp(join(OWN_FIXTURES, 'sharded'), dir, { recursive: true });
    const indexPath = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as {
      weight_map: Record<string, string>;
    };
    index.weight_map['head.bias'] = 'model-00001-of-00002.safetensors';
    await writeFile(indexPath, JSON.stringify(index));
    await expect(readSafetensorsDir(dir)).rejects.toThrow(
      /holds tensor head\.bias, which the index places in model-00001-of-00002\.safetensors/,
    );
  });
});

describe.skipIf(!existsSync(SHARED_FIXTURES))(
  'readSafetensors (reference fixtures in ../shared/fixtures/safetensors; skipped when that folder is absent)',
  () => {
    it('reads every file with an expected.json exactly as it was written', async () => {
      const files = (await listSafetensors(SHARED_FIXTURES)).filter((f) =>
        existsSync(join(SHARED_FIXTURES, `${f}.expected.json`)),
      );
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const path = join(SHARED_FIXTURES, file);
        const expected = await readExpected(path);
        const { tensors, headerMetadata } = await readSafetensors(path);
        expect(headerMetadata).toEqual({ format: 'pt' });
        expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
        for (const [name, want] of Object.entries(expected)) {
          expectTensor(tensors.get(name), want);
        }
      }
    });

    it('reads the safetensors library samples: range(-3, 3) in each numpy dtype', async () => {
      // Names are numpy type codes; unsigned types hold -3..-1 wrapped around.
      const wanted: Record<string, { dtype: string; values: (number | string)[] }> = {
        B: { dtype: 'uint8', values: [253, 254, 255, 0, 1, 2] },
        H: { dtype: 'uint16', values: [65533, 65534, 65535, 0, 1, 2] },
        I: { dtype: 'uint32', values: [4294967293, 4294967294, 4294967295, 0, 1, 2] },
        b: { dtype: 'int8', values: [-3, -2, -1, 0, 1, 2] },
        h: { dtype: 'int16', values: [-3, -2, -1, 0, 1, 2] },
        i: { dtype: 'int32', values: [-3, -2, -1, 0, 1, 2] },
        e: { dtype: 'float16', values: [-3, -2, -1, 0, 1, 2] },
        f: { dtype: 'float32', values: [-3, -2, -1, 0, 1, 2] },
        d: { dtype: 'float64', values: [-3, -2, -1, 0, 1, 2] },
      };
      const samples = join(SHARED_FIXTURES, 'hf_samples');
      const files = await listSafetensors(samples);
      expect(files).toContain('overall.safetensors');
      for (const file of files) {
        const { tensors, headerMetadata } = await readSafetensors(join(samples, file));
        expect(headerMetadata).toEqual({ test: 'a' });
        const names =
          file === 'overall.safetensors' ? Object.keys(wanted) : [basename(file, '.safetensors')];
        expect([...tensors.keys()].sort()).toEqual(names.sort());
        for (const name of names) {
          const tensor = tensors.get(name) as Tensor;
          expect(tensor.dtype).toBe(wanted[name]?.dtype);
          expect(tensor.shape).toEqual([6]);
          expect(plainValues(tensor)).toEqual(wanted[name]?.values);
        }
      }
    });
  },
);
