import { closeSync, constants, openSync, readSync } from 'node:fs';

import { RunningChecksums } from '../checksum.js';
import type { HashAlgorithms } from '../checksum.js';
import { IntegrityError } from '../errors.js';
import type { HashPool } from './hash-pool.js';
import type { ManifestFile } from './manifest.js';
import { writeAllSync } from './sink.js';

/**
 * The checksum checks (sha256, CRC32C) of files already written, run by a worker pool while
 * the download goes on (the worker reads the file back from the page cache). The first failure is kept and reported
 * through `onFailure`, which should stop the download; `settle` waits for every check.
 */
export class DeferredChecks {
  readonly #pool: HashPool;
  readonly #signal: AbortSignal;
  readonly #onFailure: () => void;
  readonly #pending: Promise<void>[] = [];
  #failure: Error | undefined;

  constructor(pool: HashPool, signal: AbortSignal, onFailure: () => void) {
    this.#pool = pool;
    this.#signal = signal;
    this.#onFailure = onFailure;
  }

  /** The first check that failed (an IntegrityError for a mismatch), if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Checks the file at `path` against `file`, then calls `onChecked`. */
  add(path: string, file: ManifestFile, onChecked: () => void): void {
    const check = this.#pool
      .hash(path, file.size, algorithmsFor(file), { signal: this.#signal })
      .then(({ bytes, sha256, crc32c }) => {
        checkSize(file, bytes);
        checkDigest(file, sha256);
        checkCrc32c(file, crc32c);
        onChecked();
      })
      .catch((err: unknown) => {
        // Checks stopped because the download stopped are not failures; a mismatch always is.
        if (this.#signal.aborted && !(err instanceof IntegrityError)) {
          return;
        }
        this.#failure ??= err instanceof Error ? err : new Error(String(err));
        this.#onFailure();
      });
    this.#pending.push(check);
  }

  /** Waits for every check; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.#pending);
    if (this.#failure !== undefined) {
      throw this.#failure;
    }
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

/** Throws an IntegrityError unless `crc32c` is the CRC32C the master recorded (if any). */
export function checkCrc32c(file: ManifestFile, crc32c: string | undefined): void {
  if (file.crc32c !== undefined && crc32c !== file.crc32c) {
    throw new IntegrityError(
      file.path,
      `${file.path}: CRC32C ${crc32c ?? '(none)'} does not match the recorded ${file.crc32c}`,
    );
  }
}

/** The checksums a file's record lets us check. */
export function algorithmsFor(file: ManifestFile): HashAlgorithms {
  return { sha256: file.sha256 !== undefined, crc32c: file.crc32c !== undefined };
}

/** Whether a file's record carries any checksum to check. */
export function hasChecksum(file: ManifestFile): boolean {
  return file.sha256 !== undefined || file.crc32c !== undefined;
}

/** Bytes per read of `checkFile` and `copyFileChecked`: one buffer for every such read. */
const PIECE_BYTES = 4 * 1024 * 1024;
let pieceBuffer: Buffer | undefined;

/**
 * Reads the file open at `fd` from its start in pieces and hands each to `onPiece`, stopping one
 * piece past `maxBytes`. Each piece is read and handled synchronously
 * in one buffer shared by every such read in the process (no other code runs in between), with
 * a turn of the event loop between pieces: fresh buffers per read cost more here than the
 * checksum itself (touching new memory is expensive on small VMs), and a file just written is
 * in the page cache.
 */
async function forEachPiece(
  fd: number,
  maxBytes: number,
  signal: AbortSignal,
  onPiece: (piece: Buffer, position: number) => void,
): Promise<void> {
  const buffer = (pieceBuffer ??= Buffer.allocUnsafe(PIECE_BYTES));
  let position = 0;
  while (position <= maxBytes) {
    signal.throwIfAborted();
    const n = readSync(fd, buffer, 0, buffer.length, position);
    if (n === 0) {
      break;
    }
    onPiece(buffer.subarray(0, n), position);
    position += n;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Throws an IntegrityError unless the bytes summed up are the file its record describes. */
function checkSums(file: ManifestFile, sums: RunningChecksums): void {
  const { bytes, sha256, crc32c } = sums.digest();
  checkSize(file, bytes);
  checkDigest(file, sha256);
  checkCrc32c(file, crc32c);
}

/** Reads a file back and checks it against its record (size, CRC32C, sha256), in this thread. */
export async function checkFile(
  path: string,
  file: ManifestFile,
  signal: AbortSignal,
): Promise<void> {
  const sums = new RunningChecksums(algorithmsFor(file));
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await forEachPiece(fd, file.size, signal, (piece) => sums.update(piece));
  } finally {
    closeSync(fd);
  }
  checkSums(file, sums);
}

/**
 * Copies `from` to `to` (which must not exist) in this thread, checking the bytes against the
 * file's record on the way (size, CRC32C, sha256). For small copies, where starting a worker
 * would cost more than the copy.
 */
export async function copyFileChecked(
  from: string,
  to: string,
  file: ManifestFile,
  signal: AbortSignal,
): Promise<void> {
  const sums = new RunningChecksums(algorithmsFor(file));
  const input = openSync(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const output = openSync(to, 'wx', 0o644);
    try {
      await forEachPiece(input, file.size, signal, (piece, position) => {
        sums.update(piece);
        writeAllSync(output, piece, position);
      });
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
  checkSums(file, sums);
}
