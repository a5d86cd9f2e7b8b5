import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

// scrypt cost: about 40 ms per check on one core of the CI machine, far too slow to brute force
// offline yet cheap for a login.
const N = 2 ** 14;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

/**
 * Stores a password as `scrypt$N$r$p$salt$key` (base64). The input is the client-side hash
 * (`clientHashPassword`), so the plain password never reaches the master.
 */
export async function hashPassword(clientHash: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(clientHash, salt, KEY_BYTES, {
    N,
    r: R,
    p: P,
    maxmem: 64 * 1024 * 1024,
  });
  return ['scrypt', N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a client-side hash against a stored scrypt hash, in constant time. */
export async function verifyPassword(clientHash: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, saltB64, keyB64] = stored.split('$');
  if (scheme !== 'scrypt' || saltB64 === undefined || keyB64 === undefined) {
    return false;
  }
  const expected = Buffer.from(keyB64, 'base64');
  const actual = await scryptAsync(clientHash, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}
