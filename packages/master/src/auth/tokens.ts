import { createHash, randomBytes } from 'node:crypto';

/**
 * Prefixes of our bearer tokens: a login session's, and a long-lived access token's. They tell
 * the two apart (each has its own table) and from Determined's `v2.public.` PASETO tokens.
 */
const TOKEN_PREFIXES = { session: 'dts1.', access: 'dtsa1.' } as const;

export type TokenKind = keyof typeof TOKEN_PREFIXES;

/** A new random bearer token (256 bits). */
export function newToken(kind: TokenKind = 'session'): string {
  return TOKEN_PREFIXES[kind] + randomBytes(32).toString('base64url');
}

/** Which table holds `token`: by its prefix, so a lookup touches one table. */
export function tokenKind(token: string): TokenKind {
  return token.startsWith(TOKEN_PREFIXES.access) ? 'access' : 'session';
}

/**
 * What the database stores for a token. Tokens carry 256 random bits, so a fast hash is
 * enough: nobody can guess one from its digest. The lookup compares digests, never the token,
 * so how long it takes says nothing about how much of a guessed token was right.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
