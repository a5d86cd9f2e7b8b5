// The JSON API: objects.list (prefix, pageToken, maxResults), objects.get (metadata, and media
// with `alt=media`, generation pinning, ranges and gzip transcoding), objects.delete and
// multipart uploads (`uploadType=multipart`) that check the CRC32C and MD5 their metadata names.
import { gunzipSync } from 'node:zlib';

import { resolveRange } from '../fake-s3/objects.js';
import {
  GcsError,
  crc32cBase64,
  etagOf,
  jsonReply,
  makeObject,
  md5Base64,
  objectResource,
} from './store.js';
import type { FakeGcsObject, GcsContext, Reply } from './store.js';

/** Answers 501 for query parameters the fake does not implement, rather than ignore them. */
function allowOnly(ctx: GcsContext, allowed: readonly string[]): void {
  for (const name of ctx.query.keys()) {
    if (!allowed.includes(name)) {
      throw new GcsError(501, 'notImplemented', `the fake does not implement ?${name}`);
    }
  }
}

function noSuchObject(ctx: GcsContext): GcsError {
  return new GcsError(404, 'notFound', `No such object: ${ctx.bucketName}/${ctx.name}`);
}

/** The object the request names, at the generation it pins, with its preconditions checked. */
export function findObject(ctx: GcsContext): FakeGcsObject {
  const object = ctx.bucket.get(ctx.name);
  const generation = ctx.query.get('generation');
  // Only the live generation is kept (no object versioning): an older one is gone.
  if (object === undefined || (generation !== null && generation !== object.generation)) {
    throw noSuchObject(ctx);
  }
  const match = ctx.query.get('ifGenerationMatch');
  if (match !== null && match !== object.generation) {
    throw new GcsError(
      412,
      'conditionNotMet',
      'At least one of the pre-conditions you specified did not hold.',
    );
  }
  return object;
}

export function listObjects(ctx: GcsContext): Reply {
  allowOnly(ctx, ['prefix', 'pageToken', 'maxResults']);
  const prefix = ctx.query.get('prefix') ?? '';
  const asked = Number(ctx.query.get('maxResults') ?? ctx.maxPageSize);
  if (!Number.isInteger(asked) || asked < 1) {
    throw new GcsError(400, 'invalid', 'Invalid value for maxResults');
  }
  const token = ctx.query.get('pageToken');
  // The token is the last name of the previous page, as opaque to clients as GCS's own.
  const after = token === null ? undefined : Buffer.from(token, 'base64url').toString('utf8');
  const names = [...ctx.bucket.keys()]
    .filter((n) => n.startsWith(prefix) && (after === undefined || n > after))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const page = names.slice(0, Math.min(asked, ctx.maxPageSize));
  const last = page.at(-1);
  const items = page.map((n) =>
    objectResource(ctx.bucketName, n, ctx.bucket.get(n) as FakeGcsObject),
  );
  return jsonReply({
    kind: 'storage#objects',
    ...(page.length < names.length && last !== undefined
      ? { nextPageToken: Buffer.from(last).toString('base64url') }
      : {}),
    ...(items.length === 0 ? {} : { items }),
  });
}

export function getObject(ctx: GcsContext): Reply {
  allowOnly(ctx, ['alt', 'generation', 'ifGenerationMatch']);
  const object = findObject(ctx);
  const alt = ctx.query.get('alt') ?? 'json';
  if (alt === 'json') {
    return jsonReply(objectResource(ctx.bucketName, ctx.name, object));
  }
  if (alt !== 'media') {
    throw new GcsError(400, 'invalid', `Invalid value for alt: ${alt}`);
  }
  return media(ctx, object);
}

function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((c) => c.trim().split(';')[0]?.toLowerCase() === 'gzip');
}

/** A media download: the object's bytes, or a range of them, with GCS's headers. */
export function media(ctx: GcsContext, object: FakeGcsObject): Reply {
  const size = object.body.length;
  const headers: Record<string, string> = {
    'x-goog-generation': object.generation,
    'x-goog-metageneration': '1',
    'x-goog-stored-content-length': String(size),
    'x-goog-stored-content-encoding': object.contentEncoding ?? 'identity',
    // The whole object's hashes, on ranged answers too, as GCS sends them.
    'x-goog-hash': `crc32c=${object.crc32c}${object.md5 === undefined ? '' : `,md5=${object.md5}`}`,
    etag: etagOf(object),
    'content-type': object.contentType,
    'last-modified': object.updated.toUTCString(),
    'accept-ranges': 'bytes',
  };
  if (object.contentEncoding === 'gzip') {
    if (!acceptsGzip(ctx.headers['accept-encoding'])) {
      // Decompressive transcoding: the decompressed bytes, whole (ranges ignored), chunked.
      return {
        status: 200,
        headers: { ...headers, 'transfer-encoding': 'chunked' },
        body: gunzipSync(object.body),
      };
    }
    headers['content-encoding'] = 'gzip';
  }
  const range = resolveRange(ctx.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    throw new GcsError(
      416,
      'requestedRangeNotSatisfiable',
      'The requested range cannot be satisfied.',
      {
        'content-range': `bytes */${size}`,
      },
    );
  }
  if (range.kind === 'full') {
    headers['content-length'] = String(size);
    return { status: 200, headers, body: object.body };
  }
  headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['content-length'] = String(range.end - range.start + 1);
  return { status: 206, headers, body: object.body.subarray(range.start, range.end + 1) };
}

export function deleteObject(ctx: GcsContext): Reply {
  allowOnly(ctx, ['generation', 'ifGenerationMatch']);
  findObject(ctx);
  ctx.bucket.delete(ctx.name);
  return { status: 204, headers: {} };
}

interface BodyPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** The parts of a `multipart/related` body (RFC 2046 §5.1). */
function parseMultipart(body: Buffer, boundary: string): BodyPart[] {
  const bad = (): GcsError => new GcsError(400, 'invalid', 'Malformed multipart body.');
  const delimiter = `\r\n--${boundary}`;
  // The first delimiter may open the body, without the CRLF before it.
  let at = body.indexOf(`--${boundary}`);
  if (at < 0) {
    throw bad();
  }
  at += boundary.length + 2;
  const parts: BodyPart[] = [];
  for (;;) {
    if (body.toString('latin1', at, at + 2) === '--') {
      return parts;
    }
    if (body.toString('latin1', at, at + 2) !== '\r\n') {
      throw bad();
    }
    const start = at + 2;
    const end = body.indexOf(delimiter, start);
    if (end < 0) {
      throw bad();
    }
    const part = body.subarray(start, end);
    const headEnd = part.indexOf('\r\n\r\n');
    const isHeadless = part.toString('latin1', 0, 2) === '\r\n';
    if (headEnd < 0 && !isHeadless) {
      throw bad();
    }
    const headers: Record<string, string> = {};
    if (!isHeadless) {
      for (const line of part.toString('utf8', 0, headEnd).split('\r\n')) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    parts.push({ headers, body: part.subarray(isHeadless ? 2 : headEnd + 4) });
    at = end + delimiter.length;
  }
}

/** Throws 400 (as GCS does) unless `given` (base64, when given) is `actual`. */
function verifyHash(kind: 'CRC32C' | 'MD5', given: unknown, actual: string, bytes: number): void {
  if (given === undefined) {
    return;
  }
  if (typeof given !== 'string' || Buffer.from(given, 'base64').length !== bytes) {
    throw new GcsError(400, 'invalid', `Invalid ${kind} value: ${JSON.stringify(given)}`);
  }
  if (given !== actual) {
    throw new GcsError(
      400,
      'invalid',
      `Provided ${kind} "${given}" doesn't match calculated ${kind} "${actual}".`,
    );
  }
}

/** A multipart upload: the object's metadata (JSON), then its bytes, in one request. */
export function uploadObject(ctx: GcsContext): Reply {
  allowOnly(ctx, ['uploadType', 'name']);
  const uploadType = ctx.query.get('uploadType');
  if (uploadType !== 'multipart') {
    throw new GcsError(
      501,
      'notImplemented',
      `the fake implements uploadType=multipart only, not ${uploadType ?? 'none'}`,
    );
  }
  const boundary = /boundary="?([^";]+)"?/i.exec(ctx.headers['content-type'] ?? '')?.[1];
  if (!/^multipart\/related/i.test(ctx.headers['content-type'] ?? '') || boundary === undefined) {
    throw new GcsError(400, 'invalid', 'A multipart upload needs a multipart/related body.');
  }
  const parts = parseMultipart(ctx.body, boundary);
  const [meta, data] = parts;
  if (parts.length !== 2 || meta === undefined || data === undefined) {
    throw new GcsError(
      400,
      'invalid',
      'A multipart upload has exactly two parts: metadata and media.',
    );
  }
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(meta.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new GcsError(400, 'parseError', 'Parse Error');
  }
  const queryName = ctx.query.get('name');
  const name = queryName ?? metadata.name;
  if (
    typeof name !== 'string' ||
    name === '' ||
    (queryName !== null && metadata.name !== undefined && metadata.name !== queryName)
  ) {
    throw new GcsError(400, 'required', 'Required: a name, the same in the query and the metadata');
  }
  verifyHash('CRC32C', metadata.crc32c, crc32cBase64(data.body), 4);
  verifyHash('MD5', metadata.md5Hash, md5Base64(data.body), 16);
  const contentType =
    typeof metadata.contentType === 'string' ? metadata.contentType : data.headers['content-type'];
  const object = makeObject(Buffer.from(data.body), ctx.generations.next(), ctx.nowMs, {
    contentType,
    contentEncoding:
      typeof metadata.contentEncoding === 'string' ? metadata.contentEncoding : undefined,
  });
  ctx.bucket.set(name, object);
  return jsonReply(objectResource(ctx.bucketName, name, object));
}
