import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { mkdir, open, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

import { StorageError } from '../errors.js';
import { writeAll } from './fsync.js';

/** What a checkpoint directory holds, in the shapes the master's report wants. */
export interface TreeManifest {
  /** Relative path → size; directories end with `/` and have size 0 (Determined's `_list_directory`). */
  resources: Record<string, number>;
  /** Relative file path → lowercase hex sha256. */
  digests: Record<string, string>;
}

export interface TreeOptions {
  /** Relative paths to leave out (e.g. a `metadata.json` the upload writes itself). */
  skip?: (rel: string) => boolean;
  signal?: AbortSignal;
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
 * Copies one file, hashing the bytes as they stream through (no second read), and syncs the copy
 * to disk before closing it: a reported checkpoint must survive a crash.
 */
async function copyFileHashing(
  src: string,
  dst: string,
  stats: Stats,
  signal: AbortSignal | undefined,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  // `wx`: the staging directory is ours and fresh, so an existing file means a bug or a race.
  const out = await open(dst, 'wx', stats.mode & 0o777);
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: READ_CHUNK_BYTES, signal })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      await writeAll(out, buf);
    }
    // As shutil.copy2, which Determined's shared_fs upload uses: keep the modification time.
    await out.utimes(stats.atime, stats.mtime);
    await out.sync();
  } finally {
    await out.close();
  }
  return { size, sha256: hash.digest('hex') };
}

/** Hashes one file in place and syncs it to disk (`storePath` files were written by the caller). */
async function hashFile(
  path: string,
  signal: AbortSignal | undefined,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  // Read-only suffices for fsync on Linux and macOS, and works for files the caller made 0444.
  const handle = await open(path, 'r');
  try {
    const stream = handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES, autoClose: false });
    for await (const chunk of stream) {
      signal?.throwIfAborted();
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { size, sha256: hash.digest('hex') };
}

/** Files copied at once: hashing and writing overlap, and small files stop being latency-bound. */
const COPY_CONCURRENCY = 4;

/** Runs `jobs` with at most `limit` at a time; after a failure no new job starts. */
async function runPool(jobs: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < jobs.length) {
      const job = jobs[next];
      next += 1;
      try {
        await job?.();
      } catch (error: unknown) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure !== undefined) {
    throw failure.error;
  }
}

/**
 * Copies the contents of `src` into the existing, empty directory `dst`, computing each file's
 * sha256 while copying. Directories are listed in `resources` with a trailing `/`. Links inside
 * `src` are stored as the files or directories they point to; links leading out of `src`,
 * dangling links, link cycles and special files throw a `StorageError`, before any file is
 * copied.
 */
export async function copyTree(
  src: string,
  dst: string,
  options: TreeOptions = {},
): Promise<TreeManifest> {
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
  // First the walk: every check, and the directories; then the file copies, in parallel.
  const order: string[] = [];
  const files: { rel: string; from: string; to: string; stats: Stats }[] = [];
  const walk = async (
    srcDir: string,
    dstDir: string,
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
      const to = join(dstDir, entry.name);
      if (stats.isDirectory()) {
        const real = entry.isSymbolicLink() ? path : join(srcDir, entry.name);
        if (ancestors.has(real)) {
          throw new StorageError(`refusing '${rel}': a symbolic link that loops back to ${real}`);
        }
        await mkdir(to, { mode: stats.mode & 0o777 });
        order.push(`${rel}/`);
        await walk(path, to, `${rel}/`, new Set([...ancestors, real]));
      } else {
        order.push(rel);
        files.push({ rel, from: path, to, stats });
      }
    }
  };
  await walk(rootReal, dst, '', new Set([rootReal]));
  const copied = new Map<string, { size: number; sha256: string }>();
  await runPool(
    files.map((f) => async () => {
      copied.set(f.rel, await copyFileHashing(f.from, f.to, f.stats, options.signal));
    }),
    COPY_CONCURRENCY,
  );
  const manifest: TreeManifest = { resources: {}, digests: {} };
  for (const rel of order) {
    const file = copied.get(rel);
    manifest.resources[rel] = file?.size ?? 0;
    if (file !== undefined) {
      manifest.digests[rel] = file.sha256;
    }
  }
  return manifest;
}

/**
 * Lists and hashes the tree at `root` in place (for `storePath`, whose files are already in
 * storage). Any link is refused: storage must hold only regular files and directories.
 */
export async function hashTree(root: string, options: TreeOptions = {}): Promise<TreeManifest> {
  const manifest: TreeManifest = { resources: {}, digests: {} };
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
        const { size, sha256 } = await hashFile(join(dir, entry.name), options.signal);
        manifest.resources[rel] = size;
        manifest.digests[rel] = sha256;
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
