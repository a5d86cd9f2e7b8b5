import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { errnoCode } from '../errno.js';
import { IntegrityError, StorageError } from '../errors.js';
import { checkFile, hasChecksum } from './file-checks.js';
import type { Manifest } from './manifest.js';

/** What is at the target before a download. */
export type TargetState = 'absent' | 'empty' | 'complete';

/**
 * Looks at an existing target. A directory holding every resource with the right size (and the
 * right sha256 where one is known) is complete, whatever else it holds; an empty directory is
 * fine to fill. Anything else is an error that leaves the user's files alone: upstream treats
 * any directory holding `metadata.json` as downloaded, half-finished ones included.
 */
export async function inspectTarget(
  target: string,
  manifest: Manifest,
  uuid: string,
): Promise<TargetState> {
  let s;
  try {
    s = await lstat(target);
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') {
      return 'absent';
    }
    throw err;
  }
  if (!s.isDirectory()) {
    throw new StorageError(`download target ${target} exists and is not a directory`);
  }
  if ((await readdir(target)).length === 0) {
    return 'empty';
  }
  const problem = await findIncomplete(target, manifest);
  if (problem === undefined) {
    return 'complete';
  }
  throw new StorageError(
    `download target ${target} is not empty and does not hold checkpoint ${uuid} complete ` +
      `(${problem}); remove it or choose another path`,
  );
}

/** The first way `dir` falls short of the manifest, or `undefined` when it holds it all. */
export async function findIncomplete(dir: string, manifest: Manifest): Promise<string | undefined> {
  if (manifest.files.length === 0 && manifest.dirs.length === 0) {
    return 'the checkpoint lists no resources to check against';
  }
  for (const d of manifest.dirs) {
    const s = await lstat(join(dir, d)).catch(() => undefined);
    if (s?.isDirectory() !== true) {
      return `${d}/ is missing`;
    }
  }
  for (const f of manifest.files) {
    const s = await lstat(join(dir, f.path)).catch(() => undefined);
    if (s?.isFile() !== true) {
      return `${f.path} is missing`;
    }
    if (s.size !== f.size) {
      return `${f.path} has ${s.size} bytes, expected ${f.size}`;
    }
  }
  const never = new AbortController().signal;
  for (const f of manifest.files) {
    if (hasChecksum(f)) {
      try {
        await checkFile(join(dir, f.path), f, never);
      } catch (err: unknown) {
        if (err instanceof IntegrityError) {
          return `${f.path} does not match its recorded checksum`;
        }
        throw err;
      }
    }
  }
  return undefined;
}

/** Temp siblings older than this whose owner is gone are swept before a new download. */
export const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

const TEMP_SUFFIX = /^(\d+)-([0-9a-f]{8})-[0-9a-f]{12}$/;

let hostTag: Promise<string> | undefined;

/** Temp siblings that downloads of this process are filling right now: never taken over. */
const inUse = new Set<string>();

/** Marks a temp sibling as no longer filled by this process (its download ended, one way or another). */
export function releaseTempSibling(temp: string): void {
  inUse.delete(temp);
}

/**
 * 8 hex digits naming this host *and* PID namespace: a pid says whether its process lives only
 * where it was taken, and two containers on one host (or two hosts on one shared filesystem)
 * number their processes independently.
 */
function thisHostTag(): Promise<string> {
  hostTag ??= readlink('/proc/self/ns/pid')
    .catch(() => '')
    .then((pidNamespace) =>
      createHash('sha256').update(`${hostname()}\0${pidNamespace}`).digest('hex').slice(0, 8),
    );
  return hostTag;
}

/** Whether process `pid` of this host is alive (one we may not signal is alive too). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * The journal of a resumable download, inside its temporary directory: renaming the directory
 * to adopt it takes the journal along. Removed before the directory becomes the target.
 */
export const JOURNAL_NAME = '.det-download-journal';

export interface TempSiblingOptions {
  /** @default Date.now */
  now?: () => number;
  /** @default STALE_TEMP_AGE_MS */
  staleAfterMs?: number;
  /**
   * Whether the temp sibling a dead process of this host left may be taken over, whatever its
   * age (it holds part of the same download, by its journal). The newest such one is renamed to
   * ours, so that a download killed half-way fetches only what is missing when started again.
   */
  canResume?: (dir: string) => Promise<boolean>;
}

/**
 * Creates the temporary sibling the download fills: `.<name>.partial-<pid>-<host>-<random>`
 * next to the target, where `<host>` is this host's tag. Stale siblings of the same target are
 * swept first (see {@link sweepStaleTempSiblings}).
 */
export async function createTempSibling(
  target: string,
  options: TempSiblingOptions = {},
): Promise<string> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${await thisHostTag()}-${randomBytes(6).toString('hex')}`;
  const temp = join(parent, `.${basename(target)}.partial-${suffix}`);
  inUse.add(temp);
  try {
    if (options.canResume !== undefined && (await adoptLeftover(target, temp, options.canResume))) {
      await sweepStaleTempSiblings(target, options);
      return temp;
    }
    await sweepStaleTempSiblings(target, options);
    await mkdir(temp);
    return temp;
  } catch (err: unknown) {
    inUse.delete(temp);
    throw err;
  }
}

/** Renames the newest resumable leftover of a dead process of this host to `temp`. */
async function adoptLeftover(
  target: string,
  temp: string,
  canResume: (dir: string) => Promise<boolean>,
): Promise<boolean> {
  const leftovers = await deadSiblings(target);
  leftovers.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { path } of leftovers) {
    if (!(await canResume(path).catch(() => false))) {
      continue;
    }
    try {
      // Atomic: of two downloads adopting the same leftover, one gets it, the other ENOENT.
      await rename(path, temp);
      return true;
    } catch {
      // Taken by another download meanwhile: try the next one, or start fresh.
    }
  }
  return false;
}

/**
 * Temp sibling directories of `target` left by processes of this host that no longer run, or by
 * earlier downloads of this very process that have ended.
 */
async function deadSiblings(
  target: string,
): Promise<{ path: string; pid: number; mtimeMs: number }[]> {
  const parent = dirname(target);
  const prefix = `.${basename(target)}.partial-`;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const tag = await thisHostTag();
  const out: { path: string; pid: number; mtimeMs: number }[] = [];
  for (const name of names) {
    const match = name.startsWith(prefix) ? TEMP_SUFFIX.exec(name.slice(prefix.length)) : null;
    const pid = Number(match?.[1]);
    // pid 0 and below would address process groups: never a download's owner.
    if (match?.[2] !== tag || !Number.isSafeInteger(pid) || pid < 1) {
      continue;
    }
    const path = join(parent, name);
    const isLeft = pid === process.pid ? !inUse.has(path) : !isAlive(pid);
    const s = await lstat(path).catch(() => undefined);
    if (s?.isDirectory() === true && isLeft) {
      out.push({ path, pid, mtimeMs: s.mtimeMs });
    }
  }
  return out;
}

/**
 * Removes from a resumed temp directory the files the checkpoint no longer lists (its
 * resources may have shrunk since), and the journal, before it becomes the target.
 */
export async function pruneTemp(dir: string, manifest: Manifest): Promise<void> {
  await unlink(join(dir, JOURNAL_NAME)).catch(() => undefined);
  const keep = new Set([...manifest.files.map((f) => f.path), ...manifest.dirs]);
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        await walk(path);
        if (!keep.has(path)) {
          await rmdir(join(dir, path)).catch(() => undefined); // kept when not empty
        }
      } else if (!keep.has(path)) {
        await rm(join(dir, path), { force: true });
      }
    }
  };
  await walk('');
}

/**
 * Removes what crashed downloads of `target` left behind: temp sibling directories named as
 * {@link createTempSibling} names them, not modified for `staleAfterMs`, made by a process of
 * this host (and PID namespace) that no longer runs. Anything else is never touched: other
 * targets' siblings, other hosts', live or recent ones, files, links, and older-style names
 * that carry no pid. Best effort: returns the paths removed and never throws.
 */
export async function sweepStaleTempSiblings(
  target: string,
  options: TempSiblingOptions = {},
): Promise<string[]> {
  const now = (options.now ?? Date.now)();
  const staleAfterMs = options.staleAfterMs ?? STALE_TEMP_AGE_MS;
  const removed: string[] = [];
  for (const { path, pid, mtimeMs } of await deadSiblings(target)) {
    // This process still runs: what it left is no crash's leftover (`adoptLeftover` may reuse it).
    if (pid === process.pid || now - mtimeMs < staleAfterMs) {
      continue;
    }
    try {
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Someone else's to deal with: a sweep must never fail the download.
    }
  }
  return removed;
}

/** Removes a temporary directory; never throws (it runs while another error is on its way). */
export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 2 }).catch(() => undefined);
}

/**
 * Moves the finished temp directory into place. An empty target directory is replaced; a
 * target that another download completed meanwhile is kept (and the temp dropped). Returns
 * whether our copy is the one in place.
 */
export async function commitTarget(
  temp: string,
  target: string,
  manifest: Manifest,
  uuid: string,
): Promise<boolean> {
  try {
    await rename(temp, target);
    return true;
  } catch (err: unknown) {
    const code = errnoCode(err);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM' && code !== 'EISDIR') {
      throw err;
    }
  }
  // The target appeared or is an empty directory rename cannot replace (Windows).
  const state = await inspectTarget(target, manifest, uuid);
  if (state === 'complete') {
    await removeQuietly(temp);
    return false;
  }
  if (state === 'empty') {
    await rmdir(target);
  }
  await rename(temp, target);
  return true;
}
