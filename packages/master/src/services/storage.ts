import { lstat, readdir, rmdir } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

import type { JsonObject } from '@determined-ts/api';
import {
  IntegrityError,
  LocalStore,
  StallError,
  StorageError,
  StorageUnreachableError,
  errnoCode,
  openCheckpointStore,
} from '@determined-ts/storage';
import type { CheckpointStore } from '@determined-ts/storage';

import type { AppSettings } from '../context.js';
import { storageLabel } from '../storage-label.js';
import { HttpError } from '../errors.js';
import type { FileEntry } from './archive-file.js';
import { withMasterCredentials } from './storage-credentials.js';

/**
 * Storage the master cannot handle: a config it cannot read (stored before configs were checked
 * as strictly as now, a shared_fs storage_path leaving host_path), or a type it does not know.
 */
export interface StorageRefusal {
  type: string;
  problem: string | undefined;
}

/**
 * The store holding checkpoint `uuid`, as the master reaches it: shared_fs through the container
 * mount when it exists on this machine, else the host path (`master/pkg/checkpoints`); object
 * stores with the config's credentials, else those of the master's own `checkpoint_storage` for
 * the same bucket or container, else the master's environment (AWS's chain in its region,
 * `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_CONNECTION_STRING`). No store is contacted
 * here. Storage the master cannot handle throws what `refuse` makes of it, and storage it has no
 * credentials for a 502, so callers refuse it before changing anything.
 */
export async function openStore(
  settings: AppSettings,
  storage: JsonObject,
  uuid: string,
  refuse: (refusal: StorageRefusal) => HttpError,
): Promise<CheckpointStore> {
  try {
    return await openCheckpointStore(
      withMasterCredentials(storage, settings.defaultCheckpointStorage),
      uuid,
      { side: 'master', env: settings.storageEnv ?? {} },
    );
  } catch (err: unknown) {
    if (err instanceof StorageUnreachableError && err.reason === 'unsupported') {
      throw refuse({ type: err.storageType, problem: undefined });
    }
    // No credentials anywhere (azure finds that out before any request): the master's setup is
    // at fault, not the request, as when a store refuses the credentials it has.
    if (err instanceof StorageUnreachableError && err.reason === 'no_access') {
      throw new HttpError(
        'bad_gateway',
        `the master cannot reach ${storageLabel(storage)} for checkpoint ${uuid}: ${err.message}`,
        { cause: err },
      );
    }
    if (err instanceof StorageError) {
      throw refuse({ type: String(storage.type), problem: err.message });
    }
    throw err;
  }
}

/**
 * Whether `err` is trouble with the store rather than a bug: typed storage failures, a
 * refused path, a stalled or refused connection.
 */
export function isStoreFailure(err: unknown): err is Error {
  return (
    err instanceof StorageError ||
    err instanceof IntegrityError ||
    err instanceof StallError ||
    isSystemError(err)
  );
}

/** A Node system error (`ECONNREFUSED`, `EACCES`, …), as a transport or filesystem throws it. */
export function isSystemError(err: unknown): err is Error {
  return err instanceof Error && /^E[A-Z0-9_]+$/.test(errnoCode(err) ?? '');
}

/**
 * A store failure as a 502 (`bad_gateway`): the master could not `doing` (read, delete from)
 * `store.location`, and why (no credentials, access denied, cannot connect). Anything else is
 * returned as it was (a bug, to answer with a 500).
 */
export function storeFailure(err: unknown, store: CheckpointStore, doing: string): Error {
  if (isStoreFailure(err)) {
    return new HttpError(
      'bad_gateway',
      `the master cannot ${doing} ${store.location}: ${err.message}`,
      { cause: err },
    );
  }
  return err instanceof Error ? err : new Error(String(err), { cause: err });
}

/**
 * For a local store (directory, shared_fs): its checkpoint directory. Local archives read the
 * files positionally, which object stores have no equivalent of.
 */
export function localRoot(store: CheckpointStore): string | undefined {
  return store instanceof LocalStore ? store.root : undefined;
}

/**
 * Lists the regular files under `root`, depth first in name order, with `/`-separated relative
 * names. Symbolic links and other special files are skipped: an archive must never follow a
 * link out of the checkpoint.
 */
export async function listRegularFiles(root: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
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

/**
 * Deletes `paths` (checkpoint-relative, directories ending in `/`) from `store` and returns
 * those gone afterwards, missing ones included. Once none of `resources` is left, a whole-
 * checkpoint delete removes everything else under the checkpoint too (stray files a trainer
 * left), as Determined's GC does by listing storage; otherwise a local checkpoint directory
 * left empty goes. Store failures are thrown as they are.
 */
export async function deleteFromStore(
  store: CheckpointStore,
  paths: readonly string[],
  resources: Record<string, number>,
  { wholeCheckpoint }: { wholeCheckpoint: boolean },
): Promise<Set<string>> {
  await requireStorageRoot(store);
  // An empty batch is no request at all.
  const gone = paths.length === 0 ? new Set<string>() : await store.remove(paths);
  if (Object.keys(resources).every((p) => gone.has(p))) {
    const root = localRoot(store);
    if (wholeCheckpoint) {
      await store.removeAll();
    } else if (root !== undefined) {
      await removeIfEmpty(root);
    }
  }
  return gone;
}

/**
 * For a local store, refuses to go on when the storage root itself (the directory checkpoint
 * directories live in) is missing: a path not mounted on the master's machine would make every
 * file look deleted while it is still on the trainer's disk (Determined's GC marks such
 * checkpoints DELETED). A missing checkpoint directory under an existing root is deleted.
 */
async function requireStorageRoot(store: CheckpointStore): Promise<void> {
  const checkpointDir = localRoot(store);
  if (checkpointDir === undefined) {
    return;
  }
  const root = dirname(checkpointDir);
  try {
    if ((await lstat(root)).isDirectory()) {
      return;
    }
  } catch (err: unknown) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') {
      throw err;
    }
  }
  throw Object.assign(
    new Error(
      `its storage root ${root} is not a directory on the master (not mounted here?); nothing was deleted`,
    ),
    { code: 'ENOENT' },
  );
}

/** Removes a checkpoint directory itself when nothing is left in it. */
async function removeIfEmpty(root: string): Promise<void> {
  try {
    await rmdir(root);
  } catch {
    // Not empty, or already gone: either way there is nothing more to do.
  }
}
