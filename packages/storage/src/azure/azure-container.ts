import type { Readable } from 'node:stream';

import { AnonymousCredential, ContainerClient } from '@azure/storage-blob';
import type { StoragePipelineOptions } from '@azure/storage-blob';

import { isCrc32cHex } from '../checksum.js';
import { abortReason } from '../common.js';
import type { BodyOpener, StreamedResponse } from '../common.js';
import { StorageUnreachableError, TransientStorageError } from '../errors.js';
import { readErrorBody } from '../http/answers.js';
import { openKeptAliveBody } from '../http/raw-body.js';
import type { AzureAccess } from './azure-auth.js';
import {
  classifyAzureFailure,
  fromAzureSdkError,
  parseAzureErrorMessage,
  sdkStatus,
} from './azure-errors.js';
import { AZURE_API_VERSION, BlobReadUrls } from './azure-sas.js';

/** One blob of a listing. */
export interface AzureBlobInfo {
  name: string;
  size: number;
  /** Quoted, as GET answers carry it (listings send it bare). */
  etag: string;
  /** Our upload's CRC32C of the whole blob (metadata `crc32c`), when it has one. */
  crc32c: string | undefined;
  /** A directory of a hierarchical-namespace account (metadata `hdi_isfolder`). */
  isFolder: boolean;
  mtimeMs: number | undefined;
}

/** The control plane's retries, in @azure/storage-blob's terms (exponential, no jitter). */
export interface AzureRetryOptions {
  maxTries: number;
  retryDelayInMs: number;
}

export interface AzureContainerOptions {
  access: AzureAccess;
  /** The container's name (the first segment of a config's `container`). */
  name: string;
  /** How blob bodies are read. @default the storage package's socket transport, kept alive */
  openBody?: BodyOpener;
  /** Blobs per List Blobs page. @default 5000, Azure's most */
  listPageSize?: number;
  /**
   * @default 5 tries from 100 ms (about 1.5 s of waits in all): as many as the data plane gets,
   * and short, because a client that cannot reach the account (refused, no route) should fall
   * back to the master in a second or two, not after the library's default of 4 s doubling
   */
  retry?: AzureRetryOptions;
}

/** Metadata key of the whole blob's CRC32C (8 hex digits) that our uploads set. */
export const CRC32C_METADATA = 'crc32c';

const DEFAULT_RETRY: AzureRetryOptions = { maxTries: 5, retryDelayInMs: 100 };

/** An ETag as GET answers carry it, quoted: listings carry it bare. */
export function quoteEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

function crcOf(metadata: Readonly<Record<string, string>> | undefined): string | undefined {
  const value = metadata?.[CRC32C_METADATA];
  return isCrc32cHex(value) ? value : undefined;
}

/**
 * One container: the control plane (list, properties, uploads, deletes) through
 * @azure/storage-blob, the data plane (GETs of blob bodies) on the storage package's own socket
 * transport with read URLs from `BlobReadUrls`, as S3Bucket does for S3, for the same reasons:
 * a body path that costs less CPU, stalls we detect ourselves, ranges pinned with If-Match.
 *
 * Uploads go through a client that never retries: their bodies are streams read once, which
 * the library would send again empty; the transfer engine retries them with fresh streams.
 */
export class AzureContainer {
  readonly name: string;
  readonly urls: BlobReadUrls;
  readonly #control: ContainerClient;
  readonly #uploads: ContainerClient;
  readonly #openBody: BodyOpener;
  readonly #listPageSize: number;

  constructor(options: AzureContainerOptions) {
    const { access, name } = options;
    this.name = name;
    const containerUrl = `${access.serviceUrl}/${encodeURIComponent(name)}`;
    this.urls = new BlobReadUrls(containerUrl, name, access.auth);
    this.#openBody = options.openBody ?? openKeptAliveBody;
    this.#listPageSize = options.listPageSize ?? 5000;
    const { auth } = access;
    const url = auth.kind === 'sas' ? `${containerUrl}?${auth.sas}` : containerUrl;
    const credential = auth.kind === 'key' ? auth.credential : new AnonymousCredential();
    const retry = options.retry ?? DEFAULT_RETRY;
    const pipeline = (maxTries: number): StoragePipelineOptions => ({
      retryOptions: { ...retry, maxTries, maxRetryDelayInMs: 10_000 },
    });
    this.#control = new ContainerClient(url, credential, pipeline(retry.maxTries));
    this.#uploads = new ContainerClient(url, credential, pipeline(1));
  }

  /**
   * Every blob whose name starts with `prefix`, in name order, with its metadata; pages are
   * followed to the end.
   */
  async list(prefix: string, signal?: AbortSignal): Promise<AzureBlobInfo[]> {
    const out: AzureBlobInfo[] = [];
    try {
      const pages = this.#control
        .listBlobsFlat({ prefix, includeMetadata: true, abortSignal: signal })
        .byPage({ maxPageSize: this.#listPageSize });
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          out.push({
            name: item.name,
            size: item.properties.contentLength ?? 0,
            etag: quoteEtag(item.properties.etag),
            crc32c: crcOf(item.metadata),
            isFolder: item.metadata?.hdi_isfolder === 'true',
            mtimeMs: item.properties.lastModified.getTime(),
          });
        }
      }
    } catch (err: unknown) {
      throw fromAzureSdkError(`listing ${this.uri(prefix)}`, err, signal);
    }
    return out;
  }

  /** A blob's size, quoted ETag and CRC32C (from its metadata); `undefined` when it is missing. */
  async properties(
    blobName: string,
    signal?: AbortSignal,
  ): Promise<{ size: number; etag: string; crc32c: string | undefined } | undefined> {
    try {
      const res = await this.#control
        .getBlobClient(blobName)
        .getProperties({ abortSignal: signal });
      return {
        size: res.contentLength ?? 0,
        etag: quoteEtag(res.etag ?? ''),
        crc32c: crcOf(res.metadata),
      };
    } catch (err: unknown) {
      const failure = fromAzureSdkError(`HEAD ${this.uri(blobName)}`, err, signal);
      // A missing container is a failure of its own (not_found); a missing blob is an answer.
      if (sdkStatus(err) === 404 && !(failure instanceof StorageUnreachableError)) {
        return undefined;
      }
      throw failure;
    }
  }

  /**
   * GETs a blob (or bytes `[start, end)` of it) and resolves with the head of a 2xx answer.
   * Other answers throw, classified (see `classifyAzureFailure`): 412 is `ObjectChangedError`,
   * 401/403 `StorageUnreachableError`, 429/5xx and no answer at all `TransientStorageError`.
   */
  async get(
    blobName: string,
    options: {
      range?: { start: number; end: number } | undefined;
      ifMatch?: string | undefined;
      signal: AbortSignal;
    },
  ): Promise<StreamedResponse> {
    const what = `GET ${this.uri(blobName)}`;
    const headers: Record<string, string> = { 'x-ms-version': AZURE_API_VERSION };
    if (options.range !== undefined) {
      headers['x-ms-range'] = `bytes=${options.range.start}-${options.range.end - 1}`;
    }
    if (options.ifMatch !== undefined) {
      headers['if-match'] = options.ifMatch;
    }
    let res: StreamedResponse;
    try {
      // The URL is made just before it is sent, so its SAS is never near its end.
      res = await this.#openBody(this.urls.blobReadUrl(blobName), {
        headers,
        signal: options.signal,
      });
    } catch (err: unknown) {
      if (options.signal.aborted) {
        throw abortReason(options.signal);
      }
      // No answer at all (refused, reset, unreachable): worth another attempt. The message
      // names the blob, never the URL, whose query is a credential.
      const message = err instanceof Error ? err.message : String(err);
      throw new TransientStorageError(`${what}: ${message}`, { cause: err });
    }
    if (res.status >= 200 && res.status <= 299) {
      return res;
    }
    const code = res.headers.get('x-ms-error-code') ?? undefined;
    const message = parseAzureErrorMessage(await readErrorBody(res));
    throw classifyAzureFailure(what, res.status, code, message);
  }

  /** Puts a whole blob (Put Blob) of `size` bytes, with its CRC32C in metadata when given. */
  async putBlob(
    blobName: string,
    body: Uint8Array | Readable,
    size: number,
    crc32c: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.#uploads.getBlockBlobClient(blobName).upload(body, size, {
        metadata: crc32c === undefined ? undefined : { [CRC32C_METADATA]: crc32c },
        abortSignal: signal,
      });
    } catch (err: unknown) {
      throw fromAzureSdkError(`PUT ${this.uri(blobName)}`, err, signal);
    }
  }

  /** Stages one block (Put Block) of a blob; it stays invisible until committed. */
  async stageBlock(
    blobName: string,
    blockId: string,
    body: Uint8Array | Readable,
    size: number,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.#uploads
        .getBlockBlobClient(blobName)
        .stageBlock(blockId, body, size, { abortSignal: signal });
    } catch (err: unknown) {
      throw fromAzureSdkError(`staging a block of ${this.uri(blobName)}`, err, signal);
    }
  }

  /**
   * The size of each block of a blob by id, committed or not; an uncommitted block stands for
   * its id, as the commit's "latest" does.
   */
  async blockSizes(blobName: string, signal?: AbortSignal): Promise<Map<string, number>> {
    try {
      const res = await this.#control
        .getBlockBlobClient(blobName)
        .getBlockList('all', { abortSignal: signal });
      const sizes = new Map<string, number>();
      for (const block of [...(res.committedBlocks ?? []), ...(res.uncommittedBlocks ?? [])]) {
        sizes.set(block.name, block.size);
      }
      return sizes;
    } catch (err: unknown) {
      throw fromAzureSdkError(`listing the blocks of ${this.uri(blobName)}`, err, signal);
    }
  }

  /** Commits staged blocks, in order, as the blob (Put Block List), with its CRC32C in metadata. */
  async commitBlocks(
    blobName: string,
    blockIds: readonly string[],
    crc32c: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.#control.getBlockBlobClient(blobName).commitBlockList([...blockIds], {
        metadata: crc32c === undefined ? undefined : { [CRC32C_METADATA]: crc32c },
        abortSignal: signal,
      });
    } catch (err: unknown) {
      throw fromAzureSdkError(`committing the blocks of ${this.uri(blobName)}`, err, signal);
    }
  }

  /** Deletes a blob and its snapshots; a missing blob counts as deleted. */
  async deleteBlob(blobName: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#control
        .getBlobClient(blobName)
        .deleteIfExists({ deleteSnapshots: 'include', abortSignal: signal });
    } catch (err: unknown) {
      throw fromAzureSdkError(`deleting ${this.uri(blobName)}`, err, signal);
    }
  }

  /** `azure://container/blob`, for messages: never a URL with its SAS. */
  uri(blobName: string): string {
    return `azure://${this.name}/${blobName}`;
  }
}
