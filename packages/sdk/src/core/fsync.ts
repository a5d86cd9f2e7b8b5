// Durability for checkpoint uploads: a checkpoint the master has acknowledged must survive a
// crash or power loss, so its bytes and its directory entries reach the disk before the report.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Writes all of `bytes` at the handle's position (a write may take fewer bytes than given). */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/** Creates `path` (it must not exist), writes `text` and syncs it to disk before closing. */
export async function writeFileSynced(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await writeAll(handle, Buffer.from(text));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Syncs a directory, so the entries created or renamed in it are on disk. Windows cannot open a
 * directory for syncing (and NTFS journals its metadata), so there it does nothing.
 */
export async function syncDir(path: string): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Syncs the directories of a finished checkpoint tree at `root`: every subdirectory (deepest
 * first, so each one's entries are durable before its parent's), then `root` itself. `dirs`
 * are `resources` keys, relative and ending in `/`.
 */
export async function syncTreeDirs(root: string, dirs: readonly string[]): Promise<void> {
  const depth = (rel: string): number => rel.split('/').length;
  for (const rel of [...dirs].sort((a, b) => depth(b) - depth(a))) {
    await syncDir(join(root, rel));
  }
  await syncDir(root);
}

/**
 * Syncs `base` (where a checkpoint directory was just renamed into place) and, when `mkdir`
 * created part of `base`'s path (`firstCreated`, as `mkdir({ recursive: true })` returns it), the
 * parents of each created directory up to that point.
 */
export async function syncParents(base: string, firstCreated: string | undefined): Promise<void> {
  await syncDir(base);
  if (firstCreated === undefined) {
    return;
  }
  for (let dir = base; dir !== dirname(firstCreated); dir = dirname(dir)) {
    await syncDir(dirname(dir));
    if (dirname(dir) === dir) {
      break;
    }
  }
}
