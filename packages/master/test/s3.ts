// Checkpoints in S3 for master tests: objects laid out as Determined's SDK uploads them
// (`<prefix>/<uuid>/<path>`, directories as zero-byte keys ending in `/`), on s3rver or the
// storage package's fake S3.
import { ListObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

import {
  DEFAULT_TEST_BUCKET,
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
} from '../../storage/test/s3rver.js';

export const BUCKET = DEFAULT_TEST_BUCKET;

/**
 * An experiment's `checkpoint_storage` for a test endpoint, as YAML flow text for `seedTrial`;
 * with s3rver's keys unless `hasKeys` is false (then the master uses its AWS chain).
 */
export function s3StorageYaml(
  endpoint: string,
  prefix: string,
  { hasKeys = true }: { hasKeys?: boolean } = {},
): string {
  const keys = hasKeys
    ? `, access_key: ${S3RVER_ACCESS_KEY_ID}, secret_key: ${S3RVER_SECRET_ACCESS_KEY}`
    : '';
  return `{type: s3, bucket: ${BUCKET}, prefix: ${prefix}, endpoint_url: "${endpoint}"${keys}}`;
}

/**
 * Puts a checkpoint's files (and a marker for each directory) under `<prefix>/<uuid>/`; returns
 * `resources` as the SDK reports them: files with their sizes, directories as `dir/` with "0".
 */
export async function putCheckpoint(
  s3: S3Client,
  prefix: string,
  uuid: string,
  files: Record<string, Buffer>,
): Promise<Record<string, string>> {
  const resources: Record<string, string> = {};
  for (const [name, body] of Object.entries(files)) {
    resources[name] = String(body.length);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      resources[`${parts.slice(0, i).join('/')}/`] = '0';
    }
  }
  for (const name of Object.keys(resources)) {
    await putObject(s3, `${prefix}/${uuid}/${name}`, files[name] ?? Buffer.alloc(0));
  }
  return resources;
}

export async function putObject(s3: S3Client, key: string, body: Buffer): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: body.length }),
  );
}

/** The keys under `prefix`, sorted. */
export async function listKeys(s3: S3Client, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectsCommand({ Bucket: BUCKET, Prefix: prefix, Marker: marker }),
    );
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    out.push(...keys);
    marker = keys.at(-1);
    if (page.IsTruncated !== true || marker === undefined) {
      return out.sort();
    }
  }
}
