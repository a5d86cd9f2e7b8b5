import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';

import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/*
 * CRC32C (Castagnoli), the one checksum every store and every download here agrees on: native
 * and SIMD (@node-rs/crc32, about 7.8 GB/s per core, against 0.5 for the AWS SDK's JS), and
 * combinable, so ranges fetched in any order and on any connection fold into the whole file's
 * CRC without a second read. S3 (x-amz-checksum-crc32c), GCS (x-goog-hash) and our checkpoint
 * reports all carry it. Values are uint32; on the wire they are 8 lowercase hex digits.
 */

/** The CRC32C of `bytes`, continuing from `previous` (the CRC of the bytes before them). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  if (bytes.byteLength === 0) {
    return previous;
  }
  // Socket and file reads hand out Buffers already; a view is made only for other arrays.
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return nativeCrc32c(buffer, previous);
}

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;
/** x^0 in the reflected representation: the multiplicative identity. */
const ONE = 0x80000000;

/** `a × b` modulo the polynomial (both reflected). */
function multModP(a: number, b: number): number {
  let product = 0;
  let m = ONE;
  let factor = b;
  for (;;) {
    if ((a & m) !== 0) {
      product ^= factor;
      if ((a & (m - 1)) === 0) {
        break;
      }
    }
    m >>>= 1;
    factor = (factor & 1) !== 0 ? (factor >>> 1) ^ POLY : factor >>> 1;
  }
  return product >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = (() => {
  const table = [ONE >>> 1]; // x^1
  for (let k = 1; k < 64; k += 1) {
    const previous = table[k - 1] ?? 0;
    table.push(multModP(previous, previous));
  }
  return table;
})();

/** x^(8 × bytes) modulo the polynomial: what shifting a CRC past `bytes` zero bytes multiplies by. */
function shiftFor(bytes: number): number {
  let p = ONE;
  let n = bytes;
  let k = 3; // 8 × n = n × 2^3
  while (n > 0) {
    if (n % 2 === 1) {
      p = multModP(X2N[k % 64] ?? ONE, p);
    }
    n = Math.floor(n / 2);
    k += 1;
  }
  return p;
}

/**
 * The CRC32C of A followed by B, from the CRC of A, the CRC of B and B's length, in O(log n)
 * without either's bytes (zlib's crc32_combine, for the Castagnoli polynomial).
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) {
    return crcA >>> 0;
  }
  return (multModP(shiftFor(lengthB), crcA) ^ crcB) >>> 0;
}

/** A CRC as 8 lowercase hex digits (big-endian), as checkpoint reports carry it. */
export function crc32cHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/** Whether `value` is a CRC32C as reports carry it (8 lowercase hex digits). */
export function isCrc32cHex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{8}$/.test(value);
}

/** S3's `x-amz-checksum-crc32c` (base64 of the 4 big-endian bytes) as 8 hex digits. */
export function crc32cFromBase64(value: string): string | undefined {
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === 4 && bytes.toString('base64') === value
    ? bytes.toString('hex')
    : undefined;
}

/** 8 hex digits as S3's `x-amz-checksum-crc32c` (base64 of the 4 big-endian bytes). */
export function crc32cToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** Which checksums to compute. */
export interface HashAlgorithms {
  sha256: boolean;
  crc32c: boolean;
}

/** A run of bytes summed up: its length and the checksums asked for. */
export interface Checksums {
  bytes: number;
  /** Lowercase hex, when asked for. */
  sha256: string | undefined;
  /** 8 lowercase hex digits, when asked for. */
  crc32c: string | undefined;
}

/** The checksums of bytes fed in order, piece by piece, as they stream by (no second read). */
export class RunningChecksums {
  #bytes = 0;
  #crc: number | undefined;
  readonly #hash: Hash | undefined;

  constructor(algorithms: HashAlgorithms) {
    this.#hash = algorithms.sha256 ? createHash('sha256') : undefined;
    this.#crc = algorithms.crc32c ? 0 : undefined;
  }

  /** Bytes fed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  update(piece: Uint8Array): void {
    this.#bytes += piece.byteLength;
    if (this.#crc !== undefined) {
      this.#crc = crc32c(piece, this.#crc);
    }
    this.#hash?.update(piece);
  }

  /** The results; once only (a sha256 digest ends its hash). */
  digest(): Checksums {
    return {
      bytes: this.#bytes,
      sha256: this.#hash?.digest('hex'),
      crc32c: this.#crc === undefined ? undefined : crc32cHex(this.#crc),
    };
  }
}
