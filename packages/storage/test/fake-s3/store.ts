// The fake's state and the vocabulary its handlers share: stored objects, S3 errors, replies,
// and the digests S3 puts on the wire (MD5 ETags, base64 big-endian CRC32C).
import { createHash } from 'node:crypto';

import { crc32, crc32c } from '@node-rs/crc32';

import { el, xmlDocument } from './xml.js';

export type ChecksumType = 'FULL_OBJECT' | 'COMPOSITE';

export interface FakeS3Checksum {
  /** Base64 of the big-endian CRC32C; COMPOSITE values end in `-<parts>`, as S3 sends them. */
  readonly crc32c: string;
  readonly type: ChecksumType;
}

/** One part of an object completed by a multipart upload. */
export interface FakeS3Part {
  /** Offset of the part's first byte in the object. */
  readonly start: number;
  readonly sizeBytes: number;
  /** Base64 CRC32C of the part's bytes. */
  readonly crc32c: string;
}

export interface FakeS3Object {
  readonly body: Buffer;
  /** Quoted, as on the wire: `"<md5 hex>"`, or `"<hex>-<parts>"` after a multipart upload. */
  readonly etag: string;
  /** Whole seconds, so the HTTP date and the listing's ISO date agree. */
  readonly lastModified: Date;
  readonly contentType: string;
  readonly checksum: FakeS3Checksum | undefined;
  /** Set only for objects completed by a multipart upload. */
  readonly parts: readonly FakeS3Part[] | undefined;
}

/** What a handler answers; the server writes it (through any injected fault). */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
}

/** An S3 error response: status, code and message, plus extra elements for the XML body. */
export class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly details: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    {
      headers = {},
      details = {},
    }: { headers?: Record<string, string>; details?: Record<string, string> } = {},
  ) {
    super(message); // the S3 <Message>; status and code have their own fields
    this.name = 'S3Error';
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.details = details;
  }
}

export function errorReply(err: S3Error, resource: string, requestId: string): Reply {
  const extra = Object.entries(err.details)
    .map(([name, value]) => el(name, value))
    .join('');
  const xml = xmlDocument(
    'Error',
    `${el('Code', err.code)}${el('Message', err.message)}${extra}` +
      `${el('Resource', resource)}${el('RequestId', requestId)}`,
    false, // S3's error documents carry no namespace
  );
  return {
    status: err.status,
    headers: { ...err.headers, 'content-type': 'application/xml' },
    body: Buffer.from(xml),
  };
}

export function xmlReply(xml: string, headers: Record<string, string> = {}): Reply {
  return {
    status: 200,
    headers: { ...headers, 'content-type': 'application/xml' },
    body: Buffer.from(xml),
  };
}

export function md5(bytes: Uint8Array): Buffer {
  return createHash('md5').update(bytes).digest();
}

/** The wire form of a CRC32C: base64 of its 4 big-endian bytes. */
export function crc32cBase64(bytes: Uint8Array): string {
  return crcToBase64(bytes.byteLength === 0 ? 0 : crc32c(Buffer.from(bytes)));
}

export function crcToBase64(crc: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc >>> 0);
  return out.toString('base64');
}

/** S3's COMPOSITE multipart checksum: the CRC32C of the parts' raw CRCs, then `-<parts>`. */
export function compositeCrc32c(partCrcs: readonly string[]): string {
  const raw = Buffer.concat(partCrcs.map((c) => Buffer.from(c, 'base64')));
  return `${crc32cBase64(raw)}-${partCrcs.length}`;
}

/** An ETag or If-Match value without quotes or a weak prefix, for comparison. */
export function bareEtag(etag: string): string {
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

/** Throws BadDigest (or InvalidRequest for a malformed value) unless `header` is `bytes`' CRC32C. */
export function verifyCrc32c(header: string | undefined, bytes: Uint8Array): string | undefined {
  if (header === undefined) {
    return undefined;
  }
  if (Buffer.from(header, 'base64').length !== 4) {
    throw new S3Error(400, 'InvalidRequest', 'Value for x-amz-checksum-crc32c header is invalid.');
  }
  const actual = crc32cBase64(bytes);
  if (header !== actual) {
    throw new S3Error(
      400,
      'BadDigest',
      'The CRC32C you specified did not match the calculated checksum.',
    );
  }
  return actual;
}

/** Throws BadDigest unless `header` (base64) is the MD5 of `bytes`. */
export function verifyContentMd5(header: string | undefined, bytes: Uint8Array): void {
  if (header === undefined) {
    return;
  }
  if (Buffer.from(header, 'base64').length !== 16) {
    throw new S3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
  }
  if (header !== md5(bytes).toString('base64')) {
    throw new S3Error(
      400,
      'BadDigest',
      'The Content-MD5 you specified did not match what we received.',
    );
  }
}

/** Throws BadDigest unless `header` (base64 big-endian) is the CRC32 of `bytes`. */
export function verifyCrc32(header: string | undefined, bytes: Uint8Array): void {
  if (header === undefined) {
    return;
  }
  const actual = Buffer.alloc(4);
  actual.writeUInt32BE(bytes.byteLength === 0 ? 0 : crc32(Buffer.from(bytes)) >>> 0);
  if (header !== actual.toString('base64')) {
    throw new S3Error(
      400,
      'BadDigest',
      'The CRC32 you specified did not match the calculated checksum.',
    );
  }
}

/** The time with its milliseconds dropped, as S3 reports Last-Modified. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

export function makeObject(
  body: Buffer,
  nowMs: number,
  fields: Partial<Pick<FakeS3Object, 'etag' | 'contentType' | 'checksum' | 'parts'>> = {},
): FakeS3Object {
  return {
    body,
    etag: fields.etag ?? `"${md5(body).toString('hex')}"`,
    lastModified: wholeSeconds(nowMs),
    // What S3 stores when a PUT names no type.
    contentType: fields.contentType ?? 'binary/octet-stream',
    checksum: fields.checksum,
    parts: fields.parts,
  };
}

/** A multipart upload in progress. */
export interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  /** Set when CreateMultipartUpload named x-amz-checksum-algorithm (only CRC32C is supported). */
  readonly checksumType: ChecksumType | undefined;
  readonly contentType: string | undefined;
  readonly parts: Map<number, UploadedPart>;
}

export interface UploadedPart {
  readonly body: Buffer;
  readonly etag: string;
  readonly crc32c: string;
  readonly lastModified: Date;
}

/** Everything a handler may read or change for one request. */
export interface S3Context {
  readonly method: string;
  readonly bucketName: string;
  readonly bucket: Map<string, FakeS3Object>;
  /** Decoded; empty for bucket operations. */
  readonly key: string;
  readonly query: URLSearchParams;
  /** Lower-case names; x-amz-* query parameters (presigned URLs) are merged in, as S3 does. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly nowMs: number;
  readonly uploads: Map<string, Upload>;
  readonly minPartBytes: number;
}
