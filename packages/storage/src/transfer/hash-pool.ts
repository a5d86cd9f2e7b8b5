import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import type { Checksums, HashAlgorithms } from '../checksum.js';
import { abortReason } from '../common.js';
import type { ManifestFile } from './manifest.js';

/**
 * Below this many bytes of sha256 to check, a download checks in its own thread: starting a
 * worker costs about 50 ms of CPU here, the time sha256 takes over some 64 MiB. CRC32Cs never
 * need one: downloads compute them on the way to disk, 16 times faster than sha256.
 */
const POOL_MIN_SHA256_BYTES = 64 * 1024 * 1024;

/** Whether a download of these files has enough sha256 to check to start a pool for it. */
export function isWorthAPool(files: readonly ManifestFile[]): boolean {
  let sha256Bytes = 0;
  for (const f of files) {
    if (f.sha256 !== undefined) {
      sha256Bytes += f.size;
    }
  }
  return sha256Bytes >= POOL_MIN_SHA256_BYTES;
}

/** Bytes per read in a worker: one reused buffer, few system calls. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The native CRC32C module, required by path inside the workers. */
const CRC32_MODULE = createRequire(import.meta.url).resolve('@node-rs/crc32');

/*
 * The worker, as JavaScript source run with `eval: true`. The package runs from its .ts
 * sources (tsx, vitest) as well as from dist/*.js, and Node 20 cannot start a worker from a .ts
 * file, nor does tsc copy a .js file next to the output. Source text works in both; it uses
 * Node built-ins and the native CRC32C module, required by its resolved path. A job reads
 * `path` synchronously into one reused buffer and hashes it, checking its flag in `stop`
 * between chunks; the result is posted once the file is closed.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { crc32c } = require(workerData.crc32Module);
const stop = new Int32Array(workerData.stop);
const buffer = Buffer.allocUnsafe(workerData.chunkBytes);
parentPort.on('message', (job) => {
  let fd;
  let out;
  let result;
  try {
    fd = fs.openSync(job.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    if (job.copyTo) out = fs.openSync(job.copyTo, 'wx', 0o644);
    const hash = job.sha256 ? createHash('sha256') : undefined;
    let crc = 0;
    let position = 0;
    while (position <= job.maxBytes) {
      if (Atomics.load(stop, workerData.index) !== 0) {
        result = { aborted: true };
        break;
      }
      const n = fs.readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      const piece = buffer.subarray(0, n);
      if (hash) hash.update(piece);
      if (job.crc32c) crc = crc32c(piece, crc);
      if (out !== undefined) {
        for (let done = 0; done < n; ) done += fs.writeSync(out, piece, done, n - done, position + done);
      }
      position += n;
    }
    result ??= {
      bytes: position,
      sha256: hash ? hash.digest('hex') : undefined,
      crc32c: job.crc32c ? crc.toString(16).padStart(8, '0') : undefined,
    };
  } catch (err) {
    result = { error: String(err && err.message), code: err && err.code };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (out !== undefined) fs.closeSync(out);
  }
  parentPort.postMessage(result);
});
`;

/** What a worker posts for a job. */
type WorkerMessage = Checksums | { aborted: true } | { error: string; code: string | undefined };

interface Job {
  task: { path: string; maxBytes: number; copyTo: string | undefined } & HashAlgorithms;
  signal: AbortSignal;
  resolve: (result: Checksums) => void;
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
 * Checksums (sha256, CRC32C) of files off the main thread, and copies checksummed on the way: a
 * few workers, started on the first job, one job each at a time (a file just written is read
 * back from the page cache). A job
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

  /**
   * Checksums `path` with `algorithms`; it should hold `maxBytes` bytes (reading stops one
   * chunk past them).
   */
  hash(
    path: string,
    maxBytes: number,
    algorithms: HashAlgorithms,
    options: { signal: AbortSignal; copyTo?: string | undefined },
  ): Promise<Checksums> {
    if (this.#closed) {
      return Promise.reject(new Error('the hash pool is closed'));
    }
    return new Promise<Checksums>((resolve, reject) => {
      this.#queue.push({
        task: { path, maxBytes, copyTo: options.copyTo, ...algorithms },
        signal: options.signal,
        resolve,
        reject,
      });
      this.#pump();
    });
  }

  /**
   * Copies `from` to `to` (which must not exist), checksumming the bytes on the way; reading
   * stops one chunk past `maxBytes`. Read, checksum and write in a worker (synchronous calls
   * into one reused buffer) cost the same CPU here as the kernel's copyFile alone, and half of
   * copyFile followed by a read-back for the checksum.
   */
  copy(
    from: string,
    to: string,
    maxBytes: number,
    algorithms: HashAlgorithms,
    options: { signal: AbortSignal },
  ): Promise<Checksums> {
    return this.hash(from, maxBytes, algorithms, { ...options, copyTo: to });
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
      workerData: {
        stop: this.#stop.buffer,
        index,
        chunkBytes: CHUNK_BYTES,
        crc32Module: CRC32_MODULE,
      },
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
    if ('bytes' in message) {
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
