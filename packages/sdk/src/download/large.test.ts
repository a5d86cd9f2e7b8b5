import { createHash } from 'node:crypto';
import { lstat, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  liveWorkers,
  partialDirs,
  readBody,
  startDownloadMaster,
} from '../../test/download-helpers.js';
import type { DownloadMaster } from '../../test/download-helpers.js';
import { IntegrityError } from '../errors.js';
import type { DownloadEvent, DownloadMode } from './events.js';

/*
 * Checkpoints large enough (over 64 MiB with digests) that their files' sha256 are checked by
 * worker threads reading them back once written.
 */

const MiB = 1024 * 1024;
/** Three 24 MiB files: enough to hash for a pool. */
const TREE = {
  'a.bin': Buffer.alloc(24 * MiB, 1),
  'b.bin': Buffer.alloc(24 * MiB, 2),
  'sub/c.bin': Buffer.alloc(24 * MiB, 3),
  'metadata.json': '{"framework":"test"}',
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let m: DownloadMaster;
let workersBefore: number;

beforeEach(async () => {
  m = await startDownloadMaster();
  workersBefore = liveWorkers();
});

afterEach(async () => {
  await m.close();
});

/** Nothing of the download is left, and its workers have ended. */
async function expectNothingLeft(target: string): Promise<void> {
  await expect(lstat(target)).rejects.toThrow(/ENOENT/);
  expect(await partialDirs(m.workDir)).toEqual([]);
  expect(liveWorkers()).toBe(workersBefore);
}

describe.each<DownloadMode>(['direct', 'master'])('download (%s, checked on workers)', (mode) => {
  it('downloads every file, each reported once checked', async () => {
    const c = await m.seed(TREE);
    const events: DownloadEvent[] = [];
    let workersAtFirstFile: number | undefined;
    const dir = await c.download(join(m.workDir, 'out'), {
      mode,
      onProgress: (e) => {
        events.push(e);
        if (e.type === 'file') {
          workersAtFirstFile ??= liveWorkers();
        }
      },
    });
    expect(workersAtFirstFile).toBeGreaterThan(workersBefore);
    for (const name of ['a.bin', 'b.bin', 'sub/c.bin'] as const) {
      expect(sha256(await readFile(join(dir, name)))).toBe(sha256(TREE[name]));
    }
    const files = events.flatMap((e) => (e.type === 'file' ? [e.path] : []));
    expect(files.sort()).toEqual(['a.bin', 'b.bin', 'metadata.json', 'sub/c.bin']);
    expect(events.at(-1)).toMatchObject({ type: 'done', skipped: false });
    expect(liveWorkers()).toBe(workersBefore);
  });

  it('fails with IntegrityError on a sha256 mismatch, and leaves nothing', async () => {
    const c = await m.seed(TREE, { crc32c: false });
    if (mode === 'direct') {
      // Same size, one byte changed, in the middle of a file.
      const fh = await open(join(m.storageDir, c.uuid, 'b.bin'), 'r+');
      await fh.write(Buffer.from([0xff]), 0, 1, 12 * MiB);
      await fh.close();
    } else {
      m.setTransport(async (input, init, next) => {
        const res = await next(input, init);
        if (!new URL(input).pathname.startsWith('/checkpoints/')) {
          return res;
        }
        const body = await readBody(res);
        const at = body.indexOf(Buffer.alloc(1024, 2)) + 12 * MiB; // inside b.bin's data
        body.writeUInt8(body.readUInt8(at) ^ 0xff, at);
        return new Response(body, res);
      });
    }
    const target = join(m.workDir, 'out');
    const err = await c.download(target, { mode }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ path: 'b.bin' });
    expect((err as Error).message).toMatch(/sha256/);
    await expectNothingLeft(target);
  });

  it('stops when aborted while workers check files, leaving nothing', async () => {
    const c = await m.seed(TREE);
    const abort = new AbortController();
    const target = join(m.workDir, 'out');
    let workersAtAbort = 0;
    const err = await c
      .download(target, {
        mode,
        signal: abort.signal,
        onProgress: (e) => {
          // The first file checked: the workers are up, with other files still to check.
          if (e.type === 'file' && !abort.signal.aborted) {
            workersAtAbort = liveWorkers();
            abort.abort();
          }
        },
      })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(workersAtAbort).toBeGreaterThan(workersBefore);
    await expectNothingLeft(target);
  });
});
