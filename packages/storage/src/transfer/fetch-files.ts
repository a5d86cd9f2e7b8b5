import { closeSync, ftruncateSync, openSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import type { CheckpointStore, ObjectRead, StoredObject } from '../backend.js';
import { crc32c, crc32cCombine, crc32cHex } from '../checksum.js';
import { abortReason, backoffMs } from '../common.js';
import { errnoCode } from '../errno.js';
import type { RetryPolicy } from '../common.js';
import {
  IntegrityError,
  ObjectChangedError,
  StorageError,
  TransientStorageError,
} from '../errors.js';
import { IdleTimeout, StallError, raceAbort } from '../http/idle-timeout.js';
import { ConnectionBudget } from './budget.js';
import { DeferredChecks, checkFile } from './file-checks.js';
import { HashPool, isWorthAPool } from './hash-pool.js';
import { NOTE_EVERY_BYTES } from './journal.js';
import type { Journal } from './journal.js';
import type { Manifest, ManifestFile } from './manifest.js';
import type { ProgressReporter } from './progress.js';
import { isTransientFsError, sleep } from './retry.js';
import { writeAllSync } from './sink.js';

/** How a transfer uses the network; see `DEFAULT_TUNING`. */
export interface TransferTuning {
  /** Connections open at once, for all files together. */
  connections: number;
  /** Objects up to this size are read with one request; larger ones in ranges. */
  singleRequestBytes: number;
  /** Range size for large objects; `undefined` picks one per object (see `rangeBytesFor`). */
  rangeBytes: number | undefined;
  /** A request that goes this long without a byte is dropped as stalled and retried. */
  idleTimeoutMs: number;
}

/**
 * Defaults measured on a 2-vCPU VM against s3rver on loopback (storage-transfer.md, part B),
 * where client CPU decides the ranking: few large ranges beat many small ones. Machines with
 * more cores get more connections.
 */
export const DEFAULT_TUNING: TransferTuning = {
  connections: availableParallelism() <= 2 ? 4 : 8,
  singleRequestBytes: 32 * 1024 * 1024,
  rangeBytes: undefined,
  idleTimeoutMs: 30_000,
};

const MIB = 1024 * 1024;
const MIN_RANGE_BYTES = 8 * MIB;
const MAX_RANGE_BYTES = 64 * MIB;
/** A file whose object keeps changing (or whose bytes keep failing checks) gives up after this. */
const MAX_RESTARTS = 3;

/**
 * The range size for an object: about two ranges per connection, so the last ranges of a big
 * file finish together, within [8 MiB, 64 MiB] (AWS's 8–16 MB guidance at the low end, rclone's
 * 64 MiB at the top, which cost the least CPU here).
 */
export function rangeBytesFor(size: number, tuning: TransferTuning): number {
  if (tuning.rangeBytes !== undefined) {
    return Math.max(1, tuning.rangeBytes);
  }
  const perConnection = Math.ceil(size / (2 * Math.max(1, tuning.connections)) / MIB) * MIB;
  return Math.min(MAX_RANGE_BYTES, Math.max(MIN_RANGE_BYTES, perConnection));
}

export interface FetchJob {
  store: CheckpointStore;
  manifest: Manifest;
  /** The store's objects by path, from its listing: versions to pin, sizes to check. */
  listing: ReadonlyMap<string, StoredObject>;
  /** The (temporary) directory being filled. */
  dir: string;
  /** Where progress is kept for a later run to resume from; `undefined`: no resume. */
  journal: Journal | undefined;
  progress: ProgressReporter;
  retry: RetryPolicy;
  tuning: TransferTuning;
  signal: AbortSignal;
}

interface RangeState {
  start: number;
  end: number;
  written: number;
  crc: number;
  /** `written` when the journal last heard of it. */
  noted: number;
  isDone: boolean;
}

/** One file of the transfer: where its bytes go and what its ranges have achieved. */
interface FileState {
  file: ManifestFile;
  path: string;
  fd: number | undefined;
  rangeBytes: number;
  ranges: RangeState[];
  pending: number;
  /** Bumped when the file starts over; work of an older epoch is dropped. */
  epoch: number;
  restarts: number;
  version: string | undefined;
  /** The store's own CRC32C of the object, when it told us. */
  storeCrc: string | undefined;
  /** Whether this epoch asked the store for the object's head (its CRC32C, for ranged files). */
  isHeadAsked: boolean;
  /** Bytes of this file counted in the progress. */
  counted: number;
  /** Whether the file exists at its full size (a resumed one, or once a range opened it). */
  isCreated: boolean;
}

interface Task {
  state: FileState;
  index: number;
  epoch: number;
}

/**
 * Fetches the manifest's files from an object store into `dir`. One scheduler serves all files:
 * small objects in one request each, large ones in ranges, all drawing on one connection
 * budget. Every request after the first of a file is pinned to the object's version (the
 * listing's ETag): a changed object starts its file over, never mixing versions. Bytes go
 * straight to their place in the file, one socket buffer at a time, so memory stays bounded.
 *
 * Each range is checked while it streams: its CRC32C is computed on the way and the ranges'
 * CRCs are combined into the file's, which must match the one the checkpoint recorded and the
 * store's own where it gave one. A mismatch fetches the file once more, then is an
 * `IntegrityError`. Files with a recorded sha256 are read back for it.
 *
 * Dropped, short, stalled (`idleTimeoutMs`), 5xx and throttled requests are retried with
 * jittered backoff, from the last byte written; throttling also halves the connections. A
 * journal, when given, lets a later run take up where this one stopped.
 */
export async function fetchFiles(job: FetchJob): Promise<void> {
  await new RangedFetch(job).run();
}

class RangedFetch {
  readonly #job: FetchJob;
  readonly #budget: ConnectionBudget;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  /** Tasks in order; `#head` is the next one (shifting an array of 100,000 tasks is quadratic). */
  readonly #queue: Task[] = [];
  #head = 0;
  /** Tasks of files that start over, taken before the queue's. */
  readonly #urgent: Task[] = [];
  readonly #states: FileState[] = [];
  readonly #pool: HashPool | undefined;
  readonly #checks: DeferredChecks | undefined;
  readonly #inlineChecks: Promise<void>[] = [];
  #failure: { error: unknown } | undefined;
  #wakeIdle: (() => void) | undefined;
  #active = 0;

  constructor(job: FetchJob) {
    this.#job = job;
    this.#budget = new ConnectionBudget(job.tuning.connections);
    this.#signal = AbortSignal.any([job.signal, this.#stop.signal]);
    if (isWorthAPool(job.manifest.files)) {
      this.#pool = new HashPool();
      this.#checks = new DeferredChecks(this.#pool, this.#signal, () =>
        this.#fail(this.#checks?.failure),
      );
    }
  }

  async run(): Promise<void> {
    const { manifest, dir } = this.#job;
    try {
      for (const d of manifest.dirs) {
        await mkdir(join(dir, d), { recursive: true });
      }
      // Largest first: their ranges spread over the connections while small files fill gaps.
      const files = [...manifest.files].sort((a, b) => b.size - a.size);
      for (const file of files) {
        this.#checkListed(file);
      }
      for (const file of files) {
        this.#prepare(file);
      }
      const workers = Array.from({ length: this.#budget.max }, () => this.#work());
      await Promise.all(workers);
      await Promise.all(this.#inlineChecks);
      await this.#checks?.settle();
    } catch (err: unknown) {
      this.#fail(err);
    } finally {
      for (const state of this.#states) {
        closeQuietly(state);
      }
      await this.#pool?.close();
    }
    this.#job.signal.throwIfAborted();
    if (this.#failure !== undefined) {
      throw this.#failure.error;
    }
  }

  /** The store must hold the file, with the size the checkpoint recorded. */
  #checkListed(file: ManifestFile): void {
    const { store, listing } = this.#job;
    const listed = listing.get(file.path);
    if (listed === undefined) {
      throw new StorageError(
        `${file.path} is in the checkpoint's resources but not in ${store.location}`,
      );
    }
    if (listed.size !== file.size) {
      throw new IntegrityError(
        file.path,
        `${store.location}/${file.path} has ${listed.size} bytes, the checkpoint's resources list ${file.size}`,
      );
    }
  }

  /** Sets a file up: resumed from the journal where it can be, else fresh and empty. */
  #prepare(file: ManifestFile): void {
    const { journal, progress, listing } = this.#job;
    const path = join(this.#job.dir, file.path);
    const version = listing.get(file.path)?.version;
    const previous = journal?.restored(file.path);
    const onDisk = statSync(path, { throwIfNoEntry: false });
    const canResume =
      previous !== undefined &&
      version !== undefined &&
      previous.version === version &&
      previous.size === file.size &&
      onDisk?.isFile() === true &&
      onDisk.size === file.size;
    const rangeBytes = canResume ? previous.rangeBytes : this.#rangeBytesOf(file);
    const state: FileState = {
      file,
      path,
      fd: undefined,
      rangeBytes,
      ranges: splitRanges(file.size, rangeBytes),
      pending: 0,
      epoch: 0,
      restarts: 0,
      version,
      storeCrc: listing.get(file.path)?.crc32c,
      isHeadAsked: false,
      counted: 0,
      isCreated: false,
    };
    this.#states.push(state);
    if (canResume && previous.doneCrc !== undefined && matchesRecord(file, previous.doneCrc)) {
      progress.add(file.size, file.path);
      state.counted = file.size;
      progress.file(file.path, file.size);
      return;
    }
    if (canResume) {
      for (const [i, saved] of previous.ranges) {
        const range = state.ranges[i];
        if (range !== undefined && saved.written <= range.end - range.start) {
          range.written = saved.written;
          range.noted = saved.written;
          range.crc = saved.crc;
          state.counted += saved.written;
        }
      }
      progress.add(state.counted, file.path);
      state.isCreated = true;
    } else {
      journal?.startFile(file.path, file.size, version, rangeBytes);
    }
    this.#enqueueAll(state, false);
  }

  /**
   * Opens the file for its ranges' writes, creating it at its full size the first time. Files
   * are opened only while their ranges run, so a checkpoint of 100,000 files never holds
   * 100,000 descriptors.
   */
  #open(state: FileState): number {
    if (state.fd === undefined) {
      if (state.isCreated) {
        state.fd = openSync(state.path, 'r+');
      } else {
        state.fd = openSync(state.path, 'w');
        ftruncateSync(state.fd, state.file.size);
        state.isCreated = true;
      }
    }
    return state.fd;
  }

  #rangeBytesOf(file: ManifestFile): number {
    const { tuning } = this.#job;
    return file.size <= tuning.singleRequestBytes
      ? Math.max(1, file.size)
      : rangeBytesFor(file.size, tuning);
  }

  /** Queues every unfinished range of the file (at the front when it starts over). */
  #enqueueAll(state: FileState, atFront: boolean): void {
    const tasks: Task[] = [];
    state.pending = 0;
    state.ranges.forEach((range, index) => {
      if (range.start + range.written >= range.end) {
        range.isDone = true;
        return;
      }
      state.pending += 1;
      tasks.push({ state, index, epoch: state.epoch });
    });
    if (state.pending === 0) {
      this.#finishFile(state);
      return;
    }
    if (atFront) {
      this.#urgent.push(...tasks.reverse()); // taken from the end: in range order
    } else {
      this.#queue.push(...tasks);
    }
    this.#wakeIdle?.();
  }

  #takeTask(): Task | undefined {
    const urgent = this.#urgent.pop();
    if (urgent !== undefined) {
      return urgent;
    }
    const task = this.#queue[this.#head];
    if (task !== undefined) {
      this.#head += 1;
    }
    return task;
  }

  #hasTasks(): boolean {
    return this.#urgent.length > 0 || this.#head < this.#queue.length;
  }

  /** A worker: takes tasks until none are left and none are running (a restart adds more). */
  async #work(): Promise<void> {
    while (this.#failure === undefined && !this.#signal.aborted) {
      const task = this.#takeTask();
      if (task === undefined) {
        if (this.#active === 0) {
          this.#wakeIdle?.();
          return;
        }
        await new Promise<void>((resolve) => {
          const previous = this.#wakeIdle;
          this.#wakeIdle = () => {
            this.#wakeIdle = undefined;
            previous?.();
            resolve();
          };
        });
        continue;
      }
      if (task.epoch !== task.state.epoch) {
        continue;
      }
      this.#active += 1;
      try {
        await this.#runTask(task);
      } catch (err: unknown) {
        this.#fail(err);
      } finally {
        this.#active -= 1;
        if (this.#active === 0 && !this.#hasTasks()) {
          this.#wakeIdle?.();
        }
      }
    }
  }

  /** Runs one range to its end, retrying what is transient from the last byte written. */
  async #runTask(task: Task): Promise<void> {
    const { retry } = this.#job;
    const range = task.state.ranges[task.index];
    let failures = 0;
    while (range !== undefined && task.epoch === task.state.epoch && !range.isDone) {
      const before = range.written;
      const release = await this.#budget.acquire(this.#signal);
      try {
        await this.#attempt(task, range);
        return;
      } catch (err: unknown) {
        if (this.#signal.aborted) {
          throw abortReason(this.#signal);
        }
        if (err instanceof ObjectChangedError) {
          this.#restart(task.state, task.epoch, err);
          return;
        }
        // Only attempts that made no progress count against the range.
        failures = range.written > before ? 1 : failures + 1;
        if (!(err instanceof TransientStorageError) || failures >= retry.attempts) {
          throw err;
        }
        if (err.isThrottled) {
          this.#budget.throttle();
        }
      } finally {
        release();
      }
      await sleep(backoffMs(retry, failures), this.#signal);
    }
  }

  /** One request for the rest of a range. */
  async #attempt(task: Task, range: RangeState): Promise<void> {
    const { store, tuning, journal, progress } = this.#job;
    const { state } = task;
    const { file } = state;
    const from = range.start + range.written;
    const isWhole = state.ranges.length === 1 && from === 0 && range.end === file.size;
    const idle = new IdleTimeout(tuning.idleTimeoutMs);
    const signal = AbortSignal.any([this.#signal, idle.signal]);
    let read: ObjectRead | undefined;
    try {
      if (!isWhole && !state.isHeadAsked && store.head !== undefined) {
        // A ranged read carries no whole-object checksum; the object's head does.
        state.isHeadAsked = true;
        const found = await raceAbort(store.head(file.path, signal), signal);
        if (found === undefined) {
          throw new StorageError(`${store.location}/${file.path} is gone from the store`);
        }
        this.#acceptHead(state, found);
      }
      read = await raceAbort(
        store.read(file.path, {
          range: isWhole ? undefined : { start: from, end: range.end },
          version: state.version,
          withChecksum: isWhole,
          signal,
        }),
        signal,
      );
      this.#acceptHead(state, read);
      // No race with the signal per chunk: a store's body ends when its read's signal aborts
      // (see ObjectReadOptions), and a race would cost promises and listeners on every chunk.
      const chunks = read.body[Symbol.asyncIterator]();
      for (;;) {
        idle.restart();
        const next = await chunks.next();
        if (next.done === true) {
          break;
        }
        if (task.epoch !== state.epoch) {
          return; // the file started over meanwhile; its new tasks do the work
        }
        const chunk = next.value;
        if (range.start + range.written + chunk.byteLength > range.end) {
          throw new IntegrityError(
            file.path,
            `${store.location}/${file.path}: more bytes than asked for`,
          );
        }
        // Synchronous on purpose: a write through libuv's thread pool cost 0.5–1.4 CPU-s per
        // GiB on small VMs against 0.25 for `writeSync` (storage-transfer.md §B.4), and the
        // chunk's buffer is reused by the next socket read.
        writeAllSync(this.#open(state), chunk, range.start + range.written);
        range.crc = crc32c(chunk, range.crc);
        range.written += chunk.byteLength;
        state.counted += chunk.byteLength;
        progress.add(chunk.byteLength, file.path);
        if (range.written - range.noted >= NOTE_EVERY_BYTES) {
          journal?.noteRange(file.path, task.index, range.written, range.crc);
          range.noted = range.written;
        }
      }
    } catch (err: unknown) {
      read?.cancel();
      throw asTransferError(err, idle, this.#signal, `${store.location}/${file.path}`);
    } finally {
      idle.clear();
    }
    if (task.epoch !== state.epoch) {
      return;
    }
    if (range.start + range.written !== range.end) {
      throw new TransientStorageError(
        `${store.location}/${file.path}: the body ended at byte ${range.start + range.written} of ${range.end}`,
      );
    }
    journal?.noteRange(file.path, task.index, range.written, range.crc);
    range.noted = range.written;
    range.isDone = true;
    state.pending -= 1;
    if (state.pending === 0) {
      this.#finishFile(state);
    }
  }

  /** Checks a response's head against the file: its size, and the version it pins. */
  #acceptHead(
    state: FileState,
    read: Pick<ObjectRead, 'size' | 'version'> & { crc32c?: string | undefined },
  ): void {
    const { store, journal } = this.#job;
    const { file } = state;
    if (read.size !== file.size) {
      throw new IntegrityError(
        file.path,
        `${store.location}/${file.path} has ${read.size} bytes, the checkpoint's resources list ${file.size}`,
      );
    }
    if (state.version === undefined && read.version !== undefined) {
      state.version = read.version;
      journal?.startFile(file.path, file.size, read.version, state.rangeBytes);
    } else if (read.version !== undefined && read.version !== state.version) {
      throw new ObjectChangedError(
        file.path,
        `${store.location}/${file.path} changed while it was read`,
      );
    }
    if (read.crc32c !== undefined) {
      state.storeCrc = read.crc32c;
    }
  }

  /** All ranges are in: combine their CRCs and check the file. */
  #finishFile(state: FileState): void {
    const { file } = state;
    this.#open(state); // an empty file has had no range to open it
    closeQuietly(state);
    let crc = 0;
    for (const range of state.ranges) {
      crc = crc32cCombine(crc, range.crc, range.end - range.start);
    }
    const hex = crc32cHex(crc);
    const against =
      file.crc32c !== undefined && file.crc32c !== hex
        ? `CRC32C ${file.crc32c} the checkpoint recorded`
        : state.storeCrc !== undefined && state.storeCrc !== hex
          ? `CRC32C ${state.storeCrc} the store keeps`
          : undefined;
    if (against !== undefined) {
      const problem = new IntegrityError(
        file.path,
        `${file.path}: the downloaded bytes have CRC32C ${hex}, not the ${against}`,
      );
      // Corrupted on the way (a bad proxy, a flipped bit): fetch the file once more.
      if (state.restarts === 0) {
        this.#restart(state, state.epoch, problem, { keepVersion: true });
        return;
      }
      throw problem;
    }
    const done = (): void => {
      this.#job.journal?.finishFile(file.path, crc);
      this.#job.progress.file(file.path, file.size);
    };
    if (file.sha256 === undefined) {
      done();
    } else if (this.#checks !== undefined) {
      this.#checks.add(state.path, { ...file, crc32c: undefined }, done);
    } else {
      this.#inlineChecks.push(
        checkFile(state.path, { ...file, crc32c: undefined }, this.#signal).then(
          done,
          (err: unknown) => this.#fail(err),
        ),
      );
    }
  }

  /** Starts a file over: its object changed, or its bytes failed their check. */
  #restart(
    state: FileState,
    epoch: number,
    reason: Error,
    { keepVersion = false }: { keepVersion?: boolean } = {},
  ): void {
    if (epoch !== state.epoch) {
      return; // another task of the same epoch already did
    }
    state.restarts += 1;
    if (state.restarts > MAX_RESTARTS) {
      throw reason;
    }
    state.epoch += 1;
    this.#job.progress.add(-state.counted);
    state.counted = 0;
    if (!keepVersion) {
      state.version = undefined;
      state.storeCrc = undefined;
      state.isHeadAsked = false;
    }
    state.ranges = splitRanges(state.file.size, state.rangeBytes);
    this.#job.journal?.startFile(state.file.path, state.file.size, state.version, state.rangeBytes);
    this.#enqueueAll(state, true);
  }

  #fail(err: unknown): void {
    if (this.#failure === undefined) {
      this.#failure = { error: err ?? new Error('transfer failed') };
      this.#stop.abort(err);
    }
    this.#wakeIdle?.();
  }
}

function splitRanges(size: number, rangeBytes: number): RangeState[] {
  const ranges: RangeState[] = [];
  for (let start = 0; start < size || ranges.length === 0; start += rangeBytes) {
    ranges.push({
      start,
      end: Math.min(size, start + rangeBytes),
      written: 0,
      crc: 0,
      noted: 0,
      isDone: false,
    });
  }
  return ranges;
}

function closeQuietly(state: FileState): void {
  if (state.fd !== undefined) {
    try {
      closeSync(state.fd);
    } catch {
      // Closing after a failure: the error that stopped us is the one to report.
    }
    state.fd = undefined;
  }
}

/** Whether a CRC the journal kept for a finished file agrees with the checkpoint's record. */
function matchesRecord(file: ManifestFile, crc: number): boolean {
  return file.crc32c === undefined || file.crc32c === crc32cHex(crc);
}

/** A failure of one request, in the engine's terms: stalls and drops are transient. */
function asTransferError(
  err: unknown,
  idle: IdleTimeout,
  signal: AbortSignal,
  what: string,
): unknown {
  if (signal.aborted) {
    return abortReason(signal);
  }
  if (idle.hasFired || err instanceof StallError) {
    return new TransientStorageError(`${what}: ${new StallError(idle.ms).message}`, { cause: err });
  }
  if (isTransientFsError(err) || NETWORK_CODES.has(errnoCode(err) ?? '')) {
    const message = err instanceof Error ? err.message : String(err);
    return new TransientStorageError(`${what}: ${message}`, { cause: err });
  }
  return err;
}

/** Codes of failures of the connection rather than of the request: worth another attempt. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'HPE_INVALID',
]);
