/**
 * Streams checkpoints as tar / tgz / zip archives. Entries (local files or store objects) are
 * opened one at a time, only when the archive reaches them, and read in chunks, so memory stays
 * bounded regardless of file size. An entry that changed or vanished since it was listed fails
 * the stream with an error naming it (see archive-file.ts and archive-object.ts).
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { ZipFile } from 'yazl';

import { entryStream, entryValidator } from './archive-entry.js';
import type { ArchiveEntry } from './archive-entry.js';
import { READ_CHUNK_BYTES } from './archive-file.js';
import { TarLayout, tarChunks } from './tar.js';
import type { ByteRange } from './tar.js';

export type ArchiveFormat = 'tar' | 'tgz' | 'zip';

const FILE_MODE = 0o644;
const S_IFREG = 0o100000; // zip external attributes carry the file type too

/** Streams the entries as an archive. `contentLength` is set for 'tar' only: the exact number of bytes the stream will produce. */
export function createArchiveStream(
  entries: ArchiveEntry[],
  format: ArchiveFormat,
): { stream: Readable; contentLength?: number } {
  switch (format) {
    case 'tar': {
      const layout = new TarLayout(entries);
      return { stream: tarStream(layout, wholeOf(layout)), contentLength: layout.length };
    }
    case 'tgz': {
      // pipeline() forwards tar errors to the gzip side and tears the tar down if the consumer
      // goes away; lazy() because piping starts the tar (and opens a file) immediately.
      const layout = new TarLayout(entries);
      return {
        stream: lazy(() => pipeline(tarStream(layout, wholeOf(layout)), createGzip(), noop)),
      };
    }
    case 'zip':
      return { stream: zipStream(entries) };
  }
}

/** The whole archive as a range. */
export const wholeOf = (layout: TarLayout): ByteRange => ({ start: 0, end: layout.length });

/** `range` of the tar as a stream of fresh buffers (its consumer may keep them). */
export function tarStream(layout: TarLayout, range: ByteRange): Readable {
  const chunks = tarChunks(layout, range, READ_CHUNK_BYTES, (n) => Buffer.allocUnsafe(n));
  return Readable.from(chunks, { objectMode: false });
}

/**
 * Writes `range` of the tar to a Node HTTP response whose head is set, then ends it; no web
 * streams in between, which cost the master about as much CPU as the data's own system calls.
 * One buffer serves every chunk: the next chunk is read into it only once the socket has taken
 * the previous one (the write callback), which is also the back-pressure.
 *
 * Resolves when done or when the client went away (files closed either way). Rejects with the
 * archive's error (a file changed) after destroying the response, so the client sees fewer
 * bytes than Content-Length.
 */
export async function writeTar(
  out: ServerResponse,
  layout: TarLayout,
  range: ByteRange,
): Promise<void> {
  const gone = new Promise<'gone'>((resolve) => out.once('close', () => resolve('gone')));
  const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, range.end - range.start));
  const chunks = tarChunks(layout, range, READ_CHUNK_BYTES, (n) => buffer.subarray(0, n));
  try {
    for await (const chunk of chunks) {
      const flushed = new Promise<'flushed' | 'gone'>((resolve) => {
        out.write(chunk, (err) => resolve(err ? 'gone' : 'flushed'));
      });
      if ((await Promise.race([flushed, gone])) === 'gone') {
        return; // leaving the loop closes the open file
      }
    }
  } catch (err: unknown) {
    out.destroy();
    throw err;
  }
  out.end();
}

/**
 * A strong ETag for the tar of `entries`: its bytes follow from the checkpoint and each entry's
 * name, size and mtime, plus an object's version (and the layout, versioned here), so equal tags
 * mean equal bytes as long as local files are only replaced by writes that move their mtime;
 * every new S3 object has a new ETag.
 */
export function tarEtag(uuid: string, entries: readonly ArchiveEntry[]): string {
  const hash = createHash('sha256').update(`tar-v1\n${uuid}\n`);
  for (const e of entries) {
    hash.update(`${JSON.stringify(e.name)} ${e.size} ${entryValidator(e)}\n`);
  }
  return `"${hash.digest('hex').slice(0, 32)}"`;
}

function noop(): void {}

/** Builds the stream on the first read, so nothing is opened for a response nobody reads. */
function lazy(open: () => Readable): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const chunk of open()) yield chunk as Buffer;
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
      // yazl calls this when it reaches the entry, so entries are opened one at a time.
      zip.addReadStreamLazy(entry.name, options, (cb) => {
        current = entryStream(entry);
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
