import { appendFileSync, utimesSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { partialDirs, startDownloadMaster } from '../../test/download-helpers.js';
import type { DownloadMaster } from '../../test/download-helpers.js';
import { startFaultProxy } from '../../../storage/test/fault-proxy.js';
import type { Fault, FaultProxy } from '../../../storage/test/fault-proxy.js';
import { Checkpoint } from '../checkpoint.js';
import { createClient } from '../client.js';
import { IntegrityError, NetworkError } from '../errors.js';
import type { DownloadEvent, DownloadOptions } from './events.js';

// Master mode over loopback through a proxy that breaks the first connections: the SDK's own
// socket transport, the real master's Range / If-Range handling, files hashed on the way.

let m: DownloadMaster;
let proxy: FaultProxy | undefined;

beforeEach(async () => {
  m = await startDownloadMaster({ loopback: true });
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await m.close();
});

const MiB = 1024 * 1024;
const MODEL = Buffer.alloc(3 * MiB);
for (let i = 0; i < MODEL.length; i += 4) {
  MODEL.writeUInt32LE(i, i); // no two blocks alike: bytes from a wrong offset would show
}

/** The archive's ETag and length, as the master announces them. */
async function archiveHead(c: Checkpoint): Promise<{ etag: string | null; length: number }> {
  const res = await fetch(`${m.baseUrl}/checkpoints/${c.uuid}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${m.client.token ?? ''}` },
  });
  return { etag: res.headers.get('etag'), length: Number(res.headers.get('content-length')) };
}

/** Downloads `c` through a proxy with `fault`; resolves to the error, or the target and events. */
async function downloadThrough(
  c: Checkpoint,
  fault: Fault & { times: number },
  options: DownloadOptions = {},
): Promise<{ dir?: string; error?: unknown; events: DownloadEvent[]; target: string }> {
  proxy = await startFaultProxy(m.baseUrl, fault);
  const client = createClient({
    baseUrl: proxy.url,
    token: m.client.token,
    retry: { baseDelayMs: 0 },
  });
  const events: DownloadEvent[] = [];
  const target = join(m.workDir, 'out');
  try {
    const dir = await new Checkpoint(c, client).download(target, {
      mode: 'master',
      progressIntervalMs: 0,
      onProgress: (e) => events.push(e),
      ...options,
    });
    return { dir, events, target };
  } catch (error: unknown) {
    return { error, events, target };
  }
}

const exchanges = (): NonNullable<typeof proxy>['exchanges'] => proxy?.exchanges ?? [];
const progressBytes = (events: DownloadEvent[]): number[] =>
  events.flatMap((e) => (e.type === 'progress' ? [e.bytes] : []));
const isMonotone = (values: number[]): boolean =>
  values.every((v, i) => i === 0 || v >= (values[i - 1] ?? 0));

describe('master-mode download resume', () => {
  it('resumes a connection dropped mid-file with Range and If-Range, fetching the archive about once', async () => {
    const c = await m.seed({ 'model.bin': MODEL, 'config.json': '{"a":1}' });
    const { etag, length } = await archiveHead(c);
    const { dir, events } = await downloadThrough(c, { endAfter: 1.5 * MiB, times: 1 });
    expect((await readFile(join(dir ?? '', 'model.bin'))).equals(MODEL)).toBe(true);
    expect(await readFile(join(dir ?? '', 'config.json'), 'utf8')).toBe('{"a":1}');
    const [first, second] = exchanges();
    expect(exchanges().map((x) => x.status)).toEqual([200, 206]);
    expect(first?.requestHeaders?.get('range')).toBeNull();
    // The connection closed cleanly: every byte the proxy passed reached the SDK.
    const received = (first?.bytes ?? 0) - (first?.headBytes ?? 0);
    expect(second?.requestHeaders?.get('range')).toBe(`bytes=${received}-`);
    expect(second?.requestHeaders?.get('if-range')).toBe(etag);
    const fetched = exchanges().reduce((n, x) => n + x.bytes, 0);
    expect(fetched).toBeGreaterThan(length);
    expect(fetched).toBeLessThan(1.1 * length);
    const bytes = progressBytes(events);
    expect(isMonotone(bytes)).toBe(true);
    expect(bytes.at(-1)).toBe(MODEL.length + 7);
  });

  it('resumes after a connection reset, the second answer carrying only the rest', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const { length } = await archiveHead(c);
    const { dir } = await downloadThrough(c, { cutAfter: 1.5 * MiB, times: 1 });
    expect((await readFile(join(dir ?? '', 'model.bin'))).equals(MODEL)).toBe(true);
    const second = exchanges()[1];
    expect(second?.status).toBe(206);
    // What the reset lost in flight is asked for again; what arrived is not.
    const from = Number(/^bytes=(\d+)-$/.exec(second?.requestHeaders?.get('range') ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect((second?.bytes ?? 0) - (second?.headBytes ?? 0)).toBe(length - from);
  });

  it('resumes a large checkpoint whose files are checked on workers', async () => {
    const tree = { 'a.bin': Buffer.alloc(40 * MiB, 1), 'b.bin': Buffer.alloc(40 * MiB, 2) };
    const c = await m.seed(tree);
    const { dir } = await downloadThrough(c, { endAfter: 50 * MiB, times: 1 });
    expect((await readFile(join(dir ?? '', 'a.bin'))).equals(tree['a.bin'])).toBe(true);
    expect((await readFile(join(dir ?? '', 'b.bin'))).equals(tree['b.bin'])).toBe(true);
    expect(exchanges().map((x) => x.status)).toEqual([200, 206]);
    // b.bin was continued mid-file, and its sha256 (over all of it) checked on a worker.
    const from = Number(
      /^bytes=(\d+)-$/.exec(exchanges()[1]?.requestHeaders?.get('range') ?? '')?.[1],
    );
    expect(from).toBeGreaterThan(41 * MiB);
  });

  it('gives up a body that stalls for idleTimeoutMs and resumes it', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const started = Date.now();
    const { dir } = await downloadThrough(c, { stallAfter: MiB, times: 1 }, { idleTimeoutMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect((await readFile(join(dir ?? '', 'model.bin'))).equals(MODEL)).toBe(true);
    expect(exchanges().map((x) => x.status)).toEqual([200, 206]);
    expect(exchanges()[1]?.requestHeaders?.get('range')).toMatch(/^bytes=\d+-$/);
  });

  it('fails with a NetworkError saying how long it stalled once retries run out', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const { error, target } = await downloadThrough(
      c,
      { stallAfter: MiB, times: 99 },
      { idleTimeoutMs: 300, retry: { attempts: 2 } },
    );
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as Error).message).toMatch(/no data for 0\.3 s .*stalled/);
    expect(exchanges()).toHaveLength(2);
    await expect(readFile(join(target, 'model.bin'))).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });

  it('gives up a master that sends no head within idleTimeoutMs, then asks again', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const { dir } = await downloadThrough(c, { stallAfter: 0, times: 1 }, { idleTimeoutMs: 300 });
    expect((await readFile(join(dir ?? '', 'model.bin'))).equals(MODEL)).toBe(true);
    expect(exchanges().map((x) => [x.status, x.requestHeaders?.get('range')])).toEqual([
      [undefined, null],
      [200, null],
    ]);
  });

  it('starts over when the files changed between attempts (ETag differs), bytes taken back', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const file = join(m.storageDir, c.uuid, 'model.bin');
    const { etag } = await archiveHead(c);
    const { dir, events } = await downloadThrough(c, {
      cutAfter: 1.5 * MiB,
      times: 1,
      onFault: () => utimesSync(file, new Date(), new Date(Date.now() + 60_000)), // same bytes
    });
    expect((await readFile(join(dir ?? '', 'model.bin'))).equals(MODEL)).toBe(true);
    expect(exchanges()[1]?.requestHeaders?.get('if-range')).toBe(etag);
    expect(exchanges().map((x) => x.status)).toEqual([200, 200]);
    const bytes = progressBytes(events);
    expect(isMonotone(bytes)).toBe(false);
    expect(bytes.at(-1)).toBe(MODEL.length);
  });

  it('fails with IntegrityError when a file changed size between attempts', async () => {
    const c = await m.seed({ 'model.bin': MODEL });
    const file = join(m.storageDir, c.uuid, 'model.bin');
    const { error, target } = await downloadThrough(c, {
      cutAfter: 1.5 * MiB,
      times: 1,
      onFault: () => appendFileSync(file, 'x'),
    });
    // The whole new archive came, and its model.bin is not the size the checkpoint records.
    expect(exchanges().map((x) => x.status)).toEqual([200, 200]);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toMatchObject({ path: 'model.bin' });
    expect((error as Error).message).toMatch(/got 3145729 bytes.*list 3145728/);
    await expect(readFile(join(target, 'model.bin'))).rejects.toThrow(/ENOENT/);
    expect(await partialDirs(m.workDir)).toEqual([]);
  });
});
