// SigV4 signatures checked as S3 checks them, written from AWS's documentation ("Create a signed
// AWS API request", "Signature Calculations for the Authorization Header", "Authenticating
// Requests: Using Query Parameters") and independent of the AWS SDK: s3rver checks only the
// access key id, so without this no test would notice a request or URL signed wrongly, which
// real S3 and MinIO refuse.
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

/**
 * The canonical query string of a raw query (`?` excluded): pairs re-encoded, then sorted;
 * `omit` (a presigned URL's signature) left out.
 */
export function canonicalQuery(rawQuery: string, omit?: string): string {
  if (rawQuery === '') {
    return '';
  }
  const decode = (s: string): string => decodeURIComponent(s.replaceAll('+', ' '));
  const pairs = rawQuery
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return [decode(eq < 0 ? part : part.slice(0, eq)), eq < 0 ? '' : decode(part.slice(eq + 1))];
    })
    .filter(([name]) => name !== omit)
    .map(([name = '', value = '']) => [uriEncode(name), uriEncode(value)] as const);
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
  const canonicalRequest = [
    method,
    rawPath,
    canonicalQuery(rawQuery),
    canonicalHeaders(names, headers),
    signedHeaders,
    headers['x-amz-content-sha256'] ?? '',
  ].join('\n');
  checkSignatureOf(canonicalRequest, { secret, date, region, amzDate, signature });
}

const PRESIGNED_CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/;

/**
 * Throws the S3 error a real S3 would send when a presigned URL (SigV4 in the query) is not
 * signed by one of `secrets`, or comes with an `x-amz-*` header it did not sign ("There were
 * headers present in the request which were not signed"). Other headers (Range, If-Match) may
 * be added freely. Expiry is checked apart (see checkRequest).
 */
export function checkPresignedSignature(
  method: string,
  rawPath: string,
  rawQuery: string,
  headers: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
): void {
  const query = new URLSearchParams(rawQuery);
  const malformed = (message: string): S3Error =>
    new S3Error(400, 'AuthorizationQueryParametersError', message);
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    throw malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const match = PRESIGNED_CREDENTIAL.exec(query.get('X-Amz-Credential') ?? '');
  if (match === null) {
    throw malformed('Error parsing the X-Amz-Credential parameter.');
  }
  const [, accessKey = '', date = '', region = ''] = match;
  const secret = secrets[accessKey];
  if (secret === undefined) {
    throw new S3Error(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  const amzDate = query.get('X-Amz-Date') ?? '';
  if (!amzDate.startsWith(date)) {
    throw new S3Error(403, 'SignatureDoesNotMatch', 'The credential date is not the request date.');
  }
  const signedHeaders = query.get('X-Amz-SignedHeaders') ?? '';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) {
    throw new S3Error(403, 'AccessDenied', 'host must be signed.');
  }
  if (Object.keys(headers).some((name) => name.startsWith('x-amz-') && !names.includes(name))) {
    throw new S3Error(
      403,
      'AccessDenied',
      'There were headers present in the request which were not signed',
    );
  }
  const canonicalRequest = [
    method,
    rawPath,
    canonicalQuery(rawQuery, 'X-Amz-Signature'),
    canonicalHeaders(names, headers),
    signedHeaders,
    'UNSIGNED-PAYLOAD', // what every presigned URL is signed with
  ].join('\n');
  const signature = query.get('X-Amz-Signature') ?? '';
  checkSignatureOf(canonicalRequest, { secret, date, region, amzDate, signature });
}

function canonicalHeaders(
  names: readonly string[],
  headers: Readonly<Record<string, string>>,
): string {
  return names
    .map((name) => `${name}:${(headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
}

/** Throws SignatureDoesNotMatch unless `signature` signs `canonicalRequest` with `secret`. */
function checkSignatureOf(
  canonicalRequest: string,
  s: { secret: string; date: string; region: string; amzDate: string; signature: string },
): void {
  const scope = `${s.date}/${s.region}/s3/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    s.amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${s.secret}`, s.date), s.region), 's3'), 'aws4_request');
  if (hmac(key, stringToSign).toString('hex') !== s.signature) {
    throw new S3Error(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
}
