import type { Readable } from 'node:stream';

/** A multipart upload in progress: parts in any order, then one `complete` (or `abort`). */
export interface PartsUpload {
  /** Uploads part `partNumber` (from 1) of `size` bytes with its CRC32C; resolves to its ETag. */
  uploadPart(
    partNumber: number,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string,
    signal?: AbortSignal,
  ): Promise<string>;
  /** Assembles the parts; the store checks the whole object's CRC32C where it can. */
  complete(
    parts: readonly { partNumber: number; etag: string; crc32cBase64: string }[],
    crc32cBase64: string,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Drops the parts uploaded so far. Never throws. */
  abort(): Promise<void>;
}

/** What the upload engine writes objects through: the object stores (s3, gcs, azure). */
export interface ObjectWriter {
  /** Writes a whole object in one request, with its CRC32C when known. */
  putObject(
    path: string,
    body: Uint8Array | Readable,
    size: number,
    crc32cBase64: string | undefined,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Starts a multipart upload of `path`. */
  startParts(path: string, signal?: AbortSignal): Promise<PartsUpload>;
}
