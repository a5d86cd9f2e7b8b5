import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import type { RetryPolicy } from '../client.js';
import { IntegrityError } from '../errors.js';
import type { StorageBackend } from '../storage/backend.js';
import type { Manifest, ManifestFile } from './manifest.js';
import type { ProgressReporter } from './progress.js';
import { isTransientFsError, withRetry } from './retry.js';
import { FileSink } from './sink.js';

export interface DirectCopy {
  backend: StorageBackend;
  manifest: Manifest;
  /** The temporary directory being filled. */
  dir: string;
  progress: ProgressReporter;
  retry: RetryPolicy;
  concurrency: number;
  signal: AbortSignal;
}

/**
 * Copies the manifest's files from storage into `dir`, `concurrency` at a time, largest first so
 * the last files finish together. Each file is retried on its own after a transient failure.
 * Files without a known digest are copied by the kernel when the storage is local (no bytes
 * through JavaScript); the others go through sha256 on their way to disk, read once.
 */
export async function copyDirect(copy: DirectCopy): Promise<void> {
  for (const d of copy.manifest.dirs) {
    await mkdir(join(copy.dir, d), { recursive: true });
  }
  const files = [...copy.manifest.files].sort((a, b) => b.size - a.size);
  // The first failure stops the other workers; it is the error the caller sees.
  const stop = new AbortController();
  const signal = AbortSignal.any([copy.signal, stop.signal]);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    const buffers = new CopyBuffers();
    while (failure === undefined && !signal.aborted) {
      const file = files[next];
      if (file === undefined) {
        return;
      }
      next += 1;
      try {
        await withRetry(copy.retry, signal, isTransientFsError, (attempt) =>
          copyOne(copy, file, signal, attempt > 1, buffers),
        );
      } catch (err: unknown) {
        failure ??= { error: err };
        stop.abort(err);
      }
    }
  };
  // Hashing copies spend CPU in this thread: more of them than cores only adds contention.
  const hashes = copy.backend.localFile !== undefined && files.some((f) => f.sha256 !== undefined);
  const limit = hashes ? Math.min(copy.concurrency, availableParallelism()) : copy.concurrency;
  const workers = Math.max(1, Math.min(limit, files.length));
  await Promise.all(Array.from({ length: workers }, worker));
  copy.signal.throwIfAborted();
  if (failure !== undefined) {
    throw failure.error;
  }
}

async function copyOne(
  copy: DirectCopy,
  file: ManifestFile,
  signal: AbortSignal,
  isRetry: boolean,
  buffers: CopyBuffers,
): Promise<void> {
  signal.throwIfAborted();
  const dest = join(copy.dir, file.path);
  if (isRetry) {
    await rm(dest, { force: true }); // the failed attempt may have left a piece
  }
  const backend = copy.backend;
  if (backend.localFile === undefined) {
    await streamOne(copy, file, dest, signal);
  } else if (file.sha256 === undefined) {
    const source = await backend.localFile(file.path);
    // FICLONE: a reflink where the filesystem has them; otherwise libuv falls back to an
    // in-kernel copy. Either way the bytes never enter JavaScript.
    await copyFile(source, dest, constants.COPYFILE_FICLONE);
    const { size } = await lstat(dest);
    checkSize(file, size);
    copy.progress.add(size, file.path);
  } else {
    await hashCopy(copy, file, await backend.localFile(file.path), dest, signal, buffers);
  }
  copy.progress.file(file.path, file.size);
}

/** Bytes per read and write of a hashing copy. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Two buffers a worker reuses for every file it copies: one being written while the other is
 * read into and hashed. Reuse matters: fresh memory costs a page fault per 4 KiB on first touch.
 */
class CopyBuffers {
  #buffers: [Buffer, Buffer] | undefined;

  get(): [Buffer, Buffer] {
    this.#buffers ??= [Buffer.allocUnsafe(COPY_CHUNK_BYTES), Buffer.allocUnsafe(COPY_CHUNK_BYTES)];
    return this.#buffers;
  }
}

/**
 * Copies a local file through sha256: each chunk is read once, hashed, and written from the
 * same buffer, so the digest is of exactly the bytes on disk, with no second read. One write is
 * in flight while the next chunk is read.
 */
async function hashCopy(
  copy: DirectCopy,
  file: ManifestFile,
  source: string,
  dest: string,
  signal: AbortSignal,
  buffers: CopyBuffers,
): Promise<void> {
  const hash = createHash('sha256');
  const [a, b] = buffers.get();
  let counted = 0;
  // O_NOFOLLOW: a link swapped in after the storage's check still isn't followed.
  const input = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const output = await open(dest, 'wx');
    let pending: Promise<void> | undefined;
    try {
      let position = 0;
      for (let turn = 0; ; turn += 1) {
        signal.throwIfAborted();
        const buffer = turn % 2 === 0 ? a : b;
        const { bytesRead } = await input.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) {
          break;
        }
        checkNotLonger(file, position + bytesRead);
        const view = buffer.subarray(0, bytesRead);
        hash.update(view);
        await pending; // frees the buffer the next read goes into
        pending = writeAll(output, view, position);
        position += bytesRead;
        counted += bytesRead;
        copy.progress.add(bytesRead, file.path);
      }
      await pending;
      checkSize(file, position);
      checkDigest(file, hash.digest('hex'));
    } finally {
      await pending?.catch(() => undefined);
      await output.close();
    }
  } catch (err: unknown) {
    copy.progress.add(-counted);
    throw err;
  } finally {
    await input.close();
  }
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Fails as soon as a file grows past the size `resources` list. */
function checkNotLonger(file: ManifestFile, size: number): void {
  if (size > file.size) {
    checkSize(file, size);
  }
}

async function streamOne(
  copy: DirectCopy,
  file: ManifestFile,
  dest: string,
  signal: AbortSignal,
): Promise<void> {
  const sink = await FileSink.create(dest, { hash: file.sha256 !== undefined });
  let counted = 0;
  try {
    for await (const chunk of copy.backend.read(file.path, { signal })) {
      checkNotLonger(file, sink.bytes + chunk.byteLength);
      await sink.write(chunk);
      counted += chunk.byteLength;
      copy.progress.add(chunk.byteLength, file.path);
    }
    const { bytes, sha256 } = await sink.finish();
    checkSize(file, bytes);
    checkDigest(file, sha256);
  } catch (err: unknown) {
    await sink.discard();
    copy.progress.add(-counted);
    throw err;
  }
}

/** Throws an IntegrityError unless `size` is the size `resources` lists. */
export function checkSize(file: ManifestFile, size: number): void {
  if (size !== file.size) {
    throw new IntegrityError(
      file.path,
      `${file.path}: got ${size} bytes, the checkpoint's resources list ${file.size}`,
    );
  }
}

/** Throws an IntegrityError unless `sha256` is the digest the master recorded (if any). */
export function checkDigest(file: ManifestFile, sha256: string | undefined): void {
  if (file.sha256 !== undefined && sha256 !== file.sha256) {
    throw new IntegrityError(
      file.path,
      `${file.path}: sha256 ${sha256 ?? '(none)'} does not match the recorded ${file.sha256}`,
    );
  }
}
