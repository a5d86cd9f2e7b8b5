import type { JsonObject } from '@determined-ts/api';
import { abortReason } from '@determined-ts/storage/common';

import { describeValue, isObject } from './decode-fields.js';
import { NetworkError, UnexpectedResponseError } from './errors.js';

/*
 * Reading the master's answers: what `request()` and `stream()` accept as JSON, and how what they
 * refuse is described. Every refusal is an UnexpectedResponseError naming the call.
 */

/** The call an answer belongs to, for the errors about it. */
export interface Call {
  method: string;
  url: string;
  status: number;
  contentType: string | null;
  requestId: string | undefined;
}

/** The call of `res`, the answer to `method url`. */
export function callOf(method: string, url: string, res: Response): Call {
  return {
    method,
    url,
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id') ?? undefined,
  };
}

/**
 * Reads a 2xx answer: a JSON object that is not an error body, then `decode`d. An empty body is
 * `{}` for calls that decode nothing (they return nothing); a call that decodes needs JSON. A
 * TypeError from `decode` (the decoders' "field x: expected y") becomes an
 * UnexpectedResponseError.
 */
export async function readJsonResponse<T>(
  method: string,
  url: string,
  res: Response,
  decode: ((body: JsonObject) => T) | undefined,
  signal: AbortSignal | undefined,
): Promise<T> {
  let text: string;
  try {
    text = await res.text();
  } catch (err: unknown) {
    if (signal?.aborted === true) {
      throw abortReason(signal);
    }
    // The connection broke while the body arrived.
    throw new NetworkError(url, { cause: err });
  }
  const call = callOf(method, url, res);
  if (text.trim() === '' && decode === undefined) {
    return {} as T;
  }
  return decodeJsonText(call, text, '', decode);
}

/**
 * One line of a grpc-gateway stream: `{"result": …}`, decoded; an `{"error": …}` line or garbage
 * throws. `lineNumber` counts from 1.
 */
export function parseStreamLine<T>(
  call: Call,
  line: string,
  lineNumber: number,
  decode: ((result: unknown) => T) | undefined,
): T {
  return decodeJsonText(call, line, `stream line ${lineNumber}: `, (value) => {
    if (!('result' in value)) {
      const keys = Object.keys(value);
      throw new TypeError(
        `expected {"result": …}, got ${keys.length === 0 ? '{}' : `keys ${keys.join(', ')}`}`,
      );
    }
    return decode === undefined ? (value.result as T) : decode(value.result);
  });
}

function decodeJsonText<T>(
  call: Call,
  text: string,
  where: string,
  decode: ((body: JsonObject) => T) | undefined,
): T {
  const bad = (problem: string, cause?: unknown): UnexpectedResponseError =>
    new UnexpectedResponseError(
      {
        method: call.method,
        url: call.url,
        status: call.status,
        problem,
        body: text,
        requestId: call.requestId,
      },
      { cause },
    );
  if (text.trim() === '') {
    throw bad(`${where}empty body, expected JSON`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    throw bad(where + describeNotJson(text, call.contentType, err), err);
  }
  if (!isObject(value)) {
    throw bad(`${where}expected a JSON object, got ${describeValue(value)}`);
  }
  const error = errorBodyMessage(value);
  if (error !== undefined) {
    // A stream's error line says so on its own; its number adds nothing.
    throw bad(
      where === '' ? `${call.status} with an error body: ${error}` : `stream error: ${error}`,
    );
  }
  if (decode === undefined) {
    return value as T;
  }
  try {
    return decode(value);
  } catch (err: unknown) {
    // The decoders' field errors; a TypeError from reading a value of the wrong shape too.
    if (err instanceof TypeError) {
      throw bad(where + err.message, err);
    }
    throw err;
  }
}

/** Why `text`, which JSON.parse refused with `err`, is not the JSON the call wanted. */
function describeNotJson(text: string, contentType: string | null, err: unknown): string {
  const html = describeHtml(text, contentType);
  if (html !== undefined) {
    return html;
  }
  const message = err instanceof Error ? err.message : String(err);
  const at = /at position (\d+)/.exec(message);
  const isTruncated =
    /end of JSON input|Unterminated string/.test(message) ||
    (at !== null && Number(at[1]) >= text.trimEnd().length);
  if (isTruncated) {
    return `truncated JSON (${new TextEncoder().encode(text).byteLength} bytes)`;
  }
  const type = mediaType(contentType);
  if (type !== undefined && !type.includes('json')) {
    return `expected JSON, got ${type}: ${clip(text, 80)}`;
  }
  return `invalid JSON: ${message}`;
}

/**
 * A non-JSON body, described in a line: a proxy's HTML page by its title, other text cut short.
 * For the messages of ApiError and UnexpectedResponseError alike.
 */
export function describeText(text: string, contentType: string | null): string {
  return describeHtml(text, contentType) ?? clip(text, 200);
}

/** `expected JSON, got text/html (a proxy's error page?): <title>` when `text` is HTML. */
function describeHtml(text: string, contentType: string | null): string | undefined {
  const type = mediaType(contentType);
  const isHtml =
    type?.includes('html') === true || /^\s*<(!doctype\s+html|html|head|body)\b/i.test(text);
  if (!isHtml) {
    return undefined;
  }
  const heading =
    /<title[^>]*>([^<]*)</i.exec(text)?.[1] ??
    /<h1[^>]*>([^<]*)</i.exec(text)?.[1] ??
    text.replace(/<[^>]*>/g, ' ');
  const summary = clip(heading, 80);
  return `expected JSON, got ${type ?? 'HTML'} (a proxy's error page?)${summary === '' ? '' : `: ${summary}`}`;
}

// An answer whose keys are all of these, with an `error` (or a non-zero gRPC `code` and a
// message), is an error: grpc-gateway's `{"error": {...}}` (and its stream error lines), our
// master's `{"message", "error": {...}}`, a gRPC status `{"code", "message", "details"}`.
const ERROR_BODY_KEYS = new Set(['error', 'code', 'message', 'details', 'reason', 'requestId']);

/** The message of an error body, or `undefined` when `value` is not one. */
export function errorBodyMessage(value: JsonObject): string | undefined {
  if (!Object.keys(value).every((key) => ERROR_BODY_KEYS.has(key))) {
    return undefined;
  }
  const { error, code, message } = value;
  const text = (v: unknown): string | undefined =>
    typeof v === 'string' && v.trim() !== '' ? v : undefined;
  if (isObject(error)) {
    return (
      text(message) ?? text(error.message) ?? text(error.error) ?? clip(JSON.stringify(error), 100)
    );
  }
  if (text(error) !== undefined) {
    return text(message) ?? text(error);
  }
  if (typeof code === 'number' && code !== 0 && text(message) !== undefined) {
    return text(message);
  }
  return undefined;
}

function mediaType(contentType: string | null): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type === undefined || type === '' ? undefined : type;
}

/** `text` on one line, cut to `max` characters with an ellipsis. */
function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
