/**
 * Streams checkpoint directories as tar / tgz / zip archives. Files are opened one at a time,
 * only when the archive reaches them, and read in chunks, so memory stays bounded regardless
 * of file size. Any file that changed or vanished since it was stat'ed aborts the stream with an
 * error naming it: a truncated response is detectable by the client, a silently-wrong archive
 * is not.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { ZipFile } from 'yazl';

export type ArchiveFormat = 'tar' | 'tgz' | 'zip';

/** One regular file to put in the archive. `name` is relative ('a/b.bin'), '/'-separated, never absolute or containing '..' (caller guarantees); `path` is the absolute file on disk; `size` its size in bytes (from fs.stat by the caller). */
export interface ArchiveEntry {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

const FILE_MODE = 0o644;
const S_IFREG = 0o100000; // zip external attributes carry the file type too
const BLOCK = 512;
const END_OF_ARCHIVE = 2 * BLOCK;

/** Streams the entries as an archive. `contentLength` is set for 'tar' only: the exact number of bytes the stream will produce (headers incl. any pax/long-name headers + padded data + end blocks). */
export function createArchiveStream(
  entries: ArchiveEntry[],
  format: ArchiveFormat,
): { stream: Readable; contentLength?: number } {
  switch (format) {
    case 'tar': {
      const contentLength = tarLength(entries);
      return { stream: tarStream(entries, contentLength), contentLength };
    }
    case 'tgz':
      // pipeline() forwards tar errors to the gzip side and tears the tar down if the consumer
      // goes away; lazy() because piping starts the tar (and opens a file) immediately.
      return {
        stream: lazy(() => pipeline(tarStream(entries, tarLength(entries)), createGzip(), noop)),
      };
    case 'zip':
      return { stream: zipStream(entries) };
  }
}

function noop(): void {}

/** Builds the stream on the first read, so nothing is opened for a response nobody reads. */
function lazy(open: () => Readable): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const chunk of open()) yield chunk as Buffer;
  }
  return Readable.from(generate(), { objectMode: false });
}

const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Exact size of the tar produced by tarStream(); tarStream() also verifies it while streaming. */
function tarLength(entries: ArchiveEntry[]): number {
  let total = END_OF_ARCHIVE;
  for (const e of entries) total += tarHeaderBytes(e.name) + padded(e.size);
  return total;
}

/**
 * Header bytes tar-stream 3 writes before an entry's data. It emits one 512-byte ustar header if
 * the name is ASCII and fits the 100-byte name field, possibly after moving leading directories
 * into the 155-byte prefix field; otherwise a pax extended header (a header block plus the padded
 * "<len> path=<name>\n" record) followed by the ustar header. The header size never depends on
 * the entry size (tar-stream switches to base-256 for huge sizes, still 512 bytes). This is
 * computed rather than measured with a throwaway pack because tar-stream only emits
 * asynchronously (streamx opens entries on a microtask), and the length is needed up front.
 */
function tarHeaderBytes(name: string): number {
  if (fitsUstar(name)) return BLOCK;
  const len = Buffer.byteLength(` path=${name}\n`);
  // The record's decimal length prefix counts its own digits.
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) digits++;
  return BLOCK + padded(len + digits) + BLOCK;
}

function fitsUstar(name: string): boolean {
  if (Buffer.byteLength(name) !== name.length) return false; // non-ASCII always goes to pax
  let rest = name;
  let prefix = '';
  // Same greedy split as tar-stream: peel directories off the front until the rest fits.
  while (rest.length > 100) {
    const i = rest.indexOf('/');
    if (i === -1) return false;
    prefix = prefix ? `${prefix}/${rest.slice(0, i)}` : rest.slice(0, i);
    rest = rest.slice(i + 1);
  }
  return prefix.length <= 155;
}

const READ_CHUNK_BYTES = 1024 * 1024;

/** Reads exactly `entry.size` bytes of the file, or throws an error naming it. */
async function* readExactly(entry: ArchiveEntry): AsyncGenerator<Buffer> {
  let read = 0;
  try {
    // `end` is inclusive: reading at most size+1 bytes detects growth without streaming it.
    // 1 MiB reads instead of the default 64 KiB: every chunk then crosses tar-stream and the
    // web-stream bridge to the socket, whose per-chunk cost dominated large archives.
    for await (const chunk of createReadStream(entry.path, {
      end: entry.size,
      highWaterMark: READ_CHUNK_BYTES,
    })) {
      const buf = chunk as Buffer;
      const keep = Math.min(buf.length, entry.size - read);
      read += buf.length;
      if (keep > 0) yield keep === buf.length ? buf : buf.subarray(0, keep);
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`archive: cannot read '${entry.name}': ${reason}`, { cause: err });
  }
  if (read !== entry.size) {
    const got = read > entry.size ? 'it grew' : `got ${read}`;
    throw new Error(
      `archive: '${entry.name}' changed while streaming (expected ${entry.size} bytes, ${got})`,
    );
  }
}

function fileStream(entry: ArchiveEntry): Readable {
  return Readable.from(readExactly(entry), { objectMode: false });
}

function tarStream(entries: ArchiveEntry[], contentLength: number): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const tar = pack();
    let index = 0;
    // Entries are chained through tar-stream's completion callback, so the next file is only
    // opened once the previous one has been fully written.
    const next = (): void => {
      const entry = entries[index++];
      if (entry === undefined) return tar.finalize();
      const file = fileStream(entry);
      file.on('error', (err) => tar.destroy(err));
      const header = {
        name: entry.name,
        size: entry.size,
        mode: FILE_MODE,
        mtime: new Date(entry.mtimeMs),
        type: 'file' as const,
      };
      const sink = tar.entry(header, (err) => {
        if (!err) return next();
        file.destroy(); // pipe() would only pause it, keeping the fd open
        tar.destroy(err);
      });
      // Failures already reach the callback above; without a listener, pipe() would rethrow the
      // sink's error as an uncaught exception when the pack is destroyed.
      sink.on('error', noop);
      file.pipe(sink);
    };
    next(); // deferred to the first read by the generator, so nothing opens before that

    // Guard the advertised Content-Length: failing loudly beats a response that hangs or is
    // cut off by the HTTP layer if the computation ever disagrees with tar-stream.
    let sent = 0;
    for await (const chunk of tar) {
      const buf = chunk as Buffer;
      sent += buf.length;
      if (sent > contentLength) throw new Error(`archive: tar exceeds computed ${contentLength}`);
      yield buf;
    }
    if (sent !== contentLength) {
      throw new Error(`archive: tar is ${sent} bytes, computed ${contentLength}`);
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

function zipStream(entries: ArchiveEntry[]): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const zip = new ZipFile();
    const out = new PassThrough();
    let current: Readable | undefined;
    const fail = (err: Error): void => void out.destroy(err);
    zip.on('error', fail); // e.g. yazl's own size check
    for (const entry of entries) {
      // Stored, not deflated: checkpoint files are mostly high-entropy float tensors that barely
      // compress, so deflate would burn CPU and cap throughput for ~nothing.
      const options = {
        size: entry.size,
        mtime: new Date(entry.mtimeMs),
        mode: S_IFREG | FILE_MODE,
        compress: false,
      };
      // yazl calls this when it reaches the entry, so files are opened one at a time.
      zip.addReadStreamLazy(entry.name, options, (cb) => {
        current = fileStream(entry);
        current.on('error', fail); // yazl pipe()s the stream, which doesn't forward errors
        cb(null, current);
      });
    }
    zip.end();
    pipeline(zip.outputStream, out, noop);
    try {
      for await (const chunk of out) yield chunk as Buffer;
    } finally {
      current?.destroy(); // consumer gone or failure: don't leave the open file behind
    }
  }
  return Readable.from(generate(), { objectMode: false });
}
