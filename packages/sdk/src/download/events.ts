import type { RetryPolicy } from '../client.js';
import type { StorageResolver } from '../storage/backend.js';

/**
 * How to fetch the files: `direct` reads the checkpoint's storage from this machine, `master`
 * asks the master for an archive (`GET /checkpoints/{uuid}`), and `auto` reads directly and falls
 * back to the master only when the files are not reachable from here (never for azure).
 */
export type DownloadMode = 'auto' | 'direct' | 'master';

/** Sent once, before the first byte: the totals come from the checkpoint's `resources`. */
export interface DownloadStartEvent {
  type: 'start';
  totalBytes: number;
  totalFiles: number;
  /** The mode actually used (`auto` resolved). */
  mode: 'direct' | 'master';
  /** Where the bytes come from: `directory:/path/<uuid>`, or the master's archive URL. */
  source: string;
}

/**
 * Bytes written so far, at most one event per `progressIntervalMs`, plus a final one. In master
 * mode `bytes` only grows while the archive resumes after a dropped or stalled connection; when
 * it has to start over (the master sent no ETag, or the files changed in between) the bytes
 * already counted are taken back at once, so `bytes` drops, then grows again to the total.
 */
export interface DownloadProgressEvent {
  type: 'progress';
  bytes: number;
  totalBytes: number;
  /** The file the latest bytes belong to. */
  path?: string;
}

/** One file has been written and checked (size, and sha256 where known). */
export interface DownloadFileEvent {
  type: 'file';
  path: string;
  bytes: number;
}

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
  /** Files copied at once in direct mode. @default 4 */
  concurrency?: number;
  /** Least time between two `progress` events. @default 100 */
  progressIntervalMs?: number;
  /**
   * Retries of transient failures: per file in direct mode, per archive in master mode, where
   * each retry asks only for the rest of the archive when the master allows (see `bytes`).
   * @default the checkpoint's client's policy, else 5 attempts from 500 ms
   */
  retry?: Partial<RetryPolicy>;
  /**
   * Master mode: the longest wait for the next byte of the archive, and for the connection and
   * the answer's head. Past it the request is dropped as stalled and retried like a dropped
   * connection (a NetworkError saying how long it stalled, once retries run out). `Infinity`
   * waits forever. Throws ArgumentError when not a positive number.
   * @default 30000 (the AWS CRT's throughput floor)
   */
  idleTimeoutMs?: number;
  /** Finds the storage to read in direct mode. @default resolveDirectStorage */
  storage?: StorageResolver;
  /** Milliseconds clock for throttling progress. @default Date.now */
  clock?: () => number;
}
