import { createHash } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { liveWorkers } from '../../test/workers.js';
import { crc32c, crc32cHex } from '../checksum.js';
import { HashPool } from './hash-pool.js';

let dir: string;
const never = new AbortController().signal;
const BOTH = { sha256: true, crc32c: true };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'det-hash-pool-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HashPool', () => {
  it('hashes files on worker threads, and ends them on close', async () => {
    const before = liveWorkers();
    const files = {
      'empty.bin': Buffer.alloc(0),
      'small.bin': Buffer.from('weights'),
      'big.bin': Buffer.alloc(9 * 1024 * 1024 + 3, 7), // several reads
    };
    for (const [name, bytes] of Object.entries(files)) {
      await writeFile(join(dir, name), bytes);
    }
    const pool = new HashPool(2);
    const results = await Promise.all(
      Object.entries(files).map(([name, bytes]) =>
        pool.hash(join(dir, name), bytes.byteLength, BOTH, { signal: never }),
      ),
    );
    expect(liveWorkers()).toBe(before + 2);
    expect(results).toEqual(
      Object.values(files).map((bytes) => ({
        bytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        crc32c: crc32cHex(crc32c(bytes)),
      })),
    );
    await pool.close();
    expect(liveWorkers()).toBe(before);
  });

  it('computes only the checksums asked for', async () => {
    const bytes = Buffer.from('weights');
    await writeFile(join(dir, 'w.bin'), bytes);
    const pool = new HashPool(1);
    try {
      const path = join(dir, 'w.bin');
      await expect(
        pool.hash(path, bytes.length, { sha256: false, crc32c: true }, { signal: never }),
      ).resolves.toEqual({ bytes: 7, sha256: undefined, crc32c: crc32cHex(crc32c(bytes)) });
      await expect(
        pool.hash(path, bytes.length, { sha256: true, crc32c: false }, { signal: never }),
      ).resolves.toEqual({
        bytes: 7,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        crc32c: undefined,
      });
    } finally {
      await pool.close();
    }
  });

  it('rejects a job whose signal has aborted with the signal’s reason', async () => {
    await writeFile(join(dir, 'a.bin'), 'a');
    const pool = new HashPool(1);
    try {
      const stop = new AbortController();
      stop.abort(new Error('stopped by the caller'));
      await expect(pool.hash(join(dir, 'a.bin'), 1, BOTH, { signal: stop.signal })).rejects.toThrow(
        'stopped by the caller',
      );
    } finally {
      await pool.close();
    }
  });

  it('fails a job with the errno code of what went wrong, links included', async () => {
    await writeFile(join(dir, 'real.bin'), 'x');
    await symlink(join(dir, 'real.bin'), join(dir, 'link.bin'));
    const pool = new HashPool(1);
    try {
      await expect(
        pool.hash(join(dir, 'missing.bin'), 1, BOTH, { signal: never }),
      ).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(
        pool.hash(join(dir, 'link.bin'), 1, BOTH, { signal: never }),
      ).rejects.toMatchObject({
        code: 'ELOOP',
      });
      // The worker that reported the failures goes on with the next job.
      await expect(
        pool.hash(join(dir, 'real.bin'), 1, BOTH, { signal: never }),
      ).resolves.toMatchObject({
        bytes: 1,
      });
    } finally {
      await pool.close();
    }
  });

  it('refuses jobs once closed', async () => {
    const pool = new HashPool(1);
    await pool.close();
    await expect(pool.hash(join(dir, 'a.bin'), 1, BOTH, { signal: never })).rejects.toThrow(
      /closed/,
    );
  });
});
