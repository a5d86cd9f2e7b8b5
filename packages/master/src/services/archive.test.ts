import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import type { Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FileEntry } from './archive-file.js';
import { createArchiveStream, tarStream } from './archive.js';
import type { ArchiveFormat } from './archive.js';
import { TarLayout, tarChunks, tarHeader } from './tar.js';

const LONG_NAME = `long/${'d'.repeat(40)}/${'f'.repeat(120)}.bin`; // last segment > 100: pax
const SPLIT_NAME = `${'p'.repeat(80)}/${'q'.repeat(90)}.txt`; // > 100 but fits ustar prefix+name
const UNICODE_NAME = 'unicodé/日本語-файл 🚀.txt';
const MTIME_MS = Date.UTC(2024, 4, 17, 12, 30, 42);

let root: string;
let src: string;
let entries: FileEntry[];

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

function writeFile(name: string, data: Buffer): FileEntry {
  const path = join(src, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  utimesSync(path, MTIME_MS / 1000, MTIME_MS / 1000);
  const stats = statSync(path);
  return { name, path, size: stats.size, mtimeMs: stats.mtimeMs };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function build(list: FileEntry[], format: ArchiveFormat) {
  const { stream, contentLength } = createArchiveStream(list, format);
  return { bytes: await collect(stream), contentLength };
}

/**
 * The tar that tar-stream 3 packs for the entries (what this master served before it framed tar
 * itself), from the files' bytes.
 */
async function tarStreamPack(list: FileEntry[]): Promise<Buffer> {
  const tar = pack();
  const bytes = collect(tar as unknown as Readable);
  for (const e of list) {
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        mode: 0o644,
        mtime: new Date(e.mtimeMs),
        type: 'file' as const,
      };
      tar.entry(header, readFileSync(e.path), (err) => (err ? reject(err) : resolve()));
    });
  }
  tar.finalize();
  return bytes;
}

/** Where each header, its data and its padding start in a tar (pax headers count as entries), and its last byte. */
function tarBoundaries(tar: Buffer): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (tar.subarray(at, at + 512).some((b) => b !== 0)) {
    const size = Number.parseInt(tar.toString('latin1', at + 124, at + 135), 8);
    cuts.push(at, at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  cuts.push(at, tar.length - 1);
  return cuts;
}

/** `range` of the tar of `list`, read through tarStream. */
async function tarRange(list: FileEntry[], start: number, end: number): Promise<Buffer> {
  return collect(tarStream(new TarLayout(list), { start, end }));
}

/** Parses a tar with tar-stream, returning the headers in order. */
async function tarHeaders(tar: Buffer): Promise<Header[]> {
  const ex = extract();
  const headers: Header[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      headers.push(entry.header);
      entry.resume();
    }
  })();
  ex.end(tar);
  await done;
  return headers;
}

function expectSameFiles(dir: string, list: FileEntry[]): void {
  for (const e of list) {
    expect(sha256(readFileSync(join(dir, e.name))), e.name).toBe(sha256(readFileSync(e.path)));
  }
}

function freshDir(label: string): string {
  const dir = join(root, `${label}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'archive-test-'));
  src = join(root, 'src');
  entries = [
    writeFile('metadata.json', Buffer.from('{"steps_completed": 100}\n')),
    writeFile('nested/dir/weights.bin', randomBytes(3 * 1024 * 1024 + 123)),
    writeFile('empty.txt', Buffer.alloc(0)),
    writeFile(LONG_NAME, randomBytes(5000)),
    writeFile(SPLIT_NAME, Buffer.from('split\n')),
    writeFile(UNICODE_NAME, Buffer.from('héllo wörld\n')),
    writeFile('exactly-512.bin', randomBytes(512)),
  ];
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('createArchiveStream tar', () => {
  it('produces exactly contentLength bytes that GNU tar extracts intact', async () => {
    const { bytes, contentLength } = await build(entries, 'tar');
    expect(contentLength).toBe(bytes.length);
    expect(bytes.equals(await tarStreamPack(entries))).toBe(true);

    const file = join(root, 'out.tar');
    writeFileSync(file, bytes);
    const dir = freshDir('tar');
    execFileSync('tar', ['-xf', file, '-C', dir]);
    expectSameFiles(dir, entries);
  });

  it('round-trips names, sizes, mode and mtime through tar-stream extract', async () => {
    const { bytes } = await build(entries, 'tar');
    const headers = await tarHeaders(bytes);
    expect(headers.map((h) => h.name)).toEqual(entries.map((e) => e.name));
    for (const [i, h] of headers.entries()) {
      expect(h.type).toBe('file');
      expect(h.size).toBe(entries[i]!.size);
      expect(h.mode).toBe(0o644);
      expect(h.mtime?.getTime()).toBe(MTIME_MS);
    }
  });

  it('computes contentLength exactly and packs as tar-stream across ustar / pax name boundaries', async () => {
    const empty = entries.find((e) => e.name === 'empty.txt')!;
    const sized = [1, 511, 512, 513, 1025].map((n) => writeFile(`sized/${n}.bin`, randomBytes(n)));
    const names: string[] = [];
    for (const n of [99, 100, 101, 155, 156, 200, 256, 300]) {
      names.push('a'.repeat(n)); // no '/': pax once > 100
      names.push(`${'b'.repeat(Math.max(1, n - 60))}/${'c'.repeat(59)}`); // splittable into prefix
    }
    names.push(`${'x'.repeat(155)}/${'y'.repeat(100)}`); // longest ustar split
    names.push(`${'x'.repeat(156)}/${'y'.repeat(100)}`); // prefix too long: pax
    names.push(`${'x'.repeat(10)}/${'z'.repeat(101)}`); // name part too long: pax
    // Non-ASCII names of every length around the pax record's 2->3 and 3->4 digit boundaries.
    for (let n = 85; n <= 100; n++) names.push('é'.repeat(n >> 1) + 'e'.repeat(n & 1));
    for (let n = 980; n <= 1000; n++) names.push('ü'.repeat(n >> 1) + 'u'.repeat(n & 1));
    for (let n = 490; n <= 520; n++) names.push(`ñ/${'n'.repeat(n)}`); // pax record padding edges
    const list = [...names.map((name) => ({ ...empty, name })), ...sized];

    const { bytes, contentLength } = await build(list, 'tar');
    expect(contentLength).toBe(bytes.length);
    expect((await tarHeaders(bytes)).map((h) => h.name)).toEqual(list.map((e) => e.name));
    expect(bytes.equals(await tarStreamPack(list))).toBe(true);
  });

  it('encodes a size over 8 GiB in base-256, as tar-stream does', async () => {
    const size = 9 * 2 ** 30 + 5;
    const header = {
      name: 'big.bin',
      size,
      mode: 0o644,
      mtime: new Date(MTIME_MS),
      type: 'file' as const,
    };
    const tar = pack();
    tar.entry(header).on('error', () => {}); // destroyed below, before its data
    const first = (await (tar as unknown as Readable)[Symbol.asyncIterator]().next()) as {
      value: Buffer;
    };
    tar.destroy();
    const ours = tarHeader({ name: 'big.bin', size, mtimeMs: MTIME_MS });
    expect(ours[124]).toBe(0x80);
    expect(ours.equals(first.value)).toBe(true);
  });

  it('is an empty archive (just the end blocks) for no entries', async () => {
    const { bytes, contentLength } = await build([], 'tar');
    expect(contentLength).toBe(1024);
    expect(bytes).toEqual(Buffer.alloc(1024));
  });
});

describe('tar ranges', () => {
  it('are the same bytes as that slice of the whole archive, from any offset', async () => {
    const full = (await build(entries, 'tar')).bytes;
    const big = entries[1]!;
    const starts = new Set<number>();
    for (const cut of tarBoundaries(full)) {
      for (const at of [cut - 1, cut, cut + 1]) {
        if (at >= 0 && at < full.length) starts.add(at);
      }
    }
    // Inside the big file: mid-way, and across the 1 MiB read chunks.
    const bigData = full.indexOf(readFileSync(big.path).subarray(0, 64));
    for (const at of [bigData + 12345, bigData + 2 ** 20 - 1, bigData + 2 ** 20]) starts.add(at);
    for (const start of starts) {
      for (const length of [1, 700, 2 ** 20 + 3, full.length]) {
        const end = Math.min(full.length, start + length);
        const got = await tarRange(entries, start, end);
        expect(got.equals(full.subarray(start, end)), `${start}-${end}`).toBe(true);
      }
    }
  });

  it('packs chunks of the size asked for into one reused buffer', async () => {
    const full = (await build(entries, 'tar')).bytes;
    const shared = Buffer.alloc(1000);
    const layout = new TarLayout(entries);
    const copies: Buffer[] = [];
    const range = { start: 100, end: layout.length };
    for await (const chunk of tarChunks(layout, range, 1000, (n) => shared.subarray(0, n))) {
      expect(chunk.buffer).toBe(shared.buffer);
      copies.push(Buffer.from(chunk));
    }
    expect(copies.slice(0, -1).every((c) => c.length === 1000)).toBe(true);
    expect(Buffer.concat(copies).equals(full.subarray(100))).toBe(true);
  });

  it('seeks into a 9 GiB file for a range at its end', async () => {
    const before = writeFile('sparse/before.txt', Buffer.from('before\n'));
    const huge = writeFile('sparse/huge.bin', Buffer.alloc(0));
    truncateSync(huge.path, 9 * 2 ** 30); // sparse: no disk space, reads as zeros
    utimesSync(huge.path, MTIME_MS / 1000, MTIME_MS / 1000);
    const after = writeFile('sparse/after.txt', Buffer.from('after\n'));
    const list = [before, { ...huge, size: statSync(huge.path).size }, after];
    const layout = new TarLayout(list);
    expect(layout.length).toBe(512 + 512 + 512 + 9 * 2 ** 30 + 512 + 512 + 1024);
    const got = await tarRange(list, layout.length - 3000, layout.length);
    const afterData = Buffer.concat([Buffer.from('after\n'), Buffer.alloc(506)]);
    const expected = [Buffer.alloc(952), tarHeader(after), afterData, Buffer.alloc(1024)];
    expect(got.equals(Buffer.concat(expected))).toBe(true);
  });
});

describe('createArchiveStream tgz', () => {
  it('is a gzip of the same tar, extractable with tar -xz', async () => {
    const { bytes, contentLength } = await build(entries, 'tgz');
    expect(contentLength).toBeUndefined();
    const tar = await build(entries, 'tar');
    expect(gunzipSync(bytes).equals(tar.bytes)).toBe(true);

    const file = join(root, 'out.tgz');
    writeFileSync(file, bytes);
    const dir = freshDir('tgz');
    execFileSync('tar', ['-xzf', file, '-C', dir]);
    expectSameFiles(dir, entries);
  });
});

describe('createArchiveStream zip', () => {
  it('extracts intact with python zipfile and passes unzip -t', async () => {
    const { bytes, contentLength } = await build(entries, 'zip');
    expect(contentLength).toBeUndefined();

    const file = join(root, 'out.zip');
    writeFileSync(file, bytes);
    execFileSync('unzip', ['-tqq', file]); // CRC + structure check; throws on failure

    const dir = freshDir('zip');
    const script = [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'z.extractall(sys.argv[2])',
      'print(json.dumps([[i.filename, i.file_size, i.compress_type, i.external_attr >> 16]',
      '                  for i in z.infolist()]))',
    ].join('\n');
    const out = execFileSync('/usr/bin/python3', ['-c', script, file, dir], { encoding: 'utf8' });
    const infos = JSON.parse(out) as [string, number, number, number][];
    expect(infos).toEqual(entries.map((e) => [e.name, e.size, 0, 0o100644])); // 0 = stored
    expectSameFiles(dir, entries);
  });
});

describe('createArchiveStream failures', () => {
  const formats: ArchiveFormat[] = ['tar', 'tgz', 'zip'];

  function withSize(name: string, content: Buffer, size: number): FileEntry[] {
    const e = writeFile(name, content);
    return [entries[0]!, { ...e, size }, entries[2]!];
  }

  it.each(formats)('%s: errors naming a file that is shorter than stat said', async (format) => {
    const list = withSize(`shrunk-${format}.bin`, randomBytes(1000), 4000);
    await expect(build(list, format)).rejects.toThrow(/shrunk-\w+\.bin.*changed.*got 1000/);
  });

  it.each(formats)('%s: errors naming a file that is longer than stat said', async (format) => {
    const list = withSize(`grown-${format}.bin`, randomBytes(5000), 4000);
    await expect(build(list, format)).rejects.toThrow(/grown-\w+\.bin.*changed.*grew/);
  });

  it.each(formats)('%s: errors naming a file that grew from empty', async (format) => {
    const list = withSize(`was-empty-${format}.bin`, Buffer.from('x'), 0);
    await expect(build(list, format)).rejects.toThrow(/was-empty-\w+\.bin.*grew/);
  });

  it.each(formats)('%s: errors naming a file that disappeared', async (format) => {
    const list = withSize(`gone-${format}.bin`, Buffer.from('bye'), 3);
    rmSync(list[1]!.path);
    await expect(build(list, format)).rejects.toThrow(/cannot read 'gone-\w+\.bin'.*ENOENT/);
  });

  it.each(formats)('%s: errors naming a file modified since it was listed', async (format) => {
    const e = writeFile(`touched-${format}.bin`, randomBytes(100));
    utimesSync(e.path, MTIME_MS / 1000 + 60, MTIME_MS / 1000 + 60); // same size, new mtime
    await expect(build([entries[0]!, e], format)).rejects.toThrow(
      /touched-\w+\.bin.*modified since it was listed/,
    );
  });

  it('errors when a file is truncated mid-stream', async () => {
    const big = writeFile('truncated.bin', randomBytes(32 * 1024 * 1024));
    const { stream } = createArchiveStream([big], 'tar');
    let received = 0;
    const result = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        if (received === 0) truncateSync(big.path, 1000);
        received += chunk.length;
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await expect(result).rejects.toThrow(/truncated\.bin.*changed/);
    expect(received).toBeLessThan(big.size);
  });

  it('opens nothing before the first read', async () => {
    const missing = { ...entries[0]!, name: 'missing.bin', path: join(root, 'nope') };
    for (const format of formats) {
      const { stream } = createArchiveStream([missing], format);
      let failed = false;
      stream.on('error', () => (failed = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(failed).toBe(false);
      stream.destroy();
    }
  });

  it.each(formats)('%s: stops cleanly when the consumer goes away', async (format) => {
    // Big file first, hang up a few chunks in: it is open and mid-read at that point.
    const { stream } = createArchiveStream([entries[1]!, ...entries], format);
    const errors: Error[] = [];
    stream.on('error', (err) => errors.push(err));
    await new Promise<void>((resolve) => {
      let chunks = 0;
      stream.on('data', () => ++chunks === 3 && stream.destroy());
      stream.on('close', resolve);
    });
    expect(errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(openSourceFds()).toEqual([]);
  });
});

/** Files under `src` this process still has open (Linux only; [] elsewhere). */
function openSourceFds(): string[] {
  if (!existsSync('/proc/self/fd')) return [];
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(src));
}
