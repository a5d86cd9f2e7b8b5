// V4 signed URLs checked as GCS checks them, written from Google's documentation ("V4 signing
// process", "Canonical requests") and independent of @google-cloud/storage's signer: the
// algorithm, credential scope, date, expiry, signed headers and the RSA-SHA256 signature over
// the canonical request, verified with the public key of the service account named.
import { createHash, verify } from 'node:crypto';

import { canonicalQuery } from '../fake-s3/sigv4.js';
import { GcsError } from './store.js';

const CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/storage\/goog4_request$/;
const MAX_EXPIRES_S = 7 * 24 * 60 * 60;

/** `20260102T030405Z` (X-Goog-Date) as ms since the epoch, or NaN. */
function parseGoogDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m === null ? NaN : Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

/**
 * Throws the error GCS answers a V4 signed URL with when it is malformed (400), expired (400
 * ExpiredToken, "Invalid argument.", as GCS answers), by an account the fake has no key for, or
 * signed otherwise (403 SignatureDoesNotMatch). `keys` maps client emails to public keys (PEM).
 *
 * The host is compared without its port: @google-cloud/storage signs the endpoint's host name
 * alone (signer.js, `fqdn.hostname`), which GCS, always on the default port, cannot tell apart.
 */
export function checkSignedUrl(
  method: string,
  rawPath: string,
  rawQuery: string,
  headers: Readonly<Record<string, string>>,
  keys: Readonly<Record<string, string>>,
  nowMs: number,
): void {
  const query = new URLSearchParams(rawQuery);
  const invalid = (message: string): GcsError => new GcsError(400, 'InvalidArgument', message);
  if (query.get('X-Goog-Algorithm') !== 'GOOG4-RSA-SHA256') {
    throw invalid('X-Goog-Algorithm must be GOOG4-RSA-SHA256.');
  }
  const match = CREDENTIAL.exec(query.get('X-Goog-Credential') ?? '');
  if (match === null) {
    throw invalid('Invalid X-Goog-Credential.');
  }
  const [, email = '', date = '', location = ''] = match;
  const googDate = query.get('X-Goog-Date') ?? '';
  const signedAtMs = parseGoogDate(googDate);
  if (!googDate.startsWith(date) || Number.isNaN(signedAtMs)) {
    throw invalid('X-Goog-Date does not match the credential scope date.');
  }
  const expiresS = Number(query.get('X-Goog-Expires'));
  if (!Number.isInteger(expiresS) || expiresS < 1 || expiresS > MAX_EXPIRES_S) {
    throw invalid('X-Goog-Expires must be between 1 and 604800 seconds.');
  }
  if (nowMs > signedAtMs + expiresS * 1000) {
    throw new GcsError(400, 'ExpiredToken', 'Invalid argument.');
  }
  const publicKey = keys[email];
  if (publicKey === undefined) {
    throw new GcsError(403, 'AccessDenied', `No such service account: ${email}.`);
  }
  const signedHeaders = query.get('X-Goog-SignedHeaders') ?? '';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) {
    throw invalid('The host header must be signed.');
  }
  const canonicalHeaders = names
    .map((name) => {
      const value = name === 'host' ? (headers.host ?? '').replace(/:\d+$/, '') : headers[name];
      return `${name}:${(value ?? '').trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    method,
    rawPath,
    canonicalQuery(rawQuery, 'X-Goog-Signature'),
    canonicalHeaders,
    signedHeaders,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'GOOG4-RSA-SHA256',
    googDate,
    `${date}/${location}/storage/goog4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const signature = Buffer.from(query.get('X-Goog-Signature') ?? '', 'hex');
  if (!verify('RSA-SHA256', Buffer.from(stringToSign), publicKey, signature)) {
    throw new GcsError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
}
