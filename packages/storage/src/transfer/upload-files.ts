import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

import { crc32c, crc32cCombine, crc32cHex, crc32cToBase64 } from '../checksum.js';
import type { RetryPolicy } from '../common.js';
import { StorageError, TransientStorageError } from '../errors.js';
import { ConnectionBudget } from './budget.js';
import { forEachInLanes } from './lanes.js';
import { withRetry } from './retry.js';
import type { ObjectWriter, PartsUpload } from './writer.js';

/** One object to write: a local file, or bytes in memory (a small generated file). */
export type UploadSource =
  { path: string; size: number; file: string } | { path: string; size: number; bytes: Uint8Array };

export interface UploadTuning {
  /** Requests in flight at once, for all files and parts together. */
  connections: number;
  /** Objects up to this size go in one request; larger ones in parts. */
  singleRequestBytes: number;
  /** Smallest part size; grows with the object to stay under `MAX_PARTS`. */
  minPartBytes: number;
}

const MIB = 1024 * 1024;

/**
 * Upload defaults: one PUT up to 32 MiB (a single PUT cost a third of multipart's CPU on
 * s3rver), then parts of at least 16 MiB, 4 at a time, read from disk as they go (lib-storage,
 * which buffers every part, needed 221 MiB of RSS for the same).
 */
export const DEFAULT_UPLOAD_TUNING: UploadTuning = {
  connections: 4,
  singleRequestBytes: 32 * MIB,
  minPartBytes: 16 * MIB,
};

/** S3 allows 10,000 parts; staying under 9,000 leaves room for rounding. */
const MAX_PARTS = 9000;
/** Bytes per read of the checksum pass. */
const READ_BYTES = 4 * MIB;

/** The part size for an object: at least `minPartBytes`, in whole MiB, under `MAX_PARTS` parts. */
export function partBytesFor(size: number, tuning: UploadTuning): number {
  const needed = Math.ceil(size / MAX_PARTS / MIB) * MIB;
  return Math.max(tuning.minPartBytes, needed, 5 * MIB);
}

export interface UploadJob {
  writer: ObjectWriter;
  files: readonly UploadSource[];
  /** Directories (`sub/`), written as empty marker objects, as Determined does. */
  dirs: readonly string[];
  tuning: UploadTuning;
  retry: RetryPolicy;
  /** Called with bytes written as parts and objects complete. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Writes files into an object store and returns each file's CRC32C (8 hex digits, by path).
 * Each file is read once for its CRC32Cs (of the whole, and of each part), then streamed from
 * disk with them, so the store checks every part and the whole object where it can
 * (`x-amz-checksum-crc32c`, a FULL_OBJECT checksum for multipart objects), and memory stays at
 * a few socket buffers per request whatever the file's size. Requests are retried on transient
 * failures with backoff (each attempt re-reads its bytes from disk), and a multipart upload that
 * fails is aborted, so no parts are left to cost.
 */
export async function uploadFiles(job: UploadJob): Promise<Record<string, string>> {
  const signal = job.signal ?? new AbortController().signal;
  const budget = new ConnectionBudget(job.tuning.connections);
  const crcs: Record<string, string> = {};
  const queue = [...job.files].sort((a, b) => b.size - a.size);
  await forEachInLanes(queue, budget.max, signal, async (source, runSignal) => {
    crcs[source.path] = await uploadOne(job, source, budget, runSignal);
  });
  for (const dir of job.dirs) {
    await withRequestRetry(job.retry, budget, signal, () =>
      job.writer.putObject(dir, new Uint8Array(0), 0, undefined, signal),
    );
  }
  return crcs;
}

async function uploadOne(
  job: UploadJob,
  source: UploadSource,
  budget: ConnectionBudget,
  signal: AbortSignal,
): Promise<string> {
  const { writer, tuning, retry } = job;
  if (source.size <= tuning.singleRequestBytes) {
    const [crc] = await checksumParts(source, Math.max(1, source.size), signal);
    const whole = crc ?? 0;
    await withRequestRetry(retry, budget, signal, () =>
      writer.putObject(
        source.path,
        bodyOf(source, 0, source.size),
        source.size,
        crc32cToBase64(crc32cHex(whole)),
        signal,
      ),
    );
    job.onBytes?.(source.size);
    return crc32cHex(whole);
  }
  const partBytes = partBytesFor(source.size, tuning);
  const partCrcs = await checksumParts(source, partBytes, signal);
  let whole = 0;
  partCrcs.forEach((crc, i) => {
    whole = crc32cCombine(whole, crc, Math.min(partBytes, source.size - i * partBytes));
  });
  const upload: PartsUpload = await withRequestRetry(retry, budget, signal, () =>
    writer.startParts(source.path, signal),
  );
  try {
    const parts = await Promise.all(
      partCrcs.map(async (crc, i) => {
        const start = i * partBytes;
        const end = Math.min(source.size, start + partBytes);
        const crc32cBase64 = crc32cToBase64(crc32cHex(crc));
        const etag = await withRequestRetry(retry, budget, signal, () =>
          upload.uploadPart(i + 1, bodyOf(source, start, end), end - start, crc32cBase64, signal),
        );
        job.onBytes?.(end - start);
        return { partNumber: i + 1, etag, crc32cBase64 };
      }),
    );
    const wholeBase64 = crc32cToBase64(crc32cHex(whole));
    await withRequestRetry(retry, budget, signal, () =>
      upload.complete(parts, wholeBase64, signal),
    );
  } catch (err: unknown) {
    await upload.abort();
    throw err;
  }
  return crc32cHex(whole);
}

/** The CRC32C of each `partBytes` piece of the source, read once. */
async function checksumParts(
  source: UploadSource,
  partBytes: number,
  signal: AbortSignal,
): Promise<number[]> {
  const crcs: number[] = [];
  if ('bytes' in source) {
    for (let at = 0; at < source.size || crcs.length === 0; at += partBytes) {
      crcs.push(crc32c(source.bytes.subarray(at, Math.min(source.size, at + partBytes))));
    }
    return crcs;
  }
  const handle = await open(source.file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, source.size)));
    let crc = 0;
    let inPart = 0;
    let at = 0;
    while (at < source.size) {
      signal.throwIfAborted();
      const want = Math.min(buffer.length, partBytes - inPart, source.size - at);
      const { bytesRead } = await handle.read(buffer, 0, want, at);
      if (bytesRead === 0) {
        throw new StorageError(
          `${source.file} shrank while it was read (${at} of ${source.size} bytes)`,
        );
      }
      crc = crc32c(buffer.subarray(0, bytesRead), crc);
      at += bytesRead;
      inPart += bytesRead;
      if (inPart === partBytes || at === source.size) {
        crcs.push(crc);
        crc = 0;
        inPart = 0;
      }
    }
    if (crcs.length === 0) {
      crcs.push(0); // an empty file: one empty part
    }
    const after = await handle.stat();
    if (after.size !== source.size) {
      throw new StorageError(`${source.file} changed size while it was uploaded`);
    }
  } finally {
    await handle.close();
  }
  return crcs;
}

/** A fresh body for `[start, end)` of the source: every attempt reads its bytes anew. */
function bodyOf(source: UploadSource, start: number, end: number): Uint8Array | Readable {
  if ('bytes' in source) {
    return source.bytes.subarray(start, end);
  }
  if (end === start) {
    return new Uint8Array(0);
  }
  return createReadStream(source.file, { start, end: end - 1, highWaterMark: MIB });
}

/**
 * One request with a connection from the budget, retried on transient failures; a throttled
 * one halves the budget before its connection goes back.
 */
function withRequestRetry<T>(
  retry: RetryPolicy,
  budget: ConnectionBudget,
  signal: AbortSignal,
  request: () => Promise<T>,
): Promise<T> {
  const isTransient = (err: unknown): boolean => err instanceof TransientStorageError;
  return withRetry(retry, signal, isTransient, async () => {
    const release = await budget.acquire(signal);
    try {
      return await request();
    } catch (err: unknown) {
      if (err instanceof TransientStorageError && err.isThrottled) {
        budget.throttle();
      }
      throw err;
    } finally {
      release();
    }
  });
}
