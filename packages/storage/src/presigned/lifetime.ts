/** The longest a presigned URL may live: S3's (SigV4 query) and GCS's (V4) limit, 7 days. */
export const MAX_PRESIGN_S = 7 * 24 * 60 * 60;

/**
 * The lifetime a store signs for when asked for `expiresInS` seconds: whole seconds (what
 * signatures carry), at least 1, at most `MAX_PRESIGN_S`.
 */
export function presignLifetimeS(expiresInS: number): number {
  if (Number.isNaN(expiresInS)) {
    throw new RangeError('a presigned URL needs a lifetime in seconds, got NaN');
  }
  return Math.min(MAX_PRESIGN_S, Math.max(1, Math.floor(expiresInS)));
}
