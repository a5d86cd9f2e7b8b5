import type { Bucket, FileMetadata } from '@google-cloud/storage';

import type { PresignedRead } from '../backend.js';
import { abortReason } from '../common.js';
import type { RetryPolicy, StreamedResponse } from '../common.js';
import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';
import { readErrorBody } from '../http/answers.js';
import { raceAbort } from '../http/idle-timeout.js';
import { withRetry } from '../transfer/retry.js';
import type { GcsClient } from './gcs-client.js';
import {
  classifyGcsFailure,
  fromLibraryError,
  isNetworkError,
  parseGcsErrorBody,
} from './gcs-errors.js';

/** One object as a listing or its metadata describes it. */
export interface GcsObjectInfo {
  name: string;
  size: number;
  /** The generation (an int64, as a decimal string): what pins the object's bytes. */
  generation: string;
  /** Base64 of the big-endian CRC32C of the whole object, as GCS keeps it. */
  crc32c: string | undefined;
  /** Its last modification, in ms since the epoch. */
  mtimeMs: number | undefined;
}

export interface GcsGetOptions {
  /** Bytes `[start, end)`; the whole object when omitted. */
  range?: { start: number; end: number } | undefined;
  /** Read only this generation: GCS answers 404 once it is gone. */
  generation?: string | undefined;
  signal: AbortSignal;
}

/**
 * Retries of the control plane's calls (list pages, metadata, deletes): what the AWS SDK gives
 * the S3 store's (6 attempts, from 100 ms), so a burst of 503s slows a listing down rather than
 * failing a download.
 */
const CONTROL_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 100, maxDelayMs: 10_000 };

function isTransient(err: unknown): boolean {
  return err instanceof TransientStorageError;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toInfo(name: string, metadata: FileMetadata): GcsObjectInfo {
  const mtimeMs = metadata.updated === undefined ? Number.NaN : Date.parse(metadata.updated);
  return {
    name,
    size: Number(metadata.size ?? 0),
    generation: String(metadata.generation ?? ''),
    crc32c: metadata.crc32c,
    mtimeMs: Number.isFinite(mtimeMs) ? mtimeMs : undefined,
  };
}

/**
 * One bucket: the control plane (list, metadata, delete) through @google-cloud/storage, and
 * the data plane (GETs of object bodies) on the storage package's socket transport, as the S3
 * store reads S3: one reused read buffer instead of an SDK body stream (storage-transfer.md
 * §0.3), stalls handled by the engine, and every range pinned to a generation, which the
 * library's TransferManager does not do between chunks.
 *
 * Object bodies come from the JSON API's media download, `GET /storage/v1/b/B/o/NAME?alt=media`,
 * the URL @google-cloud/storage's own `createReadStream` uses (the Python client's
 * `/download/storage/v1/…` serves the same bytes), with `generation=` to pin a version.
 */
export class GcsBucket {
  readonly name: string;
  readonly client: GcsClient;
  readonly #bucket: Bucket;

  constructor(client: GcsClient, name: string) {
    this.name = name;
    this.client = client;
    this.#bucket = client.storage.bucket(name);
  }

  /** `gs://bucket/name`, for messages. */
  uri(name: string): string {
    return `gs://${this.name}/${name}`;
  }

  /** Every object under `prefix`, page by page (GCS sends at most 1,000 a page). */
  async list(prefix: string, signal?: AbortSignal): Promise<GcsObjectInfo[]> {
    const out: GcsObjectInfo[] = [];
    let pageToken: string | undefined;
    const what = `listing ${this.uri(prefix)}`;
    do {
      const token = pageToken;
      const [files, next] = await this.#control(what, signal, async () => {
        try {
          return await this.#bucket.getFiles({
            prefix,
            autoPaginate: false,
            ...(token === undefined ? {} : { pageToken: token }),
          });
        } catch (err: unknown) {
          // Listing an existing bucket never answers 404: the bucket is missing.
          if ((err as { code?: unknown }).code === 404) {
            throw new StorageUnreachableError(
              'gcs',
              'not_found',
              `no such bucket: ${what}: ${errorMessage(err)}`,
              { cause: err },
            );
          }
          throw err;
        }
      });
      for (const file of files) {
        out.push(toInfo(file.name, file.metadata));
      }
      pageToken = next?.pageToken;
    } while (pageToken !== undefined);
    return out;
  }

  /** An object's metadata (of `generation`, when given), or `undefined` when there is none. */
  async head(
    name: string,
    signal?: AbortSignal,
    generation?: string,
  ): Promise<GcsObjectInfo | undefined> {
    const file = this.#bucket.file(name, generation === undefined ? {} : { generation });
    return this.#control(`metadata of ${this.uri(name)}`, signal, async () => {
      try {
        const [metadata] = await file.getMetadata();
        return toInfo(name, metadata);
      } catch (err: unknown) {
        if ((err as { code?: unknown }).code === 404) {
          return undefined;
        }
        throw err;
      }
    });
  }

  /**
   * Deletes an object (only if it is still at `generation`, when given); one that is missing
   * already counts as deleted.
   */
  async deleteObject(name: string, signal?: AbortSignal, generation?: string): Promise<void> {
    const file = this.#bucket.file(name, generation === undefined ? {} : { generation });
    await this.#control(`deleting ${this.uri(name)}`, signal, async () => {
      try {
        await file.delete();
      } catch (err: unknown) {
        if ((err as { code?: unknown }).code !== 404) {
          throw err;
        }
      }
    });
  }

  /**
   * One library call, with credentials checked first (no anonymous requests), its failures
   * classified, and transient ones retried. The library takes no AbortSignal: an abort settles
   * the call at once and leaves its request (a read or a delete) to finish unheard.
   */
  #control<T>(what: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    return withRetry(CONTROL_RETRY, signal, isTransient, async () => {
      await this.client.authHeaders(signal);
      const pending = call();
      try {
        return signal === undefined ? await pending : await raceAbort(pending, signal);
      } catch (err: unknown) {
        if (signal?.aborted === true) {
          throw abortReason(signal);
        }
        throw fromLibraryError(what, err);
      }
    });
  }

  /**
   * A V4 signed URL that GETs object `name` (pinned to `generation`, which the signature covers)
   * with no credentials for `lifetimeS` seconds (at most 7 days), signed by the library: with
   * the key file's private key, or through IAM's signBlob for other credentials. It is an XML
   * API URL at the client's endpoint (an emulator's, when there is one). Credentials that cannot
   * sign, and an emulator without a key file, are `unsupported`.
   */
  async signedReadUrl(
    name: string,
    generation: string | undefined,
    lifetimeS: number,
    signal?: AbortSignal,
  ): Promise<PresignedRead> {
    const what = `signing a URL for ${this.uri(name)}`;
    if (!this.client.canSignUrls) {
      throw new StorageUnreachableError(
        'gcs',
        'unsupported',
        `${what}: cannot sign URLs with these credentials: an emulator's client signs only ` +
          'with a service account key file (GOOGLE_APPLICATION_CREDENTIALS)',
      );
    }
    // No credentials at all is no_access, as for every other call.
    await this.client.authHeaders(signal);
    // X-Goog-Date has whole seconds: signed from one, the expiry is exact.
    const signedAtMs = Math.floor(Date.now() / 1000) * 1000;
    const expiresAtMs = signedAtMs + lifetimeS * 1000;
    const file = this.#bucket.file(name, generation === undefined ? {} : { generation });
    const pending = file.getSignedUrl({
      version: 'v4',
      action: 'read',
      accessibleAt: signedAtMs,
      expires: expiresAtMs,
    });
    try {
      const [url] = signal === undefined ? await pending : await raceAbort(pending, signal);
      return { url, expiresAtMs };
    } catch (err: unknown) {
      if (signal?.aborted === true) {
        throw abortReason(signal);
      }
      if (isNetworkError(err)) {
        throw new TransientStorageError(`${what}: ${errorMessage(err)}`, { cause: err });
      }
      // No key and no IAM signBlob (user credentials, a role without the permission).
      throw new StorageUnreachableError(
        'gcs',
        'unsupported',
        `${what}: cannot sign URLs with these credentials (a service account key file, or ` +
          `a service account allowed to sign blobs, can): ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** The URL of an object's media download. */
  mediaUrl(name: string, generation: string | undefined): string {
    const pinned = generation === undefined ? '' : `&generation=${encodeURIComponent(generation)}`;
    return (
      `${this.client.endpoint}/storage/v1/b/${encodeURIComponent(this.name)}` +
      `/o/${encodeURIComponent(name)}?alt=media${pinned}`
    );
  }

  /**
   * GETs an object (or a range of it) and resolves with the head of a 2xx answer. Other answers
   * throw, classified (see `classifyGcsFailure`): a pinned generation that is gone (404, as GCS
   * answers for it) is an `ObjectChangedError`, 401/403 and missing credentials a
   * `StorageUnreachableError`, 429/5xx a `TransientStorageError`.
   */
  async get(name: string, options: GcsGetOptions): Promise<StreamedResponse> {
    const what = `GET ${this.uri(name)}`;
    const headers: Record<string, string> = {
      ...(await this.client.authHeaders(options.signal)),
      // The stored bytes, which sizes and CRC32Cs describe: without it GCS serves an object
      // stored gzip-encoded decompressed, and ignores ranges to do so.
      'accept-encoding': 'gzip',
    };
    if (options.range !== undefined) {
      headers.range = `bytes=${options.range.start}-${options.range.end - 1}`;
    }
    let res: StreamedResponse;
    try {
      res = await this.client.openBody(this.mediaUrl(name, options.generation), {
        headers,
        signal: options.signal,
      });
    } catch (err: unknown) {
      if (options.signal.aborted) {
        throw abortReason(options.signal);
      }
      // No answer at all (refused, reset, unreachable): worth another attempt.
      throw new TransientStorageError(`${what}: ${errorMessage(err)}`, { cause: err });
    }
    if (res.status >= 200 && res.status <= 299) {
      return res;
    }
    const { reason, message } = parseGcsErrorBody(await readErrorBody(res));
    if (res.status === 404 && options.generation !== undefined) {
      throw new ObjectChangedError(
        name,
        `${this.uri(name)} changed: generation ${options.generation} is gone (${message})`,
      );
    }
    if (res.status === 404) {
      throw new StorageError(`${what}: 404 no such object: ${message}`);
    }
    throw classifyGcsFailure(what, res.status, reason, message);
  }
}
