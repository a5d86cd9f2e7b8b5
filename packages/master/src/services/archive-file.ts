/**
 * Reads the files that go into an archive, checked against what was listed: an archive (and its
 * ETag, which resumed downloads rely on) describes the files as they were listed, so a file that
 * changed or vanished since then fails the read with an error naming it. A truncated response is
 * detectable by the client; a silently-wrong archive is not.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { Readable } from 'node:stream';

/** One regular file to put in the archive. `name` is relative ('a/b.bin'), '/'-separated, never absolute or containing '..' (caller guarantees); `path` is the absolute file on disk; `size` and `mtimeMs` are from fs.stat by the caller. */
export interface ArchiveEntry {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

/** Bytes per file read: every chunk costs a syscall and a trip through the HTTP layer. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** An entry's file, open for positional reads. */
export class EntryFile {
  private constructor(
    private readonly entry: ArchiveEntry,
    private readonly handle: FileHandle,
  ) {}

  /** Opens the entry's file and checks that it still has the listed size and mtime. */
  static async open(entry: ArchiveEntry): Promise<EntryFile> {
    let handle: FileHandle;
    try {
      handle = await open(entry.path, 'r');
    } catch (err: unknown) {
      throw cannotRead(entry, err);
    }
    const file = new EntryFile(entry, handle);
    try {
      await file.verify();
    } catch (err: unknown) {
      await file.close();
      throw err;
    }
    return file;
  }

  /** Reads up to `length` bytes at `position` into `into[offset..]`; returns how many (≥ 1). */
  async read(into: Buffer, offset: number, length: number, position: number): Promise<number> {
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(into, offset, length, position));
    } catch (err: unknown) {
      throw cannotRead(this.entry, err);
    }
    if (bytesRead === 0) {
      // Short of the listed size: the file shrank since it was opened.
      await this.verify();
      throw changed(this.entry, `ended at byte ${position}`);
    }
    return bytesRead;
  }

  /** Throws if the file no longer has the listed size and mtime (it was written meanwhile). */
  async verify(): Promise<void> {
    let stats: Stats;
    try {
      stats = await this.handle.stat();
    } catch (err: unknown) {
      throw cannotRead(this.entry, err);
    }
    const { size, mtimeMs } = this.entry;
    if (stats.size > size) {
      throw changed(this.entry, 'it grew');
    }
    if (stats.size < size) {
      throw changed(this.entry, `got ${stats.size}`);
    }
    if (stats.mtimeMs !== mtimeMs) {
      throw changed(this.entry, 'modified since it was listed');
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function cannotRead(entry: ArchiveEntry, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`archive: cannot read '${entry.name}': ${reason}`, { cause: err });
}

function changed(entry: ArchiveEntry, how: string): Error {
  return new Error(
    `archive: '${entry.name}' changed while streaming (expected ${entry.size} bytes, ${how})`,
  );
}

/** The whole file as a stream of fresh chunks, opened on the first read. */
export function entryStream(entry: ArchiveEntry): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const file = await EntryFile.open(entry);
    try {
      for (let at = 0; at < entry.size;) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, entry.size - at));
        const n = await file.read(buf, 0, buf.length, at);
        at += n;
        yield n === buf.length ? buf : buf.subarray(0, n);
      }
      await file.verify();
    } finally {
      await file.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
