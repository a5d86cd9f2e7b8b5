// The fake's state and the vocabulary its handlers share: stored objects with generations,
// GCS errors (JSON API and XML API bodies), replies, and the hashes GCS puts on the wire.
import { createHash } from 'node:crypto';

import { crc32c } from '@node-rs/crc32';

import { el } from '../fake-s3/xml.js';

export interface FakeGcsObject {
  readonly body: Buffer;
  /** An int64 as a decimal string; a new one on every write, larger than every earlier one. */
  readonly generation: string;
  /** Base64 of the big-endian CRC32C, as GCS keeps it. */
  readonly crc32c: string;
  /** Base64 MD5; `undefined` for objects assembled by an XML multipart upload, as in GCS. */
  readonly md5: string | undefined;
  readonly contentType: string;
  /** `gzip` for an object stored compressed: GCS serves it decompressed unless asked not to. */
  readonly contentEncoding: string | undefined;
  readonly updated: Date;
}

/** What a handler answers; the server writes it (through any injected fault). */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Which API a request spoke, so its errors take that API's form. */
export type GcsApi = 'json' | 'xml';

/**
 * A GCS error: its status, the JSON API's `reason` (`notFound`, `invalid`, …) or the XML API's
 * `Code` (`NoSuchUpload`, `BadDigest`, …), and its message.
 */
export class GcsError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    reason: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'GcsError';
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}

export function errorReply(err: GcsError, api: GcsApi): Reply {
  if (api === 'xml') {
    const xml =
      "<?xml version='1.0' encoding='UTF-8'?>" +
      `<Error>${el('Code', err.reason)}${el('Message', err.message)}</Error>`;
    return {
      status: err.status,
      headers: { ...err.headers, 'content-type': 'application/xml; charset=UTF-8' },
      body: Buffer.from(xml),
    };
  }
  const error = {
    code: err.status,
    message: err.message,
    errors: [{ message: err.message, domain: 'global', reason: err.reason }],
  };
  return jsonReply({ error }, err.status, err.headers);
}

export function jsonReply(
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    headers: { ...headers, 'content-type': 'application/json; charset=UTF-8' },
    body: Buffer.from(JSON.stringify(value)),
  };
}

export function xmlReply(xml: string, headers: Record<string, string> = {}): Reply {
  return {
    status: 200,
    headers: { ...headers, 'content-type': 'application/xml; charset=UTF-8' },
    body: Buffer.from(`<?xml version='1.0' encoding='UTF-8'?>${xml}`),
  };
}

export function md5Base64(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

/** GCS's form of a CRC32C: base64 of its 4 big-endian bytes. */
export function crc32cBase64(bytes: Uint8Array): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(bytes.byteLength === 0 ? 0 : crc32c(Buffer.from(bytes)) >>> 0);
  return out.toString('base64');
}

/** `x-goog-hash` values (`crc32c=…,md5=…`) by algorithm. */
export function parseGoogHash(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of (value ?? '').split(',')) {
    const at = item.indexOf('=');
    if (at > 0) {
      out.set(item.slice(0, at).trim().toLowerCase(), item.slice(at + 1).trim());
    }
  }
  return out;
}

/** Generations: microseconds since the epoch, as GCS makes them, bumped to stay unique. */
export class Generations {
  #last = 0n;
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  next(): string {
    const micros = BigInt(Math.floor(this.#now())) * 1000n;
    this.#last = micros > this.#last ? micros : this.#last + 1n;
    return this.#last.toString();
  }
}

export function makeObject(
  body: Buffer,
  generation: string,
  nowMs: number,
  fields: {
    contentType?: string | undefined;
    contentEncoding?: string | undefined;
    hasMd5?: boolean;
  } = {},
): FakeGcsObject {
  return {
    body,
    generation,
    crc32c: crc32cBase64(body),
    md5: fields.hasMd5 === false ? undefined : md5Base64(body),
    contentType: fields.contentType ?? 'application/octet-stream',
    contentEncoding: fields.contentEncoding,
    updated: new Date(nowMs),
  };
}

/** The JSON API's object resource, as objects.get and objects.list answer with it. */
export function objectResource(bucket: string, name: string, o: FakeGcsObject): object {
  const id = `${bucket}/${name}/${o.generation}`;
  const path = `b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
  return {
    kind: 'storage#object',
    id,
    selfLink: `https://www.googleapis.com/storage/v1/${path}`,
    mediaLink: `https://storage.googleapis.com/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name,
    bucket,
    generation: o.generation,
    metageneration: '1',
    contentType: o.contentType,
    ...(o.contentEncoding === undefined ? {} : { contentEncoding: o.contentEncoding }),
    storageClass: 'STANDARD',
    size: String(o.body.length),
    ...(o.md5 === undefined ? {} : { md5Hash: o.md5 }),
    crc32c: o.crc32c,
    etag: etagOf(o),
    timeCreated: o.updated.toISOString(),
    updated: o.updated.toISOString(),
  };
}

/** An object's ETag, as GCS derives it from the generation for JSON API answers. */
export function etagOf(o: FakeGcsObject): string {
  return Buffer.from(o.generation).toString('base64');
}

/** A multipart upload (XML API) in progress. */
export interface Upload {
  readonly bucket: string;
  readonly name: string;
  readonly uploadId: string;
  readonly contentType: string | undefined;
  readonly parts: Map<number, { body: Buffer; etag: string }>;
}

/** Everything a handler may read or change for one request. */
export interface GcsContext {
  readonly method: string;
  readonly bucketName: string;
  readonly bucket: Map<string, FakeGcsObject>;
  /** Decoded; empty for bucket operations. */
  readonly name: string;
  readonly query: URLSearchParams;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly nowMs: number;
  readonly generations: Generations;
  readonly uploads: Map<string, Upload>;
  readonly minPartBytes: number;
  readonly maxPageSize: number;
}
