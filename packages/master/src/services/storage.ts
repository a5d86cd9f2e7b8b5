import { existsSync } from 'node:fs';
import { lstat, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import type { JsonObject } from '@determined-ts/api';

import { badRequest } from '../errors.js';

/** Where Determined mounts shared_fs storage inside task containers. */
const SHARED_FS_CONTAINER_PATH = '/determined_shared_fs';

/**
 * The directory holding checkpoint `uuid` for storage the master can reach on its own
 * filesystem (`directory` and `shared_fs`), or `undefined` for object stores.
 *
 * shared_fs mirrors Determined: `<host_path>[/<storage_path>]/<uuid>`, preferring the container
 * mount when it exists on this machine (`master/pkg/checkpoints/checkpoints.go`).
 */
export function localCheckpointDir(storage: JsonObject, uuid: string): string | undefined {
  if (storage.type === 'directory' && typeof storage.container_path === 'string') {
    return join(storage.container_path, uuid);
  }
  if (storage.type === 'shared_fs' && typeof storage.host_path === 'string') {
    const sub = typeof storage.storage_path === 'string' ? storage.storage_path : '';
    const relSub = isAbsolute(sub) ? relative(storage.host_path, sub) : sub;
    const container = join(SHARED_FS_CONTAINER_PATH, relSub, uuid);
    return existsSync(container) ? container : join(storage.host_path, relSub, uuid);
  }
  return undefined;
}

/** A regular file under a checkpoint directory. */
export interface StoredFile {
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * Lists the regular files under `root`, depth first in name order, with `/`-separated relative
 * names. Symbolic links and other special files are skipped: an archive must never follow a
 * link out of the checkpoint.
 */
export async function listRegularFiles(root: string): Promise<StoredFile[]> {
  const out: StoredFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile()) {
        const stat = await lstat(path);
        out.push({
          name: relative(root, path).split(sep).join('/'),
          path,
          size: stat.size,
          mtimeMs: stat.mtimeMs,
        });
      }
    }
  };
  await walk(root);
  return out;
}

/** Joins a resource path onto a checkpoint root, refusing anything that would leave it. */
export function resolveInside(root: string, name: string): string {
  const path = resolve(root, name);
  if (path !== root && !path.startsWith(root + sep)) {
    throw badRequest(`path '${name}' escapes the checkpoint directory`);
  }
  return path;
}

/**
 * Deletes the named resources of a checkpoint from local storage: files first, then the named
 * directories that are empty by then. Returns the names that are gone afterwards (deleted, or
 * missing already); a directory still holding unmatched files stays, as does a file that could
 * not be deleted.
 */
export async function deleteLocalResources(
  root: string,
  names: readonly string[],
): Promise<Set<string>> {
  const gone = new Set<string>();
  const files = names.filter((n) => !n.endsWith('/'));
  const dirs = names.filter((n) => n.endsWith('/')).sort((a, b) => b.length - a.length);
  for (const name of files) {
    try {
      await unlink(resolveInside(root, name));
      gone.add(name);
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        gone.add(name);
      }
    }
  }
  for (const name of dirs) {
    try {
      await rmdir(resolveInside(root, name));
      gone.add(name);
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        gone.add(name);
      }
    }
  }
  return gone;
}

/** Removes a checkpoint directory and everything under it; symbolic links are unlinked, not followed. */
export async function removeTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Removes the checkpoint directory itself when nothing is left in it. */
export async function removeIfEmpty(root: string): Promise<void> {
  try {
    await rmdir(root);
  } catch {
    // Not empty, or already gone: either way there is nothing more to do.
  }
}
