/*
 * An HTTP/1.1 response parser for one GET whose body is read from a reused buffer: the head
 * (status line and headers) is copied, the body is handed out as views of the bytes pushed in,
 * framed by Content-Length, chunked transfer coding, or the end of the connection (RFC 9112 §6).
 */
import type { ResponseHeaders } from '../common.js';

/** Heads past this size are refused: a master's are a few hundred bytes. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Chunk-size and trailer lines past this size are refused. */
const MAX_LINE_BYTES = 8 * 1024;

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** The response is not HTTP/1.1 as a server should send it. */
export class HttpResponseError extends Error {
  readonly code = 'HPE_INVALID';

  constructor(message: string) {
    super(message);
    this.name = 'HttpResponseError';
  }
}

export interface ResponseHead {
  status: number;
  statusText: string;
  headers: ResponseHeaders;
}

/** Headers by lower-case name; a repeated one's values joined with `, `, as `Headers` does. */
class HeaderMap implements ResponseHeaders {
  readonly #values = new Map<string, string>();

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const had = this.#values.get(key);
    this.#values.set(key, had === undefined ? value : `${had}, ${value}`);
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }
}

type Framing =
  | { kind: 'length'; left: number }
  | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer' | 'done'; left: number }
  | { kind: 'close' };

/** Reads one response, pushed in pieces as they arrive. */
export class ResponseParser {
  #head: ResponseHead | undefined;
  #headBytes: Buffer = Buffer.alloc(0);
  #framing: Framing | undefined;
  #line: Buffer = Buffer.alloc(0);
  #hasExtraBytes = false;

  /**
   * Whether bytes came after the response's end: a server that sends them has lost track of
   * its own framing, so its connection must not carry another request.
   */
  get hasExtraBytes(): boolean {
    return this.#hasExtraBytes;
  }

  /** Whether the body ends with the connection (no Content-Length, not chunked). */
  get isFramedByClose(): boolean {
    return this.#framing?.kind === 'close';
  }

  /** The status and headers, once they have arrived. */
  get head(): ResponseHead | undefined {
    return this.#head;
  }

  /** Whether the body has been read to its end (never, for a body framed by the close). */
  get isComplete(): boolean {
    const f = this.#framing;
    return (
      f !== undefined &&
      (f.kind === 'length' ? f.left === 0 : f.kind === 'chunked' && f.state === 'done')
    );
  }

  /** Takes the next bytes; returns the body bytes among them, as views of `bytes`. */
  push(bytes: Uint8Array): Uint8Array[] {
    let rest = bytes;
    while (this.#head === undefined && rest.byteLength > 0) {
      rest = this.#pushHead(rest);
    }
    return this.#framing === undefined || rest.byteLength === 0 ? [] : this.#pushBody(rest);
  }

  /** The connection has ended: throws unless the response was complete. */
  finish(): void {
    if (this.#head === undefined) {
      throw new HttpResponseError('the connection closed before a response arrived');
    }
    if (this.#framing?.kind !== 'close' && !this.isComplete) {
      throw Object.assign(new Error('the connection closed before the response ended'), {
        code: 'ECONNRESET',
      });
    }
  }

  /** Gathers the head; returns what follows it. */
  #pushHead(bytes: Uint8Array): Uint8Array {
    const seen = this.#headBytes.length;
    const all = Buffer.concat([this.#headBytes, bytes]);
    // The head's end may straddle two pieces: search from just before the new bytes.
    const end = all.indexOf(CRLF_CRLF, Math.max(0, seen - 3));
    if (end < 0) {
      if (all.length > MAX_HEAD_BYTES) {
        throw new HttpResponseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      }
      this.#headBytes = all;
      return new Uint8Array(0);
    }
    this.#headBytes = Buffer.alloc(0);
    const head = parseHead(all.toString('latin1', 0, end));
    const rest = bytes.subarray(end + 4 - seen);
    if (head.status >= 100 && head.status < 200) {
      return rest; // informational: the real response follows
    }
    this.#head = head;
    this.#framing = framing(head);
    return rest;
  }

  #pushBody(bytes: Uint8Array): Uint8Array[] {
    const f = this.#framing;
    switch (f?.kind) {
      case 'close':
        return [bytes];
      case 'length': {
        const n = Math.min(f.left, bytes.byteLength);
        f.left -= n;
        if (n < bytes.byteLength) {
          this.#hasExtraBytes = true;
        }
        return n === 0 ? [] : [bytes.subarray(0, n)];
      }
      case 'chunked':
        return this.#pushChunked(f, bytes);
      case undefined:
        return [];
      default: {
        const unknown: never = f;
        throw new HttpResponseError(`unknown framing ${String(unknown)}`);
      }
    }
  }

  #pushChunked(f: Extract<Framing, { kind: 'chunked' }>, bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.byteLength && f.state !== 'done') {
      if (f.state === 'data') {
        const n = Math.min(f.left, bytes.byteLength - at);
        out.push(bytes.subarray(at, at + n));
        at += n;
        f.left -= n;
        if (f.left === 0) {
          f.state = 'data-end';
        }
        continue;
      }
      const newline = bytes.indexOf(0x0a, at);
      const stop = newline < 0 ? bytes.byteLength : newline + 1;
      this.#line = Buffer.concat([this.#line, bytes.subarray(at, stop)]);
      at = stop;
      if (this.#line.length > MAX_LINE_BYTES) {
        throw new HttpResponseError('chunked body: line too long');
      }
      if (newline < 0) {
        break;
      }
      const line = this.#line.toString('latin1').replace(/\r?\n$/, '');
      this.#line = Buffer.alloc(0);
      if (f.state === 'size') {
        const hex = (line.split(';')[0] ?? '').trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
          throw new HttpResponseError(`chunked body: bad chunk size ${JSON.stringify(line)}`);
        }
        f.left = Number.parseInt(hex, 16);
        f.state = f.left === 0 ? 'trailer' : 'data';
      } else if (f.state === 'data-end') {
        if (line !== '') {
          throw new HttpResponseError('chunked body: a chunk is longer than its size');
        }
        f.state = 'size';
      } else if (line === '') {
        f.state = 'done'; // the empty line after the (ignored) trailer fields
      }
    }
    if (at < bytes.byteLength) {
      this.#hasExtraBytes = true;
    }
    return out;
  }
}

function parseHead(text: string): ResponseHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (match === null) {
    throw new HttpResponseError(`bad status line ${JSON.stringify(statusLine.slice(0, 100))}`);
  }
  const headers = new HeaderMap();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /^[ \t]/.test(line)) {
      throw new HttpResponseError(`bad header line ${JSON.stringify(line.slice(0, 100))}`);
    }
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), statusText: match[2] ?? '', headers };
}

/** How the body ends, by RFC 9112 §6.3 (for a response to a GET). */
function framing(head: ResponseHead): Framing {
  if (head.status === 204 || head.status === 304) {
    return { kind: 'length', left: 0 };
  }
  const transferEncoding = head.headers.get('transfer-encoding');
  if (transferEncoding !== null) {
    const last = transferEncoding.split(',').at(-1)?.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked', state: 'size', left: 0 } : { kind: 'close' };
  }
  const length = head.headers.get('content-length');
  if (length === null) {
    return { kind: 'close' };
  }
  // Repeated headers arrive joined by commas; they must all agree.
  const values = new Set(length.split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
    throw new HttpResponseError(`bad Content-Length ${JSON.stringify(length)}`);
  }
  return { kind: 'length', left: Number(only) };
}

/** A `Content-Range: bytes first-last/length` value (RFC 9110 §14.4), `last` inclusive. */
export interface ContentRange {
  first: number;
  last: number;
  /** The whole representation's length; `undefined` for `*` (unknown). */
  length: number | undefined;
}

/** Parses a 206's `Content-Range`; `undefined` when absent or not a satisfied byte range. */
export function parseContentRange(value: string | null): ContentRange | undefined {
  const match = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15}|\*)$/i.exec(value?.trim() ?? '');
  if (match === null) {
    return undefined;
  }
  const [, first, last, length] = match;
  const range = {
    first: Number(first),
    last: Number(last),
    length: length === '*' ? undefined : Number(length),
  };
  const isValid =
    range.first <= range.last && (range.length === undefined || range.last < range.length);
  return isValid ? range : undefined;
}
