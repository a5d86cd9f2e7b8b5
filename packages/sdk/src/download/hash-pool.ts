import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import { abortReason } from '../client.js';
import type { ManifestFile } from './manifest.js';

/**
 * Below this many bytes to hash, a download hashes in its own thread: starting a worker costs
 * about 50 ms of CPU here, the time sha256 takes over some 64 MiB.
 */
const POOL_MIN_BYTES = 64 * 1024 * 1024;

/** Whether a download with these files has enough bytes to hash to start a pool for them. */
export function isWorthAPool(files: readonly ManifestFile[]): boolean {
  const hashedBytes = files.reduce((n, f) => n + (f.sha256 === undefined ? 0 : f.size), 0);
  return hashedBytes >= POOL_MIN_BYTES;
}

/** Bytes per read in a worker: one reused buffer, few system calls. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** What a worker found: the bytes it read and their sha256. */
export interface HashResult {
  bytes: number;
  sha256: string;
}

/*
 * The worker, as JavaScript source run with `eval: true`. The package runs from its .ts
 * sources (tsx, vitest) as well as from dist/*.js, and Node 20 cannot start a worker from a .ts
 * file, nor does tsc copy a .js file next to the output. Source text works in both; it uses only
 * Node built-ins. A job reads `path` synchronously into one reused buffer and hashes it,
 * checking its flag in `stop` between chunks; the result is posted once the file is closed.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const stop = new Int32Array(workerData.stop);
const buffer = Buffer.allocUnsafe(workerData.chunkBytes);
parentPort.on('message', (job) => {
  let fd;
  let result;
  try {
    fd = fs.openSync(job.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const hash = createHash('sha256');
    let position = 0;
    while (position <= job.maxBytes) {
      if (Atomics.load(stop, workerData.index) !== 0) {
        result = { aborted: true };
        break;
      }
      const n = fs.readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      position += n;
    }
    result ??= { bytes: position, sha256: hash.digest('hex') };
  } catch (err) {
    result = { error: String(err && err.message), code: err && err.code };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  parentPort.postMessage(result);
});
`;

/** What a worker posts for a job. */
type WorkerMessage =
  | { bytes: number; sha256: string }
  | { aborted: true }
  | { error: string; code: string | undefined };

interface Job {
  task: { path: string; maxBytes: number };
  signal: AbortSignal;
  resolve: (result: HashResult) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  index: number;
  job: Job | undefined;
  /** Raises this worker's stop flag: its job's signal aborted. */
  stop: () => void;
}

/**
 * Hashing (sha256) of written files off the main thread: a few workers, started on the first
 * job, one job each at a time; a file just written is read back from the page cache. A job
 * whose signal aborts stops at its next chunk when running, or is not started when its turn
 * comes, and rejects with the signal's reason. `close` must be called when the download ends:
 * it waits for running jobs and terminates the workers, so the process can exit.
 */
export class HashPool {
  readonly #size: number;
  readonly #stop: Int32Array;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(size = availableParallelism()) {
    this.#size = Math.max(1, size);
    this.#stop = new Int32Array(new SharedArrayBuffer(4 * this.#size));
  }

  /** Hashes `path`, which should hold `maxBytes` bytes (reading stops one chunk past them). */
  hash(path: string, maxBytes: number, options: { signal: AbortSignal }): Promise<HashResult> {
    if (this.#closed) {
      return Promise.reject(new Error('the hash pool is closed'));
    }
    return new Promise<HashResult>((resolve, reject) => {
      this.#queue.push({ task: { path, maxBytes }, signal: options.signal, resolve, reject });
      this.#pump();
    });
  }

  /** Waits for the running jobs, rejects queued ones, and terminates the workers. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.reject(new Error('the hash pool was closed'));
    }
    while (this.#slots.some((s) => s.job !== undefined)) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    }
    await Promise.all(this.#slots.splice(0).map((s) => s.worker.terminate()));
  }

  /**
   * Hands queued jobs to idle workers, starting workers while there are fewer than `size`. A
   * job whose signal has aborted is rejected here instead; a running one listens to its signal
   * (only running ones do: a queue of hundreds would pile listeners on one signal).
   */
  #pump(): void {
    for (;;) {
      const job = this.#queue[0];
      if (job === undefined) {
        return;
      }
      if (job.signal.aborted) {
        this.#queue.shift();
        job.reject(abortReason(job.signal));
        continue;
      }
      const slot = this.#slots.find((s) => s.job === undefined) ?? this.#start();
      if (slot === undefined) {
        return;
      }
      this.#queue.shift();
      job.signal.addEventListener('abort', slot.stop, { once: true });
      slot.job = job;
      Atomics.store(this.#stop, slot.index, 0);
      slot.worker.postMessage(job.task);
    }
  }

  #start(): Slot | undefined {
    if (this.#slots.length >= this.#size) {
      return undefined;
    }
    // Each worker has its own stop flag; a dead worker's index is taken by its successor.
    let index = 0;
    while (this.#slots.some((s) => s.index === index)) {
      index += 1;
    }
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { stop: this.#stop.buffer, index, chunkBytes: CHUNK_BYTES },
    });
    const slot: Slot = {
      worker,
      index,
      job: undefined,
      stop: () => Atomics.store(this.#stop, index, 1),
    };
    worker.on('message', (message: WorkerMessage) => this.#receive(slot, message));
    // A worker that dies takes its job with it; the next job starts a fresh one.
    const fail = (err: unknown): void => {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) {
        this.#slots.splice(i, 1);
      }
      this.#settle(slot, (job) =>
        job.reject(err instanceof Error ? err : new Error(`hash worker stopped: ${String(err)}`)),
      );
    };
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #receive(slot: Slot, message: WorkerMessage): void {
    if ('sha256' in message) {
      this.#settle(slot, (job) => job.resolve(message));
    } else if ('aborted' in message) {
      this.#settle(slot, (job) => job.reject(abortReason(job.signal)));
    } else {
      const err = Object.assign(new Error(message.error), { code: message.code });
      this.#settle(slot, (job) => job.reject(err));
    }
  }

  /** Ends the slot's job with `outcome` and moves on to the next job. */
  #settle(slot: Slot, outcome: (job: Job) => void): void {
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined) {
      job.signal.removeEventListener('abort', slot.stop);
      outcome(job);
    }
    if (!this.#closed) {
      this.#pump();
    } else if (this.#slots.every((s) => s.job === undefined)) {
      this.#idle?.();
    }
  }
}
