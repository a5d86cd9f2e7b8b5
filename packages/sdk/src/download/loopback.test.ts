import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { liveWorkers, partialDirs, startDownloadMaster } from '../../test/download-helpers.js';
import type { DownloadMaster } from '../../test/download-helpers.js';
import { startFaultProxy } from '../../../storage/test/fault-proxy.js';
import { Checkpoint } from '../checkpoint.js';
import { createClient } from '../client.js';
import { ApiError, IntegrityError, NetworkError } from '../errors.js';
import type { DownloadEvent } from './events.js';

let m: DownloadMaster;

beforeEach(async () => {
  m = await startDownloadMaster({ loopback: true });
});

afterEach(async () => {
  await m.close();
});

const BIG = Buffer.alloc(3 * 1024 * 1024, 7);

describe('download over loopback', () => {
  it('downloads the master archive over real HTTP', async () => {
    const c = await m.seed({ 'model.bin': BIG, 'sub/x.json': '{}' });
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect((await readFile(join(dir, 'model.bin'))).equals(BIG)).toBe(true);
    expect(await readFile(join(dir, 'sub/x.json'), 'utf8')).toBe('{}');
  });

  it('resumes when the connection closes before Content-Length (default transport)', async () => {
    const c = await m.seed({ 'model.bin': BIG });
    const proxy = await startFaultProxy(m.baseUrl, { endAfter: 2 * 1024 * 1024, times: 1 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { baseDelayMs: 0 },
      });
      expect(client.openBody).toBeUndefined(); // the SDK's own socket reads the archive
      const events: DownloadEvent[] = [];
      const dir = await new Checkpoint(c, client).download(join(m.workDir, 'out'), {
        mode: 'master',
        progressIntervalMs: 0,
        onProgress: (e) => events.push(e),
      });
      expect((await readFile(join(dir, 'model.bin'))).equals(BIG)).toBe(true);
      expect(proxy.exchanges.map((x) => x.status)).toEqual([200, 206]);
      // The count never went back: the second answer carried only the rest.
      const bytes = events.flatMap((e) => (e.type === 'progress' ? [e.bytes] : []));
      expect(bytes.every((b, i) => i === 0 || b >= (bytes[i - 1] ?? 0))).toBe(true);
      expect(bytes.at(-1)).toBe(BIG.length);
    } finally {
      await proxy.close();
    }
  });

  it('downloads a large checkpoint with the default transport, checked on workers', async () => {
    const MiB = 1024 * 1024;
    const tree = { 'a.bin': Buffer.alloc(40 * MiB, 1), 'b.bin': Buffer.alloc(40 * MiB, 2) };
    const c = await m.seed(tree);
    const workersBefore = liveWorkers();
    let workersSeen = 0;
    const client = createClient({ baseUrl: m.baseUrl, token: m.client.token });
    const dir = await new Checkpoint(c, client).download(join(m.workDir, 'out'), {
      mode: 'master',
      onProgress: (e) => {
        if (e.type === 'file') {
          workersSeen = Math.max(workersSeen, liveWorkers());
        }
      },
    });
    expect((await readFile(join(dir, 'a.bin'))).equals(tree['a.bin'])).toBe(true);
    expect((await readFile(join(dir, 'b.bin'))).equals(tree['b.bin'])).toBe(true);
    expect(workersSeen).toBeGreaterThan(workersBefore);
    expect(liveWorkers()).toBe(workersBefore);
  });

  it('reports a missing checkpoint as the master says, with the default transport', async () => {
    const c = await m.seed({ 'model.bin': 'x' });
    const client = createClient({ baseUrl: m.baseUrl, token: m.client.token });
    const missing = new Checkpoint({ ...c, uuid: '00000000-0000-4000-8000-000000000000' }, client);
    const err = await missing
      .download(join(m.workDir, 'out'), { mode: 'master' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('fails with IntegrityError, without retrying, when a byte is flipped in transit', async () => {
    const c = await m.seed({ 'model.bin': BIG }, { crc32c: false });
    const proxy = await startFaultProxy(m.baseUrl, { flipAt: 2 * 1024 * 1024, times: 99 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { baseDelayMs: 0 },
      });
      const target = join(m.workDir, 'out');
      const err = await new Checkpoint(c, client)
        .download(target, { mode: 'master' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/model\.bin: sha256/);
      expect(proxy.exchanges.length).toBe(1);
      expect(await partialDirs(m.workDir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('fails with NetworkError when every attempt is reset, leaving nothing', async () => {
    const c = await m.seed({ 'model.bin': BIG });
    const proxy = await startFaultProxy(m.baseUrl, { cutAfter: 1024 * 1024, times: 99 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        token: m.client.token,
        retry: { attempts: 3, baseDelayMs: 0 },
      });
      const target = join(m.workDir, 'out');
      const err = await new Checkpoint(c, client)
        .download(target, { mode: 'master' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect(proxy.exchanges.length).toBe(3);
      expect(await partialDirs(m.workDir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
