import type { WireDouble } from './wire.js';

/**
 * Decodes a wire double: a JSON number or one of the strings Determined uses for non-finite
 * values. The match is case-insensitive because Determined's Python bindings write `"Nan"`.
 * Returns `undefined` for anything else.
 */
export function decodeDouble(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value !== 'string') {
    return undefined;
  }
  switch (value.toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case 'infinity':
    case '+infinity':
      return Number.POSITIVE_INFINITY;
    case '-infinity':
      return Number.NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}

/** Encodes a double for the wire: non-finite values become Determined's strings. */
export function encodeDouble(value: number): WireDouble {
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (value === Number.POSITIVE_INFINITY) {
    return 'Infinity';
  }
  if (value === Number.NEGATIVE_INFINITY) {
    return '-Infinity';
  }
  return value;
}

/**
 * Decodes a wire int64 (a decimal string or a JSON number) into a safe integer. Returns
 * `undefined` when the value is not an integer or does not fit in a JS number exactly.
 */
export function decodeInt64(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
    n = Number(value);
  } else {
    return undefined;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Formats a date as Determined does: RFC 3339 in UTC with a `Z` suffix. */
export function encodeTimestamp(date: Date): string {
  return date.toISOString();
}

/** Salt Determined's clients prepend to a password before hashing it with SHA-512. */
export const CLIENT_PASSWORD_SALT = 'GubPEmmotfiK9TMD6Zdw';

/**
 * Hashes a password the way Determined's clients do before sending it with `isHashed: true`:
 * lowercase hex SHA-512 of the fixed salt followed by the password. An empty password stays
 * empty. Uses Web Crypto, so it works in Node and in browsers.
 */
export async function clientHashPassword(password: string): Promise<string> {
  if (password === '') {
    return '';
  }
  const bytes = new TextEncoder().encode(CLIENT_PASSWORD_SALT + password);
  const digest = await globalThis.crypto.subtle.digest('SHA-512', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
