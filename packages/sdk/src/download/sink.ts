import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/**
 * Chunks are gathered up to this many bytes before one vectored write: every write is a hop
 * through libuv's thread pool, which costs more than the data on small VMs (see
 * storage-transfer.md §B.4), while one write in flight overlaps the disk with the next chunks.
 */
export const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/** Linux's IOV_MAX is 1024; tiny chunks (tar padding, say) must not exceed it. */
const WRITE_BATCH_CHUNKS = 512;

/**
 * Writes one file from a stream of chunks, hashing them (sha256) on the way when asked. Chunks
 * are not copied: streams hand over their chunks, which are written with `writev` in batches,
 * one batch in flight while the next gathers. Memory per file is bounded by two batches, and
 * `write` only resolves once the data it was given may be accepted (back-pressure).
 */
export class FileSink {
  readonly path: string;
  #fh: FileHandle;
  #hash: Hash | undefined;
  #bytes = 0;
  #position = 0;
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #pending: Promise<void> | undefined;
  #closed = false;

  private constructor(path: string, fh: FileHandle, hash: boolean) {
    this.path = path;
    this.#fh = fh;
    this.#hash = hash ? createHash('sha256') : undefined;
  }

  /** Creates the file, which must not exist: temp directories are fresh, nothing is overwritten. */
  static async create(path: string, options: { hash: boolean }): Promise<FileSink> {
    return new FileSink(path, await open(path, 'wx'), options.hash);
  }

  /** Bytes accepted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Takes `chunk` (which the caller must not change afterwards) and writes it in order. */
  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength === 0) {
      return;
    }
    this.#hash?.update(chunk);
    this.#bytes += chunk.byteLength;
    this.#batch.push(chunk);
    this.#batchBytes += chunk.byteLength;
    if (this.#batchBytes >= WRITE_BATCH_BYTES || this.#batch.length >= WRITE_BATCH_CHUNKS) {
      await this.#flush();
    }
  }

  /** Writes what is left, closes, and returns the byte count and (when hashing) the sha256. */
  async finish(): Promise<{ bytes: number; sha256: string | undefined }> {
    await this.#flush();
    await this.#pending;
    this.#closed = true;
    await this.#fh.close();
    return { bytes: this.#bytes, sha256: this.#hash?.digest('hex') };
  }

  /** Closes the file after a failure; the caller removes it. Never throws. */
  async discard(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#batch = [];
    await this.#pending?.catch(() => undefined);
    await this.#fh.close().catch(() => undefined);
  }

  /** Waits for the batch in flight, then starts writing the gathered one. */
  async #flush(): Promise<void> {
    await this.#pending;
    if (this.#batchBytes === 0) {
      return;
    }
    const batch = this.#batch;
    const position = this.#position;
    this.#position += this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    const write = writeAllv(this.#fh, batch, position);
    // A failure surfaces on the next flush or on finish(); never as an unhandled rejection.
    write.catch(() => undefined);
    this.#pending = write;
  }
}

/** `writev` until every byte is out: a short write resumes inside the chunk it stopped in. */
async function writeAllv(fh: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, at);
    at += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < rest.length && skip >= (rest[i]?.byteLength ?? 0)) {
      skip -= rest[i]?.byteLength ?? 0;
      i += 1;
    }
    const next = rest.slice(i);
    const head = next[0];
    if (head !== undefined && skip > 0) {
      next[0] = head.subarray(skip);
    }
    rest = next;
  }
}
