import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { access, lstat, open, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { abortReason } from '../common.js';
import type { CheckpointStore, ObjectRead, ObjectReadOptions, StoredObject } from '../backend.js';
import { errnoCode } from '../errno.js';
import {
  IntegrityError,
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
} from '../errors.js';
import { checkRelativePath } from '../paths.js';

/** Read size for local files: large reads keep syscalls (and thread-pool hops) few. */
const READ_CHUNK_BYTES = 1024 * 1024;

/** A local file's version: its size and modification time, which every write moves. */
export function localVersion(s: Stats): string {
  return `${s.size}:${s.mtimeMs}`;
}

/**
 * A checkpoint directory on a local or mounted filesystem (`directory` and `shared_fs`
 * storage). Every path is checked to stay inside the root, and no link is followed below it:
 * the root itself may be reached through links (mounts often are), its contents may not.
 */
export class LocalStore implements CheckpointStore {
  readonly type: string;
  readonly root: string;
  readonly location: string;

  constructor(storageType: string, root: string) {
    this.type = storageType;
    this.root = root;
    this.location = root;
  }

  async probe(): Promise<void> {
    try {
      const s = await stat(this.root);
      if (!s.isDirectory()) {
        throw new StorageUnreachableError(
          this.type,
          'not_found',
          `${this.root} is not a directory`,
        );
      }
      await access(this.root, constants.R_OK | constants.X_OK);
    } catch (err: unknown) {
      throw this.#unreachable(err);
    }
  }

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const rel = `${prefix}${entry.name}`;
        if (entry.isDirectory()) {
          out.push({ path: `${rel}/`, size: 0, version: undefined });
          await walk(join(dir, entry.name), `${rel}/`);
        } else if (entry.isFile()) {
          const s = await lstat(join(dir, entry.name));
          out.push({ path: rel, size: s.size, version: localVersion(s), mtimeMs: s.mtimeMs });
        } else {
          throw new IntegrityError(rel, `refusing ${rel} in ${this.root}: not a regular file`);
        }
      }
    };
    try {
      await walk(this.root, '');
    } catch (err: unknown) {
      throw err instanceof IntegrityError ? err : this.#unreachable(err);
    }
    return out;
  }

  async localFile(path: string): Promise<string> {
    const rel = checkRelativePath(path);
    const s = await this.#lstatInside(rel);
    if (!s.isFile()) {
      throw new IntegrityError(rel, `refusing ${rel} in ${this.root}: not a regular file`);
    }
    return join(this.root, rel);
  }

  async read(path: string, options: ObjectReadOptions): Promise<ObjectRead> {
    const file = await this.localFile(path);
    // O_NOFOLLOW: a link swapped in after the check above still isn't followed.
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const s = await handle.stat();
      const version = localVersion(s);
      if (options.version !== undefined && options.version !== version) {
        throw new ObjectChangedError(
          path,
          `${file} changed (was ${options.version}, is ${version})`,
        );
      }
      const start = options.range?.start ?? 0;
      const end = Math.min(options.range?.end ?? s.size, s.size);
      const { signal } = options;
      let isCancelled = false;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK_BYTES, end - start)));
        try {
          for (let at = start; at < end && !isCancelled;) {
            signal.throwIfAborted();
            const { bytesRead } = await handle.read(
              buffer,
              0,
              Math.min(buffer.length, end - at),
              at,
            );
            if (bytesRead === 0) {
              throw new ObjectChangedError(path, `${file} ended at byte ${at}, before ${end}`);
            }
            at += bytesRead;
            yield buffer.subarray(0, bytesRead);
          }
        } finally {
          await handle.close();
        }
      }
      return {
        version,
        size: s.size,
        crc32c: undefined,
        body: chunks(),
        cancel: () => {
          isCancelled = true;
        },
      };
    } catch (err: unknown) {
      await handle.close();
      throw options.signal.aborted ? abortReason(options.signal) : err;
    }
  }

  async remove(paths: readonly string[]): Promise<Set<string>> {
    const gone = new Set<string>();
    const isGone = (err: unknown): boolean => errnoCode(err) === 'ENOENT';
    // Nothing is deleted through a link below the root: `sub` → `/etc` must not make `sub/x`
    // delete `/etc/x`. A refused path is not gone.
    const isReachable = async (name: string): Promise<boolean> => {
      const parent = checkRelativePath(name).replace(/\/$/, '').split('/').slice(0, -1).join('/');
      if (parent === '') {
        return true;
      }
      try {
        return (await this.#lstatInside(parent)).isDirectory();
      } catch (err: unknown) {
        return isGone(err); // a missing parent: the file is gone too
      }
    };
    const files = paths.filter((n) => !n.endsWith('/'));
    // Deepest directories first, so a parent is empty by the time its turn comes.
    const dirs = paths.filter((n) => n.endsWith('/')).sort((a, b) => b.length - a.length);
    for (const name of files) {
      if (!(await isReachable(name))) {
        continue;
      }
      try {
        await unlink(this.#inside(name));
        gone.add(name);
      } catch (err: unknown) {
        if (isGone(err)) {
          gone.add(name);
        }
      }
    }
    for (const name of dirs) {
      if (!(await isReachable(name))) {
        continue;
      }
      try {
        await rmdir(this.#inside(name));
        gone.add(name);
      } catch (err: unknown) {
        if (isGone(err)) {
          gone.add(name);
        }
      }
    }
    return gone;
  }

  async removeAll(): Promise<void> {
    // Links are removed, not followed.
    await rm(this.root, { recursive: true, force: true });
  }

  /** The absolute path of a checkpoint-relative one (which must stay inside). */
  #inside(name: string): string {
    return join(this.root, checkRelativePath(name));
  }

  #unreachable(err: unknown): Error {
    if (err instanceof StorageUnreachableError) {
      return err;
    }
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return new StorageUnreachableError(this.type, 'not_found', `${this.root} not found`, {
        cause: err,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new StorageUnreachableError(this.type, 'no_access', `no access to ${this.root}`, {
        cause: err,
      });
    }
    return new StorageError(`cannot read ${this.root}: ${String(err)}`, { cause: err });
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
