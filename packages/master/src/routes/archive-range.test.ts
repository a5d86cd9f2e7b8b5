import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { Logger } from '../logger.js';
import { expectError } from '../../test/expect-error.js';
import { reportCheckpoint, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { capturingLogger, fetchOver, listen } from '../../test/over-http.js';

const LONG_NAME = `deep/${'d'.repeat(60)}/${'f'.repeat(110)}.bin`; // needs a pax header
const UNICODE_NAME = 'unicodé/日本語 🚀.txt'; // pax too

/** Small files whose archive has ustar and pax headers, padding and an empty entry. */
const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 10}'),
  'model.bin': randomBytes(300_001),
  'empty.txt': Buffer.alloc(0),
  'sub/deep.bin': randomBytes(513),
  [LONG_NAME]: randomBytes(700),
  [UNICODE_NAME]: Buffer.from('héllo\n'),
};

let m: TestMaster;
let closeMaster: () => Promise<void>;
let s: Seeded;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  ({ master: m, close: closeMaster } = await openTestMaster('sqlite'));
  s = await seedTrial(m);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
  await closeMaster();
});

/** Writes `files` as a completed checkpoint in the master's storage; returns uuid and dir. */
async function store(files: Record<string, Buffer>): Promise<{ uuid: string; dir: string }> {
  const uuid = testUuid();
  const dir = join(m.storageDir, uuid);
  const resources: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
    resources[name] = String(data.length);
  }
  await reportCheckpoint(m, s, 10, { uuid, resources });
  return { uuid, dir };
}

async function get(
  uuid: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Response> {
  return m.request(method, `/checkpoints/${uuid}`, { token: s.token, headers });
}

/** Offsets around every header, data start and padding of the archive, and its ends. */
function interestingOffsets(full: Buffer): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (full.subarray(at, at + 512).some((b) => b !== 0)) {
    const size = Number.parseInt(full.toString('latin1', at + 124, at + 135), 8);
    cuts.push(at, at + 512, at + 512 + Math.floor(size / 2), at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  cuts.push(at, full.length - 1);
  const offsets = new Set<number>();
  for (const cut of cuts) {
    for (const o of [cut - 1, cut, cut + 1]) {
      if (o >= 0 && o < full.length) offsets.add(o);
    }
  }
  return [...offsets];
}

describe('checkpoint archive: ranges and validators (in-process)', () => {
  it('sends a strong ETag, Accept-Ranges and the length; HEAD the same without a body', async () => {
    const { uuid } = await store(FILES);
    const res = await get(uuid);
    const full = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    const etag = res.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(full.length));

    const head = await get(uuid, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(head.headers.get('content-length')).toBe(String(full.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    // Deterministic: the same files give the same tag and bytes.
    const again = await get(uuid);
    expect(again.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await again.arrayBuffer()).equals(full)).toBe(true);
  });

  it('serves every range form as the slice of the whole archive', async () => {
    const { uuid } = await store(FILES);
    const full = Buffer.from(await (await get(uuid)).arrayBuffer());
    const len = full.length;
    const paxRecord = full.indexOf('path=deep/');
    expect(paxRecord).toBeGreaterThan(0);
    const starts = [...interestingOffsets(full), paxRecord - 5, paxRecord];
    const cases: [string, number, number][] = [];
    for (const start of starts) {
      cases.push([`bytes=${start}-`, start, len - 1]);
      const last = Math.min(len - 1, start + 700);
      cases.push([`bytes=${start}-${last}`, start, last]);
    }
    cases.push(
      [`bytes=0-0`, 0, 0],
      [`bytes=-1`, len - 1, len - 1],
      [`bytes=-1500`, len - 1500, len - 1],
    );
    cases.push([`bytes=-${len + 10}`, 0, len - 1], [`bytes=100-${len * 2}`, 100, len - 1]);
    for (const [range, first, last] of cases) {
      const res = await get(uuid, { range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${first}-${last}/${len}`);
      expect(res.headers.get('content-length'), range).toBe(String(last - first + 1));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(full.subarray(first, last + 1)), range).toBe(true);
    }
  });

  it('serves the whole archive for several ranges or another unit', async () => {
    const { uuid } = await store(FILES);
    const full = Buffer.from(await (await get(uuid)).arrayBuffer());
    for (const range of ['bytes=0-10, 20-30', 'bytes=0-1,5-', 'items=0-10']) {
      const res = await get(uuid, { range });
      expect(res.status, range).toBe(200);
      expect(res.headers.get('content-range'), range).toBeNull();
      expect(Buffer.from(await res.arrayBuffer()).equals(full), range).toBe(true);
    }
  });

  it('honours Range only while If-Range names the current ETag', async () => {
    const { uuid } = await store(FILES);
    const first = await get(uuid);
    const etag = first.headers.get('etag') ?? '';
    const full = Buffer.from(await first.arrayBuffer());
    const resumed = await get(uuid, { range: 'bytes=1000-', 'if-range': etag });
    expect(resumed.status).toBe(206);
    expect(Buffer.from(await resumed.arrayBuffer()).equals(full.subarray(1000))).toBe(true);
    for (const ifRange of ['"0123"', `W/${etag}`, 'Wed, 21 Oct 2015 07:28:00 GMT']) {
      const res = await get(uuid, { range: 'bytes=1000-', 'if-range': ifRange });
      expect(res.status, ifRange).toBe(200);
      expect(res.headers.get('etag')).toBe(etag);
      expect(Buffer.from(await res.arrayBuffer()).equals(full), ifRange).toBe(true);
    }
  });

  it('answers 412 when If-Match names another ETag, e.g. after a file changed', async () => {
    const { uuid, dir } = await store(FILES);
    const etag = (await get(uuid, {}, 'HEAD')).headers.get('etag') ?? '';
    for (const ifMatch of [etag, '*', `"other", ${etag}`]) {
      const res = await get(uuid, { 'if-match': ifMatch, range: 'bytes=10-19' });
      expect(res.status, ifMatch).toBe(206);
      expect((await res.arrayBuffer()).byteLength).toBe(10);
    }
    for (const ifMatch of ['"other"', `W/${etag}`]) {
      const body = await expectError(await get(uuid, { 'if-match': ifMatch }), 412, ifMatch);
      expect(body.message).toContain(etag);
    }

    writeFileSync(join(dir, 'sub/deep.bin'), randomBytes(513)); // same size, new mtime
    const changed = await get(uuid, {}, 'HEAD');
    expect(changed.headers.get('etag')).not.toBe(etag);
    await expectError(await get(uuid, { 'if-match': etag, range: 'bytes=100-' }), 412, etag);
  });

  it('answers 416 with the length for a range past the end or a malformed one', async () => {
    const { uuid } = await store(FILES);
    const len = Number((await get(uuid, {}, 'HEAD')).headers.get('content-length'));
    for (const [range, fragment] of [
      [`bytes=${len}-`, 'starts at or after the end'],
      [`bytes=${len + 100}-${len + 200}`, 'starts at or after the end'],
      ['bytes=-0', 'selects no bytes'],
      ['bytes=10-5', 'last byte before first'],
      ['bytes=abc', 'invalid Range'],
      ['bytes=-', 'invalid Range'],
    ] as const) {
      const res = await get(uuid, { range });
      expect(res.headers.get('content-range'), range).toBe(`bytes */${len}`);
      await expectError(res, 416, fragment);
    }
  });

  it('keeps gzip and zip whole: no ETag, Range ignored, If-Match never matching', async () => {
    const { uuid } = await store(FILES);
    for (const accept of ['application/gzip', 'application/zip']) {
      const res = await get(uuid, { accept, range: 'bytes=0-9' });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('etag')).toBeNull();
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10);
      await expectError(await get(uuid, { accept, 'if-match': '"x"' }), 412, '"x"');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Over loopback, where the tar goes straight to the Node response.

/** Serves the master's app (with `logger`) on a loopback port, closed after the test. */
async function listenWith(logger: Logger): Promise<string> {
  const server = await listen({ ...m.deps, logger });
  cleanups.push(() => server.close());
  return server.url;
}

/** Files under `dir` this process has open (Linux only; [] elsewhere). */
function openFilesUnder(dir: string): string[] {
  if (!existsSync('/proc/self/fd')) return [];
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // closed meanwhile
      }
    })
    .filter((target) => target.startsWith(dir));
}

/** Waits (up to 5 s) until `check` holds; the master finishes closing files on its own loop. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

describe('checkpoint archive over node:http', () => {
  it('sends the same bytes, ranges and headers as in-process, which tar and tarfile extract', async () => {
    const { uuid } = await store(FILES);
    const url = `${await listenWith(capturingLogger())}/checkpoints/${uuid}`;
    const auth = { authorization: `Bearer ${s.token}` };
    const inProcess = await get(uuid);
    const expected = Buffer.from(await inProcess.arrayBuffer());

    const full = await fetchOver(url, auth);
    expect(full.status).toBe(200);
    expect(full.complete).toBe(true);
    expect(full.body.equals(expected)).toBe(true);
    expect(full.headers.etag).toBe(inProcess.headers.get('etag'));
    expect(full.headers['content-length']).toBe(String(expected.length));
    expect(full.headers['x-request-id']).toMatch(/./);

    const work = mkdtempSync(join(tmpdir(), 'archive-node-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    writeFileSync(join(work, 'a.tar'), full.body);
    mkdirSync(join(work, 'tar'));
    execFileSync('tar', ['-xf', join(work, 'a.tar'), '-C', join(work, 'tar')]);
    execFileSync('/usr/bin/python3', [
      '-c',
      'import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t: t.extractall(sys.argv[2])',
      join(work, 'a.tar'),
      join(work, 'py'),
    ]);
    for (const [name, data] of Object.entries(FILES)) {
      expect(readFileSync(join(work, 'tar', name)).equals(data), name).toBe(true);
      expect(readFileSync(join(work, 'py', name)).equals(data), name).toBe(true);
    }

    for (const start of interestingOffsets(expected)) {
      const range = `bytes=${start}-${Math.min(expected.length - 1, start + 1000)}`;
      const part = await fetchOver(url, { ...auth, range, 'if-range': full.headers.etag ?? '' });
      expect(part.status, range).toBe(206);
      expect(part.body.equals(expected.subarray(start, start + 1001)), range).toBe(true);
    }

    const head = await fetchOver(url, auth, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(expected.length));
    expect(head.body.length).toBe(0);
  });

  it('closes the open file when the client hangs up, and keeps serving', async () => {
    const { uuid, dir } = await store({
      'big.bin': randomBytes(32 * 2 ** 20),
      'z.txt': Buffer.from('z'),
    });
    const logger = capturingLogger();
    const url = `${await listenWith(logger)}/checkpoints/${uuid}`;
    const auth = { authorization: `Bearer ${s.token}` };
    const cut = await fetchOver(url, auth, {
      onData: (n, req) => n >= 2 ** 20 && req.destroy(),
    });
    expect(cut.complete).toBe(false);
    expect(await eventually(() => openFilesUnder(dir).length === 0)).toBe(true);

    const again = await fetchOver(url, { ...auth, range: 'bytes=-1536' });
    expect(again.status).toBe(206);
    expect(again.body.subarray(0, 1).toString()).toBe('z');
    expect(logger.errors).toEqual([]); // a client going away is not the master's failure
  });

  it('ends the response early when a file shrank after it was listed, naming it in the log', async () => {
    const { uuid, dir } = await store({
      'a-big.bin': randomBytes(32 * 2 ** 20),
      'b-small.bin': randomBytes(100_000),
    });
    const logger = capturingLogger();
    const url = `${await listenWith(logger)}/checkpoints/${uuid}`;
    // The master is still on the first file when the first bytes arrive; cut the second.
    let truncated = false;
    const got = await fetchOver(
      url,
      { authorization: `Bearer ${s.token}` },
      {
        onData: () => {
          if (!truncated) {
            truncated = true;
            truncateSync(join(dir, 'b-small.bin'), 10);
          }
        },
      },
    );
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.body.length).toBeLessThan(Number(got.headers['content-length']));
    // The first file went out, up to the chunk that also holds the second file's header.
    expect(got.body.length).toBeGreaterThan(31 * 2 ** 20);
    expect(await eventually(() => logger.errors.length === 1)).toBe(true);
    expect(logger.errors[0]).toMatch(/b-small\.bin.*changed.*got 10/);
    expect(await eventually(() => openFilesUnder(dir).length === 0)).toBe(true);
  });
});
