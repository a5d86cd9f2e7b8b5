import { crc32c } from '@node-rs/crc32';

import { MAX_READ_BYTES } from '../file-storage.js';

/** Added after rotating, so a CRC of data that itself holds CRCs does not cancel out (LevelDB's rule). */
const MASK_DELTA = 0xa282ead8;

/** The CRC-32C of `parts` in sequence, in chunks so no single native call sees more than 1 GiB. */
export function crc32cOf(...parts: Uint8Array[]): number {
  let crc = 0;
  for (const part of parts) {
    for (let start = 0; start < part.length; start += MAX_READ_BYTES) {
      crc = crc32c(part.subarray(start, start + MAX_READ_BYTES), crc);
    }
  }
  return crc >>> 0;
}

/** The masked form LevelDB tables and TensorBundle entries store. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
