/**
 * Reads local files (directory, shared_fs storage) for an archive, checked against what was
 * listed: an archive (and its ETag, which resumed downloads rely on) describes the files as they
 * were listed, so a file that changed or vanished since then fails the read with an error naming
 * it. A truncated response is detectable by the client; a silently-wrong archive is not.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/**
 * A local regular file to put in the archive. `name` is relative ('a/b.bin'), '/'-separated,
 * never absolute or containing '..' (caller guarantees); `path` is the absolute file on disk;
 * `size` and `mtimeMs` are from fs.stat by the caller.
 */
export interface FileEntry {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

/** Reads of one entry's bytes, in order, into the caller's buffers. */
export interface EntryReader {
  /** Reads up to `length` bytes at `position` into `into[offset..]`; returns how many (≥ 1). */
  read(into: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Throws if the entry is no longer as listed. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

/** Bytes per file read: every chunk costs a syscall and a trip through the HTTP layer. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** An entry's file, open for positional reads. */
export class EntryFile implements EntryReader {
  private constructor(
    private readonly entry: FileEntry,
    private readonly handle: FileHandle,
  ) {}

  /** Opens the entry's file and checks that it still has the listed size and mtime. */
  static async open(entry: FileEntry): Promise<EntryFile> {
    let handle: FileHandle;
    try {
      handle = await open(entry.path, 'r');
    } catch (err: unknown) {
      throw cannotRead(entry.name, err);
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

  async read(into: Buffer, offset: number, length: number, position: number): Promise<number> {
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(into, offset, length, position));
    } catch (err: unknown) {
      throw cannotRead(this.entry.name, err);
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
      throw cannotRead(this.entry.name, err);
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

export function cannotRead(name: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`archive: cannot read '${name}': ${reason}`, { cause: err });
}

export function changed(
  entry: { name: string; size: number },
  how: string,
  options: { cause?: unknown } = {},
): Error {
  return new Error(
    `archive: '${entry.name}' changed while streaming (expected ${entry.size} bytes, ${how})`,
    options,
  );
}
