// Single-object operations: PutObject, GetObject / HeadObject (ranges, conditions, checksum
// mode, partNumber) and DeleteObject, with the edges real S3 has and s3rver lacks.
import {
  S3Error,
  bareEtag,
  makeObject,
  verifyContentMd5,
  verifyCrc32,
  verifyCrc32c,
} from './store.js';
import type { FakeS3Object, Reply, S3Context } from './store.js';

export type ByteRange =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * A `Range` header resolved against an object of `size` bytes, as RFC 9110 §14 and S3 do: a
 * header that does not parse (or asks for several ranges, which S3 does not serve) is ignored,
 * `bytes=-n` is the last n bytes, and a range starting at or past the end is unsatisfiable.
 */
export function resolveRange(header: string | undefined, size: number): ByteRange {
  const match = header === undefined ? null : /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  const [, first = '', last = ''] = match ?? [];
  if (match === null || (first === '' && last === '')) {
    return { kind: 'full' };
  }
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) {
      return { kind: 'unsatisfiable' };
    }
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) {
    return { kind: 'full' }; // an invalid range-spec: the header is ignored
  }
  if (start >= size) {
    return { kind: 'unsatisfiable' };
  }
  return { kind: 'partial', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

export function findObject(ctx: S3Context): FakeS3Object {
  const object = ctx.bucket.get(ctx.key);
  if (object === undefined) {
    throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', {
      details: { Key: ctx.key },
    });
  }
  return object;
}

function etagMatches(list: string, etag: string): boolean {
  return list.split(',').some((tag) => tag.trim() === '*' || bareEtag(tag) === bareEtag(etag));
}

/** GetObject and HeadObject; the server drops the body of a HEAD. */
export function getObject(ctx: S3Context): Reply {
  const object = findObject(ctx);
  const validators = {
    etag: object.etag,
    'last-modified': object.lastModified.toUTCString(),
  };
  // RFC 9110 §13.2.2 order: If-Match before If-None-Match.
  const ifMatch = ctx.headers['if-match'];
  if (ifMatch !== undefined && !etagMatches(ifMatch, object.etag)) {
    throw new S3Error(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
      {
        details: { Condition: 'If-Match' },
      },
    );
  }
  const ifNoneMatch = ctx.headers['if-none-match'];
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, object.etag)) {
    return { status: 304, headers: validators };
  }

  const size = object.body.length;
  const headers: Record<string, string> = {
    ...validators,
    'content-type': object.contentType,
    'accept-ranges': 'bytes',
  };
  let range: ByteRange;
  let partChecksum: string | undefined;
  const partNumber = ctx.query.get('partNumber');
  if (partNumber !== null) {
    if (ctx.headers.range !== undefined) {
      throw new S3Error(
        400,
        'InvalidRequest',
        'Cannot specify both Range header and partNumber query parameter',
      );
    }
    const n = Number(partNumber);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new S3Error(
        400,
        'InvalidArgument',
        'Part number must be an integer between 1 and 10000, inclusive',
      );
    }
    // A single-part object is its own part 1 (served as a 206, as S3 does).
    const parts = object.parts ?? [{ start: 0, sizeBytes: size, crc32c: '' }];
    const part = parts[n - 1];
    if (part === undefined) {
      throw new S3Error(416, 'InvalidPartNumber', 'The requested partnumber is not satisfiable');
    }
    headers['x-amz-mp-parts-count'] = String(parts.length);
    range =
      size === 0
        ? { kind: 'full' }
        : { kind: 'partial', start: part.start, end: part.start + part.sizeBytes - 1 };
    // S3 reports a part's own checksum only for COMPOSITE objects, whose parts have one.
    partChecksum = object.checksum?.type === 'COMPOSITE' ? part.crc32c : undefined;
  } else {
    range = resolveRange(ctx.headers.range, size);
  }

  if (range.kind === 'unsatisfiable') {
    throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', {
      headers: { 'content-range': `bytes */${size}` },
      details: { RangeRequested: ctx.headers.range ?? '', ActualObjectSize: String(size) },
    });
  }
  const isChecksumMode = ctx.headers['x-amz-checksum-mode']?.toUpperCase() === 'ENABLED';
  if (range.kind === 'full') {
    // The whole-object checksum only ever comes with the whole object, never with a range.
    if (isChecksumMode && object.checksum !== undefined) {
      headers['x-amz-checksum-crc32c'] = object.checksum.crc32c;
      headers['x-amz-checksum-type'] = object.checksum.type;
    }
    headers['content-length'] = String(size);
    return { status: 200, headers, body: object.body };
  }
  if (isChecksumMode && partChecksum !== undefined) {
    headers['x-amz-checksum-crc32c'] = partChecksum;
    headers['x-amz-checksum-type'] = 'COMPOSITE';
  }
  headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['content-length'] = String(range.end - range.start + 1);
  return { status: 206, headers, body: object.body.subarray(range.start, range.end + 1) };
}

/** Throws MissingContentLength for a chunked upload: S3 needs the length up front. */
export function requireContentLength(ctx: S3Context): void {
  if (ctx.headers['content-length'] === undefined) {
    throw new S3Error(
      411,
      'MissingContentLength',
      'You must provide the Content-Length HTTP header.',
    );
  }
}

export function putObject(ctx: S3Context): Reply {
  requireContentLength(ctx);
  verifyContentMd5(ctx.headers['content-md5'], ctx.body);
  verifyCrc32(ctx.headers['x-amz-checksum-crc32'], ctx.body);
  const crc = verifyCrc32c(ctx.headers['x-amz-checksum-crc32c'], ctx.body);
  const existing = ctx.bucket.get(ctx.key);
  const ifNoneMatch = ctx.headers['if-none-match'];
  const ifMatch = ctx.headers['if-match'];
  if (ifNoneMatch?.trim() === '*' && existing !== undefined) {
    throw new S3Error(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
      {
        details: { Condition: 'If-None-Match' },
      },
    );
  }
  if (ifMatch !== undefined) {
    const current = findObject(ctx);
    if (!etagMatches(ifMatch, current.etag)) {
      throw new S3Error(
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        {
          details: { Condition: 'If-Match' },
        },
      );
    }
  }
  const object = makeObject(ctx.body, ctx.nowMs, {
    contentType: ctx.headers['content-type'],
    checksum: crc === undefined ? undefined : { crc32c: crc, type: 'FULL_OBJECT' },
  });
  ctx.bucket.set(ctx.key, object);
  const headers: Record<string, string> = { etag: object.etag };
  if (crc !== undefined) {
    headers['x-amz-checksum-crc32c'] = crc;
    headers['x-amz-checksum-type'] = 'FULL_OBJECT';
  }
  return { status: 200, headers };
}

export function deleteObject(ctx: S3Context): Reply {
  ctx.bucket.delete(ctx.key); // a missing key is deleted too, as S3 says
  return { status: 204, headers: {} };
}
