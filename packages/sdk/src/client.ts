import { errorCodeFromReason } from '@determined-ts/api';
import type { ErrorCode, JsonObject } from '@determined-ts/api';
import { abortReason, backoffMs } from '@determined-ts/storage/common';
import type { BodyOpener, RetryPolicy, StreamedResponse } from '@determined-ts/storage/common';

import { ApiError, NetworkError } from './errors.js';
import { callOf, describeText, parseStreamLine, readJsonResponse } from './response.js';

export { abortReason, backoffMs };
export type { BodyOpener, RetryPolicy, StreamedResponse };

/** The `fetch` the client calls; inject one to talk to an in-process master or to add TLS options. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Canonical master URL, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** Session token sent as `Authorization: Bearer`. */
  token?: string;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /**
   * How large bodies (checkpoint archives) are read.
   * @default over `fetch` when `fetch` is given, else the SDK's own (see {@link Client.openBody})
   */
  openBody?: BodyOpener;
  retry?: Partial<RetryPolicy>;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | readonly (string | number)[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Retry transient failures even though the method is not idempotent by HTTP's rules; for
   * calls the master treats as idempotent (a repeated checkpoint report is a no-op).
   */
  idempotent?: boolean;
}

/** A configured connection to one master. Immutable: `withToken` returns a new one. */
export interface Client {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly fetch: FetchLike;
  /**
   * How large bodies are read. `undefined` means the default transport, global `fetch`, whose
   * large bodies the SDK reads on a socket of its own instead (several CPU-s per GiB cheaper;
   * see the storage package's http/raw-body.ts). An injected `fetch` (an in-process app) is used for bodies too.
   */
  readonly openBody: BodyOpener | undefined;
  readonly retry: RetryPolicy;
  /**
   * Sends a request and parses the JSON answer, passed through `decode` when given. Non-2xx
   * throws {@link ApiError}; a 2xx the call cannot use (not a JSON object, an error body, a
   * TypeError from `decode`) throws `UnexpectedResponseError`. An empty 2xx body is `{}`
   * unless there is a `decode`.
   */
  request<T>(
    method: string,
    path: string,
    options?: RequestOptions & { decode?: (body: JsonObject) => T },
  ): Promise<T>;
  /** Sends a request and returns the raw response once it is 2xx (for downloads and streams). */
  send(method: string, path: string, options?: RequestOptions): Promise<Response>;
  /**
   * Reads a grpc-gateway stream: one `{"result": T}` JSON object per line, each `result` passed
   * through `decode` when given. A line that is not one (garbage, an `{"error": …}` line, a
   * TypeError from `decode`) throws `UnexpectedResponseError`.
   */
  stream<T>(
    path: string,
    options?: RequestOptions & { decode?: (result: unknown) => T },
  ): AsyncIterable<T>;
  withToken(token: string | undefined): Client;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000 };
const RETRY_STATUSES = new Set([502, 503, 504]);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** Builds the full URL of `path` with its query; repeated keys for arrays, as grpc-gateway reads them. */
export function buildUrl(
  baseUrl: string,
  path: string,
  query: RequestOptions['query'] = {},
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) {
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      params.append(key, String(v));
    }
  }
  const qs = params.toString();
  return `${baseUrl}${path}${qs === '' ? '' : `?${qs}`}`;
}

// A call, not a property read, so TypeScript does not narrow `aborted` across awaits.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  // An abort that landed before the backoff started fires no event: check it here.
  if (signal?.aborted === true) {
    return Promise.reject(abortReason(signal));
  }
  if (ms <= 0) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Turns a non-2xx response into an {@link ApiError}, reading the message Determined puts in its bodies. */
export async function createApiError(
  method: string,
  url: string,
  res: Response,
): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  // A proxy's HTML page is summed up by its title, not quoted whole.
  let message =
    text.trim() === '' ? res.statusText : describeText(text, res.headers.get('content-type'));
  let code: ErrorCode | undefined;
  try {
    body = JSON.parse(text);
    const b = body as {
      message?: unknown;
      error?: { message?: unknown; error?: unknown; reason?: unknown };
    };
    const m = b.message ?? b.error?.message ?? b.error?.error;
    if (typeof m === 'string') {
      message = m;
    }
    if (typeof b.error?.reason === 'string') {
      code = errorCodeFromReason(b.error.reason, res.status);
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the text as the message.
  }
  code ??= codeFromStatus(res.status);
  return new ApiError({
    status: res.status,
    code,
    method,
    url,
    requestId: res.headers.get('x-request-id') ?? undefined,
    body,
    serverMessage: message,
  });
}

function codeFromStatus(status: number): ErrorCode | undefined {
  switch (status) {
    case 400:
      return 'invalid_argument';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 409:
      return 'already_exists';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    default:
      return status >= 500 ? 'internal' : undefined;
  }
}

/**
 * Creates a client for one master.
 *
 * @example
 * const client = createClient({ baseUrl: 'http://localhost:8080', token });
 * const { trial } = await client.request<{ trial: TrialDto }>('GET', '/api/v1/trials/42');
 */
export function createClient(options: ClientOptions): Client {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const token = options.token;

  const send = async (
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<Response> => {
    const url = buildUrl(baseUrl, path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (token !== undefined) {
      headers.authorization = `Bearer ${token}`;
    }
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const retryable = opts.idempotent === true || IDEMPOTENT_METHODS.has(method);
    for (let attempt = 1; ; attempt += 1) {
      // An injected fetch (an in-process app, say) may ignore the signal.
      if (isAborted(opts.signal)) {
        throw abortReason(opts.signal);
      }
      let res: Response;
      try {
        res = await fetchImpl(url, { method, headers, body, signal: opts.signal });
      } catch (err: unknown) {
        if (opts.signal?.aborted === true) {
          throw abortReason(opts.signal);
        }
        if (!retryable || attempt >= retry.attempts) {
          throw new NetworkError(url, { cause: err });
        }
        await delay(backoffMs(retry, attempt), opts.signal);
        continue;
      }
      if (res.ok) {
        return res;
      }
      if (retryable && RETRY_STATUSES.has(res.status) && attempt < retry.attempts) {
        await res.body?.cancel();
        await delay(backoffMs(retry, attempt), opts.signal);
        continue;
      }
      throw await createApiError(method, url, res);
    }
  };

  const client: Client = {
    baseUrl,
    token,
    fetch: fetchImpl,
    openBody:
      options.openBody ?? (options.fetch === undefined ? undefined : fetchBodyOpener(fetchImpl)),
    retry,
    send,
    async request<T>(
      method: string,
      path: string,
      opts?: RequestOptions & { decode?: (body: JsonObject) => T },
    ): Promise<T> {
      const res = await send(method, path, opts);
      const url = buildUrl(baseUrl, path, opts?.query);
      return readJsonResponse(method, url, res, opts?.decode, opts?.signal);
    },
    async *stream<T>(
      path: string,
      opts?: RequestOptions & { decode?: (result: unknown) => T },
    ): AsyncIterable<T> {
      const url = buildUrl(baseUrl, path, opts?.query);
      const res = await send('GET', path, opts);
      if (res.body === null) {
        return;
      }
      const call = callOf('GET', url, res);
      const decoder = new TextDecoder();
      let buffered = '';
      let lineNumber = 0;
      // A reader rather than `for await`: not every browser makes web streams async-iterable.
      const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
      let isDone = false;
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (err: unknown) {
            if (opts?.signal?.aborted === true) {
              throw abortReason(opts.signal);
            }
            throw new NetworkError(url, { cause: err });
          }
          if (next.done) {
            isDone = true;
            break;
          }
          buffered += decoder.decode(next.value, { stream: true });
          let newline = buffered.indexOf('\n');
          while (newline >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            lineNumber += 1;
            if (line !== '') {
              yield parseStreamLine(call, line, lineNumber, opts?.decode);
            }
            newline = buffered.indexOf('\n');
          }
        }
        const rest = (buffered + decoder.decode()).trim();
        if (rest !== '') {
          yield parseStreamLine(call, rest, lineNumber + 1, opts?.decode);
        }
      } finally {
        if (!isDone) {
          // Left early (a bad line, or the caller stopped): let the connection go.
          void reader.cancel().catch(() => undefined);
        }
      }
    },
    withToken: (next) => createClient({ ...options, token: next }),
  };
  return client;
}

/** Reads bodies through `fetch`: its web stream, one reader, cancelled by `cancel`. */
function fetchBodyOpener(fetch: FetchLike): BodyOpener {
  return async (url, { headers, signal }) => {
    const res = await fetch(url, { method: 'GET', headers, signal });
    const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (reader === undefined) {
        return;
      }
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return;
        }
        yield value;
      }
    }
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      body: chunks(),
      cancel: () => void reader?.cancel().catch(() => undefined),
    };
  };
}
