/**
 * Reads objects of a store (S3) for an archive: each stretch of an entry is one ranged GET
 * pinned to the version the listing saw, so a replaced object fails the archive (naming it)
 * instead of mixing versions. Bytes are copied from the store's reused read buffer into the
 * archive's, so memory stays bounded whatever the object's size.
 */
import {
  ObjectChangedError,
  StallError,
  TransientStorageError,
  backoffMs,
  raceAbort,
  sleep,
} from '@determined-ts/storage';
import type { CheckpointStore, ObjectRead, StoredObject } from '@determined-ts/storage';

import { cannotRead, changed } from './archive-file.js';
import type { EntryReader } from './archive-file.js';
import { isSystemError } from './storage.js';
import type { ByteRange } from './tar.js';

/** How object reads recover from a dropped or stalled connection. */
export interface ObjectReadTuning {
  /** A read waiting this long for the store's next bytes is dropped and asked again. */
  stallMs: number;
  /** Attempts at the next bytes of an object, the first included. */
  attempts: number;
  /** First backoff between attempts; each later one doubles, with full jitter. */
  baseDelayMs: number;
}

export const DEFAULT_OBJECT_TUNING: ObjectReadTuning = Object.freeze({
  stallMs: 60_000,
  attempts: 4,
  baseDelayMs: 200,
});

/** An object of a store to put in the archive. */
export interface ObjectEntry {
  /** Relative to the checkpoint, '/'-separated (the store checked it). */
  name: string;
  size: number;
  /** The object's last modification as listed, else the checkpoint's report time. */
  mtimeMs: number;
  object: {
    store: CheckpointStore;
    /** The version listed (the S3 ETag): every read is pinned to it. */
    version: string | undefined;
    tuning: ObjectReadTuning;
  };
}

/**
 * The regular files of a store's listing as archive entries, in listing order; `fallbackMtimeMs`
 * for objects listed without a modification time.
 */
export function objectEntries(
  store: CheckpointStore,
  objects: readonly StoredObject[],
  fallbackMtimeMs: number,
  tuning: ObjectReadTuning = DEFAULT_OBJECT_TUNING,
): ObjectEntry[] {
  return objects
    .filter((o) => !o.path.endsWith('/')) // directories and their zero-byte markers
    .map((o) => ({
      name: o.path,
      size: o.size,
      mtimeMs: o.mtimeMs ?? fallbackMtimeMs,
      object: { store, version: o.version, tuning },
    }));
}

const EMPTY = new Uint8Array(0);

/**
 * Bytes `range` of an object entry, read in order. The GET is sent on the first read (an empty
 * range sends none), and sent again from where it stopped, pinned to the same version, when the
 * connection drops or stalls.
 */
export class ObjectReader implements EntryReader {
  readonly #entry: ObjectEntry;
  readonly #end: number;
  /** The next byte of the object to hand out. */
  #at: number;
  #read: ObjectRead | undefined;
  #chunks: AsyncIterator<Uint8Array> | undefined;
  /** What is left of the last chunk: a view of the store's buffer, valid until the next one. */
  #pending: Uint8Array = EMPTY;
  #controller: AbortController | undefined;
  /** Fires `stallMs` after the last wait began; only a wait still going counts as a stall. */
  #stallTimer: NodeJS.Timeout | undefined;
  #isWaiting = false;

  constructor(entry: ObjectEntry, range: ByteRange) {
    this.#entry = entry;
    this.#at = range.start;
    this.#end = range.end;
  }

  async read(into: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (position !== this.#at) {
      throw new Error(
        `archive: '${this.#entry.name}' read at ${position}, expected ${this.#at} (reads go in order)`,
      );
    }
    const { tuning } = this.#entry.object;
    for (let attempt = 1; this.#pending.byteLength === 0; attempt += 1) {
      try {
        this.#pending = await this.#next();
      } catch (err: unknown) {
        this.#drop();
        if (attempt >= tuning.attempts || !this.#isWorthRetrying(err)) {
          throw this.#failure(err);
        }
        const policy = { ...tuning, maxDelayMs: tuning.baseDelayMs * 8 };
        await sleep(backoffMs(policy, attempt), undefined);
      }
    }
    const n = Math.min(length, this.#pending.byteLength);
    into.set(this.#pending.subarray(0, n), offset);
    this.#pending = this.#pending.subarray(n);
    this.#at += n;
    return n;
  }

  /** The version and size were checked when the read began; nothing is left to check. */
  verify(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    clearTimeout(this.#stallTimer);
    this.#drop();
    return Promise.resolve();
  }

  /** The next chunk of the object from `#at`, opening the GET first if none is open. */
  async #next(): Promise<Uint8Array> {
    const { store, version } = this.#entry.object;
    const { name, size } = this.#entry;
    if (this.#chunks === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const isWhole = this.#at === 0 && this.#end === size;
      const opening = store.read(name, {
        range: isWhole ? undefined : { start: this.#at, end: this.#end },
        version,
        signal: controller.signal,
      });
      let read: ObjectRead;
      try {
        read = await this.#waitFor(opening);
      } catch (err: unknown) {
        // A read that opens after losing to the stall watchdog is not wanted any more.
        opening.then((late) => late.cancel()).catch(() => undefined);
        throw err;
      }
      this.#read = read;
      this.#chunks = read.body[Symbol.asyncIterator]();
      if (read.size !== size) {
        throw changed(this.#entry, `it has ${read.size} now`);
      }
    }
    const next = await this.#waitFor(this.#chunks.next());
    if (next.done === true) {
      throw changed(this.#entry, `ended at byte ${this.#at}`);
    }
    return next.value;
  }

  /** Waits for the store, which gets `stallMs` to answer before the read is dropped. */
  async #waitFor<T>(promise: Promise<T>): Promise<T> {
    const { stallMs } = this.#entry.object.tuning;
    const controller = this.#controller ?? new AbortController();
    this.#isWaiting = true;
    if (this.#stallTimer === undefined) {
      const onStall = (): void => {
        if (this.#isWaiting) {
          this.#controller?.abort(new StallError(stallMs));
        }
      };
      this.#stallTimer = setTimeout(onStall, stallMs).unref();
    } else {
      this.#stallTimer.refresh();
    }
    try {
      return await raceAbort(promise, controller.signal);
    } finally {
      this.#isWaiting = false;
    }
  }

  /** Ends the GET in progress, if any, so the next read opens a new one. */
  #drop(): void {
    const chunks = this.#chunks;
    this.#read?.cancel();
    this.#controller?.abort();
    this.#read = undefined;
    this.#chunks = undefined;
    this.#controller = undefined;
    this.#pending = EMPTY;
    // Ends the body's generator, which frees what it holds (a socket, a file handle).
    chunks?.return?.().catch(() => undefined);
  }

  /** A dropped or stalled connection, or a throttled one: worth asking again, when pinned. */
  #isWorthRetrying(err: unknown): boolean {
    if (this.#entry.object.version === undefined || err instanceof ObjectChangedError) {
      return false;
    }
    return err instanceof TransientStorageError || err instanceof StallError || isSystemError(err);
  }

  /** The error that fails the archive, naming the entry. */
  #failure(err: unknown): Error {
    if (err instanceof ObjectChangedError) {
      return changed(this.#entry, err.message, { cause: err });
    }
    if (err instanceof Error && err.message.startsWith('archive: ')) {
      return err;
    }
    return cannotRead(this.#entry.name, err);
  }
}
