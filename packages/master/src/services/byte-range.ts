/**
 * Range requests and validators for one representation of known length (RFC 9110 §13, §14):
 * a single `bytes=` range, `If-Range` and `If-Match` with strong ETag comparison.
 */
import { HttpError } from '../errors.js';
import type { ByteRange } from './tar.js';

/** Entity tags in an `If-Match` / `If-Range` value, weak ones marked. */
function entityTags(value: string): { tag: string; weak: boolean }[] {
  return [...value.matchAll(/(W\/)?("[^"]*")/g)].map((m) => ({
    tag: m[2] as string,
    weak: m[1] !== undefined,
  }));
}

/** Strong comparison: both tags strong and equal (weak tags never match). */
const strongMatch = (value: string, etag: string | undefined): boolean =>
  etag !== undefined && entityTags(value).some((t) => !t.weak && t.tag === etag);

/**
 * Throws 412 unless `If-Match` is absent, `*`, or lists `etag` (a representation without an
 * ETag matches only `*`).
 */
export function checkIfMatch(ifMatch: string | undefined, etag: string | undefined): void {
  if (ifMatch === undefined || ifMatch.trim() === '*' || strongMatch(ifMatch, etag)) {
    return;
  }
  throw new HttpError(
    'precondition_failed',
    `If-Match ${ifMatch} does not match the archive's current ETag ${etag ?? '(none)'}: ` +
      'its files changed; download it again from the start',
  );
}

/**
 * The byte range to serve for a `Range` header, or `undefined` for the whole representation:
 * no Range, a unit other than bytes, several ranges (allowed to be ignored, RFC 9110 §14.2) or
 * an `If-Range` that does not name the current `etag`. Throws 416 for a malformed or
 * unsatisfiable `bytes=` range; `length` is the representation's size.
 */
export function selectRange(
  header: { range: string | undefined; ifRange: string | undefined },
  etag: string,
  length: number,
): ByteRange | undefined {
  const { range, ifRange } = header;
  if (range === undefined || (ifRange !== undefined && !strongMatch(ifRange, etag))) {
    return undefined;
  }
  const eq = range.indexOf('=');
  if (eq === -1 || range.slice(0, eq).trim().toLowerCase() !== 'bytes') {
    return undefined;
  }
  const spec = range.slice(eq + 1).trim();
  if (spec.includes(',')) {
    return undefined;
  }
  const m = /^(\d*)-(\d*)$/.exec(spec);
  const first = m?.[1] ? Number(m[1]) : undefined;
  const last = m?.[2] ? Number(m[2]) : undefined;
  if (m === null || (first === undefined && last === undefined)) {
    throw unsatisfiable(`invalid Range '${range}': expected bytes=first-[last] or bytes=-suffix`);
  }
  if (first === undefined) {
    // bytes=-N: the last N bytes.
    if (last === 0) {
      throw unsatisfiable(`Range '${range}' selects no bytes`);
    }
    return { start: Math.max(0, length - (last as number)), end: length };
  }
  if (last !== undefined && last < first) {
    throw unsatisfiable(`invalid Range '${range}': last byte before first`);
  }
  if (first >= length) {
    throw unsatisfiable(
      `Range '${range}' starts at or after the end of the ${length}-byte archive`,
    );
  }
  return { start: first, end: last === undefined ? length : Math.min(length, last + 1) };
}

function unsatisfiable(message: string): HttpError {
  return new HttpError('range_not_satisfiable', message);
}
