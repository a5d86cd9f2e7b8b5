// What every object store's data plane does with an answer to a GET: check that a 2xx carries
// exactly the bytes asked for, and read the (small) body of an error answer for its code.
import type { ByteRange } from '../backend.js';
import type { StreamedResponse } from '../common.js';
import { IntegrityError } from '../errors.js';
import { parseContentRange } from './response-parser.js';

/** Error bodies past this size are cut: the code and message are in the first few hundred bytes. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The whole object's size, from a 2xx answer to a GET of `range` (the whole object when
 * `undefined`) that must be exactly what was asked: a 200 with a Content-Length, or a 206 whose
 * Content-Range names exactly those bytes and the object's length, with their Content-Length.
 * Anything else (a server that ignored the range or answered another, or sent no length) is an
 * `IntegrityError` naming `path`: bytes whose place is not certain are never written.
 */
export function exactAnswerSize(
  res: Pick<StreamedResponse, 'status' | 'headers'>,
  range: ByteRange | undefined,
  path: string,
  uri: string,
): number {
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (range === undefined) {
    if (res.status !== 200 || !Number.isSafeInteger(length)) {
      throw new IntegrityError(
        path,
        `GET ${uri}: expected 200 with a Content-Length, got ${res.status}`,
      );
    }
    return length;
  }
  const got = parseContentRange(res.headers.get('content-range'));
  const isExact =
    res.status === 206 &&
    got?.length !== undefined &&
    got.first === range.start &&
    got.last === range.end - 1 &&
    length === range.end - range.start;
  if (got?.length === undefined || !isExact) {
    throw new IntegrityError(
      path,
      `GET ${uri}: asked for bytes ${range.start}-${range.end - 1}, got ${res.status} ` +
        `with Content-Range ${res.headers.get('content-range') ?? '(none)'}`,
    );
  }
  return got.length;
}

/** The body of an error answer (a few hundred bytes of XML or JSON), at most 64 KiB of it. */
export async function readErrorBody(res: StreamedResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      chunks.push(Buffer.from(chunk)); // a copy: the transport reuses its buffer
      size += chunk.byteLength;
      if (size > MAX_ERROR_BODY_BYTES) {
        break;
      }
    }
  } catch {
    // The status says what matters; a body cut short only loses the detail.
  } finally {
    res.cancel();
  }
  return Buffer.concat(chunks).toString('utf8');
}
