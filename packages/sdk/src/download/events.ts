import type {
  StoreResolver,
  TransferFileEvent,
  TransferProgressEvent,
} from '@determined-ts/storage';

import type { RetryPolicy } from '../client.js';

/**
 * How to fetch the files: `direct` reads the checkpoint's storage from this machine with its
 * credentials, `presigned` reads the object store through short-lived URLs the master signs
 * (Determined-TS masters only), `master` asks the master for an archive
 * (`GET /checkpoints/{uuid}`). `auto` reads directly and, only when the files are not reachable
 * from here (not found, no credentials, access denied, no route), through URLs, else the
 * archive. Unlike Determined's SDK, `auto` falls back for azure storage too.
 */
export type DownloadMode = 'auto' | 'direct' | 'presigned' | 'master';

/** Sent once, before the first byte: the totals come from the checkpoint's `resources`. */
export interface DownloadStartEvent {
  type: 'start';
  totalBytes: number;
  totalFiles: number;
  /** The mode actually used (`auto` resolved). */
  mode: 'direct' | 'presigned' | 'master';
  /**
   * Where the bytes come from: the checkpoint's directory (`/data/checkpoints/<uuid>`), its
   * object store (`s3://bucket/prefix/<uuid>`, also when read through URLs), or the master's
   * archive URL.
   */
  source: string;
}

/**
 * Bytes written so far, at most one event per `progressIntervalMs`, plus a final one. `bytes`
 * only grows while a download resumes after a dropped or stalled connection; when a file (or the
 * master's archive) has to start over, because it changed or the master sent no ETag, the bytes
 * already counted are taken back at once, so `bytes` drops, then grows again to the total.
 */
export type DownloadProgressEvent = TransferProgressEvent;

/** One file has been written and checked (size, and CRC32C and sha256 where recorded). */
export type DownloadFileEvent = TransferFileEvent;

/** The target holds the complete checkpoint. `skipped`: it already did, nothing was fetched. */
export interface DownloadDoneEvent {
  type: 'done';
  /** The absolute target directory. */
  path: string;
  totalBytes: number;
  skipped: boolean;
}

/**
 * Progress of a download, as data. A fresh download yields `start`, then `progress` and `file`
 * events, then `done`; a target that already holds the checkpoint yields only `done` with
 * `skipped: true`.
 */
export type DownloadEvent =
  DownloadStartEvent | DownloadProgressEvent | DownloadFileEvent | DownloadDoneEvent;

export interface DownloadOptions {
  /** @default 'auto' */
  mode?: DownloadMode;
  /** Aborting stops the download and removes everything it wrote. */
  signal?: AbortSignal;
  /** Called with every event; an exception thrown here aborts the download. */
  onProgress?: (event: DownloadEvent) => void;
  /**
   * Direct mode: connections open at once (object stores; small files and the ranges of large
   * ones share them), or files copied at once (local storage).
   * @default 4 on machines with two cores or fewer, else 8
   */
  concurrency?: number;
  /**
   * Direct mode from an object store: keep a journal beside the partial download, so that a
   * download killed or failed for the network is taken up where it stopped by the next one of
   * the same checkpoint into the same target. `false`: every download starts from nothing.
   * @default true
   */
  resume?: boolean;
  /**
   * The environment object stores are set up from (`AWS_REGION`, `AWS_DEFAULT_REGION`); the
   * checkpoint's `checkpoint_storage` keys win, else AWS's default chain finds credentials.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Least time between two `progress` events. @default 100 */
  progressIntervalMs?: number;
  /**
   * Retries of transient failures: per request in direct mode (a file, or a range of one, each
   * retry asking for what is still missing), per archive in master mode, where each retry asks
   * only for the rest of the archive when the master allows (see `bytes`).
   * @default the checkpoint's client's policy, else 5 attempts from 500 ms
   */
  retry?: Partial<RetryPolicy>;
  /**
   * The longest wait for the next byte of a file (direct, object stores) or of the archive
   * (master mode), and for the connection and the answer's head. Past it the request is
   * dropped as stalled and retried like a dropped connection (an error saying how long it
   * stalled, once retries run out). `Infinity` waits forever. Throws ArgumentError when not a
   * positive number.
   * @default 30000 (the AWS CRT's throughput floor)
   */
  idleTimeoutMs?: number;
  /** Finds the store to read in direct mode. @default openCheckpointStore of the storage package */
  storage?: StoreResolver;
  /** Milliseconds clock for throttling progress. @default Date.now */
  clock?: () => number;
}
