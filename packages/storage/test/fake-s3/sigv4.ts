// SigV4 header signatures checked as S3 checks them, written from AWS's documentation ("Create a
// signed AWS API request", "Signature Calculations for the Authorization Header") and
// independent of the AWS SDK: s3rver checks only the access key id, so without this no test
// would notice a request our data plane signs wrongly, which real S3 and MinIO refuse.
import { createHash, createHmac } from 'node:crypto';

import { S3Error } from './store.js';

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical query string of a raw query (`?` excluded): pairs re-encoded, then sorted. */
function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') {
    return '';
  }
  const pairs = rawQuery.split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replaceAll('+', ' '));
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replaceAll('+', ' '));
    return [uriEncode(name), uriEncode(value)] as const;
  });
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac('sha256', key).update(data).digest();

/**
 * Throws the S3 error a real S3 would send when a request's `Authorization` header is not a
 * valid SigV4 signature by one of `secrets` (access key id → secret key). `rawPath` and
 * `rawQuery` are the request target as sent, still percent-encoded.
 */
export function checkSignature(
  method: string,
  rawPath: string,
  rawQuery: string,
  headers: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
): void {
  const authorization = headers.authorization ?? '';
  const match = AUTH.exec(authorization);
  if (match === null) {
    throw new S3Error(
      400,
      'AuthorizationHeaderMalformed',
      'The authorization header is malformed.',
    );
  }
  const [, accessKey = '', date = '', region = '', signedHeaders = '', signature = ''] = match;
  const secret = secrets[accessKey];
  if (secret === undefined) {
    throw new S3Error(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  const amzDate = headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(date)) {
    throw new S3Error(403, 'SignatureDoesNotMatch', 'The credential date is not the request date.');
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-content-sha256')) {
    throw new S3Error(403, 'AccessDenied', 'host and x-amz-content-sha256 must be signed.');
  }
  const canonicalHeaders = names
    .map((name) => `${name}:${(headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    method,
    rawPath,
    canonicalQuery(rawQuery),
    canonicalHeaders,
    signedHeaders,
    headers['x-amz-content-sha256'] ?? '',
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  if (hmac(key, stringToSign).toString('hex') !== signature) {
    throw new S3Error(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
}
