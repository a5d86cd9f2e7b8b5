import { constants, createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { access, lstat, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { errnoCode } from '../errno.js';
import { IntegrityError, StorageError } from '../errors.js';
import { StorageUnreachableError } from './backend.js';
import type { ReadOptions, StorageBackend, StorageEntry } from './backend.js';
import { checkRelativePath } from './paths.js';

/** Read size for local files: large reads keep syscalls (and thread-pool hops) few. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * A checkpoint directory on a local or mounted filesystem (`directory` and `shared_fs`
 * storage). Every path is checked to stay inside the root, and no link is followed below it:
 * the root itself may be reached through links (mounts often are), its contents may not.
 */
export class LocalStorage implements StorageBackend {
  readonly root: string;
  readonly source: string;
  readonly #type: string;

  constructor(storageType: string, root: string) {
    this.root = root;
    this.#type = storageType;
    this.source = `${storageType}:${root}`;
  }

  async probe(): Promise<void> {
    try {
      const s = await stat(this.root);
      if (!s.isDirectory()) {
        throw new StorageUnreachableError(
          this.#type,
          'not_found',
          `${this.root} is not a directory`,
        );
      }
      await access(this.root, constants.R_OK | constants.X_OK);
    } catch (err: unknown) {
      if (err instanceof StorageUnreachableError) {
        throw err;
      }
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new StorageUnreachableError(this.#type, 'not_found', `${this.root} not found`, {
          cause: err,
        });
      }
      if (code === 'EACCES' || code === 'EPERM') {
        throw new StorageUnreachableError(this.#type, 'no_access', `no access to ${this.root}`, {
          cause: err,
        });
      }
      throw new StorageError(`cannot read ${this.root}: ${String(err)}`, { cause: err });
    }
  }

  async list(): Promise<StorageEntry[]> {
    const out: StorageEntry[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const rel = `${prefix}${entry.name}`;
        if (entry.isDirectory()) {
          out.push({ path: `${rel}/`, size: 0 });
          await walk(join(dir, entry.name), `${rel}/`);
        } else if (entry.isFile()) {
          out.push({ path: rel, size: Number((await lstat(join(dir, entry.name))).size) });
        } else {
          throw new IntegrityError(rel, `refusing ${rel} in ${this.root}: not a regular file`);
        }
      }
    };
    await walk(this.root, '');
    return out;
  }

  async stat(path: string): Promise<StorageEntry | undefined> {
    const rel = checkRelativePath(path);
    try {
      const s = await this.#lstatInside(rel);
      return { path: rel, size: s.isDirectory() ? 0 : s.size };
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') {
        return undefined;
      }
      throw err;
    }
  }

  async localFile(path: string): Promise<string> {
    const rel = checkRelativePath(path);
    const s = await this.#lstatInside(rel);
    if (!s.isFile()) {
      throw new IntegrityError(rel, `refusing ${rel} in ${this.root}: not a regular file`);
    }
    return join(this.root, rel);
  }

  async *read(path: string, options: ReadOptions = {}): AsyncIterable<Uint8Array> {
    const file = await this.localFile(path);
    if (options.end !== undefined && options.end <= (options.start ?? 0)) {
      return;
    }
    // O_NOFOLLOW: a link swapped in after the check above still isn't followed.
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const stream = createReadStream(file, {
      fd: fh,
      start: options.start,
      end: options.end === undefined ? undefined : options.end - 1,
      highWaterMark: READ_CHUNK_BYTES,
      signal: options.signal,
    });
    for await (const chunk of stream) {
      yield chunk as Buffer;
    }
  }

  /** lstat of every component below the root, refusing links: `sub` → `/etc` must not leak. */
  async #lstatInside(rel: string): Promise<Stats> {
    const parts = rel.replace(/\/$/, '').split('/');
    let dir = this.root;
    let s: Stats | undefined;
    for (const part of parts) {
      dir = join(dir, part);
      s = await lstat(dir);
      if (s.isSymbolicLink()) {
        throw new IntegrityError(
          rel,
          `refusing ${rel} in ${this.root}: it is reached through a link`,
        );
      }
    }
    if (s === undefined) {
      throw new IntegrityError(rel, `refusing empty path in ${this.root}`);
    }
    return s;
  }
}
