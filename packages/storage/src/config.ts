import { posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { JsonObject } from '@determined-ts/api';

import { StorageConfigError } from './errors.js';

/*
 * Determined's `checkpoint_storage` block, as experiment configs, `master.yaml` and the Core
 * API's `init` carry it (snake_case keys, `master/pkg/schemas/expconf/storage_config.go`), read
 * into typed configs. One parser serves the master (which refuses bad configs with a 400) and
 * the clients (which build stores from them).
 */

export interface DirectoryStorageConfig {
  type: 'directory';
  containerPath: string;
}

export interface SharedFsStorageConfig {
  type: 'shared_fs';
  hostPath: string;
  /** Relative to `hostPath`, or absolute inside it; `undefined` when unset. */
  storagePath: string | undefined;
}

export interface S3StorageConfig {
  type: 's3';
  bucket: string;
  /** Normalised as Determined does: no leading `/`, no `.` segments; `''` for none. */
  prefix: string;
  accessKey: string | undefined;
  secretKey: string | undefined;
  /** An S3-compatible server (path-style addressing); `undefined` for AWS. */
  endpointUrl: string | undefined;
}

export interface GcsStorageConfig {
  type: 'gcs';
  bucket: string;
  prefix: string;
}

export interface AzureStorageConfig {
  type: 'azure';
  container: string;
  connectionString: string | undefined;
  accountUrl: string | undefined;
  credential: string | undefined;
}

export type StorageConfig =
  | DirectoryStorageConfig
  | SharedFsStorageConfig
  | S3StorageConfig
  | GcsStorageConfig
  | AzureStorageConfig;

export type StorageType = StorageConfig['type'];

/** The GC policy keys every type may carry; stores ignore them. */
const GC_KEYS = ['save_experiment_best', 'save_trial_best', 'save_trial_latest'];

/**
 * The keys each type accepts besides `type` and the GC keys. Cloud types refuse others, as
 * Determined's schema does: its Python SDK passes the keys to its storage managers as keyword
 * arguments, so one unknown key breaks every download there.
 */
const KEYS = {
  directory: ['container_path'],
  shared_fs: [
    'host_path',
    'storage_path',
    'container_path',
    'checkpoint_path',
    'tensorboard_path',
    'propagation',
  ],
  s3: ['bucket', 'prefix', 'access_key', 'secret_key', 'endpoint_url'],
  gcs: ['bucket', 'prefix'],
  azure: ['container', 'connection_string', 'account_url', 'credential'],
} as const satisfies Record<StorageType, readonly string[]>;

export const STORAGE_TYPES = Object.keys(KEYS) as StorageType[];

function isStorageType(value: unknown): value is StorageType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(KEYS, value);
}

/**
 * Reads a `checkpoint_storage` block. Throws a `StorageConfigError` naming the key at fault:
 * an unknown type, a missing or non-string required key, a prefix that climbs out with `..`, a
 * relative local path, a malformed `endpoint_url`, and (with `isStrict`, as the master checks
 * the configs it accepts) an unknown key of a cloud type. Clients read leniently: a config that
 * reached them is the master's to judge.
 */
export function parseStorageConfig(
  raw: unknown,
  {
    isStrict = false,
    where = 'checkpoint_storage',
  }: {
    isStrict?: boolean;
    /** How messages name the block (`checkpointStorage` in a JSON request). */
    where?: string;
  } = {},
): StorageConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new StorageConfigError('type', `${where} must be a mapping with a 'type'`);
  }
  const block = raw as JsonObject;
  const type = block.type;
  if (!isStorageType(type)) {
    throw new StorageConfigError(
      'type',
      `${where}.type must be one of ${STORAGE_TYPES.join(', ')}, got ${JSON.stringify(type) ?? 'nothing'}`,
    );
  }
  const allowed = new Set<string>(['type', ...GC_KEYS, ...KEYS[type]]);
  if (isStrict && type !== 'directory' && type !== 'shared_fs') {
    for (const key of Object.keys(block)) {
      if (!allowed.has(key)) {
        throw new StorageConfigError(
          key,
          `${where}.${key} is not a key of ${type} storage (allowed: ${KEYS[type].join(', ')})`,
        );
      }
    }
  }
  const required = (key: string): string => {
    const value = block[key];
    if (typeof value !== 'string' || value === '') {
      throw new StorageConfigError(key, `${where}.${key} is required for ${type} storage`);
    }
    return value;
  };
  const optional = (key: string): string | undefined => {
    const value = block[key];
    if (value === undefined || value === null) {
      return undefined;
    }
    if (typeof value !== 'string') {
      throw new StorageConfigError(key, `${where}.${key} must be a string`);
    }
    return value;
  };
  const absolute = (key: string): string => {
    const value = required(key);
    if (!value.startsWith('/')) {
      throw new StorageConfigError(
        key,
        `${where}.${key} must be an absolute path, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  switch (type) {
    case 'directory':
      return { type, containerPath: absolute('container_path') };
    case 'shared_fs':
      return { type, hostPath: absolute('host_path'), storagePath: optional('storage_path') };
    case 's3': {
      const accessKey = optional('access_key');
      const secretKey = optional('secret_key');
      if ((accessKey === undefined) !== (secretKey === undefined)) {
        const missing = accessKey === undefined ? 'access_key' : 'secret_key';
        throw new StorageConfigError(
          missing,
          `${where}.access_key and secret_key go together: give both or neither`,
        );
      }
      return {
        type,
        bucket: required('bucket'),
        prefix: normalizePrefix(optional('prefix'), where),
        accessKey,
        secretKey,
        endpointUrl: checkEndpoint(optional('endpoint_url'), where),
      };
    }
    case 'gcs':
      return {
        type,
        bucket: required('bucket'),
        prefix: normalizePrefix(optional('prefix'), where),
      };
    case 'azure':
      return {
        type,
        container: required('container'),
        connectionString: optional('connection_string'),
        accountUrl: optional('account_url'),
        credential: optional('credential'),
      };
    default: {
      const unknown: never = type;
      throw new StorageConfigError('type', `unknown storage type ${String(unknown)}`);
    }
  }
}

/**
 * A bucket prefix as Determined normalises it (`storage.normalize_prefix`): `..` segments are
 * refused, `.` and empty segments dropped, the leading `/` stripped; `''` means none.
 */
export function normalizePrefix(prefix: string | undefined, where = 'checkpoint_storage'): string {
  if (prefix === undefined || prefix === '') {
    return '';
  }
  if (prefix.split('/').includes('..')) {
    throw new StorageConfigError(
      'prefix',
      `${where}.prefix must not contain '..' segments, got ${JSON.stringify(prefix)}`,
    );
  }
  const normal = posix.normalize(prefix).replace(/^\/+/, '').replace(/\/+$/, '');
  return normal === '.' ? '' : normal;
}

function checkEndpoint(value: string | undefined, where: string): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StorageConfigError(
      'endpoint_url',
      `${where}.endpoint_url must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StorageConfigError(
      'endpoint_url',
      `${where}.endpoint_url must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new StorageConfigError(
      'endpoint_url',
      `${where}.endpoint_url must not carry credentials, a query or a fragment`,
    );
  }
  return value.replace(/\/+$/, '');
}

/** The key prefix of checkpoint `uuid` in a bucket: `<prefix>/<uuid>`, or `<uuid>`. */
export function checkpointKeyPrefix(prefix: string, uuid: string): string {
  return prefix === '' ? uuid : `${prefix}/${uuid}`;
}

/** Determined's URL schemes for `checkpoint_storage` shortcuts, and the storage type each names. */
const CLOUD_SCHEMES = { s3: 's3', gs: 'gcs' } as const satisfies Record<string, string>;

/**
 * Expands a `checkpoint_storage` shortcut as Determined's Core API does off-cluster
 * (`storage.shared._shortcut_to_config(…, on_cluster=False)`): `/path` or `file:///path` is
 * `directory` storage, `s3://bucket/prefix` and `gs://bucket/prefix` cloud storage. A relative
 * path is resolved against the working directory, because the master only accepts absolute
 * ones. Throws a `StorageConfigError` (key `type`) for anything else.
 */
export function parseStorageShortcut(shortcut: string): JsonObject {
  const malformed = (why: string): StorageConfigError =>
    new StorageConfigError('type', `malformed checkpoint_storage "${shortcut}": ${why}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(shortcut)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (shortcut === '') {
      throw malformed('it is empty');
    }
    if (/[?#]/.test(shortcut)) {
      throw malformed('a path must not contain a query or fragment');
    }
    return { type: 'directory', container_path: resolve(shortcut) };
  }
  let url: URL;
  try {
    url = new URL(shortcut);
  } catch {
    throw malformed('not a URL');
  }
  if (url.search !== '' || url.hash !== '') {
    throw malformed('a query or fragment is not allowed');
  }
  if (scheme === 'file') {
    if (url.host !== '') {
      throw malformed('a host in a file URL is not allowed');
    }
    return { type: 'directory', container_path: fileURLToPath(url) };
  }
  if (scheme === 's3' || scheme === 'gs') {
    return {
      type: CLOUD_SCHEMES[scheme],
      bucket: url.host,
      prefix: decodeURIComponent(url.pathname.replace(/^\/+/, '')),
    };
  }
  throw malformed('only paths, file://, s3:// and gs:// shortcuts are supported');
}
