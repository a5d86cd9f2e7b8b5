import type { JsonObject } from '@determined-ts/api';

/*
 * Where a checkpoint lives, from the experiment's `checkpoint_storage` (snake_case keys, as in
 * Determined's experiment config), and that config with its credentials masked. Both are shown
 * to anyone who can read the experiment, so neither may ever carry a secret.
 */

/** What a masked credential shows as. */
export const MASKED = '••••••';

// Keys whose values may be credentials: s3 `access_key`/`secret_key`, azure `credential` and
// `connection_string`, and anything else that looks like one.
const SECRET_KEY = /secret|password|token|credential|access_key|account_key|connection_string/i;

/** True for a storage setting whose value must never be shown. */
function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A copy of `storage` with the value of every credential key (at any depth) replaced by `MASKED`. */
export function maskSecrets(storage: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(storage)) {
    // An unset credential reveals nothing; showing it as unset says so.
    out[key] = isSecretKey(key) && value !== null && value !== undefined ? MASKED : mask(value);
  }
  return out;
}

function mask(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(mask);
  }
  return isObject(value) ? maskSecrets(value) : value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Where checkpoint `uuid` lives under `storage`, as a path or URL to paste elsewhere:
 * `s3://bucket/prefix/uuid`, `gs://bucket/prefix/uuid`, `azure://container/uuid` (or
 * `<account_url>/container/uuid`), `<container_path>/uuid` for `directory` and
 * `<host_path>[/<storage_path>]/uuid` for `shared_fs`. `undefined` for a missing config, an
 * unknown type, or one missing the key that names the place.
 */
export function checkpointLocation(
  storage: JsonObject | null | undefined,
  uuid: string,
): string | undefined {
  if (storage === null || storage === undefined) {
    return undefined;
  }
  const text = (key: string): string | undefined => {
    const value = storage[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  switch (storage.type) {
    case 's3':
    case 'gcs': {
      const bucket = text('bucket');
      const prefix = normalizePrefix(storage.prefix);
      if (bucket === undefined || prefix === undefined) {
        return undefined;
      }
      const scheme = storage.type === 's3' ? 's3' : 'gs';
      return `${scheme}://${bucket}/${prefix === '' ? '' : `${prefix}/`}${uuid}`;
    }
    case 'azure': {
      const container = text('container')?.replace(/\/+$/, '');
      if (container === undefined || container === '') {
        return undefined;
      }
      const account = accountBase(text('account_url'));
      return account === undefined
        ? `azure://${container}/${uuid}`
        : `${account}/${container}/${uuid}`;
    }
    case 'directory': {
      const containerPath = text('container_path');
      return containerPath === undefined ? undefined : joinPath(containerPath, uuid);
    }
    case 'shared_fs': {
      const hostPath = text('host_path');
      if (hostPath === undefined) {
        return undefined;
      }
      // As determined-ai/determined: harness/determined/common/storage/shared.py
      // (_full_storage_path): an absolute storage_path replaces host_path, a relative one is
      // joined to it and normalised.
      const storagePath = text('storage_path');
      const base =
        storagePath === undefined
          ? hostPath
          : storagePath.startsWith('/')
            ? storagePath
            : normalizePath(`${hostPath}/${storagePath}`);
      return joinPath(base, uuid);
    }
    default:
      return undefined;
  }
}

/**
 * A bucket prefix as Determined normalises it (`os.path.normpath(prefix).lstrip('/')`): `''` for
 * none (absent, `''`, `/`, `.`), `undefined` for one that is not a string or climbs out with `..`,
 * which Determined refuses.
 */
export function normalizePrefix(prefix: unknown): string | undefined {
  if (prefix === undefined || prefix === null || prefix === '') {
    return '';
  }
  if (typeof prefix !== 'string') {
    return undefined;
  }
  const normal = normalizePath(prefix).replace(/^\/+/, '');
  if (normal === '..' || normal.startsWith('../')) {
    return undefined;
  }
  return normal === '.' ? '' : normal;
}

/** Python's `posixpath.normpath`: drops `.` and empty segments, folds `..`, keeps the root. */
export function normalizePath(path: string): string {
  if (path === '') {
    return '.';
  }
  // POSIX leaves exactly two leading slashes to the implementation; Python keeps them.
  const root =
    path.startsWith('//') && !path.startsWith('///') ? '//' : path.startsWith('/') ? '/' : '';
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') {
      continue;
    }
    if (part !== '..' || (root === '' && parts.length === 0) || parts.at(-1) === '..') {
      parts.push(part);
    } else if (parts.length > 0) {
      parts.pop();
    }
  }
  return root + parts.join('/') || '.';
}

/** `dir/name`, with no doubled slash when `dir` ends in one (or is the root). */
function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/**
 * An Azure account URL without a trailing slash, and without any user info, query or fragment:
 * a SAS token travels in the query, and it is a credential.
 */
function accountBase(accountUrl: string | undefined): string | undefined {
  if (accountUrl === undefined) {
    return undefined;
  }
  const base = (accountUrl.split(/[?#]/)[0] ?? '')
    .replace(/^([a-z][a-z\d+.-]*:\/\/)[^/@]*@/i, '$1')
    .replace(/\/+$/, '');
  return base === '' ? undefined : base;
}
