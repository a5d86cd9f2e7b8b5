import type { DownloadEvent } from './events.js';

/**
 * Counts bytes written and turns them into `progress` events, at most one per `intervalMs`
 * (the last one is always sent by `flush`), and `file` events as files complete.
 */
export class ProgressReporter {
  readonly totalBytes: number;
  #emit: (event: DownloadEvent) => void;
  #intervalMs: number;
  #clock: () => number;
  #bytes = 0;
  #lastEmitMs = Number.NEGATIVE_INFINITY;
  #lastEmittedBytes = -1;

  constructor(
    emit: (event: DownloadEvent) => void,
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
