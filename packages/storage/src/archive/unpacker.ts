import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { IntegrityError } from '../errors.js';
import { checkRelativePath, parentDirs } from '../paths.js';
import { DeferredChecks, checkCrc32c, checkDigest, checkSize } from '../transfer/file-checks.js';
import type { HashPool } from '../transfer/hash-pool.js';
import type { Manifest, ManifestFile } from '../transfer/manifest.js';
import type { ProgressReporter } from '../transfer/progress.js';
import { FileSink } from '../transfer/sink.js';
import { TarReader } from './tar-reader.js';
import type { TarHeader, TarVisitor } from './tar-reader.js';

/** Where an archive is unpacked, and what it must hold. */
export interface UnpackJob {
  dir: string;
  manifest: Manifest;
  progress: ProgressReporter;
  /** The download's: aborting it stops the deferred checks. */
  signal: AbortSignal;
}

/**
 * One version of the archive being unpacked into a fresh directory, over as many responses as
 * it takes. The tar reader's state, the file being written (with its running checksums) and the
 * deferred checks live here, so a response carrying the archive's rest (a Range request)
 * continues at the exact byte the last one stopped at. That byte is `offset`: `write` parses a
 * chunk, and writes its file data, before it returns (or it throws, and the unpacking is
 * over), so the bytes consumed are the bytes written.
 */
export class ArchiveUnpacking {
  #offset = 0;
  readonly #cancel = new AbortController();
  readonly #checks: DeferredChecks | undefined;
  readonly #unpacker: Unpacker;
  readonly #tar: TarReader;

  constructor(job: UnpackJob, pool: HashPool | undefined) {
    if (pool !== undefined) {
      // A failed check cancels the others, and `signal` stops the body being read.
      const signal = AbortSignal.any([job.signal, this.#cancel.signal]);
      this.#checks = new DeferredChecks(pool, signal, () => this.#cancel.abort());
    }
    this.#unpacker = new Unpacker(job, this.#checks);
    this.#tar = new TarReader(this.#unpacker);
  }

  /** Archive bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Aborted once the unpacking cannot go on: a deferred check failed, or it was abandoned. */
  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  /** The deferred check that failed, if one did. */
  get failure(): Error | undefined {
    return this.#checks?.failure;
  }

  /** Unpacks the archive's next bytes. Throws for a bad archive (TarFormatError, IntegrityError). */
  write(chunk: Uint8Array): void {
    this.#tar.write(chunk);
    this.#offset += chunk.byteLength;
  }

  /** The archive has ended: throws unless it was whole, held every resource and passed its checks. */
  async finish(): Promise<void> {
    this.#tar.end();
    this.#unpacker.checkComplete();
    await this.#checks?.settle();
  }

  /** Gives up: closes the file being written and waits until no check reads the files. */
  async abandon(): Promise<void> {
    this.#cancel.abort();
    this.#unpacker.discard();
    await this.#checks?.settle().catch(() => undefined);
  }
}

/**
 * Writes the archive's entries into the job's directory as the tar reader meets them, and
 * checks each: its kind, its path, its size, its CRC32C (on the way to disk) and its sha256
 * (on the way, or deferred to the pool).
 */
class Unpacker implements TarVisitor {
  readonly #job: UnpackJob;
  readonly #checks: DeferredChecks | undefined;
  readonly #made = new Set<string>();
  readonly #seen = new Set<string>();
  readonly #files = new Set<string>();
  /** The file being written; `undefined` between files and for directories. */
  #current: { file: ManifestFile; sink: FileSink; isDeferred: boolean } | undefined;

  constructor(job: UnpackJob, checks: DeferredChecks | undefined) {
    this.#job = job;
    this.#checks = checks;
    for (const d of job.manifest.dirs) {
      this.#ensureDir(d);
    }
  }

  entry(header: TarHeader): void {
    const kind = entryKind(header);
    const name = checkRelativePath(header.name);
    const key = name.replace(/\/$/, '');
    if (this.#seen.has(key)) {
      throw new IntegrityError(name, `archive holds ${name} twice`);
    }
    this.#seen.add(key);
    for (const parent of parentDirs(name)) {
      this.#ensureDir(parent);
    }
    if (kind === 'directory') {
      this.#ensureDir(key);
      return;
    }
    if (name.endsWith('/')) {
      throw new IntegrityError(name, `archive file entry ${name} is named like a directory`);
    }
    const file = this.#job.manifest.byPath.get(name) ?? {
      path: name,
      size: header.size,
      sha256: undefined,
      crc32c: undefined,
    };
    checkSize(file, header.size);
    const isDeferred = this.#checks !== undefined && file.sha256 !== undefined;
    const sink = FileSink.create(join(this.#job.dir, name), {
      sha256: file.sha256 !== undefined && !isDeferred,
      crc32c: file.crc32c !== undefined,
    });
    this.#current = { file, sink, isDeferred };
  }

  data(chunk: Uint8Array): void {
    const current = this.#current;
    if (current !== undefined) {
      current.sink.write(chunk);
      this.#job.progress.add(chunk.byteLength, current.file.path);
    }
  }

  entryEnd(): void {
    const current = this.#current;
    if (current === undefined) {
      return;
    }
    this.#current = undefined;
    const { file, sink, isDeferred } = current;
    const { bytes, sha256, crc32c } = sink.finish();
    checkSize(file, bytes);
    checkCrc32c(file, crc32c);
    this.#files.add(file.path);
    const progress = this.#job.progress;
    if (isDeferred && this.#checks !== undefined) {
      // The CRC was checked on the way; the pool computes only the sha256.
      const sha256Only = { ...file, crc32c: undefined };
      this.#checks.add(sink.path, sha256Only, () => progress.file(file.path, file.size));
    } else {
      checkDigest(file, sha256);
      progress.file(file.path, file.size);
    }
  }

  /** Throws unless every resource was in the archive. */
  checkComplete(): void {
    for (const file of this.#job.manifest.files) {
      if (!this.#files.has(file.path)) {
        throw new IntegrityError(file.path, `the master's archive lacks ${file.path}`);
      }
    }
  }

  /** Closes the file being written after a failure (the caller removes the directory). */
  discard(): void {
    this.#current?.sink.discard();
    this.#current = undefined;
  }

  #ensureDir(dir: string): void {
    if (!this.#made.has(dir)) {
      mkdirSync(join(this.#job.dir, dir), { recursive: true });
      this.#made.add(dir);
    }
  }
}

/** Regular files and directories pass; links and special files are refused by name. */
function entryKind(header: TarHeader): 'file' | 'directory' {
  const type = header.type;
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'link':
    case 'symlink':
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw new IntegrityError(
        header.name,
        `refusing archive entry ${JSON.stringify(header.name)}: it is a ${type}` +
          (header.linkname ? ` to ${JSON.stringify(header.linkname)}` : ''),
      );
    case null:
      throw new IntegrityError(
        header.name,
        `refusing archive entry ${JSON.stringify(header.name)} of an unknown type`,
      );
    default: {
      const unknown: never = type;
      throw new IntegrityError(header.name, `refusing archive entry of type ${String(unknown)}`);
    }
  }
}
