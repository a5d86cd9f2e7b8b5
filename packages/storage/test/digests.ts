// Byte and digest helpers for tests that check what an S3 server stored or sent.
import { createHash } from 'node:crypto';

import { crc32c } from '@node-rs/crc32';

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** The wire form of a CRC32C (x-amz-checksum-crc32c): base64 of its 4 big-endian bytes. */
export function crc32cBase64(bytes: Uint8Array): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(bytes.byteLength === 0 ? 0 : crc32c(Buffer.from(bytes)) >>> 0);
  return out.toString('base64');
}

/** Deterministic bytes that do not repeat within a 256-byte period; `seed` varies them. */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) {
    out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  }
  return out;
}

/** Where two equally long buffers differ (vitest's toEqual on large buffers is slow). */
export function differingOffsets(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i += 1) {
    if (a[i] !== b[i]) {
      out.push(i);
    }
  }
  return out;
}
