import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { StorageError } from '../errors.js';
import type { Manifest } from './manifest.js';

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

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
  for (const f of manifest.files) {
    if (f.sha256 !== undefined && (await sha256File(join(dir, f.path))) !== f.sha256) {
      return `${f.path} does not match its sha256`;
    }
  }
  return undefined;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** Creates the temporary sibling the download fills: `.<name>.partial-<random>` next to it. */
export async function createTempSibling(target: string): Promise<string> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const temp = join(parent, `.${basename(target)}.partial-${randomBytes(6).toString('hex')}`);
  await mkdir(temp);
  return temp;
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
