import { closeSync, openSync, writeSync } from 'node:fs';

import { RunningChecksums } from '../checksum.js';
import type { Checksums, HashAlgorithms } from '../checksum.js';

/** Writes all of `bytes` at `position` of the file open at `fd` (a write may take fewer). */
export function writeAllSync(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength;) {
    done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
  }
}

/**
 * Writes one file from a stream of chunks, checksumming them (sha256, CRC32C) on the way as
 * asked. Each chunk is written before `write` returns and never kept: the archive transport
 * hands out views of one read buffer that the next read reuses.
 *
 * Writes are synchronous, on purpose. A write through libuv's thread pool (`FileHandle.write`)
 * costs 0.5–1.4 CPU-s per GiB on small VMs against 0.25 for `writeSync` (storage-transfer.md
 * §B.4), and the archive reader has nothing else to do meanwhile. The price: the event loop
 * blocks for one write at a time, a page-cache copy of about 0.2 ms per MiB on a local disk,
 * longer on a network filesystem whose server is slow. Chunks are not gathered into larger
 * writes: 64 KiB and 1 MiB writes of 1 GiB cost the same here, within noise.
 */
export class FileSink {
  readonly path: string;
  #fd: number;
  readonly #sums: RunningChecksums;
  #closed = false;

  private constructor(path: string, fd: number, algorithms: HashAlgorithms) {
    this.path = path;
    this.#fd = fd;
    this.#sums = new RunningChecksums(algorithms);
  }

  /** Creates the file, which must not exist: temp directories are fresh, nothing is overwritten. */
  static create(path: string, algorithms: HashAlgorithms): FileSink {
    return new FileSink(path, openSync(path, 'wx'), algorithms);
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#sums.bytes;
  }

  /** Writes `chunk` after the bytes before it. */
  write(chunk: Uint8Array): void {
    writeAllSync(this.#fd, chunk, this.#sums.bytes);
    this.#sums.update(chunk);
  }

  /** Closes the file and returns the byte count and the checksums asked for. */
  finish(): Checksums {
    this.#closed = true;
    closeSync(this.#fd);
    return this.#sums.digest();
  }

  /** Closes the file after a failure; the caller removes it. Never throws. */
  discard(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    try {
      closeSync(this.#fd);
    } catch {
      // The file is being thrown away; a failed close changes nothing for the caller.
    }
  }
}
