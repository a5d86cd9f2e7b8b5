import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  crc32c,
  crc32cCombine,
  crc32cFromBase64,
  crc32cHex,
  crc32cToBase64,
  isCrc32cHex,
} from './checksum.js';

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32cHex(crc32c(Buffer.from('123456789')))).toBe('e3069283');
  });

  it('continues from a previous CRC as if the bytes were one', () => {
    const whole = randomBytes(100_003);
    const split = crc32c(whole.subarray(70_000), crc32c(whole.subarray(0, 70_000)));
    expect(split).toBe(crc32c(whole));
  });

  it('reads views at an offset of their buffer', () => {
    const whole = randomBytes(4096);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 100, 1000);
    expect(crc32c(view)).toBe(crc32c(whole.subarray(100, 1100)));
  });
});

describe('crc32cCombine', () => {
  it('folds the CRCs of pieces into the CRC of the whole, in any split', () => {
    const whole = randomBytes(3 * 1024 * 1024 + 17);
    for (const cuts of [[1], [1024, 2048], [1_000_000, 2_000_000, 3_000_000], [whole.length - 1]]) {
      const bounds = [0, ...cuts, whole.length];
      let combined = 0;
      for (let i = 0; i + 1 < bounds.length; i += 1) {
        const piece = whole.subarray(bounds[i], bounds[i + 1]);
        combined = crc32cCombine(combined, crc32c(piece), piece.length);
      }
      expect(combined, `cuts ${cuts.join(',')}`).toBe(crc32c(whole));
    }
  });

  it('is the identity for an empty second piece and combines from an empty first', () => {
    const bytes = randomBytes(999);
    expect(crc32cCombine(crc32c(bytes), 0, 0)).toBe(crc32c(bytes));
    expect(crc32cCombine(0, crc32c(bytes), bytes.length)).toBe(crc32c(bytes));
  });

  it('handles lengths past 2^32 (shifts of files larger than 4 GiB)', () => {
    // crc(A ‖ zeros(n) ‖ B) computed two ways: combine through a zero run of n bytes, built
    // from the CRC of a zero run, must agree with combining A, then the run, then B.
    const a = crc32c(Buffer.from('head'));
    const zeros = Buffer.alloc(1 << 20);
    const zeroCrc = crc32c(zeros);
    let runCrc = 0;
    for (let i = 0; i < 8; i += 1) {
      runCrc = crc32cCombine(runCrc, zeroCrc, zeros.length);
    }
    const viaRun = crc32cCombine(a, runCrc, 8 * zeros.length);
    let stepwise = a;
    for (let i = 0; i < 8; i += 1) {
      stepwise = crc32cCombine(stepwise, zeroCrc, zeros.length);
    }
    expect(viaRun).toBe(stepwise);
    // A length of 2^33 + 1 exercises the bits past 32 without overflowing.
    expect(Number.isInteger(crc32cCombine(a, zeroCrc, 2 ** 33 + 1))).toBe(true);
  });
});

describe('crc32c encodings', () => {
  it('round-trips S3 base64 and hex', () => {
    const hex = crc32cHex(crc32c(Buffer.from('123456789')));
    expect(crc32cToBase64(hex)).toBe('4waSgw==');
    expect(crc32cFromBase64('4waSgw==')).toBe(hex);
    expect(crc32cFromBase64('not base64!')).toBeUndefined();
    expect(isCrc32cHex(hex)).toBe(true);
    expect(isCrc32cHex('E3069283')).toBe(false);
  });
});
