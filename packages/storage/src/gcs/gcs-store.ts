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
import type { ListedObject } from '../checkpoint-listing.js';
import type { StreamedResponse } from '../common.js';
import { ObjectChangedError, StorageError, StorageUnreachableError } from '../errors.js';
import { exactAnswerSize } from '../http/answers.js';
import { checkRelativePath } from '../paths.js';
import { presignLifetimeS } from '../presigned/lifetime.js';
import { forEachInLanes } from '../transfer/lanes.js';
import type { ObjectWriter, PartsUpload } from '../transfer/writer.js';
import type { GcsBucket, GcsObjectInfo } from './gcs-bucket.js';
import { putWholeObject, startXmlMultipart } from './gcs-uploads.js';

/** Deletes in flight at once: GCS has no batch delete outside its batch API. */
const DELETE_LANES = 8;

/** The CRC32C of `x-goog-hash: crc32c=<base64>,md5=<base64>` (headers joined by `, `). */
function crc32cOfGoogHash(value: string | null): string | undefined {
  for (const item of (value ?? '').split(',')) {
    const at = item.indexOf('=');
    if (at > 0 && item.slice(0, at).trim().toLowerCase() === 'crc32c') {
      return crc32cFromBase64(item.slice(at + 1).trim());
    }
  }
  return undefined;
}

/**
 * The objects of one checkpoint in a bucket, laid out as Determined's Python SDK lays them out
 * (harness/determined/common/storage/gcs.py): `<prefix>/<uuid>/<relative path>`, directories
 * as zero-byte objects whose names end in `/` (read as directories, never as files), so that
 * the Python SDK and we read each other's checkpoints. An object's version is its generation.
 */
export class GcsStore implements CheckpointStore, ObjectWriter {
  readonly type = 'gcs';
  readonly location: string;
  readonly bucket: GcsBucket;
  /** `<prefix>/<uuid>`: every object of the checkpoint starts with it and a `/`. */
  readonly base: string;
  readonly #listing: CheckpointListing;

  constructor(bucket: GcsBucket, base: string) {
    this.bucket = bucket;
    this.base = base;
    this.location = bucket.uri(base);
    this.#listing = new CheckpointListing('gcs', this.location, (signal) => this.#listNow(signal));
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
      objects.map((o) => listedOf(o)),
    );
  }

  async listRoot(signal?: AbortSignal): Promise<RootEntry[]> {
    const root = rootPrefixOf(this.base);
    const objects = await this.bucket.list(root, signal);
    return rootEntries(
      root,
      objects.map((o) => listedOf(o)),
    );
  }

  async read(path: string, options: ObjectReadOptions): Promise<ObjectRead> {
    const name = this.#name(path);
    const res = await this.bucket.get(name, {
      range: options.range,
      generation: options.version,
      signal: options.signal,
    });
    try {
      return this.#accept(name, res, options);
    } catch (err: unknown) {
      res.cancel();
      throw err;
    }
  }

  /** Checks a GET's answer against what was asked, and wraps its body. */
  #accept(name: string, res: StreamedResponse, options: ObjectReadOptions): ObjectRead {
    const uri = this.bucket.uri(name);
    const generation = res.headers.get('x-goog-generation') ?? undefined;
    // `generation=` pins the read already; the answer's generation is checked as well, so a
    // server that ignored the parameter cannot mix versions.
    if (options.version !== undefined && generation !== options.version) {
      throw new ObjectChangedError(
        name,
        `${uri} changed: generation ${generation ?? '(none)'}, expected ${options.version}`,
      );
    }
    const { range } = options;
    const size = exactAnswerSize(res, range, name, uri);
    return {
      version: generation,
      size,
      // x-goog-hash is the whole object's, on ranged answers too; it is taken from whole
      // answers only, where it describes exactly the bytes that came.
      crc32c: range === undefined ? crc32cOfGoogHash(res.headers.get('x-goog-hash')) : undefined,
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
    return this.bucket.signedReadUrl(
      this.#name(object.path),
      object.version,
      presignLifetimeS(expiresInS),
      signal,
    );
  }

  async head(path: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const found = await this.bucket.head(this.#name(path), signal);
    return found === undefined ? undefined : toStored(path, found);
  }

  async remove(paths: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const gone = new Set<string>();
    await forEachInLanes(paths, DELETE_LANES, signal, async (path, laneSignal) => {
      try {
        await this.bucket.deleteObject(this.#name(path), laneSignal);
        gone.add(path);
      } catch (err: unknown) {
        // No access, or no bucket, fails every other delete too; anything else leaves only
        // this object in place, and out of the result.
        if (err instanceof StorageUnreachableError || !(err instanceof StorageError)) {
          throw err;
        }
      }
    });
    return gone;
  }

  async removeAll(signal?: AbortSignal): Promise<void> {
    const names = (await this.bucket.list(`${this.base}/`, signal)).map((o) => o.name);
    const left: string[] = [];
    await forEachInLanes(names, DELETE_LANES, signal, async (name, laneSignal) => {
      try {
        await this.bucket.deleteObject(name, laneSignal);
      } catch (err: unknown) {
        if (err instanceof StorageUnreachableError || !(err instanceof StorageError)) {
          throw err;
        }
        left.push(name);
      }
    });
    if (left.length > 0) {
      throw new StorageError(
        `${this.location}: ${left.length} of ${names.length} objects could not be deleted ` +
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
    return putWholeObject(this.bucket, this.#name(path), body, size, crc32cBase64, signal);
  }

  startParts(path: string, signal?: AbortSignal): Promise<PartsUpload> {
    return startXmlMultipart(this.bucket, this.#name(path), signal);
  }

  #name(path: string): string {
    return `${this.base}/${checkRelativePath(path)}`;
  }
}

function listedOf(o: GcsObjectInfo): ListedObject {
  return {
    name: o.name,
    size: o.size,
    version: o.generation === '' ? undefined : o.generation,
    crc32c: o.crc32c === undefined ? undefined : crc32cFromBase64(o.crc32c),
    mtimeMs: o.mtimeMs,
  };
}

function toStored(path: string, o: GcsObjectInfo): StoredObject {
  const { size, version, crc32c, mtimeMs } = listedOf(o);
  return { path, size, version, crc32c, mtimeMs };
}
