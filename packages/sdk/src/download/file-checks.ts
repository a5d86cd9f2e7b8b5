import { IntegrityError } from '../errors.js';
import type { HashPool } from './hash-pool.js';
import type { ManifestFile } from './manifest.js';

/**
 * The sha256 checks of files already written, run by a worker pool while the download goes on
 * (the worker reads the file back from the page cache). The first failure is kept and reported
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
      .hash(path, file.size, { signal: this.#signal })
      .then(({ bytes, sha256 }) => {
        checkSize(file, bytes);
        checkDigest(file, sha256);
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
