import { createReadStream } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { mkdir, open, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

import { RunningChecksums, forEachInLanes } from '@determined-ts/storage';
import type { Checksums } from '@determined-ts/storage';

import { StorageError } from '../errors.js';
import { writeAll } from './fsync.js';

/** What a checkpoint directory holds, in the shapes the master's report wants. */
export interface TreeManifest {
  /** Relative path → size; directories end with `/` and have size 0 (Determined's `_list_directory`). */
  resources: Record<string, number>;
  /** Relative file path → lowercase hex sha256 (when asked for). */
  digests: Record<string, string>;
  /** Relative file path → CRC32C, 8 lowercase hex digits. */
  crc32c: Record<string, string>;
}

export interface TreeOptions {
  /** Relative paths to leave out (e.g. a `metadata.json` the upload writes itself). */
  skip?: (rel: string) => boolean;
  /** Record each file's sha256 besides its CRC32C. @default false */
  sha256?: boolean;
  signal?: AbortSignal;
}

/** Adds one file's result to a manifest. */
function record(manifest: TreeManifest, rel: string, file: Checksums): void {
  manifest.resources[rel] = file.bytes;
  if (file.crc32c !== undefined) {
    manifest.crc32c[rel] = file.crc32c;
  }
  if (file.sha256 !== undefined) {
    manifest.digests[rel] = file.sha256;
  }
}

const READ_CHUNK_BYTES = 1 << 20;

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

function byName(a: Dirent, b: Dirent): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function checkName(rel: string): void {
  // The master refuses resource paths with a backslash; fail before any byte is copied.
  if (rel.includes('\\')) {
    throw new StorageError(`cannot store '${rel}': checkpoint paths must not contain '\\'`);
  }
}

/** A directory entry after following an allowed link: what to copy, and what it is. */
interface Resolved {
  path: string;
  stats: Stats;
}

/**
 * Follows `entry` when it is a link: links may point anywhere inside `rootReal` (the target's
 * bytes are stored, never the link), but a link out of the tree, a dangling link or a special
 * file is refused, so a checkpoint never captures files from elsewhere on the machine.
 */
async function resolveEntry(
  rootReal: string,
  path: string,
  rel: string,
  entry: Dirent,
): Promise<Resolved> {
  let target = path;
  if (entry.isSymbolicLink()) {
    try {
      target = await realpath(path);
    } catch (err: unknown) {
      throw new StorageError(`cannot store '${rel}': a dangling symbolic link`, { cause: err });
    }
    if (!isInside(rootReal, target)) {
      throw new StorageError(
        `refusing '${rel}': a symbolic link to ${target}, outside the checkpoint directory`,
      );
    }
  }
  const stats = await stat(target);
  if (!stats.isFile() && !stats.isDirectory()) {
    throw new StorageError(`cannot store '${rel}': not a regular file or directory`);
  }
  return { path: target, stats };
}

/**
 * Copies one file, checksumming the bytes as they stream through (no second read), and syncs
 * the copy to disk before closing it: a reported checkpoint must survive a crash.
 */
async function copyFileHashing(
  src: string,
  dst: string,
  stats: Stats,
  options: TreeOptions,
): Promise<Checksums> {
  const sums = new RunningChecksums({ crc32c: true, sha256: options.sha256 === true });
  const signal = options.signal;
  // `wx`: the staging directory is ours and fresh, so an existing file means a bug or a race.
  const out = await open(dst, 'wx', stats.mode & 0o777);
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: READ_CHUNK_BYTES, signal })) {
      const buf = chunk as Buffer;
      sums.update(buf);
      await writeAll(out, buf);
    }
    // As shutil.copy2, which Determined's shared_fs upload uses: keep the modification time.
    await out.utimes(stats.atime, stats.mtime);
    await out.sync();
  } finally {
    await out.close();
  }
  return sums.digest();
}

/**
 * Checksums one file in place and, for local storage, syncs it to disk (`storePath` files were
 * written by the caller).
 */
export async function hashFile(
  path: string,
  options: TreeOptions & { sync?: boolean },
): Promise<Checksums> {
  const sums = new RunningChecksums({ crc32c: true, sha256: options.sha256 === true });
  const signal = options.signal;
  // Read-only suffices for fsync on Linux and macOS, and works for files the caller made 0444.
  const handle = await open(path, 'r');
  try {
    const stream = handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES, autoClose: false });
    for await (const chunk of stream) {
      signal?.throwIfAborted();
      sums.update(chunk as Buffer);
    }
    if (options.sync !== false) {
      await handle.sync();
    }
  } finally {
    await handle.close();
  }
  return sums.digest();
}

/** Files copied at once: hashing and writing overlap, and small files stop being latency-bound. */
const COPY_CONCURRENCY = 4;

/** What {@link walkTree} found: every entry in order, and the files among them. */
export interface TreeWalk {
  /** Relative paths in listing order; directories end with `/`. */
  order: string[];
  /** Directories by relative path (with `/`), with their mode. */
  dirs: Map<string, number>;
  /** Files: relative path, the path to read (links resolved) and its stats. */
  files: { rel: string; from: string; stats: Stats }[];
}

/**
 * Walks `src` with every check an upload needs, before any byte moves. Links inside `src` stand
 * for the files or directories they point to; links leading out of `src`, dangling links, link
 * cycles and special files throw a `StorageError`.
 */
export async function walkTree(src: string, options: TreeOptions = {}): Promise<TreeWalk> {
  let rootReal: string;
  try {
    rootReal = await realpath(src);
    if (!(await stat(rootReal)).isDirectory()) {
      throw new StorageError(`cannot upload ${src}: not a directory`);
    }
  } catch (err: unknown) {
    if (err instanceof StorageError) {
      throw err;
    }
    throw new StorageError(`cannot upload ${src}: ${(err as Error).message}`, { cause: err });
  }
  const found: TreeWalk = { order: [], dirs: new Map(), files: [] };
  const walk = async (
    srcDir: string,
    prefix: string,
    ancestors: ReadonlySet<string>,
  ): Promise<void> => {
    const entries = (await readdir(srcDir, { withFileTypes: true })).sort(byName);
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      const rel = prefix + entry.name;
      checkName(rel);
      if (options.skip?.(rel) === true) {
        continue;
      }
      const { path, stats } = await resolveEntry(rootReal, join(srcDir, entry.name), rel, entry);
      if (stats.isDirectory()) {
        const real = entry.isSymbolicLink() ? path : join(srcDir, entry.name);
        if (ancestors.has(real)) {
          throw new StorageError(`refusing '${rel}': a symbolic link that loops back to ${real}`);
        }
        found.order.push(`${rel}/`);
        found.dirs.set(`${rel}/`, stats.mode & 0o777);
        await walk(path, `${rel}/`, new Set([...ancestors, real]));
      } else {
        found.order.push(rel);
        found.files.push({ rel, from: path, stats });
      }
    }
  };
  await walk(rootReal, '', new Set([rootReal]));
  return found;
}

/**
 * Copies the contents of `src` into the existing, empty directory `dst`, computing each file's
 * CRC32C (and sha256 when asked) while copying. Directories are listed in `resources` with a
 * trailing `/`. Links are followed as {@link walkTree} says, before any file is copied.
 */
export async function copyTree(
  src: string,
  dst: string,
  options: TreeOptions = {},
): Promise<TreeManifest> {
  const { order, dirs, files } = await walkTree(src, options);
  for (const [rel, mode] of dirs) {
    await mkdir(join(dst, rel), { mode });
  }
  const copied = new Map<string, Checksums>();
  // No signal for the lanes: each copy watches `options.signal` itself.
  await forEachInLanes(files, COPY_CONCURRENCY, undefined, async (f) => {
    copied.set(f.rel, await copyFileHashing(f.from, join(dst, f.rel), f.stats, options));
  });
  const manifest: TreeManifest = { resources: {}, digests: {}, crc32c: {} };
  for (const rel of order) {
    const file = copied.get(rel);
    if (file === undefined) {
      manifest.resources[rel] = 0;
    } else {
      record(manifest, rel, file);
    }
  }
  return manifest;
}

/**
 * Lists and checksums the tree at `root` in place (for `storePath`, whose files are already in
 * storage). Any link is refused: storage must hold only regular files and directories.
 */
export async function hashTree(root: string, options: TreeOptions = {}): Promise<TreeManifest> {
  const manifest: TreeManifest = { resources: {}, digests: {}, crc32c: {} };
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      const rel = prefix + entry.name;
      checkName(rel);
      if (options.skip?.(rel) === true) {
        continue;
      }
      if (entry.isDirectory()) {
        manifest.resources[`${rel}/`] = 0;
        await walk(join(dir, entry.name), `${rel}/`);
      } else if (entry.isFile()) {
        record(manifest, rel, await hashFile(join(dir, entry.name), options));
      } else {
        throw new StorageError(
          `cannot store '${rel}': checkpoint files written with storePath must be regular ` +
            `files or directories${entry.isSymbolicLink() ? ', not symbolic links' : ''}`,
        );
      }
    }
  };
  await walk(root, '');
  return manifest;
}
