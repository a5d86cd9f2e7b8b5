import type { Readable } from 'node:stream';

import type {
  CheckpointStore,
  ObjectRead,
  ObjectReadOptions,
  PresignedRead,
  RootEntry,
  StoredObject,
} from '../backend.js';
import { crc32cFromBase64 } from '../checksum.js';
import {
  CheckpointListing,
  checkpointObjects,
  rootEntries,
  rootPrefixOf,
} from '../checkpoint-listing.js';
import type { StreamedResponse } from '../common.js';
import { ObjectChangedError, StorageError } from '../errors.js';
import { exactAnswerSize } from '../http/answers.js';
import { checkRelativePath } from '../paths.js';
import { presignLifetimeS } from '../presigned/lifetime.js';
import type { ObjectWriter, PartsUpload } from '../transfer/writer.js';
import type { S3Bucket } from './s3-bucket.js';

/**
 * The objects of one checkpoint in a bucket, laid out as Determined lays them out:
 * `<prefix>/<uuid>/<relative path>`, directories as zero-byte keys ending in `/` (read as
 * directories, never as files), so that the real Python SDK and we read each other's
 * checkpoints.
 */
export class S3Store implements CheckpointStore, ObjectWriter {
  readonly type = 's3';
  readonly location: string;
  readonly bucket: S3Bucket;
  /** `<prefix>/<uuid>`: every key of the checkpoint starts with it and a `/`. */
  readonly base: string;
  readonly #listing: CheckpointListing;

  constructor(bucket: S3Bucket, base: string) {
    this.bucket = bucket;
    this.base = base;
    this.location = bucket.uri(base);
    this.#listing = new CheckpointListing('s3', this.location, (signal) => this.#listNow(signal));
  }

  probe(signal?: AbortSignal): Promise<void> {
    return this.#listing.probe(signal);
  }

  list(signal?: AbortSignal): Promise<StoredObject[]> {
    return this.#listing.list(signal);
  }

  async #listNow(signal?: AbortSignal): Promise<StoredObject[]> {
    const objects = await this.bucket.list(`${this.base}/`, signal);
    return checkpointObjects(
      this.base,
      objects.map((o) => ({
        name: o.key,
        size: o.size,
        version: o.etag === '' ? undefined : o.etag,
        mtimeMs: o.mtimeMs,
      })),
    );
  }

  async listRoot(signal?: AbortSignal): Promise<RootEntry[]> {
    const root = rootPrefixOf(this.base);
    const objects = await this.bucket.list(root, signal);
    return rootEntries(
      root,
      objects.map((o) => ({ name: o.key, size: o.size, version: undefined, mtimeMs: o.mtimeMs })),
    );
  }

  async read(path: string, options: ObjectReadOptions): Promise<ObjectRead> {
    const key = this.#key(path);
    const { range } = options;
    const res = await this.bucket.get(key, {
      range,
      ifMatch: options.version,
      withChecksum: options.withChecksum === true && range === undefined,
      signal: options.signal,
    });
    try {
      return this.#accept(key, res, options);
    } catch (err: unknown) {
      res.cancel();
      throw err;
    }
  }

  /** Checks a GET's answer against what was asked, and wraps its body. */
  #accept(key: string, res: StreamedResponse, options: ObjectReadOptions): ObjectRead {
    const uri = this.bucket.uri(key);
    const etag = res.headers.get('etag') ?? undefined;
    // s3rver (and some other servers) ignore If-Match: compare the answer's ETag as well.
    if (options.version !== undefined && etag !== undefined && etag !== options.version) {
      throw new ObjectChangedError(
        key,
        `${uri} changed: ETag ${etag}, expected ${options.version}`,
      );
    }
    const size = exactAnswerSize(res, options.range, key, uri);
    const checksumType = res.headers.get('x-amz-checksum-type');
    const rawCrc = res.headers.get('x-amz-checksum-crc32c');
    // A COMPOSITE checksum (a CRC of part CRCs, `-N`) says nothing about the bytes as a whole.
    const crc32c =
      rawCrc !== null && (checksumType === null || checksumType === 'FULL_OBJECT')
        ? crc32cFromBase64(rawCrc)
        : undefined;
    return {
      version: etag,
      size,
      crc32c,
      // The socket transport frames the body by its Content-Length: a connection that ends
      // short, or drops, fails the body with a system error (ECONNRESET), never ends it early.
      body: res.body,
      cancel: () => res.cancel(),
    };
  }

  presignRead(
    object: StoredObject,
    expiresInS: number,
    signal?: AbortSignal,
  ): Promise<PresignedRead> {
    return this.bucket.presignGet(this.#key(object.path), presignLifetimeS(expiresInS), signal);
  }

  async head(path: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const found = await this.bucket.head(this.#key(path), signal);
    if (found === undefined) {
      return undefined;
    }
    const isWhole = found.checksumType === undefined || found.checksumType === 'FULL_OBJECT';
    return {
      path,
      size: found.size,
      version: found.etag === '' ? undefined : found.etag,
      crc32c: found.crc32c !== undefined && isWhole ? crc32cFromBase64(found.crc32c) : undefined,
    };
  }

  async remove(paths: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const byKey = new Map(paths.map((p) => [this.#key(p), p]));
    const deleted = await this.bucket.deleteKeys([...byKey.keys()], signal);
    const gone = new Set<string>();
    for (const key of deleted) {
      const path = byKey.get(key);
      if (path !== undefined) {
        gone.add(path);
      }
    }
    return gone;
  }

  async removeAll(signal?: AbortSignal): Promise<void> {
    const keys = (await this.bucket.list(`${this.base}/`, signal)).map((o) => o.key);
    const deleted = await this.bucket.deleteKeys(keys, signal);
    const left = keys.filter((k) => !deleted.has(k));
    if (left.length > 0) {
      throw new StorageError(
        `${this.location}: ${left.length} of ${keys.length} objects could not be deleted ` +
          `(the first: ${this.bucket.uri(left[0] ?? '')})`,
      );
    }
  }

  putObject(
    path: string,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.bucket.putObject(this.#key(path), body, size, crc32cBase64, signal);
  }

  async startParts(path: string, signal?: AbortSignal): Promise<PartsUpload> {
    const key = this.#key(path);
    const bucket = this.bucket;
    const uploadId = await bucket.createMultipart(key, signal);
    return {
      uploadPart: (partNumber, body, size, crc32cBase64, partSignal) =>
        bucket.uploadPart(key, uploadId, partNumber, body, size, crc32cBase64, partSignal),
      complete: (parts, crc32cBase64, completeSignal) =>
        bucket.completeMultipart(key, uploadId, parts, crc32cBase64, completeSignal),
      abort: () => bucket.abortMultipart(key, uploadId),
    };
  }

  #key(path: string): string {
    return `${this.base}/${checkRelativePath(path)}`;
  }
}
