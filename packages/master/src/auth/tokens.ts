import { createHash, randomBytes } from 'node:crypto';

/** Prefix of our session tokens; tells them apart from Determined's `v2.public.` PASETO tokens. */
const TOKEN_PREFIX = 'dts1.';

/** A new random bearer token (256 bits). */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * What the database stores for a token. Tokens carry 256 random bits, so a fast hash is
 * enough: nobody can guess one from its digest.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
