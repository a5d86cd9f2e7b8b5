import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import type { JsonObject } from '@determined-ts/api';

import { StorageError } from '../errors.js';
import { StorageUnreachableError } from './backend.js';
import type { StorageBackend } from './backend.js';
import { LocalStorage } from './local.js';

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
 * The default {@link StorageResolver}: the first reachable local directory of the checkpoint.
 * Throws {@link StorageUnreachableError} when none is reachable, or when the storage type has no
 * direct access yet (s3, gcs and azure come with the cloud backends).
 */
export async function resolveDirectStorage(
  config: JsonObject,
  uuid: string,
  signal?: AbortSignal,
): Promise<StorageBackend> {
  const type = typeof config.type === 'string' ? config.type : 'unknown';
  const candidates = localCandidates(config, uuid);
  if (candidates === undefined) {
    // TODO(#3): s3, gcs and azure backends implementing StorageBackend.
    throw new StorageUnreachableError(
      type,
      'unsupported',
      `direct download from ${type} storage is not supported yet`,
    );
  }
  let first: StorageUnreachableError | undefined;
  for (const root of candidates) {
    signal?.throwIfAborted();
    const backend = new LocalStorage(type, root);
    try {
      await backend.probe();
      return backend;
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
