// The browser-safe part of the storage package: errors, retry policy and the shape of a streamed
// response. Nothing here reaches a Node built-in, so the SDK's browser entry may re-export it.
export {
  IntegrityError,
  ObjectChangedError,
  StorageConfigError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from './errors.js';
export type { UnreachableReason } from './errors.js';

/** How transient failures (5xx, throttling, dropped or stalled connections) are retried. */
export interface RetryPolicy {
  /** Total attempts, the first included. @default 5 */
  attempts: number;
  /** First backoff; each later one doubles, with full jitter. @default 500 */
  baseDelayMs: number;
  /** Longest single backoff. @default 10000 */
  maxDelayMs: number;
}

/** Backoff before attempt `n` (1-based retry count): full jitter over an exponential cap. */
export function backoffMs(policy: RetryPolicy, n: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
  return Math.random() * cap;
}

/** The error an aborted signal carries, as an Error. */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error
    ? reason
    : new DOMException('The operation was aborted', 'AbortError');
}

/**
 * A response's headers, as much of `Headers` as readers need: a value by name (any case),
 * repeated headers joined with `, `. A global `Headers` is one; the socket transport keeps its
 * own, because the first `Headers` of a process loads Node's bundled undici (tens of ms of CPU
 * in a download that would need none of it).
 */
export interface ResponseHeaders {
  get(name: string): string | null;
}

/** The head of a GET and its body as chunks, read with no web streams in between. */
export interface StreamedResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  /**
   * The body, to iterate once. A chunk may be a view of a buffer the next read reuses: use it
   * (or copy it) before asking for the next. Throws when the connection drops before the end.
   */
  readonly body: AsyncIterable<Uint8Array>;
  /** Stops the body and frees the connection; a read in progress ends. Safe to call twice. */
  cancel(): void;
}

/**
 * Sends a GET for a large streamed body (a checkpoint archive, an object) and resolves with its
 * head; aborting `signal` stops the body too.
 */
export type BodyOpener = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<StreamedResponse>;
