import { createHash } from 'node:crypto';

import type { BodyOpener } from '../common.js';
import { checkpointKeyPrefix } from '../config.js';
import type { S3StorageConfig } from '../config.js';
import { S3Bucket } from './s3-bucket.js';
import type { S3Credentials } from './s3-bucket.js';
import { S3Store } from './s3-store.js';

/** Where an S3 client that is told nothing signs for, as boto3 does for S3. */
export const DEFAULT_S3_REGION = 'us-east-1';

export interface S3OpenOptions {
  /** Read for `AWS_REGION` / `AWS_DEFAULT_REGION`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Credentials to use when the config carries none. `undefined`: AWS's default chain (env,
   * profile, SSO, instance or task role), as Determined's Python SDK uses boto3's.
   */
  credentials?: S3Credentials | undefined;
  /** The transport object bodies are read with (tests put a faulty one in between). */
  openBody?: BodyOpener;
}

/** Buckets kept open: an S3 client holds keep-alive sockets and caches credentials. */
const MAX_OPEN_BUCKETS = 32;
const openBuckets = new Map<string, S3Bucket>();

/**
 * The bucket of an `s3` config: the config's keys when it has them (as Determined's Python SDK
 * uses them), else `options.credentials`, else AWS's default chain. Buckets are shared by every
 * store of the same bucket, endpoint, region and credentials (the least recently used of more
 * than 32 is closed), so a master serving many requests keeps a few clients, not one each.
 */
export function openS3Bucket(config: S3StorageConfig, options: S3OpenOptions = {}): S3Bucket {
  const env = options.env ?? {};
  const credentials =
    config.accessKey !== undefined && config.secretKey !== undefined
      ? { accessKeyId: config.accessKey, secretAccessKey: config.secretKey }
      : options.credentials;
  const settings = {
    bucket: config.bucket,
    endpointUrl: config.endpointUrl,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? DEFAULT_S3_REGION,
    credentials,
  };
  if (options.openBody !== undefined) {
    return new S3Bucket({ ...settings, openBody: options.openBody });
  }
  // The secret is part of the key only as a hash: the map may show up in a heap snapshot. With
  // no key of its own, a bucket takes AWS's default chain, whose client caches what it found:
  // what the chain reads first (the environment's keys, the profile) is part of the key too.
  const secret =
    credentials === undefined
      ? `${process.env.AWS_ACCESS_KEY_ID ?? ''}\0${process.env.AWS_SECRET_ACCESS_KEY ?? ''}\0${process.env.AWS_PROFILE ?? ''}`
      : `${credentials.secretAccessKey}\0${credentials.sessionToken ?? ''}\0${credentials.expiration?.getTime() ?? ''}`;
  const key = JSON.stringify([
    settings.bucket,
    settings.endpointUrl ?? '',
    settings.region,
    credentials?.accessKeyId ?? '',
    createHash('sha256').update(secret).digest('hex'),
  ]);
  const cached = openBuckets.get(key);
  if (cached !== undefined) {
    openBuckets.delete(key); // re-inserted below: the map's order is the LRU order
    openBuckets.set(key, cached);
    return cached;
  }
  const bucket = new S3Bucket(settings);
  openBuckets.set(key, bucket);
  for (const [oldKey, old] of openBuckets) {
    if (openBuckets.size <= MAX_OPEN_BUCKETS) {
      break;
    }
    openBuckets.delete(oldKey);
    old.client.destroy();
  }
  return bucket;
}

/** The store of checkpoint `uuid` under an `s3` config (`<prefix>/<uuid>/…`). */
export function openS3Store(
  config: S3StorageConfig,
  uuid: string,
  options: S3OpenOptions = {},
): S3Store {
  return new S3Store(openS3Bucket(config, options), checkpointKeyPrefix(config.prefix, uuid));
}
