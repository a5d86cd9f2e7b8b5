import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  bodyResponse,
  buildTar,
  partialDirs,
  readBody,
  readTree,
  startDownloadMaster,
} from '../../test/download-helpers.js';
import type { DownloadMaster, TarEntry } from '../../test/download-helpers.js';
import { Checkpoint } from '../checkpoint.js';
import { ApiError, ArgumentError, IntegrityError, NetworkError } from '../errors.js';
import type { DownloadEvent } from './events.js';

let m: DownloadMaster;

beforeEach(async () => {
  m = await startDownloadMaster();
});

afterEach(async () => {
  await m.close();
});

const isArchive = (input: string): boolean => new URL(input).pathname.startsWith('/checkpoints/');
const archiveRequests = (): number =>
  m.requests.filter((r) => r.startsWith('GET /checkpoints/')).length;

/** Nothing of the download is left: no target, no temporary sibling, nothing escaped. */
async function expectNothingLeft(target: string): Promise<void> {
  await expect(lstat(target)).rejects.toThrow(/ENOENT/);
  expect(await partialDirs(m.workDir)).toEqual([]);
  expect((await readdir(m.workDir)).sort()).toEqual(['storage']);
}

/** Serves `tar` (with its Content-Length) instead of the master's archive. */
function serveTar(tar: Buffer): void {
  m.setTransport(async (input, init, next) =>
    isArchive(input)
      ? bodyResponse(tar, {
          headers: { 'content-type': 'application/x-tar', 'content-length': String(tar.length) },
        })
      : next(input, init),
  );
}

const BIG = 'x'.repeat(200_000);

/** An archive request as the transport saw it, and the status the master gave it. */
interface SeenRequest {
  range: string | null;
  ifRange: string | null;
  status: number;
  etag: string | null;
}

/**
 * Records every archive request; `answer` may replace the n-th (1-based) response, given the
 * master's and its whole body (`undefined`: the master's answer as it was).
 */
function recordArchiveRequests(
  answer: (res: Response, body: Buffer, n: number) => Response | undefined,
): SeenRequest[] {
  const seen: SeenRequest[] = [];
  m.setTransport(async (input, init, next) => {
    const res = await next(input, init);
    if (!isArchive(input)) {
      return res;
    }
    const headers = new Headers(init?.headers);
    seen.push({
      range: headers.get('range'),
      ifRange: headers.get('if-range'),
      status: res.status,
      etag: res.headers.get('etag'),
    });
    const body = await readBody(res);
    return answer(res, body, seen.length) ?? new Response(body, res);
  });
  return seen;
}

/** `body` with `res`'s head, whose bytes stop coming after `after` (the stream stays open). */
function stallingResponse(res: Response, body: Buffer, after: number): Response {
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= after) {
        return new Promise<void>(() => undefined); // never pulls again
      }
      const n = Math.min(4096, after - sent);
      controller.enqueue(body.subarray(sent, sent + n));
      sent += n;
      return undefined;
    },
  });
  return new Response(stream, { status: res.status, headers: res.headers });
}

function progressBytes(events: DownloadEvent[]): number[] {
  return events.flatMap((e) => (e.type === 'progress' ? [e.bytes] : []));
}

describe('download (master)', () => {
  it('unpacks the master archive, sizes and digests checked', async () => {
    const c = await m.seed({
      'metadata.json': '{}',
      'model.bin': BIG,
      'sub/': null,
      'sub/deep/s.json': '{"a":1}',
    });
    const events: DownloadEvent[] = [];
    const target = join(m.workDir, 'out');
    const dir = await c.download(target, { mode: 'master', onProgress: (e) => events.push(e) });
    expect(dir).toBe(target);
    expect(await readTree(dir)).toEqual({
      'metadata.json': '{}',
      'model.bin': BIG,
      'sub/': null,
      'sub/deep/': null,
      'sub/deep/s.json': '{"a":1}',
    });
    expect(events[0]).toEqual({
      type: 'start',
      totalBytes: 200_009,
      totalFiles: 3,
      mode: 'master',
      source: `${m.baseUrl}/checkpoints/${c.uuid}`,
    });
    expect(events.filter((e) => e.type === 'progress').at(-1)).toMatchObject({
      bytes: 200_009,
    });
    expect(archiveRequests()).toBe(1);
  });

  it('asks for a tar with the session token', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const seen: Headers[] = [];
    m.setTransport((input, init, next) => {
      if (isArchive(input)) {
        seen.push(new Headers(init?.headers));
      }
      return next(input, init);
    });
    await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect(seen[0]?.get('accept')).toBe('application/x-tar');
    expect(seen[0]?.get('authorization')).toBe(`Bearer ${m.client.token ?? ''}`);
  });

  it('retries after a 503 and succeeds', async () => {
    const c = await m.seed({ 'a.bin': BIG });
    let calls = 0;
    m.setTransport((input, init, next) => {
      if (isArchive(input) && ++calls === 1) {
        return Promise.resolve(new Response('{"message":"busy"}', { status: 503 }));
      }
      return next(input, init);
    });
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(calls).toBe(2);
  });

  it('gives up after the retry policy with the last ApiError', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    m.setTransport((input, init, next) =>
      isArchive(input)
        ? Promise.resolve(new Response('{"message":"down"}', { status: 502 }))
        : next(input, init),
    );
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', retry: { attempts: 3, baseDelayMs: 0 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 502 });
    expect(archiveRequests()).toBe(3);
    await expectNothingLeft(target);
  });

  it('does not retry a 4xx', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    m.setTransport((input, init, next) =>
      isArchive(input)
        ? Promise.resolve(new Response('{"message":"nope"}', { status: 403 }))
        : next(input, init),
    );
    await expect(c.download(join(m.workDir, 'out'), { mode: 'master' })).rejects.toMatchObject({
      status: 403,
    });
    expect(archiveRequests()).toBe(1);
  });

  it('resumes with Range and If-Range after a connection reset mid-stream', async () => {
    const c = await m.seed({ 'a.bin': BIG, 'b.bin': 'b'.repeat(50_000) });
    const seen = recordArchiveRequests((res, body, n) =>
      n === 1 ? bodyResponse(body, { headers: res.headers, failAfter: 120_000 }) : undefined,
    );
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), {
      mode: 'master',
      progressIntervalMs: 0,
      onProgress: (e) => events.push(e),
    });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(await readFile(join(dir, 'b.bin'), 'utf8')).toBe('b'.repeat(50_000));
    const etag = seen[0]?.etag;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(seen).toEqual([
      { range: null, ifRange: null, status: 200, etag },
      { range: 'bytes=120000-', ifRange: etag, status: 206, etag },
    ]);
    // The count never went back, and ended at the total.
    const bytes = progressBytes(events);
    expect(bytes.every((b, i) => i === 0 || b >= (bytes[i - 1] ?? 0))).toBe(true);
    expect(bytes.at(-1)).toBe(250_000);
  });

  it('starts over, bytes taken back, when the first answer has no ETag', async () => {
    const c = await m.seed({ 'a.bin': BIG, 'b.bin': 'b'.repeat(50_000) });
    const seen = recordArchiveRequests((res, body, n) => {
      if (n > 1) {
        return undefined;
      }
      const headers = new Headers(res.headers);
      headers.delete('etag');
      return bodyResponse(body, { headers, failAfter: 120_000 });
    });
    const events: DownloadEvent[] = [];
    const dir = await c.download(join(m.workDir, 'out'), {
      mode: 'master',
      progressIntervalMs: 0,
      onProgress: (e) => events.push(e),
    });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(seen.map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      [null, 200],
    ]);
    const bytes = progressBytes(events);
    expect(bytes.some((b, i) => i > 0 && b < (bytes[i - 1] ?? 0))).toBe(true);
    expect(bytes.at(-1)).toBe(250_000);
  });

  it('starts over when a ranged request is answered with the whole archive', async () => {
    const c = await m.seed({ 'a.bin': BIG, 'b.bin': 'b'.repeat(50_000) });
    let calls = 0;
    m.setTransport(async (input, init, next) => {
      if (!isArchive(input)) {
        return next(input, init);
      }
      calls += 1;
      const headers = new Headers(init?.headers);
      headers.delete('range'); // a server (or proxy) that ignores Range
      const res = await next(input, { ...init, headers });
      return calls === 1
        ? bodyResponse(await readBody(res), { headers: res.headers, failAfter: 120_000 })
        : res;
    });
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(await readFile(join(dir, 'b.bin'), 'utf8')).toBe('b'.repeat(50_000));
    expect(calls).toBe(2);
  });

  it('starts over, once, when a ranged request gets 412', async () => {
    const c = await m.seed({ 'a.bin': BIG });
    const seen = recordArchiveRequests((res, body, n) => {
      if (n === 1) {
        return bodyResponse(body, { headers: res.headers, failAfter: 100_000 });
      }
      return n === 2 ? new Response('{"message":"changed"}', { status: 412 }) : undefined;
    });
    const dir = await c.download(join(m.workDir, 'out'), {
      mode: 'master',
      retry: { attempts: 2, baseDelayMs: 0 },
    });
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(seen.map((r) => r.range)).toEqual([null, 'bytes=100000-', null]);
  });

  it('fails with IntegrityError when a 206 holds another range than the one asked for', async () => {
    const c = await m.seed({ 'a.bin': BIG });
    let calls = 0;
    m.setTransport(async (input, init, next) => {
      if (!isArchive(input)) {
        return next(input, init);
      }
      calls += 1;
      if (calls === 1) {
        const res = await next(input, init);
        return bodyResponse(await readBody(res), { headers: res.headers, failAfter: 100_000 });
      }
      const headers = new Headers(init?.headers);
      headers.set('range', 'bytes=99000-'); // a server that sends bytes from elsewhere
      return next(input, { ...init, headers });
    });
    const target = join(m.workDir, 'out');
    const err = await c.download(target, { mode: 'master' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/asked for bytes 100000- .* Content-Range bytes 99000-/);
    expect(calls).toBe(2);
    await expectNothingLeft(target);
  });

  it('gives up a body that stalls for idleTimeoutMs and resumes it', async () => {
    const c = await m.seed({ 'a.bin': BIG });
    const seen = recordArchiveRequests((res, body, n) =>
      n === 1 ? stallingResponse(res, body, 100_000) : undefined,
    );
    const started = Date.now();
    const dir = await c.download(join(m.workDir, 'out'), {
      mode: 'master',
      idleTimeoutMs: 300,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe(BIG);
    expect(seen.map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      ['bytes=100000-', 206],
    ]);
  });

  it('fails with NetworkError when the master sends no answer within idleTimeoutMs', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    m.setTransport((input, init, next) =>
      isArchive(input) ? new Promise<Response>(() => undefined) : next(input, init),
    );
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', idleTimeoutMs: 200, retry: { attempts: 2 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/no data for 0\.2 s .*stalled/);
    expect(archiveRequests()).toBe(2);
    await expectNothingLeft(target);
  });

  it.each([0, -1, Number.NaN])('refuses idleTimeoutMs %s', async (idleTimeoutMs) => {
    const c = await m.seed({ 'a.bin': 'a' });
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', idleTimeoutMs })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArgumentError);
    expect(err).toMatchObject({ rule: 'idle-timeout' });
    expect(archiveRequests()).toBe(0);
    await expectNothingLeft(target);
  });

  it('fails with NetworkError after resets on every attempt, leaving nothing', async () => {
    const c = await m.seed({ 'a.bin': BIG });
    m.setTransport(async (input, init, next) => {
      const res = await next(input, init);
      return isArchive(input)
        ? bodyResponse(await readBody(res), {
            headers: res.headers,
            status: res.status,
            failAfter: 100_000,
          })
        : res;
    });
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', retry: { attempts: 2, baseDelayMs: 0 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(archiveRequests()).toBe(2);
    await expectNothingLeft(target);
  });

  it('treats a body shorter than its Content-Length as truncated, retried then fatal', async () => {
    const c = await m.seed({ 'a.bin': BIG }, { digests: false });
    m.setTransport(async (input, init, next) => {
      const res = await next(input, init);
      // Cut at a tar block boundary after the whole file: only the end-of-archive is missing.
      const body = await readBody(res);
      return isArchive(input)
        ? bodyResponse(body, {
            headers: res.headers,
            status: res.status,
            endAfter: body.length - 1024,
          })
        : new Response(body, res);
    });
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', retry: { attempts: 2, baseDelayMs: 0 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/truncated/);
    expect(archiveRequests()).toBe(2);
    await expectNothingLeft(target);
  });

  it('treats an archive cut inside a file, without Content-Length, as truncated', async () => {
    const c = await m.seed({ 'a.bin': BIG }, { digests: false });
    m.setTransport(async (input, init, next) => {
      const res = await next(input, init);
      if (!isArchive(input)) {
        return res;
      }
      const body = await readBody(res);
      return bodyResponse(body, { endAfter: 100_000 });
    });
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, { mode: 'master', retry: { attempts: 1 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/truncated/);
    await expectNothingLeft(target);
  });

  it.each([
    ['sha256', { crc32c: false }],
    ['CRC32C', { digests: false }],
  ])(
    'fails with IntegrityError, without retrying, when a flipped byte breaks a %s',
    async (checksum, recorded) => {
      const c = await m.seed({ 'a.bin': BIG }, recorded);
      m.setTransport(async (input, init, next) => {
        const res = await next(input, init);
        if (!isArchive(input)) {
          return res;
        }
        const body = await readBody(res);
        body.writeUInt8(body.readUInt8(1512) ^ 0xff, 1512); // inside a.bin's data, past its header
        return new Response(body, res);
      });
      const target = join(m.workDir, 'out');
      const err = await c.download(target, { mode: 'master' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err).toMatchObject({ path: 'a.bin' });
      expect((err as Error).message).toContain(checksum);
      expect(archiveRequests()).toBe(1);
      await expectNothingLeft(target);
    },
  );

  it('fails on a corrupt tar header', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    m.setTransport(async (input, init, next) => {
      const res = await next(input, init);
      if (!isArchive(input)) {
        return res;
      }
      const body = await readBody(res);
      body.writeUInt8(body.readUInt8(148) ^ 0x55, 148); // the first header's checksum
      return new Response(body, res);
    });
    const target = join(m.workDir, 'out');
    const err = await c.download(target, { mode: 'master' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/corrupt archive/);
    expect(archiveRequests()).toBe(1);
    await expectNothingLeft(target);
  });

  it.each<[string, TarEntry]>([
    ['a ../ path', { name: '../evil', content: 'x' }],
    ['a nested ../ path', { name: 'sub/../../evil', content: 'x' }],
    ['an absolute path', { name: '/tmp/evil', content: 'x' }],
    ['a symlink', { name: 'link', type: 'symlink', linkname: '/etc/passwd' }],
    ['a hard link', { name: 'hard', type: 'link', linkname: 'a.bin' }],
    ['a fifo', { name: 'pipe', type: 'fifo' }],
  ])('refuses an archive entry with %s', async (_what, bad) => {
    const c = await m.seed({ 'a.bin': 'a' });
    serveTar(await buildTar([{ name: 'a.bin', content: 'a' }, bad]));
    const target = join(m.workDir, 'out');
    const err = await c.download(target, { mode: 'master' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/refusing/);
    await expectNothingLeft(target);
    await expect(lstat(join(m.workDir, '..', 'evil'))).rejects.toThrow(/ENOENT/);
  });

  it('fails when the archive lacks a resource', async () => {
    const c = await m.seed({ 'a.bin': 'a', 'b.bin': 'b' });
    serveTar(await buildTar([{ name: 'a.bin', content: 'a' }]));
    const target = join(m.workDir, 'out');
    await expect(c.download(target, { mode: 'master' })).rejects.toThrow(/lacks b\.bin/);
    await expectNothingLeft(target);
  });

  it('fails when the archive has a directory where a resource file should be', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    serveTar(await buildTar([{ name: 'a.bin/', type: 'directory' }]));
    const target = join(m.workDir, 'out');
    await expect(c.download(target, { mode: 'master' })).rejects.toThrow(/lacks a\.bin/);
    await expectNothingLeft(target);
  });

  it('fails when an entry has another size than resources list', async () => {
    const c = await m.seed({ 'a.bin': 'aaaa' }, { digests: false });
    serveTar(await buildTar([{ name: 'a.bin', content: 'aaaaaa' }]));
    const target = join(m.workDir, 'out');
    await expect(c.download(target, { mode: 'master' })).rejects.toThrow(/got 6 bytes.*list 4/);
    await expectNothingLeft(target);
  });

  it('fails when the archive holds a file twice', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    serveTar(
      await buildTar([
        { name: 'a.bin', content: 'a' },
        { name: './a.bin', content: 'a' },
      ]),
    );
    await expect(c.download(join(m.workDir, 'out'), { mode: 'master' })).rejects.toThrow(/twice/);
  });

  it('keeps files the archive has beyond resources, and creates directory entries', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    serveTar(
      await buildTar([
        { name: 'a.bin', content: 'a' },
        { name: 'extra/', type: 'directory' },
        { name: 'extra/note.txt', content: 'hi' },
      ]),
    );
    const dir = await c.download(join(m.workDir, 'out'), { mode: 'master' });
    expect(await readTree(dir)).toMatchObject({
      'a.bin': 'a',
      'extra/': null,
      'extra/note.txt': 'hi',
    });
  });

  it('reports a missing checkpoint as the master says', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const ghost = new Checkpoint({ ...c, uuid: '00000000-0000-4000-8000-00000000dead' }, c.client);
    const err = await ghost
      .download(join(m.workDir, 'out'), { mode: 'master' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404 });
  });

  it('needs the session the checkpoint came from', async () => {
    const c = await m.seed({ 'a.bin': 'a' });
    const detached = new Checkpoint(c);
    await expect(detached.download(join(m.workDir, 'out'), { mode: 'master' })).rejects.toThrow(
      /checkpoint\.client/,
    );
  });

  it('stops mid-archive when aborted and leaves nothing', async () => {
    const c = await m.seed({ 'a.bin': BIG, 'b.bin': BIG });
    const abort = new AbortController();
    const target = join(m.workDir, 'out');
    const err = await c
      .download(target, {
        mode: 'master',
        signal: abort.signal,
        progressIntervalMs: 0,
        onProgress: (e) => {
          if (e.type === 'progress' && e.bytes > 0) {
            abort.abort();
          }
        },
      })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    await expectNothingLeft(target);
  });
});
