/**
 * The entries of a checkpoint archive, from either source: local files (directory, shared_fs),
 * read positionally into the archive's own buffer, or objects of a store (S3), read as ranged
 * GETs. The archive code (tar.ts, archive.ts) only opens entries and reads them in order.
 */
import { Readable } from 'node:stream';

import { EntryFile, READ_CHUNK_BYTES } from './archive-file.js';
import type { EntryReader, FileEntry } from './archive-file.js';
import { ObjectReader } from './archive-object.js';
import type { ObjectEntry } from './archive-object.js';
import type { ByteRange } from './tar.js';

/** One regular file to put in the archive: `name`, `size` and `mtimeMs` as listed. */
export type ArchiveEntry = FileEntry | ObjectEntry;

/**
 * Opens an entry to read bytes `range` of it (positions stay those of the whole entry). A
 * local file is opened, checked and read wherever asked; an object is asked for just `range`,
 * on the first read.
 */
export function openEntry(entry: ArchiveEntry, range: ByteRange): Promise<EntryReader> {
  return 'object' in entry
    ? Promise.resolve(new ObjectReader(entry, range))
    : EntryFile.open(entry);
}

/**
 * What pins an entry's bytes, for the archive's ETag: the mtime of a local file (its size is
 * hashed beside), the version of an object.
 */
export function entryValidator(entry: ArchiveEntry): string {
  return 'object' in entry
    ? `${entry.mtimeMs} ${JSON.stringify(entry.object.version ?? null)}`
    : String(entry.mtimeMs);
}

/** The whole entry as a stream of fresh chunks, opened on the first read. */
export function entryStream(entry: ArchiveEntry): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const reader = await openEntry(entry, { start: 0, end: entry.size });
    try {
      for (let at = 0; at < entry.size;) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, entry.size - at));
        const n = await reader.read(buf, 0, buf.length, at);
        at += n;
        yield n === buf.length ? buf : buf.subarray(0, n);
      }
      await reader.verify();
    } finally {
      await reader.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
