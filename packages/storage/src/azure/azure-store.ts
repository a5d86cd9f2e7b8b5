import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

import type {
  CheckpointStore,
  ObjectRead,
  ObjectReadOptions,
  PresignedRead,
  RootEntry,
  StoredObject,
} from '../backend.js';
import { crc32cFromBase64, isCrc32cHex } from '../checksum.js';
import {
  CheckpointListing,
  checkpointObjects,
  rootEntries,
  rootPrefixOf,
} from '../checkpoint-listing.js';
import type { StreamedResponse } from '../common.js';
import {
  IntegrityError,
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
} from '../errors.js';
import { exactAnswerSize } from '../http/answers.js';
import { checkRelativePath } from '../paths.js';
import { presignLifetimeS } from '../presigned/lifetime.js';
import { forEachInLanes } from '../transfer/lanes.js';
import type { ObjectWriter, PartsUpload } from '../transfer/writer.js';
import { CRC32C_METADATA, quoteEtag } from './azure-container.js';
import type { AzureContainer } from './azure-container.js';

/** Deletes in flight at once. */
const DELETE_LANES = 8;

/**
 * The blobs of one checkpoint in a container, laid out as Determined's Python SDK lays them
 * out: `[<path in container>/]<uuid>/<relative path>`, directories as zero-byte blobs ending in
 * `/` (read as directories, never as files), so that it and we read each other's checkpoints.
 *
 * Azure keeps no CRC32C of its own: our uploads store the whole blob's in its metadata
 * (`crc32c`, 8 hex digits), which listings, heads and GETs hand back for the engine to check
 * downloads against. Blobs written by others have none; the checkpoint's record and sizes
 * remain.
 */
export class AzureStore implements CheckpointStore, ObjectWriter {
  readonly type = 'azure';
  readonly location: string;
  readonly container: AzureContainer;
  /** The checkpoint's blob-name prefix: every blob of it starts with it and a `/`. */
  readonly base: string;
  readonly #listing: CheckpointListing;

  /**
   * @param root Where the container is, as locations show it: `azure://<container>`, or
   *   `<account_url>/<container>` when the config names the account.
   */
  constructor(container: AzureContainer, base: string, root: string) {
    this.container = container;
    this.base = base;
    this.location = `${root}/${base}`;
    this.#listing = new CheckpointListing('azure', this.location, (signal) =>
      this.#listNow(signal),
    );
  }

  probe(signal?: AbortSignal): Promise<void> {
    return this.#listing.probe(signal);
  }

  list(signal?: AbortSignal): Promise<StoredObject[]> {
    return this.#listing.list(signal);
  }

  async #listNow(signal?: AbortSignal): Promise<StoredObject[]> {
    const blobs = await this.container.list(`${this.base}/`, signal);
    // A hierarchical-namespace account lists its directories as blobs marked hdi_isfolder.
    return checkpointObjects(
      this.base,
      blobs.map((b) => ({
        name: b.name,
        size: b.size,
        version: b.etag,
        crc32c: b.crc32c,
        mtimeMs: b.mtimeMs,
        isDirectory: b.isFolder,
      })),
    );
  }

  async listRoot(signal?: AbortSignal): Promise<RootEntry[]> {
    const root = rootPrefixOf(this.base);
    const blobs = await this.container.list(root, signal);
    return rootEntries(
      root,
      // Folder blobs of a hierarchical-namespace account hold no bytes; they count as objects.
      blobs.map((b) => ({ name: b.name, size: b.size, version: undefined, mtimeMs: b.mtimeMs })),
    );
  }

  async read(path: string, options: ObjectReadOptions): Promise<ObjectRead> {
    const blobName = this.#blobName(path);
    const res = await this.container.get(blobName, {
      range: options.range,
      ifMatch: options.version,
      signal: options.signal,
    });
    try {
      return this.#accept(blobName, res, options);
    } catch (err: unknown) {
      res.cancel();
      throw err;
    }
  }

  /** Checks a GET's answer against what was asked, and wraps its body. */
  #accept(blobName: string, res: StreamedResponse, options: ObjectReadOptions): ObjectRead {
    const uri = this.container.uri(blobName);
    const rawEtag = res.headers.get('etag');
    const etag = rawEtag === null ? undefined : quoteEtag(rawEtag);
    if (options.version !== undefined && etag !== undefined && etag !== options.version) {
      throw new ObjectChangedError(
        blobName,
        `${uri} changed: ETag ${etag}, expected ${options.version}`,
      );
    }
    const size = exactAnswerSize(res, options.range, blobName, uri);
    // Every GET carries the blob's metadata, ranged ones too; If-Match ties it to these bytes.
    const crc = res.headers.get(`x-ms-meta-${CRC32C_METADATA}`);
    return {
      version: etag,
      size,
      crc32c: isCrc32cHex(crc) ? crc : undefined,
      // The socket transport frames the body by its Content-Length: a connection that ends
      // short, or drops, fails the body with a system error (ECONNRESET), never ends it early.
      body: res.body,
      cancel: () => res.cancel(),
    };
  }

  presignRead(object: StoredObject, expiresInS: number): Promise<PresignedRead> {
    // Signed here, with no request: nothing to wait for or abort.
    return Promise.resolve().then(() =>
      this.container.urls.presignedRead(this.#blobName(object.path), presignLifetimeS(expiresInS)),
    );
  }

  async head(path: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const found = await this.container.properties(this.#blobName(path), signal);
    return found === undefined
      ? undefined
      : { path, size: found.size, version: found.etag, crc32c: found.crc32c };
  }

  async remove(paths: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const byBlob = new Map(paths.map((p) => [this.#blobName(p), p]));
    const deleted = await this.#deleteEach([...byBlob.keys()], signal);
    const gone = new Set<string>();
    for (const blobName of deleted) {
      const path = byBlob.get(blobName);
      if (path !== undefined) {
        gone.add(path);
      }
    }
    return gone;
  }

  async removeAll(signal?: AbortSignal): Promise<void> {
    const names = (await this.container.list(`${this.base}/`, signal)).map((b) => b.name);
    const deleted = await this.#deleteEach(names, signal);
    const left = names.filter((n) => !deleted.has(n));
    if (left.length > 0) {
      throw new StorageError(
        `${this.location}: ${left.length} of ${names.length} blobs could not be deleted ` +
          `(the first: ${this.container.uri(left[0] ?? '')})`,
      );
    }
  }

  /**
   * Deletes blobs a few at a time (Azure deletes one per request) and returns those gone,
   * missing ones included. A blob that could not be deleted is left out and the rest go on;
   * no access (which every other blob would meet too) and aborts stop them all.
   */
  async #deleteEach(blobNames: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const deleted = new Set<string>();
    await forEachInLanes(blobNames, DELETE_LANES, signal, async (blobName, laneSignal) => {
      try {
        await this.container.deleteBlob(blobName, laneSignal);
        deleted.add(blobName);
      } catch (err: unknown) {
        if (laneSignal.aborted || err instanceof StorageUnreachableError) {
          throw err;
        }
      }
    });
    return deleted;
  }

  putObject(
    path: string,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const crc32c = crc32cBase64 === undefined ? undefined : crc32cFromBase64(crc32cBase64);
    return this.container.putBlob(this.#blobName(path), body, size, crc32c, signal);
  }

  /**
   * A block-blob upload: parts are staged as blocks (Put Block) in any order and committed in
   * part order (Put Block List) with the whole blob's CRC32C in its metadata. Nothing is sent
   * to start it, and an abort deletes nothing staged: uncommitted blocks are never listed and
   * Azure drops them after a week.
   */
  startParts(path: string): Promise<PartsUpload> {
    const blobName = this.#blobName(path);
    const container = this.container;
    // Block ids must have one length per blob; the token keeps two uploads of a blob apart.
    const token = randomBytes(8).toString('hex');
    const blockId = (partNumber: number): string =>
      Buffer.from(`${token}-${String(partNumber).padStart(6, '0')}`).toString('base64');
    const sizes = new Map<string, number>();
    let isCommitSent = false;
    return Promise.resolve({
      uploadPart: async (partNumber, body, size, _crc32cBase64, signal) => {
        // Azure checks a block against an MD5 or a CRC64, never a CRC32C: the part's checksum
        // cannot be sent. Its size is checked instead: Content-Length frames the block, and
        // `complete` compares what Azure staged with what was sent.
        const id = blockId(partNumber);
        await container.stageBlock(blobName, id, body, size, signal);
        sizes.set(id, size);
        return id;
      },
      complete: async (parts, crc32cBase64, signal) => {
        const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
        const staged = await container.blockSizes(blobName, signal);
        for (const part of ordered) {
          const sent = sizes.get(part.etag);
          if (sent === undefined || staged.get(part.etag) !== sent) {
            throw new IntegrityError(
              path,
              `${container.uri(blobName)}: part ${part.partNumber} has ` +
                `${staged.get(part.etag) ?? 'no'} bytes in Azure, ${sent ?? 'none'} were sent`,
            );
          }
        }
        isCommitSent = true;
        await container.commitBlocks(
          blobName,
          ordered.map((p) => p.etag),
          crc32cFromBase64(crc32cBase64),
          signal,
        );
      },
      abort: async () => {
        // A commit whose answer was lost may have made the blob: never leave a blob the upload
        // reported as failed. (Checkpoint blobs are new, under a fresh uuid: nothing older of
        // the same name is lost.)
        if (isCommitSent) {
          try {
            await container.deleteBlob(blobName);
          } catch {
            // Best effort, as abort is: the upload's own failure is the one to report.
          }
        }
      },
    });
  }

  #blobName(path: string): string {
    return `${this.base}/${checkRelativePath(path)}`;
  }
}
