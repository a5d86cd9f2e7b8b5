// What S3 does with a request before and at dispatch: the refusals it makes first (auth,
// clock skew, presigned expiry, payload framing and hash), then path-style routing.
import { createHash } from 'node:crypto';

import type { FakeS3Request } from './faults.js';
import { deleteObjects, headBucket, listObjects } from './list.js';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listParts,
  uploadPart,
} from './multipart.js';
import { deleteObject, getObject, putObject } from './objects.js';
import { S3Error } from './store.js';
import type { Reply, S3Context } from './store.js';

/** How far a signed request's x-amz-date may be from the server's clock, as in S3. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** Query parameters a plain object request may carry (the SDK adds `x-id`). */
const PLAIN_OBJECT_PARAMS = ['x-id'];
const LIST_PARAMS = [
  'x-id',
  'prefix',
  'delimiter',
  'marker',
  'max-keys',
  'list-type',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
];

/** `20260102T030405Z` (SigV4's x-amz-date) as ms since the epoch, or NaN. */
function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m === null ? NaN : Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

export function notImplemented(req: FakeS3Request): S3Error {
  const query = req.query.size > 0 ? `?${req.query.toString()}` : '';
  return new S3Error(
    501,
    'NotImplemented',
    `${req.method} ${req.path}${query} is not implemented by the fake`,
  );
}

/** True when every query parameter is in `allowed`, a `response-*` override or a presigned `x-amz-*`. */
function isPlain(query: URLSearchParams, allowed: readonly string[]): boolean {
  return [...query.keys()].every(
    (name) => allowed.includes(name) || name.startsWith('response-') || /^x-amz-/i.test(name),
  );
}

export function route(ctx: S3Context, req: FakeS3Request): Reply {
  const { query, method } = ctx;
  if (ctx.key === '') {
    if (method === 'HEAD' && isPlain(query, [])) {
      return headBucket();
    }
    if (method === 'GET' && isPlain(query, LIST_PARAMS)) {
      return listObjects(ctx);
    }
    if (method === 'POST' && query.has('delete')) {
      return deleteObjects(ctx);
    }
    throw notImplemented(req);
  }
  const isMultipart = query.has('uploadId');
  switch (method) {
    case 'PUT':
      if (isMultipart && query.has('partNumber')) {
        return uploadPart(ctx);
      }
      if (
        !isMultipart &&
        ctx.headers['x-amz-copy-source'] === undefined &&
        isPlain(query, PLAIN_OBJECT_PARAMS)
      ) {
        return putObject(ctx);
      }
      break;
    case 'GET':
    case 'HEAD':
      if (isMultipart && method === 'GET') {
        return listParts(ctx);
      }
      if (isPlain(query, [...PLAIN_OBJECT_PARAMS, 'partNumber'])) {
        return getObject(ctx);
      }
      break;
    case 'POST':
      if (query.has('uploads')) {
        return createMultipartUpload(ctx);
      }
      if (isMultipart) {
        return completeMultipartUpload(ctx);
      }
      break;
    case 'DELETE':
      if (isMultipart) {
        return abortMultipartUpload(ctx);
      }
      if (isPlain(query, PLAIN_OBJECT_PARAMS)) {
        return deleteObject(ctx);
      }
      break;
  }
  throw notImplemented(req);
}

/** Refusals S3 makes before looking at the operation: auth, skew, expiry, payload framing and hash. */
export function checkRequest(
  req: FakeS3Request,
  headers: Readonly<Record<string, string>>,
  body: Buffer,
  nowMs: number,
  options: { shouldRequireAuth: boolean },
): void {
  const presignedDate = req.query.get('X-Amz-Date');
  const isSigned = headers.authorization !== undefined || req.query.has('X-Amz-Signature');
  if (options.shouldRequireAuth && !isSigned) {
    throw new S3Error(403, 'AccessDenied', 'Access Denied');
  }
  if (presignedDate !== null) {
    const expiresS = Number(req.query.get('X-Amz-Expires') ?? '604800');
    const expiresAtMs = parseAmzDate(presignedDate) + expiresS * 1000;
    if (nowMs > expiresAtMs) {
      throw new S3Error(403, 'AccessDenied', 'Request has expired', {
        details: {
          'X-Amz-Expires': String(expiresS),
          Expires: new Date(expiresAtMs).toISOString(),
          ServerTime: new Date(nowMs).toISOString(),
        },
      });
    }
  } else if (headers.authorization !== undefined) {
    const signedMs = parseAmzDate(headers['x-amz-date'] ?? '');
    if (Math.abs(nowMs - signedMs) > MAX_SKEW_MS) {
      throw new S3Error(
        403,
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
        {
          details: {
            RequestTime: headers['x-amz-date'] ?? '',
            ServerTime: new Date(nowMs).toISOString(),
            MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
          },
        },
      );
    }
  }
  const payloadHash = headers['x-amz-content-sha256'] ?? '';
  if (
    payloadHash.startsWith('STREAMING-') ||
    /aws-chunked/i.test(headers['content-encoding'] ?? '')
  ) {
    // The SDK's default for streamed bodies since 3.729; s3rver stores the framing as data. Our
    // code must never send it to S3-compatible endpoints.
    throw new S3Error(
      400,
      'NotImplemented',
      'aws-chunked payloads are refused by the fake: send a plain body with Content-Length',
    );
  }
  if (
    /^[0-9a-f]{64}$/.test(payloadHash) &&
    createHash('sha256').update(body).digest('hex') !== payloadHash
  ) {
    throw new S3Error(
      400,
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
}
