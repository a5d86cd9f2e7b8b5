import type { CheckpointStore, ObjectRead, ObjectReadOptions, StoredObject } from '../backend.js';
import { abortReason } from '../common.js';
import type { BodyOpener, StreamedResponse } from '../common.js';
import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';
import { exactAnswerSize, readErrorBody } from '../http/answers.js';
import { raceAbort } from '../http/idle-timeout.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import { checkRelativePath } from '../paths.js';
import { parseS3ErrorBody } from '../s3/s3-errors.js';

/** One object of a checkpoint and the URL that reads it. */
export interface PresignedObject extends StoredObject {
  /** A URL that GETs the object with no credentials; `undefined` for directories. */
  url: string | undefined;
}

/** Every object of a checkpoint with URLs that read it, as the master signs them. */
export interface PresignedListing {
  /**
   * The checkpoint's storage type, which says how a URL's reads are pinned to a version: `gcs`
   * URLs name their object's generation, the others are sent `If-Match: <version>`.
   */
  storageType: string;
  /** Where the checkpoint is (`s3://bucket/prefix/<uuid>`), for messages; never a URL. */
  location: string;
  /** When the first of the URLs expires, in ms since the epoch. */
  expiresAtMs: number;
  objects: PresignedObject[];
}

/**
 * Asks the master for a fresh listing of the checkpoint, every object with a fresh URL. The
 * first listing is asked for with `PresignedStoreOptions.signal`; later ones, shared by every
 * read waiting for them, with none. A failure fails the reads that needed the listing, with the
 * source's own error.
 */
export type PresignedSource = (signal?: AbortSignal) => Promise<PresignedListing>;

export interface PresignedStoreOptions {
  /** How object bodies are read. @default the storage package's socket transport, kept alive */
  openBody?: BodyOpener;
  /** The clock listings' expiries are compared with. @default Date.now */
  now?: () => number;
  /**
   * Fetch a fresh listing this long before the URLs expire, or once half their lifetime has
   * passed when that comes later (a listing of short-lived URLs is not fetched again on every
   * request). @default 60_000
   */
  refreshMarginMs?: number;
  /** Aborts fetching the first listing. */
  signal?: AbortSignal;
}

/** A listing is never fetched again sooner than this after the last, however short its URLs. */
const MIN_LISTING_AGE_MS = 1000;

/** A listing as the store keeps it. */
interface Listing {
  byPath: ReadonlyMap<string, PresignedObject>;
  /** By the store's clock: when to fetch a fresh one before reading. */
  refreshAtMs: number;
}

/**
 * A read-only store of one checkpoint whose objects are read with URLs someone else signed (the
 * master, for clients without storage credentials), on the same transport and with the same
 * checks as the stores that sign them. It fetches the first listing before it resolves.
 *
 * A fresh listing is fetched `refreshMarginMs` before the URLs expire, and once when a URL is
 * refused (401, 403, or GCS's 400 ExpiredToken), then the same range is asked again; refused
 * with fresh URLs too is a `StorageUnreachableError` (`no_access`). Reads waiting for a listing
 * share one request for it. An object whose version is not the one asked for (412, a 404 of a
 * pinned object, another version in a fresh listing) is an `ObjectChangedError`: the engine
 * starts the file over, with the version the next listing has. Its `type` is the listing's
 * storage type; `remove` and `removeAll` throw.
 *
 * @example
 * const store = await openPresignedStore((signal) => fetchDownloadUrls(uuid, signal));
 * await fetchCheckpoint({ store, manifest, dir, journal, progress, retry, tuning, signal });
 */
export async function openPresignedStore(
  source: PresignedSource,
  options: PresignedStoreOptions = {},
): Promise<CheckpointStore> {
  const first = await source(options.signal);
  return new PresignedStore(source, first, options);
}

class PresignedStore implements CheckpointStore {
  readonly type: string;
  readonly location: string;
  readonly #source: PresignedSource;
  readonly #openBody: BodyOpener;
  readonly #now: () => number;
  readonly #marginMs: number;
  #listing: Listing;
  /** Set when an answer showed the listing's versions outdated: the next read fetches anew. */
  #isStale = false;
  /** The listing being fetched, shared by every read that waits for it. */
  #pending: Promise<void> | undefined;

  constructor(source: PresignedSource, first: PresignedListing, options: PresignedStoreOptions) {
    this.type = first.storageType;
    this.location = first.location;
    this.#source = source;
    this.#openBody = options.openBody ?? openKeptAliveBody;
    this.#now = options.now ?? Date.now;
    this.#marginMs = options.refreshMarginMs ?? 60_000;
    this.#listing = this.#accept(first);
  }

  async probe(signal?: AbortSignal): Promise<void> {
    if ((await this.list(signal)).length === 0) {
      throw new StorageUnreachableError(this.type, 'not_found', `no objects in ${this.location}/`);
    }
  }

  async list(signal?: AbortSignal): Promise<StoredObject[]> {
    const { byPath } = await this.#fresh(signal);
    return [...byPath.values()]
      .map(withoutUrl)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async head(path: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const found = (await this.#fresh(signal)).byPath.get(path);
    return found === undefined ? undefined : withoutUrl(found);
  }

  async read(path: string, options: ObjectReadOptions): Promise<ObjectRead> {
    const { range, signal } = options;
    const what = `GET ${this.location}/${path}`;
    let hasRefreshed = false;
    for (;;) {
      const listing = await this.#fresh(signal);
      const object = listing.byPath.get(path);
      if (object?.url === undefined) {
        throw new StorageError(`${what}: the listing has no URL for it`);
      }
      if (
        options.version !== undefined &&
        object.version !== undefined &&
        object.version !== options.version
      ) {
        throw new ObjectChangedError(
          path,
          `${this.location}/${path} changed: version ${object.version}, expected ${options.version}`,
        );
      }
      const version = options.version ?? object.version;
      const res = await this.#get(object.url, what, range, version, signal);
      if (res.status >= 200 && res.status <= 299) {
        try {
          return this.#answer(listing, object, res, range, version);
        } catch (err: unknown) {
          res.cancel();
          throw err;
        }
      }
      const { code, message } = parseS3ErrorBody(await readErrorBody(res));
      const detail = `${what}: ${res.status}${code === undefined ? '' : ` ${code}`}${message === '' ? '' : `: ${message}`}`;
      const isRefused = res.status === 401 || res.status === 403 || code === 'ExpiredToken';
      if (isRefused && !hasRefreshed) {
        hasRefreshed = true;
        await this.#refresh(listing, signal);
        continue;
      }
      if (isRefused) {
        throw new StorageUnreachableError(
          this.type,
          'no_access',
          `access denied with fresh URLs too: ${detail}`,
        );
      }
      if (res.status === 412 || (res.status === 404 && version !== undefined)) {
        this.#markStale(listing);
        throw new ObjectChangedError(path, `${this.location}/${path} changed (${detail})`);
      }
      if (res.status === 429 || res.status === 503) {
        throw new TransientStorageError(`throttled: ${detail}`, { isThrottled: true });
      }
      if (res.status === 408 || res.status >= 500) {
        throw new TransientStorageError(detail);
      }
      throw new StorageError(detail);
    }
  }

  remove(): Promise<Set<string>> {
    return Promise.reject(this.#readOnly());
  }

  removeAll(): Promise<void> {
    return Promise.reject(this.#readOnly());
  }

  #readOnly(): StorageError {
    return new StorageError(`${this.location} is read through presigned URLs: it is read-only`);
  }

  /** Sends the GET; a request that got no answer is transient. */
  async #get(
    url: string,
    what: string,
    range: ObjectReadOptions['range'],
    version: string | undefined,
    signal: AbortSignal,
  ): Promise<StreamedResponse> {
    const headers: Record<string, string> = {};
    if (range !== undefined) {
      headers.range = `bytes=${range.start}-${range.end - 1}`;
    }
    if (this.type === 'gcs') {
      // The stored bytes, which sizes and CRC32Cs describe: GCS serves an object stored
      // gzip-encoded decompressed otherwise, and whole, ignoring the range.
      headers['accept-encoding'] = 'gzip';
    } else if (version !== undefined) {
      headers['if-match'] = version;
    }
    try {
      return await this.#openBody(url, { headers, signal });
    } catch (err: unknown) {
      if (signal.aborted) {
        throw abortReason(signal);
      }
      // The message names the object, never the URL: its query is a credential.
      const message = err instanceof Error ? err.message : String(err);
      throw new TransientStorageError(`${what}: ${message}`, { cause: err });
    }
  }

  /** Checks a 2xx answer against what was asked (bytes, version), and wraps its body. */
  #answer(
    listing: Listing,
    object: PresignedObject,
    res: StreamedResponse,
    range: ObjectReadOptions['range'],
    version: string | undefined,
  ): ObjectRead {
    const { path } = object;
    const size = exactAnswerSize(res, range, path, `${this.location}/${path}`);
    // The version the bytes are of: a server that ignored If-Match must not mix versions.
    const answered = res.headers.get(this.type === 'gcs' ? 'x-goog-generation' : 'etag');
    if (version !== undefined && answered !== null && answered !== version) {
      this.#markStale(listing);
      throw new ObjectChangedError(
        path,
        `${this.location}/${path} changed: version ${answered}, expected ${version}`,
      );
    }
    const read = answered ?? version;
    return {
      version: read,
      size,
      crc32c: object.version === read ? object.crc32c : undefined,
      body: res.body,
      cancel: () => res.cancel(),
    };
  }

  /** The listing to read with: a fresh one once it is due, or known to be outdated. */
  async #fresh(signal: AbortSignal | undefined): Promise<Listing> {
    const listing = this.#listing;
    if (this.#isStale || this.#now() >= listing.refreshAtMs) {
      await this.#refresh(listing, signal);
    }
    return this.#listing;
  }

  /**
   * Replaces `seen` with a fresh listing, unless another read already did. The request is shared
   * by every read that waits for it, so no one read's abort stops it: each stops waiting.
   */
  async #refresh(seen: Listing, signal: AbortSignal | undefined): Promise<void> {
    if (this.#listing !== seen) {
      return;
    }
    this.#pending ??= this.#source()
      .then((fetched) => {
        this.#listing = this.#accept(fetched);
        this.#isStale = false;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    await (signal === undefined ? this.#pending : raceAbort(this.#pending, signal));
  }

  #markStale(listing: Listing): void {
    if (this.#listing === listing) {
      this.#isStale = true;
    }
  }

  /** Checks a listing's paths and URLs, and works out when to replace it. */
  #accept(listing: PresignedListing): Listing {
    const byPath = new Map<string, PresignedObject>();
    for (const object of listing.objects) {
      const path = checkRelativePath(object.path);
      if (object.url !== undefined && !/^https?:\/\//i.test(object.url)) {
        // Not echoed: it may well be a credential.
        throw new StorageError(`${this.location}/${path}: its URL is not an http(s) URL`);
      }
      byPath.set(path, { ...object, path });
    }
    const fetchedAtMs = this.#now();
    const lifetimeMs = listing.expiresAtMs - fetchedAtMs;
    const refreshInMs = Math.max(MIN_LISTING_AGE_MS, lifetimeMs - this.#marginMs, lifetimeMs / 2);
    return { byPath, refreshAtMs: fetchedAtMs + refreshInMs };
  }
}

function withoutUrl({ url: _url, ...object }: PresignedObject): StoredObject {
  return object;
}
