import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { TF, writeTensorBundle } from '../../test/savedmodel-writer.js';
import type { BundleOptions, BundleVariable } from '../../test/savedmodel-writer.js';
import { LoaderError } from '../errors.js';
import { bfloat16ToFloat32, halfToFloat32 } from '../tensor.js';
import { readTensorBundle } from './tensor-bundle.js';

const bytesOf = (array: ArrayBufferView): Uint8Array =>
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/** Variables of several dtypes over two shards; names share prefixes across block boundaries. */
const VARIABLES: BundleVariable[] = [
  { name: 'dense/bias', dtype: TF.float, shape: [3], bytes: bytesOf(Float32Array.of(1, -2, 0.5)) },
  {
    name: 'dense/kernel',
    dtype: TF.double,
    shape: [2, 2],
    bytes: bytesOf(Float64Array.of(1e300, -1, 0.25, 8)),
    shard: 1,
  },
  {
    name: 'dense_1/half',
    dtype: TF.half,
    shape: [2],
    bytes: bytesOf(Uint16Array.of(0x3c00, 0xc000)),
  },
  { name: 'dense_1/bf16', dtype: TF.bfloat16, shape: [1], bytes: bytesOf(Uint16Array.of(0x3fc0)) },
  {
    name: 'global_step',
    dtype: TF.int64,
    shape: [],
    bytes: bytesOf(BigInt64Array.of(-(2n ** 40n))),
    shard: 1,
  },
  { name: 'mask', dtype: TF.bool, shape: [3], bytes: Uint8Array.of(1, 0, 1) },
  { name: 'pixels', dtype: TF.uint8, shape: [2], bytes: Uint8Array.of(255, 7) },
  { name: 'vocab', dtype: TF.string, shape: [2] },
  { name: 'zeros', dtype: TF.int32, shape: [0, 4], bytes: new Uint8Array(0) },
];

describe('readTensorBundle (generated bundles)', () => {
  let dir: string;
  let prefix: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-'));
    prefix = join(dir, 'variables', 'variables');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function expectRejected(options: BundleOptions, message: RegExp): Promise<void> {
    await writeTensorBundle(prefix, VARIABLES, { shards: 2, ...options });
    const error = await readTensorBundle(prefix).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as Error).message).toMatch(message);
  }

  it.each([
    ['snappy blocks', { snappy: true, entriesPerBlock: 3 }],
    ['uncompressed blocks', { snappy: false, entriesPerBlock: 4 }],
    ['a single block', { snappy: false, entriesPerBlock: 100 }],
  ])('reads every variable from two shards with %s', async (_, options) => {
    await writeTensorBundle(prefix, VARIABLES, { shards: 2, ...options });
    const { tensors, opaque } = await readTensorBundle(prefix);
    expect([...tensors.keys()]).toEqual([
      'dense/bias',
      'dense/kernel',
      'dense_1/bf16',
      'dense_1/half',
      'global_step',
      'mask',
      'pixels',
      'zeros',
    ]);
    expect([...(tensors.get('dense/bias')?.toArray() ?? [])]).toEqual([1, -2, 0.5]);
    expect(tensors.get('dense/kernel')?.shape).toEqual([2, 2]);
    expect([...(tensors.get('dense/kernel')?.toArray() ?? [])]).toEqual([1e300, -1, 0.25, 8]);
    expect([...halfToFloat32(tensors.get('dense_1/half')?.toArray() as Uint16Array)]).toEqual([
      1, -2,
    ]);
    expect([...bfloat16ToFloat32(tensors.get('dense_1/bf16')?.toArray() as Uint16Array)]).toEqual([
      1.5,
    ]);
    expect(tensors.get('global_step')?.toArray()[0]).toBe(-(2n ** 40n));
    expect(tensors.get('mask')?.dtype).toBe('bool');
    expect([...(tensors.get('mask')?.toArray() ?? [])]).toEqual([1, 0, 1]);
    expect([...(tensors.get('pixels')?.toArray() ?? [])]).toEqual([255, 7]);
    expect(tensors.get('zeros')?.shape).toEqual([0, 4]);
    expect(tensors.get('zeros')?.numel).toBe(0);
    expect([...opaque]).toEqual([
      ['vocab', { dtype: 'string', shape: [2], reason: 'string is not a numeric dtype' }],
    ]);
    const shard1 = await readFile(`${prefix}.data-00001-of-00002`);
    expect(shard1.length).toBe(32 + 8);
  });

  it('refuses a big-endian bundle', async () => {
    await expectRejected(
      { endianness: 1 },
      /variables\.index: big-endian bundles are not supported/,
    );
  });

  it('refuses an entry whose size disagrees with its dtype and shape', async () => {
    await expectRejected(
      { sizeDelta: 4 },
      /variable dense\/bias: float32 \[3\] needs 12 bytes, the entry says 16/,
    );
  });

  it('refuses a bundle whose data shard is missing', async () => {
    await writeTensorBundle(prefix, VARIABLES, { shards: 2 });
    await rm(`${prefix}.data-00001-of-00002`);
    await expect(readTensorBundle(prefix)).rejects.toThrow(
      /variables\.data-00001-of-00002: cannot read data shard/,
    );
  });

  it('refuses variable bytes past the end of their shard', async () => {
    await writeTensorBundle(prefix, VARIABLES, { shards: 2 });
    const data = `${prefix}.data-00000-of-00002`;
    await truncate(data, (await stat(data)).size - 1);
    await expect(readTensorBundle(prefix)).rejects.toThrow(
      /run past the end of variables\.data-00000-of-00002/,
    );
  });

  it('refuses a missing index', async () => {
    await expect(readTensorBundle(prefix)).rejects.toThrow(/variables\.index: cannot read/);
  });
});
