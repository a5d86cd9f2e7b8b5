/**
 * Bytes written so far, at most one event per interval, plus a final one. `bytes` only grows
 * while a transfer resumes after a dropped or stalled connection; when a file (or a master's
 * archive) has to start over, because its object changed or the master sent no ETag, the bytes
 * already counted are taken back at once, so `bytes` drops, then grows again to the total.
 */
export interface TransferProgressEvent {
  type: 'progress';
  bytes: number;
  totalBytes: number;
  /** The file the latest bytes belong to. */
  path?: string;
}

/** One file has been written and checked (size, and CRC32C and sha256 where known). */
export interface TransferFileEvent {
  type: 'file';
  path: string;
  bytes: number;
}

export type TransferEvent = TransferProgressEvent | TransferFileEvent;

/**
 * Counts bytes written and turns them into `progress` events, at most one per `intervalMs`
 * (the last one is always sent by `flush`), and `file` events as files complete.
 */
export class ProgressReporter {
  readonly totalBytes: number;
  #emit: (event: TransferEvent) => void;
  #intervalMs: number;
  #clock: () => number;
  #bytes = 0;
  #lastEmitMs = Number.NEGATIVE_INFINITY;
  #lastEmittedBytes = -1;

  constructor(
    emit: (event: TransferEvent) => void,
    totalBytes: number,
    intervalMs: number,
    clock: () => number,
  ) {
    this.#emit = emit;
    this.totalBytes = totalBytes;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `n` bytes of `path`; a negative `n` takes back the bytes of a failed attempt. */
  add(n: number, path?: string): void {
    this.#bytes += n;
    const now = this.#clock();
    // Bytes taken back by a retry are shown at once, so a progress bar never overstates.
    if (n < 0 || (n > 0 && now - this.#lastEmitMs >= this.#intervalMs)) {
      this.#lastEmitMs = now;
      this.#send(path);
    }
  }

  file(path: string, bytes: number): void {
    this.#emit({ type: 'file', path, bytes });
  }

  /** Sends the current count unless it was the last one sent. */
  flush(): void {
    if (this.#bytes !== this.#lastEmittedBytes) {
      this.#send(undefined);
    }
  }

  #send(path: string | undefined): void {
    this.#lastEmittedBytes = this.#bytes;
    this.#emit({
      type: 'progress',
      bytes: this.#bytes,
      totalBytes: this.totalBytes,
      ...(path === undefined ? {} : { path }),
    });
  }
}
