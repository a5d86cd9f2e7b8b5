import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import type { JsonObject } from '@determined-ts/api';

import { StorageError, StorageUnreachableError } from '../errors.js';
import { LocalStore } from './local-store.js';

/** Where Determined mounts shared_fs storage inside task containers. */
export const SHARED_FS_CONTAINER_PATH = '/determined_shared_fs';

/**
 * shared_fs `storage_path` as a path relative to `host_path` (`''` when unset). As Determined,
 * it may be relative to `host_path` or absolute but inside it; anything leaving `host_path`
 * is a `StorageError`.
 */
export function sharedFsSubdir(host: string, storagePath: unknown): string {
  if (storagePath === undefined || storagePath === null) {
    return '';
  }
  if (typeof storagePath !== 'string') {
    throw new StorageError('shared_fs storage_path must be a string');
  }
  const rel = relative(host, resolve(host, storagePath));
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new StorageError(
      `shared_fs storage_path ${storagePath} must be a subdirectory of host_path ${host}`,
    );
  }
  return rel;
}

/**
 * The local directories that may hold checkpoint `uuid`, in the order Determined's Python SDK
 * (v0.38) tries them: `directory` → `<container_path>/<uuid>`; `shared_fs` →
 * `<host_path>[/<storage_path>]/<uuid>`, then `/determined_shared_fs[/<storage_path>]/<uuid>`.
 * `storage_path` may be relative to `host_path` or absolute inside it. Returns `undefined` for
 * storage types that are not local filesystems.
 */
export function localCandidates(config: JsonObject, uuid: string): string[] | undefined {
  if (config.type === 'directory') {
    if (typeof config.container_path !== 'string' || config.container_path === '') {
      throw new StorageError('directory storage config has no container_path');
    }
    return [join(config.container_path, uuid)];
  }
  if (config.type === 'shared_fs') {
    const host = config.host_path;
    if (typeof host !== 'string' || host === '') {
      throw new StorageError('shared_fs storage config has no host_path');
    }
    const relSub = sharedFsSubdir(host, config.storage_path);
    return [join(host, relSub, uuid), join(SHARED_FS_CONTAINER_PATH, relSub, uuid)];
  }
  return undefined;
}

/**
 * Opens the local directory of checkpoint `uuid`. A client takes the first reachable candidate,
 * in Determined's Python SDK order (see `localCandidates`), and throws
 * {@link StorageUnreachableError} when none is. The master, as Determined's, takes the shared_fs
 * container mount when it exists on its machine, else the host path, and leaves finding the
 * files to the caller.
 */
export async function openLocalStore(
  config: JsonObject,
  uuid: string,
  { side = 'client', signal }: { side?: 'client' | 'master'; signal?: AbortSignal } = {},
): Promise<LocalStore | undefined> {
  const type = typeof config.type === 'string' ? config.type : 'unknown';
  const candidates = localCandidates(config, uuid);
  if (candidates === undefined) {
    return undefined;
  }
  if (side === 'master') {
    const [host, container] = candidates;
    const root = container !== undefined && existsSync(container) ? container : host;
    return new LocalStore(type, root ?? '');
  }
  let first: StorageUnreachableError | undefined;
  for (const root of candidates) {
    signal?.throwIfAborted();
    const store = new LocalStore(type, root);
    try {
      await store.probe();
      return store;
    } catch (err: unknown) {
      if (!(err instanceof StorageUnreachableError)) {
        throw err;
      }
      first ??= err;
    }
  }
  throw new StorageUnreachableError(
    type,
    first?.reason ?? 'not_found',
    `checkpoint ${uuid} not reachable in ${type} storage (tried ${candidates.join(', ')})`,
    { cause: first },
  );
}
