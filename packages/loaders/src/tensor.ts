import { LoaderError } from './errors.js';

/**
 * Element types the loaders read. Names follow PyTorch (`float32`, `bfloat16`, `complex64`, …);
 * every format's own spelling is converted to these in its reader.
 */
export const DTYPES = [
  'float64',
  'float32',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint64',
  'uint32',
  'uint16',
  'uint8',
  'bool',
  'complex64',
  'complex128',
] as const;
export type DType = (typeof DTYPES)[number];

/** Bytes per element. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint64: 8,
  uint32: 4,
  uint16: 2,
  uint8: 1,
  bool: 1,
  complex64: 8,
  complex128: 16,
};

/**
 * The typed array each dtype is viewed as. float16 and bfloat16 have no JS array type: they
 * come as their raw bits (`Uint16Array`; see {@link halfToFloat32}). Complex numbers come as
 * interleaved (real, imaginary) pairs, so their arrays hold twice `numel` numbers. bool is one
 * byte per element, 0 or 1.
 */
export interface TypedArrayByDType {
  float64: Float64Array;
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint64: BigUint64Array;
  uint32: Uint32Array;
  uint16: Uint16Array;
  uint8: Uint8Array;
  bool: Uint8Array;
  complex64: Float32Array;
  complex128: Float64Array;
}
export type TensorArray = TypedArrayByDType[DType];

type ArrayMaker = (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorArray;

const MAKERS: Readonly<Record<DType, ArrayMaker>> = {
  float64: (b, o, n) => new Float64Array(b, o, n),
  float32: (b, o, n) => new Float32Array(b, o, n),
  float16: (b, o, n) => new Uint16Array(b, o, n),
  bfloat16: (b, o, n) => new Uint16Array(b, o, n),
  int64: (b, o, n) => new BigInt64Array(b, o, n),
  int32: (b, o, n) => new Int32Array(b, o, n),
  int16: (b, o, n) => new Int16Array(b, o, n),
  int8: (b, o, n) => new Int8Array(b, o, n),
  uint64: (b, o, n) => new BigUint64Array(b, o, n),
  uint32: (b, o, n) => new Uint32Array(b, o, n),
  uint16: (b, o, n) => new Uint16Array(b, o, n),
  uint8: (b, o, n) => new Uint8Array(b, o, n),
  bool: (b, o, n) => new Uint8Array(b, o, n),
  complex64: (b, o, n) => new Float32Array(b, o, 2 * n),
  complex128: (b, o, n) => new Float64Array(b, o, 2 * n),
};

/**
 * The bytes behind one or more tensors (PyTorch shares one storage between views; safetensors
 * and TensorBundle give every tensor its own). `bytes` is set once loaded: one `ArrayBuffer`
 * per storage, so element views are always aligned whatever the file's layout. In index-only
 * or lazy mode it stays unset until {@link Tensor.load}.
 */
export interface TensorStorage {
  /** Where the bytes are, for errors: e.g. `model.pth:archive/data/3`. */
  readonly key: string;
  readonly byteLength: number;
  readonly bytes: ArrayBuffer | undefined;
  /** Reads the bytes (once; later calls return the same buffer). */
  load(signal?: AbortSignal): Promise<ArrayBuffer>;
}

/** A storage whose bytes are already in memory. */
export function storageOf(key: string, bytes: ArrayBuffer): TensorStorage {
  return { key, byteLength: bytes.byteLength, bytes, load: () => Promise.resolve(bytes) };
}

export interface TensorInit<D extends DType = DType> {
  dtype: D;
  shape: readonly number[];
  /** In elements, as PyTorch counts them. Default: contiguous (C order). */
  strides?: readonly number[];
  /** In elements from the start of the storage. */
  storageOffset?: number;
  storage: TensorStorage;
}

/** C-order strides, in elements, for `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i -= 1) {
    strides[i] = step;
    step *= shape[i] ?? 1;
  }
  return strides;
}

/**
 * A tensor read from a checkpoint: dtype, shape, strides and storage offset exactly as the
 * framework wrote them, over a storage that may be shared with other tensors and may not be
 * loaded yet (index-only and lazy modes).
 */
export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly storageOffset: number;
  readonly storage: TensorStorage;
  /** Number of elements (1 for a 0-d tensor, 0 for an empty one). */
  readonly numel: number;

  constructor(init: TensorInit<D>) {
    this.dtype = init.dtype;
    this.shape = [...init.shape];
    this.strides = init.strides === undefined ? contiguousStrides(init.shape) : [...init.strides];
    this.storageOffset = init.storageOffset ?? 0;
    this.storage = init.storage;
    this.numel = this.shape.reduce((a, b) => a * b, 1);
    if (this.strides.length !== this.shape.length) {
      throw new LoaderError(
        `${init.storage.key}: ${this.shape.length}-d shape with ${this.strides.length} strides`,
      );
    }
    const extent = this.#extentElements();
    const needed = (this.storageOffset + extent) * DTYPE_BYTES[this.dtype];
    if (this.numel > 0 && needed > init.storage.byteLength) {
      throw new LoaderError(
        `${init.storage.key}: a ${this.dtype} tensor of shape [${this.shape.join(', ')}] at ` +
          `offset ${this.storageOffset} needs ${needed} bytes, its storage has ${init.storage.byteLength}`,
      );
    }
  }

  /** Whether the storage's bytes are in memory. */
  get isLoaded(): boolean {
    return this.storage.bytes !== undefined;
  }

  /** Whether the elements lie in C order with no gaps, so {@link view} holds exactly them. */
  get isContiguous(): boolean {
    const expected = contiguousStrides(this.shape);
    return this.shape.every((size, i) => size <= 1 || this.strides[i] === expected[i]);
  }

  /** Reads the storage if it is not in memory yet (lazy and index-only modes). */
  async load(signal?: AbortSignal): Promise<this> {
    await this.storage.load(signal);
    return this;
  }

  /**
   * A typed array over the storage, no copy: from the storage offset to the last element the
   * strides reach. For a contiguous tensor those are exactly its elements in C order; for other
   * views index it with {@link strides}, or use {@link toArray}.
   */
  view(): TypedArrayByDType[D] {
    const bytes = this.#bytes();
    const length = this.numel === 0 ? 0 : this.#extentElements();
    return MAKERS[this.dtype](
      bytes,
      this.storageOffset * DTYPE_BYTES[this.dtype],
      length,
    ) as TypedArrayByDType[D];
  }

  /** The elements in C order: the view itself when contiguous, a copy otherwise. */
  toArray(): TypedArrayByDType[D] {
    if (this.isContiguous) {
      return this.view();
    }
    const src = this.view();
    const lanes = this.dtype === 'complex64' || this.dtype === 'complex128' ? 2 : 1;
    const out = MAKERS[this.dtype](
      new ArrayBuffer(this.numel * DTYPE_BYTES[this.dtype]),
      0,
      this.numel,
    );
    const index = new Array<number>(this.shape.length).fill(0);
    for (let n = 0; n < this.numel; n += 1) {
      let at = 0;
      for (let d = 0; d < index.length; d += 1) {
        at += (index[d] ?? 0) * (this.strides[d] ?? 0);
      }
      for (let lane = 0; lane < lanes; lane += 1) {
        (out as unknown as number[])[n * lanes + lane] = (src as unknown as number[])[
          at * lanes + lane
        ] as number;
      }
      for (let d = index.length - 1; d >= 0; d -= 1) {
        index[d] = (index[d] ?? 0) + 1;
        if ((index[d] ?? 0) < (this.shape[d] ?? 0)) {
          break;
        }
        index[d] = 0;
      }
    }
    return out as TypedArrayByDType[D];
  }

  #bytes(): ArrayBuffer {
    const bytes = this.storage.bytes;
    if (bytes === undefined) {
      throw new LoaderError(
        `${this.storage.key}: tensor bytes are not loaded (index-only or lazy mode): await tensor.load() first`,
      );
    }
    return bytes;
  }

  /** Elements from the first to the last one the strides reach, inclusive. */
  #extentElements(): number {
    if (this.numel === 0) {
      return 0;
    }
    let last = 0;
    for (let d = 0; d < this.shape.length; d += 1) {
      last += ((this.shape[d] ?? 1) - 1) * (this.strides[d] ?? 0);
    }
    return last + 1;
  }
}

/** IEEE 754 half-precision bits to float32 values. */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i += 1) {
    const h = bits[i] ?? 0;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) {
      out[i] = sign * 2 ** -14 * (fraction / 1024);
    } else if (exponent === 0x1f) {
      out[i] = fraction === 0 ? sign * Infinity : NaN;
    } else {
      out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
    }
  }
  return out;
}

/** bfloat16 bits to float32 values: they are the high half of a float32. */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i += 1) {
    words[i] = (bits[i] ?? 0) << 16;
  }
  return new Float32Array(words.buffer);
}
